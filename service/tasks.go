package service

import (
	"context"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
)

// CreateTask creates t; its project, todo and assigned user (when given)
// must be rows of the tenant. invalid is CreateProject's: a wrong
// reference joins the fields binding found wrong, and nothing is written
// while any is. A field binding could not read is nil in refs and not
// checked; t is read only when invalid is empty.
func CreateTask(ctx context.Context, t *models.Task, refs repository.TaskRefs, invalid apperr.Fields) error {
	if err := withRefs(invalid, repository.CheckTaskRefs(ctx, refs)); err != nil {
		return err
	}
	return repository.CreateTask(ctx, t)
}

// UpdateTask changes the given fields of the task with id and returns it;
// the references it sets must be rows of the tenant, as in CreateTask.
// ENOTFOUND when there is no such task.
func UpdateTask(ctx context.Context, id int64, u repository.TaskUpdate, invalid apperr.Fields) (*models.Task, error) {
	refs := repository.TaskRefs{ProjectID: u.ProjectID, TodoID: u.TodoID}
	if u.AssignedUserID != nil {
		refs.AssignedUserID = *u.AssignedUserID
	}
	if err := withRefs(invalid, repository.CheckTaskRefs(ctx, refs)); err != nil {
		return nil, err
	}
	return repository.UpdateTask(ctx, id, u)
}

// DeleteTask deletes the task with id: any user of the tenant may.
// ENOTFOUND when there is none.
func DeleteTask(ctx context.Context, id int64) error {
	return repository.DeleteTask(ctx, id)
}

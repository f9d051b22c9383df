package service

import (
	"context"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
)

// NewProject is a project to create. A nil OwnerID makes the request's
// user its owner.
type NewProject struct {
	Name        string
	Description string
	OwnerID     *int64
}

// CreateProject creates a project, owned by in.OwnerID or, by default, by
// the request's user. invalid holds what binding the request found wrong
// already (a field it could not read is left out of in): an owner that is
// not a user of the tenant joins it, and nothing is written while it
// holds anything (EINVALID listing every field, as DRF does).
func CreateProject(ctx context.Context, in NewProject, invalid apperr.Fields) (*models.Project, error) {
	user := datapath.UserFromContext(ctx)
	if user == nil {
		return nil, apperr.ErrNoCredentials
	}
	if err := withRefs(invalid, repository.CheckProjectRefs(ctx, in.OwnerID)); err != nil {
		return nil, err
	}
	owner := user.ID
	if in.OwnerID != nil {
		owner = *in.OwnerID
	}
	p := &models.Project{Name: in.Name, Description: in.Description, OwnerID: &owner}
	if err := repository.CreateProject(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// UpdateProject changes the given fields of the project with id and
// returns it; invalid is CreateProject's, and a new owner must be a user
// of the tenant (an ownerless project may be given one). Any user of the
// tenant may change any project, owned or ownerless. ENOTFOUND when there
// is no such project.
func UpdateProject(ctx context.Context, id int64, u repository.ProjectUpdate, invalid apperr.Fields) (*models.Project, error) {
	if err := withRefs(invalid, repository.CheckProjectRefs(ctx, u.OwnerID)); err != nil {
		return nil, err
	}
	return repository.UpdateProject(ctx, id, u)
}

// DeleteProject deletes the project with id, and its tasks: any user of
// the tenant may, whoever owns it or when nobody does. ENOTFOUND when
// there is none.
func DeleteProject(ctx context.Context, id int64) error {
	return repository.DeleteProject(ctx, id)
}

// withRefs returns the error of a write's input: that of the reference
// check refErr when it is not a field error (the database failed), or
// else EINVALID with the fields of invalid and of refErr together, or nil
// when neither names a field.
func withRefs(invalid apperr.Fields, refErr error) error {
	if refErr != nil && apperr.Code(refErr) != apperr.EINVALID {
		return refErr
	}
	all := apperr.Fields{}
	for field, msgs := range invalid {
		all[field] = append(all[field], msgs...)
	}
	all.Merge(refErr)
	return all.Err()
}

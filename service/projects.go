package service

import (
	"context"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenancy"
)

// NewProject is a project to create. A nil OwnerID makes the request's
// user its owner.
type NewProject struct {
	Name        string
	Description string
	OwnerID     *int64
}

// CreateProject creates a project, owned by in.OwnerID or, by default, by
// the request's user. EINVALID (field owner) when the owner is not a user
// of the tenant.
func CreateProject(ctx context.Context, in NewProject) (*models.Project, error) {
	user := tenancy.UserFromContext(ctx)
	if user == nil {
		return nil, apperr.Errorf(apperr.EUNAUTHORIZED, "Authentication credentials were not provided.")
	}
	p := &models.Project{Name: in.Name, Description: in.Description, OwnerID: user.ID}
	if in.OwnerID != nil {
		p.OwnerID = *in.OwnerID
	}
	if err := repository.CreateProject(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

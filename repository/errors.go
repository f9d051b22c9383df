// Package repository holds every query: the catalog (clients, domains) and
// each tenant's users, todos, projects and tasks.
package repository

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/internal/pgerr"
	"gorm.io/gorm"
)

// translate maps database errors to application errors by SQLSTATE and
// GORM's sentinels; notFound is the message for a missing row.
func translate(err error, notFound string) error {
	if err == nil {
		return nil
	}
	var appErr *apperr.Error
	switch {
	case errors.As(err, &appErr):
		return err
	case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, pgx.ErrNoRows):
		return &apperr.Error{Code: apperr.ENOTFOUND, Message: notFound, Err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return apperr.Wrap(apperr.EUNAVAILABLE, err, "The request took too long.")
	}
	switch code := pgerr.Code(err); {
	case code == pgerr.UniqueViolation:
		return apperr.Wrap(apperr.ECONFLICT, err, "already exists")
	case pgerr.Is(err, pgerr.ForeignKeyViolation, pgerr.CheckViolation, pgerr.NotNullViolation,
		pgerr.StringDataRightTruncation, pgerr.NumericValueOutOfRange):
		return apperr.Wrap(apperr.EINVALID, err, "invalid value")
	case code == pgerr.ReadOnlySQLTransaction:
		// A write of a read-only tenant the state check let through: its
		// transaction began READ ONLY (datapath), so PostgreSQL refused it.
		return apperr.Wrap(apperr.EUNAVAILABLE, err, "This tenant is read-only for maintenance; retry later.")
	case pgerr.Unavailable(err):
		return apperr.Wrap(apperr.EUNAVAILABLE, err, "The database is unavailable.")
	case pgerr.Retryable(err):
		// PostgreSQL rolled the transaction back to let a conflicting
		// one (a tenant being deleted, say) through: nothing was
		// written, and the request may be sent again.
		return apperr.Wrap(apperr.EUNAVAILABLE, err, "The request conflicted with another one; try again.")
	}
	if errors.Is(err, datapath.ErrTenantGone) {
		return err
	}
	if pgerr.Unreachable(err) || pgerr.ConnectionLost(err) {
		return apperr.Wrap(apperr.EUNAVAILABLE, err, "The database is unavailable.")
	}
	return apperr.Wrap(apperr.EINTERNAL, err, "")
}

// invalidPK is DRF's message for a reference to a row that does not exist.
func invalidPK(id int64) string {
	return fmt.Sprintf("Invalid pk \"%d\" - object does not exist.", id)
}

// translateRefs translates a foreign-key violation of one of the
// constraints in fks (constraint name → API field) into a field error
// with DRF's message for the id given in ids; any other error as
// translate does. It backs checkRefs up when a referenced row vanishes
// between the check and the write.
func translateRefs(err error, fks map[string]string, ids map[string]*int64, notFound string) error {
	if pgerr.Is(err, pgerr.ForeignKeyViolation) {
		if field, ok := fks[pgerr.Constraint(err)]; ok {
			msg := "Invalid pk - object does not exist."
			if id := ids[field]; id != nil {
				msg = invalidPK(*id)
			}
			return &apperr.Error{Code: apperr.EINVALID, Message: field + ": " + msg, Fields: map[string][]string{field: {msg}}, Err: err}
		}
	}
	return translate(err, notFound)
}

// detailNotFound is DRF's detail for an object that is not there, or not
// the caller's tenant's.
const detailNotFound = "Not found."

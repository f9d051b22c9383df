// Package repository holds every query: the catalog (clients, domains) and
// each tenant's users, todos, projects and tasks.
package repository

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/tenancy"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
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
	case pgerr.Unavailable(err):
		return apperr.Wrap(apperr.EUNAVAILABLE, err, "The database is unavailable.")
	case pgerr.Retryable(err):
		// PostgreSQL rolled the transaction back to let a conflicting
		// one (a tenant being deleted, say) through: nothing was
		// written, and the request may be sent again.
		return apperr.Wrap(apperr.EUNAVAILABLE, err, "The request conflicted with another one; try again.")
	}
	if errors.Is(err, tenancy.ErrTenantGone) {
		return err
	}
	if pgerr.Unreachable(err) || pgerr.ConnectionLost(err) {
		return apperr.Wrap(apperr.EUNAVAILABLE, err, "The database is unavailable.")
	}
	return apperr.Wrap(apperr.EINTERNAL, err, "")
}

// findRows runs the statement q builds in the scope of ctx (one round
// trip; see tenancy.Run) and scans each row into a T by column name (pgx
// matches owner_name to OwnerName). Every column must have a field of T.
// Errors are the database's, for translate.
func findRows[T any](ctx context.Context, q func(db *gorm.DB) *gorm.DB) ([]T, error) {
	var out []T
	st, err := rowsStmt(ctx, q, &out)
	if err != nil {
		return nil, err
	}
	if err := tenancy.Run(ctx, st); err != nil {
		return nil, err
	}
	return out, nil
}

// rowsStmt builds the statement q builds, to be sent with others: its
// rows are scanned into *out as findRows scans them.
func rowsStmt[T any](ctx context.Context, q func(db *gorm.DB) *gorm.DB, out *[]T) (tenancy.Stmt, error) {
	st, err := tenancy.Build(ctx, q)
	if err != nil {
		return st, err
	}
	st.Rows = func(rows pgx.Rows) error {
		var err error
		*out, err = pgx.CollectRows(rows, pgx.RowToStructByNameLax[T])
		return err
	}
	return st, nil
}

// insertStmt builds the INSERT of row (its associations and id omitted,
// with clauses) and the RETURNING of its new id, which it stores in *id.
// GORM fills in row's creation time, so row is a copy of the caller's.
func insertStmt(ctx context.Context, row any, id *int64, clauses ...clause.Expression) (tenancy.Stmt, error) {
	st, err := tenancy.Build(ctx, func(db *gorm.DB) *gorm.DB {
		return db.Omit(clause.Associations, "id").Clauses(clauses...).Create(row)
	})
	if err != nil {
		return st, err
	}
	st.Rows = func(rows pgx.Rows) error {
		for rows.Next() {
			if err := rows.Scan(id); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	return st, nil
}

// updateStmt builds the UPDATE of fields of the row of model's table with
// id.
func updateStmt(ctx context.Context, model any, id int64, fields map[string]any) (tenancy.Stmt, error) {
	return tenancy.Build(ctx, func(db *gorm.DB) *gorm.DB { return db.Model(model).Where("id = ?", id).Updates(fields) })
}

// deleteRow deletes the row of model's table with id from the tenant of
// ctx, sent with the COMMIT. ENOTFOUND when there is none.
func deleteRow(ctx context.Context, id int64, model any) error {
	st, err := tenancy.Build(ctx, func(db *gorm.DB) *gorm.DB { return db.Where("id = ?", id).Delete(model) })
	if err != nil {
		return err
	}
	var deleted int64
	st.Exec = func(tag pgconn.CommandTag) error { deleted = tag.RowsAffected(); return nil }
	if err := tenancy.Commit(ctx, st); err != nil {
		return translate(err, detailNotFound)
	}
	if deleted == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, detailNotFound)
	}
	return nil
}

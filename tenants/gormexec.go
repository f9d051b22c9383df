package tenants

import (
	"context"
	"database/sql"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

var lockForUpdate = clause.Locking{Strength: "UPDATE"}

// gormExecer adapts a GORM transaction to goose's DBTxConn, so goose's
// version store writes in the same transaction as the provisioning.
type gormExecer struct{ db *gorm.DB }

func (g gormExecer) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return g.db.Statement.ConnPool.ExecContext(ctx, query, args...)
}

func (g gormExecer) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return g.db.Statement.ConnPool.QueryContext(ctx, query, args...)
}

func (g gormExecer) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return g.db.Statement.ConnPool.QueryRowContext(ctx, query, args...)
}

package repository

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/datapath"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The helpers of the one way tenant statements are built and sent (see
// docs/DATA-ACCESS.md): GORM builds a statement on the request's scope,
// datapath.Run, Read or Commit sends it in the scope's pipeline.

// scanFunc reads a row of a noun's columns (a const such as
// todoColumns, selected in that order) into *T, and the columns after
// them into extra: the one way rows are read.
type scanFunc[T any] func(r pgx.Row, v *T, extra ...any) error

// collect returns the Rows of a statement that reads each row with scan
// into a new element of *out, the columns after the noun's into extra.
func collect[T any](out *[]T, scan scanFunc[T], extra ...any) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		for rows.Next() {
			*out = append(*out, *new(T))
			if err := scan(rows, &(*out)[len(*out)-1], extra...); err != nil {
				return err
			}
		}
		return rows.Err()
	}
}

// findRows runs the statement q builds in the scope of ctx (one round
// trip; see datapath.Run) and reads its rows with scan. Errors are the
// database's, for translate.
func findRows[T any](ctx context.Context, q func(db *gorm.DB) *gorm.DB, scan scanFunc[T]) ([]T, error) {
	var out []T
	st, err := rowsStmt(ctx, q, &out, scan)
	if err != nil {
		return nil, err
	}
	if err := datapath.Run(ctx, st); err != nil {
		return nil, err
	}
	return out, nil
}

// rowsStmt builds the statement q builds, to be sent with others: its
// rows are read with scan into *out.
func rowsStmt[T any](ctx context.Context, q func(db *gorm.DB) *gorm.DB, out *[]T, scan scanFunc[T]) (datapath.Stmt, error) {
	st, err := datapath.Build(ctx, q)
	if err != nil {
		return st, err
	}
	st.Rows = collect(out, scan)
	return st, nil
}

// insertStmt builds the INSERT of row (its associations and id omitted,
// with clauses) and the RETURNING of its new id, which it stores in *id.
// GORM fills in row's creation time, so row is a copy of the caller's.
func insertStmt(ctx context.Context, row any, id *int64, clauses ...clause.Expression) (datapath.Stmt, error) {
	st, err := datapath.Build(ctx, func(db *gorm.DB) *gorm.DB {
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
func updateStmt(ctx context.Context, model any, id int64, fields map[string]any) (datapath.Stmt, error) {
	return datapath.Build(ctx, func(db *gorm.DB) *gorm.DB { return db.Model(model).Where("id = ?", id).Updates(fields) })
}

// deleteRow deletes the row of model's table with id from the tenant of
// ctx, sent with the COMMIT. ENOTFOUND when there is none.
func deleteRow(ctx context.Context, id int64, model any) error {
	st, err := datapath.Build(ctx, func(db *gorm.DB) *gorm.DB { return db.Where("id = ?", id).Delete(model) })
	if err != nil {
		return err
	}
	var deleted int64
	st.Exec = affected(&deleted)
	if err := datapath.Commit(ctx, st); err != nil {
		return translate(err, detailNotFound)
	}
	if deleted == 0 {
		return apperr.Errorf(apperr.ENOTFOUND, detailNotFound)
	}
	return nil
}

// withError returns db carrying err, so that Build reports it.
func withError(db *gorm.DB, err error) *gorm.DB {
	_ = db.AddError(err)
	return db
}

// ref is one foreign reference of a request: the API field, the id given
// (nil: not given) and the model of the table it must be a row of.
type ref struct {
	field string
	id    *int64
	model any
}

// checkRefs checks in one query that every given reference is a row of
// the tenant of ctx. The error names each one that is not, with DRF's
// message, so it merges with the request's other field errors.
func checkRefs(ctx context.Context, refs []ref) error {
	var given []ref
	for _, r := range refs {
		if r.id != nil {
			given = append(given, r)
		}
	}
	if len(given) == 0 {
		return nil
	}
	found := make([]bool, len(given))
	st, err := datapath.Build(ctx, func(db *gorm.DB) *gorm.DB {
		cols := make([]string, len(given))
		vars := make([]any, 0, 2*len(given))
		for i, r := range given {
			table, err := datapath.Table(db, r.model)
			if err != nil {
				return withError(db, err)
			}
			cols[i] = "EXISTS (SELECT 1 FROM ? WHERE id = ?)"
			vars = append(vars, table, *r.id)
		}
		return db.Raw("SELECT "+strings.Join(cols, ", "), vars...)
	})
	if err != nil {
		return err
	}
	st.Row = func(row pgx.Row) error {
		dest := make([]any, len(found))
		for i := range found {
			dest[i] = &found[i]
		}
		return row.Scan(dest...)
	}
	if err := datapath.Run(ctx, st); err != nil {
		return translate(err, "")
	}
	fields := apperr.Fields{}
	for i, r := range given {
		if !found[i] {
			fields.Add(r.field, invalidPK(*r.id))
		}
	}
	return fields.Err()
}

// orderOr returns order, or def when it is empty.
func orderOr(order, def string) string {
	if strings.TrimSpace(order) == "" {
		return def
	}
	return order
}

// pageWindow applies a page window; zero values mean no limit/offset.
func pageWindow(q *gorm.DB, limit, offset int) *gorm.DB {
	if limit > 0 {
		q = q.Limit(limit)
	}
	if offset > 0 {
		q = q.Offset(offset)
	}
	return q
}

// findPage reads one page of the rows filtered selects, their columns
// (a noun's, read by scan) ordered by order (a whitelisted ORDER BY list;
// newest first when empty), and the number of all of them. The total
// rides along as a scalar subquery read after each row's columns: one
// statement, and the page is still read through the ordering index (a
// count(*) OVER () window would make PostgreSQL join and sort every
// match). A page past the end carries no count, so it is then counted on
// its own. filtered must return a new session each call, so the page and
// the count do not add their clauses to each other.
func findPage[T any](ctx context.Context, filtered func(db *gorm.DB) (*gorm.DB, error), columns string, scan scanFunc[T], order string, limit, offset int) ([]T, int64, error) {
	var total int64
	var out []T
	st, err := datapath.Build(ctx, func(db *gorm.DB) *gorm.DB {
		q, err := filtered(db)
		if err != nil {
			return withError(db, err)
		}
		page := q.Select(columns+", (?) AS full_count", q.Select("count(*)")).Order(orderOr(order, "created_at DESC, id DESC"))
		return pageWindow(page, limit, offset).Find(&[]T{})
	})
	if err != nil {
		return nil, 0, err
	}
	st.Rows = collect(&out, scan, &total)
	if err := datapath.Run(ctx, st); err != nil {
		return nil, 0, translate(err, "")
	}
	if len(out) > 0 || offset == 0 {
		return out, total, nil
	}
	st, err = datapath.Build(ctx, func(db *gorm.DB) *gorm.DB {
		q, err := filtered(db)
		if err != nil {
			return withError(db, err)
		}
		return q.Select("count(*)").Find(&[]T{})
	})
	if err != nil {
		return nil, 0, err
	}
	st.Row = func(r pgx.Row) error { return r.Scan(&total) }
	if err := datapath.Run(ctx, st); err != nil {
		return nil, 0, translate(err, "")
	}
	return nil, total, nil
}

// contains returns the condition that one of cols holds s as a
// substring, case-insensitively, with % and _ in s matching themselves,
// and its arguments: the one search every list offers.
func contains(s string, cols ...string) (string, []any) {
	pattern := "%" + escapeLike(s) + "%"
	conds := make([]string, len(cols))
	args := make([]any, len(cols))
	for i, c := range cols {
		conds[i] = c + " ILIKE ?"
		args[i] = pattern
	}
	return "(" + strings.Join(conds, " OR ") + ")", args
}

// escapeLike escapes the wildcards of LIKE in s.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// affected returns a statement's Exec storing its count of rows in *n.
func affected(n *int64) func(pgconn.CommandTag) error {
	return func(tag pgconn.CommandTag) error { *n = tag.RowsAffected(); return nil }
}

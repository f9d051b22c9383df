package datapath

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/internal/pgtest"
	"github.com/strictmt/strictmt/models"
)

// readTenant returns a tenant (prefix isolation) of a fresh database with
// a table t_read.items holding one row, and the pool it is served from.
func readTenant(t *testing.T) (*Tenant, *sql.DB) {
	t.Helper()
	pool := openPool(t, pgtest.NewDatabase(t), nil)
	if _, err := pool.Exec(`CREATE SCHEMA t_read; CREATE TABLE t_read.items (id int PRIMARY KEY, name text NOT NULL); INSERT INTO t_read.items VALUES (1, 'one')`); err != nil {
		t.Fatal(err)
	}
	return NewStore(pool, StoreOptions{}).NewTenant(Tenant{ID: 1, Schema: "t_read"}), pool
}

func readName(ctx context.Context, id int) (string, error) {
	var name string
	err := Read(ctx, Stmt{SQL: "SELECT name FROM t_read.items WHERE id = $1", Args: []any{id}, Row: func(r pgx.Row) error { return r.Scan(&name) }})
	return name, err
}

// TestReadHoldsNoTransaction checks that Read in a writing scope that has
// not begun is a whole READ ONLY transaction: it returns with no
// transaction open and no connection held, sends the pending checks, and
// leaves the scope free to write afterwards in a transaction of its own;
// once that transaction is open, Read runs in it and sees its writes.
func TestReadHoldsNoTransaction(t *testing.T) {
	t.Parallel()
	tenant, pool := readTenant(t)
	ctx := context.Background()

	t.Run("ReadThenWrite", func(t *testing.T) {
		scope := NewScope(tenant, false)
		defer scope.Rollback()
		sctx := NewContextWithScope(ctx, scope)
		checked := false
		if err := DeferCheck(sctx, Check{
			Stmt:   Stmt{SQL: "SELECT 1", Row: func(r pgx.Row) error { var one int; return r.Scan(&one) }},
			Verify: func() error { checked = true; return nil },
		}); err != nil {
			t.Fatal(err)
		}
		name, err := readName(sctx, 1)
		if err != nil || name != "one" {
			t.Fatalf("read: %q, %v", name, err)
		}
		if !checked {
			t.Fatal("the pending check did not travel with the read")
		}
		if scope.began() {
			t.Fatal("a transaction is open after Read")
		}
		if n := pool.Stats().InUse; n != 0 {
			t.Fatalf("%d connection(s) in use after Read", n)
		}
		// A write after it is not refused as READ ONLY.
		if err := Run(sctx, Stmt{SQL: "INSERT INTO t_read.items VALUES (2, 'two')"}); err != nil {
			t.Fatalf("write after Read: %v", err)
		}
		if !scope.began() {
			t.Fatal("the write did not begin the scope's transaction")
		}
		// In the open transaction Read sees its uncommitted write.
		if name, err := readName(sctx, 2); err != nil || name != "two" {
			t.Fatalf("read in the open transaction: %q, %v", name, err)
		}
		scope.Rollback()
		var n int
		if err := pool.QueryRow("SELECT count(*) FROM t_read.items WHERE id = 2").Scan(&n); err != nil || n != 0 {
			t.Fatalf("rolled-back write is there: %d, %v", n, err)
		}
	})

	t.Run("ErrFailedCheck", func(t *testing.T) {
		scope := NewScope(tenant, false)
		defer scope.Rollback()
		sctx := NewContextWithScope(ctx, scope)
		errGone := apperr.Errorf(apperr.EUNAUTHORIZED, "User not found")
		if err := DeferCheck(sctx, Check{
			Stmt:   Stmt{SQL: "SELECT 1 WHERE false", Row: func(r pgx.Row) error { var one int; return r.Scan(&one) }},
			Verify: func() error { return errGone },
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := readName(sctx, 1); !errors.Is(err, errGone) {
			t.Fatalf("read with a failed check: %v, want %v", err, errGone)
		}
		if scope.began() || pool.Stats().InUse != 0 {
			t.Fatal("a failed Read left a transaction or a connection")
		}
	})

	t.Run("ErrWrite", func(t *testing.T) {
		scope := NewScope(tenant, false)
		defer scope.Rollback()
		sctx := NewContextWithScope(ctx, scope)
		err := Read(sctx, Stmt{SQL: "INSERT INTO t_read.items VALUES (3, 'three')"})
		var pgErr interface{ SQLState() string }
		if !errors.As(err, &pgErr) || pgErr.SQLState() != "25006" { // read_only_sql_transaction
			t.Fatalf("write through Read: %v, want read_only_sql_transaction", err)
		}
	})

	t.Run("NoRows", func(t *testing.T) {
		scope := NewScope(tenant, false)
		defer scope.Rollback()
		if _, err := readName(NewContextWithScope(ctx, scope), 99); !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("missing row: %v, want pgx.ErrNoRows", err)
		}
	})
}

// TestReadOnlyTenantWritesNothing: a tenant in the read_only state gets
// READ ONLY transactions, so a write that reached the database anyway is
// refused by PostgreSQL and nothing is written.
func TestReadOnlyTenantWritesNothing(t *testing.T) {
	t.Parallel()
	tenant, pool := readTenant(t)
	tenant.State = models.StateReadOnly
	scope := NewScope(tenant, false)
	defer scope.Rollback()
	sctx := NewContextWithScope(context.Background(), scope)
	err := Run(sctx, Stmt{SQL: "UPDATE t_read.items SET name = 'changed' WHERE id = 1"})
	if !pgerr.Is(err, pgerr.ReadOnlySQLTransaction) {
		t.Fatalf("a write of a read-only tenant: %v", err)
	}
	var name string
	if err := pool.QueryRow("SELECT name FROM t_read.items WHERE id = 1").Scan(&name); err != nil || name != "one" {
		t.Fatalf("after the refused write: %q %v", name, err)
	}
}

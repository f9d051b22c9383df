package datapath_test

import (
	"database/sql"
	"reflect"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/datapath"
	"gorm.io/gorm"
)

// handleTypes are the types that reach a database without a request
// scope.
var handleTypes = []reflect.Type{
	reflect.TypeFor[*gorm.DB](), reflect.TypeFor[*sql.DB](), reflect.TypeFor[*sql.Conn](),
	reflect.TypeFor[*sql.Tx](), reflect.TypeFor[*pgx.Conn](), reflect.TypeFor[*datapath.Store](),
}

func isHandle(t reflect.Type) bool {
	for _, h := range handleTypes {
		if t == h {
			return true
		}
	}
	return false
}

// TestNoHandleWithoutScope checks that neither a Tenant nor the Store they
// share hands out a database handle: no exported field of a Tenant, and
// no exported method of either, has or returns one. The only ways to a
// tenant's data (DB, Run, Commit, Build) take the context of a request
// scope.
func TestNoHandleWithoutScope(t *testing.T) {
	tenant := reflect.TypeFor[datapath.Tenant]()
	for f := range tenant.Fields() {
		if f.IsExported() && isHandle(f.Type) {
			t.Errorf("datapath.Tenant.%s is a %v: a handle without a scope", f.Name, f.Type)
		}
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[*datapath.Tenant](), reflect.TypeFor[*datapath.Store]()} {
		for m := range typ.Methods() {
			for out := range m.Type.Outs() {
				if isHandle(out) {
					t.Errorf("%v.%s returns a %v: a handle without a scope", typ, m.Name, out)
				}
			}
		}
	}
}

package tenants

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/repository"
)

// Rows from which a table's secondary indexes (BulkIndexRows) and its
// foreign keys (BulkKeyRows) are made after its COPY rather than kept up
// row by row (see DeferBuild). Making an index costs about as much as
// keeping it up for 3,000 rows (the fixed cost of a new index: catalog
// rows, a file, its WAL and fsync); adding a foreign key costs about as
// much as checking it for a few hundred rows, each check a lookup and a
// row lock in the referenced table. Measured on the import benchmark.
const (
	BulkIndexRows = 3000
	BulkKeyRows   = 500
)

// DeferBuild drops, in a bulk load's transaction (an import, a
// restore, a clone: each fills a schema it has just created), the indexes of
// indexTables that back no constraint and the foreign keys on the
// columns keyColumns names (table, column: those the COPY fills; a key
// on a column it leaves NULL has nothing to check), and returns the function that makes them again, each by its own name
// and definition as PostgreSQL prints it: the schema ends exactly as its
// migrations left it. An index built once over all the rows (one sort)
// costs less than one insertion per row, and a foreign key added over all
// the rows is checked with one join instead of one lookup per row. No
// other session can reach the tenant's tables before the transaction
// commits; a failure rolls all of it back.
func DeferBuild(ctx context.Context, conn *pgx.Conn, indexTables []string, keyColumns [][2]string) (func(context.Context) error, error) {
	if len(indexTables)+len(keyColumns) == 0 {
		return func(context.Context) error { return nil }, nil
	}
	keyTables, keyCols := make([]string, len(keyColumns)), make([]string, len(keyColumns))
	for i, k := range keyColumns {
		keyTables[i], keyCols[i] = k[0], k[1]
	}
	rows, err := conn.Query(ctx, repository.ImportDeferredBuildSQL, indexTables, keyTables, keyCols)
	if err != nil {
		return nil, fmt.Errorf("reading the indexes and foreign keys to build after the copy: %w", err)
	}
	var drop, build []string
	for rows.Next() {
		var d, m string
		if err := rows.Scan(&d, &m); err != nil {
			rows.Close()
			return nil, err
		}
		drop = append(drop, d)
		build = append(build, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the indexes and foreign keys to build after the copy: %w", err)
	}
	if len(drop) == 0 {
		return func(context.Context) error { return nil }, nil
	}
	// One round trip, a statement per message (see ExecEach).
	if err := ExecEach(ctx, conn.PgConn(), drop); err != nil {
		return nil, fmt.Errorf("dropping the indexes and foreign keys to build after the copy: %w", err)
	}
	return func(ctx context.Context) error {
		if err := ExecEach(ctx, conn.PgConn(), build); err != nil {
			return fmt.Errorf("building the indexes and foreign keys after the copy: %w", err)
		}
		return nil
	}, nil
}

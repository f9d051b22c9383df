package tenants

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/internal/pgerr"
	"github.com/strictmt/strictmt/repository"
)

// Where tenant schemas live on a Citus cluster, and moving them.
//
// On Citus 12+ with schema-based sharding every tenant schema is a
// distributed schema: its tables are single-shard tables of one
// co-location group, placed whole on one node. Every Citus object used
// here was checked against Citus's source at tag v13.2.2; the file that
// defines each is cited where it is used. Citus cannot be installed where
// strictmt's tests run, so these paths are tested on plain PostgreSQL only
// up to the point where they would need Citus (see placement_test.go).

// ErrNotCitus is returned by Placements and MoveTenant on a database
// without the citus extension. Its code is ECONFLICT (409): the request is
// well formed (and any tenant it names exists), but the state of the
// deployment rules the operation out, as a state conflict does; it is not
// the server failing (5xx) nor a missing resource (404).
var ErrNotCitus = &apperr.Error{Code: apperr.ECONFLICT,
	Message: "This database is not on Citus: every tenant schema is on this one PostgreSQL server."}

// NotDistributedNote is Placement.Note for a tenant schema that Citus does
// not distribute.
const NotDistributedNote = "local to the coordinator, not distributed; run strictmt migrate in Citus mode to distribute it"

// moveProgressEvery is how often MoveTenant reads a running move's
// progress.
const moveProgressEvery = 500 * time.Millisecond

// Placement is where one tenant schema lives.
type Placement struct {
	Schema string
	// Distributed reports that the schema is a Citus distributed schema
	// (in pg_dist_schema). A schema that is not stays on the coordinator.
	Distributed bool
	// Node is the node that holds the schema's tables, as HOST:PORT; ""
	// when the schema is not distributed (or holds no tables). Should
	// Citus ever show the schema's tables on several nodes, they are all
	// listed, separated by ", ".
	Node string
	// SizeBytes is the size of the schema's tables on their node (0 when
	// not distributed).
	SizeBytes int64
	// Moved is set only on the placement MoveTenant returns: true when it
	// moved the schema, false when the schema was on the node already.
	Moved bool
}

// Note explains a placement that is not a plain node, for people: ""
// for a distributed schema on one node.
func (p Placement) Note() string {
	switch {
	case !p.Distributed:
		return NotDistributedNote
	case p.Node == "":
		return "distributed, but holds no tables yet"
	case strings.Contains(p.Node, ", "):
		return "Citus shows this schema's tables on more than one node"
	}
	return ""
}

// MoveProgress is the state of a running MoveTenant, as Citus's
// get_rebalance_progress() reports it.
type MoveProgress struct {
	Schema   string
	From, To string // HOST:PORT
	// Status is Citus's step, e.g. "Setting Up", "Copying Data",
	// "Catching Up", "Completing"; "" until Citus has set the move up.
	Status string
	// Shards is the number of the schema's shards (one per table) being
	// moved; ShardsMoved of them are done.
	Shards, ShardsMoved int
	// Bytes is the schema's size; CopiedBytes what is on the target so far.
	Bytes, CopiedBytes int64
	Elapsed            time.Duration
}

// PlacementService is Placements and MoveTenant on one database, for
// the admin API (handlers.PlacementService). DB is the direct connection
// (database.direct_url), as for migrations: a move runs for as long as
// copying the tenant's data takes.
type PlacementService struct {
	DB *sql.DB
}

// Placements calls Placements on s.DB.
func (s PlacementService) Placements(ctx context.Context, schema string) ([]Placement, error) {
	return Placements(ctx, s.DB, schema)
}

// MoveTenant calls MoveTenant on s.DB.
func (s PlacementService) MoveTenant(ctx context.Context, schema, node string, blockWrites bool, progress func(MoveProgress)) (*Placement, error) {
	return MoveTenant(ctx, s.DB, schema, node, blockWrites, progress)
}

// Placements returns, ordered by schema, the placement of every tenant in
// the catalog, or of schema alone when it is not "". A tenant whose schema
// Citus does not distribute is listed with Distributed false and no node.
// Errors: EINVALID (a schema that cannot be a schema name, checked before
// any SQL runs), ENOTFOUND (no tenant has schema), ErrNotCitus (ECONFLICT)
// without the citus extension, ECONFLICT for a Citus older than 12.0.
func Placements(ctx context.Context, db *sql.DB, schema string) ([]Placement, error) {
	if schema != "" {
		if err := ValidateSchemaName(schema); err != nil {
			return nil, err
		}
	}
	if err := checkPlacementTarget(ctx, db, schema, 12, 0); err != nil {
		return nil, err
	}
	return readPlacements(ctx, db, schema)
}

// checkPlacementTarget returns ENOTFOUND unless schema ("" for none) is a
// tenant, then ErrNotCitus unless the citus extension is installed, then
// ECONFLICT unless it is at least major.minor (12.0 added distributed
// schemas, 12.1 citus_schema_move), all from one query.
func checkPlacementTarget(ctx context.Context, db *sql.DB, schema string, major, minor int) error {
	var version sql.NullString
	var tenant bool
	err := db.QueryRowContext(ctx, repository.PlacementTargetSQL, schema).Scan(&version, &tenant)
	switch {
	case err != nil:
		return err
	case !tenant:
		return apperr.NoTenant(schema)
	case !version.Valid:
		return ErrNotCitus
	}
	// extversion is "13.2-1": major.minor-schema revision.
	var gotMajor, gotMinor int
	if _, err := fmt.Sscanf(version.String, "%d.%d", &gotMajor, &gotMinor); err == nil &&
		(gotMajor < major || gotMajor == major && gotMinor < minor) {
		return apperr.Errorf(apperr.ECONFLICT, "This database runs Citus %s; this needs Citus %d.%d or later.", version.String, major, minor)
	}
	return nil
}

// readPlacements runs repository.PlacementsSQL and folds its rows into
// one Placement per tenant.
func readPlacements(ctx context.Context, db *sql.DB, schema string) ([]Placement, error) {
	rows, err := db.QueryContext(ctx, repository.PlacementsSQL, schema)
	if err != nil {
		return nil, fmt.Errorf("reading tenant placements from Citus: %w", err)
	}
	defer rows.Close()
	var out []Placement
	for rows.Next() {
		var p Placement
		var host sql.NullString
		var port sql.NullInt64
		if err := rows.Scan(&p.Schema, &p.Distributed, &host, &port, &p.SizeBytes); err != nil {
			return nil, err
		}
		if host.Valid {
			p.Node = net.JoinHostPort(host.String, strconv.FormatInt(port.Int64, 10))
		}
		if n := len(out); n > 0 && out[n-1].Schema == p.Schema {
			out[n-1].Node += ", " + p.Node
			out[n-1].SizeBytes += p.SizeBytes
			continue
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// nodeHostRe is what a node's host may be: a DNS name or IPv4 address
// (letters, digits, '.', '-', and '_' as container names have), or an
// IPv6 address, which net.SplitHostPort has taken out of its brackets.
var nodeHostRe = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9._-]{0,252})$`)

// ParseNode splits node, HOST:PORT ("[ADDR]:PORT" for IPv6), into host and
// port, or returns an EINVALID error for field "node".
func ParseNode(node string) (host string, port int, err error) {
	invalid := apperr.FieldError("node", "Enter the node as HOST:PORT, for example \"10.0.0.7:5432\" or \"worker-2:5432\".")
	h, p, err := net.SplitHostPort(node)
	if err != nil || !isDigits(p) || len(p) > 5 {
		return "", 0, invalid
	}
	port, _ = strconv.Atoi(p)
	if port < 1 || port > 65535 {
		return "", 0, invalid
	}
	if ip := net.ParseIP(h); ip == nil && !nodeHostRe.MatchString(h) {
		return "", 0, invalid
	}
	return h, port, nil
}

// citusNode is a row of pg_dist_node.
type citusNode struct {
	host          string
	port          int
	active, takes bool // isactive, shouldhaveshards
	role          string
}

// eligible reports whether a schema may be moved to the node.
func (n citusNode) eligible() bool { return n.active && n.role == "primary" && n.takes }

func (n citusNode) addr() string { return net.JoinHostPort(n.host, strconv.Itoa(n.port)) }

// describe is the node with what keeps it from taking a schema, if
// anything.
func (n citusNode) describe() string {
	var why []string
	if !n.active {
		why = append(why, "inactive")
	}
	if n.role != "primary" {
		why = append(why, n.role)
	}
	if !n.takes {
		why = append(why, "takes no shards")
	}
	if len(why) == 0 {
		return n.addr()
	}
	return n.addr() + " (" + strings.Join(why, ", ") + ")"
}

// readNodes lists the nodes of the cluster (repository.NodesSQL).
func readNodes(ctx context.Context, db *sql.DB) ([]citusNode, error) {
	rows, err := db.QueryContext(ctx, repository.NodesSQL)
	if err != nil {
		return nil, fmt.Errorf("listing the Citus nodes: %w", err)
	}
	defer rows.Close()
	var out []citusNode
	for rows.Next() {
		var n citusNode
		if err := rows.Scan(&n.host, &n.port, &n.active, &n.role, &n.takes); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// MoveTenant moves the tenant schema to node (HOST:PORT, as pg_dist_node
// names it) with Citus's citus_schema_move, and returns where the schema is
// then. blockWrites moves with shard_transfer_mode 'block_writes' (writes
// to the tenant wait until the move ends) instead of 'auto' (logical
// replication; writes go on). A schema already on node is not moved: the
// placement comes back with Moved false. While the move runs, progress
// (when not nil) is called about every half second from one goroutine,
// never after MoveTenant returns. Cancelling ctx cancels the move; the
// schema stays where it was.
//
// Errors, each checked before anything is moved: EINVALID for a schema
// that cannot be a schema name or a node that is not HOST:PORT (both
// before any SQL runs), ENOTFOUND when no tenant has schema, ErrNotCitus
// (ECONFLICT) without the citus extension, ECONFLICT for a Citus older
// than 12.1 or a schema that is not distributed, EINVALID (field "node")
// naming the known nodes when node is not an active primary node that
// takes shards. When Citus refuses the move as not supported (SQLSTATE
// 0A000), ECONFLICT with Citus's message and hint; other failures of the
// move are returned as they are (internal).
//
// Citus lets only the schema's owner move it (EnsureSchemaOwner in
// src/backend/distributed/commands/schema_based_sharding.c:836): the
// schemas strictmt creates are its login role's.
func MoveTenant(ctx context.Context, db *sql.DB, schema, node string, blockWrites bool, progress func(MoveProgress)) (*Placement, error) {
	if err := ValidateSchemaName(schema); err != nil {
		return nil, err
	}
	host, port, err := ParseNode(node)
	if err != nil {
		return nil, err
	}
	target := net.JoinHostPort(host, strconv.Itoa(port))
	if err := checkPlacementTarget(ctx, db, schema, 12, 1); err != nil {
		return nil, err
	}
	ps, err := readPlacements(ctx, db, schema)
	if err != nil {
		return nil, err
	}
	if len(ps) != 1 {
		// The tenant was deleted since the check.
		return nil, apperr.NoTenant(schema)
	}
	from := ps[0]
	switch {
	case !from.Distributed:
		return nil, apperr.Errorf(apperr.ECONFLICT, "Tenant schema %q is %s.", schema, NotDistributedNote)
	case from.Node == "":
		return nil, apperr.Errorf(apperr.ECONFLICT, "Tenant schema %q is distributed but holds no tables: there is nothing to move.", schema)
	}
	nodes, err := readNodes(ctx, db)
	if err != nil {
		return nil, err
	}
	eligible := false
	known := make([]string, len(nodes))
	for i, n := range nodes {
		known[i] = n.describe()
		if n.host == host && n.port == port {
			eligible = n.eligible()
		}
	}
	if !eligible {
		return nil, apperr.FieldError("node", fmt.Sprintf("%s is not an active primary node that takes shards; the nodes are: %s.", target, strings.Join(known, ", ")))
	}
	if from.Node == target {
		return &from, nil
	}
	if err := runSchemaMove(ctx, db, from, target, host, port, blockWrites, progress); err != nil {
		// Citus refuses what it cannot do with feature_not_supported, e.g.
		// logical replication of a table without a replica identity
		// (VerifyTablesHaveReplicaIdentity,
		// src/backend/distributed/operations/shard_transfer.c:1441-1465),
		// and says what to do instead: the operator's to read.
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == pgerr.FeatureNotSupported {
			msg := pe.Message
			if pe.Hint != "" {
				msg += ". " + pe.Hint
			}
			return nil, apperr.Wrap(apperr.ECONFLICT, err, fmt.Sprintf("Citus cannot move tenant schema %q to %s: %s", schema, target, strings.ReplaceAll(msg, "\n", " ")))
		}
		if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && strings.Contains(pe.Message, "wal_level") {
			// Measured on Citus 13.2: an online move needs logical
			// decoding on the source worker.
			return nil, apperr.Errorf(apperr.ECONFLICT, "Citus cannot move tenant schema %q online: %s. Set wal_level = logical on the workers, or move with block_writes (writes wait during the copy).", schema, pe.Message)
		}
		return nil, fmt.Errorf("moving tenant schema %s from %s to %s: %w", schema, from.Node, target, err)
	}
	ps, err = readPlacements(ctx, db, schema)
	if err != nil {
		return nil, fmt.Errorf("tenant schema %s was moved to %s, but reading its placement failed: %w", schema, target, err)
	}
	if len(ps) != 1 {
		return nil, apperr.NoTenant(schema)
	}
	ps[0].Moved = true
	return &ps[0], nil
}

// runSchemaMove calls citus_schema_move (repository.SchemaMoveQuery) on a
// connection of its own while another one reads the move's progress.
func runSchemaMove(ctx context.Context, db *sql.DB, from Placement, target, host string, port int, blockWrites bool, progress func(MoveProgress)) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	// get_rebalance_progress() tells moves apart by the process id of the
	// backend that runs each.
	var pid int32
	if err := conn.QueryRowContext(ctx, repository.BackendPIDSQL).Scan(&pid); err != nil {
		return err
	}
	move, args := repository.SchemaMoveQuery(from.Schema, host, port, blockWrites)
	pollCtx, stopPolling := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		if progress != nil {
			pollMove(pollCtx, db, pid, from, target, progress)
		}
	}()
	_, err = conn.ExecContext(ctx, move, args...)
	stopPolling()
	<-polled
	return err
}

// pollMove reports the progress of the move run by backend pid every
// moveProgressEvery until ctx ends. A failed read is skipped: progress is
// for people, and the move goes on regardless.
func pollMove(ctx context.Context, db *sql.DB, pid int32, from Placement, target string, progress func(MoveProgress)) {
	start := time.Now()
	tick := time.NewTicker(moveProgressEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p := MoveProgress{Schema: from.Schema, From: from.Node, To: target}
		err := db.QueryRowContext(ctx, repository.MoveProgressSQL, pid).Scan(&p.Shards, &p.ShardsMoved, &p.Bytes, &p.CopiedBytes, &p.Status)
		if errors.Is(ctx.Err(), context.Canceled) {
			return
		}
		if err != nil {
			continue
		}
		if p.Bytes == 0 {
			p.Bytes = from.SizeBytes
		}
		p.Elapsed = time.Since(start)
		progress(p)
	}
}

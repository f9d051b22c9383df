package datapath

import (
	"context"
	"fmt"
	"hash/maphash"
	"strconv"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/strictmt/strictmt/internal/pgerr"
)

// Prepared statements.
//
// PostgreSQL parses, analyses and plans an unnamed statement every time it
// runs; for the short statements of a tenant request that is most of the
// server's work. A named (prepared) statement is parsed once per
// connection, and after a few runs PostgreSQL keeps a generic plan for it.
// pgx's own statement cache prepares in a round trip of its own before the
// statements it serves, which would break "one round trip per read" on
// every miss, and tenant statements name their schema, so over many
// tenants misses are common.
//
// The scope's pipeline therefore keeps its own bounded cache per
// connection: a statement text seen for the second time on a connection
// is prepared in the same pipeline that runs it (Parse of the named
// statement, then Bind and Execute of it), and later runs only Bind and
// Execute it, with pgx's binary formats. Statements seen once are not
// prepared, so one-off texts cost nothing. The least recently used
// statement beyond the bound is deallocated at the front of the
// connection's next pipeline. Nothing here depends on a tenant: a named
// statement is the text it was prepared from (the schema and table names
// in it), run as whatever role the transaction has, so a tenant can run
// only its own statements and PostgreSQL checks privileges on every run.
//
// Named statements live in the server session, so the cache is off behind
// a transaction pooler (see database.prepared_statements).

// stmtSeed hashes statement texts for the seen-once filter.
var stmtSeed = maphash.MakeSeed()

// connStatementsKey is the key of a connection's statements in its
// pgconn.PgConn's CustomData: they live and die with the connection.
const connStatementsKey = "strictmt.statements"

// connStatements is what one connection has prepared.
type connStatements struct {
	prepared *simplelru.LRU[string, *pgconn.StatementDescription]
	seen     *simplelru.LRU[uint64, struct{}]
	closing  []string // evicted, deallocated with the next pipeline
	next     uint64
	eqb      pgx.ExtendedQueryBuilder
}

// statementsOf returns the prepared statements of pc, made on first use
// with room for size of them.
func statementsOf(pc *pgconn.PgConn, size int) *connStatements {
	data := pc.CustomData()
	if cs, ok := data[connStatementsKey].(*connStatements); ok {
		return cs
	}
	cs := &connStatements{}
	cs.prepared, _ = simplelru.NewLRU(size, func(_ string, sd *pgconn.StatementDescription) {
		cs.closing = append(cs.closing, sd.Name)
	})
	// Twice the room: a text must come back before it is evicted from
	// here to be prepared.
	cs.seen, _ = simplelru.NewLRU[uint64, struct{}](2*size, nil)
	data[connStatementsKey] = cs
	return cs
}

// forget drops the statement of text, when a run showed that the server
// no longer has it as it was (result type changed, statement gone).
func (cs *connStatements) forget(text string) {
	cs.prepared.Remove(text) // the eviction callback deallocates it
}

// sendQueued runs stmts on pc as one pipeline with one Sync (one round
// trip), using and filling the connection's prepared statements; see the
// comment at the top of this file. Its errors are those of pgx's batches:
// the first statement's error or the first callback's, the database's
// errors as *pgconn.PgError. After an error the statements behind it were
// not run (the server skips to the Sync) and their callbacks are not
// called.
func sendQueued(ctx context.Context, pc *pgx.Conn, size int, stmts []Stmt) error {
	cs := statementsOf(pc.PgConn(), size)
	tm := pc.TypeMap()
	plans := make([]stmtPlan, len(stmts))

	p := pc.PgConn().StartPipeline(ctx)
	closing := cs.closing
	if err := cs.queue(p, tm, closing, stmts, plans); err != nil {
		p.Close()
		return err
	}
	if err := p.Sync(); err != nil {
		p.Close()
		return err
	}
	first := cs.receive(p, tm, closing, stmts, plans)
	// Close reads what is left up to the Sync's ReadyForQuery.
	if err := p.Close(); first == nil {
		first = err
	}
	return first
}

// stmtPlan is how sendQueued sends one statement of its pipeline.
type stmtPlan struct {
	prepare string // name Parsed in this pipeline
	cached  bool   // run as a statement prepared before
}

// queue sends on p the deallocation of closing, then each of stmts: as
// the statement prepared before for its text, as the statement Parsed
// earlier in this pipeline for it, unnamed when its text is seen for the
// first time, or else Parsed under a new name and run as that. It records
// in plans which statements are Parsed here and which ran as prepared
// before. Its errors are those of encoding the arguments.
func (cs *connStatements) queue(p *pgconn.Pipeline, tm *pgtype.Map, closing []string, stmts []Stmt, plans []stmtPlan) error {
	var preparing map[string]string // text → name, Parsed earlier in this pipeline
	for _, name := range closing {
		// First, so that nothing before it can fail and skip it.
		p.SendDeallocate(name)
	}
	for i, st := range stmts {
		if sd, ok := cs.prepared.Get(st.SQL); ok {
			if err := cs.eqb.Build(tm, sd, st.Args); err != nil {
				return err
			}
			plans[i].cached = true
			p.SendQueryPrepared(sd.Name, cs.eqb.ParamValues, cs.eqb.ParamFormats, cs.eqb.ResultFormats)
			continue
		}
		// Not prepared: parameters in text, as pgx's exec mode sends
		// them, typed by the server; results in text.
		if err := cs.eqb.Build(tm, nil, st.Args); err != nil {
			return err
		}
		if name, ok := preparing[st.SQL]; ok {
			p.SendQueryPrepared(name, cs.eqb.ParamValues, cs.eqb.ParamFormats, nil)
			continue
		}
		h := maphash.String(stmtSeed, st.SQL)
		if _, again := cs.seen.Get(h); !again {
			cs.seen.Add(h, struct{}{})
			p.SendQueryParams(st.SQL, cs.eqb.ParamValues, nil, cs.eqb.ParamFormats, nil)
			continue
		}
		cs.next++
		name := "strictmt_" + strconv.FormatUint(cs.next, 36)
		if preparing == nil {
			preparing = map[string]string{}
		}
		preparing[st.SQL] = name
		plans[i].prepare = name
		p.SendPrepare(name, st.SQL, nil)
		p.SendQueryPrepared(name, cs.eqb.ParamValues, cs.eqb.ParamFormats, nil)
	}
	return nil
}

// receive reads, in the order queue sent them, the results of the
// pipeline p: the deallocations of closing, which it then takes off the
// connection's list, and for each of stmts the description of the
// statement Parsed for it, if any, kept among the connection's prepared
// statements, and its result, handed to its callback. It stops at the
// first error and returns it; a statement prepared before that fails as
// stale is forgotten.
func (cs *connStatements) receive(p *pgconn.Pipeline, tm *pgtype.Map, closing []string, stmts []Stmt, plans []stmtPlan) error {
	for range closing {
		res, err := p.GetResults()
		if err != nil {
			return err
		}
		if _, ok := res.(*pgconn.CloseComplete); !ok {
			return fmt.Errorf("datapath: deallocate: expected CloseComplete, got %T", res)
		}
	}
	cs.closing = cs.closing[len(closing):]
	for i, st := range stmts {
		if name := plans[i].prepare; name != "" {
			if err := cs.receivePrepared(p, name, st.SQL); err != nil {
				return err
			}
		}
		if err := receiveResult(p, tm, st); err != nil {
			if plans[i].cached && staleStatement(err) {
				cs.forget(st.SQL)
			}
			return err
		}
	}
	return nil
}

// receivePrepared reads from p the description of the statement Parsed
// as name for text and keeps it among the connection's prepared
// statements.
func (cs *connStatements) receivePrepared(p *pgconn.Pipeline, name, text string) error {
	res, err := p.GetResults()
	if err != nil {
		return err
	}
	sd, ok := res.(*pgconn.StatementDescription)
	if !ok {
		return fmt.Errorf("datapath: prepare: expected a statement description, got %T", res)
	}
	sd.Name, sd.SQL = name, text
	// Prepared on the server now, whatever its run gives.
	cs.prepared.Add(text, sd)
	return nil
}

// receiveResult reads from p the result of st and hands it to st's
// callback (see deliver).
func receiveResult(p *pgconn.Pipeline, tm *pgtype.Map, st Stmt) error {
	res, err := p.GetResults()
	if err != nil {
		return err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return fmt.Errorf("datapath: expected a result, got %T", res)
	}
	return deliver(tm, rr, st)
}

// deliver hands rr to the callback of st and closes it.
func deliver(tm *pgtype.Map, rr *pgconn.ResultReader, st Stmt) error {
	switch {
	case st.Rows != nil:
		rows := pgx.RowsFromResultReader(tm, rr)
		err := st.Rows(rows)
		rows.Close()
		if err != nil {
			return err
		}
		return rows.Err()
	case st.Row != nil:
		rows := pgx.RowsFromResultReader(tm, rr)
		err := st.Row(firstRow{rows})
		rows.Close()
		if err != nil {
			return err
		}
		return rows.Err()
	default:
		tag, err := rr.Close()
		if err != nil {
			return err
		}
		if st.Exec != nil {
			return st.Exec(tag)
		}
		return nil
	}
}

// firstRow is the pgx.Row of a result: its first row, as pgx's QueryRow.
type firstRow struct{ rows pgx.Rows }

// Scan reads the result's first row into dest and closes the result;
// without a row it returns pgx.ErrNoRows.
func (r firstRow) Scan(dest ...any) error {
	if err := r.rows.Err(); err != nil {
		return err
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// staleStatement reports whether err says that a prepared statement no
// longer matches the server: its result type changed under it (a
// migration altered a column) or the server no longer has it.
func staleStatement(err error) bool {
	// feature_not_supported: "cached plan must not change result type";
	// invalid_sql_statement_name: the prepared statement does not exist.
	return pgerr.Is(err, pgerr.FeatureNotSupported, pgerr.InvalidSQLStatementName)
}

package tenants

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
)

// One command per protocol message.
//
// Everything strictmt sends for provisioning, spare upkeep, migrations,
// deletion and import goes as single statements, never as a script of
// several statements in one simple-query message: Citus forwards the
// whole query string of some DDL (CREATE INDEX, CREATE TRIGGER, ALTER
// TABLE) to its workers in an extended-protocol message, which takes one
// command, so a script fails there with "cannot insert multiple commands
// into a prepared statement" (Citus issue 6608). ExecEach keeps the
// single round trip a script had: the statements travel as one pipeline
// of extended-protocol messages (Parse, Bind, Execute each, one Sync),
// where PostgreSQL itself refuses a message with more than one command.

// ExecEach runs stmts, each a single SQL command without parameters, on
// conn in one round trip, in order; it stops at the first error, which it
// returns with the statement that failed. Inside a transaction a failure
// aborts it; outside one, the statements run as one implicit transaction.
func ExecEach(ctx context.Context, conn *pgconn.PgConn, stmts []string) error {
	if len(stmts) == 0 {
		return nil
	}
	b := &pgconn.Batch{}
	for _, s := range stmts {
		b.ExecParams(s, nil, nil, nil, nil)
	}
	results, err := conn.ExecBatch(ctx, b).ReadAll()
	if err != nil {
		// The results before the failed one are complete; the failed
		// statement is the next.
		at := len(results)
		for i, r := range results {
			if r.Err != nil {
				at = i
				break
			}
		}
		if at < len(stmts) {
			return fmt.Errorf("%w (in %s)", err, firstLine(stmts[at]))
		}
		return err
	}
	return nil
}

// firstLine returns the start of a statement for an error message.
func firstLine(stmt string) string {
	s := strings.TrimSpace(stmt)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " …"
	}
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// onConn runs fn with a GORM handle bound to one connection of db (db
// itself when it is bound already, as CreateOptions.DB may be) and a
// function that reaches that connection's pgx connection, so that a GORM
// transaction begun on the handle and statements sent with ExecEach share
// one session.
func onConn(ctx context.Context, db *gorm.DB, fn func(conn *gorm.DB, raw rawConn) error) error {
	if sc, ok := db.Statement.ConnPool.(*sql.Conn); ok {
		return fn(db.WithContext(ctx), rawConn{sc})
	}
	return db.WithContext(ctx).Connection(func(conn *gorm.DB) error {
		sc, ok := conn.Statement.ConnPool.(*sql.Conn)
		if !ok {
			return fmt.Errorf("tenants: a connection handle holds %T, not *sql.Conn", conn.Statement.ConnPool)
		}
		return fn(conn, rawConn{sc})
	})
}

// rawConn reaches the pgx connection under a database/sql connection,
// inside whatever transaction that connection has open.
type rawConn struct{ c *sql.Conn }

// do runs fn on the pgx connection.
func (r rawConn) do(fn func(*pgx.Conn) error) error {
	return r.c.Raw(func(driverConn any) error {
		pc, ok := driverConn.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("tenants: the database driver is %T, not pgx", driverConn)
		}
		return fn(pc.Conn())
	})
}

// execEach is ExecEach on the connection.
func (r rawConn) execEach(ctx context.Context, stmts []string) error {
	return r.do(func(c *pgx.Conn) error { return ExecEach(ctx, c.PgConn(), stmts) })
}

// execEachTx runs stmts one message each on tx, a round trip each: for a
// transaction handed over by database/sql (goose's), whose connection
// cannot be reached. With no arguments each goes as a simple query of
// one command.
func execEachTx(ctx context.Context, tx execer, stmts []string) error {
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("%w (in %s)", err, firstLine(s))
		}
	}
	return nil
}

// SplitStatements splits an SQL script into its statements, at the
// semicolons that are not inside a quoted string or identifier, a
// dollar-quoted body or a comment, and drops the parts that hold nothing
// but blanks and comments. The semicolons themselves are dropped.
//
// It reads what PostgreSQL's scanner reads for the purpose (standard
// strings with doubled quotes, E'…' strings with backslash escapes, "quoted
// identifiers", $tag$ bodies, -- and nested /* */ comments); a split that
// went wrong would put two commands in one message, which PostgreSQL
// refuses, so no wrong split goes unnoticed.
func SplitStatements(script string) []string {
	var out []string
	start := 0
	hasCode := false // the current statement has more than blanks and comments
	emit := func(end int) {
		if hasCode {
			out = append(out, strings.TrimSpace(script[start:end]))
		}
		start, hasCode = end+1, false
	}
	s := script
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ';':
			emit(i)
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			i = skipLineComment(s, i)
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			i = skipBlockComment(s, i)
		case c == '\'':
			hasCode = true
			escapes := i > 0 && (s[i-1] == 'E' || s[i-1] == 'e') && (i < 2 || !isIdentChar(s[i-2]))
			i = skipQuoted(s, i, escapes)
		case c == '"':
			hasCode = true
			i = skipQuoted(s, i, false)
		case c == '$' && (i == 0 || !isIdentChar(s[i-1])):
			hasCode = true
			i = skipDollarQuoted(s, i)
		default:
			if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' {
				hasCode = true
			}
			i++
		}
	}
	emit(len(s))
	return out
}

// skipLineComment returns the index of the newline that ends the -- comment
// at s[i:] (len(s) when none does).
func skipLineComment(s string, i int) int {
	for i < len(s) && s[i] != '\n' {
		i++
	}
	return i
}

// skipBlockComment returns the index after the /* */ comment at s[i:],
// which may nest.
func skipBlockComment(s string, i int) int {
	depth := 0
	for i < len(s) {
		switch {
		case s[i] == '/' && i+1 < len(s) && s[i+1] == '*':
			depth++
			i += 2
		case s[i] == '*' && i+1 < len(s) && s[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return i
}

// skipQuoted returns the index after the string or quoted identifier that
// starts with the quote at s[i], in which a doubled quote is one quote
// and, with escapes (a string written E'…'), a backslash escapes the
// next byte.
func skipQuoted(s string, i int, escapes bool) int {
	quote := s[i]
	i++
	for i < len(s) {
		switch {
		case escapes && s[i] == '\\':
			i += 2
		case s[i] == quote && i+1 < len(s) && s[i+1] == quote:
			i += 2
		case s[i] == quote:
			return i + 1
		default:
			i++
		}
	}
	return i
}

// skipDollarQuoted returns the index after the $tag$ body that starts at
// s[i], or i+1 when s[i] starts no tag (a parameter such as $1).
func skipDollarQuoted(s string, i int) int {
	tag, ok := dollarTag(s[i:])
	if !ok {
		return i + 1
	}
	end := strings.Index(s[i+len(tag):], tag)
	if end < 0 {
		return len(s)
	}
	return i + len(tag) + end + len(tag)
}

// dollarTag returns the opening tag ($$ or $name$) at the start of s.
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		switch {
		case s[j] == '$':
			return s[:j+1], true
		case isIdentChar(s[j]) && !(j == 1 && s[j] >= '0' && s[j] <= '9'):
		default:
			return "", false
		}
	}
	return "", false
}

func isIdentChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

package pgtest

import (
	"context"
	"database/sql"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver of Unreachable
)

// Messages records the SQL texts a client sends PostgreSQL: every simple
// Query message and every Parse message, as read at the client's socket
// (see Record).
type Messages struct {
	mu    sync.Mutex
	texts []Message
}

// Message is one recorded SQL text and the kind of message that carried it
// ('Q' for a simple query, 'P' for a Parse of the extended protocol).
type Message struct {
	Kind byte
	SQL  string
}

// Record makes every connection cfg opens from now on record its SQL
// texts in the returned Messages. Connections must not use TLS (the
// harness's do not).
func Record(cfg *pgx.ConnConfig) *Messages {
	m := &Messages{}
	dial := cfg.DialFunc
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &recordingConn{Conn: c, m: m}, nil
	}
	return m
}

// Texts returns what was recorded so far and forgets it.
func (m *Messages) Texts() []Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.texts
	m.texts = nil
	return out
}

type recordingConn struct {
	net.Conn
	m       *Messages
	started bool   // the startup message (no type byte) went
	pending []byte // a message split across writes
}

func (c *recordingConn) Write(b []byte) (int, error) {
	c.record(b)
	return c.Conn.Write(b)
}

func (c *recordingConn) record(b []byte) {
	buf := append(c.pending, b...)
	c.pending = nil
	if !c.started {
		// StartupMessage (or SSLRequest): a length that counts itself.
		if len(buf) < 4 {
			c.pending = buf
			return
		}
		n := int(binary.BigEndian.Uint32(buf[:4]))
		if len(buf) < n {
			c.pending = buf
			return
		}
		c.started = true
		buf = buf[n:]
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	for len(buf) >= 5 {
		typ := buf[0]
		n := int(binary.BigEndian.Uint32(buf[1:5]))
		if n < 4 || n+1 > len(buf) {
			break
		}
		body := string(buf[5 : n+1])
		switch typ {
		case 'Q':
			c.m.texts = append(c.m.texts, Message{Kind: 'Q', SQL: strings.TrimRight(body, "\x00")})
		case 'P': // name\0 query\0 parameter types
			if _, rest, ok := strings.Cut(body, "\x00"); ok {
				q, _, _ := strings.Cut(rest, "\x00")
				c.m.texts = append(c.m.texts, Message{Kind: 'P', SQL: q})
			}
		}
		buf = buf[n+1:]
	}
	if len(buf) > 0 {
		c.pending = append([]byte(nil), buf...)
	}
}

// MultiCommand returns the recorded texts that hold more than one SQL
// command, as PostgreSQL's own parser sees them: each text is sent to the
// database at dbURL in a Parse message, which PostgreSQL refuses with
// "cannot insert multiple commands into a prepared statement" when it
// holds several (the refusal Citus meets when it forwards such a text to
// its workers). Other parse errors (an object that no longer exists) are
// not this question's and are ignored.
func MultiCommand(t testing.TB, dbURL string, texts []Message) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	var out []string
	seen := map[string]bool{}
	for _, m := range texts {
		if seen[m.SQL] {
			continue
		}
		seen[m.SQL] = true
		if _, err := conn.Prepare(ctx, "", m.SQL, nil); err != nil && strings.Contains(err.Error(), "multiple commands") {
			out = append(out, m.SQL)
		}
	}
	return out
}

// Unreachable returns a handle on a server that is not there (127.0.0.1,
// port 1): every query fails with a *pgconn.ConnectError, so a test that
// gets any other answer knows no SQL was tried. It is closed in
// t.Cleanup.
func Unreachable(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", "postgres://strictmt@127.0.0.1:1/none?connect_timeout=5&sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Command baseline is the "speed of light" reference of the load
// benchmark: the smallest net/http + pgx server that does the work of
// strictmt's todo endpoints for the same database, the same tenants and
// the same tokens, and nothing more.
//
// It reads the host → tenant map from public.domains and public.clients
// once at start, verifies tokens with the auth package's Tokens.Parse
// (the same HS256 checks strictmt makes: signature, expiry, typ "access",
// tenant claim equal to the host's schema), does not look the user up, and
// queries "schema".todos directly on a pgxpool, one round trip per
// request. It serves
//
//	GET  /api/todos/       ?limit=&offset=, newest first (strictmt's shape)
//	POST /api/todos/       {"title", "description"}; owner = the token's user
//	GET  /api/todos/{id}/
//	GET  /healthz
//
// Configuration is by environment: STRICTMT_HTTP_ADDR (default
// 127.0.0.1:8081), STRICTMT_DATABASE_URL, STRICTMT_AUTH_JWT_SECRET and
// STRICTMT_DATABASE_MAX_OPEN_CONNS (pool size, default 16). Once it
// accepts connections it prints "listening on ADDR" on standard output;
// SIGINT or SIGTERM stops it.
//
// For analysis only, BASELINE_ROUND_TRIPS=strict or prefix makes it talk
// to PostgreSQL the way strictmt does in that isolation mode, still with
// hand-written pgx: every request in a transaction (BEGIN; in strict mode
// set_config('role', tenant role, true); the user looked up; the list's
// count and page as two statements; COMMIT before the response is sent).
// The difference between the two baselines is the cost of the round
// trips; what strictmt costs beyond the emulation is its own code (GORM,
// database/sql, Gin, middleware).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/internal/pgerr"
)

// Page sizes, as strictmt's list endpoints (DRF LimitOffsetPagination).
const (
	defaultLimit = 50
	maxLimit     = 500
	maxBodyBytes = 1 << 20
)

// timeLayout is strictmt's: RFC 3339 in UTC, microseconds when there are
// any.
const timeLayout = "2006-01-02T15:04:05.999999Z07:00"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := os.Getenv("STRICTMT_HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8081"
	}
	dbURL := os.Getenv("STRICTMT_DATABASE_URL")
	if dbURL == "" {
		return errors.New("STRICTMT_DATABASE_URL is not set")
	}
	tokens, err := auth.NewTokens([]byte(os.Getenv("STRICTMT_AUTH_JWT_SECRET")), time.Minute, time.Minute)
	if err != nil {
		return fmt.Errorf("STRICTMT_AUTH_JWT_SECRET: %w", err)
	}
	emulate := os.Getenv("BASELINE_ROUND_TRIPS")
	if emulate != "" && emulate != "strict" && emulate != "prefix" {
		return fmt.Errorf("BASELINE_ROUND_TRIPS: want strict or prefix, got %q", emulate)
	}
	poolSize := 16
	if s := os.Getenv("STRICTMT_DATABASE_MAX_OPEN_CONNS"); s != "" {
		if poolSize, err = strconv.Atoi(s); err != nil || poolSize < 1 {
			return fmt.Errorf("STRICTMT_DATABASE_MAX_OPEN_CONNS: not a positive number: %q", s)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return fmt.Errorf("STRICTMT_DATABASE_URL: %w", err)
	}
	cfg.MaxConns = int32(poolSize)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	hosts, err := loadTenants(ctx, pool)
	if err != nil {
		return fmt.Errorf("loading tenants: %w", err)
	}

	s := &server{pool: pool, tokens: tokens, hosts: hosts, emulate: emulate}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	for _, p := range []string{"/api/todos", "/api/todos/"} {
		mux.HandleFunc("GET "+p, s.authed(s.list))
		mux.HandleFunc("POST "+p, s.authed(s.create))
	}
	for _, p := range []string{"/api/todos/{id}", "/api/todos/{id}/"} {
		mux.HandleFunc("GET "+p, s.authed(s.get))
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("listening on %s (%d tenants, pool of %d connections, query exec mode %v, round trips %q)\n",
		ln.Addr(), len(hosts), poolSize, cfg.ConnConfig.DefaultQueryExecMode, emulate)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(shutdownCtx)
}

// tenant is one tenant with its statements, built once: schema names come
// from the catalog and are quoted as identifiers.
type tenant struct {
	id                 int64 // catalog id: tokens name it
	schema, name, role string
	countSQL, listSQL  string
	getSQL, createSQL  string
	userSQL            string
}

func newTenant(schema, name, role string) *tenant {
	todos := pgx.Identifier{schema, "todos"}.Sanitize()
	users := pgx.Identifier{schema, "users"}.Sanitize()
	const cols = "t.id, t.title, t.description, t.completed, t.recurrence_interval, t.completion_time, t.due_at, t.previous_id, t.created_at, t.owner_id, u.username"
	return &tenant{
		schema:   schema,
		name:     name,
		role:     role,
		userSQL:  "SELECT id, username FROM " + users + " WHERE id = $1 AND is_active",
		countSQL: "SELECT count(*) FROM " + todos,
		listSQL:  "SELECT " + cols + " FROM " + todos + " t JOIN " + users + " u ON u.id = t.owner_id ORDER BY t.created_at DESC, t.id DESC LIMIT $1 OFFSET $2",
		getSQL:   "SELECT " + cols + " FROM " + todos + " t JOIN " + users + " u ON u.id = t.owner_id WHERE t.id = $1",
		createSQL: "WITH t AS (INSERT INTO " + todos + " (title, description, owner_id) VALUES ($1, $2, $3) RETURNING *) " +
			"SELECT " + cols + " FROM t JOIN " + users + " u ON u.id = t.owner_id",
	}
}

// loadTenants returns the tenants by domain.
func loadTenants(ctx context.Context, pool *pgxpool.Pool) (map[string]*tenant, error) {
	rows, err := pool.Query(ctx, "SELECT d.domain, c.id, c.schema_name, c.name, c.role_name FROM public.domains d JOIN public.clients c ON c.id = d.tenant_id")
	if err != nil {
		return nil, err
	}
	bySchema := map[string]*tenant{}
	hosts := map[string]*tenant{}
	var domain, schema, name, role string
	var id int64
	_, err = pgx.ForEachRow(rows, []any{&domain, &id, &schema, &name, &role}, func() error {
		t := bySchema[schema]
		if t == nil {
			t = newTenant(schema, name, role)
			t.id = id
			bySchema[schema] = t
		}
		hosts[domain] = t
		return nil
	})
	return hosts, err
}

type server struct {
	pool    *pgxpool.Pool
	tokens  *auth.Tokens
	hosts   map[string]*tenant
	emulate string // "", "strict" or "prefix": see BASELINE_ROUND_TRIPS
}

// querier is the pool, or a transaction when emulating strictmt.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// handler serves an authenticated request and returns the status and the
// body to send as JSON.
type handler func(r *http.Request, q querier, t *tenant, userID int64) (int, any)

// authed resolves the tenant from Host (port, case, a trailing dot and a
// leading "www." ignored) and requires an access token of that tenant.
func (s *server) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		t := s.hosts[normalizeHost(r.Host)]
		if t == nil {
			writeDetail(w, http.StatusNotFound, "Not found.")
			return
		}
		scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") {
			writeDetail(w, http.StatusUnauthorized, "Authentication credentials were not provided.")
			return
		}
		claims, err := s.tokens.Parse(strings.TrimSpace(token), auth.Access, auth.Tenant{ID: t.id, Schema: t.schema})
		if err != nil {
			writeDetail(w, http.StatusUnauthorized, apperr.Message(err))
			return
		}
		if s.emulate != "" {
			s.inTransaction(w, r, h, t, claims.UserID)
			return
		}
		status, body := h(r, s.pool, t, claims.UserID)
		writeJSON(w, status, body)
	}
}

// inTransaction runs h the way strictmt runs a request (see
// BASELINE_ROUND_TRIPS).
func (s *server) inTransaction(w http.ResponseWriter, r *http.Request, h handler, t *tenant, userID int64) {
	ctx := r.Context()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		writeDBError(w, err)
		return
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if s.emulate == "strict" {
		if _, err := tx.Exec(ctx, "SELECT set_config('role', $1, true)", t.role); err != nil {
			writeDBError(w, err)
			return
		}
	}
	var username string
	if err := tx.QueryRow(ctx, t.userSQL, userID).Scan(&userID, &username); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			writeDetail(w, http.StatusUnauthorized, "User not found")
		} else {
			writeDBError(w, err)
		}
		return
	}
	status, body := h(r, tx, t, userID)
	if status < 400 {
		if err := tx.Commit(ctx); err != nil {
			status, body = dbError(err)
		}
	}
	writeJSON(w, status, body)
}

func normalizeHost(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[:i], ":") {
		host = host[:i]
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return strings.TrimPrefix(host, "www.")
}

// todo is strictmt's todo shape.
type todo struct {
	ID                 int64   `json:"id"`
	Title              string  `json:"title"`
	Description        string  `json:"description"`
	Completed          bool    `json:"completed"`
	RecurrenceInterval *int32  `json:"recurrence_interval"`
	CompletionTime     *string `json:"completion_time"`
	DueAt              *string `json:"due_at"`
	Previous           *int64  `json:"previous"`
	CreatedAt          string  `json:"created_at"`
	Owner              int64   `json:"owner"`
	OwnerName          string  `json:"owner_name"`
	ClientName         string  `json:"client_name"`
}

// scanTodo reads a row of the columns of newTenant's cols.
func scanTodo(row pgx.Row, clientName string) (todo, error) {
	var (
		t               todo
		completion, due *time.Time
		created         time.Time
	)
	err := row.Scan(&t.ID, &t.Title, &t.Description, &t.Completed, &t.RecurrenceInterval,
		&completion, &due, &t.Previous, &created, &t.Owner, &t.OwnerName)
	t.CompletionTime = formatTimePtr(completion)
	t.DueAt = formatTimePtr(due)
	t.CreatedAt = created.UTC().Format(timeLayout)
	t.ClientName = clientName
	return t, err
}

func formatTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := t.UTC().Format(timeLayout)
	return &s
}

type listResponse struct {
	Count    int64   `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []todo  `json:"results"`
}

// list serves a page of the tenant's todos and their count, both read in
// one round trip (two when emulating strictmt).
func (s *server) list(r *http.Request, db querier, t *tenant, _ int64) (int, any) {
	ctx := r.Context()
	q := r.URL.Query()
	limit, offset := defaultLimit, 0
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v[0]))
		if err != nil || n < 1 {
			return http.StatusBadRequest, map[string][]string{"limit": {"A valid integer is required."}}
		}
		limit = min(n, maxLimit)
	}
	if v, ok := q["offset"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v[0]))
		if err != nil || n < 0 {
			return http.StatusBadRequest, map[string][]string{"offset": {"A valid integer is required."}}
		}
		offset = n
	}

	resp := &listResponse{Results: make([]todo, 0, limit)}
	readPage := func(rows pgx.Rows) error {
		for rows.Next() {
			td, err := scanTodo(rows, t.name)
			if err != nil {
				return err
			}
			resp.Results = append(resp.Results, td)
		}
		return rows.Err()
	}
	var err error
	if s.emulate == "" {
		batch := &pgx.Batch{}
		batch.Queue(t.countSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&resp.Count) })
		batch.Queue(t.listSQL, limit, offset).Query(readPage)
		err = db.SendBatch(ctx, batch).Close()
	} else if err = db.QueryRow(ctx, t.countSQL).Scan(&resp.Count); err == nil {
		var rows pgx.Rows
		if rows, err = db.Query(ctx, t.listSQL, limit, offset); err == nil {
			err = readPage(rows)
			rows.Close()
		}
	}
	if err != nil {
		return dbError(err)
	}
	if int64(offset+limit) < resp.Count {
		u := pageURL(r, q, limit, offset+limit)
		resp.Next = &u
	}
	if offset > 0 {
		u := pageURL(r, q, limit, max(0, min(offset-limit, int(resp.Count)-limit)))
		resp.Previous = &u
	}
	return http.StatusOK, resp
}

// pageURL is strictmt's absolute page link, keeping the other query
// parameters.
func pageURL(r *http.Request, q url.Values, limit, offset int) string {
	q2 := make(url.Values, len(q)+1)
	for k, v := range q {
		q2[k] = v
	}
	q2.Set("limit", strconv.Itoa(limit))
	if offset > 0 {
		q2.Set("offset", strconv.Itoa(offset))
	} else {
		q2.Del("offset")
	}
	u := url.URL{Scheme: "http", Host: r.Host, Path: strings.TrimRight(r.URL.Path, "/") + "/", RawQuery: q2.Encode()}
	return u.String()
}

// create adds a todo owned by the token's user.
func (s *server) create(r *http.Request, db querier, t *tenant, userID int64) (int, any) {
	var in struct {
		Title       *string `json:"title"`
		Description *string `json:"description"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes)).Decode(&in); err != nil {
		return http.StatusBadRequest, detail("JSON parse error - " + err.Error())
	}
	switch {
	case in.Title == nil:
		return http.StatusBadRequest, map[string][]string{"title": {"This field is required."}}
	case strings.TrimSpace(*in.Title) == "":
		return http.StatusBadRequest, map[string][]string{"title": {"This field may not be blank."}}
	case utf8.RuneCountInString(*in.Title) > 255:
		return http.StatusBadRequest, map[string][]string{"title": {"Ensure this field has no more than 255 characters."}}
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	td, err := scanTodo(db.QueryRow(r.Context(), t.createSQL, *in.Title, desc, userID), t.name)
	if err != nil {
		return dbError(err)
	}
	return http.StatusCreated, &td
}

// get serves one todo of the tenant.
func (s *server) get(r *http.Request, db querier, t *tenant, _ int64) (int, any) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return http.StatusNotFound, detail("No object matches the given query.")
	}
	td, err := scanTodo(db.QueryRow(r.Context(), t.getSQL, id), t.name)
	if err != nil {
		return dbError(err)
	}
	return http.StatusOK, &td
}

func dbError(err error) (int, any) {
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return http.StatusNotFound, detail("Not found.")
	case pgerr.Is(err, pgerr.ForeignKeyViolation): // owner deleted
		return http.StatusUnauthorized, detail("User not found")
	case errors.Is(err, context.Canceled): // the client went away
		return http.StatusServiceUnavailable, detail("The request was cancelled.")
	default:
		fmt.Fprintln(os.Stderr, "baseline: database:", err)
		return http.StatusServiceUnavailable, detail("The database is unavailable.")
	}
}

func writeDBError(w http.ResponseWriter, err error) {
	status, body := dbError(err)
	writeJSON(w, status, body)
}

type detailBody struct {
	Detail string `json:"detail"`
}

func detail(msg string) detailBody { return detailBody{msg} }

func writeDetail(w http.ResponseWriter, status int, msg string) { writeJSON(w, status, detail(msg)) }

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// writeJSON sends v with status; the body is encoded in full first, so
// the response has a Content-Length.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := buffers.Get().(*bytes.Buffer)
	defer func() { buf.Reset(); buffers.Put(buf) }()
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"detail":"A server error occurred."}`)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

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
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/auth"
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

	s := &server{pool: pool, tokens: tokens, hosts: hosts}
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
	fmt.Printf("listening on %s (%d tenants, pool of %d connections)\n", ln.Addr(), len(hosts), poolSize)
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
	schema, name      string
	countSQL, listSQL string
	getSQL, createSQL string
}

func newTenant(schema, name string) *tenant {
	todos := pgx.Identifier{schema, "todos"}.Sanitize()
	users := pgx.Identifier{schema, "users"}.Sanitize()
	const cols = "t.id, t.title, t.description, t.completed, t.recurrence_interval, t.completion_time, t.due_at, t.previous_id, t.created_at, t.owner_id, u.username"
	return &tenant{
		schema:   schema,
		name:     name,
		countSQL: "SELECT count(*) FROM " + todos,
		listSQL:  "SELECT " + cols + " FROM " + todos + " t JOIN " + users + " u ON u.id = t.owner_id ORDER BY t.created_at DESC, t.id DESC LIMIT $1 OFFSET $2",
		getSQL:   "SELECT " + cols + " FROM " + todos + " t JOIN " + users + " u ON u.id = t.owner_id WHERE t.id = $1",
		createSQL: "WITH t AS (INSERT INTO " + todos + " (title, description, owner_id) VALUES ($1, $2, $3) RETURNING *) " +
			"SELECT " + cols + " FROM t JOIN " + users + " u ON u.id = t.owner_id",
	}
}

// loadTenants returns the tenants by domain.
func loadTenants(ctx context.Context, pool *pgxpool.Pool) (map[string]*tenant, error) {
	rows, err := pool.Query(ctx, "SELECT d.domain, c.schema_name, c.name FROM public.domains d JOIN public.clients c ON c.id = d.tenant_id")
	if err != nil {
		return nil, err
	}
	bySchema := map[string]*tenant{}
	hosts := map[string]*tenant{}
	var domain, schema, name string
	_, err = pgx.ForEachRow(rows, []any{&domain, &schema, &name}, func() error {
		t := bySchema[schema]
		if t == nil {
			t = newTenant(schema, name)
			bySchema[schema] = t
		}
		hosts[domain] = t
		return nil
	})
	return hosts, err
}

type server struct {
	pool   *pgxpool.Pool
	tokens *auth.Tokens
	hosts  map[string]*tenant
}

type handler func(w http.ResponseWriter, r *http.Request, t *tenant, userID int64)

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
		claims, err := s.tokens.Parse(strings.TrimSpace(token), auth.Access, t.schema)
		if err != nil {
			writeDetail(w, http.StatusUnauthorized, apperr.Message(err))
			return
		}
		h(w, r, t, claims.UserID)
	}
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
// one round trip.
func (s *server) list(w http.ResponseWriter, r *http.Request, t *tenant, _ int64) {
	q := r.URL.Query()
	limit, offset := defaultLimit, 0
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v[0]))
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, map[string][]string{"limit": {"A valid integer is required."}})
			return
		}
		limit = min(n, maxLimit)
	}
	if v, ok := q["offset"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v[0]))
		if err != nil || n < 0 {
			writeJSON(w, http.StatusBadRequest, map[string][]string{"offset": {"A valid integer is required."}})
			return
		}
		offset = n
	}

	batch := &pgx.Batch{}
	var resp listResponse
	resp.Results = make([]todo, 0, limit)
	batch.Queue(t.countSQL).QueryRow(func(row pgx.Row) error { return row.Scan(&resp.Count) })
	batch.Queue(t.listSQL, limit, offset).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			td, err := scanTodo(rows, t.name)
			if err != nil {
				return err
			}
			resp.Results = append(resp.Results, td)
		}
		return rows.Err()
	})
	if err := s.pool.SendBatch(r.Context(), batch).Close(); err != nil {
		writeDBError(w, err)
		return
	}
	if int64(offset+limit) < resp.Count {
		u := pageURL(r, q, limit, offset+limit)
		resp.Next = &u
	}
	if offset > 0 {
		u := pageURL(r, q, limit, max(0, min(offset-limit, int(resp.Count)-limit)))
		resp.Previous = &u
	}
	writeJSON(w, http.StatusOK, &resp)
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
func (s *server) create(w http.ResponseWriter, r *http.Request, t *tenant, userID int64) {
	var in struct {
		Title       *string `json:"title"`
		Description *string `json:"description"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes)).Decode(&in); err != nil {
		writeDetail(w, http.StatusBadRequest, "JSON parse error - "+err.Error())
		return
	}
	switch {
	case in.Title == nil:
		writeJSON(w, http.StatusBadRequest, map[string][]string{"title": {"This field is required."}})
		return
	case strings.TrimSpace(*in.Title) == "":
		writeJSON(w, http.StatusBadRequest, map[string][]string{"title": {"This field may not be blank."}})
		return
	case utf8.RuneCountInString(*in.Title) > 255:
		writeJSON(w, http.StatusBadRequest, map[string][]string{"title": {"Ensure this field has no more than 255 characters."}})
		return
	}
	desc := ""
	if in.Description != nil {
		desc = *in.Description
	}
	td, err := scanTodo(s.pool.QueryRow(r.Context(), t.createSQL, *in.Title, desc, userID), t.name)
	if err != nil {
		writeDBError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, &td)
}

// get serves one todo of the tenant.
func (s *server) get(w http.ResponseWriter, r *http.Request, t *tenant, _ int64) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		writeDetail(w, http.StatusNotFound, "No object matches the given query.")
		return
	}
	td, err := scanTodo(s.pool.QueryRow(r.Context(), t.getSQL, id), t.name)
	if err != nil {
		writeDBError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, &td)
}

func writeDBError(w http.ResponseWriter, err error) {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		writeDetail(w, http.StatusNotFound, "Not found.")
	case errors.As(err, &pgErr) && pgErr.Code == "23503": // owner deleted
		writeDetail(w, http.StatusUnauthorized, "User not found")
	case errors.Is(err, context.Canceled): // the client went away
		writeDetail(w, http.StatusServiceUnavailable, "The request was cancelled.")
	default:
		fmt.Fprintln(os.Stderr, "baseline: database:", err)
		writeDetail(w, http.StatusServiceUnavailable, "The database is unavailable.")
	}
}

func writeDetail(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, map[string]string{"detail": detail})
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

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

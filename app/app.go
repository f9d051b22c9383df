// Package app wires strictmt together: configuration, the database (the
// embedded one by default), migrations, the tenant service and resolver,
// tokens and the HTTP server. main.go and the CLI start it; end-to-end
// tests start it too.
package app

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/strictmt/strictmt/archive"
	"github.com/strictmt/strictmt/auth"
	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/datapath"
	"github.com/strictmt/strictmt/internal/embedpg"
	"github.com/strictmt/strictmt/metrics"
	"github.com/strictmt/strictmt/middleware"
	"github.com/strictmt/strictmt/repository"
	"github.com/strictmt/strictmt/tenants"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// embeddedDatabase is the database the program keeps in its embedded
// cluster.
const embeddedDatabase = "strictmt"

// App is a running strictmt: an open database and the services on it.
type App struct {
	Config      config.Config
	Log         *slog.Logger
	DatabaseURL string
	SQL         *sql.DB
	DB          *gorm.DB
	// DirectURL, DirectSQL and DirectDB reach PostgreSQL without a
	// transaction pooler (database.direct_url); they are DatabaseURL, SQL
	// and DB when no direct URL is configured. LISTEN, migrations, tenant
	// provisioning and spare upkeep use them.
	DirectURL string
	DirectSQL *sql.DB
	DirectDB  *gorm.DB
	// Cluster is what the database is (plain PostgreSQL or Citus, see
	// database.citus) and the tenant roles' group role.
	Cluster tenants.Cluster
	Tenants *tenants.Service
	// Archives exports, restores and clones tenants, through Tenants.
	Archives *archive.Service
	Resolver *tenants.Resolver
	Tokens   *auth.Tokens
	// Metrics is nil unless metrics.enabled.
	Metrics *metrics.Metrics
	// Passwords and Throttles are the sign-up password policy and the
	// account endpoints' throttles (per process).
	Passwords auth.PasswordPolicy
	Throttles auth.Throttles
	// TenantLimiter caps each tenant's concurrent scoped requests
	// (tenancy.max_conns_per_tenant).
	TenantLimiter *middleware.TenantLimiter
	// Activity is what this process saw of each tenant's requests
	// (their last one; with metrics on, their number and database
	// time), for the usage reads.
	Activity *tenants.Activity

	embedded    *embedpg.Server
	tenantPools []*sql.DB // database.affinity_groups > 1: the tenant Store's groups
	pooled      bool      // database.url goes through a connection pooler
}

// Open starts the embedded PostgreSQL when database.url is empty, opens
// the pool, runs the migrations migrate selects, and builds the services.
// Close releases it all.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger, migrate MigrateOptions) (_ *App, err error) {
	a := &App{Config: cfg, Log: log, DatabaseURL: cfg.Database.URL}
	defer func() {
		if err != nil {
			a.Close(context.WithoutCancel(ctx))
		}
	}()
	if a.DatabaseURL == "" {
		if err := a.startEmbedded(ctx); err != nil {
			return nil, err
		}
	}
	if err := a.openPools(ctx); err != nil {
		return nil, err
	}
	if a.Cluster, err = tenants.DetectCluster(ctx, a.DirectSQL, cfg.Database.Citus, cfg.Tenancy.TenantGroup); err != nil {
		return nil, err
	}
	log.Info("database", "cluster", a.Cluster.String(), "tenant_group", cfg.Tenancy.TenantGroup)
	a.openMetrics()
	if migrate.Shared || migrate.Tenants {
		if err := a.Migrate(ctx, migrate); err != nil {
			return nil, err
		}
	}
	if err := a.buildServices(ctx); err != nil {
		return nil, err
	}
	a.closeStartupConns()
	return a, nil
}

// closeStartupConns closes the idle connections of the catalog pools once
// start-up is done: its work over every tenant (migrations, the spares)
// leaves catalog entries of all of them in the backends that did it,
// which would keep them for database.conn_max_lifetime (docs/BENCHMARKS.md
// "Scale": one such backend held 20.6 MB with 20,000 tenants, 4.7 MB once
// closed). The pools open new ones on demand.
func (a *App) closeStartupConns() {
	for _, db := range []*sql.DB{a.SQL, a.DirectSQL} {
		db.SetMaxIdleConns(0)
		db.SetMaxIdleConns(a.Config.Database.MaxIdleConns)
	}
}

func (a *App) startEmbedded(ctx context.Context) error {
	e := a.Config.Database.Embedded
	dir, err := filepath.Abs(e.DataDir)
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	srv, err := embedpg.Start(startCtx, embedpg.Options{
		DataDir: dir, Port: e.Port, BinDir: e.BinDir, OSUser: e.OSUser, Logger: a.Log,
	})
	if err != nil {
		if errors.Is(err, embedpg.ErrNoBinaries) {
			return fmt.Errorf("%w; or set database.url (STRICTMT_DATABASE_URL) to an existing server", err)
		}
		return fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	a.embedded = srv
	if err := createDatabase(ctx, srv.URL("postgres"), embeddedDatabase); err != nil {
		return err
	}
	a.DatabaseURL = srv.URL(embeddedDatabase)
	a.Log.Info("embedded PostgreSQL running", "data_dir", dir, "url", a.DatabaseURL, "log", srv.LogPath())
	return nil
}

func createDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, repository.DatabaseExistsSQL, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err = conn.Exec(ctx, repository.CreateDatabaseStmt(name))
	return err
}

// DefaultQueryExecMode is how the pool runs queries unless database.url
// sets default_query_exec_mode. Tenant SQL names its schema
// ("tenant_a"."todos"), so every tenant has its own statement texts: pgx's
// own default (cache_statement) prepares each new text in a round trip of
// its own before running it, which over many tenants is most queries. exec
// sends each query in one round trip; the tenant pipelines prepare their
// statements themselves, in the same round trip, bounded per connection
// (database.prepared_statements, datapath/prepared.go).
const DefaultQueryExecMode = pgx.QueryExecModeExec

func (a *App) openPools(ctx context.Context) error {
	var err error
	if a.SQL, a.DB, err = a.openPool(ctx, "database.url", a.DatabaseURL); err != nil {
		return err
	}
	if err := a.openTenantPools(); err != nil {
		return err
	}
	a.DirectURL, a.DirectSQL, a.DirectDB = a.DatabaseURL, a.SQL, a.DB
	if d := a.Config.Database.DirectURL; d != "" {
		if a.DirectSQL, a.DirectDB, err = a.openPool(ctx, "database.direct_url", d); err != nil {
			return err
		}
		a.DirectURL = d
	}
	pooled, err := DetectPooler(ctx, a.SQL)
	if err != nil {
		return fmt.Errorf("database.url: %w", err)
	}
	a.pooled = pooled
	if pooled && a.Config.Database.DirectURL == "" {
		return errors.New("database.url goes through a connection pooler (PgBouncer or the like: the backend " +
			"process id the connection was given is not the server's), and database.direct_url is not set. " +
			"A transaction pooler cannot carry LISTEN (the host cache would miss every change made by other " +
			"processes until cache_ttl), migrations' session advisory locks or provisioning. Set " +
			"database.direct_url (STRICTMT_DATABASE_DIRECT_URL) to the PostgreSQL server itself; " +
			"behind a session-mode pooler it may equal database.url")
	}
	if a.DirectSQL != a.SQL {
		if pooled, err := DetectPooler(ctx, a.DirectSQL); err != nil {
			return fmt.Errorf("database.direct_url: %w", err)
		} else if pooled {
			a.Log.Warn("database.direct_url goes through a connection pooler: LISTEN and migrations need " +
				"session pooling or a direct connection to PostgreSQL")
		}
	}
	return nil
}

// DetectPooler reports whether db's connections go through a connection
// pooler such as PgBouncer: PostgreSQL tells each client the process id
// of its backend at connection start, and a pooler, which hands a client
// whichever server connection is free, makes one up instead; so the id
// the connection was given differs from pg_backend_pid(). Directly
// connected, the two are always equal.
func DetectPooler(ctx context.Context, db *sql.DB) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	var told uint32
	if err := conn.Raw(func(driverConn any) error {
		told = driverConn.(*stdlib.Conn).Conn().PgConn().PID()
		return nil
	}); err != nil {
		return false, err
	}
	var real int64
	if err := conn.QueryRowContext(ctx, repository.BackendPIDSQL).Scan(&real); err != nil {
		return false, err
	}
	return int64(told) != real, nil
}

// openTenantPools opens the tenant connections' affinity groups on
// database.url when database.affinity_groups > 1: pools of their own,
// max_open_conns connections together, so that each backend caches the
// catalog of its group's share of the tenant schemas (see datapath.Store).
// They open their connections when first used.
func (a *App) openTenantPools() error {
	g := a.Config.AffinityGroupCount()
	if g < 2 {
		return nil
	}
	pgCfg, err := pgx.ParseConfig(a.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database.url: %w", err)
	}
	if !hasConnParam(a.DatabaseURL, "default_query_exec_mode") {
		pgCfg.DefaultQueryExecMode = DefaultQueryExecMode
	}
	d := a.Config.Database
	for i := range g {
		share := d.MaxOpenConns/g + min(1, max(0, d.MaxOpenConns%g-i))
		p := stdlib.OpenDB(*pgCfg)
		p.SetMaxOpenConns(share)
		p.SetMaxIdleConns(min(share, d.MaxIdleConns))
		p.SetConnMaxLifetime(d.ConnMaxLifetime)
		p.SetConnMaxIdleTime(d.ConnMaxIdleTime)
		a.tenantPools = append(a.tenantPools, p)
	}
	return nil
}

// openPool opens a pool on connString (the config key named key) and
// checks that it answers.
func (a *App) openPool(ctx context.Context, key, connString string) (*sql.DB, *gorm.DB, error) {
	pgCfg, err := pgx.ParseConfig(connString)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", key, err)
	}
	if !hasConnParam(connString, "default_query_exec_mode") {
		pgCfg.DefaultQueryExecMode = DefaultQueryExecMode
	}
	sqlDB := stdlib.OpenDB(*pgCfg)
	d := a.Config.Database
	// Max lifetime and idle time recycle backends, and with them the
	// catalog caches each one fills for every tenant schema it touched.
	sqlDB.SetMaxOpenConns(d.MaxOpenConns)
	sqlDB.SetMaxIdleConns(d.MaxIdleConns)
	sqlDB.SetConnMaxLifetime(d.ConnMaxLifetime)
	sqlDB.SetConnMaxIdleTime(d.ConnMaxIdleTime)
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pingCtx); err != nil {
		sqlDB.Close()
		return nil, nil, fmt.Errorf("connecting to the database (%s): %w", key, err)
	}
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), &gorm.Config{
		SkipDefaultTransaction: true,
		TranslateError:         true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
		// Failed statements come back as errors, which are logged once
		// where they are handled; GORM logging them too would double them.
		Logger: logger.Discard,
	})
	if err != nil {
		sqlDB.Close()
		return nil, nil, err
	}
	return sqlDB, db, nil
}

// openMetrics creates the metrics when metrics.enabled.
func (a *App) openMetrics() {
	m := a.Config.Metrics
	if !m.Enabled {
		return
	}
	pools := map[string]*sql.DB{"pooled": a.SQL}
	if a.DirectSQL != a.SQL {
		pools["direct"] = a.DirectSQL
	}
	for i, p := range a.tenantPools {
		pools[fmt.Sprintf("tenants_group_%d", i)] = p
	}
	a.Metrics = metrics.New(metrics.Options{PerTenant: m.PerTenant, TopTenants: m.TopTenants, Pools: pools})
}

// preparedStatements returns the number of statements each tenant
// connection keeps prepared: database.prepared_statements, or 0 when the
// connections cannot keep them (a transaction pooler hands each
// transaction any server connection; the simple protocol has no named
// statements).
func (a *App) preparedStatements() int {
	n := a.Config.Database.PreparedStatements
	if n == 0 {
		return 0
	}
	if a.pooled {
		a.Log.Info("database.prepared_statements is off: database.url goes through a connection pooler")
		return 0
	}
	if cfg, err := pgx.ParseConfig(a.DatabaseURL); err == nil && cfg.DefaultQueryExecMode == pgx.QueryExecModeSimpleProtocol {
		a.Log.Info("database.prepared_statements is off: database.url sets the simple protocol")
		return 0
	}
	return n
}

// knownUsers returns how many users the token check remembers:
// tenancy.known_users, or 0 on Citus, where a user's change is announced
// by a trigger on the worker that holds the tenant, whose notifications
// never reach strictmt; there every request checks its user (one more
// statement in the request's first round trip).
func (a *App) knownUsers() int {
	n := a.Config.Tenancy.KnownUsers
	if n > 0 && a.Cluster.Citus {
		a.Log.Info("tenancy.known_users is off on Citus: every request checks its token's user")
		return 0
	}
	return n
}

// groupsPerTenant returns StoreOptions.GroupsPerTenant: 4 on Citus in
// strict isolation, where every coordinator backend a tenant's requests
// reach keeps a connection to the tenant's worker as the tenant's role
// (docs/SCALE-OUT.md §3), so a hot tenant's requests stay on the first
// four affinity groups of its order; 0 (as many as it has requests in
// flight) otherwise.
func (a *App) groupsPerTenant() int {
	if a.Cluster.Citus && a.Config.Tenancy.Isolation == config.IsolationStrict {
		return 4
	}
	return 0
}

// hasConnParam reports whether the connection string (URL or key=value
// form) sets key.
func hasConnParam(conn, key string) bool {
	if u, err := url.Parse(conn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		return u.Query().Has(key)
	}
	for _, f := range strings.Fields(conn) {
		if k, _, ok := strings.Cut(f, "="); ok && strings.TrimSpace(k) == key {
			return true
		}
	}
	return false
}

func (a *App) buildServices(ctx context.Context) error {
	store := datapath.NewStore(a.SQL, datapath.StoreOptions{
		StatementComments:  a.Config.Database.StatementComments,
		Groups:             a.tenantPools,
		PreparedStatements: a.preparedStatements(),
		KnownUsers:         a.knownUsers(),
		KnownUserTTL:       a.Config.Tenancy.CacheTTL,
		GroupsPerTenant:    a.groupsPerTenant(),
		MaxSchemasPerConn:  a.Config.SchemasPerConn(),
		HomeWait:           a.Config.Database.HomeWait,
	})
	a.Resolver = tenants.NewResolver(a.DB, store, a.Config.Tenancy.CacheTTL)
	// Provisioning DDL and spare upkeep go to PostgreSQL directly.
	svc, err := tenants.NewService(ctx, a.DirectDB, a.Config.Tenancy.PublicHosts, a.Resolver.Invalidate)
	if err != nil {
		return err
	}
	svc.SetCluster(a.Cluster)
	a.Tenants = svc
	a.Activity = tenants.NewActivity(tenants.ActivityTenants, a.Config.Metrics.Enabled)
	svc.SetActivity(a.Activity)
	if a.Archives, err = archive.New(a.DirectDB, svc); err != nil {
		return err
	}
	if a.Metrics != nil {
		a.Resolver.SetObserver(a.Metrics)
		svc.SetProvisionObserver(a.Metrics.ObserveProvisioning)
		a.Metrics.SetCatalog(svc)
		a.Metrics.SetConnections(store)
		a.Metrics.SetUsage(svc)
	}
	a.TenantLimiter = middleware.NewTenantLimiter(a.Config.ConnsPerTenant(), a.Config.Tenancy.MaxConnsWait)
	secret, err := a.jwtSecret()
	if err != nil {
		return err
	}
	a.Tokens, err = auth.NewTokens(secret, a.Config.Auth.AccessTTL, a.Config.Auth.RefreshTTL)
	if err != nil {
		return err
	}
	ac := a.Config.Auth
	if a.Passwords, err = auth.NewPasswordPolicy(ac.PasswordValidators, ac.PasswordMinLength); err != nil {
		return fmt.Errorf("config: auth.password_validators: %w", err)
	}
	a.Throttles, err = NewThrottles(ac.Throttle, nil)
	return err
}

// NewThrottles builds the account endpoints' throttles of cfg, reading
// the time from now (time.Now when nil).
func NewThrottles(cfg config.Throttle, now func() time.Time) (auth.Throttles, error) {
	var ts auth.Throttles
	for _, r := range []struct {
		key  string
		rate string
		dst  **auth.Throttle
	}{
		{"login", cfg.Login, &ts.Login},
		{"login_address", cfg.LoginAddress, &ts.LoginAddress},
		{"register", cfg.Register, &ts.Register},
		{"register_address", cfg.RegisterAddress, &ts.RegisterAddress},
		{"refresh", cfg.Refresh, &ts.Refresh},
	} {
		rate, err := auth.ParseRate(r.rate)
		if err == nil {
			*r.dst, err = auth.NewThrottle(rate, cfg.MaxKeys, now)
		}
		if err != nil {
			return auth.Throttles{}, fmt.Errorf("config: auth.throttle.%s: %w", r.key, err)
		}
	}
	return ts, nil
}

// jwtSecret returns auth.jwt_secret or, in development, a secret generated
// once and kept beside the embedded data directory.
func (a *App) jwtSecret() ([]byte, error) {
	if s := a.Config.Auth.JWTSecret; s != "" {
		return []byte(s), nil
	}
	if a.Config.Env == "production" {
		return nil, errors.New("config: auth.jwt_secret: must be set in production")
	}
	dir, err := filepath.Abs(filepath.Dir(a.Config.Database.Embedded.DataDir))
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "jwt_secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return []byte(strings.TrimSpace(string(b))), nil
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(raw[:])
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("keeping the development JWT secret: %w", err)
	}
	a.Log.Info("generated a development JWT secret", "path", path)
	return []byte(secret), nil
}

// Close closes the pool and stops the embedded PostgreSQL, if any.
func (a *App) Close(ctx context.Context) error {
	var errs []error
	if a.Tenants != nil {
		a.Tenants.Close() // stops building spare schemas before the pool goes
	}
	for _, p := range a.tenantPools {
		errs = append(errs, p.Close())
	}
	if a.SQL != nil {
		errs = append(errs, a.SQL.Close())
	}
	if a.DirectSQL != nil && a.DirectSQL != a.SQL {
		errs = append(errs, a.DirectSQL.Close())
	}
	if a.embedded != nil {
		stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		errs = append(errs, a.embedded.Stop(stopCtx))
		a.Log.Info("embedded PostgreSQL stopped")
	}
	return errors.Join(errs...)
}

// Ready reports whether the database answers.
func (a *App) Ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return a.SQL.PingContext(ctx)
}

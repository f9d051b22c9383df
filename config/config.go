// Package config loads strictmt's configuration from config.yaml,
// STRICTMT_* environment variables and command-line flags, in that order of
// increasing precedence, into a typed, validated Config.
package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"github.com/strictmt/strictmt/auth"
)

// EnvPrefix is the prefix of the environment variables that override keys:
// database.url is STRICTMT_DATABASE_URL.
const EnvPrefix = "STRICTMT_"

// Isolation modes.
const (
	// IsolationStrict runs every tenant request under the tenant's own
	// PostgreSQL role, so the database refuses cross-tenant access.
	IsolationStrict = "strict"
	// IsolationPrefix relies on schema-qualified table names only.
	IsolationPrefix = "prefix"
)

// Config is the whole effective configuration.
type Config struct {
	Env      string   `mapstructure:"env"`
	HTTP     HTTP     `mapstructure:"http"`
	Database Database `mapstructure:"database"`
	Auth     Auth     `mapstructure:"auth"`
	Tenancy  Tenancy  `mapstructure:"tenancy"`
	Admin    Admin    `mapstructure:"admin"`
	API      API      `mapstructure:"api"`
	Dev      Dev      `mapstructure:"dev"`
	Log      Log      `mapstructure:"log"`
	Metrics  Metrics  `mapstructure:"metrics"`
}

// Metrics configures the Prometheus endpoint, GET /metrics.
type Metrics struct {
	// Enabled serves /metrics; off by default.
	Enabled bool `mapstructure:"enabled"`
	// Addr, when set, serves /metrics on this address of its own (any
	// Host) instead of on http.addr (public hosts only).
	Addr string `mapstructure:"addr"`
	// PerTenant adds per-tenant request series, for the TopTenants
	// busiest tenants plus one for all others.
	PerTenant  bool `mapstructure:"per_tenant"`
	TopTenants int  `mapstructure:"top_tenants"`
}

// HTTP configures the server.
type HTTP struct {
	Addr         string        `mapstructure:"addr"`
	MaxBodyBytes int64         `mapstructure:"max_body_bytes"`
	ReadTimeout  time.Duration `mapstructure:"read_timeout"`
	// BodyTimeout bounds the read of a request body, which is read
	// whole before any database work starts.
	BodyTimeout     time.Duration `mapstructure:"body_timeout"`
	WriteTimeout    time.Duration `mapstructure:"write_timeout"`
	IdleTimeout     time.Duration `mapstructure:"idle_timeout"`
	RequestTimeout  time.Duration `mapstructure:"request_timeout"`
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	CORSOrigins     []string      `mapstructure:"cors_origins"`
	TrustedProxies  []string      `mapstructure:"trusted_proxies"`
}

// Database configures the PostgreSQL connection.
type Database struct {
	URL string `mapstructure:"url"`
	// DirectURL is a connection to PostgreSQL itself, not through a
	// transaction pooler, for what one cannot carry: LISTEN, migrations
	// (session advisory locks), tenant provisioning and spare upkeep.
	// Empty: database.url serves for everything.
	DirectURL       string        `mapstructure:"direct_url"`
	AutoMigrate     bool          `mapstructure:"auto_migrate"`
	MaxOpenConns    int           `mapstructure:"max_open_conns"`
	MaxIdleConns    int           `mapstructure:"max_idle_conns"`
	ConnMaxLifetime time.Duration `mapstructure:"conn_max_lifetime"`
	ConnMaxIdleTime time.Duration `mapstructure:"conn_max_idle_time"`
	// StatementComments starts every statement of a tenant request with
	// /* tenant=<schema> */, for pg_stat_activity and the server's logs.
	StatementComments bool `mapstructure:"statement_comments"`
	// AffinityGroups splits the tenant connections (max_open_conns of
	// them) into this many pools; a tenant's requests take its home
	// group's, wait HomeWait for it when busy, then take one fallback
	// group of its own (see datapath/route.go). 0: one group per
	// connection; 1: off (see AffinityGroupCount).
	AffinityGroups int `mapstructure:"affinity_groups"`
	// HomeWait is how long a tenant request waits for its busy home
	// group before it takes its fallback.
	HomeWait time.Duration `mapstructure:"home_wait"`
	// PreparedStatements is how many statements each tenant connection
	// keeps prepared (a statement is prepared on its second run on a
	// connection, in the same round trip); 0: none. Off by itself when
	// database.url goes through a connection pooler or sets
	// default_query_exec_mode=simple_protocol.
	PreparedStatements int `mapstructure:"prepared_statements"`
	// MaxSchemasPerConn retires a tenant connection (closes it once its
	// request is done; the pool opens another) when it has served more
	// distinct tenant schemas than this: PostgreSQL keeps the catalog of
	// every schema a backend has touched (~50 KB each) until the backend
	// exits, so this bounds its memory at about connections × bound ×
	// 50 KB whatever the number of tenants. 0: derived from
	// max_open_conns (see SchemasPerConn); -1: no bound.
	MaxSchemasPerConn int `mapstructure:"max_schemas_per_conn"`
	// Citus is auto (Citus mode when the citus extension is installed in
	// the database), on or off; see tenants.Cluster and
	// docs/SCALE-OUT.md.
	Citus    string   `mapstructure:"citus"`
	Embedded Embedded `mapstructure:"embedded"`
}

// Embedded configures the PostgreSQL the program runs itself when
// database.url is empty.
type Embedded struct {
	DataDir string `mapstructure:"data_dir"`
	Port    int    `mapstructure:"port"`
	BinDir  string `mapstructure:"bin_dir"`
	OSUser  string `mapstructure:"os_user"`
}

// Auth configures tokens, passwords and the throttling of the account
// endpoints.
type Auth struct {
	JWTSecret  string        `mapstructure:"jwt_secret"`
	AccessTTL  time.Duration `mapstructure:"access_ttl"`
	RefreshTTL time.Duration `mapstructure:"refresh_ttl"`
	// PasswordValidators names the Django password validators sign-up
	// applies: similarity, minimum_length, common, numeric.
	PasswordValidators []string `mapstructure:"password_validators"`
	PasswordMinLength  int      `mapstructure:"password_min_length"`
	// RotateRefreshTokens and BlacklistAfterRotation are simplejwt's
	// ROTATE_REFRESH_TOKENS and BLACKLIST_AFTER_ROTATION.
	RotateRefreshTokens    bool     `mapstructure:"rotate_refresh_tokens"`
	BlacklistAfterRotation bool     `mapstructure:"blacklist_after_rotation"`
	Throttle               Throttle `mapstructure:"throttle"`
}

// Throttle holds the rates of the account endpoints, in Django REST
// framework's notation ("10/min"; empty: not throttled), counted per
// tenant and per server instance.
type Throttle struct {
	Login           string `mapstructure:"login"`            // POST /api/token/, per username
	LoginAddress    string `mapstructure:"login_address"`    // POST /api/token/, per client address
	Register        string `mapstructure:"register"`         // POST /api/register/, per username
	RegisterAddress string `mapstructure:"register_address"` // POST /api/register/, per client address
	Refresh         string `mapstructure:"refresh"`          // POST /api/token/refresh/, per client address
	// MaxKeys bounds the usernames or addresses each rate tracks.
	MaxKeys int `mapstructure:"max_keys"`
}

// Tenancy configures tenant resolution and isolation.
type Tenancy struct {
	Isolation   string        `mapstructure:"isolation"`
	PublicHosts []string      `mapstructure:"public_hosts"`
	CacheTTL    time.Duration `mapstructure:"cache_ttl"`
	// KnownUsers is how many users (of all tenants) a process remembers
	// as found by the token check, so that their next requests send no
	// check; every change to a user is announced and forgotten within
	// milliseconds, and entries expire after cache_ttl. 0: check on
	// every request.
	KnownUsers       int  `mapstructure:"known_users"`
	EnforcePaidUntil bool `mapstructure:"enforce_paid_until"`
	SpareSchemas     int  `mapstructure:"spare_schemas"`
	// IdentifyBy lists how a request names its tenant: "host" (always),
	// and "header" for Header on the public hosts.
	IdentifyBy []string `mapstructure:"identify_by"`
	// Header is the header that names the tenant by one of its domains
	// when IdentifyBy has "header".
	Header string `mapstructure:"header"`
	// MaxConnsPerTenant bounds a tenant's concurrent scoped requests
	// (each holds at most one pooled connection); 0 means half of
	// database.max_open_conns (see ConnsPerTenant).
	MaxConnsPerTenant int `mapstructure:"max_conns_per_tenant"`
	// MaxConnsWait is how long a request over its tenant's share waits
	// for a slot before it gets 503.
	MaxConnsWait time.Duration `mapstructure:"max_conns_wait"`
	// TenantGroup is the NOLOGIN role every tenant role is a member of,
	// so that one pg_hba.conf line refuses a login as any of them.
	TenantGroup string `mapstructure:"tenant_group"`
}

// HeaderIdentification reports whether requests to public hosts may name
// their tenant in the Header.
func (t Tenancy) HeaderIdentification() bool {
	for _, w := range t.IdentifyBy {
		if w == "header" {
			return true
		}
	}
	return false
}

// ConnsPerTenant returns the effective tenancy.max_conns_per_tenant:
// the configured value, or half of database.max_open_conns (at
// least 1) when it is 0.
func (c Config) ConnsPerTenant() int {
	if n := c.Tenancy.MaxConnsPerTenant; n > 0 {
		return n
	}
	return max(1, c.Database.MaxOpenConns/2)
}

// AffinityGroupCount returns the effective database.affinity_groups: the
// configured value, or max_open_conns (one connection per group) when it
// is 0, never more than max_open_conns.
func (c Config) AffinityGroupCount() int {
	n := c.Database.AffinityGroups
	if n <= 0 {
		n = c.Database.MaxOpenConns
	}
	return max(1, min(n, c.Database.MaxOpenConns))
}

// SchemaBudget is the number of schemas the tenant connections together
// may hold in their backends' catalog caches by default: the derived
// database.max_schemas_per_conn is SchemaBudget / max_open_conns, so
// PostgreSQL's memory for them stays about the same whatever the pool
// size (docs/BENCHMARKS.md "Scale" gives the curve it was chosen on).
const SchemaBudget = 12000

// SchemasPerConn returns the effective database.max_schemas_per_conn:
// the configured bound, SchemaBudget / max_open_conns (at least 1) when
// it is 0, and 0 (no bound) when it is -1.
func (c Config) SchemasPerConn() int {
	switch n := c.Database.MaxSchemasPerConn; {
	case n < 0:
		return 0
	case n > 0:
		return n
	}
	return max(1, SchemaBudget/max(1, c.Database.MaxOpenConns))
}

// tenantGroupRE is what tenancy.tenant_group may be (the rule of
// tenants.ValidateGroupName; config cannot import tenants).
var tenantGroupRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Admin configures the admin HTTP API.
type Admin struct {
	Token string `mapstructure:"token"`
	// ArchiveTimeout bounds a tenant export or restore through the admin
	// API (instead of http.request_timeout and the server's read and
	// write timeouts, which a large tenant's archive outlasts).
	ArchiveTimeout time.Duration `mapstructure:"archive_timeout"`
	// MaxArchiveBytes is the largest archive a restore through the admin
	// API accepts (instead of http.max_body_bytes).
	MaxArchiveBytes int64 `mapstructure:"max_archive_bytes"`
}

// API configures the tenants' API.
type API struct {
	// IdempotencyTTL is how long the response of a write sent with an
	// Idempotency-Key is kept for its retries.
	IdempotencyTTL time.Duration `mapstructure:"idempotency_ttl"`
}

// Dev holds development conveniences.
type Dev struct {
	DemoTenant bool `mapstructure:"demo_tenant"`
}

// Log configures logging.
type Log struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

// Default returns the built-in defaults, the same values config.yaml ships.
func Default() Config {
	return Config{
		Env: "development",
		HTTP: HTTP{
			Addr:            "127.0.0.1:8080",
			MaxBodyBytes:    1 << 20,
			ReadTimeout:     15 * time.Second,
			BodyTimeout:     10 * time.Second,
			WriteTimeout:    30 * time.Second,
			IdleTimeout:     120 * time.Second,
			RequestTimeout:  10 * time.Second,
			ShutdownTimeout: 20 * time.Second,
			CORSOrigins:     []string{},
			TrustedProxies:  []string{},
		},
		Database: Database{
			AutoMigrate:        true,
			MaxOpenConns:       20,
			MaxIdleConns:       20,
			ConnMaxLifetime:    30 * time.Minute,
			ConnMaxIdleTime:    5 * time.Minute,
			PreparedStatements: 128,
			HomeWait:           50 * time.Millisecond,
			Citus:              "auto",
			Embedded: Embedded{
				DataDir: "./.data/postgres",
				OSUser:  "postgres",
			},
		},
		Admin: Admin{ArchiveTimeout: 30 * time.Minute, MaxArchiveBytes: 4 << 30},
		API:   API{IdempotencyTTL: 24 * time.Hour},
		Auth: Auth{
			AccessTTL:  15 * time.Minute,
			RefreshTTL: 7 * 24 * time.Hour,
			// The seed application's sign-up applied no validators; these
			// two accept every payload of its README.
			PasswordValidators: []string{"minimum_length", "numeric"},
			PasswordMinLength:  8,
			Throttle: Throttle{
				Login:           "10/min",
				LoginAddress:    "60/min",
				Register:        "10/min",
				RegisterAddress: "30/hour",
				Refresh:         "60/min",
				MaxKeys:         10000,
			},
		},
		Tenancy: Tenancy{
			Isolation:    IsolationStrict,
			PublicHosts:  []string{"localhost", "127.0.0.1"},
			CacheTTL:     30 * time.Second,
			KnownUsers:   50000,
			SpareSchemas: 4,
			IdentifyBy:   []string{"host"},
			Header:       "X-Tenant",
			MaxConnsWait: time.Second,
			TenantGroup:  "strictmt_tenants",
		},
		Dev:     Dev{DemoTenant: true},
		Log:     Log{Level: "info", Format: "text"},
		Metrics: Metrics{TopTenants: 20},
	}
}

// Flags declares the command-line flags that override keys, on fs.
func Flags(fs *pflag.FlagSet) {
	fs.String("config", "", "path to the config file (default ./config.yaml when it exists)")
	fs.String("http-addr", "", "listen address (http.addr)")
	fs.String("database-url", "", "PostgreSQL URL; empty runs the embedded server (database.url)")
	fs.String("isolation", "", "tenant isolation: strict or prefix (tenancy.isolation)")
	fs.String("log-level", "", "debug, info, warn or error (log.level)")
}

var flagKeys = map[string]string{
	"http-addr":    "http.addr",
	"database-url": "database.url",
	"isolation":    "tenancy.isolation",
	"log-level":    "log.level",
}

// Load reads the config file (the --config flag, else ./config.yaml when
// present), then applies STRICTMT_* variables from env and the flags that
// were set on fs (which may be nil), and validates the result.
func Load(env []string, fs *pflag.FlagSet) (Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	setDefaults(v, "", Default())

	path := ""
	if fs != nil {
		if f := fs.Lookup("config"); f != nil {
			path = f.Value.String()
		}
	}
	if path == "" {
		if p, ok := lookupEnv(env, EnvPrefix+"CONFIG"); ok {
			path = p
		}
	}
	explicit := path != ""
	if !explicit {
		path = "config.yaml"
	}
	if _, err := os.Stat(path); err == nil || explicit {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return Config{}, fmt.Errorf("config: reading %s: %w", path, err)
		}
	}

	for _, key := range v.AllKeys() {
		name := EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		if val, ok := lookupEnv(env, name); ok {
			v.Set(key, val)
		}
	}
	if fs != nil {
		for flag, key := range flagKeys {
			if f := fs.Lookup(flag); f != nil && f.Changed {
				v.Set(key, f.Value.String())
			}
		}
	}

	var cfg Config
	err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.ErrorUnused = true
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			splitCommas,
		)
	})
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// splitCommas turns "a,b" into []string{"a","b"} and "" into an empty
// list, so list keys can be set from environment variables.
func splitCommas(from, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || from.Kind() != reflect.String || to != reflect.TypeOf([]string(nil)) {
		return data, nil
	}
	out := []string{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out, nil
}

func lookupEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, val, ok := strings.Cut(env[i], "="); ok && k == name {
			return val, true
		}
	}
	return "", false
}

// setDefaults registers every field of cfg as a viper default, so that
// each key is known (and overridable by the environment) even when the
// config file omits it.
func setDefaults(v *viper.Viper, prefix string, cfg Config) {
	m := map[string]any{}
	if err := mapstructure.Decode(cfg, &m); err != nil {
		panic(err) // Config is a fixed struct; decoding it cannot fail.
	}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, val := range m {
			key := prefix + k
			if sub, ok := val.(map[string]any); ok {
				walk(key+".", sub)
				continue
			}
			v.SetDefault(key, val)
		}
	}
	walk(prefix, m)
}

// Validate checks every key and names each wrong one, a section at a
// time.
func (c Config) Validate() error {
	var p problems
	c.validateGeneral(&p)
	c.HTTP.validate(&p)
	c.Database.validate(&p)
	c.Auth.validate(&p, c.Env)
	c.Tenancy.validate(&p)
	return errors.Join(p...)
}

// problems collects what Validate finds wrong, one error per key.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...)))
}

// positive adds a problem for each of durations (by key) that is not
// positive.
func (p *problems) positive(durations map[string]time.Duration) {
	for key, d := range durations {
		if d <= 0 {
			p.add(key, "must be a positive duration such as 30s")
		}
	}
}

// validateGeneral checks env, admin, log and metrics.
func (c Config) validateGeneral(p *problems) {
	if c.Env != "development" && c.Env != "production" {
		p.add("env", "must be development or production, got %q", c.Env)
	}
	if c.Admin.Token != "" && len(c.Admin.Token) < 16 {
		p.add("admin.token", "must be at least 16 characters when set")
	}
	if c.API.IdempotencyTTL <= 0 {
		p.add("api.idempotency_ttl", "must be positive")
	}
	if c.Admin.ArchiveTimeout <= 0 {
		p.add("admin.archive_timeout", "must be positive")
	}
	if c.Admin.MaxArchiveBytes <= 0 {
		p.add("admin.max_archive_bytes", "must be positive")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.add("log.level", "must be debug, info, warn or error, got %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		p.add("log.format", "must be text or json, got %q", c.Log.Format)
	}
	if c.Metrics.TopTenants < 1 || c.Metrics.TopTenants > 1000 {
		p.add("metrics.top_tenants", "must be between 1 and 1000")
	}
	if c.Metrics.Addr != "" && c.Metrics.Addr == c.HTTP.Addr {
		p.add("metrics.addr", "must differ from http.addr (leave it empty to serve /metrics there)")
	}
}

func (h HTTP) validate(p *problems) {
	if h.Addr == "" {
		p.add("http.addr", "must not be empty")
	}
	if h.MaxBodyBytes <= 0 {
		p.add("http.max_body_bytes", "must be positive")
	}
	p.positive(map[string]time.Duration{
		"http.read_timeout": h.ReadTimeout, "http.write_timeout": h.WriteTimeout,
		"http.request_timeout": h.RequestTimeout, "http.shutdown_timeout": h.ShutdownTimeout,
		"http.body_timeout": h.BodyTimeout,
	})
	if _, err := h.TrustedProxyPrefixes(); err != nil {
		p.add("http.trusted_proxies", "%v", err)
	}
}

func (d Database) validate(p *problems) {
	if d.URL != "" {
		u, err := url.Parse(d.URL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			p.add("database.url", "must be a postgres:// URL")
		}
	} else if d.Embedded.DataDir == "" {
		p.add("database.embedded.data_dir", "must be set when database.url is empty")
	}
	if d.DirectURL != "" {
		u, err := url.Parse(d.DirectURL)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			p.add("database.direct_url", "must be a postgres:// URL")
		} else if d.URL == "" {
			p.add("database.direct_url", "needs database.url (the embedded server is always direct)")
		}
	}
	if d.MaxOpenConns < 1 {
		p.add("database.max_open_conns", "must be at least 1")
	}
	switch d.Citus {
	case "auto", "on", "off":
	default:
		p.add("database.citus", "must be auto, on or off, got %q", d.Citus)
	}
	if d.AffinityGroups < 0 || (d.MaxOpenConns >= 1 && d.AffinityGroups > d.MaxOpenConns) {
		p.add("database.affinity_groups", "must be between 0 (one group per connection) and database.max_open_conns")
	}
	if d.HomeWait <= 0 {
		p.add("database.home_wait", "must be positive, e.g. 50ms")
	}
	if d.MaxSchemasPerConn < -1 {
		p.add("database.max_schemas_per_conn", "must be -1 (no bound), 0 (derived from database.max_open_conns) or a positive bound")
	}
	if d.PreparedStatements < 0 {
		p.add("database.prepared_statements", "must not be negative (0: prepare none)")
	}
	if d.MaxIdleConns < 0 {
		p.add("database.max_idle_conns", "must not be negative")
	}
	if d.Embedded.Port < 0 || d.Embedded.Port > 65535 {
		p.add("database.embedded.port", "must be 0 (pick a free port) or a TCP port")
	}
}

// validate checks the auth keys; env is the config's (production needs a
// JWT secret).
func (a Auth) validate(p *problems, env string) {
	p.positive(map[string]time.Duration{"auth.access_ttl": a.AccessTTL, "auth.refresh_ttl": a.RefreshTTL})
	if _, err := auth.NewPasswordPolicy(a.PasswordValidators, a.PasswordMinLength); err != nil {
		p.add("auth.password_validators", "%v", err)
	}
	if a.PasswordMinLength < 1 {
		p.add("auth.password_min_length", "must be at least 1")
	}
	for key, r := range map[string]string{
		"auth.throttle.login": a.Throttle.Login, "auth.throttle.login_address": a.Throttle.LoginAddress,
		"auth.throttle.register": a.Throttle.Register, "auth.throttle.register_address": a.Throttle.RegisterAddress,
		"auth.throttle.refresh": a.Throttle.Refresh,
	} {
		if _, err := auth.ParseRate(r); err != nil {
			p.add(key, "%v", err)
		}
	}
	if a.Throttle.MaxKeys < 1 {
		p.add("auth.throttle.max_keys", "must be at least 1")
	}
	if env == "production" && len(a.JWTSecret) < 32 {
		p.add("auth.jwt_secret", "must be at least 32 bytes in production (set STRICTMT_AUTH_JWT_SECRET)")
	}
	if a.JWTSecret != "" && len(a.JWTSecret) < 32 {
		p.add("auth.jwt_secret", "must be at least 32 bytes when set")
	}
}

func (t Tenancy) validate(p *problems) {
	p.positive(map[string]time.Duration{"tenancy.cache_ttl": t.CacheTTL, "tenancy.max_conns_wait": t.MaxConnsWait})
	if !tenantGroupRE.MatchString(t.TenantGroup) || strings.HasPrefix(t.TenantGroup, "pg_") {
		p.add("tenancy.tenant_group", "must be a role name of 1-63 lower-case letters, digits and _, not starting with a digit or pg_, got %q", t.TenantGroup)
	}
	if t.KnownUsers < 0 {
		p.add("tenancy.known_users", "must not be negative (0: check the user on every request)")
	}
	if t.MaxConnsPerTenant < 0 {
		p.add("tenancy.max_conns_per_tenant", "must not be negative (0: half of database.max_open_conns)")
	}
	if t.SpareSchemas < 0 || t.SpareSchemas > 1000 {
		p.add("tenancy.spare_schemas", "must be between 0 and 1000")
	}
	if t.Isolation != IsolationStrict && t.Isolation != IsolationPrefix {
		p.add("tenancy.isolation", "must be strict or prefix, got %q", t.Isolation)
	}
	hasHost := false
	for _, w := range t.IdentifyBy {
		switch w {
		case "host":
			hasHost = true
		case "header":
		default:
			p.add("tenancy.identify_by", "must list host and optionally header, got %q", w)
		}
	}
	if !hasHost {
		p.add("tenancy.identify_by", "must include host (a tenant's own host always selects it)")
	}
	if t.HeaderIdentification() && !validHeaderName(t.Header) {
		p.add("tenancy.header", "must be an HTTP header name such as X-Tenant, got %q", t.Header)
	}
}

// validHeaderName reports whether s is an HTTP header field name (an RFC
// 9110 token) other than Host.
func validHeaderName(s string) bool {
	if s == "" || strings.EqualFold(s, "Host") {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// TrustedProxyPrefixes parses http.trusted_proxies: IP addresses or CIDR
// ranges of the reverse proxies whose X-Forwarded-Host is believed.
func (h HTTP) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(h.TrustedProxies))
	for _, s := range h.TrustedProxies {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP address nor a CIDR range", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// Redacted returns a copy safe to log: secrets and the database password
// are masked.
func (c Config) Redacted() Config {
	mask := func(s string) string {
		if s == "" {
			return ""
		}
		return "*****"
	}
	c.Auth.JWTSecret = mask(c.Auth.JWTSecret)
	c.Admin.Token = mask(c.Admin.Token)
	for _, s := range []*string{&c.Database.URL, &c.Database.DirectURL} {
		if u, err := url.Parse(*s); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "*****")
				*s = u.String()
			}
		}
	}
	return c
}

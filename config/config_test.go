package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/strictmt/strictmt/config"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	config.Flags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func TestShippedConfigMatchesDefaults(t *testing.T) {
	cfg, err := config.Load(nil, flags(t, "--config", "../config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	if cfg.HTTP.Addr != want.HTTP.Addr || cfg.Tenancy.Isolation != want.Tenancy.Isolation || cfg.Database.Embedded.DataDir != want.Database.Embedded.DataDir ||
		cfg.Auth.RefreshTTL != want.Auth.RefreshTTL || !cfg.Dev.DemoTenant || cfg.HTTP.MaxBodyBytes != 1<<20 || !cfg.Database.AutoMigrate {
		t.Fatalf("config.yaml and Default() disagree:\n%+v\n%+v", cfg, want)
	}
}

func TestPrecedence(t *testing.T) {
	path := writeFile(t, "http:\n  addr: 127.0.0.1:9000\ntenancy:\n  isolation: prefix\n  cache_ttl: 5s\n")
	env := []string{
		"STRICTMT_TENANCY_ISOLATION=strict",
		"STRICTMT_DATABASE_EMBEDDED_DATA_DIR=/var/lib/strictmt/pgdata",
		"STRICTMT_TENANCY_PUBLIC_HOSTS=admin.example.com, localhost",
		"STRICTMT_DATABASE_AUTO_MIGRATE=false",
		"STRICTMT_AUTH_ACCESS_TTL=5m",
	}
	cfg, err := config.Load(env, flags(t, "--config", path, "--http-addr", "0.0.0.0:8081"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != "0.0.0.0:8081" {
		t.Errorf("flag must beat file: %s", cfg.HTTP.Addr)
	}
	if cfg.Tenancy.Isolation != "strict" {
		t.Errorf("env must beat file: %s", cfg.Tenancy.Isolation)
	}
	if cfg.Tenancy.CacheTTL != 5*time.Second {
		t.Errorf("file must beat default: %s", cfg.Tenancy.CacheTTL)
	}
	if cfg.Database.Embedded.DataDir != "/var/lib/strictmt/pgdata" || cfg.Database.AutoMigrate || cfg.Auth.AccessTTL != 5*time.Minute {
		t.Errorf("env overrides of nested keys: %+v %+v", cfg.Database, cfg.Auth)
	}
	if strings.Join(cfg.Tenancy.PublicHosts, "|") != "admin.example.com|localhost" {
		t.Errorf("list from env: %q", cfg.Tenancy.PublicHosts)
	}
}

func TestValidationNamesTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		file string
		key  string
	}{
		{"ErrIsolation", []string{"STRICTMT_TENANCY_ISOLATION=loose"}, "", "tenancy.isolation"},
		{"ErrProductionWithoutSecret", []string{"STRICTMT_ENV=production"}, "", "auth.jwt_secret"},
		{"ErrShortSecret", []string{"STRICTMT_AUTH_JWT_SECRET=short"}, "", "auth.jwt_secret"},
		{"ErrDuration", []string{"STRICTMT_HTTP_REQUEST_TIMEOUT=0s"}, "", "http.request_timeout"},
		{"ErrDatabaseURL", []string{"STRICTMT_DATABASE_URL=mysql://x"}, "", "database.url"},
		{"ErrTrustedProxy", []string{"STRICTMT_HTTP_TRUSTED_PROXIES=not-an-ip"}, "", "http.trusted_proxies"},
		{"ErrLogLevel", []string{"STRICTMT_LOG_LEVEL=loud"}, "", "log.level"},
		{"ErrUnknownKeyInFile", nil, "htpp:\n  addr: x\n", "htpp"},
		{"ErrAdminToken", []string{"STRICTMT_ADMIN_TOKEN=short"}, "", "admin.token"},
		{"ErrDirectURL", []string{"STRICTMT_DATABASE_URL=postgres://a@h/db", "STRICTMT_DATABASE_DIRECT_URL=mysql://x"}, "", "database.direct_url"},
		{"ErrDirectURLWithoutURL", []string{"STRICTMT_DATABASE_DIRECT_URL=postgres://a@h/db"}, "", "database.direct_url"},
		{"ErrIdentifyBy", []string{"STRICTMT_TENANCY_IDENTIFY_BY=host,cookie"}, "", "tenancy.identify_by"},
		{"ErrIdentifyByWithoutHost", []string{"STRICTMT_TENANCY_IDENTIFY_BY=header"}, "", "tenancy.identify_by"},
		{"ErrTenantHeader", []string{"STRICTMT_TENANCY_IDENTIFY_BY=host,header", "STRICTMT_TENANCY_HEADER=X Tenant"}, "", "tenancy.header"},
		{"ErrTenantHeaderHost", []string{"STRICTMT_TENANCY_IDENTIFY_BY=host,header", "STRICTMT_TENANCY_HEADER=Host"}, "", "tenancy.header"},
		{"ErrTopTenants", []string{"STRICTMT_METRICS_TOP_TENANTS=0"}, "", "metrics.top_tenants"},
		{"ErrMetricsAddr", []string{"STRICTMT_METRICS_ADDR=127.0.0.1:8080"}, "", "metrics.addr"},
		{"ErrMaxSchemasPerConn", []string{"STRICTMT_DATABASE_MAX_SCHEMAS_PER_CONN=-2"}, "", "database.max_schemas_per_conn"},
		{"ErrHomeWaitZero", []string{"STRICTMT_DATABASE_HOME_WAIT=0s"}, "", "database.home_wait"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flags(t)
			if tc.file != "" {
				fs = flags(t, "--config", writeFile(t, tc.file))
			}
			_, err := config.Load(tc.env, fs)
			if err == nil || !strings.Contains(err.Error(), tc.key) {
				t.Fatalf("want an error naming %s, got %v", tc.key, err)
			}
		})
	}
	t.Run("ErrMissingExplicitFile", func(t *testing.T) {
		if _, err := config.Load(nil, flags(t, "--config", "/nonexistent/strictmt.yaml")); err == nil {
			t.Fatal("a missing --config file must be an error")
		}
	})
}

func TestNewKeysFromEnv(t *testing.T) {
	cfg, err := config.Load([]string{
		"STRICTMT_DATABASE_URL=postgres://app@pooler:6432/strictmt",
		"STRICTMT_DATABASE_DIRECT_URL=postgres://app:hunter2@db:5432/strictmt",
		"STRICTMT_TENANCY_IDENTIFY_BY=host,header", "STRICTMT_TENANCY_HEADER=X-Customer",
		"STRICTMT_METRICS_ENABLED=true", "STRICTMT_METRICS_PER_TENANT=true", "STRICTMT_METRICS_TOP_TENANTS=5",
	}, flags(t))
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Tenancy.HeaderIdentification() || cfg.Tenancy.Header != "X-Customer" || !cfg.Metrics.Enabled ||
		!cfg.Metrics.PerTenant || cfg.Metrics.TopTenants != 5 || cfg.Database.DirectURL == "" {
		t.Fatalf("%+v %+v %+v", cfg.Tenancy, cfg.Metrics, cfg.Database)
	}
	if strings.Contains(cfg.Redacted().Database.DirectURL, "hunter2") {
		t.Error("direct_url password not redacted")
	}
	if d := config.Default(); d.Tenancy.HeaderIdentification() || d.Metrics.Enabled {
		t.Error("header identification and metrics must be off by default")
	}
}

func TestProductionWithSecretStarts(t *testing.T) {
	cfg, err := config.Load([]string{"STRICTMT_ENV=production", "STRICTMT_AUTH_JWT_SECRET=" + strings.Repeat("k", 32)}, flags(t))
	if err != nil || cfg.Env != "production" {
		t.Fatalf("%v %+v", err, cfg)
	}
}

func TestRedacted(t *testing.T) {
	cfg := config.Default()
	cfg.Auth.JWTSecret = strings.Repeat("s", 40)
	cfg.Admin.Token = "admin-token-123456"
	cfg.Database.URL = "postgres://app:hunter2@db:5432/strictmt"
	r := cfg.Redacted()
	for _, s := range []string{r.Auth.JWTSecret, r.Admin.Token, r.Database.URL} {
		if strings.Contains(s, "sss") || strings.Contains(s, "admin-token") || strings.Contains(s, "hunter2") {
			t.Fatalf("secret left in %q", s)
		}
	}
	if !strings.Contains(r.Database.URL, "app:") || cfg.Auth.JWTSecret == r.Auth.JWTSecret {
		t.Fatalf("redaction changed the wrong things: %+v / original %+v", r.Database.URL, cfg.Auth.JWTSecret)
	}
}

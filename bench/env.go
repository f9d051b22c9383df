package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/internal/embedpg"
)

// benchSecret signs the tokens of every server under test.
const benchSecret = "bench-secret-0123456789abcdef0123456789"

// database is a PostgreSQL database for one benchmark run.
type database struct {
	URL string
	// Dir is the cluster's data directory ("" for
	// STRICTMT_BENCH_DATABASE_URL's). It is made under $TMPDIR: creating
	// a tenant creates some fifty files, and how long that takes depends
	// on the file system there, so the benchmarks print where it was.
	Dir string
	// Log is the cluster's server log ("" for an external server).
	Log  string
	stop func()
}

// where says, for a benchmark's header, where the cluster's files are.
func (d *database) where() string {
	if d.Dir == "" {
		return "an external server (STRICTMT_BENCH_DATABASE_URL)"
	}
	return "a cluster in " + d.Dir
}

// startDatabase returns STRICTMT_BENCH_DATABASE_URL, or a fresh database on
// a throw-away cluster (durable settings, as in production) removed by
// stop.
func startDatabase(ctx context.Context, maxConns int) (*database, error) {
	if url := os.Getenv("STRICTMT_BENCH_DATABASE_URL"); url != "" {
		return &database{URL: url, stop: func() {}}, nil
	}
	dir, err := os.MkdirTemp("", "strictmt-bench-")
	if err != nil {
		return nil, err
	}
	// The postgres OS user (when we are root) must reach the data dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	srv, err := embedpg.Start(ctx, embedpg.Options{DataDir: filepath.Join(dir, "pg"), MaxConnections: maxConns})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	stop := func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = srv.Stop(stopCtx)
		os.RemoveAll(dir)
	}
	conn, err := pgx.Connect(ctx, srv.URL("postgres"))
	if err != nil {
		stop()
		return nil, err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE bench"); err != nil {
		stop()
		return nil, err
	}
	return &database{URL: srv.URL("bench"), Dir: filepath.Join(dir, "pg"), Log: srv.LogPath(), stop: stop}, nil
}

// benchConfig is the configuration of a strictmt under test.
func benchConfig(url, isolation string, maxConns int) config.Config {
	cfg := config.Default()
	cfg.Database.URL = url
	cfg.Database.DirectURL = directURL
	cfg.Database.MaxOpenConns = maxConns
	cfg.Database.MaxIdleConns = maxConns
	cfg.Auth.JWTSecret = benchSecret
	cfg.Tenancy.Isolation = isolation
	cfg.Dev.DemoTenant = false
	// No spare schemas built in the background while measuring.
	cfg.Tenancy.SpareSchemas = 0
	// The drivers log in and register far faster than a person: no
	// throttling.
	cfg.Auth.Throttle = config.Throttle{MaxKeys: 1}
	cfg.Log.Level = "error"
	return cfg
}

// openApp opens strictmt on url, migrated, with quiet logs.
func openApp(ctx context.Context, url, isolation string, maxConns int) (*app.App, error) {
	cfg := benchConfig(url, isolation, maxConns)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.Open(ctx, cfg, log, app.MigrateOptions{Shared: true, Tenants: true})
	if err != nil {
		return nil, fmt.Errorf("opening strictmt: %w", err)
	}
	return a, nil
}

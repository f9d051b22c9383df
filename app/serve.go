package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/config"
	"github.com/strictmt/strictmt/handlers"
	"github.com/strictmt/strictmt/tenants"
)

// DemoSchema is the schema of the development demo tenant.
const DemoSchema = "demo"

// DemoDomain is the host of the development demo tenant.
const DemoDomain = "demo.localhost"

// Handler returns the HTTP handler of the service.
func (a *App) Handler() http.Handler {
	// Validated with the config at start-up.
	trusted, _ := a.Config.HTTP.TrustedProxyPrefixes()
	d := handlers.Deps{
		TrustedProxies: trusted,
		Log:            a.Log,
		Resolver:       a.Resolver,
		Tokens:         a.Tokens,
		Strict:         a.Config.Tenancy.Isolation == config.IsolationStrict,
		MaxBodyBytes:   a.Config.HTTP.MaxBodyBytes,
		RequestTimeout: a.Config.HTTP.RequestTimeout,
		Ready:          a.Ready,

		Passwords:              a.Passwords,
		Throttles:              a.Throttles,
		RotateRefreshTokens:    a.Config.Auth.RotateRefreshTokens,
		BlacklistAfterRotation: a.Config.Auth.BlacklistAfterRotation,

		Tenants:          a.Tenants,
		Placements:       tenants.PlacementService{DB: a.DirectSQL},
		Archives:         a.Archives,
		IdempotencyTTL:   a.Config.API.IdempotencyTTL,
		ArchiveTimeout:   a.Config.Admin.ArchiveTimeout,
		MaxArchiveBytes:  a.Config.Admin.MaxArchiveBytes,
		AdminToken:       a.Config.Admin.Token,
		PublicHosts:      a.Config.Tenancy.PublicHosts,
		EnforcePaidUntil: a.Config.Tenancy.EnforcePaidUntil,
		CORSOrigins:      a.Config.HTTP.CORSOrigins,
		BodyTimeout:      a.Config.HTTP.BodyTimeout,
		TenantLimiter:    a.TenantLimiter,
		Activity:         a.Activity,
	}
	if a.Config.Tenancy.HeaderIdentification() {
		d.TenantHeader = a.Config.Tenancy.Header
	}
	if a.Metrics != nil {
		d.Metrics = a.Metrics.Middleware()
		if a.Config.Metrics.Addr == "" {
			d.MetricsHandler = a.Metrics.Handler()
		}
	}
	return handlers.NewRouter(d)
}

// serveMetrics serves /metrics on metrics.addr until ctx ends, when that
// is set.
func (a *App) serveMetrics(ctx context.Context) error {
	if a.Metrics == nil || a.Config.Metrics.Addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", a.Config.Metrics.Addr)
	if err != nil {
		return fmt.Errorf("metrics.addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.Metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.Log.Error("metrics server", "err", err)
		}
	}()
	a.Log.Info("serving metrics", "addr", ln.Addr().String())
	return nil
}

// EnsureDemoTenant creates the demo tenant unless it exists.
func (a *App) EnsureDemoTenant(ctx context.Context) error {
	_, err := a.Tenants.FindTenant(ctx, DemoSchema)
	if !errors.Is(err, apperr.NotFound) {
		return err
	}
	_, err = a.Tenants.CreateTenant(ctx, tenants.CreateParams{
		Name: "Demo", SchemaName: DemoSchema, Domains: []string{DemoDomain}, OnTrial: true,
	})
	if errors.Is(err, apperr.Conflict) {
		return nil // another process created it meanwhile
	}
	if err == nil {
		a.Log.Info("created the demo tenant", "schema", DemoSchema, "domain", DemoDomain)
	}
	return err
}

// Serve listens on http.addr (or ln when not nil) and serves until ctx
// ends, then stops taking connections and drains in-flight requests for
// up to http.shutdown_timeout. ready, if not nil, receives the address
// once the server accepts connections.
func (a *App) Serve(ctx context.Context, ln net.Listener, ready func(addr string)) error {
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", a.Config.HTTP.Addr)
		if err != nil {
			return fmt.Errorf("http.addr: %w", err)
		}
	}
	h := a.Config.HTTP
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       h.ReadTimeout,
		WriteTimeout:      h.WriteTimeout,
		IdleTimeout:       h.IdleTimeout,
	}
	listenCtx, stopListening := context.WithCancel(ctx)
	defer stopListening()
	if err := a.serveMetrics(listenCtx); err != nil {
		return err
	}
	// Spares are built in the background by serving processes only, not
	// by one-shot commands.
	a.Tenants.KeepSpares(a.Config.Tenancy.SpareSchemas, a.Log)
	go a.Resolver.Listen(listenCtx, a.DirectURL, a.Log) // LISTEN needs a session

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	addr := ln.Addr().String()
	a.Log.Info("listening", "addr", addr, "isolation", a.Config.Tenancy.Isolation)
	if a.Config.Dev.DemoTenant && a.Config.Env != "production" {
		a.Log.Info(fmt.Sprintf("try it: curl -H 'Host: %s' http://%s/api/", DemoDomain, addr))
	}
	if ready != nil {
		ready(addr)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down: draining in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// Package cli is strictmt's command line: serve (the default), migrate,
// tenants, domains and import.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/spf13/cobra"
	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/config"
)

// Run runs the strictmt command line with args (without the program name)
// and the environment env, and returns the process exit code. Failures
// print one line on stderr.
func Run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	root := newRoot(ctx, env, stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		msg := err.Error()
		if ae, ok := err.(*apperr.Error); ok && ae.Code != apperr.EINTERNAL {
			msg = apperr.Message(err) // what a client of the API is told, without the database's words
		}
		fmt.Fprintln(stderr, "strictmt: "+strings.ReplaceAll(msg, "\n", "; "))
		return 1
	}
	return 0
}

type env struct {
	ctx            context.Context
	environ        []string
	stdout, stderr io.Writer
	root           *cobra.Command
}

func newRoot(ctx context.Context, environ []string, stdout, stderr io.Writer) *cobra.Command {
	e := &env{ctx: ctx, environ: environ, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "strictmt",
		Short:         "Multi-tenant JSON API: one PostgreSQL schema per tenant, isolation enforced by the database",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return e.serve(cmd) },
	}
	config.Flags(root.PersistentFlags())
	e.root = root
	root.AddCommand(
		&cobra.Command{Use: "serve", Short: "Serve the HTTP API (the default command)", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error { return e.serve(cmd) }},
		e.migrateCmd(),
		e.tenantsCmd(),
		e.domainsCmd(),
		e.importCmd(),
	)
	return root
}

// load reads the configuration with the command's flags.
func (e *env) load(cmd *cobra.Command) (config.Config, error) {
	return config.Load(e.environ, cmd.Flags())
}

func newLogger(w io.Writer, cfg config.Config, quiet bool) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	if quiet && level < slog.LevelWarn {
		level = slog.LevelWarn
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// open loads the config and opens the app for a management command: quiet
// logs, shared schema migrated.
func (e *env) open(cmd *cobra.Command) (*app.App, error) {
	cfg, err := e.load(cmd)
	if err != nil {
		return nil, err
	}
	return app.Open(cmd.Context(), cfg, newLogger(e.stderr, cfg, true), app.MigrateOptions{Shared: true})
}

func (e *env) serve(cmd *cobra.Command) error {
	cfg, err := e.load(cmd)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, cfg, false)
	log.Info("starting strictmt", "config", fmt.Sprintf("%+v", cfg.Redacted()))
	mig := app.MigrateOptions{}
	if cfg.Database.AutoMigrate {
		mig = app.MigrateOptions{Shared: true, Tenants: true}
	}
	a, err := app.Open(cmd.Context(), cfg, log, mig)
	if err != nil {
		return err
	}
	defer a.Close(context.WithoutCancel(cmd.Context()))
	if cfg.Dev.DemoTenant && cfg.Env != "production" {
		if err := a.EnsureDemoTenant(cmd.Context()); err != nil {
			return fmt.Errorf("demo tenant: %w", err)
		}
	}
	return a.Serve(cmd.Context(), nil, nil)
}

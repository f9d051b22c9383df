package cli

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/strictmt/strictmt/app"
	"github.com/strictmt/strictmt/tenants"
)

func (e *env) migrateCmd() *cobra.Command {
	var opts app.MigrateOptions
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending migrations to the shared schema, then to every tenant schema",
		Long: `Apply pending migrations to the shared schema, then to every tenant schema,
several at once (--workers), each under its own advisory lock so that
concurrent runs wait for each other. Progress goes to stderr: a bar on a
terminal, a line every two seconds otherwise. A schema whose migration fails
is rolled back to its last good version while the others go on; the command
then exits non-zero naming every failed schema, and a rerun continues.
--dry-run lists the pending migrations of every schema and changes nothing.
With neither --shared nor --tenant, both run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !opts.Shared && !opts.Tenants {
				opts.Shared, opts.Tenants = true, true
			}
			if opts.Schema != "" {
				if err := tenants.ValidateSchemaName(opts.Schema); err != nil {
					return fmt.Errorf("--schema: %w", err)
				}
				opts.Tenants = true
			}
			return e.migrate(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&opts.Shared, "shared", false, "migrate the shared (public) schema")
	f.BoolVar(&opts.Tenants, "tenant", false, "migrate tenant schemas")
	f.StringVar(&opts.Schema, "schema", "", "migrate only this tenant schema")
	f.IntVar(&opts.Workers, "workers", 0, "tenant schemas migrated at once (default: CPU count)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "list pending migrations per schema, change nothing")
	return cmd
}

// migrate runs `strictmt migrate` with opts: the shared schema, then the
// tenant schemas, then the removal of outdated spares.
func (e *env) migrate(cmd *cobra.Command, opts app.MigrateOptions) error {
	cfg, err := e.load(cmd)
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, cfg, false)
	a, err := app.Open(cmd.Context(), cfg, log, app.MigrateOptions{})
	if err != nil {
		return err
	}
	defer a.Close(cmd.Context())
	if opts.Shared {
		if err := e.migrateShared(cmd, a, opts.DryRun); err != nil {
			return err
		}
	}
	if !opts.Tenants {
		return nil
	}
	bar := newProgress(e.stderr, isTerminal(e.stderr))
	opts.Progress = bar.update
	opts.Cluster = &a.Cluster
	rep, err := tenants.MigrateTenants(cmd.Context(), a.DirectSQL, log, opts)
	bar.finish()
	if rep != nil {
		if opts.DryRun {
			printPending(e, rep)
		} else {
			fmt.Fprintf(e.stdout, "tenant schemas: %d total, %d migrated (%d migrations), %d failed, %d up to date, in %s\n",
				rep.Total, rep.Migrated, rep.Applied, len(rep.Failed), rep.UpToDate, rep.Elapsed.Round(1e6))
		}
	}
	if err == nil && !opts.DryRun && opts.Schema == "" {
		// Spare schemas built by older migrations can never be
		// claimed now; a target of 0 only drops them.
		if _, err := a.Tenants.FillSpares(cmd.Context(), 0); err != nil {
			return fmt.Errorf("dropping outdated spare schemas: %w", err)
		}
	}
	return e.migrateFailed(err)
}

// migrateShared migrates the shared (public) schema, or with dryRun lists
// what is pending there.
func (e *env) migrateShared(cmd *cobra.Command, a *app.App, dryRun bool) error {
	if dryRun {
		pending, err := tenants.SharedPending(cmd.Context(), a.DirectSQL)
		if err != nil {
			return err
		}
		if len(pending) > 0 {
			fmt.Fprintf(e.stdout, "public: pending %v\n", pending)
		} else {
			fmt.Fprintln(e.stdout, "public: up to date")
		}
		return nil
	}
	if err := tenants.MigrateShared(cmd.Context(), a.DirectSQL); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "shared schema: up to date")
	return nil
}

// migrateFailed prints every schema a tenant migration failed in, on a
// line of its own, and returns the command's error naming them too (for
// scripts that read only stderr); other errors are returned as they are.
func (e *env) migrateFailed(err error) error {
	var me *tenants.MigrateError
	if !errors.As(err, &me) {
		return err
	}
	for _, s := range me.Schemas() {
		fmt.Fprintf(e.stdout, "failed: %s: %v\n", s, me.Failed[s])
	}
	return fmt.Errorf("migrating %d tenant schema(s) failed: %s; rerun to continue", len(me.Failed), strings.Join(me.Schemas(), ", "))
}

// printPending prints the pending migrations of every tenant schema of a
// dry run.
func printPending(e *env, rep *tenants.MigrateReport) {
	if len(rep.Pending) == 0 {
		fmt.Fprintf(e.stdout, "tenant schemas: %d, none has pending migrations\n", rep.Total)
		return
	}
	names := make([]string, 0, len(rep.Pending))
	for s := range rep.Pending {
		names = append(names, s)
	}
	sort.Strings(names)
	for _, s := range names {
		fmt.Fprintf(e.stdout, "%s: pending %v\n", s, rep.Pending[s])
	}
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

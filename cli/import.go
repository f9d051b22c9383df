package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/strictmt/strictmt/importer"
)

func (e *env) importCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "import", Short: "Import tenants from another application's database"}
	var o importer.Options
	dj := &cobra.Command{
		Use:   "django-tenants --from URL",
		Short: "Import the tenants, domains, users and rows of a Django + django-tenants database",
		Long: `Import every tenant of a Django + django-tenants database (the application
strictmt replaces): the tenant (name, schema name, paid_until, on_trial), its
domains (the primary kept), its users (password hashes as they are: Django
logins work at once), todos, projects and tasks, with their ids and times.

Each tenant is imported in one transaction (all of it or nothing of it), read
from the source in one read-only, repeatable-read transaction. Tenants already
in strictmt are skipped (--replace imports them again). --dry-run reports what
would be created and every conflict, and writes nothing. The command exits
non-zero naming every tenant that failed.`,
		Example: `  strictmt import django-tenants --from postgres://user@db.example.com/app --dry-run
  strictmt import django-tenants --from postgres://user@db.example.com/app --users referenced
  strictmt import django-tenants --from postgres://user@db.example.com/app --schema tenant_a --replace`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			o.PublicHosts = a.Config.Tenancy.PublicHosts
			pr := newImportProgress(e.stderr, isTerminal(e.stderr), o.DryRun)
			o.Progress = pr.update
			rep, err := importer.Run(cmd.Context(), importer.Target{DB: a.DirectDB, Tenants: a.Tenants}, o)
			pr.finish()
			if rep != nil {
				printImport(e.stdout, rep, o.DryRun)
			}
			if err != nil {
				return err
			}
			if failed := rep.Failed(); len(failed) > 0 {
				verb := "failed"
				if o.DryRun {
					verb = "would fail"
				}
				return fmt.Errorf("import of %d tenant(s) %s: %s", len(failed), verb, strings.Join(failed, ", "))
			}
			return nil
		},
	}
	f := dj.Flags()
	f.StringVar(&o.Source, "from", "", "URL of the django-tenants database, read only (required)")
	f.StringVar(&o.Users, "users", importer.UsersAll, "users created in each tenant: all (every user of the source) or referenced (those the tenant's rows reference)")
	f.StringVar(&o.Schema, "schema", "", "import only the tenant with this schema name")
	f.BoolVar(&o.DryRun, "dry-run", false, "report what would be created and every conflict; write nothing")
	f.BoolVar(&o.Replace, "replace", false, "import again tenants already in strictmt (their rows there are replaced)")
	f.IntVar(&o.Workers, "workers", importer.DefaultWorkers, "tenants imported at once")
	d := importer.DefaultTables()
	f.StringVar(&o.Tables.Client, "client-table", d.Client, "tenant model table (may be schema-qualified)")
	f.StringVar(&o.Tables.Domain, "domain-table", d.Domain, "domain model table (may be schema-qualified)")
	f.StringVar(&o.Tables.User, "user-table", d.User, "user table, shared by all tenants (may be schema-qualified)")
	f.StringVar(&o.Tables.Todo, "todo-table", d.Todo, "todo table in each tenant schema")
	f.StringVar(&o.Tables.Project, "project-table", d.Project, "project table in each tenant schema")
	f.StringVar(&o.Tables.Task, "task-table", d.Task, "task table in each tenant schema")
	_ = dj.MarkFlagRequired("from")
	cmd.AddCommand(dj)
	return cmd
}

// importProgress shows an import: a bar over the tenants on a terminal,
// otherwise a line per tenant.
type importProgress struct {
	w      io.Writer
	tty    bool
	dryRun bool
	bar    *progressbar.ProgressBar
	start  time.Time
	rows   int
	failed int
}

func newImportProgress(w io.Writer, tty, dryRun bool) *importProgress {
	return &importProgress{w: w, tty: tty, dryRun: dryRun, start: time.Now()}
}

func (p *importProgress) update(done, total int, r importer.TenantResult) {
	if r.Status == importer.Imported || r.Status == importer.Replaced {
		p.rows += r.Rows()
	}
	if r.Status == importer.Failed {
		p.failed++
	}
	if !p.tty {
		line := fmt.Sprintf("import: %d/%d %s: %s", done, total, r.Schema, r.Status)
		if r.Status != importer.Skipped && r.Status != importer.WouldSkip && r.Status != importer.Failed {
			line += fmt.Sprintf(", %d users, %d todos, %d projects, %d tasks in %s", r.Users, r.Todos, r.Projects, r.Tasks, r.Elapsed.Round(time.Millisecond))
		}
		if r.Note != "" {
			line += " (" + r.Note + ")"
		}
		if r.Err != nil && len(r.Conflicts) == 0 {
			line += ": " + r.Err.Error()
		}
		fmt.Fprintln(p.w, line)
		return
	}
	if p.bar == nil {
		p.bar = progressbar.NewOptions(total,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
	}
	desc := "importing tenants"
	if p.dryRun {
		desc = "checking tenants"
	} else if s := time.Since(p.start).Seconds(); s > 0 {
		desc += fmt.Sprintf(", %.0f rows/s", float64(p.rows)/s)
	}
	if p.failed > 0 {
		desc += fmt.Sprintf(", %d failed", p.failed)
	}
	p.bar.Describe(desc)
	_ = p.bar.Set(done)
}

func (p *importProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.w)
	}
}

// printImport writes every conflict, then a table of the tenants and a
// total line.
func printImport(w io.Writer, rep *importer.Report, dryRun bool) {
	for _, r := range rep.Tenants {
		for _, c := range r.Conflicts {
			fmt.Fprintf(w, "conflict: %s: %s\n", r.Schema, c)
		}
		if r.Status == importer.Failed && len(r.Conflicts) == 0 && r.Err != nil {
			fmt.Fprintf(w, "failed: %s: %v\n", r.Schema, r.Err)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEMA\tNAME\tSTATUS\tDOMAINS\tUSERS\tTODOS\tPROJECTS\tTASKS\tTIME\tNOTE")
	for _, r := range rep.Tenants {
		note := r.Note
		if r.Status == importer.Failed {
			note = fmt.Sprintf("%d conflict(s)", len(r.Conflicts))
			if len(r.Conflicts) == 0 {
				note = "error"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Schema, r.Name, r.Status, strings.Join(r.Domains, ","),
			r.Users, r.Todos, r.Projects, r.Tasks, r.Elapsed.Round(time.Millisecond), note)
	}
	_ = tw.Flush()
	rate := 0.0
	if s := rep.Elapsed.Seconds(); s > 0 {
		rate = float64(rep.Rows()) / s
	}
	if dryRun {
		fmt.Fprintf(w, "dry run: %d tenant(s), %d would be imported, %d skipped, %d with conflicts; %d rows; nothing written\n",
			len(rep.Tenants), rep.Count(importer.WouldImport), rep.Count(importer.WouldSkip), rep.Count(importer.Failed), rep.Rows())
		return
	}
	fmt.Fprintf(w, "import: %d tenant(s), %d imported, %d replaced, %d skipped, %d failed; %d rows in %s (%.0f rows/s)\n",
		len(rep.Tenants), rep.Count(importer.Imported), rep.Count(importer.Replaced), rep.Count(importer.Skipped), rep.Count(importer.Failed),
		rep.Rows(), rep.Elapsed.Round(time.Millisecond), rate)
}

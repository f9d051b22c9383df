package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/strictmt/strictmt/tenants"
)

// usageCmd is `strictmt tenants usage`.
func (e *env) usageCmd() *cobra.Command {
	var asJSON bool
	var top int
	var sort string
	cmd := &cobra.Command{
		Use:   "usage [SCHEMA]",
		Short: "Show what each tenant takes up: bytes on disk, rows, users",
		Long: `Show what each tenant takes up in the database: the bytes of its tables,
their indexes and TOAST; the rows of each table; its users.

Without SCHEMA every tenant is listed, the largest first (--sort), from one
catalog query: the bytes are the tables' and indexes' sizes as of their last
VACUUM or ANALYZE (autovacuum's), the rows the statistics' live rows.
With SCHEMA the figures are exact: pg_total_relation_size of each table
summed, and a count(*) of each table.

The time of a tenant's last request, and with metrics on its requests and
their database time, are what the process that answers saw: a command run
serves none (GET /admin/tenants/{schema}/usage/ on a serving instance
shows its own).`,
		Example: `  strictmt tenants usage --top 20
  strictmt tenants usage --sort rows --json
  strictmt tenants usage acme`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && (cmd.Flags().Changed("top") || cmd.Flags().Changed("sort")) {
				return fmt.Errorf("--top and --sort order the list of every tenant; with SCHEMA there is one")
			}
			if len(args) == 1 {
				if err := tenants.ValidateSchemaName(args[0]); err != nil {
					return err
				}
			}
			if top < 0 {
				return fmt.Errorf("--top: must be 0 (every tenant) or more")
			}
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			counting := a.Activity.Counting()
			if len(args) == 1 {
				u, err := a.Tenants.Usage(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, u.View())
				}
				return printTenantUsage(e.stdout, u, counting)
			}
			all, err := a.Tenants.UsageAll(cmd.Context(), top, sort)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]tenants.UsageView, len(all))
				for i := range all {
					out[i] = all[i].View()
				}
				return printJSON(e.stdout, out)
			}
			return printUsage(e.stdout, all, counting)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&top, "top", 0, "only the first N tenants of the order (0: every tenant)")
	cmd.Flags().StringVar(&sort, "sort", "bytes", "order: "+strings.Join(tenants.UsageSorts, ", ")+" (the figures largest or latest first, schema names alphabetically)")
	return cmd
}

// printUsage writes one line per tenant.
func printUsage(w io.Writer, all []tenants.Usage, counting bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := "SCHEMA\tSIZE\tBYTES\tROWS\tUSERS\tLAST REQUEST"
	if counting {
		head += "\tREQUESTS\tDB TIME"
	}
	fmt.Fprintln(tw, head)
	for i := range all {
		u := &all[i]
		line := fmt.Sprintf("%s\t%s\t%d\t%d\t%d\t%s", u.Schema, formatBytes(u.Bytes), u.Bytes, u.Rows, u.Users, lastRequest(u.Activity))
		if counting {
			line += fmt.Sprintf("\t%d\t%s", u.Activity.Requests, formatDBTime(u.Activity.DatabaseTime))
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// printTenantUsage writes one tenant's figures, then its tables.
func printTenantUsage(w io.Writer, u *tenants.Usage, counting bool) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "schema\t%s\n", u.Schema)
	fmt.Fprintf(tw, "bytes\t%d (%s)\n", u.Bytes, formatBytes(u.Bytes))
	fmt.Fprintf(tw, "rows\t%d\n", u.Rows)
	fmt.Fprintf(tw, "users\t%d\n", u.Users)
	fmt.Fprintf(tw, "last request\t%s\n", lastRequest(u.Activity))
	if counting {
		fmt.Fprintf(tw, "requests\t%d\n", u.Activity.Requests)
		fmt.Fprintf(tw, "database time\t%s\n", formatDBTime(u.Activity.DatabaseTime))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS")
	for _, t := range u.Tables {
		fmt.Fprintf(tw, "%s\t%d\n", t.Name, t.Rows)
	}
	return tw.Flush()
}

func lastRequest(a tenants.TenantActivity) string {
	if a.LastRequest.IsZero() {
		return "-"
	}
	return a.LastRequest.UTC().Format(time.RFC3339)
}

func formatDBTime(d time.Duration) string {
	return fmt.Sprintf("%.3f s", d.Seconds())
}

package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/tenants"
)

// tenantsSetStateCmd is `strictmt tenants set-state`.
func (e *env) tenantsSetStateCmd() *cobra.Command {
	var reason, until string
	var purgeAfter time.Duration
	cmd := &cobra.Command{
		Use:   "set-state SCHEMA active|read_only|suspended",
		Short: "Set a tenant's state: read_only refuses its writes (maintenance), suspended its API; data kept",
		Example: `  strictmt tenants set-state tenant_a read_only --reason "moving to node 2" --until 2h
  strictmt tenants set-state tenant_a suspended --reason "unpaid since March" --purge-after 720h
  strictmt tenants set-state tenant_a active`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			c := tenants.StateChange{State: args[1], Reason: reason}
			if until != "" {
				t, err := parseWhen(until, now)
				if err != nil {
					return fmt.Errorf("--until: %w", err)
				}
				c.Until = &t
			}
			if cmd.Flags().Changed("purge-after") {
				t := now.Add(purgeAfter)
				c.PurgeAfter = &t
			}
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			t, err := a.Tenants.SetState(cmd.Context(), args[0], c)
			if err != nil {
				return err
			}
			v := tenants.ViewOf(t)
			line := fmt.Sprintf("tenant %s is %s", v.SchemaName, v.State)
			if v.StateUntil != nil {
				line += " until " + v.StateUntil.Format(time.RFC3339)
			}
			if v.PurgeAfter != nil {
				line += ", to be purged from " + v.PurgeAfter.Format(time.RFC3339)
			}
			fmt.Fprintln(e.stdout, line)
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", fmt.Sprintf("why, for operators only (at most %d characters)", models.MaxStateReasonLen))
	cmd.Flags().StringVar(&until, "until", "", "end the state then: an RFC 3339 time or a duration from now (2h)")
	cmd.Flags().DurationVar(&purgeAfter, "purge-after", 0, "suspended only: `tenants purge` may delete the tenant this long from now (720h)")
	return cmd
}

// parseWhen reads an RFC 3339 time, or a duration from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2025-03-01T12:00:00Z) nor a duration (2h)", s)
}

// tenantsPurgeCmd is `strictmt tenants purge`.
func (e *env) tenantsPurgeCmd() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "purge [SCHEMA...]",
		Short: "Delete the suspended tenants past their purge date (schema, role, catalog rows), and list them",
		Long: "Deletes exactly the tenants that are suspended and past their purge_after (see set-state --purge-after),\n" +
			"each with its schema, role and catalog rows, and lists them. Named schemas limit the purge to them,\n" +
			"and each must be due, or nothing is deleted.",
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			list, err := a.Tenants.Purge(cmd.Context(), args, dryRun)
			verb := "purged"
			if dryRun {
				verb = "would purge"
			}
			for _, p := range list {
				fmt.Fprintf(e.stdout, "%s tenant %s (%s), due since %s\n", verb, p.Schema, p.Name, p.PurgeAfter.UTC().Format(time.RFC3339))
			}
			if err != nil {
				return err
			}
			if len(list) == 0 {
				fmt.Fprintln(e.stdout, "no tenant is due for a purge")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list the tenants a purge would delete, delete nothing")
	return cmd
}

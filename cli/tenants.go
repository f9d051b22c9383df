package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/strictmt/strictmt/models"
	"github.com/strictmt/strictmt/tenants"
)

func (e *env) tenantsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenants", Short: "Create, list, delete, export, restore, clone tenants and show their usage"}
	cmd.AddCommand(e.tenantsCreateCmd(), e.tenantsListCmd(), e.tenantsDeleteCmd(), e.tenantsSetStateCmd(), e.tenantsPurgeCmd(), e.placementCmd(), e.moveCmd(),
		e.tenantsExportCmd(), e.tenantsRestoreCmd(), e.tenantsCloneCmd(), e.usageCmd())
	return cmd
}

// tenantsCreateCmd is `strictmt tenants create`.
func (e *env) tenantsCreateCmd() *cobra.Command {
	var p tenants.CreateParams
	var paidUntil string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a tenant: catalog rows, schema, tables and role, all or nothing",
		Example: `  strictmt tenants create --name "Tenant A" --schema tenant_a --domain tenant1.localhost \
      --domain more.example.com --paid-until 2024-12-31 --on-trial`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if paidUntil != "" {
				d, err := models.ParseDate(paidUntil)
				if err != nil {
					return fmt.Errorf("--paid-until: %w", err)
				}
				p.PaidUntil = &d
			}
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			c, err := a.Tenants.CreateTenant(cmd.Context(), p)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "created tenant %s (%s) with domains %s\n", c.SchemaName, c.Name, strings.Join(domainNames(c), ", "))
			return nil
		},
	}
	create.Flags().StringVar(&p.Name, "name", "", "display name (required)")
	create.Flags().StringVar(&p.SchemaName, "schema", "", "schema name: lower-case letters, digits, _ (required)")
	create.Flags().StringArrayVar(&p.Domains, "domain", nil, "host name served by the tenant; repeat for more, the first is primary (required)")
	create.Flags().StringVar(&paidUntil, "paid-until", "", "date YYYY-MM-DD")
	create.Flags().BoolVar(&p.OnTrial, "on-trial", false, "the tenant is on trial")
	for _, f := range []string{"name", "schema", "domain"} {
		_ = create.MarkFlagRequired(f)
	}
	return create
}

// tenantsListCmd is `strictmt tenants list`.
func (e *env) tenantsListCmd() *cobra.Command {
	var asJSON bool
	var search string
	list := &cobra.Command{
		Use:   "list",
		Short: "List tenants",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			if asJSON {
				// The admin API's list, usage summary included: one shape
				// for both.
				list, _, err := a.Tenants.ListTenantsWithUsage(cmd.Context(), tenants.ListParams{Search: search}, nil)
				if err != nil {
					return err
				}
				out := make([]tenants.ListedView, len(list))
				for i := range list {
					out[i] = tenants.ListedViewOf(&list[i])
				}
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			list, _, err := a.Tenants.ListTenants(cmd.Context(), tenants.ListParams{Search: search})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SCHEMA\tNAME\tDOMAINS\tPAID UNTIL\tON TRIAL\tCREATED")
			for i := range list {
				c := &list[i]
				paid := "-"
				if c.PaidUntil != nil {
					paid = c.PaidUntil.String()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", c.SchemaName, c.Name, strings.Join(domainNames(c), ","), paid, c.OnTrial, c.CreatedOn)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.Flags().StringVar(&search, "search", "", "only tenants whose name or schema contains this")
	return list
}

// tenantsDeleteCmd is `strictmt tenants delete`.
func (e *env) tenantsDeleteCmd() *cobra.Command {
	var dropSchema, yes bool
	del := &cobra.Command{
		Use:   "delete SCHEMA",
		Short: "Delete a tenant's catalog rows and role; with --drop-schema also its schema and data",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				return fmt.Errorf("refusing to delete tenant %q without --yes", args[0])
			}
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			if err := a.Tenants.DeleteTenant(cmd.Context(), args[0], dropSchema); err != nil {
				return err
			}
			what := "catalog rows and role; schema kept"
			if dropSchema {
				what = "catalog rows, role and schema"
			}
			fmt.Fprintf(e.stdout, "deleted tenant %s (%s)\n", args[0], what)
			return nil
		},
	}
	del.Flags().BoolVar(&dropSchema, "drop-schema", false, "also drop the schema and all its data")
	del.Flags().BoolVar(&yes, "yes", false, "confirm the deletion")
	return del
}

func domainNames(c *models.Tenant) []string {
	out := make([]string, len(c.Domains))
	for i, d := range c.Domains {
		out[i] = d.Domain
	}
	return out
}

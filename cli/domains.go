package cli

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/strictmt/strictmt/tenants"
)

// domainsCmd is `strictmt domains`: add, list and remove.
func (e *env) domainsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "domains", Short: "Add, list and remove tenant domains"}
	cmd.AddCommand(e.domainsAddCmd(), e.domainsListCmd(), e.domainsRemoveCmd())
	return cmd
}

// domainsAddCmd is `strictmt domains add SCHEMA DOMAIN [--primary]`.
func (e *env) domainsAddCmd() *cobra.Command {
	var primary bool
	add := &cobra.Command{
		Use:   "add SCHEMA DOMAIN",
		Short: "Add a domain to a tenant",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			d, err := a.Tenants.AddDomain(cmd.Context(), args[0], args[1], primary)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "added domain %s to tenant %s (primary: %t)\n", d.Domain, args[0], d.IsPrimary)
			return nil
		},
	}
	add.Flags().BoolVar(&primary, "primary", false, "make it the tenant's primary domain")
	return add
}

// domainsListCmd is `strictmt domains list [SCHEMA] [--json]`.
func (e *env) domainsListCmd() *cobra.Command {
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [SCHEMA]",
		Short: "List domains, of one tenant or all",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			var rows []tenants.TenantDomainView
			if len(args) == 1 {
				t, err := a.Tenants.FindTenant(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				rows = tenants.DomainsOf(*t)
			} else {
				all, _, err := a.Tenants.ListTenants(cmd.Context(), tenants.ListParams{})
				if err != nil {
					return err
				}
				rows = tenants.DomainsOf(all...)
			}
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(rows)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DOMAIN\tTENANT\tPRIMARY")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%s\t%t\n", r.Domain, r.Tenant, r.IsPrimary)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return list
}

// domainsRemoveCmd is `strictmt domains remove DOMAIN`.
func (e *env) domainsRemoveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "remove DOMAIN",
		Short: "Remove a domain (not a tenant's last one)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			if err := a.Tenants.RemoveDomain(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "removed domain %s\n", tenants.NormalizeHost(args[0]))
			return nil
		},
	}
}

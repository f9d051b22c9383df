package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/tenants"
)

func (e *env) placementCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "placement [SCHEMA]",
		Short: "Show the Citus node each tenant schema is on, and its size",
		Long: `Show the Citus node each tenant schema (or SCHEMA alone) is on, and its
size, read from Citus's catalog in one query. A schema Citus does not
distribute is listed without a node. On plain PostgreSQL it prints one line
saying so and exits 0.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			schema := ""
			if len(args) == 1 {
				schema = args[0]
				if err := tenants.ValidateSchemaName(schema); err != nil {
					return err
				}
			}
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			ps, err := tenants.Placements(cmd.Context(), a.DirectSQL, schema)
			if errors.Is(err, tenants.ErrNotCitus) {
				// Not a failure: the answer to "where is each tenant?"
				// is "here".
				if asJSON {
					return printJSON(e.stdout, map[string]string{"detail": apperr.Message(err)})
				}
				fmt.Fprintln(e.stdout, apperr.Message(err))
				return nil
			}
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]tenants.PlacementView, len(ps))
				for i := range ps {
					out[i] = ps[i].View()
				}
				return printJSON(e.stdout, out)
			}
			return printPlacements(e.stdout, ps)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (on plain PostgreSQL: {\"detail\": ...})")
	return cmd
}

func (e *env) moveCmd() *cobra.Command {
	var node string
	var blockWrites bool
	cmd := &cobra.Command{
		Use:   "move SCHEMA --node HOST:PORT",
		Short: "Move a tenant schema to another Citus node (citus_schema_move)",
		Long: `Move a tenant schema to another Citus node with citus_schema_move, then
print where it is. The node is HOST:PORT as Citus's pg_dist_node names it
(see 'strictmt tenants placement'); it must be an active primary node that
takes shards. By default writes to the tenant go on during the move
(logical replication, which needs a primary key or replica identity on
every table); --block-writes makes them wait until the move ends instead.
Progress goes to stderr: a bar on a terminal, a line every two seconds
otherwise. Interrupting the command cancels the move; the schema stays
where it was.`,
		Example: `  strictmt tenants move acme --node 10.0.0.7:5432`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Both are checked again by MoveTenant; here they are checked
			// before the app opens the database.
			if err := tenants.ValidateSchemaName(args[0]); err != nil {
				return err
			}
			if _, _, err := tenants.ParseNode(node); err != nil {
				return err
			}
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			bar := &moveProgress{w: e.stderr, tty: isTerminal(e.stderr)}
			start := time.Now()
			p, err := tenants.MoveTenant(cmd.Context(), a.DirectSQL, args[0], node, blockWrites, bar.update)
			bar.finish()
			if err != nil {
				return err
			}
			if p.Moved {
				fmt.Fprintf(e.stdout, "moved tenant %s to %s in %s\n", p.Schema, p.Node, time.Since(start).Round(time.Second))
			} else {
				fmt.Fprintf(e.stdout, "tenant %s is on %s already; nothing was moved\n", p.Schema, p.Node)
			}
			return printPlacements(e.stdout, []tenants.Placement{*p})
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "target node, HOST:PORT as in pg_dist_node (required)")
	cmd.Flags().BoolVar(&blockWrites, "block-writes", false, "block writes to the tenant during the move instead of replicating them")
	_ = cmd.MarkFlagRequired("node")
	return cmd
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printPlacements(w io.Writer, ps []tenants.Placement) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEMA\tNODE\tSIZE\tNOTE")
	for _, p := range ps {
		node, size := "-", "-"
		if p.Node != "" {
			node, size = p.Node, formatBytes(p.SizeBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Schema, node, size, p.Note())
	}
	return tw.Flush()
}

// formatBytes writes n as pg_size_pretty does: bytes up to 10 kB, then
// the largest unit that leaves at least 10.
func formatBytes(n int64) string {
	units := []string{"bytes", "kB", "MB", "GB", "TB", "PB"}
	v, i := float64(n), 0
	for v >= 10*1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.0f %s", v, units[i])
}

// moveProgress shows a running move: a bar of the bytes on the target on
// a terminal, otherwise a line at most every two seconds.
type moveProgress struct {
	w    io.Writer
	tty  bool
	bar  *progressbar.ProgressBar
	last time.Time
}

func (m *moveProgress) update(p tenants.MoveProgress) {
	status := p.Status
	if status == "" {
		status = "starting"
	}
	if m.tty && p.Bytes > 0 {
		if m.bar == nil {
			m.bar = progressbar.NewOptions64(p.Bytes,
				progressbar.OptionSetWriter(m.w),
				progressbar.OptionShowBytes(true),
				progressbar.OptionThrottle(100*time.Millisecond),
			)
		}
		m.bar.Describe(fmt.Sprintf("moving %s to %s: %s", p.Schema, p.To, status))
		_ = m.bar.Set64(min(p.CopiedBytes, p.Bytes))
		return
	}
	if time.Since(m.last) >= 2*time.Second {
		m.last = time.Now()
		fmt.Fprintf(m.w, "move: %s %s -> %s: %s, %s of %s on the target, %d/%d shards moved, %s\n",
			p.Schema, p.From, p.To, status, formatBytes(p.CopiedBytes), formatBytes(p.Bytes), p.ShardsMoved, p.Shards, p.Elapsed.Round(time.Second))
	}
}

func (m *moveProgress) finish() {
	if m.bar != nil {
		_ = m.bar.Finish()
		fmt.Fprintln(m.w)
	}
}

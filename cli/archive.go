package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/strictmt/strictmt/archive"
	"github.com/strictmt/strictmt/tenants"
)

// tenantsExportCmd is `strictmt tenants export SCHEMA -o FILE`.
func (e *env) tenantsExportCmd() *cobra.Command {
	var out string
	var force bool
	cmd := &cobra.Command{
		Use:   "export SCHEMA -o FILE",
		Short: "Export a tenant to an archive: catalog row, domains, users and every row",
		Long: `Export the tenant SCHEMA to an archive (a gzip'd tar, docs/ARCHIVES.md):
its catalog row, domains, migration version and every row of its tables, read
in one snapshot while the tenant keeps serving. The archive holds the users'
password hashes: keep it as a secret.

The archive is written to a temporary file next to FILE, created readable by
its owner only, and renamed to FILE once whole: a failed export leaves
nothing at FILE. An existing FILE is kept unless --force. With -o - the
archive goes to stdout (not to a terminal) and the report to stderr.
Progress goes to stderr: a bar over the rows on a terminal, nothing
otherwise.`,
		Example: `  strictmt tenants export tenant_a -o tenant_a.tar.gz
  strictmt tenants export tenant_a -o - | ssh backup 'cat > tenant_a.tar.gz'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.export(cmd, args[0], out, force)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "archive file to write, - for stdout (required)")
	cmd.Flags().BoolVar(&force, "force", false, "overwrite FILE if it exists")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

// export runs `strictmt tenants export`.
func (e *env) export(cmd *cobra.Command, schema, path string, force bool) error {
	if path == "-" {
		if isTerminal(e.stdout) {
			return errors.New("refusing to write an archive to a terminal; use -o FILE or a pipe")
		}
		res, err := e.exportTo(cmd, schema, e.stdout)
		if err != nil {
			return err
		}
		res.print(e.stderr, schema, "stdout")
		return nil
	}
	out, err := createOutput(path, force)
	if err != nil {
		return err
	}
	res, err := e.exportTo(cmd, schema, out.tmp)
	if err != nil {
		out.abort()
		return err
	}
	if err := out.commit(); err != nil {
		return err
	}
	res.print(e.stdout, schema, path)
	return nil
}

// exported is what an export wrote.
type exported struct {
	sums  *archive.Checksums
	bytes int64
}

func (x *exported) print(w io.Writer, schema, to string) {
	var rows int64
	for _, t := range x.sums.Tables {
		rows += t.Rows
	}
	fmt.Fprintf(w, "exported tenant %s: %d rows in %d tables, %d bytes to %s (sha256 %s)\n",
		schema, rows, len(x.sums.Tables), x.bytes, to, x.sums.SHA256)
}

// exportTo writes the archive of the tenant schema to dst.
func (e *env) exportTo(cmd *cobra.Command, schema string, dst io.Writer) (*exported, error) {
	a, err := e.open(cmd)
	if err != nil {
		return nil, err
	}
	defer a.Close(cmd.Context())
	// gzip hands its output on a few hundred bytes at a time.
	cw := &countingWriter{w: dst}
	bw := bufio.NewWriterSize(cw, 256<<10)
	bar := newRowsBar(e.stderr, isTerminal(e.stderr), "exporting "+schema)
	sums, err := a.Archives.Export(cmd.Context(), schema, func(*archive.Manifest) (io.Writer, error) { return bw, nil },
		archive.ExportOptions{Progress: bar.update})
	if err == nil {
		err = bw.Flush()
	}
	bar.finish(err == nil)
	if err != nil {
		return nil, err
	}
	return &exported{sums: sums, bytes: cw.n}, nil
}

// tenantsRestoreCmd is `strictmt tenants restore FILE`.
func (e *env) tenantsRestoreCmd() *cobra.Command {
	var p archive.RestoreParams
	cmd := &cobra.Command{
		Use:   "restore FILE [--schema NEW] [--domain HOST]... [--name NAME]",
		Short: "Create a tenant from an archive made by 'tenants export'",
		Long: `Create a tenant from the archive FILE (- for stdin) made by 'strictmt tenants
export': its catalog row (name, paid_until, on_trial), domains, users with
their password hashes and every row with its id, in one transaction. The
schema name, name and domains are the archive's unless --schema, --name or
--domain (repeat it; the first is primary) say otherwise. An archive made at
an older tenant migration version is restored at that version, then
migrated forward; one from a newer strictmt is refused. The archive is
checked as it is read; a damaged one leaves nothing behind.

The tenant gets a new catalog id, so every token issued before the export
is refused: users log in again. Progress goes to stderr: a bar over the
file's bytes on a terminal (not for stdin), nothing otherwise.`,
		Example: `  strictmt tenants restore tenant_a.tar.gz
  strictmt tenants restore tenant_a.tar.gz --schema tenant_a_copy --domain copy.example.com --name "Tenant A (copy)"
  ssh backup 'cat tenant_a.tar.gz' | strictmt tenants restore -`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.restore(cmd, args[0], p)
		},
	}
	cmd.Flags().StringVar(&p.Schema, "schema", "", "schema name of the new tenant (default: the archive's)")
	cmd.Flags().StringArrayVar(&p.Domains, "domain", nil, "host name served by the new tenant; repeat for more, the first is primary (default: the archive's)")
	cmd.Flags().StringVar(&p.Name, "name", "", "display name of the new tenant (default: the archive's)")
	return cmd
}

// restore runs `strictmt tenants restore`.
func (e *env) restore(cmd *cobra.Command, path string, p archive.RestoreParams) error {
	latest, err := latestTenantVersion()
	if err != nil {
		return err
	}
	in, name := cmd.InOrStdin(), "stdin"
	var size int64
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return fmt.Errorf("%s is a directory", path)
		}
		if fi.Mode().IsRegular() {
			size = fi.Size()
		}
		in, name = f, path
	}
	a, err := e.open(cmd)
	if err != nil {
		return err
	}
	defer a.Close(cmd.Context())

	var bar *progressbar.ProgressBar
	if size > 0 && isTerminal(e.stderr) {
		bar = progressbar.NewOptions64(size,
			progressbar.OptionSetWriter(e.stderr),
			progressbar.OptionSetDescription("restoring "+name),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
		r := progressbar.NewReader(in, bar)
		in = &r
	}
	res, err := a.Archives.Restore(cmd.Context(), in, p)
	if bar != nil {
		finishBar(e.stderr, bar, err == nil)
	}
	if err != nil {
		return err
	}
	migrated := ""
	if res.Version != latest {
		migrated = fmt.Sprintf(" (migrated from version %d)", res.Version)
	}
	c := res.Tenant
	fmt.Fprintf(e.stdout, "restored tenant %s (%s) with domains %s from %s: %d rows%s\n",
		c.SchemaName, c.Name, strings.Join(domainNames(c), ", "), name, totalRows(res.Tables), migrated)
	return nil
}

// tenantsCloneCmd is `strictmt tenants clone SRC NEW`.
func (e *env) tenantsCloneCmd() *cobra.Command {
	var p archive.CloneParams
	cmd := &cobra.Command{
		Use:   "clone SRC NEW --domain HOST [--domain HOST]... [--name NAME] [--without-users]",
		Short: "Copy a tenant into a new one, inside the database",
		Long: `Create the tenant NEW as 'tenants create' does and copy every row of the
tenant SRC into it, with its ids, in one transaction and one snapshot of SRC,
which keeps serving. The new tenant takes SRC's paid_until and on_trial, and
its name unless --name. Refresh-token records are not copied.
--without-users leaves the users out: the todos and projects they owned are
kept without an owner, and the tasks assigned to them unassigned. SRC must
be at the latest tenant migration version (run 'strictmt migrate' first).`,
		Example: `  strictmt tenants clone tenant_a tenant_a_staging --domain staging-a.example.com --name "Tenant A (staging)"
  strictmt tenants clone tenant_a tenant_a_demo --domain demo-a.example.com --without-users`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			p.Source, p.Schema = args[0], args[1]
			a, err := e.open(cmd)
			if err != nil {
				return err
			}
			defer a.Close(cmd.Context())
			res, err := a.Archives.Clone(cmd.Context(), p)
			if err != nil {
				return err
			}
			c := res.Tenant
			fmt.Fprintf(e.stdout, "cloned tenant %s into %s (%s) with domains %s: %d rows\n",
				p.Source, c.SchemaName, c.Name, strings.Join(domainNames(c), ", "), totalRows(res.Tables))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&p.Domains, "domain", nil, "host name served by the new tenant; repeat for more, the first is primary (required)")
	cmd.Flags().StringVar(&p.Name, "name", "", "display name of the new tenant (default: SRC's)")
	cmd.Flags().BoolVar(&p.WithoutUsers, "without-users", false, "leave the users out (their rows are kept, ownerless)")
	_ = cmd.MarkFlagRequired("domain")
	return cmd
}

func totalRows(tables []archive.TableRows) int64 {
	var n int64
	for _, t := range tables {
		n += t.Rows
	}
	return n
}

// latestTenantVersion is the version of the last tenant migration: that
// of every tenant this strictmt creates or migrates.
func latestTenantVersion() (int64, error) {
	ms, err := tenants.TenantMigrations()
	if err != nil {
		return 0, err
	}
	var v int64
	for _, m := range ms {
		v = max(v, m.Version)
	}
	return v, nil
}

// outputFile is an archive on its way to path: a temporary file in
// path's directory until commit puts it at path.
type outputFile struct {
	path  string
	force bool
	tmp   *os.File
}

// createOutput starts the file path, refusing an existing one unless
// force, and a directory even then.
func createOutput(path string, force bool) (*outputFile, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return nil, fmt.Errorf("%s is a directory", path)
	}
	if !force {
		if err := notExists(path); err != nil {
			return nil, err
		}
	}
	// Owner-only, as os.CreateTemp makes it: an archive holds password
	// hashes.
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	var pe *fs.PathError
	if errors.As(err, &pe) {
		// Said of path: the temporary name is no business of the user's.
		return nil, &fs.PathError{Op: "create", Path: path, Err: pe.Err}
	}
	if err != nil {
		return nil, err
	}
	return &outputFile{path: path, force: force, tmp: tmp}, nil
}

// notExists returns the refusal to overwrite path when something is
// there.
func notExists(path string) error {
	_, err := os.Lstat(path)
	switch {
	case err == nil:
		return fmt.Errorf("refusing to overwrite %s without --force", path)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return err
	}
}

// commit makes the whole temporary file path's.
func (o *outputFile) commit() error {
	if err := o.tmp.Sync(); err != nil {
		o.abort()
		return err
	}
	if err := o.tmp.Close(); err != nil {
		o.abort()
		return err
	}
	if o.force {
		if err := os.Rename(o.tmp.Name(), o.path); err != nil {
			o.abort()
			return err
		}
		return nil
	}
	// A link is never made over an existing file, even one that appeared
	// during the export; a file system without hard links gets the check
	// and a rename.
	if err := os.Link(o.tmp.Name(), o.path); err != nil {
		err = notExists(o.path)
		if err == nil {
			err = os.Rename(o.tmp.Name(), o.path)
		}
		if err != nil {
			o.abort()
		}
		return err
	}
	// path holds the archive now; the temporary name is only a second
	// link to it, whose removal cannot fail the export.
	_ = os.Remove(o.tmp.Name())
	return nil
}

// abort removes the temporary file.
func (o *outputFile) abort() {
	_ = o.tmp.Close()
	_ = os.Remove(o.tmp.Name())
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// rowsBar shows an export on a terminal: a bar over the rows, made at the
// first report, which brings the total. Off a terminal it shows nothing:
// the command's report says what was done.
type rowsBar struct {
	w    io.Writer
	tty  bool
	desc string
	bar  *progressbar.ProgressBar
}

func newRowsBar(w io.Writer, tty bool, desc string) *rowsBar {
	return &rowsBar{w: w, tty: tty, desc: desc}
}

func (b *rowsBar) update(done, total int64) {
	if !b.tty || total <= 0 {
		return
	}
	if b.bar == nil {
		b.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(b.w),
			progressbar.OptionSetDescription(b.desc),
			progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("rows"),
			progressbar.OptionShowIts(),
			progressbar.OptionThrottle(100*time.Millisecond),
		)
	}
	_ = b.bar.Set64(done)
}

func (b *rowsBar) finish(ok bool) {
	if b.bar != nil {
		finishBar(b.w, b.bar, ok)
	}
}

// finishBar ends bar: full when its work is done, as it stands when it
// failed (the error follows on a line of its own).
func finishBar(w io.Writer, bar *progressbar.ProgressBar, ok bool) {
	if ok {
		_ = bar.Finish()
	} else {
		_ = bar.Exit()
	}
	fmt.Fprintln(w)
}

// Package archive takes one tenant out of strictmt and back in: an export
// writes a self-describing archive of the tenant (its catalog row,
// domains, migration version and every row of its tables, read in one
// snapshot), a restore creates a tenant from one in a single transaction,
// and a clone copies a tenant into a new one inside the database.
//
// The archive format (version 1) is a gzip-compressed tar stream of, in
// this order:
//
//   - manifest.json: the Manifest (format, format version, the tenant's
//     catalog row and domains, its tenant migration version, and each
//     table's columns, with their types, and rows);
//   - tables/TABLE/NNNNNN.copy: each table's rows as one PostgreSQL binary
//     COPY stream (FORMAT binary, the manifest's columns in order), cut
//     into parts of at most 4 MiB numbered from 000000, the tables in the
//     manifest's order;
//   - checksums.json: the Checksums (each table's rows, bytes and
//     SHA-256, the manifest's SHA-256, and the SHA-256 of the whole: the
//     manifest's bytes followed by every table's).
//
// Parts keep an export streamed: a tar entry's size comes before its
// bytes, and a part is the most an export holds in memory. gzip, from
// Go's standard library, is read by every tar; its CRC-32 catches damage
// before a checksum does. docs/ARCHIVES.md describes the format for
// those who read archives without strictmt.
package archive

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"github.com/strictmt/strictmt/apperr"
)

// Format names the format in a manifest; FormatVersion is the version
// this strictmt writes and the only one it reads.
const (
	Format        = "strictmt-tenant-archive"
	FormatVersion = 1
)

// The names of an archive's entries, and its limits.
const (
	manifestName  = "manifest.json"
	checksumsName = "checksums.json"
	partBytes     = 4 << 20 // the most bytes of a table in one entry
	maxJSONBytes  = 1 << 20 // the largest manifest or checksums entry read
)

// partName is the entry name of part n of table's rows.
func partName(table string, n int) string { return fmt.Sprintf("tables/%s/%06d.copy", table, n) }

// Manifest is an archive's first entry: what it holds.
type Manifest struct {
	Format        string    `json:"format"`
	FormatVersion int       `json:"format_version"`
	CreatedAt     time.Time `json:"created_at"`
	// Tenant is the tenant's catalog row as it was exported.
	Tenant  Tenant   `json:"tenant"`
	Domains []Domain `json:"domains"`
	// MigrationVersion is the tenant migration version of the schema:
	// the tables and columns below are those it has at that version.
	MigrationVersion int64   `json:"migration_version"`
	Tables           []Table `json:"tables"`
}

// Tenant is a tenant's catalog row in a manifest. ID, the catalog id in
// the exporting database, is for the record: a restored tenant gets an
// id of its own, so tokens issued before the export are refused by it.
type Tenant struct {
	ID         int64     `json:"id"`
	Name       string    `json:"name"`
	SchemaName string    `json:"schema_name"`
	PaidUntil  *string   `json:"paid_until"` // YYYY-MM-DD
	OnTrial    bool      `json:"on_trial"`
	CreatedOn  string    `json:"created_on"` // YYYY-MM-DD
	CreatedAt  time.Time `json:"created_at"`
}

// Domain is one of the tenant's domains in a manifest; the primary comes
// first.
type Domain struct {
	Domain    string `json:"domain"`
	IsPrimary bool   `json:"is_primary"`
}

// Table is one table of the tenant's schema in a manifest: its columns,
// in the order of the COPY data, and its number of rows.
type Table struct {
	Name    string   `json:"name"`
	Columns []Column `json:"columns"`
	Rows    int64    `json:"rows"`
}

// Column is a column of a table: its name and its type as PostgreSQL's
// format_type prints it.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

func (t Table) columnNames() []string {
	out := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		out[i] = c.Name
	}
	return out
}

// Checksums is an archive's last entry.
type Checksums struct {
	Tables         []TableSum `json:"tables"`
	ManifestSHA256 string     `json:"manifest_sha256"`
	// SHA256 is that of the manifest's bytes followed by every table's
	// COPY data, in the manifest's order.
	SHA256 string `json:"sha256"`
}

// TableSum is what checksums.json says of one table's data.
type TableSum struct {
	Name   string `json:"name"`
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	Parts  int    `json:"parts"`
	SHA256 string `json:"sha256"`
}

// damaged is the error of an archive that cannot be read or does not
// check out.
func damaged(format string, args ...any) error {
	return apperr.Errorf(apperr.EINVALID, "The archive is damaged or incomplete: "+format+".", args...)
}

// refused is the error of an archive that is whole but cannot be
// restored here.
func refused(format string, args ...any) error {
	return apperr.Errorf(apperr.EINVALID, "The archive cannot be restored: "+format+".", args...)
}

func hexSum(h hash.Hash) string { return hex.EncodeToString(h.Sum(nil)) }

// writer writes an archive: the manifest, then each table's data, then
// the checksums.
type writer struct {
	gz      *gzip.Writer
	tw      *tar.Writer
	modTime time.Time
	whole   hash.Hash
	sums    Checksums

	buf   []byte // the current part
	table *TableSum
	sum   hash.Hash
}

// newWriter starts an archive on w, compressed at gzip's fastest level:
// an export's time is Go's compression more than PostgreSQL's COPY, and
// level 1 already makes an archive 4.3 times smaller than its COPY data
// (docs/BENCHMARKS.md, "Tenant copy").
func newWriter(w io.Writer, modTime time.Time) *writer {
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed) // the level is valid
	return &writer{gz: gz, tw: tar.NewWriter(gz), modTime: modTime, whole: sha256.New()}
}

// entry writes one tar entry of data.
func (w *writer) entry(name string, data []byte) error {
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: w.modTime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := w.tw.Write(data)
	return err
}

// manifest writes m as the first entry.
func (w *writer) manifest(m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	w.whole.Write(b)
	sum := sha256.Sum256(b)
	w.sums.ManifestSHA256 = hex.EncodeToString(sum[:])
	return w.entry(manifestName, b)
}

// beginTable starts the data of table; Write takes it, endTable ends it.
func (w *writer) beginTable(table string) {
	w.sums.Tables = append(w.sums.Tables, TableSum{Name: table})
	w.table = &w.sums.Tables[len(w.sums.Tables)-1]
	w.sum = sha256.New()
	if w.buf == nil {
		w.buf = make([]byte, 0, partBytes)
	}
}

// Write adds p to the current table's data, writing a part each time
// partBytes are in.
func (w *writer) Write(p []byte) (int, error) {
	n := len(p)
	w.sum.Write(p)
	w.whole.Write(p)
	w.table.Bytes += int64(n)
	for len(p) > 0 {
		k := min(len(p), partBytes-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == partBytes {
			if err := w.flushPart(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (w *writer) flushPart() error {
	if err := w.entry(partName(w.table.Name, w.table.Parts), w.buf); err != nil {
		return err
	}
	w.table.Parts++
	w.buf = w.buf[:0]
	return nil
}

// endTable ends the current table's data, which held rows rows.
func (w *writer) endTable(rows int64) error {
	if len(w.buf) > 0 || w.table.Parts == 0 {
		if err := w.flushPart(); err != nil {
			return err
		}
	}
	w.table.Rows = rows
	w.table.SHA256 = hexSum(w.sum)
	return nil
}

// close writes the checksums and ends the tar and gzip streams.
func (w *writer) close() (*Checksums, error) {
	w.sums.SHA256 = hexSum(w.whole)
	b, err := json.MarshalIndent(&w.sums, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := w.entry(checksumsName, b); err != nil {
		return nil, err
	}
	if err := w.tw.Close(); err != nil {
		return nil, err
	}
	if err := w.gz.Close(); err != nil {
		return nil, err
	}
	return &w.sums, nil
}

// reader reads an archive entry by entry, checking as it goes what can
// be checked; check verifies the rest at the end.
type reader struct {
	src   *source
	br    *bufio.Reader
	gz    *gzip.Reader
	tr    *tar.Reader
	hdr   *tar.Header // the current entry; nil after the last
	whole hash.Hash

	manifestSum string
	tables      []TableSum // as read
}

// newReader starts reading an archive from r and reads its first
// entry's header.
func newReader(r io.Reader) (*reader, error) {
	src := &source{r: r}
	br := bufio.NewReaderSize(src, 64<<10)
	gz, err := gzip.NewReader(br)
	if err != nil {
		if src.err != nil {
			return nil, src.err
		}
		if errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, apperr.Errorf(apperr.EINVALID, "The file is not a strictmt tenant archive (not gzip data).")
		}
		return nil, damaged("%v", err)
	}
	gz.Multistream(false)
	rd := &reader{src: src, br: br, gz: gz, tr: tar.NewReader(gz), whole: sha256.New()}
	if err := rd.next(); err != nil {
		return nil, err
	}
	return rd, nil
}

// next moves to the next entry.
func (rd *reader) next() error {
	hdr, err := rd.tr.Next()
	switch {
	case errors.Is(err, io.EOF):
		rd.hdr = nil
		return nil
	case err != nil:
		return rd.readError(err)
	case hdr.Typeflag != tar.TypeReg:
		return damaged("the entry %q is not a file", hdr.Name)
	}
	rd.hdr = hdr
	return nil
}

// source is what an archive is read from; it keeps the first error of
// its reads, which is the source's (a body over its size limit, a
// connection lost) rather than the archive's.
type source struct {
	r   io.Reader
	err error
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && s.err == nil {
		s.err = fmt.Errorf("reading the archive: %w", err)
	}
	return n, err
}

// readError is the error of a failed read of the archive's stream: the
// source's own, or the damage the stream shows.
func (rd *reader) readError(err error) error {
	if rd.src.err != nil {
		return rd.src.err
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return damaged("it ends early")
	}
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return err
	}
	return damaged("%v", err)
}

// readJSON reads the current entry, which must be name, into v and moves
// to the next one. It returns the entry's bytes.
func (rd *reader) readJSON(name string, v any) ([]byte, error) {
	if rd.hdr == nil || rd.hdr.Name != name {
		got := "its end"
		if rd.hdr != nil {
			got = fmt.Sprintf("%q", rd.hdr.Name)
		}
		return nil, damaged("%s was expected, not %s", name, got)
	}
	if rd.hdr.Size > maxJSONBytes {
		return nil, damaged("%s is larger than %d bytes", name, maxJSONBytes)
	}
	b, err := io.ReadAll(rd.tr)
	if err != nil {
		return nil, rd.readError(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return nil, damaged("%s is not valid: %v", name, err)
	}
	if err := rd.next(); err != nil {
		return nil, err
	}
	return b, nil
}

// manifest reads the archive's manifest.
func (rd *reader) manifest() (*Manifest, error) {
	if rd.hdr == nil || rd.hdr.Name != manifestName {
		return nil, apperr.Errorf(apperr.EINVALID, "The file is not a strictmt tenant archive (it does not start with %s).", manifestName)
	}
	var m Manifest
	b, err := rd.readJSON(manifestName, &m)
	if err != nil {
		return nil, err
	}
	rd.whole.Write(b)
	sum := sha256.Sum256(b)
	rd.manifestSum = hex.EncodeToString(sum[:])
	if m.Format != Format {
		return nil, apperr.Errorf(apperr.EINVALID, "The file is not a strictmt tenant archive (its manifest's format is %q).", m.Format)
	}
	if m.FormatVersion != FormatVersion {
		return nil, refused("its format version is %d and this strictmt reads version %d", m.FormatVersion, FormatVersion)
	}
	return &m, nil
}

// table returns the reader of table's data: its parts in order, hashed
// as they are read. It ends at the first entry that is not its next
// part.
func (rd *reader) table(table string) *tableReader {
	rd.tables = append(rd.tables, TableSum{Name: table})
	return &tableReader{rd: rd, sum: &rd.tables[len(rd.tables)-1], h: sha256.New()}
}

type tableReader struct {
	rd  *reader
	sum *TableSum
	h   hash.Hash
	in  bool // inside a part
	eof bool
	err error // the first error of the archive's stream
}

func (t *tableReader) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	n, err := t.read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		t.err = err
	}
	return n, err
}

func (t *tableReader) read(p []byte) (int, error) {
	for !t.eof {
		if !t.in {
			if t.rd.hdr == nil || t.rd.hdr.Name != partName(t.sum.Name, t.sum.Parts) {
				t.eof = true
				t.sum.SHA256 = hexSum(t.h)
				break
			}
			t.in = true
		}
		n, err := t.rd.tr.Read(p)
		if n > 0 {
			t.h.Write(p[:n])
			t.rd.whole.Write(p[:n])
			t.sum.Bytes += int64(n)
			return n, nil
		}
		if errors.Is(err, io.EOF) {
			t.in = false
			t.sum.Parts++
			if err := t.rd.next(); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, t.rd.readError(err)
		}
	}
	return 0, io.EOF
}

// check reads the checksums, which must be the last entry, compares them
// with what was read and with the manifest m, and reads to the end of the
// stream: gzip's own checksum is at its very end, and nothing may follow.
func (rd *reader) check(m *Manifest) error {
	var want Checksums
	if _, err := rd.readJSON(checksumsName, &want); err != nil {
		return err
	}
	if rd.hdr != nil {
		return damaged("the entry %q follows %s", rd.hdr.Name, checksumsName)
	}
	if want.ManifestSHA256 != rd.manifestSum {
		return damaged("the manifest's checksum does not match")
	}
	if len(want.Tables) != len(rd.tables) {
		return damaged("%s lists %d tables, the archive holds %d", checksumsName, len(want.Tables), len(rd.tables))
	}
	for i, got := range rd.tables {
		w := want.Tables[i]
		switch {
		case w.Name != got.Name:
			return damaged("%s lists the table %q where the archive holds %q", checksumsName, w.Name, got.Name)
		case w.SHA256 != got.SHA256 || w.Bytes != got.Bytes || w.Parts != got.Parts:
			return damaged("the data of the table %q does not match its checksum", got.Name)
		case w.Rows != m.Tables[i].Rows:
			return damaged("the rows of the table %q do not match its manifest", got.Name)
		}
	}
	if want.SHA256 != hexSum(rd.whole) {
		return damaged("the archive's checksum does not match")
	}
	if _, err := io.Copy(io.Discard, rd.gz); err != nil {
		return rd.readError(err)
	}
	if _, err := rd.br.ReadByte(); !errors.Is(err, io.EOF) {
		return damaged("data follows the archive's end")
	}
	return nil
}

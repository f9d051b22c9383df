package archive_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/strictmt/strictmt/apperr"
	"github.com/strictmt/strictmt/archive"
)

// entry is one file of an archive's tar.
type entry struct {
	name string
	data []byte
}

// unpack returns the entries of an archive.
func unpack(t *testing.T, b []byte) []entry {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []entry
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{h.Name, data})
	}
}

// pack writes entries as an archive (a well-formed tar and gzip stream,
// whatever the entries hold).
func pack(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		if err := tw.WriteHeader(&tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// resum rewrites the last entry, checksums.json, to match the entries
// before it, as someone forging an archive would: what the checksums
// cannot catch, the restore must.
func resum(t *testing.T, entries []entry) []entry {
	t.Helper()
	var sums archive.Checksums
	whole := sha256.New()
	m := sha256.Sum256(entries[0].data)
	sums.ManifestSHA256 = hex.EncodeToString(m[:])
	whole.Write(entries[0].data)
	var man archive.Manifest
	if err := json.Unmarshal(entries[0].data, &man); err != nil {
		t.Fatal(err)
	}
	var cur *archive.TableSum
	var h = sha256.New()
	flush := func() {
		if cur != nil {
			cur.SHA256 = hex.EncodeToString(h.Sum(nil))
			sums.Tables = append(sums.Tables, *cur)
		}
	}
	for _, e := range entries[1 : len(entries)-1] {
		table := strings.Split(e.name, "/")[1]
		if cur == nil || cur.Name != table {
			flush()
			cur, h = &archive.TableSum{Name: table}, sha256.New()
			for _, mt := range man.Tables {
				if mt.Name == table {
					cur.Rows = mt.Rows
				}
			}
		}
		cur.Parts++
		cur.Bytes += int64(len(e.data))
		h.Write(e.data)
		whole.Write(e.data)
	}
	flush()
	sums.SHA256 = hex.EncodeToString(whole.Sum(nil))
	b, err := json.Marshal(sums)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]entry(nil), entries[:len(entries)-1]...)
	return append(out, entry{"checksums.json", b})
}

// withManifest returns entries with the manifest changed by edit and the
// checksums made to match.
func withManifest(t *testing.T, entries []entry, edit func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(entries[0].data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out := append([]entry{{"manifest.json", b}}, entries[1:]...)
	return pack(t, resum(t, out))
}

func flip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0x5a
	return out
}

// TestBadArchivesLeaveNothing restores damaged, truncated, forged and
// foreign archives: each is refused with a clear error (EINVALID or
// ECONFLICT, one line) and no schema, role, catalog row or domain is
// left behind.
func TestBadArchivesLeaveNothing(t *testing.T) {
	t.Parallel()
	env, _ := seeded(t, "bad_src", "bad-src.localhost", 5, 300, 10, 50)
	ctx := context.Background()
	db := env.App.DirectDB
	good := export(t, env, "bad_src")
	entries := unpack(t, good)
	if len(entries) != len(tenantTables)+2 || entries[0].name != "manifest.json" || entries[len(entries)-1].name != "checksums.json" {
		t.Fatalf("entries: %d", len(entries))
	}
	var tableAt []int // the index of each table's first entry
	for i, e := range entries {
		if strings.HasPrefix(e.name, "tables/") {
			tableAt = append(tableAt, i)
		}
	}

	cases := map[string][]byte{}
	// The compressed stream: its header's magic, method and flags, its
	// deflate data at several points, its CRC-32 and its size.
	n := len(good)
	for _, i := range []int{0, 1, 2, 3, 10, 11, n / 4, n / 2, 3 * n / 4, n - 12, n - 9, n - 8, n - 6, n - 4, n - 1} {
		cases["Flip/gzip@"+strconv.Itoa(i)] = flip(good, i)
	}
	for _, i := range []int{0, 1, 9, 10, n / 3, n / 2, n - 9, n - 1} {
		cases["Truncate/gzip@"+strconv.Itoa(i)] = good[:i]
	}
	cases["Appended"] = append(bytes.Clone(good), "more"...)
	cases["AppendedGzip"] = append(bytes.Clone(good), pack(t, []entry{{"x", []byte("y")}})...)
	// A well-formed stream of damaged content: a byte of each entry.
	for i, e := range entries {
		out := append([]entry(nil), entries...)
		out[i] = entry{e.name, flip(e.data, len(e.data)/2)}
		cases["Flip/"+e.name] = pack(t, out)
	}
	// Truncated at every boundary between entries, and inside one.
	for k := range len(entries) {
		cases["Truncate/before-"+entries[k].name] = pack(t, entries[:k])
	}
	for _, i := range tableAt {
		out := append([]entry(nil), entries...)
		out[i] = entry{entries[i].name, entries[i].data[:len(entries[i].data)-3]}
		cases["Truncate/inside-"+entries[i].name] = pack(t, out)
		cases["Truncate/inside-"+entries[i].name+"/resummed"] = pack(t, resum(t, out))
	}
	// Entries out of order, missing, or more than listed.
	swapped := append([]entry(nil), entries...)
	swapped[tableAt[1]], swapped[tableAt[2]] = swapped[tableAt[2]], swapped[tableAt[1]]
	cases["Reordered"] = pack(t, swapped)
	cases["Reordered/resummed"] = pack(t, resum(t, swapped))
	dropped := append(append([]entry(nil), entries[:tableAt[2]]...), entries[tableAt[2]+1:]...)
	cases["TableMissing/resummed"] = pack(t, resum(t, dropped))
	extra := append(append(append([]entry(nil), entries[:tableAt[1]]...), entry{"tables/evil/000000.copy", entries[tableAt[0]].data}), entries[tableAt[1]:]...)
	cases["ExtraTable/resummed"] = pack(t, resum(t, extra))
	cases["AfterChecksums"] = pack(t, append(append([]entry(nil), entries...), entry{"late.txt", []byte("late")}))
	cases["NotAnArchive"] = []byte("hello")
	cases["Empty"] = nil
	cases["TarNotGzip"] = func() []byte { gz, _ := gzip.NewReader(bytes.NewReader(good)); b, _ := io.ReadAll(gz); return b }()
	// Forged manifests, checksums made to match.
	for name, edit := range map[string]func(m map[string]any){
		"FormatVersion2":  func(m map[string]any) { m["format_version"] = 2 },
		"FormatOther":     func(m map[string]any) { m["format"] = "pg_dump" },
		"VersionNewer":    func(m map[string]any) { m["migration_version"] = 99 },
		"VersionUnknown":  func(m map[string]any) { m["migration_version"] = 0 },
		"UnknownField":    func(m map[string]any) { m["extra"] = true },
		"SchemaOfAnother": func(m map[string]any) { m["tenant"].(map[string]any)["schema_name"] = "bad_src" },
		"SchemaPublic":    func(m map[string]any) { m["tenant"].(map[string]any)["schema_name"] = "public" },
		"SchemaInjected": func(m map[string]any) {
			m["tenant"].(map[string]any)["schema_name"] = `x"; DROP SCHEMA bad_src CASCADE; --`
		},
		"DomainsOfAnother": func(m map[string]any) {
			m["domains"] = []any{map[string]any{"domain": "bad-src.localhost", "is_primary": true}}
		},
		"DomainPublicHost": func(m map[string]any) {
			m["domains"] = []any{map[string]any{"domain": "localhost", "is_primary": true}}
		},
		"NameBlank":         func(m map[string]any) { m["tenant"].(map[string]any)["name"] = " " },
		"PaidUntilNotADate": func(m map[string]any) { m["tenant"].(map[string]any)["paid_until"] = "soon" },
		"TableOfCatalog":    func(m map[string]any) { m["tables"].([]any)[0].(map[string]any)["name"] = "../public/clients" },
		"ColumnDropped": func(m map[string]any) {
			tbl := m["tables"].([]any)[1].(map[string]any)
			tbl["columns"] = tbl["columns"].([]any)[1:]
		},
		"ColumnRetyped": func(m map[string]any) {
			m["tables"].([]any)[1].(map[string]any)["columns"].([]any)[1].(map[string]any)["type"] = "text"
		},
		"RowsMore":            func(m map[string]any) { m["tables"].([]any)[1].(map[string]any)["rows"] = 301.0 },
		"RowsNegative":        func(m map[string]any) { m["tables"].([]any)[1].(map[string]any)["rows"] = -1.0 },
		"NoTables":            func(m map[string]any) { m["tables"] = []any{} },
		"TableListedTwice":    func(m map[string]any) { m["tables"] = append(m["tables"].([]any), m["tables"].([]any)[0]) },
		"ManifestNotAnObject": func(m map[string]any) { clear(m) },
	} {
		cases["Manifest/"+name] = withManifest(t, entries, edit)
	}

	before := footprintOf(t, db, "bad_dst", "bad_src")
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			p := archive.RestoreParams{Schema: "bad_dst", Domains: []string{"bad-dst.localhost"}}
			if strings.HasPrefix(name, "Manifest/Schema") || strings.HasPrefix(name, "Manifest/Domain") {
				p = archive.RestoreParams{Schema: "", Domains: nil} // the archive's say
				if strings.HasPrefix(name, "Manifest/Domain") {
					p.Schema = "bad_dst"
				}
			}
			_, err := env.App.Archives.Restore(ctx, bytes.NewReader(b), p)
			if err == nil {
				t.Fatal("restored")
			}
			if c := apperr.Code(err); c != apperr.EINVALID && c != apperr.ECONFLICT {
				t.Fatalf("want EINVALID or ECONFLICT, got %q: %v", c, err)
			}
			if msg := apperr.Message(err); msg == "" || strings.Contains(msg, "\n") {
				t.Fatalf("want a one-line message, got %q", msg)
			}
			t.Log(apperr.Message(err))
			if after := footprintOf(t, db, "bad_dst", "bad_src"); after != before {
				t.Fatalf("left behind: %+v, before %+v (%v)", after, before, err)
			}
		})
	}

	t.Run("GoodStillRestores", func(t *testing.T) {
		if _, err := env.App.Archives.Restore(ctx, bytes.NewReader(good), archive.RestoreParams{Schema: "bad_dst", Domains: []string{"bad-dst.localhost"}}); err != nil {
			t.Fatal(err)
		}
		sameRows(t, db, "bad_src", "bad_dst", tenantTables)
	})
}

// Package importertest gives tests a django-tenants source database: the
// dump of a database written by the Django application strictmt replaces
// (testdata/django-tenants-seed.sql), loaded into a fresh database of the
// test harness with psql.
package importertest

import (
	"bytes"
	_ "embed"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/strictmt/strictmt/internal/embedpg"
	"github.com/strictmt/strictmt/internal/pgtest"
)

// Seed is the fixture: a pg_dump of the Django application's database
// with tenants tenant_a (domains tenant1.localhost, primary, and
// www.tenant-a.example.com) and tenant_b (tenant2.localhost), the shared
// users testuser, alice, bob (password123) and carol (Carol-pass-2024),
// 43 + 1 todos, 2 + 1 projects and 3 + 1 tasks.
//
//go:embed testdata/django-tenants-seed.sql
var Seed []byte

// NewSource creates a fresh database holding the fixture and returns its
// URL.
func NewSource(t testing.TB) string {
	t.Helper()
	url := pgtest.NewDatabase(t)
	Load(t, url, Seed)
	return url
}

// Load runs the SQL script sql on the database at url with psql, stopping
// at the first error.
func Load(t testing.TB, url string, sql []byte) {
	t.Helper()
	psql, err := exec.LookPath("psql")
	if err != nil {
		dir, ferr := embedpg.FindBinaries("")
		if ferr != nil {
			t.Fatalf("psql not found: %v; %v", err, ferr)
		}
		psql = filepath.Join(dir, "psql")
	}
	cmd := exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-")
	cmd.Stdin = bytes.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("loading SQL with psql: %v\n%s", err, out)
	}
}

package importer

import (
	"strings"
	"testing"

	"github.com/strictmt/strictmt/importer/importertest"
)

// TestImportSourceDomainClash gives tenant_b a domain that is tenant_a's
// but for case, port and a leading www. (one domain in strictmt), and
// one that is its own primary written so: the clash is a conflict of
// both tenants, in a dry run and in a real one, with --schema too; a
// tenant's own spellings of one domain are not.
func TestImportSourceDomainClash(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	importertest.Load(t, f.src, []byte(`INSERT INTO public.tenants_domain (domain, is_primary, tenant_id) VALUES
		('Tenant-A.Example.com:8080', false, 2), ('WWW.tenant2.localhost', false, 2);`))
	wantClash := func(t *testing.T, rep *Report, schema, other string) {
		t.Helper()
		r := wantStatus(t, rep, schema, Failed)
		if len(r.Conflicts) != 1 || !strings.Contains(r.Conflicts[0], `domain "tenant-a.example.com" is also a domain of source tenant `+other) {
			t.Fatalf("%s: conflicts %q", schema, r.Conflicts)
		}
	}
	for _, dry := range []bool{true, false} {
		rep := f.run(t, Options{DryRun: dry})
		wantClash(t, rep, "tenant_a", "tenant_b")
		wantClash(t, rep, "tenant_b", "tenant_a")
		if s := catalogState(t, f); s != "clients=0 domains=0 schemas=0 roles=0" {
			t.Fatalf("dry %v: %s", dry, s)
		}
	}
	rep := f.run(t, Options{DryRun: true, Schema: "tenant_a"})
	wantClash(t, rep, "tenant_a", "tenant_b")

	// Without the clash both import, tenant_b with one domain for its
	// two spellings of tenant2.localhost.
	importertest.Load(t, f.src, []byte(`DELETE FROM public.tenants_domain WHERE domain = 'Tenant-A.Example.com:8080';`))
	rep = f.run(t, Options{})
	wantStatus(t, rep, "tenant_a", Imported)
	if b := wantStatus(t, rep, "tenant_b", Imported); len(b.Domains) != 1 || b.Domains[0] != "tenant2.localhost" {
		t.Fatalf("tenant_b domains %q", b.Domains)
	}
}

package pgtest

import (
	"regexp"
	"strings"
	"testing"
)

func TestDatabaseName(t *testing.T) {
	valid := regexp.MustCompile(`^t_[a-z0-9_]+$`)
	seen := map[string]bool{}
	for _, in := range []string{"", "TestX", "TestX/sub case#01", strings.Repeat("Ünïcode/Long ", 20)} {
		name := databaseName(in)
		if !valid.MatchString(name) || len(name) > 63 || strings.Contains(name, "__") {
			t.Errorf("databaseName(%q) = %q", in, name)
		}
		if seen[name] {
			t.Errorf("duplicate name %q", name)
		}
		seen[name] = true
	}
	if a, b := databaseName("TestX"), databaseName("TestX"); a == b {
		t.Errorf("same name twice: %s", a)
	}
}

package embedpg

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeBinDir creates dir holding executable files named postgres and initdb.
func fakeBinDir(t *testing.T, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"postgres", "initdb"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestFindBinariesNotFound(t *testing.T) {
	empty := t.TempDir()
	_, err := findBinaries(filepath.Join(empty, "bogus"), "", filepath.Join(empty, "nolib"))
	if !errors.Is(err, ErrNoBinaries) {
		t.Fatalf("error = %v, want ErrNoBinaries", err)
	}
	for _, want := range []string{"apt-get install postgresql", "database.url", "database.embedded.bin_dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestFindBinariesOrder(t *testing.T) {
	root := t.TempDir()
	hint := fakeBinDir(t, filepath.Join(root, "hint"))
	onPath := fakeBinDir(t, filepath.Join(root, "path"))
	lib := filepath.Join(root, "lib")
	fakeBinDir(t, filepath.Join(lib, "9.6", "bin"))
	newest := fakeBinDir(t, filepath.Join(lib, "15", "bin"))
	if err := os.MkdirAll(filepath.Join(lib, "16", "bin"), 0o755); err != nil { // no binaries
		t.Fatal(err)
	}
	onlyInitdb := filepath.Join(root, "partial")
	if err := os.MkdirAll(onlyInitdb, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(onlyInitdb, "initdb"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	pathList := strings.Join([]string{onlyInitdb, onPath}, string(os.PathListSeparator))

	tests := []struct {
		name, hint, path, want string
	}{
		{"hint first", hint, pathList, hint},
		{"bogus hint falls back to PATH", filepath.Join(root, "bogus"), pathList, onPath},
		{"highest version under lib root", "", onlyInitdb, newest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := findBinaries(tt.hint, tt.path, lib)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFindBinariesPgConfig(t *testing.T) {
	root := t.TempDir()
	bin := fakeBinDir(t, filepath.Join(root, "server"))
	cfgDir := filepath.Join(root, "cfg")
	if err := os.MkdirAll(cfgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho " + bin + "\n"
	if err := os.WriteFile(filepath.Join(cfgDir, "pg_config"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := findBinaries("", cfgDir, filepath.Join(root, "nolib"))
	if err != nil {
		t.Fatal(err)
	}
	if got != bin {
		t.Fatalf("got %s, want %s", got, bin)
	}
}

func TestFindBinariesOnThisMachine(t *testing.T) {
	dir, err := FindBinaries("")
	if err != nil {
		t.Fatalf("FindBinaries: %v", err)
	}
	if !hasServerBinaries(dir) {
		t.Fatalf("FindBinaries returned %s without postgres and initdb", dir)
	}
}

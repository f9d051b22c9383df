package embedpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNoBinaries is returned (wrapped) by FindBinaries and Start when the
// PostgreSQL server programs postgres and initdb cannot be found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (postgres, initdb) not found")

// defaultLibRoot is where Debian and Ubuntu install versioned server binaries
// (/usr/lib/postgresql/<version>/bin).
const defaultLibRoot = "/usr/lib/postgresql"

// FindBinaries returns the directory holding the PostgreSQL server programs
// postgres and initdb. It looks in hint (when not empty), then in the
// directories of $PATH, then in the directory reported by `pg_config --bindir`,
// then in /usr/lib/postgresql/<version>/bin, preferring the highest version.
// When nothing is found the error wraps ErrNoBinaries and says what to install.
func FindBinaries(hint string) (string, error) {
	return findBinaries(hint, os.Getenv("PATH"), defaultLibRoot)
}

// findBinaries is FindBinaries with its search inputs as parameters:
// pathList is a $PATH-style list, also used to find pg_config, and libRoot is
// the directory holding one sub-directory per installed major version.
func findBinaries(hint, pathList, libRoot string) (string, error) {
	var candidates []string
	if hint != "" {
		candidates = append(candidates, hint)
	}
	for _, dir := range filepath.SplitList(pathList) {
		if dir != "" {
			candidates = append(candidates, dir)
		}
	}
	for _, dir := range candidates {
		if hasServerBinaries(dir) {
			return filepath.Abs(dir)
		}
	}
	for _, dir := range filepath.SplitList(pathList) {
		if dir == "" || !isExecutable(filepath.Join(dir, "pg_config")) {
			continue
		}
		if bin := pgConfigBinDir(filepath.Join(dir, "pg_config")); bin != "" && hasServerBinaries(bin) {
			return bin, nil
		}
		break
	}
	for _, dir := range versionedBinDirs(libRoot) {
		if hasServerBinaries(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w: install PostgreSQL (Debian/Ubuntu: apt-get install postgresql), "+
		"or set database.url to an existing server, "+
		"or set database.embedded.bin_dir to the directory holding postgres and initdb", ErrNoBinaries)
}

// pgConfigBinDir runs `pg_config --bindir` and returns its answer, or "" on
// any failure.
func pgConfigBinDir(pgConfig string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pgConfig, "--bindir").Output()
	if err != nil {
		return ""
	}
	return string(bytes.TrimSpace(out))
}

// versionedBinDirs returns libRoot/<version>/bin for every numeric version
// directory under libRoot, highest version first.
func versionedBinDirs(libRoot string) []string {
	entries, err := os.ReadDir(libRoot)
	if err != nil {
		return nil
	}
	type versioned struct {
		parts []int
		dir   string
	}
	var found []versioned
	for _, e := range entries {
		parts, ok := parseVersion(e.Name())
		if ok {
			found = append(found, versioned{parts, filepath.Join(libRoot, e.Name(), "bin")})
		}
	}
	slices.SortFunc(found, func(a, b versioned) int { return slices.Compare(b.parts, a.parts) })
	dirs := make([]string, len(found))
	for i, v := range found {
		dirs[i] = v.dir
	}
	return dirs
}

// parseVersion parses a directory name such as "15" or "9.6".
func parseVersion(name string) ([]int, bool) {
	var parts []int
	for field := range strings.SplitSeq(name, ".") {
		n, err := strconv.Atoi(field)
		if err != nil || n < 0 {
			return nil, false
		}
		parts = append(parts, n)
	}
	return parts, true
}

func hasServerBinaries(dir string) bool {
	return isExecutable(filepath.Join(dir, "postgres")) && isExecutable(filepath.Join(dir, "initdb"))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

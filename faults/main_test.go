// Package faults_test injects faults into a running strictmt: PostgreSQL
// stopped and restarted under load, a tenant deleted while its requests
// are in flight, and SIGTERM to the real binary under load. Each test
// controls its own database (or its own cluster) and bounds every loop in
// count and time.
package faults_test

import (
	"os"
	"testing"

	"github.com/strictmt/strictmt/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

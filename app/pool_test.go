package app

import "testing"

func TestHasConnParam(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		conn string
		want bool
	}{
		{"postgres://u@h/db?sslmode=disable&default_query_exec_mode=cache_statement", true},
		{"postgresql://u@h/db?default_query_exec_mode=exec", true},
		{"postgres://u@h/db?sslmode=disable", false},
		{"postgres://u@h/default_query_exec_mode", false},
		{"host=h dbname=db default_query_exec_mode=cache_describe", true},
		{"host=h dbname=db", false},
	} {
		if got := hasConnParam(c.conn, "default_query_exec_mode"); got != c.want {
			t.Errorf("hasConnParam(%q) = %v, want %v", c.conn, got, c.want)
		}
	}
}

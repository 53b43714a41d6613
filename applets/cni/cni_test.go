package cni

import (
	"bytes"
	"strings"
	"testing"
)

func TestRunPicksPlugin(t *testing.T) {
	tests := []struct {
		name, prog string
		args       []string
		code       int
		stderr     string
	}{
		{"no plugin", "petrel", nil, 2, "usage"},
		{"unknown plugin", "petrel", []string{"macvlan"}, 2, `unknown plugin "macvlan"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(tt.prog, tt.args, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("run(%q, %q) = %d, stderr %q; want %d and %q", tt.prog, tt.args, code, stderr.String(), tt.code, tt.stderr)
			}
		})
	}
	for _, name := range []string{"bridge", "host-local", "loopback", "portmap"} {
		if _, ok := plugins()[name]; !ok {
			t.Errorf("plugin %s missing", name)
		}
	}
}

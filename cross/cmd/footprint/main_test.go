package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGroupOf(t *testing.T) {
	for _, tc := range []struct{ sym, pkg, group string }{
		{"runtime.mallocgc", "runtime", "std: runtime, reflect, syscall, internal"},
		{"internal/poll.(*FD).Read", "internal/poll", "std: runtime, reflect, syscall, internal"},
		{"net/http.(*Transport).dialConn", "net/http", "std: net, net/http"},
		{"vendor/golang.org/x/crypto/chacha20poly1305.chacha20Poly1305Seal.abi0", "vendor/golang.org/x/crypto/chacha20poly1305", "std: crypto"},
		{"crypto/tls.(*Conn).Read", "crypto/tls", "std: crypto"},
		{"slices.SortFunc[go.shape.string]", "slices", "std: os, fmt, time, slices, strings, ..."},
		{"github.com/vishvananda/netlink.(*Handle).linkModify", "github.com/vishvananda/netlink", "github.com/vishvananda/netlink"},
		{"github.com/klauspost/compress/zstd.fsePredef", "github.com/klauspost/compress/zstd", "github.com/klauspost/compress"},
		{"golang.org/x/sys/unix.Syscall", "golang.org/x/sys/unix", "golang.org/x/sys"},
		{"type:*github.com/opencontainers/runtime-spec/specs-go.Spec", "github.com/opencontainers/runtime-spec/specs-go", "github.com/opencontainers/runtime-spec"},
		{"go:itab.*os.File,io.Reader", "os", "std: os, fmt, time, slices, strings, ..."},
		{"github.com/petrel-edge/petrel/oci/container.Create", "github.com/petrel-edge/petrel/oci/container", "petrel: oci/"},
		{"github.com/petrel-edge/petrel/cross.PlatformOf", "github.com/petrel-edge/petrel/cross", "petrel: cross/"},
		{"main.main", "main", "petrel: main"},
		{"go:func.*", "", "(no package: strings, constants, tables)"},
		{"$f64.3ff0000000000000", "", "(no package: strings, constants, tables)"},
		{"type:struct { a int }", "", "(no package: strings, constants, tables)"},
	} {
		pkg := packageOf(tc.sym)
		if pkg != tc.pkg {
			t.Errorf("packageOf(%q) = %q, want %q", tc.sym, pkg, tc.pkg)
		}
		if g := groupOf(pkg); g != tc.group {
			t.Errorf("groupOf(%q) = %q, want %q", pkg, g, tc.group)
		}
	}
}

func TestBudget(t *testing.T) {
	dir := t.TempDir()
	budget := filepath.Join(dir, "size-budget")
	if err := writeBudget(budget, 1000); err != nil {
		t.Fatal(err)
	}
	if n, err := readBudget(budget); err != nil || n != 1030 {
		t.Fatalf("budget of 1000 bytes + 3%% = %d, %v; want 1030", n, err)
	}
	for _, tc := range []struct {
		size int64
		err  string
	}{
		{1030, ""},
		{1031, "1 bytes (0.1%) over the budget of 1030 bytes"},
		{2000, "-set-budget"},
	} {
		var out strings.Builder
		err := checkBudget(&out, budget, "bin/petrel-linux-amd64", tc.size)
		if tc.err == "" {
			if err != nil || !strings.Contains(out.String(), "budget 1030") {
				t.Errorf("size %d: %v, output %q", tc.size, err, out.String())
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("size %d: err %v, want one containing %q", tc.size, err, tc.err)
		}
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("# only a comment\n"), 0o644)
	if _, err := readBudget(bad); err == nil {
		t.Error("a budget file without a number was accepted")
	}
}

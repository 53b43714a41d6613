package client

import (
	"bytes"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/core/api"
)

func TestParseMountFlag(t *testing.T) {
	tests := []struct {
		in   string
		want api.Mount
		err  string
	}{
		{"type=bind,source=/srv,target=/data,readonly", api.Mount{Type: "bind", Source: "/srv", Target: "/data", ReadOnly: true}, ""},
		{"src=vol,dst=/data", api.Mount{Type: "volume", Source: "vol", Target: "/data"}, ""},
		{"type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1770", api.Mount{Type: "tmpfs", Target: "/t", TmpfsOptions: &api.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1770}}, ""},
		{"type=bind,src=/a,target=/b,ro=false,bind-propagation=rshared", api.Mount{Type: "bind", Source: "/a", Target: "/b", BindOptions: &api.BindOptions{Propagation: "rshared"}}, ""},
		{"type=bind,source=/srv", api.Mount{}, "target is required"},
		{"type=bind,bogus=1,target=/x", api.Mount{}, "unexpected key 'bogus'"},
		{"type=bind,source,target=/x", api.Mount{}, "must be a key=value pair"},
		{"type=volume,target=/x,tmpfs-size=1m", api.Mount{}, "cannot mix 'tmpfs-*'"},
		{"type=tmpfs,target=/x,tmpfs-size=lots", api.Mount{}, "invalid size"},
		{"type=bind,src=/a,target=/b,readonly=maybe", api.Mount{}, "invalid value"},
	}
	for _, tc := range tests {
		got, err := parseMountFlag(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got.Type != tc.want.Type || got.Source != tc.want.Source || got.Target != tc.want.Target || got.ReadOnly != tc.want.ReadOnly ||
			(got.TmpfsOptions == nil) != (tc.want.TmpfsOptions == nil) || got.TmpfsOptions != nil && *got.TmpfsOptions != *tc.want.TmpfsOptions ||
			(got.BindOptions == nil) != (tc.want.BindOptions == nil) || got.BindOptions != nil && *got.BindOptions != *tc.want.BindOptions {
			t.Errorf("%s: %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestSplitCpArg(t *testing.T) {
	tests := []struct{ in, ctr, path string }{
		{"web:/etc/passwd", "web", "/etc/passwd"},
		{"/abs:x", "", "/abs:x"},
		{"./rel:x", "", "./rel:x"},
		{"file", "", "file"},
		{"-", "", "-"},
		{":/x", "", ":/x"},
	}
	for _, tc := range tests {
		if ctr, p := splitCpArg(tc.in); ctr != tc.ctr || p != tc.path {
			t.Errorf("%s: %q %q, want %q %q", tc.in, ctr, p, tc.ctr, tc.path)
		}
	}
}

// Docker's figures: CPU from the deltas, memory without inactive files.
func TestStatsRow(t *testing.T) {
	s := &api.Stats{ID: "0123456789abcdef", Name: "/web"}
	s.Read = s.Read.AddDate(2026, 0, 0)
	s.PreCPUStats.CPUUsage.TotalUsage, s.PreCPUStats.SystemUsage = 1e9, 100e9
	s.CPUStats.CPUUsage.TotalUsage, s.CPUStats.SystemUsage, s.CPUStats.OnlineCPUs = 1.5e9, 102e9, 2
	s.MemoryStats = api.MemoryStats{Usage: 300 << 20, Limit: 1 << 30, Stats: map[string]uint64{"total_inactive_file": 100 << 20}}
	s.BlkioStats.IoServiceBytesRecursive = []api.BlkioStatEntry{{Op: "Read", Value: 1500}, {Op: "Write", Value: 2e6}, {Op: "Total", Value: 9}}
	s.PidsStats.Current = 3
	var out bytes.Buffer
	if err := renderStats(&out, defaultStatsFormat, []statsRow{statsRowOf(s)}, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "CONTAINER ID") {
		t.Fatalf("table %q", out.String())
	}
	got := strings.Join(strings.Fields(lines[1]), " ")
	want := "0123456789ab web 50.00% 200MiB / 1GiB 19.53% 0B / 0B 1.5kB / 2MB 3"
	if got != want {
		t.Errorf("row %q, want %q", got, want)
	}
	if err := renderStats(&out, "table {{.Bogus}}", nil, false); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("bad field: %v", err)
	}
}

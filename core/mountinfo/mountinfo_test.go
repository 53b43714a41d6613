package mountinfo

import (
	"reflect"
	"testing"
)

const sample = `22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
31 22 0:27 / /sys/fs/cgroup/cpu,cpuacct rw master:3 - cgroup cgroup rw,cpu,cpuacct
40 22 0:30 / /tmp/a\040b rw - tmpfs tmp\040fs rw
41 40 0:31 /sub /tmp/a\040b/c rw - tmpfs tmpfs rw
42 22 0:32 / /tmp/ab rw - tmpfs tmpfs rw
bad line
43 22 0:33 / /x rw shared:2
`

func TestParse(t *testing.T) {
	ms := Parse(sample)
	if len(ms) != 6 {
		t.Fatalf("parsed %d mounts, want 6: %+v", len(ms), ms)
	}
	want := Mount{Root: "/", Point: "/sys/fs/cgroup/cpu,cpuacct", Optional: []string{"master:3"}, FSType: "cgroup", Source: "cgroup", SuperOpts: []string{"rw", "cpu", "cpuacct"}}
	if !reflect.DeepEqual(ms[2], want) {
		t.Errorf("got %+v, want %+v", ms[2], want)
	}
	if ms[3].Point != "/tmp/a b" || ms[3].Source != "tmp fs" || ms[4].Root != "/sub" {
		t.Errorf("escapes or root: %+v %+v", ms[3], ms[4])
	}
	if len(ms[0].Optional) != 1 || ms[0].Optional[0] != "shared:1" {
		t.Errorf("optional fields %v", ms[0].Optional)
	}
}

func TestUnder(t *testing.T) {
	ms := Parse(sample)
	tests := []struct {
		dir  string
		want []string
	}{
		{"/tmp/a b", []string{"/tmp/a b/c", "/tmp/a b"}},
		{"/tmp/a b/", []string{"/tmp/a b/c", "/tmp/a b"}},
		{"/tmp/a", nil}, // a prefix of a name is not a parent
		{"/nowhere", nil},
	}
	for _, tc := range tests {
		if got := Under(ms, tc.dir); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Under(%q) = %q, want %q", tc.dir, got, tc.want)
		}
	}
}

func TestHolding(t *testing.T) {
	ms := Parse(sample)
	tests := []struct{ path, want string }{
		{"/tmp/a b/c/d", "/tmp/a b/c"},
		{"/tmp/abc", "/"},
		{"/tmp/ab/x", "/tmp/ab"},
		{"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu"},
		{"/", "/"},
	}
	for _, tc := range tests {
		m, ok := Holding(ms, tc.path)
		if !ok || m.Point != tc.want {
			t.Errorf("Holding(%q) = %q, %v; want %q", tc.path, m.Point, ok, tc.want)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`a\040b`: "a b", `/tab\011x\134`: "/tab\tx\\", `a\134b`: `a\b`, `a\9b`: `a\9b`, `end\04`: `end\04`, `plain`: "plain"} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

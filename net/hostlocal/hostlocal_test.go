package hostlocal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/skel"
)

func conf(t *testing.T, dir, ipam string) []byte {
	t.Helper()
	return []byte(fmt.Sprintf(`{"cniVersion":"1.1.0","name":"t","type":"bridge","ipam":{"type":"host-local","dataDir":%q,%s}}`, dir, ipam))
}

func cmd(stdin []byte, id string) *skel.CmdArgs {
	return &skel.CmdArgs{ContainerID: id, IfName: "eth0", StdinData: stdin}
}

func TestAllocateSequence(t *testing.T) {
	tests := []struct {
		name string
		ipam string
		want []string // addresses of successive containers
	}{
		{"v4 skips gateway", `"ranges":[[{"subnet":"10.231.0.0/29"}]]`,
			[]string{"10.231.0.2/29", "10.231.0.3/29", "10.231.0.4/29", "10.231.0.5/29", "10.231.0.6/29"}},
		{"v4 explicit range and gateway", `"ranges":[[{"subnet":"10.231.1.0/24","rangeStart":"10.231.1.10","rangeEnd":"10.231.1.12","gateway":"10.231.1.11"}]]`,
			[]string{"10.231.1.10/24", "10.231.1.12/24"}},
		{"two ranges in a set", `"ranges":[[{"subnet":"10.231.2.0/30"},{"subnet":"10.231.3.0/30"}]]`,
			[]string{"10.231.2.2/30", "10.231.3.2/30"}},
		{"v6", `"ranges":[[{"subnet":"fd00:231::/126"}]]`,
			[]string{"fd00:231::2/126", "fd00:231::3/126"}},
		{"old style subnet", `"subnet":"10.231.4.0/30"`, []string{"10.231.4.2/30"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := conf(t, t.TempDir(), tt.ipam)
			for i, want := range tt.want {
				res, _, err := Allocate(cmd(c, fmt.Sprint("c", i)))
				if err != nil {
					t.Fatalf("allocation %d: %v", i, err)
				}
				if got := res.IPs[0].Address.String(); got != want {
					t.Errorf("allocation %d = %s, want %s", i, got, want)
				}
			}
			_, _, err := Allocate(cmd(c, "one-too-many"))
			if !errors.Is(err, ErrExhausted) {
				t.Errorf("allocation past the end: err = %v, want ErrExhausted", err)
			}
		})
	}
}

func TestReleaseReusesAndIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	c := conf(t, dir, `"ranges":[[{"subnet":"10.231.0.0/30"}],[{"subnet":"fd00:231::/120"}]]`)
	res, _, err := Allocate(cmd(c, "a"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IPs) != 2 || res.IPs[0].Gateway.String() != "10.231.0.1" || res.IPs[1].Gateway.String() != "fd00:231::1" {
		t.Fatalf("result IPs = %v", res.IPs)
	}
	if _, _, err := Allocate(cmd(c, "a")); err == nil {
		t.Fatal("second allocation for the same container and interface succeeded")
	}
	if err := Check(cmd(c, "a")); err != nil {
		t.Fatalf("check: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := Release(cmd(c, "a")); err != nil {
			t.Fatalf("release %d: %v", i, err)
		}
	}
	if err := Check(cmd(c, "a")); err == nil {
		t.Fatal("check after release succeeded")
	}
	if left := allocations(t, filepath.Join(dir, "t")); len(left) != 0 {
		t.Fatalf("allocations left after release: %v", left)
	}
	if _, _, err := Allocate(cmd(c, "b")); err != nil {
		t.Fatalf("allocate after release: %v", err)
	}
}

func TestRequestedIP(t *testing.T) {
	dir := t.TempDir()
	c := conf(t, dir, `"ranges":[[{"subnet":"10.231.0.0/24"}]]`)
	a := cmd(c, "a")
	a.Args = "IgnoreUnknown=1;IP=10.231.0.77"
	res, _, err := Allocate(a)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.IPs[0].Address.String(); got != "10.231.0.77/24" {
		t.Fatalf("got %s, want the requested 10.231.0.77/24", got)
	}
	b := cmd(c, "b")
	b.Args = "IP=10.231.0.77"
	if _, _, err := Allocate(b); err == nil {
		t.Fatal("the same requested address was handed out twice")
	}
	b.Args = "IP=10.231.9.9"
	if _, _, err := Allocate(b); err == nil || !strings.Contains(err.Error(), "10.231.9.9") {
		t.Fatalf("address outside the ranges: err = %v", err)
	}
	if left := allocations(t, filepath.Join(dir, "t")); len(left) != 1 {
		t.Fatalf("failed allocations left files behind: %v", left)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct{ name, ipam, want string }{
		{"no ranges", `"routes":[]`, "no IP ranges"},
		{"host bits", `"ranges":[[{"subnet":"10.231.0.1/24"}]]`, "host bits"},
		{"too small", `"ranges":[[{"subnet":"10.231.0.0/31"}]]`, "too small"},
		{"start outside", `"ranges":[[{"subnet":"10.231.0.0/24","rangeStart":"10.231.1.1"}]]`, "not in network"},
		{"overlap", `"ranges":[[{"subnet":"10.231.0.0/24"}],[{"subnet":"10.231.0.0/16"}]]`, "overlaps"},
		{"mixed families", `"ranges":[[{"subnet":"10.231.0.0/24"},{"subnet":"fd00:231::/64"}]]`, "mixed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := LoadConfig(conf(t, "/nonexistent", tt.ipam), "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	if _, _, err := LoadConfig([]byte(`{"name":"x"}`), ""); err == nil {
		t.Fatal("config without ipam accepted")
	}
}

func TestGC(t *testing.T) {
	dir := t.TempDir()
	c := conf(t, dir, `"ranges":[[{"subnet":"10.231.0.0/24"}]]`)
	for _, id := range []string{"keep", "drop1", "drop2"} {
		if _, _, err := Allocate(cmd(c, id)); err != nil {
			t.Fatal(err)
		}
	}
	gc := []byte(strings.Replace(string(c), `"ipam"`, `"cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}],"ipam"`, 1))
	if err := GC(cmd(gc, "")); err != nil {
		t.Fatal(err)
	}
	left := allocations(t, filepath.Join(dir, "t"))
	if len(left) != 1 || left[0] != "10.231.0.2" {
		t.Fatalf("after GC: %v, want only keep's 10.231.0.2", left)
	}
}

func TestResolvConf(t *testing.T) {
	dir := t.TempDir()
	rc := filepath.Join(dir, "resolv.conf")
	os.WriteFile(rc, []byte("# c\nnameserver 10.231.0.1\nsearch a.example b.example\ndomain example\noptions ndots:2\n"), 0o644)
	res, _, err := Allocate(cmd(conf(t, dir, fmt.Sprintf(`"resolvConf":%q,"subnet":"10.231.0.0/24"`, rc)), "a"))
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprintf("%v|%v|%v|%v", res.DNS.Nameservers, res.DNS.Domain, res.DNS.Search, res.DNS.Options)
	if want := "[10.231.0.1]|example|[a.example b.example]|[ndots:2]"; got != want {
		t.Fatalf("DNS = %s, want %s", got, want)
	}
}

// allocations lists the allocated addresses in a network's data directory.
func allocations(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); n != "lock" && !strings.HasPrefix(n, "last_reserved_ip") {
			out = append(out, n)
		}
	}
	return out
}

package cni

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func newTestManager(t *testing.T) *Manager {
	t.Helper()
	dir := t.TempDir()
	m, err := New(Options{ConfDir: filepath.Join(dir, "net.d"), StateDir: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestConflistRefusesBadSpecs(t *testing.T) {
	m := newTestManager(t)
	tests := []struct {
		spec Spec
		want string
	}{
		{Spec{Name: "n1", Subnet: "10.1.0.0/16"}, ""},
		{Spec{Name: "-bad", Subnet: "10.1.0.0/16"}, "invalid network name"},
		{Spec{Name: "a/b", Subnet: "10.1.0.0/16"}, "invalid network name"},
		{Spec{Name: "n1", Subnet: "10.1.0.0"}, "invalid subnet"},
		{Spec{Name: "n1", Subnet: "10.1.0.1/16"}, "host bits set"},
		{Spec{Name: "n1", Subnet: "10.1.0.0/31"}, "too small"},
		{Spec{Name: "n1", Subnet: "10.1.0.0/16", Gateway: "10.2.0.1"}, "invalid gateway"},
		{Spec{Name: "n1", Subnet: "10.1.0.0/16", Bridge: "a-much-too-long-name"}, "invalid bridge name"},
	}
	for _, tt := range tests {
		_, err := m.Conflist(tt.spec)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Conflist(%+v) = %v, want %q", tt.spec, err, tt.want)
		}
	}
}

func TestCreateListRemove(t *testing.T) {
	m := newTestManager(t)
	if wrote, err := m.EnsureDefault(Spec{Name: "petrel0", Bridge: "pt0", Subnet: "10.89.0.0/16"}); err != nil || !wrote {
		t.Fatalf("EnsureDefault = %v, %v", wrote, err)
	}
	if wrote, err := m.EnsureDefault(Spec{Name: "petrel0", Bridge: "pt0", Subnet: "10.89.0.0/16"}); err != nil || wrote {
		t.Fatalf("second EnsureDefault = %v, %v; want nothing written", wrote, err)
	}
	if _, err := m.Create(Spec{Name: "petrel0", Subnet: "10.9.0.0/16"}); err == nil {
		t.Fatal("a second network of the same name was created")
	}
	n, err := m.Create(Spec{Name: "blue", Subnet: "10.90.0.0/24", Gateway: "10.90.0.254"})
	if err != nil {
		t.Fatal(err)
	}
	info := Describe(n)
	if info.Driver != "bridge" || info.Bridge != "blue" || len(info.Pools) != 1 || info.Pools[0].Gateway != "10.90.0.254" {
		t.Fatalf("Describe = %+v", info)
	}
	// A malformed file does not hide the others and is reported by name.
	bad := filepath.Join(m.opts.ConfDir, "zz.conflist")
	os.WriteFile(bad, []byte(`{"name": "broken", "plugins": [`), 0o644)
	nets, errs := m.Networks()
	if len(nets) != 2 || len(errs) != 1 || !strings.Contains(errs[0].Error(), "zz.conflist") {
		t.Fatalf("Networks = %d networks, errors %v", len(nets), errs)
	}
	if err := m.Remove("blue"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Network("blue"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed network: %v", err)
	}
	if err := m.Remove("blue"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: %v", err)
	}
}

func TestFindInPathPrefersInProcess(t *testing.T) {
	m := newTestManager(t)
	x := &execer{self: "/proc/self/exe"}
	self, _ := filepath.EvalSymlinks("/proc/self/exe")
	x.self = self
	if p, err := x.FindInPath("bridge", []string{m.opts.ConfDir, filepath.Join(m.opts.StateDir, "bin")}); err != nil || p != builtinPrefix+"bridge" {
		t.Fatalf("bridge: %q, %v", p, err)
	}
	if _, err := x.FindInPath("macvlan", []string{m.opts.ConfDir}); err == nil {
		t.Fatal("an unknown plugin was found")
	}
}

func TestReserve(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	maps := []PortMapping{{ContainerPort: 80, Protocol: "tcp", HostIP: "127.0.0.1"}, {ContainerPort: 53, Protocol: "udp", HostIP: "127.0.0.1"}}
	r, err := Reserve(maps)
	if err != nil {
		t.Fatal(err)
	}
	if maps[0].HostPort == 0 || maps[1].HostPort == 0 {
		t.Fatalf("no free ports picked: %+v", maps)
	}
	// Held: a second reservation of the same port fails.
	if _, err := Reserve([]PortMapping{{HostPort: maps[0].HostPort, ContainerPort: 80, Protocol: "tcp", HostIP: "127.0.0.1"}}); err == nil {
		t.Fatal("a reserved port was reserved twice")
	}
	r.Release()
	_, err = Reserve([]PortMapping{{ContainerPort: 81, Protocol: "tcp", HostIP: "127.0.0.1"}, {HostPort: taken, ContainerPort: 80, Protocol: "tcp", HostIP: "127.0.0.1"}})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:"+strconv.Itoa(taken)) || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("Reserve of a bound port = %v", err)
	}
}

func TestConflistMasqueradesPerNetwork(t *testing.T) {
	m := newTestManager(t)
	n, err := m.Create(Spec{Name: "blue", Bridge: "br-blue", Subnet: "10.90.0.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(n.List.Plugins[0].Bytes), `"ipMasq":false`) {
		t.Errorf("the bridge plugin masquerades each container: %s", n.List.Plugins[0].Bytes)
	}
	nm, ok := networkMasq(n)
	if !ok || nm.Network != "blue" || nm.Bridge != "br-blue" || len(nm.Subnets) != 1 || nm.Subnets[0].String() != "10.90.0.0/24" {
		t.Errorf("networkMasq = %+v, %v", nm, ok)
	}
	// A list written by hand (or by an earlier petrel) keeps the plugin's
	// own masquerading.
	os.WriteFile(filepath.Join(m.opts.ConfDir, "own.conflist"), []byte(`{"cniVersion":"1.0.0","name":"own","plugins":[
		{"type":"bridge","bridge":"own0","ipMasq":true,"ipam":{"type":"host-local","subnet":"10.91.0.0/24"}}]}`), 0o644)
	own, err := m.Network("own")
	if err != nil {
		t.Fatal(err)
	}
	if nm, ok := networkMasq(own); ok {
		t.Errorf("networkMasq(own) = %+v, want none", nm)
	}
}

//go:build integration

package cni

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/net/bridge"
)

// listers are the commands that list the host's rules, with full paths:
// the nftables case runs with only nft on PATH.
func listers(t *testing.T) [][]string {
	var out [][]string
	for _, cmd := range [][]string{{"iptables-save", "-t", "nat"}, {"ip6tables-save", "-t", "nat"}, {"nft", "list", "ruleset"}} {
		p, err := exec.LookPath(cmd[0])
		if err != nil {
			need(t, "%s (apt-get install iptables nftables)", cmd[0])
		}
		out = append(out, append([]string{p}, cmd[1:]...))
	}
	return out
}

// netMasqRules lists the host's per-network masquerade rules of scope, as
// the listers print them.
func netMasqRules(t *testing.T, listers [][]string, scope string) []string {
	t.Helper()
	var out []string
	mark := bridge.NetworkMasqPrefix + scope + " "
	for _, cmd := range listers {
		b, err := exec.Command(cmd[0], cmd[1:]...).Output()
		if err != nil {
			continue // nft without the table
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, mark) {
				out = append(out, filepath.Base(cmd[0])+": "+strings.TrimSpace(l))
			}
		}
	}
	return out
}

func cidr(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNetworkMasquerade syncs the engine's per-network rules: what is
// wanted is added once, what is no longer wanted goes, and one scope never
// touches another's rules. It runs with iptables and, with only nft on
// PATH, with nftables.
func TestNetworkMasquerade(t *testing.T) {
	requireRoot(t)
	ls := listers(t)
	t.Run("iptables", func(t *testing.T) { testNetworkMasquerade(t, ls, "iptables") })
	nft := ls[2][0]
	only := t.TempDir()
	if err := os.Symlink(nft, filepath.Join(only, "nft")); err != nil {
		t.Fatal(err)
	}
	t.Run("nftables", func(t *testing.T) {
		t.Setenv("PATH", only)
		testNetworkMasquerade(t, ls, "nftables")
	})
}

func testNetworkMasquerade(t *testing.T, ls [][]string, backend string) {
	a, b := "ptest-a-"+backend[:3], "ptest-b-"+backend[:3]
	sync := func(scope string, want ...bridge.NetworkMasq) {
		t.Helper()
		if err := bridge.SyncNetworkMasq(scope, want, want); err != nil {
			t.Fatalf("SyncNetworkMasq(%s): %v", scope, err)
		}
	}
	t.Cleanup(func() {
		bridge.SyncNetworkMasq(a, nil, nil)
		bridge.SyncNetworkMasq(b, nil, nil)
	})
	web := bridge.NetworkMasq{Network: "web", Bridge: "ptbrw", Subnets: []*net.IPNet{cidr(t, "10.231.40.0/24"), cidr(t, "fd00:231:40::/64")}}
	db := bridge.NetworkMasq{Network: "db", Bridge: "ptbrd", Subnets: []*net.IPNet{cidr(t, "10.231.41.0/24")}}

	sync(a, web, db)
	got := netMasqRules(t, ls, a)
	if len(got) != 3 {
		t.Fatalf("after the first sync, want 3 rules (two subnets of web, one of db), got:\n%s", strings.Join(got, "\n"))
	}
	for _, want := range []string{"10.231.40.0/24", "fd00:231:40::/64", "10.231.41.0/24", "ptbrw", "ptbrd"} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("no rule mentions %s:\n%s", want, strings.Join(got, "\n"))
		}
	}
	// Syncing again adds nothing.
	sync(a, web, db)
	if again := netMasqRules(t, ls, a); len(again) != 3 {
		t.Errorf("a second sync changed the rules:\n%s", strings.Join(again, "\n"))
	}
	// Another scope's sync leaves a's rules alone.
	sync(b, bridge.NetworkMasq{Network: "web", Bridge: "ptbrx", Subnets: []*net.IPNet{cidr(t, "10.231.42.0/24")}})
	if n := len(netMasqRules(t, ls, a)); n != 3 {
		t.Errorf("scope b's sync left scope a %d rules, want 3", n)
	}
	if n := len(netMasqRules(t, ls, b)); n != 1 {
		t.Errorf("scope b has %d rules, want 1", n)
	}
	// Keeping a rule does not make it: db, only kept, stays gone.
	if err := bridge.SyncNetworkMasq(b, []bridge.NetworkMasq{db}, nil); err != nil {
		t.Fatal(err)
	}
	if r := netMasqRules(t, ls, b); len(r) != 0 {
		t.Errorf("a rule only kept was made, or b's own rule stayed:\n%s", strings.Join(r, "\n"))
	}
	// A network that is gone loses its rule; a changed subnet is replaced.
	web.Subnets = []*net.IPNet{cidr(t, "10.231.43.0/24")}
	sync(a, web)
	got = netMasqRules(t, ls, a)
	if len(got) != 1 || !strings.Contains(got[0], "10.231.43.0/24") {
		t.Errorf("after db went and web moved, want one rule for 10.231.43.0/24, got:\n%s", strings.Join(got, "\n"))
	}
	sync(a)
	if left := netMasqRules(t, ls, a); len(left) > 0 {
		t.Errorf("rules left after syncing to nothing:\n%s", strings.Join(left, "\n"))
	}
	if backend == "nftables" {
		if out, _ := exec.Command(ls[0][0], "-t", "nat").Output(); strings.Contains(string(out), bridge.NetworkMasqPrefix+a) {
			t.Errorf("the nftables backend wrote iptables rules")
		}
	}
	// Bad names are refused before anything changes.
	for _, bad := range []bridge.NetworkMasq{
		{Network: "a b", Bridge: "br", Subnets: web.Subnets},
		{Network: "ok", Bridge: `b"r`, Subnets: web.Subnets},
	} {
		if err := bridge.SyncNetworkMasq(a, nil, []bridge.NetworkMasq{bad}); err == nil {
			t.Errorf("SyncNetworkMasq(%+v) succeeded", bad)
		}
	}
}

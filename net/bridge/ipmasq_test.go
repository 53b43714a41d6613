package bridge

import (
	"net"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/net/iptables"
)

func TestChainNameMatchesReference(t *testing.T) {
	// The reference plugin's chain: "CNI-" and the SHA-512 of name+ID,
	// 28 characters (printf mynetctr1 | sha512sum).
	if got, want := ChainName("mynet", "ctr1"), "CNI-5145007e2a8415ce07579739"; got != want {
		t.Fatalf("ChainName = %q, want %q", got, want)
	}
	if got, want := Comment("n", "c"), `name: "n" id: "c"`; got != want {
		t.Fatalf("Comment = %q, want %q", got, want)
	}
}

func TestCommentID(t *testing.T) {
	f := iptables.SplitRule(`-A POSTROUTING -s 10.231.0.2/32 -m comment --comment "name: \"n\" id: \"abc\"" -j CNI-x`)
	if id, ok := iptables.CommentID(f, `name: "n" id: `); !ok || id != "abc" {
		t.Fatalf("CommentID = %q, %v", id, ok)
	}
	if _, ok := iptables.CommentID(f, `name: "other" id: `); ok {
		t.Fatal("matched another network's rule")
	}
}

func TestNFTCommentMatchesReference(t *testing.T) {
	// knftables layout of the reference plugin: 16 hex digits of SHA-512 of
	// the network, then of "ifname:containerID".
	want := `d23676b4f2d9fe04-7883a6f9ce71eedb, net: mynet, if: eth0, id: ctr1`
	if got := nftComment("mynet", "eth0", "ctr1"); got != want {
		t.Fatalf("nftComment = %q, want %q", got, want)
	}
	if got := nftComment("n", "eth0", strings.Repeat("x", 200)); len(got) != 128 {
		t.Fatalf("comment of %d characters, want it cut to 128", len(got))
	}
}

func TestNetMasqRules(t *testing.T) {
	_, v4, _ := net.ParseCIDR("10.89.0.0/16")
	_, v6, _ := net.ParseCIDR("fd00:89::/64")
	// A subnet given with host bits is masked.
	unmasked := &net.IPNet{IP: net.ParseIP("10.7.0.9").To4(), Mask: net.CIDRMask(24, 32)}
	tests := []struct {
		name  string
		scope string
		in    NetworkMasq
		want  []string // comments
		err   string
	}{
		{"two families", "s1", NetworkMasq{"petrel0", "petrel0", []*net.IPNet{v4, v6}},
			[]string{"petrel network s1 petrel0 10.89.0.0/16 petrel0", "petrel network s1 petrel0 fd00:89::/64 petrel0"}, ""},
		{"masked", "s1", NetworkMasq{"n", "br", []*net.IPNet{unmasked}}, []string{"petrel network s1 n 10.7.0.0/24 br"}, ""},
		{"no scope", "", NetworkMasq{"n", "br", []*net.IPNet{v4}}, nil, "invalid scope"},
		{"space in name", "s1", NetworkMasq{"a b", "br", []*net.IPNet{v4}}, nil, "invalid network name"},
		{"quote in bridge", "s1", NetworkMasq{"n", `b"r`, []*net.IPNet{v4}}, nil, "invalid bridge name"},
		{"no bridge", "s1", NetworkMasq{"n", "", []*net.IPNet{v4}}, nil, "invalid bridge name"},
	}
	for _, tt := range tests {
		rules, err := netMasqRules(tt.scope, []NetworkMasq{tt.in})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		var got []string
		for _, r := range rules {
			got = append(got, r.comment)
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s: comments %q, want %q", tt.name, got, tt.want)
		}
	}
	r, _ := netMasqRules("s1", []NetworkMasq{{"n", "br0", []*net.IPNet{v6}}})
	if got, want := r[0].nft(), `add rule ip6 petrel_masquerade postrouting ip6 saddr fd00:89::/64 oifname != "br0" masquerade comment "petrel network s1 n fd00:89::/64 br0"`; got != want {
		t.Errorf("nft rule\n%s\nwant\n%s", got, want)
	}
}

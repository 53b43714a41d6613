package bridge

import (
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

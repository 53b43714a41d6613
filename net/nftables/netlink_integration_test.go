//go:build integration

package nftables

import (
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"testing"
)

// The netlink listing gives what nft's JSON listing gives: handles,
// chains and comments (with spaces and quotes dropped as Quote does).
func TestNetlinkListingMatchesNFT(t *testing.T) {
	if os.Getuid() != 0 || !Available() {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root and nft")
		}
		t.Skip("needs root and nft")
	}
	table := fmt.Sprintf("petrel_test_%d", os.Getpid())
	script := "add table inet " + table + "\n" +
		"add chain inet " + table + " c1\n" +
		"add chain inet " + table + " c2\n" +
		"add rule inet " + table + " c1 ip daddr 10.1.0.0/16 accept comment " + Quote("name: net1 id: abc") + "\n" +
		"add rule inet " + table + " c1 counter\n" +
		"add rule inet " + table + " c2 ip6 daddr ff00::/8 return comment " + Quote("x") + "\n"
	if err := Run(script); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", table).Run() })
	for _, chain := range []string{"c1", "c2", ""} {
		what, names := "chain", []string{"inet", table, chain}
		if chain == "" {
			what, names = "table", names[:2]
		}
		want, err := listNFT(what, names...)
		if err != nil {
			t.Fatal(err)
		}
		got, err := listNetlink("inet", table, chain)
		if err != nil {
			t.Fatal(err)
		}
		if len(want) == 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("chain %q: netlink %+v\nnft %+v", chain, got, want)
		}
	}
	if got, err := listNetlink("inet", table+"_none", ""); err != nil || got != nil {
		t.Errorf("missing table: %v, %v", got, err)
	}
}

package bridge

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/petrel-edge/petrel/net/iptables"
	"github.com/petrel-edge/petrel/net/nftables"
)

// Per-network masquerading, as Docker does it for its bridges: one rule for
// each subnet of a network instead of a chain for each container, so that
// attaching a container runs no firewall command at all. The engine uses it
// for the networks it writes, whose bridge plugin has ipMasq off.
//
//	iptables: nat POSTROUTING -s <subnet> ! -o <bridge> -j MASQUERADE
//	          -m comment --comment "petrel network <scope> <name> <subnet> <bridge>"
//	nftables: table ip/ip6 petrel_masquerade, chain postrouting (nat, srcnat):
//	          saddr <subnet> oifname != <bridge> masquerade comment "…" (same)
//
// The comment names everything the rule matches, so comparing comments
// tells which rules are wanted, missing or stale. The scope names the set
// of networks a caller manages (the engine: its configuration directory),
// so that a caller's rules are never taken for another's stale ones.

// NetworkMasqPrefix starts the comment of every per-network rule.
const NetworkMasqPrefix = "petrel network "

const nftNetMasqTable = "petrel_masquerade"

// A NetworkMasq is the masquerading one network wants: traffic from its
// subnets that leaves through an interface other than its bridge.
type NetworkMasq struct {
	Network string // a network name: letters, digits and _.- only
	Bridge  string
	Subnets []*net.IPNet
}

// netMasqRule is one subnet's rule.
type netMasqRule struct {
	subnet  *net.IPNet
	bridge  string
	comment string
}

func (r netMasqRule) v6() bool { return r.subnet.IP.To4() == nil }

func (r netMasqRule) iptablesArgs() []string {
	return []string{"-s", r.subnet.String(), "!", "-o", r.bridge, "-m", "comment", "--comment", r.comment, "-j", "MASQUERADE"}
}

func (r netMasqRule) nft() string {
	fam := "ip"
	if r.v6() {
		fam = "ip6"
	}
	return fmt.Sprintf("add rule %s %s postrouting %s saddr %s oifname != %s masquerade comment %s",
		fam, nftNetMasqTable, fam, r.subnet, nftables.Quote(r.bridge), nftables.Quote(r.comment))
}

// netMasqRules returns the rules of the networks, checking what goes into
// the comments.
func netMasqRules(scope string, want []NetworkMasq) ([]netMasqRule, error) {
	if scope == "" || strings.ContainsAny(scope, " \t\n\"\\") {
		return nil, fmt.Errorf("masquerade: invalid scope %q", scope)
	}
	var out []netMasqRule
	for _, m := range want {
		if m.Network == "" || strings.ContainsAny(m.Network, " \t\n\"\\") {
			return nil, fmt.Errorf("masquerade: invalid network name %q", m.Network)
		}
		if m.Bridge == "" || strings.ContainsAny(m.Bridge, " \t\n\"\\/") {
			return nil, fmt.Errorf("masquerade: network %s: invalid bridge name %q", m.Network, m.Bridge)
		}
		for _, s := range m.Subnets {
			s = &net.IPNet{IP: s.IP.Mask(s.Mask), Mask: s.Mask}
			out = append(out, netMasqRule{subnet: s, bridge: m.Bridge,
				comment: NetworkMasqPrefix + scope + " " + m.Network + " " + s.String() + " " + m.Bridge})
		}
	}
	return out, nil
}

// SyncNetworkMasq deletes the scope's per-network rules that are not those
// of keep (networks since removed, or made for another subnet or bridge)
// and adds the rules of add that are missing. iptables is used where it is
// installed, else nftables, as for ipMasq; rules a former backend left are
// removed from the other too.
func SyncNetworkMasq(scope string, keep, add []NetworkMasq) error {
	kept, err := netMasqRules(scope, keep)
	if err != nil {
		return err
	}
	added, err := netMasqRules(scope, add)
	if err != nil {
		return err
	}
	backend, err := masqBackend(&NetConf{})
	if err != nil {
		if len(added) == 0 {
			return nil // nothing can be there to delete either
		}
		return err
	}
	var errs []error
	if _, lerr := iptables.New(false); lerr == nil {
		if backend == "iptables" {
			errs = append(errs, syncIPTablesNetMasq(scope, kept, added))
		} else {
			errs = append(errs, syncIPTablesNetMasq(scope, nil, nil))
		}
	}
	if backend == "nftables" {
		errs = append(errs, syncNFTNetMasq(scope, kept, added))
	} else if nftables.Available() {
		errs = append(errs, syncNFTNetMasq(scope, nil, nil))
	}
	return errors.Join(errs...)
}

// sameFamily returns the rules of one address family.
func sameFamily(rules []netMasqRule, v6 bool) []netMasqRule {
	var out []netMasqRule
	for _, r := range rules {
		if r.v6() == v6 {
			out = append(out, r)
		}
	}
	return out
}

func syncIPTablesNetMasq(scope string, keep, add []netMasqRule) error {
	ours := NetworkMasqPrefix + scope + " "
	unlock, err := iptables.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	for _, v6 := range []bool{false, true} {
		keep, add := sameFamily(keep, v6), sameFamily(add, v6)
		ipt, err := iptables.New(v6)
		if err != nil {
			if len(add) > 0 {
				errs = append(errs, err)
			}
			continue
		}
		snap, err := ipt.Snapshot("nat")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		have := map[string]bool{}
		b := iptables.NewBatch("nat")
		for _, line := range snap.Rules("POSTROUTING") {
			c, ok := ruleComment(iptables.SplitRule(line))
			if !ok || !strings.HasPrefix(c, ours) {
				continue
			}
			if (wanted(keep, c) || wanted(add, c)) && !have[c] {
				have[c] = true
				continue
			}
			b.DeleteLine(line) // stale, or a duplicate
		}
		for _, r := range add {
			if !have[r.comment] {
				have[r.comment] = true
				b.Append("POSTROUTING", r.iptablesArgs()...)
			}
		}
		if err := ipt.Apply(b); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func wanted(rules []netMasqRule, comment string) bool {
	for _, r := range rules {
		if r.comment == comment {
			return true
		}
	}
	return false
}

// ruleComment returns the --comment of an iptables -S rule.
func ruleComment(fields []string) (string, bool) {
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "--comment" {
			return fields[i+1], true
		}
	}
	return "", false
}

func syncNFTNetMasq(scope string, keep, add []netMasqRule) error {
	ours := NetworkMasqPrefix + scope + " "
	var b strings.Builder
	changed := false
	for _, fam := range []string{"ip", "ip6"} {
		keep, add := sameFamily(keep, fam == "ip6"), sameFamily(add, fam == "ip6")
		all, err := nftables.ListRules(fam, nftNetMasqTable, "postrouting")
		if err != nil {
			return err
		}
		var have []nftables.Rule
		for _, r := range all {
			if strings.HasPrefix(r.Comment, ours) {
				have = append(have, r)
			}
		}
		if len(add) == 0 && len(have) == 0 {
			continue
		}
		fmt.Fprintf(&b, "add table %s %s\n", fam, nftNetMasqTable)
		fmt.Fprintf(&b, "add chain %s %s postrouting { type nat hook postrouting priority srcnat ; }\n", fam, nftNetMasqTable)
		seen := map[string]bool{}
		for _, r := range have {
			if (wanted(keep, r.Comment) || wanted(add, r.Comment)) && !seen[r.Comment] {
				seen[r.Comment] = true
				continue
			}
			b.WriteString(r.Delete() + "\n")
			changed = true
		}
		sort.Slice(add, func(i, j int) bool { return add[i].comment < add[j].comment })
		for _, r := range add {
			if !seen[r.comment] {
				seen[r.comment] = true
				b.WriteString(r.nft() + "\n")
				changed = true
			}
		}
	}
	if !changed {
		return nil
	}
	return nftables.Run(b.String())
}

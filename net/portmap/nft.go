package portmap

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/petrel-edge/petrel/net/nftables"
)

// With nftables, port forwarding follows the reference plugin's layout, one
// table per address family:
//
//	table ip|ip6 cni_hostport
//	  chain prerouting, output (nat, dstnat): fib daddr type local jump hostports_all
//	  chain hostports_all: jump hostip_hostports; jump hostports
//	  chain hostports: [ip daddr <hostIP>] tcp dport 8080 dnat to <container IP>:80 comment "<id>"
//	  chain masquerading (nat, srcnat): ip saddr <C> ip daddr <C> masquerade comment "<id>"  (hairpin)
//	                                    ip saddr 127.0.0.1 ip daddr <C> masquerade comment "<id>"  (IPv4, from the host)
const (
	nftTable        = "cni_hostport"
	nftAllChain     = "hostports_all"
	nftHostIPChain  = "hostip_hostports"
	nftHostPorts    = "hostports"
	nftMasquerading = "masquerading"
)

func nftFamily(v6 bool) string {
	if v6 {
		return "ip6"
	}
	return "ip"
}

func forwardNFT(c *Conf, contNet net.IPNet) error {
	v6 := contNet.IP.To4() == nil
	fam := nftFamily(v6)
	t := fam + " " + nftTable
	var cond []string
	if v6 && c.ConditionsV6 != nil {
		cond = *c.ConditionsV6
	} else if !v6 && c.ConditionsV4 != nil {
		cond = *c.ConditionsV4
	}
	conds := strings.Join(append(append([]string(nil), cond...), ""), " ")
	var b strings.Builder
	fmt.Fprintf(&b, "add table %s { comment %s ; }\n", t, nftables.Quote("CNI portmap plugin"))
	for _, ch := range []string{nftHostPorts, nftHostIPChain, nftAllChain} {
		fmt.Fprintf(&b, "add chain %s %s\n", t, ch)
	}
	fmt.Fprintf(&b, "flush chain %s %s\n", t, nftAllChain)
	fmt.Fprintf(&b, "add rule %s %s jump %s\n", t, nftAllChain, nftHostIPChain)
	fmt.Fprintf(&b, "add rule %s %s jump %s\n", t, nftAllChain, nftHostPorts)
	for _, hook := range []string{"prerouting", "output"} {
		fmt.Fprintf(&b, "add chain %s %s { type nat hook %s priority -100 ; }\n", t, hook, hook)
		fmt.Fprintf(&b, "flush chain %s %s\n", t, hook)
		fmt.Fprintf(&b, "add rule %s %s %sfib daddr type local jump %s\n", t, hook, conds, nftAllChain)
	}
	if *c.SNAT {
		fmt.Fprintf(&b, "add chain %s %s { type nat hook postrouting priority 100 ; }\n", t, nftMasquerading)
	}
	comment := nftables.Quote(c.containerID)
	for _, e := range c.RuntimeConfig.PortMaps {
		match := ""
		if e.HostIP != "" {
			hip := net.ParseIP(e.HostIP)
			if (hip.To4() == nil) != v6 {
				continue
			}
			if !hip.IsUnspecified() {
				match = fmt.Sprintf("%s daddr %s ", fam, e.HostIP)
			}
		}
		fmt.Fprintf(&b, "add rule %s %s %s%s dport %d dnat to %s comment %s\n", t, nftHostPorts, match, e.Protocol, e.HostPort,
			net.JoinHostPort(contNet.IP.String(), strconv.Itoa(e.ContainerPort)), comment)
	}
	if *c.SNAT {
		fmt.Fprintf(&b, "add rule %s %s %s saddr %s %s daddr %s masquerade comment %s\n", t, nftMasquerading, fam, contNet.IP, fam, contNet.IP, comment)
		if !v6 {
			fmt.Fprintf(&b, "add rule %s %s ip saddr 127.0.0.1 ip daddr %s masquerade comment %s\n", t, nftMasquerading, contNet.IP, comment)
		}
	}
	if err := nftables.Run(b.String()); err != nil {
		return fmt.Errorf("unable to set up nftables rules for port mappings: %w", err)
	}
	return nil
}

// unforwardNFT deletes the container's rules in the given families.
func unforwardNFT(containerID string, families []bool) error {
	for _, v6 := range families {
		rules, err := nftables.ListTableRules(nftFamily(v6), nftTable)
		if err != nil {
			return err
		}
		var b strings.Builder
		for _, r := range rules {
			if r.Comment == containerID && (r.Chain == nftHostPorts || r.Chain == nftHostIPChain || r.Chain == nftMasquerading) {
				b.WriteString(r.Delete() + "\n")
			}
		}
		if b.Len() > 0 {
			if err := nftables.Run(b.String()); err != nil {
				return fmt.Errorf("error deleting nftables rules: %w", err)
			}
		}
	}
	return nil
}

// checkNFT counts the container's rules: one DNAT per mapping of the
// family, and the masquerading ones.
func checkNFT(c *Conf, contNet net.IPNet) error {
	v6 := contNet.IP.To4() == nil
	rules, err := nftables.ListTableRules(nftFamily(v6), nftTable)
	if err != nil {
		return err
	}
	want := map[string]int{}
	for _, e := range c.RuntimeConfig.PortMaps {
		if e.HostIP != "" && (net.ParseIP(e.HostIP).To4() == nil) != v6 {
			continue
		}
		want[nftHostPorts]++
	}
	if *c.SNAT {
		want[nftMasquerading] = 2
		if v6 {
			want[nftMasquerading] = 1
		}
	}
	got := map[string]int{}
	for _, r := range rules {
		if r.Comment == c.containerID {
			got[r.Chain]++
		}
	}
	for ch, n := range want {
		if got[ch] < n {
			return fmt.Errorf("missing hostport rules in %q chain", ch)
		}
	}
	return nil
}

package bridge

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"

	"github.com/petrel-edge/petrel/net/nftables"
)

// With nftables, masquerading follows the reference plugin's layout:
//
//	table inet cni_plugins_masquerade
//	  chain postrouting (nat, srcnat): multicast returns, else goto masq_checks
//	  chain masq_checks: ip saddr == <container IP> ip daddr != <subnet> masquerade
//	                     comment "<hash(net)>-<hash(if:id)>, net: …, if: …, id: …"
const (
	nftMasqTable = "cni_plugins_masquerade"
	nftMasqChain = "masq_checks"
)

func hash16(s string) string {
	sum := sha512.Sum512([]byte(s))
	return hex.EncodeToString(sum[:])[:16]
}

func nftNetworkHash(network string) string { return hash16(network) }

func nftInstanceHash(network, ifname, containerID string) string {
	return hash16(network) + "-" + hash16(ifname+":"+containerID)
}

func nftComment(network, ifname, containerID string) string {
	c := fmt.Sprintf("%s, net: %s, if: %s, id: %s", nftInstanceHash(network, ifname, containerID),
		strings.ReplaceAll(network, `"`, ""), strings.ReplaceAll(ifname, `"`, ""), strings.ReplaceAll(containerID, `"`, ""))
	if len(c) > nftables.CommentMax {
		c = c[:nftables.CommentMax]
	}
	return c
}

// masqBackend returns the configured backend, else iptables where it is
// installed, else nftables.
func masqBackend(n *NetConf) (string, error) {
	if n.IPMasqBackend != nil {
		return *n.IPMasqBackend, nil
	}
	if _, err := exec.LookPath("iptables"); err == nil {
		return "iptables", nil
	}
	if nftables.Available() {
		return "nftables", nil
	}
	return "", errors.New("ipMasq needs iptables or nft, and neither is installed")
}

func setupNFTMasq(ipns []*net.IPNet, network, ifname, containerID string) error {
	stale, err := nftables.ListRules("inet", nftMasqTable, nftMasqChain)
	if err != nil {
		return err
	}
	t := "inet " + nftMasqTable
	var b strings.Builder
	fmt.Fprintf(&b, "add table %s { comment %s ; }\n", t, nftables.Quote("Masquerading for plugins from github.com/containernetworking/plugins"))
	fmt.Fprintf(&b, "add chain %s %s { comment %s ; }\n", t, nftMasqChain, nftables.Quote("Masquerade traffic from certain IPs to any (non-multicast) IP outside their subnet"))
	fmt.Fprintf(&b, "add chain %s postrouting { type nat hook postrouting priority 100 ; }\n", t)
	fmt.Fprintf(&b, "flush chain %s postrouting\n", t)
	fmt.Fprintf(&b, "add rule %s postrouting ip daddr == 224.0.0.0/4 return\n", t)
	fmt.Fprintf(&b, "add rule %s postrouting ip6 daddr == ff00::/8 return\n", t)
	fmt.Fprintf(&b, "add rule %s postrouting goto %s\n", t, nftMasqChain)
	prefix := nftInstanceHash(network, ifname, containerID)
	for _, r := range stale {
		if strings.HasPrefix(r.Comment, prefix) {
			b.WriteString(r.Delete() + "\n")
		}
	}
	comment := nftables.Quote(nftComment(network, ifname, containerID))
	for _, ipn := range ipns {
		fam := "ip"
		if ipn.IP.To4() == nil {
			fam = "ip6"
		}
		dst := &net.IPNet{IP: ipn.IP.Mask(ipn.Mask), Mask: ipn.Mask}
		fmt.Fprintf(&b, "add rule %s %s %s saddr == %s %s daddr != %s masquerade comment %s\n", t, nftMasqChain, fam, ipn.IP, fam, dst, comment)
	}
	return nftables.Run(b.String())
}

// teardownNFTMasq deletes the rules of one attachment, or with ifname and
// containerID empty and keep set, those of the network whose comment is not
// in keep.
func teardownNFTMasq(network, ifname, containerID string, keep map[string]bool) error {
	rules, err := nftables.ListRules("inet", nftMasqTable, nftMasqChain)
	if err != nil || len(rules) == 0 {
		return err
	}
	var b strings.Builder
	for _, r := range rules {
		switch {
		case keep == nil && strings.HasPrefix(r.Comment, nftInstanceHash(network, ifname, containerID)):
		case keep != nil && strings.HasPrefix(r.Comment, nftNetworkHash(network)) && !keep[r.Comment]:
		default:
			continue
		}
		b.WriteString(r.Delete() + "\n")
	}
	if b.Len() == 0 {
		return nil
	}
	return nftables.Run(b.String())
}

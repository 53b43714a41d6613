package bridge

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/petrel-edge/petrel/net/iptables"
)

// Masquerading follows the reference plugin's iptables layout, so that
// either plugin can remove the other's rules:
//
//	nat POSTROUTING -s <container IP> -j CNI-<hash> -m comment --comment <c>
//	nat CNI-<hash>  -d <container subnet> -j ACCEPT        -m comment --comment <c>
//	nat CNI-<hash>  ! -d 224.0.0.0/4 (ff00::/8) -j MASQUERADE -m comment --comment <c>
//
// where <hash> is the hex SHA-512 of network name + container ID, cut to a
// 28-character chain name, and <c> is `name: "<network>" id: "<container>"`.

// ChainName is the per-container chain for network and container ID.
func ChainName(network, containerID string) string {
	sum := sha512.Sum512([]byte(network + containerID))
	return ("CNI-" + hex.EncodeToString(sum[:]))[:28]
}

// Comment is the comment on every rule made for network and container ID.
func Comment(network, containerID string) string {
	return "name: " + strconv.Quote(network) + " id: " + strconv.Quote(containerID)
}

func setupIPMasq(ipns []*net.IPNet, network, containerID string) error {
	chain, comment := ChainName(network, containerID), Comment(network, containerID)
	for _, ipn := range ipns {
		v6 := ipn.IP.To4() == nil
		multicast := "224.0.0.0/4"
		if v6 {
			multicast = "ff00::/8"
		}
		ipt, err := iptables.New(v6)
		if err != nil {
			return fmt.Errorf("failed to locate iptables: %w", err)
		}
		if err := ipt.EnsureChain("nat", chain); err != nil {
			return err
		}
		if err := ipt.AppendUnique("nat", chain, "-d", ipn.String(), "-j", "ACCEPT", "-m", "comment", "--comment", comment); err != nil {
			return err
		}
		if err := ipt.AppendUnique("nat", chain, "!", "-d", multicast, "-j", "MASQUERADE", "-m", "comment", "--comment", comment); err != nil {
			return err
		}
		if err := ipt.AppendUnique("nat", "POSTROUTING", "-s", ipn.IP.String(), "-j", chain, "-m", "comment", "--comment", comment); err != nil {
			return err
		}
	}
	return nil
}

// teardownIPMasq removes the container's chain and every jump to it, in both
// address families; what is already gone is skipped.
func teardownIPMasq(network, containerID string) error {
	chain := ChainName(network, containerID)
	var errs []error
	for _, v6 := range []bool{false, true} {
		ipt, err := iptables.New(v6)
		if err != nil {
			continue // no such family's tool: nothing of ours can be there
		}
		ok, err := ipt.ChainExists("nat", chain)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !ok {
			continue
		}
		if err := ipt.DeleteJumps("nat", "POSTROUTING", chain); err != nil {
			errs = append(errs, err)
		}
		if err := ipt.ClearAndDeleteChain("nat", chain); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// gcIPMasq removes the masquerading of containers of network that are not
// in valid (container IDs).
func gcIPMasq(network string, valid map[string]bool) error {
	prefix := "name: " + strconv.Quote(network) + " id: "
	var errs []error
	for _, v6 := range []bool{false, true} {
		ipt, err := iptables.New(v6)
		if err != nil {
			continue
		}
		rules, err := ipt.Rules("nat", "POSTROUTING")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range rules {
			id, ok := commentID(iptables.SplitRule(r), prefix)
			if ok && !valid[id] {
				if err := teardownIPMasq(network, id); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func commentID(fields []string, prefix string) (string, bool) {
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == "--comment" && strings.HasPrefix(fields[i+1], prefix) {
			id, err := strconv.Unquote(strings.TrimPrefix(fields[i+1], prefix))
			return id, err == nil
		}
	}
	return "", false
}

package bridge

import (
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"

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
	unlock, err := iptables.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	chain, comment := ChainName(network, containerID), Comment(network, containerID)
	for _, v6 := range []bool{false, true} {
		var fam []*net.IPNet
		for _, ipn := range ipns {
			if (ipn.IP.To4() == nil) == v6 {
				fam = append(fam, ipn)
			}
		}
		if len(fam) == 0 {
			continue
		}
		multicast := "224.0.0.0/4"
		if v6 {
			multicast = "ff00::/8"
		}
		ipt, err := iptables.New(v6)
		if err != nil {
			return fmt.Errorf("failed to locate iptables: %w", err)
		}
		snap, err := ipt.Snapshot("nat")
		if err != nil {
			return err
		}
		// Rules in the order the reference plugin appends them.
		type rule struct {
			chain string
			args  []string
		}
		var rules []rule
		for _, ipn := range fam {
			rules = append(rules,
				rule{chain, []string{"-d", ipn.String(), "-j", "ACCEPT", "-m", "comment", "--comment", comment}},
				rule{chain, []string{"!", "-d", multicast, "-j", "MASQUERADE", "-m", "comment", "--comment", comment}},
				rule{"POSTROUTING", []string{"-s", ipn.IP.String(), "-j", chain, "-m", "comment", "--comment", comment}})
		}
		if snap.HasChain(chain) {
			// Another interface of the same container: add what is missing,
			// one checked rule at a time.
			for _, r := range rules {
				if err := ipt.AppendUnique("nat", r.chain, r.args...); err != nil {
					return err
				}
			}
			continue
		}
		b := iptables.NewBatch("nat")
		b.NewChain(chain)
		for _, r := range rules {
			b.Append(r.chain, r.args...)
		}
		if err := ipt.Apply(b); err != nil {
			return err
		}
	}
	return nil
}

// teardownIPMasq removes the container's chain and every jump to it in the
// address families given (false for IPv4, true for IPv6); what is already
// gone is skipped.
func teardownIPMasq(network, containerID string, families []bool) error {
	unlock, err := iptables.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	var errs []error
	for _, v6 := range families {
		ipt, err := iptables.New(v6)
		if err != nil {
			continue // no such family's tool: nothing of ours can be there
		}
		snap, err := ipt.Snapshot("nat")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b := iptables.NewBatch("nat")
		removeChain(b, snap, ChainName(network, containerID))
		if err := ipt.Apply(b); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeChain adds to b the removal of chain and of every jump to it.
func removeChain(b *iptables.Batch, snap *iptables.Snapshot, chain string) {
	if !snap.HasChain(chain) {
		return
	}
	for _, j := range snap.Jumps(chain) {
		b.DeleteLine(j)
	}
	b.RemoveChain(chain)
}

// gcIPMasq removes the masquerading of containers of network that are not
// in valid (container IDs).
func gcIPMasq(network string, valid map[string]bool) error {
	unlock, err := iptables.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	prefix := "name: " + strconv.Quote(network) + " id: "
	var errs []error
	for _, v6 := range []bool{false, true} {
		ipt, err := iptables.New(v6)
		if err != nil {
			continue
		}
		snap, err := ipt.Snapshot("nat")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b := iptables.NewBatch("nat")
		done := map[string]bool{}
		for _, r := range snap.Rules("POSTROUTING") {
			id, ok := iptables.CommentID(iptables.SplitRule(r), prefix)
			if ok && !valid[id] && !done[id] {
				done[id] = true
				removeChain(b, snap, ChainName(network, id))
			}
		}
		if err := ipt.Apply(b); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

package bridge

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"

	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// ensureBridge creates the bridge unless it exists, and sets it up.
func ensureBridge(name string, mtu int, promisc, vlanFiltering bool) (*netlink.Bridge, error) {
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu, TxQLen: -1}}
	if vlanFiltering {
		br.VlanFiltering = &vlanFiltering
	}
	if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, syscall.EEXIST) {
		return nil, fmt.Errorf("create bridge %q: %w", name, err)
	}
	b, err := bridgeByName(name)
	if err != nil {
		return nil, err
	}
	if promisc {
		if err := netlink.SetPromiscOn(b); err != nil {
			return nil, fmt.Errorf("set promiscuous mode on %q: %w", name, err)
		}
	}
	if vlanFiltering && (b.VlanFiltering == nil || !*b.VlanFiltering) {
		if err := netlink.BridgeSetVlanFiltering(b, true); err != nil {
			return nil, fmt.Errorf("turn on VLAN filtering on %q: %w", name, err)
		}
	}
	if err := netlink.LinkSetUp(b); err != nil {
		return nil, fmt.Errorf("set %q up: %w", name, err)
	}
	return b, nil
}

func bridgeByName(name string) (*netlink.Bridge, error) {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("could not lookup %q: %w", name, err)
	}
	br, ok := l.(*netlink.Bridge)
	if !ok {
		return nil, fmt.Errorf("%q already exists but is not a bridge", name)
	}
	return br, nil
}

func randomVethName() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate veth name: %w", err)
	}
	return "veth" + hex.EncodeToString(b), nil
}

// setupVeth creates the pair: ifName in the container's namespace and a
// random veth… name in the host's, attached to the bridge.
func setupVeth(netns ns.NetNS, br *netlink.Bridge, ifName string, mtu int, mac string, hairpin bool, vlan int, preserveDefaultVlan bool) (host, cont *current.Interface, err error) {
	host, cont = &current.Interface{}, &current.Interface{}
	err = netns.Do(func(hostNS ns.NetNS) error {
		if _, err := netlinksafe.LinkByName(ifName); err == nil {
			return fmt.Errorf("container veth name provided (%v) already exists", ifName)
		}
		for i := 0; i < 10; i++ {
			peer, err := randomVethName()
			if err != nil {
				return err
			}
			v := &netlink.Veth{
				LinkAttrs:     netlink.LinkAttrs{Name: ifName, MTU: mtu},
				PeerName:      peer,
				PeerNamespace: netlink.NsFd(int(hostNS.Fd())),
			}
			if mac != "" {
				v.HardwareAddr, _ = net.ParseMAC(mac)
			}
			err = netlink.LinkAdd(v)
			if errors.Is(err, syscall.EEXIST) {
				continue // the random host name is taken
			}
			if err != nil {
				return fmt.Errorf("create veth pair %s/%s: %w", ifName, peer, err)
			}
			host.Name = peer
			break
		}
		if host.Name == "" {
			return fmt.Errorf("create veth pair for %s: no free host name", ifName)
		}
		c, err := netlinksafe.LinkByName(ifName)
		if err != nil {
			return fmt.Errorf("find %s: %w", ifName, err)
		}
		if err := netlink.LinkSetUp(c); err != nil {
			return fmt.Errorf("set %s up: %w", ifName, err)
		}
		cont.Name, cont.Mac, cont.Sandbox = ifName, c.Attrs().HardwareAddr.String(), netns.Path()
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	// From here on a failure removes the pair again.
	defer func() {
		if err != nil {
			if l, e := netlinksafe.LinkByName(host.Name); e == nil {
				_ = netlink.LinkDel(l)
			}
		}
	}()
	hv, err := netlinksafe.LinkByName(host.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to lookup %q: %w", host.Name, err)
	}
	if mtu > 0 && hv.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(hv, mtu); err != nil {
			return nil, nil, fmt.Errorf("set MTU of %s: %w", host.Name, err)
		}
	}
	if err := netlink.LinkSetUp(hv); err != nil {
		return nil, nil, fmt.Errorf("set %s up: %w", host.Name, err)
	}
	if err := netlink.LinkSetMaster(hv, br); err != nil {
		return nil, nil, fmt.Errorf("failed to connect %q to bridge %v: %w", host.Name, br.Name, err)
	}
	if err := netlink.LinkSetHairpin(hv, hairpin); err != nil {
		return nil, nil, fmt.Errorf("failed to setup hairpin mode for %v: %w", host.Name, err)
	}
	if vlan != 0 {
		if !preserveDefaultVlan {
			if err := removeDefaultVlan(hv); err != nil {
				return nil, nil, fmt.Errorf("failed to remove default vlan on interface %q: %w", host.Name, err)
			}
		}
		if err := netlink.BridgeVlanAdd(hv, uint16(vlan), true, true, false, true); err != nil {
			return nil, nil, fmt.Errorf("failed to setup vlan tag on interface %q: %w", host.Name, err)
		}
	}
	host.Mac = hv.Attrs().HardwareAddr.String()
	return host, cont, nil
}

func removeDefaultVlan(l netlink.Link) error {
	all, err := netlinksafe.BridgeVlanList()
	if err != nil {
		return err
	}
	for _, info := range all[int32(l.Attrs().Index)] {
		if err := netlink.BridgeVlanDel(l, info.Vid, false, false, false, true); err != nil {
			return err
		}
	}
	return nil
}

// ensureVlanInterface returns the gateway port <bridge>.<vlan>: a veth whose
// one end sits on the bridge, tagged with the VLAN, and carries the gateway
// address for that VLAN.
func ensureVlanInterface(br *netlink.Bridge, vlan int, preserveDefaultVlan bool) (netlink.Link, error) {
	name := fmt.Sprintf("%s.%d", br.Name, vlan)
	if l, err := netlinksafe.LinkByName(name); err == nil {
		return l, nil
	}
	hostNS, err := ns.GetCurrentNS()
	if err != nil {
		return nil, fmt.Errorf("find host namespace: %w", err)
	}
	defer hostNS.Close()
	_, gw, err := setupVeth(hostNS, br, name, br.MTU, "", false, vlan, preserveDefaultVlan)
	if err != nil {
		return nil, fmt.Errorf("create vlan gateway %q: %w", name, err)
	}
	l, err := netlinksafe.LinkByName(gw.Name)
	if err != nil {
		return nil, fmt.Errorf("failed to lookup %q: %w", gw.Name, err)
	}
	return l, nil
}

// ensureAddr puts the gateway address on the bridge (or VLAN port). An
// address of the same subnet that differs is an error unless force is set,
// in which case it is replaced.
func ensureAddr(l netlink.Link, family int, ipn *net.IPNet, force bool) error {
	addrs, err := netlinksafe.AddrList(l, family)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", l.Attrs().Name, err)
	}
	ipnStr := ipn.String()
	for _, a := range addrs {
		if a.IPNet.String() == ipnStr {
			return nil
		}
		if family == netlink.FAMILY_V6 && a.IP.IsLinkLocalUnicast() {
			continue
		}
		if a.Contains(ipn.IP) || ipn.Contains(a.IP) {
			if !force {
				return fmt.Errorf("%q already has an IP address different from %v", l.Attrs().Name, ipnStr)
			}
			if err := netlink.AddrDel(l, &a); err != nil {
				return fmt.Errorf("remove address %v from %s: %w", a.IPNet, l.Attrs().Name, err)
			}
		}
	}
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipn, Label: ""}); err != nil && !errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("could not add IP address to %q: %w", l.Attrs().Name, err)
	}
	return nil
}

// configureIface gives the container's interface the result's addresses
// and routes; the caller is in the container's namespace.
func configureIface(ifName string, res *current.Result) error {
	l, err := netlinksafe.LinkByName(ifName)
	if err != nil {
		return fmt.Errorf("failed to lookup %q: %w", ifName, err)
	}
	var v4gw, v6gw net.IP
	for _, ipc := range res.IPs {
		if ipc.Interface == nil || *ipc.Interface >= len(res.Interfaces) || res.Interfaces[*ipc.Interface].Name != ifName {
			continue
		}
		addr := &netlink.Addr{IPNet: &ipc.Address}
		if err := netlink.AddrAdd(l, addr); err != nil {
			return fmt.Errorf("failed to add IP addr %v to %q: %w", ipc.Address, ifName, err)
		}
		if ipc.Address.IP.To4() != nil {
			if v4gw == nil {
				v4gw = ipc.Gateway
			}
		} else if v6gw == nil {
			v6gw = ipc.Gateway
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("failed to set %q UP: %w", ifName, err)
	}
	for _, r := range res.Routes {
		gw := r.GW
		if gw == nil {
			if r.Dst.IP.To4() != nil {
				gw = v4gw
			} else {
				gw = v6gw
			}
		}
		dst := r.Dst
		route := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: &dst, Gw: gw, Scope: netlink.SCOPE_UNIVERSE, MTU: r.MTU, Priority: r.Priority, AdvMSS: r.AdvMSS}
		if r.Table != nil {
			route.Table = *r.Table
		}
		if r.Scope != nil {
			route.Scope = netlink.Scope(*r.Scope)
		}
		if err := netlink.RouteAddEcmp(route); err != nil {
			return fmt.Errorf("failed to add route '%v via %v dev %v': %w", r.Dst, gw, ifName, err)
		}
	}
	return nil
}

// waitOperUp waits briefly for the host end to report carrier, as the bridge
// forwards only then; it gives up silently, like the reference plugin's
// retries, since the port still comes up later.
func waitOperUp(name string) (netlink.Link, error) {
	var l netlink.Link
	var err error
	for _, d := range []time.Duration{0, 10, 50, 200, 500} {
		time.Sleep(d * time.Millisecond)
		if l, err = netlinksafe.LinkByName(name); err != nil {
			return nil, err
		}
		if l.Attrs().OperState == netlink.OperUp {
			break
		}
	}
	return l, nil
}

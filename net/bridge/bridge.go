package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/utils/sysctl"
	"github.com/petrel-edge/petrel/net/hostlocal"
	"github.com/petrel-edge/petrel/net/nftables"
	"github.com/vishvananda/netlink"
)

// Index of the container's interface in the result's interfaces.
const contIndex = 2

// add is the bridge plugin's ADD. On error everything it made so far is
// removed again: the veth pair, the address reservation and the
// masquerading rules (the bridge itself stays, as other containers may use
// it).
func add(args *skel.CmdArgs, emit func(types.Result, string) error) (retErr error) {
	n, cniVersion, err := LoadNetConf(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	ctx := context.TODO()
	isLayer3 := n.IPAM.Type != ""

	br, err := ensureBridge(n.BrName, n.MTU, n.PromiscMode, n.Vlan != 0)
	if err != nil {
		return fmt.Errorf("failed to create bridge %q: %w", n.BrName, err)
	}
	netns, err := ns.GetNS(args.Netns)
	if err != nil {
		return fmt.Errorf("failed to open netns %q: %w", args.Netns, err)
	}
	defer netns.Close()

	hostIface, contIface, err := setupVeth(netns, br, args.IfName, n.MTU, n.mac, n.HairpinMode, n.Vlan, n.PreserveDefaultVlan)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			_ = netns.Do(func(ns.NetNS) error {
				if l, e := netlinksafe.LinkByName(args.IfName); e == nil {
					_ = netlink.LinkDel(l)
				}
				return nil
			})
		}
	}()

	brIface := &current.Interface{Name: br.Name}
	result := &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{brIface, hostIface, contIface},
	}

	if isLayer3 {
		r, err := ipamAdd(ctx, n.IPAM.Type, args)
		if err != nil {
			return err
		}
		defer func() {
			if retErr != nil {
				_ = ipamDel(ctx, n.IPAM.Type, args)
			}
		}()
		result.IPs, result.Routes, result.DNS = r.IPs, r.Routes, r.DNS
		if len(result.IPs) == 0 {
			return errors.New("IPAM plugin returned missing IP config")
		}
		gws, err := calcGateways(result, n)
		if err != nil {
			return err
		}
		err = netns.Do(func(ns.NetNS) error {
			dad := "0"
			if n.EnableDad {
				dad = "1"
			}
			_, _ = sysctl.Sysctl(fmt.Sprintf("net/ipv6/conf/%s/accept_dad", args.IfName), dad)
			_, _ = sysctl.Sysctl(fmt.Sprintf("net/ipv4/conf/%s/arp_notify", args.IfName), "1")
			return configureIface(args.IfName, result)
		})
		if err != nil {
			return err
		}
		if n.IsGW {
			var vlanIface *current.Interface
			for _, g := range gws {
				target := netlink.Link(br)
				if n.Vlan != 0 {
					l, err := ensureVlanInterface(br, n.Vlan, n.PreserveDefaultVlan)
					if err != nil {
						return fmt.Errorf("failed to create vlan interface: %w", err)
					}
					if vlanIface == nil {
						vlanIface = &current.Interface{Name: l.Attrs().Name, Mac: l.Attrs().HardwareAddr.String()}
						result.Interfaces = append(result.Interfaces, vlanIface)
					}
					target = l
				}
				if err := ensureAddr(target, g.family, &g.net, n.ForceAddress); err != nil {
					return fmt.Errorf("failed to set bridge addr: %w", err)
				}
				if err := enableForward(g.family); err != nil {
					return fmt.Errorf("failed to enable forwarding: %w", err)
				}
			}
		}
		if n.IPMasq {
			backend, err := masqBackend(n)
			if err != nil {
				return err
			}
			defer func() {
				if retErr != nil {
					_ = teardownMasq(n, args, bothFamilies)
				}
			}()
			var ipns []*net.IPNet
			for _, ipc := range result.IPs {
				ipns = append(ipns, &ipc.Address)
			}
			if backend == "nftables" {
				err = setupNFTMasq(ipns, n.Name, args.IfName, args.ContainerID)
			} else {
				err = setupIPMasq(ipns, n.Name, args.ContainerID)
			}
			if err != nil {
				return err
			}
		}
	}

	hv, err := waitOperUp(hostIface.Name)
	if err != nil {
		return fmt.Errorf("find %s: %w", hostIface.Name, err)
	}
	hostIface.Mac = hv.Attrs().HardwareAddr.String()
	// The bridge takes its address from its ports: read it last.
	if br, err = bridgeByName(n.BrName); err != nil {
		return err
	}
	brIface.Mac = br.Attrs().HardwareAddr.String()
	if n.DNS.Nameservers != nil || n.DNS.Search != nil || n.DNS.Options != nil || n.DNS.Domain != "" {
		result.DNS = n.DNS
	}
	return emit(result, cniVersion)
}

// Add is the plugin's ADD as a CNI runtime calls it: the result goes to
// stdout in the configuration's version.
func Add(args *skel.CmdArgs) error { return add(args, types.PrintResult) }

// AddResult is ADD for a caller in the same process: the result, in the
// configuration's version, is returned instead of printed.
func AddResult(args *skel.CmdArgs) (types.Result, error) {
	var out types.Result
	err := add(args, func(r types.Result, v string) error {
		var err error
		out, err = r.GetAsVersion(v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

type gateway struct {
	family int
	net    net.IPNet
}

// calcGateways fills in missing gateways (the subnet's first address), adds
// default routes for isDefaultGateway, and returns the addresses the
// bridge takes when it is the gateway.
func calcGateways(result *current.Result, n *NetConf) ([]gateway, error) {
	var gws []gateway
	defaultFound := map[int]bool{}
	for _, ipc := range result.IPs {
		family := netlink.FAMILY_V6
		defaultNet := &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
		if ipc.Address.IP.To4() != nil {
			family = netlink.FAMILY_V4
			defaultNet = &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
		}
		ipc.Interface = current.Int(contIndex)
		if ipc.Gateway == nil && n.IsGW {
			ipc.Gateway = hostlocal.NextIP(ipc.Address.IP.Mask(ipc.Address.Mask))
		}
		if n.IsDefaultGW && !defaultFound[family] {
			for _, r := range result.Routes {
				if r.GW != nil && r.Dst.String() == defaultNet.String() {
					defaultFound[family] = true
					break
				}
			}
			if !defaultFound[family] {
				result.Routes = append(result.Routes, &types.Route{Dst: *defaultNet, GW: ipc.Gateway})
				defaultFound[family] = true
			}
		}
		if n.IsGW {
			gws = append(gws, gateway{family: family, net: net.IPNet{IP: ipc.Gateway, Mask: ipc.Address.Mask}})
		}
	}
	return gws, nil
}

func enableForward(family int) error {
	p := "/proc/sys/net/ipv4/ip_forward"
	if family == netlink.FAMILY_V6 {
		p = "/proc/sys/net/ipv6/conf/all/forwarding"
	}
	cur, err := os.ReadFile(p)
	if err == nil && len(cur) > 0 && cur[0] == '1' {
		return nil
	}
	return os.WriteFile(p, []byte("1"), 0o644)
}

// Del is the bridge plugin's DEL: it releases the addresses, removes the
// container's interface (and with it the host's veth) and the masquerading
// rules. Whatever is already gone, the namespace included, is skipped.
func Del(args *skel.CmdArgs) error {
	n, _, err := LoadNetConf(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	ctx := context.TODO()
	var errs []error
	if n.IPAM.Type != "" {
		if err := ipamDel(ctx, n.IPAM.Type, args); err != nil {
			errs = append(errs, err)
		}
	}
	if args.Netns != "" {
		err := ns.WithNetNSPath(args.Netns, func(ns.NetNS) error {
			l, err := netlinksafe.LinkByName(args.IfName)
			if err != nil {
				var nf netlink.LinkNotFoundError
				if errors.As(err, &nf) {
					return nil
				}
				return fmt.Errorf("find %s: %w", args.IfName, err)
			}
			if err := netlink.LinkDel(l); err != nil {
				return fmt.Errorf("failed to delete %q: %w", args.IfName, err)
			}
			return nil
		})
		var gone ns.NSPathNotExistErr
		if err != nil && !errors.As(err, &gone) {
			errs = append(errs, err)
		}
	}
	if n.IPMasq {
		if err := teardownMasq(n, args, masqFamilies(n, args)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// teardownMasq removes the attachment's masquerading with every backend
// that is installed: the configuration may have named another one at ADD.
func teardownMasq(n *NetConf, args *skel.CmdArgs, families []bool) error {
	var errs []error
	if _, err := exec.LookPath("iptables"); err == nil {
		errs = append(errs, teardownIPMasq(n.Name, args.ContainerID, families))
	}
	if nftables.Available() {
		errs = append(errs, teardownNFTMasq(n.Name, args.IfName, args.ContainerID, nil))
	}
	return errors.Join(errs...)
}

var bothFamilies = []bool{false, true}

// masqFamilies returns the address families ADD can have masqueraded in:
// those of prevResult's addresses, else those of host-local's ranges, else
// both. Each family saves DEL an iptables run.
func masqFamilies(n *NetConf, args *skel.CmdArgs) []bool {
	var v4, v6 bool
	if prev, err := n.prevResult(); err == nil && prev != nil && len(prev.IPs) > 0 {
		for _, ipc := range prev.IPs {
			if ipc.Address.IP.To4() != nil {
				v4 = true
			} else {
				v6 = true
			}
		}
	} else if conf, _, err := hostlocal.LoadConfig(args.StdinData, args.Args); n.IPAM.Type == "host-local" && err == nil {
		for _, set := range conf.Ranges {
			if set[0].RangeStart.To4() != nil {
				v4 = true
			} else {
				v6 = true
			}
		}
	} else {
		return bothFamilies
	}
	var out []bool
	if v4 {
		out = append(out, false)
	}
	if v6 {
		out = append(out, true)
	}
	return out
}

// Check is the bridge plugin's CHECK: the IPAM allocation, the bridge, the
// host's veth on it, and the container's interface with the addresses and
// routes of prevResult must all be in place.
func Check(args *skel.CmdArgs) error {
	n, _, err := LoadNetConf(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	ctx := context.TODO()
	if n.IPAM.Type != "" {
		if err := ipamCheck(ctx, n.IPAM.Type, args); err != nil {
			return err
		}
	}
	if n.PrevResult == nil {
		return fmt.Errorf("bridge: required prevResult missing")
	}
	prev, err := n.prevResult()
	if err != nil {
		return err
	}
	br, err := bridgeByName(n.BrName)
	if err != nil {
		return err
	}
	var cont, host *current.Interface
	for _, i := range prev.Interfaces {
		switch {
		case i.Sandbox != "" && i.Name == args.IfName:
			cont = i
		case i.Sandbox == "" && i.Name != n.BrName && host == nil:
			host = i
		}
	}
	if cont == nil {
		return fmt.Errorf("bridge: prevResult has no interface %q in a sandbox", args.IfName)
	}
	if host != nil {
		l, err := netlinksafe.LinkByName(host.Name)
		if err != nil {
			return fmt.Errorf("bridge: host veth %q: %w", host.Name, err)
		}
		if l.Attrs().MasterIndex != br.Index {
			return fmt.Errorf("bridge: %q is not attached to bridge %q", host.Name, n.BrName)
		}
	}
	return ns.WithNetNSPath(args.Netns, func(ns.NetNS) error {
		l, err := netlinksafe.LinkByName(args.IfName)
		if err != nil {
			return fmt.Errorf("bridge: container interface %q: %w", args.IfName, err)
		}
		if cont.Mac != "" && l.Attrs().HardwareAddr.String() != cont.Mac {
			return fmt.Errorf("bridge: interface %s has MAC %s, not %s", args.IfName, l.Attrs().HardwareAddr, cont.Mac)
		}
		addrs, err := netlinksafe.AddrList(l, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("list addresses of %s: %w", args.IfName, err)
		}
		for _, ipc := range prev.IPs {
			found := false
			for _, a := range addrs {
				if a.IPNet.String() == ipc.Address.String() {
					found = true
					break
				}
			}
			if !found {
				return fmt.Errorf("bridge: address %s not on %s", ipc.Address.String(), args.IfName)
			}
		}
		routes, err := netlinksafe.RouteList(l, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("list routes of %s: %w", args.IfName, err)
		}
		for _, want := range prev.Routes {
			if !hasRoute(routes, want) {
				return fmt.Errorf("bridge: route %s via %v missing in the container", want.Dst.String(), want.GW)
			}
		}
		return nil
	})
}

// hasRoute reports whether routes has want's destination (a default route
// is listed with a nil or all-zero destination) and, if want names one, its
// gateway.
func hasRoute(routes []netlink.Route, want *types.Route) bool {
	isDefault := func(n *net.IPNet) bool {
		if n == nil {
			return true
		}
		ones, _ := n.Mask.Size()
		return ones == 0 && n.IP.IsUnspecified()
	}
	for _, r := range routes {
		same := r.Dst != nil && r.Dst.String() == want.Dst.String()
		if isDefault(&want.Dst) && isDefault(r.Dst) && (r.Dst != nil || (want.Dst.IP.To4() != nil) == (r.Family == netlink.FAMILY_V4)) {
			same = true
		}
		if same && (want.GW == nil || want.GW.Equal(r.Gw)) {
			return true
		}
	}
	return false
}

// Status is the bridge plugin's STATUS: it is ready when its IPAM is.
func Status(args *skel.CmdArgs) error {
	n, _, err := LoadNetConf(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	if n.IPAM.Type == "" {
		return nil
	}
	return ipamStatus(context.TODO(), n.IPAM.Type, args)
}

// GC is the bridge plugin's GC: it hands the valid attachments to IPAM and
// removes the masquerading of containers that are not among them.
func GC(args *skel.CmdArgs) error {
	n, _, err := LoadNetConf(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	var errs []error
	if n.IPAM.Type != "" {
		if err := ipamGC(context.TODO(), n.IPAM.Type, args); err != nil {
			errs = append(errs, err)
		}
	}
	if n.IPMasq {
		var gc struct {
			Valid []types.GCAttachment `json:"cni.dev/valid-attachments"`
		}
		if err := json.Unmarshal(args.StdinData, &gc); err != nil {
			return fmt.Errorf("parse valid attachments: %w", err)
		}
		valid, keep := map[string]bool{}, map[string]bool{}
		for _, a := range gc.Valid {
			valid[a.ContainerID] = true
			keep[nftComment(n.Name, a.IfName, a.ContainerID)] = true
		}
		if _, err := exec.LookPath("iptables"); err == nil {
			if err := gcIPMasq(n.Name, valid); err != nil {
				errs = append(errs, err)
			}
		}
		if nftables.Available() {
			if err := teardownNFTMasq(n.Name, "", "", keep); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

package loopback

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

func parseConf(data []byte) (*types.NetConf, error) {
	conf := &types.NetConf{}
	if err := json.Unmarshal(data, conf); err != nil {
		return nil, fmt.Errorf("parse network configuration: %w", err)
	}
	if conf.RawPrevResult != nil {
		if err := version.ParsePrevResult(conf); err != nil {
			return nil, fmt.Errorf("parse prevResult: %w", err)
		}
		if _, err := current.NewResultFromResult(conf.PrevResult); err != nil {
			return nil, fmt.Errorf("convert prevResult to the current version: %w", err)
		}
	}
	return conf, nil
}

// add brings lo up and emits the previous result, or one naming lo and
// its loopback addresses.
func add(args *skel.CmdArgs, emit func(types.Result, string) error) error {
	conf, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	var v4, v6 *net.IPNet
	err = ns.WithNetNSPath(args.Netns, func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo: %w", err)
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("set lo up: %w", err)
		}
		for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			addrs, err := netlinksafe.AddrList(link, fam)
			if err != nil {
				return fmt.Errorf("list addresses of lo: %w", err)
			}
			for _, a := range addrs {
				if !a.IP.IsLoopback() {
					return fmt.Errorf("loopback interface found with non-loopback address %q", a.IP)
				}
			}
			if len(addrs) > 0 {
				if fam == netlink.FAMILY_V4 {
					v4 = addrs[0].IPNet
				} else {
					v6 = addrs[0].IPNet
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if conf.PrevResult != nil {
		return emit(conf.PrevResult, conf.CNIVersion)
	}
	r := &current.Result{
		CNIVersion: conf.CNIVersion,
		Interfaces: []*current.Interface{{Name: "lo", Mac: "00:00:00:00:00:00", Sandbox: args.Netns}},
	}
	for _, a := range []*net.IPNet{v4, v6} {
		if a != nil {
			r.IPs = append(r.IPs, &current.IPConfig{Interface: current.Int(0), Address: *a})
		}
	}
	return emit(r, conf.CNIVersion)
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

// Del sets lo down; a namespace that is already gone is not an error.
func Del(args *skel.CmdArgs) error {
	if args.Netns == "" {
		return nil
	}
	err := ns.WithNetNSPath(args.Netns, func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo: %w", err)
		}
		if err := netlink.LinkSetDown(link); err != nil {
			return fmt.Errorf("set lo down: %w", err)
		}
		return nil
	})
	var gone ns.NSPathNotExistErr
	if errors.As(err, &gone) {
		return nil
	}
	return err
}

// Check verifies that lo is up.
func Check(args *skel.CmdArgs) error {
	return ns.WithNetNSPath(args.Netns, func(ns.NetNS) error {
		link, err := netlinksafe.LinkByName("lo")
		if err != nil {
			return fmt.Errorf("find lo: %w", err)
		}
		if link.Attrs().Flags&net.FlagUp == 0 {
			return errors.New("loopback interface is down")
		}
		return nil
	})
}

// Status always succeeds: loopback needs nothing from the host.
func Status(*skel.CmdArgs) error { return nil }

// GC has nothing to collect: loopback keeps no state.
func GC(*skel.CmdArgs) error { return nil }

package hostlocal

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// Config is the ipam section of a network configuration, with the ranges
// canonicalised and the requested addresses gathered from CNI_ARGS, args and
// runtimeConfig.
type Config struct {
	*Range
	Name       string         `json:"-"`
	Type       string         `json:"type"`
	Routes     []*types.Route `json:"routes"`
	DataDir    string         `json:"dataDir"`
	ResolvConf string         `json:"resolvConf"`
	Ranges     []RangeSet     `json:"ranges"`
	// IPArgs are the addresses the caller asked for.
	IPArgs []net.IP `json:"-"`
}

// A RangeSet is a list of ranges of one address family; an allocation takes
// one address from the set.
type RangeSet []Range

// A Range is a subnet with an optional first and last address (inclusive)
// and gateway.
type Range struct {
	RangeStart net.IP      `json:"rangeStart,omitempty"`
	RangeEnd   net.IP      `json:"rangeEnd,omitempty"`
	Subnet     types.IPNet `json:"subnet"`
	Gateway    net.IP      `json:"gateway,omitempty"`
}

type netConf struct {
	Name          string  `json:"name"`
	CNIVersion    string  `json:"cniVersion"`
	IPAM          *Config `json:"ipam"`
	RuntimeConfig struct {
		IPRanges []RangeSet `json:"ipRanges,omitempty"`
		IPs      []string   `json:"ips,omitempty"`
	} `json:"runtimeConfig,omitempty"`
	Args *struct {
		A *struct {
			IPs []string `json:"ips"`
		} `json:"cni"`
	} `json:"args"`
}

type envArgs struct {
	types.CommonArgs
	IP types.UnmarshallableString `json:"ip,omitempty"`
}

// LoadConfig parses a network configuration for host-local. envArgs is
// CNI_ARGS. It returns the ipam config and the configuration's cniVersion.
func LoadConfig(data []byte, cniArgs string) (*Config, string, error) {
	var n netConf
	if err := json.Unmarshal(data, &n); err != nil {
		return nil, "", fmt.Errorf("parse network configuration: %w", err)
	}
	if n.IPAM == nil {
		return nil, "", errors.New("IPAM config missing 'ipam' key")
	}
	var requested []string
	if cniArgs != "" {
		var e envArgs
		if err := types.LoadArgs(cniArgs, &e); err != nil {
			return nil, "", err
		}
		if e.IP != "" {
			requested = append(requested, string(e.IP))
		}
	}
	if n.Args != nil && n.Args.A != nil {
		requested = append(requested, n.Args.A.IPs...)
	}
	requested = append(requested, n.RuntimeConfig.IPs...)
	for _, s := range requested {
		// Requested addresses may carry a prefix length (10.0.0.2/24).
		if i := strings.IndexByte(s, '/'); i >= 0 {
			s = s[:i]
		}
		ip := canonical(net.ParseIP(s))
		if ip == nil {
			return nil, "", fmt.Errorf("cannot understand ip: %q", s)
		}
		n.IPAM.IPArgs = append(n.IPAM.IPArgs, ip)
	}

	if n.IPAM.Range != nil && n.IPAM.Range.Subnet.IP != nil {
		n.IPAM.Ranges = append([]RangeSet{{*n.IPAM.Range}}, n.IPAM.Ranges...)
	}
	n.IPAM.Range = nil
	if len(n.RuntimeConfig.IPRanges) > 0 {
		n.IPAM.Ranges = append(n.RuntimeConfig.IPRanges, n.IPAM.Ranges...)
	}
	if len(n.IPAM.Ranges) == 0 {
		return nil, "", errors.New("no IP ranges specified")
	}
	v4, v6 := 0, 0
	for i := range n.IPAM.Ranges {
		if err := n.IPAM.Ranges[i].Canonicalize(); err != nil {
			return nil, "", fmt.Errorf("invalid range set %d: %w", i, err)
		}
		if n.IPAM.Ranges[i][0].RangeStart.To4() != nil {
			v4++
		} else {
			v6++
		}
	}
	if v4 > 1 || v6 > 1 {
		if ok, _ := version.GreaterThanOrEqualTo(n.CNIVersion, "0.3.0"); !ok {
			return nil, "", fmt.Errorf("CNI version %v does not support more than 1 address per family", n.CNIVersion)
		}
	}
	for i, a := range n.IPAM.Ranges {
		for j := i + 1; j < len(n.IPAM.Ranges); j++ {
			if a.Overlaps(n.IPAM.Ranges[j]) {
				return nil, "", fmt.Errorf("range set %d overlaps with %d", i, j)
			}
		}
	}
	n.IPAM.Name = n.Name
	return n.IPAM, n.CNIVersion, nil
}

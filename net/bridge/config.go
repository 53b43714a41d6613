package bridge

import (
	"encoding/json"
	"fmt"
	"net"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
)

// DefaultBridge is the bridge's name when the configuration names none.
const DefaultBridge = "cni0"

// NetConf is the bridge plugin's network configuration.
type NetConf struct {
	types.NetConf
	BrName       string `json:"bridge"`
	IsGW         bool   `json:"isGateway"`
	IsDefaultGW  bool   `json:"isDefaultGateway"`
	ForceAddress bool   `json:"forceAddress"`
	IPMasq       bool   `json:"ipMasq"`
	// IPMasqBackend is "iptables" or "nftables"; unset, iptables is used
	// where it is installed.
	IPMasqBackend *string `json:"ipMasqBackend,omitempty"`
	MTU           int     `json:"mtu"`
	HairpinMode   bool    `json:"hairpinMode"`
	PromiscMode   bool    `json:"promiscMode"`
	Vlan          int     `json:"vlan"`
	// PreserveDefaultVlan keeps VLAN 1 on a port that gets a VLAN tag.
	PreserveDefaultVlan bool `json:"preserveDefaultVlan"`
	// EnableDad keeps IPv6 duplicate address detection on the container's
	// interface.
	EnableDad bool `json:"enabledad,omitempty"`

	Args struct {
		Cni struct {
			Mac string `json:"mac,omitempty"`
		} `json:"cni,omitempty"`
	} `json:"args,omitempty"`
	RuntimeConfig struct {
		Mac string `json:"mac,omitempty"`
	} `json:"runtimeConfig,omitempty"`

	mac string
}

type macEnvArgs struct {
	types.CommonArgs
	MAC types.UnmarshallableString `json:"mac,omitempty"`
}

// LoadNetConf parses the configuration and CNI_ARGS, and returns the
// configuration with its cniVersion.
func LoadNetConf(data []byte, cniArgs string) (*NetConf, string, error) {
	n := &NetConf{BrName: DefaultBridge}
	if err := json.Unmarshal(data, n); err != nil {
		return nil, "", fmt.Errorf("failed to load netconf: %w", err)
	}
	if n.Vlan < 0 || n.Vlan > 4094 {
		return nil, "", fmt.Errorf("invalid VLAN ID %d (must be between 0 and 4094)", n.Vlan)
	}
	if n.MTU < 0 {
		return nil, "", fmt.Errorf("invalid MTU %d", n.MTU)
	}
	if n.HairpinMode && n.PromiscMode {
		return nil, "", fmt.Errorf("cannot set hairpin mode and promiscuous mode at the same time")
	}
	if n.IsDefaultGW {
		n.IsGW = true
	}
	if b := n.IPMasqBackend; b != nil && *b != "iptables" && *b != "nftables" {
		return nil, "", fmt.Errorf("unknown ipmasq backend %q", *b)
	}
	if cniArgs != "" {
		var e macEnvArgs
		if err := types.LoadArgs(cniArgs, &e); err != nil {
			return nil, "", err
		}
		n.mac = string(e.MAC)
	}
	if n.Args.Cni.Mac != "" {
		n.mac = n.Args.Cni.Mac
	}
	if n.RuntimeConfig.Mac != "" {
		n.mac = n.RuntimeConfig.Mac
	}
	if n.mac != "" {
		if _, err := net.ParseMAC(n.mac); err != nil {
			return nil, "", fmt.Errorf("invalid MAC address %q: %w", n.mac, err)
		}
	}
	if n.RawPrevResult != nil {
		if err := version.ParsePrevResult(&n.NetConf); err != nil {
			return nil, "", fmt.Errorf("could not parse prevResult: %w", err)
		}
	}
	return n, n.CNIVersion, nil
}

// prevResult returns the configuration's prevResult in the current version,
// or nil.
func (n *NetConf) prevResult() (*current.Result, error) {
	if n.PrevResult == nil {
		return nil, nil
	}
	return current.NewResultFromResult(n.PrevResult)
}

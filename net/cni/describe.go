package cni

import "encoding/json"

// Info is what a network's configuration says about it, for inspect.
type Info struct {
	Driver string // the main plugin's type
	Bridge string
	Pools  []Pool
	Labels map[string]string
	// Masquerade is "network" when the engine masquerades the network's
	// subnets with one rule (bridge.SyncNetworkMasq) instead of the
	// plugin doing it for each container.
	Masquerade string
}

// Pool is one address range.
type Pool struct{ Subnet, Gateway string }

// Describe reads the main plugin (the first) of a network's list.
func Describe(n Network) Info {
	var info Info
	if len(n.List.Plugins) == 0 {
		return info
	}
	var c struct {
		Type   string `json:"type"`
		Bridge string `json:"bridge"`
		IPAM   struct {
			Subnet  string `json:"subnet"`
			Gateway string `json:"gateway"`
			Ranges  [][]struct {
				Subnet  string `json:"subnet"`
				Gateway string `json:"gateway"`
			} `json:"ranges"`
		} `json:"ipam"`
	}
	if json.Unmarshal(n.List.Plugins[0].Bytes, &c) != nil {
		return info
	}
	info.Driver, info.Bridge = c.Type, c.Bridge
	if c.IPAM.Subnet != "" {
		info.Pools = append(info.Pools, Pool{c.IPAM.Subnet, c.IPAM.Gateway})
	}
	for _, set := range c.IPAM.Ranges {
		for _, r := range set {
			info.Pools = append(info.Pools, Pool{r.Subnet, r.Gateway})
		}
	}
	var l struct {
		Args struct {
			Petrel struct {
				Labels     map[string]string `json:"labels"`
				Masquerade string            `json:"masquerade"`
			} `json:"petrel"`
		} `json:"args"`
	}
	if json.Unmarshal(n.List.Bytes, &l) == nil {
		info.Labels, info.Masquerade = l.Args.Petrel.Labels, l.Args.Petrel.Masquerade
	}
	return info
}

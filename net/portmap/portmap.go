package portmap

import (
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"strconv"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/cni/pkg/version"
	"github.com/containernetworking/plugins/pkg/utils/sysctl"
	"github.com/petrel-edge/petrel/net/iptables"
	"github.com/petrel-edge/petrel/net/nftables"
	"github.com/vishvananda/netlink"
)

// The chains, shared by every container, of the reference layout:
//
//	nat PREROUTING, OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT
//	nat CNI-HOSTPORT-DNAT  -p tcp -m multiport --destination-ports 80,… -j CNI-DN-<hash>   (one per container and protocol)
//	nat CNI-DN-<hash>      -p tcp --dport 80 [-d hostIP] -s <container net> -j CNI-HOSTPORT-SETMARK   (hairpin)
//	                       -p tcp --dport 80 [-d hostIP] -s 127.0.0.1 -j CNI-HOSTPORT-SETMARK        (from the host, IPv4)
//	                       -p tcp --dport 80 [-d hostIP] -j DNAT --to-destination <container IP>:8080
//	nat CNI-HOSTPORT-SETMARK -j MARK --set-xmark 0x2000/0x2000
//	nat POSTROUTING -j CNI-HOSTPORT-MASQ;  CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE
const (
	topDNATChain = "CNI-HOSTPORT-DNAT"
	setMarkChain = "CNI-HOSTPORT-SETMARK"
	masqChain    = "CNI-HOSTPORT-MASQ"
	oldSNATChain = "CNI-HOSTPORT-SNAT"

	defaultMarkBit = 13
)

// Mapping is one entry of runtimeConfig.portMappings.
type Mapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Conf is the portmap plugin's configuration.
type Conf struct {
	types.NetConf
	SNAT                 *bool     `json:"snat,omitempty"`
	ConditionsV4         *[]string `json:"conditionsV4"`
	ConditionsV6         *[]string `json:"conditionsV6"`
	MasqAll              bool      `json:"masqAll,omitempty"`
	MarkMasqBit          *int      `json:"markMasqBit"`
	ExternalSetMarkChain *string   `json:"externalSetMarkChain"`
	Backend              *string   `json:"backend,omitempty"`
	RuntimeConfig        struct {
		PortMaps []Mapping `json:"portMappings,omitempty"`
	} `json:"runtimeConfig,omitempty"`

	containerID string
	contIPv4    net.IPNet
	contIPv6    net.IPNet
	backend     string
}

// ParseConf parses the configuration and finds the container's addresses on
// ifName in prevResult.
func ParseConf(data []byte, ifName string) (*Conf, *current.Result, error) {
	c := &Conf{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, nil, fmt.Errorf("failed to parse network configuration: %w", err)
	}
	var result *current.Result
	if c.RawPrevResult != nil {
		if err := version.ParsePrevResult(&c.NetConf); err != nil {
			return nil, nil, fmt.Errorf("could not parse prevResult: %w", err)
		}
		r, err := current.NewResultFromResult(c.PrevResult)
		if err != nil {
			return nil, nil, fmt.Errorf("could not convert result to current version: %w", err)
		}
		result = r
	}
	switch {
	case c.Backend != nil && *c.Backend != "iptables" && *c.Backend != "nftables":
		return nil, nil, fmt.Errorf("unrecognized backend %q", *c.Backend)
	case c.Backend != nil:
		c.backend = *c.Backend
	default:
		// iptables where it is installed, as the reference plugin does.
		c.backend = "iptables"
		if _, err := exec.LookPath("iptables"); err != nil && nftables.Available() {
			c.backend = "nftables"
		}
	}
	if c.backend == "nftables" && c.ExternalSetMarkChain != nil {
		return nil, nil, errors.New("nftables backend was requested but configuration contains iptables-specific option externalSetMarkChain")
	}
	if c.SNAT == nil {
		t := true
		c.SNAT = &t
	}
	if c.MarkMasqBit != nil && c.ExternalSetMarkChain != nil {
		return nil, nil, errors.New("cannot specify externalSetMarkChain and markMasqBit")
	}
	if c.MarkMasqBit == nil {
		b := defaultMarkBit
		c.MarkMasqBit = &b
	}
	if *c.MarkMasqBit < 0 || *c.MarkMasqBit > 31 {
		return nil, nil, errors.New("markMasqBit must be between 0 and 31")
	}
	for i, pm := range c.RuntimeConfig.PortMaps {
		if pm.ContainerPort <= 0 || pm.ContainerPort > 65535 {
			return nil, nil, fmt.Errorf("invalid container port number: %d", pm.ContainerPort)
		}
		if pm.HostPort <= 0 || pm.HostPort > 65535 {
			return nil, nil, fmt.Errorf("invalid host port number: %d", pm.HostPort)
		}
		switch p := strings.ToLower(pm.Protocol); p {
		case "":
			c.RuntimeConfig.PortMaps[i].Protocol = "tcp"
		case "tcp", "udp", "sctp":
			c.RuntimeConfig.PortMaps[i].Protocol = p
		default:
			return nil, nil, fmt.Errorf("invalid protocol %q", pm.Protocol)
		}
		if pm.HostIP != "" && net.ParseIP(pm.HostIP) == nil {
			return nil, nil, fmt.Errorf("invalid hostIP %q", pm.HostIP)
		}
	}
	if result != nil {
		for _, ipc := range result.IPs {
			v4 := ipc.Address.IP.To4() != nil
			if (v4 && c.contIPv4.IP != nil) || (!v4 && c.contIPv6.IP != nil) {
				continue
			}
			if ipc.Interface != nil {
				i := *ipc.Interface
				if i >= 0 && i < len(result.Interfaces) && (result.Interfaces[i].Name != ifName || result.Interfaces[i].Sandbox == "") {
					continue
				}
			}
			if v4 {
				c.contIPv4 = ipc.Address
			} else {
				c.contIPv6 = ipc.Address
			}
		}
	}
	return c, result, nil
}

// add is portmap's ADD: it forwards the mapped ports and passes prevResult
// on.
func add(args *skel.CmdArgs, emit func(types.Result, string) error) (err error) {
	c, _, err := ParseConf(args.StdinData, args.IfName)
	if err != nil {
		return fmt.Errorf("failed to parse config: %w", err)
	}
	if c.PrevResult == nil {
		return errors.New("must be called as chained plugin")
	}
	if len(c.RuntimeConfig.PortMaps) == 0 {
		return emit(c.PrevResult, c.CNIVersion)
	}
	c.containerID = args.ContainerID
	defer func() {
		if err != nil {
			_ = unforward(c)
		}
	}()
	fwd := forward
	if c.backend == "nftables" {
		fwd = forwardNFT
	}
	if c.contIPv4.IP != nil {
		if err := fwd(c, c.contIPv4); err != nil {
			return err
		}
		if *c.SNAT {
			// Let 127.0.0.1 → container traffic be routed out of the
			// interface towards the container.
			if ifName := routableHostIF(c.contIPv4.IP); ifName != "" {
				if _, err := sysctl.Sysctl("net/ipv4/conf/"+ifName+"/route_localnet", "1"); err != nil {
					return fmt.Errorf("unable to enable route_localnet: %w", err)
				}
			}
		}
	}
	if c.contIPv6.IP != nil {
		if err := fwd(c, c.contIPv6); err != nil {
			return err
		}
	}
	return emit(c.PrevResult, c.CNIVersion)
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

// Del is portmap's DEL: it removes the container's chains and the jumps to
// them, whether or not prevResult is given. Like the reference plugin it
// does nothing when the configuration maps no ports (ADD made nothing);
// GC removes what a DEL with a different configuration missed.
func Del(args *skel.CmdArgs) error {
	c, _, err := ParseConf(args.StdinData, args.IfName)
	if err != nil {
		return fmt.Errorf("failed to parse config: %w", err)
	}
	if len(c.RuntimeConfig.PortMaps) == 0 {
		return nil
	}
	c.containerID = args.ContainerID
	return unforward(c)
}

// Check is portmap's CHECK: every rule ADD made must be there.
func Check(args *skel.CmdArgs) error {
	c, result, err := ParseConf(args.StdinData, args.IfName)
	if err != nil {
		return err
	}
	if result == nil {
		return errors.New("required prevResult missing")
	}
	if len(c.RuntimeConfig.PortMaps) == 0 {
		return nil
	}
	c.containerID = args.ContainerID
	for _, n := range []net.IPNet{c.contIPv4, c.contIPv6} {
		if n.IP == nil {
			continue
		}
		if c.backend == "nftables" {
			if err := checkNFT(c, n); err != nil {
				return err
			}
			continue
		}
		ipt, err := iptables.New(n.IP.To4() == nil)
		if err != nil {
			return err
		}
		if err := dnatChain(c, n).check(ipt); err != nil {
			return err
		}
	}
	return nil
}

// Status is portmap's STATUS: iptables must be installed.
func Status(*skel.CmdArgs) error {
	if _, err := iptables.New(false); err != nil {
		return types.NewError(50, "iptables not available", err.Error())
	}
	return nil
}

// GC is portmap's GC: it removes the DNAT chains of containers that are not
// among the valid attachments.
func GC(args *skel.CmdArgs) error {
	var c struct {
		Name  string               `json:"name"`
		Valid []types.GCAttachment `json:"cni.dev/valid-attachments"`
	}
	if err := json.Unmarshal(args.StdinData, &c); err != nil {
		return fmt.Errorf("failed to parse network configuration: %w", err)
	}
	valid := map[string]bool{}
	for _, a := range c.Valid {
		valid[a.ContainerID] = true
	}
	prefix := "dnat name: " + strconv.Quote(c.Name) + " id: "
	unlock, err := iptables.Lock()
	if err != nil {
		return err
	}
	defer unlock()
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
		for _, r := range snap.Rules(topDNATChain) {
			id, ok := iptables.CommentID(iptables.SplitRule(r), prefix)
			if ok && !valid[id] && !done[id] {
				done[id] = true
				removeChain(b, snap, chainName("DN-", c.Name, id))
			}
		}
		if err := ipt.Apply(b); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func routableHostIF(ip net.IP) string {
	routes, err := netlink.RouteGet(ip)
	if err != nil {
		return ""
	}
	for _, r := range routes {
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			return l.Attrs().Name
		}
	}
	return ""
}

// chain is a chain with its rules and the rules in other chains that jump
// to it.
type chain struct {
	table        string
	name         string
	shared       bool // used by every container: created, never declared (which would empty it)
	entryChains  []string
	entryRules   [][]string
	rules        [][]string
	prependEntry bool
}

func (c *chain) setup(ipt *iptables.IPTables) error {
	if err := ipt.EnsureChain(c.table, c.name); err != nil {
		return err
	}
	for _, r := range c.rules {
		if err := ipt.AppendUnique(c.table, c.name, r...); err != nil {
			return err
		}
	}
	for _, ec := range c.entryChains {
		for _, r := range c.entryRules {
			r = append(append([]string(nil), r...), "-j", c.name)
			var err error
			if c.prependEntry {
				err = ipt.InsertUnique(c.table, ec, 1, r...)
			} else {
				err = ipt.AppendUnique(c.table, ec, r...)
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *chain) check(ipt *iptables.IPTables) error {
	ok, err := ipt.ChainExists(c.table, c.name)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("chain %s not found in iptables table %s", c.name, c.table)
	}
	for _, r := range c.rules {
		if ok, err := ipt.Exists(c.table, c.name, r...); err != nil || !ok {
			return fmt.Errorf("rule %q in chain %s not found in table %s", r, c.name, c.table)
		}
	}
	for _, ec := range c.entryChains {
		for _, r := range c.entryRules {
			r = append(append([]string(nil), r...), "-j", c.name)
			if ok, err := ipt.Exists(c.table, ec, r...); err != nil || !ok {
				return fmt.Errorf("rule %q in chain %s not found in table %s", r, ec, c.table)
			}
		}
	}
	return nil
}

func chainName(prefix, network, containerID string) string {
	sum := sha512.Sum512([]byte(network + containerID))
	return ("CNI-" + prefix + hex.EncodeToString(sum[:]))[:28]
}

func markDef(bit int) string {
	v := 1 << uint(bit)
	return fmt.Sprintf("%#x/%#x", v, v)
}

func forward(c *Conf, contNet net.IPNet) error {
	ipt, err := iptables.New(contNet.IP.To4() == nil)
	if err != nil {
		return fmt.Errorf("failed to open iptables: %w", err)
	}
	unlock, err := iptables.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	snap, err := ipt.Snapshot("nat")
	if err != nil {
		return err
	}
	var chains []*chain
	if *c.SNAT && c.ExternalSetMarkChain == nil {
		mark := markDef(*c.MarkMasqBit)
		chains = append(chains,
			&chain{table: "nat", name: setMarkChain, shared: true, rules: [][]string{{
				"-m", "comment", "--comment", "CNI portfwd masquerade mark", "-j", "MARK", "--set-xmark", mark}}},
			&chain{table: "nat", name: masqChain, shared: true, entryChains: []string{"POSTROUTING"}, prependEntry: true,
				entryRules: [][]string{{"-m", "comment", "--comment", "CNI portfwd requiring masquerade"}},
				rules:      [][]string{{"-m", "mark", "--mark", mark, "-j", "MASQUERADE"}}})
	}
	chains = append(chains,
		&chain{table: "nat", name: topDNATChain, shared: true, entryChains: []string{"PREROUTING", "OUTPUT"},
			entryRules: [][]string{{"-m", "addrtype", "--dst-type", "LOCAL"}}},
		dnatChain(c, contNet))
	b := iptables.NewBatch("nat")
	for _, ch := range chains {
		if ch.name == dnatChain(c, net.IPNet{}).name && snap.HasChain(ch.name) {
			// The container's chain exists already (a repeated ADD): make
			// sure of each rule, one checked command at a time.
			if err := ch.setup(ipt); err != nil {
				return fmt.Errorf("unable to setup DNAT: %w", err)
			}
			continue
		}
		if ch.shared && !snap.HasChain(ch.name) {
			if err := ipt.CreateChain(ch.table, ch.name); err != nil {
				return err
			}
		}
		ch.plan(b, snap)
	}
	if err := ipt.Apply(b); err != nil {
		return fmt.Errorf("unable to setup port forwarding: %w", err)
	}
	return nil
}

// plan adds to b what the chain lacks in snap: the chain with its rules if
// it is missing or empty, and the jumps from entry chains that have none.
func (c *chain) plan(b *iptables.Batch, snap *iptables.Snapshot) {
	if !c.shared && !snap.HasChain(c.name) {
		b.NewChain(c.name)
	}
	if len(snap.Rules(c.name)) == 0 {
		for _, r := range c.rules {
			b.Append(c.name, r...)
		}
	}
	jumps := snap.Jumps(c.name)
	for _, ec := range c.entryChains {
		has := false
		for _, j := range jumps {
			if f := iptables.SplitRule(j); len(f) > 1 && f[1] == ec {
				has = true
				break
			}
		}
		if has {
			continue // any jump from ec will do: the entry rules all lead here
		}
		for _, r := range c.entryRules {
			r = append(append([]string(nil), r...), "-j", c.name)
			if c.prependEntry {
				b.Insert(ec, r...)
			} else {
				b.Append(ec, r...)
			}
		}
	}
}

// unforward removes the container's forwarding with the configured (or
// default) backend, as the reference plugin does.
func unforward(c *Conf) error {
	if c.backend == "nftables" {
		return unforwardNFT(c.containerID, c.families())
	}
	return unforwardIPTables(c)
}

// families returns the address families ADD can have forwarded (false is
// IPv4): those of prevResult's addresses, else both.
func (c *Conf) families() []bool {
	if c.PrevResult == nil {
		return []bool{false, true}
	}
	var out []bool
	if c.contIPv4.IP != nil {
		out = append(out, false)
	}
	if c.contIPv6.IP != nil {
		out = append(out, true)
	}
	return out
}

func unforwardIPTables(c *Conf) error {
	unlock, err := iptables.Lock()
	if err != nil {
		return err
	}
	defer unlock()
	var errs, missing []error
	families := c.families()
	if len(families) == 0 {
		return nil
	}
	for _, v6 := range families {
		ipt, err := iptables.New(v6)
		if err != nil {
			missing = append(missing, err)
			continue
		}
		snap, err := ipt.Snapshot("nat")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		b := iptables.NewBatch("nat")
		removeChain(b, snap, dnatChain(c, net.IPNet{}).name)
		removeChain(b, snap, chainName("SN-", c.Name, c.containerID))
		if err := ipt.Apply(b); err != nil {
			errs = append(errs, err)
		}
	}
	if len(missing) == len(families) {
		return fmt.Errorf("neither iptables nor ip6tables is usable: %w", errors.Join(missing...))
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

// dnatChain is the container's CNI-DN- chain; with a zero contNet only its
// name and entry chain are set (enough to tear it down).
func dnatChain(c *Conf, contNet net.IPNet) *chain {
	ch := &chain{table: "nat", name: chainName("DN-", c.Name, c.containerID), entryChains: []string{topDNATChain}}
	if contNet.IP == nil {
		return ch
	}
	v6 := contNet.IP.To4() == nil
	comment := fmt.Sprintf(`dnat name: %q id: %q`, c.Name, c.containerID)
	if len(comment) > 255 {
		comment = comment[:253] + "..."
	}
	setMark := setMarkChain
	if c.ExternalSetMarkChain != nil {
		setMark = *c.ExternalSetMarkChain
	}
	byProto := map[string][]int{}
	for _, e := range c.RuntimeConfig.PortMaps {
		byProto[e.Protocol] = append(byProto[e.Protocol], e.HostPort)
	}
	protos := make([]string, 0, len(byProto))
	for p := range byProto {
		protos = append(protos, p)
	}
	sort.Strings(protos)
	for _, p := range protos {
		for _, ports := range splitPorts(byProto[p]) {
			r := []string{"-m", "comment", "--comment", comment, "-m", "multiport", "-p", p, "--destination-ports", ports}
			if v6 && c.ConditionsV6 != nil {
				r = append(r, *c.ConditionsV6...)
			} else if !v6 && c.ConditionsV4 != nil {
				r = append(r, *c.ConditionsV4...)
			}
			ch.entryRules = append(ch.entryRules, r)
		}
	}
	for _, e := range c.RuntimeConfig.PortMaps {
		base := []string{"-p", e.Protocol, "--dport", strconv.Itoa(e.HostPort)}
		if e.HostIP != "" {
			hip := net.ParseIP(e.HostIP)
			if (hip.To4() == nil) != v6 {
				continue
			}
			if !hip.IsUnspecified() {
				base = append(base, "-d", e.HostIP)
			}
		}
		if *c.SNAT {
			masqCIDR := contNet.String()
			if c.MasqAll {
				masqCIDR = "0.0.0.0/0"
				if v6 {
					masqCIDR = "::/0"
				}
			}
			ch.rules = append(ch.rules, append(append([]string(nil), base...), "-s", masqCIDR, "-j", setMark))
			if !v6 && !c.MasqAll {
				ch.rules = append(ch.rules, append(append([]string(nil), base...), "-s", "127.0.0.1", "-j", setMark))
			}
		}
		ch.rules = append(ch.rules, append(append([]string(nil), base...), "-j", "DNAT", "--to-destination", net.JoinHostPort(contNet.IP.String(), strconv.Itoa(e.ContainerPort))))
	}
	return ch
}

// splitPorts joins ports into multiport lists of at most 15.
func splitPorts(ports []int) []string {
	var out []string
	for len(ports) > 0 {
		n := min(len(ports), 15)
		s := make([]string, n)
		for i, p := range ports[:n] {
			s[i] = strconv.Itoa(p)
		}
		out = append(out, strings.Join(s, ","))
		ports = ports[n:]
	}
	return out
}

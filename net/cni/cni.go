package cni

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/net/bridge"
)

// Options configure a Manager.
type Options struct {
	ConfDir string // network configuration lists
	BinDir  string // plugins; the built-in ones need not be there
	// StateDir holds libcni's cache of results and a directory of links to
	// Binary named after the built-in plugins.
	StateDir string
	DataDir  string // host-local's allocations of the networks it writes
	Binary   string // this binary; "" for /proc/self/exe
}

// Manager attaches containers to the networks of a configuration
// directory.
type Manager struct {
	opts Options
	cni  *libcni.CNIConfig
	mu   sync.Mutex // serialises writes to the configuration directory

	masqMu     sync.Mutex        // serialises SyncNetworkMasq
	masqSynced map[string]string // network → the masquerade key its rule was made for
	masqScope  string            // the configuration directory's scope for bridge.SyncNetworkMasq
}

// ErrNotFound is returned for a network no configuration list names.
var ErrNotFound = errors.New("network not found")

// New prepares the directories and the links to the binary.
func New(opts Options) (*Manager, error) {
	if opts.Binary == "" {
		opts.Binary = "/proc/self/exe"
	}
	self, err := filepath.EvalSymlinks(opts.Binary)
	if err != nil {
		return nil, fmt.Errorf("cni: resolve %s: %w", opts.Binary, err)
	}
	linkDir := filepath.Join(opts.StateDir, "bin")
	for _, d := range []string{opts.ConfDir, linkDir, filepath.Join(opts.StateDir, "cache")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("cni: %w", err)
		}
	}
	for _, name := range BuiltinNames() {
		link := filepath.Join(linkDir, name)
		if cur, err := os.Readlink(link); err == nil && cur == self {
			continue
		}
		tmp := link + ".tmp"
		os.Remove(tmp)
		if err := os.Symlink(self, tmp); err != nil {
			return nil, fmt.Errorf("cni: link %s: %w", name, err)
		}
		if err := os.Rename(tmp, link); err != nil {
			os.Remove(tmp)
			return nil, fmt.Errorf("cni: link %s: %w", name, err)
		}
	}
	x := &execer{self: self, linkDir: linkDir, raw: invoke.RawExec{Stderr: os.Stderr}}
	var dirs []string
	if opts.BinDir != "" {
		dirs = append(dirs, opts.BinDir)
	}
	dirs = append(dirs, linkDir)
	abs, err := filepath.Abs(opts.ConfDir)
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	sum := sha256.Sum256([]byte(abs))
	return &Manager{opts: opts, cni: libcni.NewCNIConfigWithCacheDir(dirs, filepath.Join(opts.StateDir, "cache"), x),
		masqScope: hex.EncodeToString(sum[:4])}, nil
}

// Network is one configuration list with where it came from.
type Network struct {
	Name string
	File string
	List *libcni.NetworkConfigList
}

// Networks reads every configuration list (.conflist, .conf, .json) of
// the directory, sorted by name. Files that do not parse are returned as
// errors beside the good ones, so that one bad file hides no network.
func (m *Manager) Networks() ([]Network, []error) {
	files, err := libcni.ConfFiles(m.opts.ConfDir, []string{".conflist", ".conf", ".json"})
	if err != nil {
		return nil, []error{fmt.Errorf("read %s: %w", m.opts.ConfDir, err)}
	}
	sort.Strings(files)
	var nets []Network
	var errs []error
	seen := map[string]bool{}
	for _, f := range files {
		l, err := loadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[l.Name] {
			continue // the first file of a name wins, as for other CNI runtimes
		}
		seen[l.Name] = true
		nets = append(nets, Network{Name: l.Name, File: f, List: l})
	}
	sort.Slice(nets, func(i, j int) bool { return nets[i].Name < nets[j].Name })
	return nets, errs
}

func loadFile(f string) (*libcni.NetworkConfigList, error) {
	var l *libcni.NetworkConfigList
	var err error
	if strings.HasSuffix(f, ".conflist") {
		l, err = libcni.NetworkConfFromFile(f)
	} else {
		var c *libcni.PluginConfig
		if c, err = libcni.ConfFromFile(f); err == nil {
			l, err = libcni.ConfListFromConf(c)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("network configuration %s: %w", f, err)
	}
	if len(l.Plugins) == 0 {
		return nil, fmt.Errorf("network configuration %s: no plugins", f)
	}
	return l, nil
}

// Network finds a network by name. A file that does not parse and would
// otherwise be the one is reported with its error.
func (m *Manager) Network(name string) (Network, error) {
	nets, errs := m.Networks()
	for _, n := range nets {
		if n.Name == name {
			return n, nil
		}
	}
	for _, err := range errs {
		if strings.Contains(err.Error(), name) {
			return Network{}, err
		}
	}
	return Network{}, fmt.Errorf("network %s: %w", name, ErrNotFound)
}

// PortMapping is one published port, in portmap's runtimeConfig shape.
type PortMapping struct {
	HostPort      int    `json:"hostPort"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// Attachment says which container is attached how: what ADD needs and DEL
// needs again.
type Attachment struct {
	Network     string        `json:"Network"`
	ContainerID string        `json:"ContainerID"`
	Netns       string        `json:"Netns"`
	IfName      string        `json:"IfName"`
	Ports       []PortMapping `json:"Ports,omitempty"`
}

func (a *Attachment) runtimeConf() *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{ContainerID: a.ContainerID, NetNS: a.Netns, IfName: a.IfName}
	if len(a.Ports) > 0 {
		rt.CapabilityArgs = map[string]any{"portMappings": a.Ports}
	}
	return rt
}

// Endpoint is what ADD gave the container.
type Endpoint struct {
	IP         string `json:"IPAddress"`
	PrefixLen  int    `json:"IPPrefixLen"`
	Gateway    string `json:"Gateway"`
	MAC        string `json:"MacAddress"`
	IPv6       string `json:"GlobalIPv6Address,omitempty"`
	IPv6Prefix int    `json:"GlobalIPv6PrefixLen,omitempty"`
	IPv6GW     string `json:"IPv6Gateway,omitempty"`
}

// Attach runs the network's ADD chain. When a plugin fails, the DEL chain
// runs too, so that the plugins before it leave nothing behind.
func (m *Manager) Attach(ctx context.Context, a *Attachment) (*Endpoint, error) {
	n, err := m.Network(a.Network)
	if err != nil {
		return nil, err
	}
	if err := m.ensureMasquerade(n); err != nil {
		return nil, fmt.Errorf("network %s: %w", a.Network, err)
	}
	res, err := m.cni.AddNetworkList(ctx, n.List, a.runtimeConf())
	if err != nil {
		// A plugin that cannot be found fails DEL the same way: say it once.
		if derr := m.cni.DelNetworkList(ctx, n.List, a.runtimeConf()); derr != nil && !strings.Contains(derr.Error(), "failed to find plugin") {
			err = errors.Join(err, fmt.Errorf("undo: %w", derr))
		}
		return nil, fmt.Errorf("network %s: %w", a.Network, err)
	}
	r, err := current.NewResultFromResult(res)
	if err != nil {
		m.cni.DelNetworkList(ctx, n.List, a.runtimeConf())
		return nil, fmt.Errorf("network %s: result: %w", a.Network, err)
	}
	return endpoint(r, a.IfName), nil
}

// endpoint picks the addresses of the container's interface.
func endpoint(r *current.Result, ifName string) *Endpoint {
	ep := &Endpoint{}
	idx := -1
	for i, iface := range r.Interfaces {
		if iface.Name == ifName && iface.Sandbox != "" {
			idx, ep.MAC = i, iface.Mac
		}
	}
	for _, ip := range r.IPs {
		if idx >= 0 && ip.Interface != nil && *ip.Interface != idx {
			continue
		}
		ones, _ := ip.Address.Mask.Size()
		gw := ""
		if ip.Gateway != nil {
			gw = ip.Gateway.String()
		}
		if ip.Address.IP.To4() != nil {
			if ep.IP == "" {
				ep.IP, ep.PrefixLen, ep.Gateway = ip.Address.IP.String(), ones, gw
			}
		} else if ep.IPv6 == "" {
			ep.IPv6, ep.IPv6Prefix, ep.IPv6GW = ip.Address.IP.String(), ones, gw
		}
	}
	return ep
}

// Detach runs the network's DEL chain. When the network's configuration
// is gone, the copy libcni cached at ADD is used.
func (m *Manager) Detach(ctx context.Context, a *Attachment) error {
	var list *libcni.NetworkConfigList
	n, err := m.Network(a.Network)
	if err == nil {
		list = n.List
	} else {
		data, _, cerr := m.cni.GetNetworkListCachedConfig(&libcni.NetworkConfigList{Name: a.Network}, a.runtimeConf())
		if cerr != nil || len(data) == 0 {
			return err
		}
		if list, err = libcni.NetworkConfFromBytes(data); err != nil {
			return fmt.Errorf("network %s: cached configuration: %w", a.Network, err)
		}
	}
	if err := m.cni.DelNetworkList(ctx, list, a.runtimeConf()); err != nil {
		return fmt.Errorf("network %s: %w", a.Network, err)
	}
	return nil
}

// Spec is what `network create` asks for.
type Spec struct {
	Name    string
	Bridge  string // "" for the network's name, shortened to fit
	Subnet  string // CIDR
	Gateway string // "" for the subnet's first address
	Labels  map[string]string
}

// ValidName accepts network names that are also safe file names.
func ValidName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		alnum := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
		if !alnum && (i == 0 || b != '_' && b != '.' && b != '-') {
			return false
		}
	}
	return true
}

// Conflist returns the configuration list of a bridge network: bridge with
// host-local, portmap for published ports and loopback for lo.
func (m *Manager) Conflist(s Spec) ([]byte, error) {
	if !ValidName(s.Name) {
		return nil, fmt.Errorf("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", s.Name)
	}
	ip, subnet, err := net.ParseCIDR(s.Subnet)
	if err != nil {
		return nil, fmt.Errorf("invalid subnet %q: want a CIDR such as 10.89.0.0/16", s.Subnet)
	}
	if !ip.Equal(subnet.IP) {
		return nil, fmt.Errorf("invalid subnet %q: the address has host bits set (did you mean %s?)", s.Subnet, subnet)
	}
	if ones, bits := subnet.Mask.Size(); bits-ones < 2 {
		return nil, fmt.Errorf("invalid subnet %q: too small for a gateway and a container", s.Subnet)
	}
	rng := map[string]string{"subnet": subnet.String()}
	if s.Gateway != "" {
		gw := net.ParseIP(s.Gateway)
		if gw == nil || !subnet.Contains(gw) {
			return nil, fmt.Errorf("invalid gateway %q: not an address in %s", s.Gateway, subnet)
		}
		rng["gateway"] = gw.String()
	}
	br := s.Bridge
	if br == "" {
		br = s.Name
		if len(br) > 15 {
			br = br[:15]
		}
	}
	if len(br) > 15 || strings.ContainsAny(br, "/ \t\n") {
		return nil, fmt.Errorf("invalid bridge name %q", br)
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       s.Name,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": br, "isGateway": true, "isDefaultGateway": true,
				"ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type": "host-local", "ranges": [][]any{{rng}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			map[string]any{"type": "loopback"},
		},
	}
	petrel := map[string]any{"masquerade": "network"}
	if len(s.Labels) > 0 {
		petrel["labels"] = s.Labels
	}
	conf["args"] = map[string]any{"petrel": petrel}
	return json.MarshalIndent(conf, "", "  ")
}

// Create writes a bridge network's configuration list atomically; a
// network of that name must not exist.
func (m *Manager) Create(s Spec) (Network, error) {
	data, err := m.Conflist(s)
	if err != nil {
		return Network{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.Network(s.Name); err == nil {
		return Network{}, fmt.Errorf("network with name %s already exists: %w", s.Name, fs.ErrExist)
	}
	f := filepath.Join(m.opts.ConfDir, s.Name+".conflist")
	if err := atomicfile.WriteFile(f, data, 0o644); err != nil {
		return Network{}, fmt.Errorf("write %s: %w", f, err)
	}
	return m.Network(s.Name)
}

// EnsureDefault writes the default network's list unless a network of its
// name exists. It reports whether it wrote one.
func (m *Manager) EnsureDefault(s Spec) (bool, error) {
	if _, err := m.Network(s.Name); err == nil || !errors.Is(err, ErrNotFound) {
		return false, err
	}
	_, err := m.Create(s)
	return err == nil, err
}

// Remove deletes the network's configuration file and its masquerading.
func (m *Manager) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, err := m.Network(name)
	if err != nil {
		return err
	}
	// The rule goes first: should the file stay, the next attach puts it
	// back.
	if err := m.removeMasquerade(name); err != nil {
		return fmt.Errorf("network %s: %w", name, err)
	}
	if err := os.Remove(n.File); err != nil {
		return fmt.Errorf("remove %s: %w", n.File, err)
	}
	return nil
}

// The networks petrel writes masquerade per network (args.petrel.masquerade
// is "network", the bridge plugin's ipMasq is off): one rule for the
// subnet, made when the first container attaches, instead of a chain made
// and removed for every container.

// networkMasq returns the masquerading n asks for, if any.
func networkMasq(n Network) (bridge.NetworkMasq, bool) {
	info := Describe(n)
	if info.Masquerade != "network" || info.Driver != "bridge" || info.Bridge == "" {
		return bridge.NetworkMasq{}, false
	}
	nm := bridge.NetworkMasq{Network: n.Name, Bridge: info.Bridge}
	for _, p := range info.Pools {
		if _, s, err := net.ParseCIDR(p.Subnet); err == nil {
			nm.Subnets = append(nm.Subnets, s)
		}
	}
	return nm, len(nm.Subnets) > 0
}

func masqKey(nm bridge.NetworkMasq) string {
	k := nm.Bridge
	for _, s := range nm.Subnets {
		k += " " + s.String()
	}
	return k
}

// ensureMasquerade makes sure n's rule is on the host, and removes the
// rules of networks since removed. After the first container of a network
// it costs nothing: the rule is known to be there.
func (m *Manager) ensureMasquerade(n Network) error {
	nm, ok := networkMasq(n)
	if !ok {
		return nil
	}
	m.masqMu.Lock()
	defer m.masqMu.Unlock()
	key := masqKey(nm)
	if m.masqSynced[n.Name] == key {
		return nil
	}
	if err := bridge.SyncNetworkMasq(m.masqScope, m.masquerading(""), []bridge.NetworkMasq{nm}); err != nil {
		return err
	}
	if m.masqSynced == nil {
		m.masqSynced = map[string]string{}
	}
	m.masqSynced[n.Name] = key
	return nil
}

// removeMasquerade deletes the rule of the network named, and those of
// networks since removed.
func (m *Manager) removeMasquerade(name string) error {
	m.masqMu.Lock()
	defer m.masqMu.Unlock()
	delete(m.masqSynced, name)
	return bridge.SyncNetworkMasq(m.masqScope, m.masquerading(name), nil)
}

// masquerading returns what the configuration directory's networks but
// the one named except ask for; m.masqMu held.
func (m *Manager) masquerading(except string) []bridge.NetworkMasq {
	nets, _ := m.Networks()
	var out []bridge.NetworkMasq
	for _, n := range nets {
		if nm, ok := networkMasq(n); ok && n.Name != except {
			out = append(out, nm)
		}
	}
	return out
}

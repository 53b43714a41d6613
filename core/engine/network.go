package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/net/cni"
	"github.com/petrel-edge/petrel/net/netns"
)

// DefaultNetwork is the network of containers that name none (Docker's
// "bridge").
const DefaultNetwork = "petrel0"

// Defaults of the default network.
const (
	DefaultSubnet = "10.89.0.0/16"
	DefaultBridge = "petrel0"
)

// NetworkOptions configure the engine's CNI networks.
type NetworkOptions struct {
	ConfDir       string // CNI configuration lists; "" for <root>/cni/net.d
	BinDir        string // CNI plugins besides the built-in ones
	DefaultSubnet string // of the default network when it is first written
	DefaultBridge string
}

// networks is the engine's CNI state: the manager and the host ports the
// running containers hold.
type networks struct {
	mgr   *cni.Manager
	mu    sync.Mutex
	ports map[string]*cni.Reservation // by container id
}

// netState is what a container's run holds of the network, persisted in
// its record so that a later daemon can undo it.
type netState struct {
	Netns      string          `json:"Netns,omitempty"` // a namespace the engine made
	Attachment *cni.Attachment `json:"Attachment,omitempty"`
	Endpoint   *cni.Endpoint   `json:"Endpoint,omitempty"`
}

func (e *Engine) netnsPath(id string) string { return filepath.Join(e.opts.State, "netns", id) }

// initNetwork opens the CNI configuration and writes the default network
// when there is none.
func (e *Engine) initNetwork() error {
	o := &e.opts.Network
	if o.ConfDir == "" {
		o.ConfDir = filepath.Join(e.opts.Root, "cni", "net.d")
	}
	if o.DefaultSubnet == "" {
		o.DefaultSubnet = DefaultSubnet
	}
	if o.DefaultBridge == "" {
		o.DefaultBridge = DefaultBridge
	}
	mgr, err := cni.New(cni.Options{ConfDir: o.ConfDir, BinDir: o.BinDir, StateDir: filepath.Join(e.opts.State, "cni"), Binary: e.opts.Binary})
	if err != nil {
		return err
	}
	if _, err := mgr.Conflist(cni.Spec{Name: DefaultNetwork, Bridge: o.DefaultBridge, Subnet: o.DefaultSubnet}); err != nil {
		return fmt.Errorf("default network: %w", err)
	}
	wrote, err := mgr.EnsureDefault(cni.Spec{Name: DefaultNetwork, Bridge: o.DefaultBridge, Subnet: o.DefaultSubnet})
	switch {
	case err != nil && errors.Is(err, os.ErrExist):
		// Written meanwhile by another daemon sharing the directory.
	case err != nil:
		// A broken file of the default network's is the admin's to fix:
		// it is never overwritten, and containers that need the network
		// are refused with its error until then.
		e.logf("default network: %v", err)
	case wrote:
		e.logf("wrote the default network %s (bridge %s, %s) in %s", DefaultNetwork, o.DefaultBridge, o.DefaultSubnet, o.ConfDir)
	}
	e.net = &networks{mgr: mgr, ports: map[string]*cni.Reservation{}}
	return nil
}

// Network modes.
const (
	modeCNI       = "cni"
	modeNone      = "none"
	modeHost      = "host"
	modeContainer = "container"
)

// networkMode splits a NetworkMode into its kind and argument: a network
// name or a container reference.
func networkMode(m string) (kind, arg string) {
	switch m {
	case "", "default", "bridge":
		return modeCNI, DefaultNetwork
	case "none", "host":
		return m, ""
	}
	if ref, ok := strings.CutPrefix(m, "container:"); ok {
		return modeContainer, ref
	}
	return modeCNI, m
}

// validateNetwork refuses network settings that cannot work, before the
// container is recorded.
func (e *Engine) validateNetwork(cfg *api.Config, hc *api.HostConfig) error {
	kind, arg := networkMode(hc.NetworkMode)
	switch kind {
	case modeContainer:
		if arg == "" {
			return errdefs.Invalid("invalid network mode %q: want container:<name|id>", hc.NetworkMode)
		}
		if _, err := e.Lookup(arg); err != nil {
			return err
		}
	case modeCNI:
		if _, err := e.net.mgr.Network(arg); err != nil {
			if errors.Is(err, cni.ErrNotFound) {
				return errdefs.NotFound("network %s not found", arg)
			}
			return errdefs.Invalid("%v", err)
		}
	}
	if kind != modeCNI && (len(hc.PortBindings) > 0 || hc.PublishAllPorts) {
		return errdefs.Invalid("conflicting options: port publishing and the %s network mode", kind)
	}
	if kind == modeContainer && (len(hc.DNS) > 0 || len(hc.DNSSearch) > 0 || len(hc.DNSOptions) > 0 || len(hc.ExtraHosts) > 0) {
		return errdefs.Invalid("conflicting options: dns, dns-search, dns-option and add-host cannot be used with the container network mode")
	}
	if _, err := portMappings(cfg, hc); err != nil {
		return err
	}
	for _, d := range hc.DNS {
		if net.ParseIP(d) == nil {
			return errdefs.Invalid("invalid DNS server %q: want an IP address", d)
		}
	}
	for _, s := range hc.DNSSearch {
		if s == "" || strings.ContainsAny(s, " \t\n") {
			return errdefs.Invalid("invalid DNS search domain %q", s)
		}
	}
	for _, o := range hc.DNSOptions {
		if o == "" || strings.ContainsAny(o, " \t\n") {
			return errdefs.Invalid("invalid DNS option %q", o)
		}
	}
	for _, h := range hc.ExtraHosts {
		if _, _, err := parseExtraHost(h); err != nil {
			return err
		}
	}
	return nil
}

// parseExtraHost reads --add-host's host:ip (or host=ip).
func parseExtraHost(s string) (host, ip string, err error) {
	i := strings.IndexAny(s, "=:")
	if i > 0 {
		host, ip = s[:i], strings.Trim(s[i+1:], "[]")
	}
	if host == "" || strings.ContainsAny(host, " \t\n") || net.ParseIP(ip) == nil {
		return "", "", errdefs.Invalid("invalid argument %q for add-host: want host:ip", s)
	}
	return host, ip, nil
}

// portMappings turns PortBindings, and with PublishAllPorts the exposed
// ports, into portmap's mappings; a host port of 0 is picked at start.
func portMappings(cfg *api.Config, hc *api.HostConfig) ([]cni.PortMapping, error) {
	bindings := map[string][]api.PortBinding{}
	for k, v := range hc.PortBindings {
		bindings[k] = v
	}
	if hc.PublishAllPorts {
		for k := range cfg.ExposedPorts {
			if _, ok := bindings[k]; !ok {
				bindings[k] = []api.PortBinding{{}}
			}
		}
	}
	keys := make([]string, 0, len(bindings))
	for k := range bindings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []cni.PortMapping
	for _, k := range keys {
		port, proto, err := parsePort(k)
		if err != nil {
			return nil, err
		}
		bs := bindings[k]
		if len(bs) == 0 {
			bs = []api.PortBinding{{}}
		}
		for _, b := range bs {
			hp := 0
			if b.HostPort != "" {
				n, err := strconv.Atoi(b.HostPort)
				if err != nil || n < 0 || n > 65535 {
					return nil, errdefs.Invalid("invalid host port %q for %s: want a number from 1 to 65535", b.HostPort, k)
				}
				hp = n
			}
			if b.HostIP != "" && net.ParseIP(b.HostIP) == nil {
				return nil, errdefs.Invalid("invalid host IP %q for %s", b.HostIP, k)
			}
			out = append(out, cni.PortMapping{HostPort: hp, ContainerPort: port, Protocol: proto, HostIP: b.HostIP})
		}
	}
	return out, nil
}

// parsePort reads "80", "80/tcp" or "53/udp".
func parsePort(s string) (int, string, error) {
	p, proto, ok := strings.Cut(s, "/")
	if !ok {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return 0, "", errdefs.Invalid("invalid port %q: want a number from 1 to 65535", s)
	}
	if proto != "tcp" && proto != "udp" {
		return 0, "", errdefs.Invalid("invalid protocol %q in %q: want tcp or udp", proto, s)
	}
	return n, proto, nil
}

// setupNetwork gives a container about to start its network namespace
// and attaches it; the op token is held. On error nothing is left.
func (e *Engine) setupNetwork(c *Container) error {
	c.mu.Lock()
	hc, cfg, id, leftover := c.hostConfig, c.rec.Config, c.rec.ID, c.rec.Net != nil
	c.mu.Unlock()
	if leftover {
		e.teardownNetwork(c) // a run that a crashed daemon did not undo
	}
	kind, arg := networkMode(hc.NetworkMode)
	switch kind {
	case modeHost, modeContainer:
		return nil
	case modeNone:
		// Made here, while the shim boots, rather than by the init's
		// clone, and held by a file: nothing to record or to undo,
		// whenever this daemon dies.
		f, err := netns.Open()
		if err != nil {
			return fmt.Errorf("network namespace: %w", err)
		}
		c.mu.Lock()
		c.netns = f
		c.mu.Unlock()
		return nil
	}
	st := &netState{Netns: e.netnsPath(id)}
	netns.Remove(st.Netns)
	if err := netns.New(st.Netns); err != nil {
		return fmt.Errorf("network namespace: %w", err)
	}
	maps, err := portMappings(cfg, hc)
	if err != nil {
		netns.Remove(st.Netns)
		return err
	}
	res, err := cni.Reserve(maps)
	if err != nil {
		netns.Remove(st.Netns)
		return errdefs.Conflict("%v", err)
	}
	e.net.mu.Lock()
	e.net.ports[id] = res
	e.net.mu.Unlock()
	st.Attachment = &cni.Attachment{Network: arg, ContainerID: id, Netns: st.Netns, IfName: "eth0", Ports: maps}
	// Recorded before ADD: a daemon that dies during it leaves a record
	// from which the next one undoes it.
	if err := e.saveNet(c, st); err != nil {
		e.teardownNetwork(c)
		return err
	}
	ep, err := e.net.mgr.Attach(e.ctx, st.Attachment)
	if err != nil {
		e.teardownNetwork(c)
		return err
	}
	c.mu.Lock()
	st.Endpoint = ep
	err = c.save()
	c.mu.Unlock()
	if err != nil {
		e.teardownNetwork(c)
		return err
	}
	return nil
}

func (e *Engine) saveNet(c *Container, st *netState) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rec.Net = st
	if err := c.save(); err != nil {
		c.rec.Net = nil
		return err
	}
	return nil
}

// releaseNetns closes the file that holds a --network none container's
// namespace, once its init is in it or its start has failed.
func (c *Container) releaseNetns() {
	c.mu.Lock()
	f := c.netns
	c.netns = nil
	c.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// teardownNetwork undoes setupNetwork: DEL, the host ports, the
// namespace. It may run more than once, and after a crash at any point.
func (e *Engine) teardownNetwork(c *Container) {
	c.releaseNetns()
	c.mu.Lock()
	st, id := c.rec.Net, c.rec.ID
	c.rec.Net = nil // in memory: a second caller finds nothing to do
	c.mu.Unlock()
	e.net.mu.Lock()
	res := e.net.ports[id]
	delete(e.net.ports, id)
	e.net.mu.Unlock()
	res.Release()
	if st == nil {
		return
	}
	if st.Attachment != nil {
		// Not e.ctx: a daemon shutting down still finishes a DEL.
		if err := e.net.mgr.Detach(context.Background(), st.Attachment); err != nil {
			e.logf("container %s: network teardown: %v", id, err)
		}
	}
	if st.Netns != "" {
		if err := netns.Remove(st.Netns); err != nil {
			e.logf("container %s: %v", id, err)
		}
	}
	c.mu.Lock()
	if !c.removed {
		c.save()
	}
	c.mu.Unlock()
}

// restoreNetwork takes the host ports of a running container again
// after a daemon restart.
func (e *Engine) restoreNetwork(c *Container) {
	c.mu.Lock()
	st, id := c.rec.Net, c.rec.ID
	c.mu.Unlock()
	if st == nil || st.Attachment == nil || len(st.Attachment.Ports) == 0 {
		return
	}
	maps := append([]cni.PortMapping{}, st.Attachment.Ports...)
	res, err := cni.Reserve(maps)
	if err != nil {
		e.logf("container %s: hold published ports again: %v", id, err)
		return
	}
	e.net.mu.Lock()
	e.net.ports[id] = res
	e.net.mu.Unlock()
}

// specNetwork puts the container's network namespace in its spec and
// returns the address /etc/hosts gives its name ("" for none).
func (e *Engine) specNetwork(c *Container, s *specs.Spec) (ip string, hostNet bool, err error) {
	c.mu.Lock()
	hc, st := c.hostConfig, c.rec.Net
	c.mu.Unlock()
	kind, arg := networkMode(hc.NetworkMode)
	path := ""
	switch kind {
	case modeHost:
		hostNet = true
	case modeContainer:
		other, err := e.Lookup(arg)
		if err != nil {
			return "", false, err
		}
		other.mu.Lock()
		running, pid, ost, ohc := other.running(), other.rec.State.Pid, other.rec.Net, other.hostConfig
		other.mu.Unlock()
		if !running {
			return "", false, errdefs.Conflict("cannot join the network of container %s: it is not running", arg)
		}
		if k, _ := networkMode(ohc.NetworkMode); k == modeHost {
			hostNet = true
			break
		}
		path = fmt.Sprintf("/proc/%d/ns/net", pid)
		if ost != nil && ost.Netns != "" {
			path = ost.Netns
		}
		if ost != nil && ost.Endpoint != nil {
			ip = ost.Endpoint.IP
		}
	case modeNone:
		c.mu.Lock()
		if c.netns != nil {
			path = "/proc/" + strconv.Itoa(os.Getpid()) + "/fd/" + strconv.Itoa(int(c.netns.Fd()))
		} else if st != nil {
			path = st.Netns // bind-mounted by an earlier petreld
		}
		c.mu.Unlock()
		if path == "" {
			return "", false, errors.New("the container has no network namespace")
		}
	default:
		if st == nil || st.Netns == "" {
			return "", false, errors.New("the container has no network namespace")
		}
		path = st.Netns
		if st.Endpoint != nil {
			ip = st.Endpoint.IP
		}
	}
	var ns []specs.LinuxNamespace
	for _, n := range s.Linux.Namespaces {
		if n.Type != specs.NetworkNamespace {
			ns = append(ns, n)
		}
	}
	if !hostNet {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: path})
	}
	s.Linux.Namespaces = ns
	return ip, hostNet, nil
}

// inspectNetwork is the NetworkSettings of inspect; c.mu held.
func (e *Engine) inspectNetwork(c *Container) api.NetworkSettings {
	ns := api.NetworkSettings{Networks: map[string]*api.EndpointSettings{}, Ports: map[string][]api.PortBinding{}}
	for k := range c.rec.Config.ExposedPorts {
		ns.Ports[k] = nil
	}
	st := c.rec.Net
	kind, arg := networkMode(c.hostConfig.NetworkMode)
	if kind == modeCNI && st != nil && st.Attachment != nil {
		for _, p := range st.Attachment.Ports {
			k := strconv.Itoa(p.ContainerPort) + "/" + p.Protocol
			ip := p.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			ns.Ports[k] = append(ns.Ports[k], api.PortBinding{HostIP: ip, HostPort: strconv.Itoa(p.HostPort)})
		}
	}
	switch {
	case st != nil:
		ns.SandboxKey = st.Netns
	case kind == modeNone && c.running():
		ns.SandboxKey = "/proc/" + strconv.Itoa(c.rec.State.Pid) + "/ns/net"
	}
	name := arg
	if kind != modeCNI {
		name = kind
	}
	if kind == modeContainer {
		return ns
	}
	ep := &api.EndpointSettings{NetworkID: networkID(name)}
	if st != nil && st.Endpoint != nil {
		p := st.Endpoint
		*ep = api.EndpointSettings{NetworkID: ep.NetworkID, EndpointID: c.rec.ID, Gateway: p.Gateway, IPAddress: p.IP,
			IPPrefixLen: p.PrefixLen, IPv6Gateway: p.IPv6GW, GlobalIPv6Address: p.IPv6, GlobalIPv6PrefixLen: p.IPv6Prefix, MacAddress: p.MAC}
		ns.EndpointSettings = *ep
		ns.EndpointSettings.NetworkID = ""
	}
	ns.Networks[name] = ep
	return ns
}

// ports is the ps entry's ports; c.mu held.
func (c *Container) ports() []api.Port {
	out := []api.Port{}
	if st := c.rec.Net; st != nil && st.Attachment != nil {
		for _, p := range st.Attachment.Ports {
			ip := p.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			out = append(out, api.Port{IP: ip, PrivatePort: p.ContainerPort, PublicPort: p.HostPort, Type: p.Protocol})
		}
	}
	return out
}

// networkID is a network's id: derived from its name, stable across
// restarts (the configuration list has no id of its own).
func networkID(name string) string {
	sum := sha256.Sum256([]byte("petrel-network:" + name))
	return hex.EncodeToString(sum[:])
}

// Networks lists the CNI networks and the host and none modes, as
// Docker lists bridge, host and none.
func (e *Engine) Networks() ([]api.NetworkResource, error) {
	nets, errs := e.net.mgr.Networks()
	for _, err := range errs {
		e.logf("%v", err)
	}
	out := make([]api.NetworkResource, 0, len(nets)+2)
	for _, n := range nets {
		out = append(out, e.networkResource(n))
	}
	for _, name := range []string{"host", "none"} {
		drv := name
		if name == "none" {
			drv = "null"
		}
		out = append(out, api.NetworkResource{Name: name, ID: networkID(name), Scope: "local", Driver: drv,
			IPAM: api.IPAM{Driver: "default", Config: []api.IPAMConfig{}}, Containers: e.networkContainers(name),
			Options: map[string]string{}, Labels: map[string]string{}})
	}
	return out, nil
}

// NetworkInspect finds a network by name, id or unique id prefix.
func (e *Engine) NetworkInspect(ref string) (api.NetworkResource, error) {
	all, err := e.Networks()
	if err != nil {
		return api.NetworkResource{}, err
	}
	var found []api.NetworkResource
	for _, n := range all {
		if n.Name == ref || n.ID == ref {
			return n, nil
		}
		if strings.HasPrefix(n.ID, ref) {
			found = append(found, n)
		}
	}
	switch {
	case len(found) == 1 && ref != "":
		return found[0], nil
	case len(found) > 1 && ref != "":
		return api.NetworkResource{}, errdefs.Invalid("network %s is ambiguous (%d matches found on name)", ref, len(found))
	}
	return api.NetworkResource{}, errdefs.NotFound("network %s not found", ref)
}

func (e *Engine) networkResource(n cni.Network) api.NetworkResource {
	r := api.NetworkResource{Name: n.Name, ID: networkID(n.Name), Scope: "local", Driver: "bridge",
		IPAM:       api.IPAM{Driver: "default", Options: map[string]string{}, Config: []api.IPAMConfig{}},
		Containers: e.networkContainers(n.Name), Options: map[string]string{}, Labels: map[string]string{}, ConfigFile: n.File}
	if fi, err := os.Stat(n.File); err == nil {
		r.Created = fi.ModTime().UTC()
	}
	info := cni.Describe(n)
	if info.Driver != "" {
		r.Driver = info.Driver
	}
	if info.Bridge != "" {
		r.Options["com.docker.network.bridge.name"] = info.Bridge
	}
	for _, p := range info.Pools {
		r.IPAM.Config = append(r.IPAM.Config, api.IPAMConfig{Subnet: p.Subnet, Gateway: p.Gateway})
	}
	for k, v := range info.Labels {
		r.Labels[k] = v
	}
	return r
}

// networkContainers lists the running containers attached to a network.
func (e *Engine) networkContainers(name string) map[string]api.NetworkContainer {
	out := map[string]api.NetworkContainer{}
	e.mu.Lock()
	cs := make([]*Container, 0, len(e.byID))
	for _, c := range e.byID {
		cs = append(cs, c)
	}
	e.mu.Unlock()
	for _, c := range cs {
		c.mu.Lock()
		kind, arg := networkMode(c.hostConfig.NetworkMode)
		if kind != modeCNI {
			arg = kind
		}
		if arg == name && c.running() && !c.removed {
			nc := api.NetworkContainer{Name: c.rec.Name, EndpointID: c.rec.ID}
			if st := c.rec.Net; st != nil && st.Endpoint != nil {
				nc.MacAddress = st.Endpoint.MAC
				nc.IPv4Address = st.Endpoint.IP + "/" + strconv.Itoa(st.Endpoint.PrefixLen)
				if st.Endpoint.IPv6 != "" {
					nc.IPv6Address = st.Endpoint.IPv6 + "/" + strconv.Itoa(st.Endpoint.IPv6Prefix)
				}
			}
			out[c.rec.ID] = nc
		}
		c.mu.Unlock()
	}
	return out
}

// NetworkCreate writes a bridge network's configuration list. Without a
// subnet, a free /16 of 10.90.0.0–10.127.0.0 is taken.
func (e *Engine) NetworkCreate(req api.NetworkCreateRequest) (string, error) {
	if req.Name == "" {
		return "", errdefs.Invalid("network name is required")
	}
	if !cni.ValidName(req.Name) {
		return "", errdefs.Invalid("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.Name)
	}
	switch req.Name {
	case "host", "none", "bridge", "default":
		return "", errdefs.Conflict("%s is a pre-defined network and cannot be created", req.Name)
	}
	if req.Driver != "" && req.Driver != "bridge" {
		return "", errdefs.Invalid("network driver %q is not supported: use bridge", req.Driver)
	}
	if req.Internal || req.EnableIPv6 {
		return "", errdefs.Invalid("internal and IPv6 networks are not supported")
	}
	for k := range req.Options {
		if k != "com.docker.network.bridge.name" {
			return "", errdefs.Invalid("network option %q is not supported (com.docker.network.bridge.name)", k)
		}
	}
	spec := cni.Spec{Name: req.Name, Bridge: req.Options["com.docker.network.bridge.name"], Labels: req.Labels}
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return "", errdefs.Invalid("IPAM driver %q is not supported", req.IPAM.Driver)
		}
		switch len(req.IPAM.Config) {
		case 0:
		case 1:
			if req.IPAM.Config[0].IPRange != "" {
				return "", errdefs.Invalid("--ip-range is not supported")
			}
			spec.Subnet, spec.Gateway = req.IPAM.Config[0].Subnet, req.IPAM.Config[0].Gateway
			if spec.Subnet == "" && spec.Gateway != "" {
				return "", errdefs.Invalid("a gateway needs a subnet (--subnet)")
			}
		default:
			return "", errdefs.Invalid("only one subnet per network is supported")
		}
	}
	if _, err := e.net.mgr.Network(req.Name); err == nil {
		return "", errdefs.Conflict("network with name %s already exists", req.Name)
	}
	nets, _ := e.net.mgr.Networks()
	var used []*net.IPNet
	for _, n := range nets {
		for _, p := range cni.Describe(n).Pools {
			if _, s, err := net.ParseCIDR(p.Subnet); err == nil {
				used = append(used, s)
			}
		}
	}
	if spec.Subnet == "" {
		spec.Subnet = freeSubnet(used)
		if spec.Subnet == "" {
			return "", errdefs.Conflict("no free subnet left in 10.90.0.0/15–10.127.0.0/16: give one with --subnet")
		}
	} else if _, s, err := net.ParseCIDR(spec.Subnet); err == nil {
		for _, u := range used {
			if u.Contains(s.IP) || s.Contains(u.IP) {
				return "", errdefs.Conflict("subnet %s overlaps %s of another network", spec.Subnet, u)
			}
		}
	}
	if spec.Bridge == "" {
		// Bridge names are global; derive one from the id.
		spec.Bridge = "pe-" + networkID(req.Name)[:12]
	}
	if _, err := e.net.mgr.Create(spec); err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", errdefs.Conflict("%v", err)
		}
		return "", errdefs.Invalid("%v", err)
	}
	e.Events.Publish("network", "create", networkID(req.Name), map[string]string{"name": req.Name, "type": "bridge"})
	return networkID(req.Name), nil
}

// freeSubnet picks a /16 of 10.90–10.127 that no network and no host
// address uses.
func freeSubnet(used []*net.IPNet) string {
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				used = append(used, n)
			}
		}
	}
next:
	for b := 90; b < 128; b++ {
		_, s, _ := net.ParseCIDR(fmt.Sprintf("10.%d.0.0/16", b))
		for _, u := range used {
			if u.Contains(s.IP) || s.Contains(u.IP) {
				continue next
			}
		}
		return s.String()
	}
	return ""
}

// NetworkRemove removes a network's configuration list; a network that
// a container uses is refused.
func (e *Engine) NetworkRemove(ref string) error {
	n, err := e.NetworkInspect(ref)
	if err != nil {
		return err
	}
	switch n.Name {
	case DefaultNetwork, "host", "none":
		return errdefs.Conflict("%s is a pre-defined network and cannot be removed", n.Name)
	}
	e.mu.Lock()
	var users []string
	for _, c := range e.byID {
		c.mu.Lock()
		if kind, arg := networkMode(c.hostConfig.NetworkMode); kind == modeCNI && arg == n.Name && !c.removed {
			users = append(users, c.rec.Name)
		}
		c.mu.Unlock()
	}
	e.mu.Unlock()
	if len(users) > 0 {
		sort.Strings(users)
		return errdefs.Conflict("error while removing network: network %s id %s has active endpoints (containers %s)", n.Name, n.ID[:12], strings.Join(users, ", "))
	}
	if err := e.net.mgr.Remove(n.Name); err != nil {
		return err
	}
	e.Events.Publish("network", "destroy", n.ID, map[string]string{"name": n.Name, "type": "bridge"})
	return nil
}

// netSummary is the ps entry's networks; c.mu held.
func (c *Container) netSummary() api.SummaryNetworkSettings {
	out := api.SummaryNetworkSettings{Networks: map[string]*api.EndpointSettings{}}
	kind, arg := networkMode(c.hostConfig.NetworkMode)
	if kind == modeContainer {
		return out
	}
	if kind != modeCNI {
		arg = kind
	}
	ep := &api.EndpointSettings{NetworkID: networkID(arg)}
	if st := c.rec.Net; st != nil && st.Endpoint != nil {
		ep.EndpointID, ep.IPAddress, ep.IPPrefixLen, ep.Gateway, ep.MacAddress = c.rec.ID, st.Endpoint.IP, st.Endpoint.PrefixLen, st.Endpoint.Gateway, st.Endpoint.MAC
	}
	out.Networks[arg] = ep
	return out
}

package client

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/petrel-edge/petrel/core/api"
)

// DefaultNetworkHelp names the default network in help texts.
const DefaultNetworkHelp = "bridge (the default network, petrel0)"

// netFlags are the network flags of create and run.
type netFlags struct {
	publish, expose, dns, dnsSearch, dnsOpt, addHost []string
	publishAll                                       bool
}

func (nf *netFlags) register(f *flagSet) {
	f.List(&nf.publish, "publish", "p", "publish a container's port: [ip:][hostPort:]containerPort[/tcp|udp]")
	f.Bool(&nf.publishAll, "publish-all", "P", "publish every exposed port on a free host port")
	f.List(&nf.expose, "expose", "", "expose a port (for -P): port[/tcp|udp]")
	f.List(&nf.dns, "dns", "", "set a DNS server")
	f.List(&nf.dnsSearch, "dns-search", "", "set a DNS search domain")
	f.List(&nf.dnsOpt, "dns-option", "", "set a resolv.conf option")
	f.List(&nf.addHost, "add-host", "", "add a line to /etc/hosts: host:ip")
}

// apply puts the flags in the create request.
func (nf *netFlags) apply(cfg *api.Config, hc *api.HostConfig) error {
	for _, e := range nf.expose {
		key, err := portKey(e)
		if err != nil {
			return fmt.Errorf("invalid --expose %q: %v", e, err)
		}
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		cfg.ExposedPorts[key] = struct{}{}
	}
	for _, p := range nf.publish {
		key, b, err := parsePublish(p)
		if err != nil {
			return err
		}
		if hc.PortBindings == nil {
			hc.PortBindings = map[string][]api.PortBinding{}
		}
		hc.PortBindings[key] = append(hc.PortBindings[key], b)
		if cfg.ExposedPorts == nil {
			cfg.ExposedPorts = map[string]struct{}{}
		}
		cfg.ExposedPorts[key] = struct{}{}
	}
	hc.PublishAllPorts = nf.publishAll
	for _, d := range nf.dns {
		if net.ParseIP(d) == nil {
			return fmt.Errorf("invalid --dns %q: want an IP address", d)
		}
	}
	hc.DNS, hc.DNSSearch, hc.DNSOptions, hc.ExtraHosts = nf.dns, nf.dnsSearch, nf.dnsOpt, nf.addHost
	return nil
}

// portKey normalises port[/proto] to Docker's "80/tcp".
func portKey(s string) (string, error) {
	p, proto, ok := strings.Cut(s, "/")
	if !ok {
		proto = "tcp"
	}
	proto = strings.ToLower(proto)
	if strings.Contains(p, "-") {
		return "", fmt.Errorf("port ranges are not supported")
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("%q is not a port from 1 to 65535", p)
	}
	if proto != "tcp" && proto != "udp" {
		return "", fmt.Errorf("protocol %q is not tcp or udp", proto)
	}
	return strconv.Itoa(n) + "/" + proto, nil
}

// parsePublish reads -p: containerPort, hostPort:containerPort,
// ip:hostPort:containerPort or ip::containerPort, each with an optional
// /tcp or /udp; an IPv6 address goes in brackets.
func parsePublish(s string) (string, api.PortBinding, error) {
	bad := func(why string) (string, api.PortBinding, error) {
		return "", api.PortBinding{}, fmt.Errorf("invalid --publish %q: %s (want [ip:][hostPort:]containerPort[/tcp|udp])", s, why)
	}
	var b api.PortBinding
	rest := s
	if strings.HasPrefix(rest, "[") {
		i := strings.Index(rest, "]:")
		if i < 0 {
			return bad("unterminated IPv6 address")
		}
		b.HostIP, rest = rest[1:i], rest[i+2:]
		if ip := net.ParseIP(b.HostIP); ip == nil || ip.To4() != nil {
			return bad("not an IPv6 address in brackets")
		}
	}
	parts := strings.Split(rest, ":")
	var cport string
	switch {
	case len(parts) == 1:
		cport = parts[0]
	case len(parts) == 2:
		b.HostPort, cport = parts[0], parts[1]
	case len(parts) == 3 && b.HostIP == "":
		b.HostIP, b.HostPort, cport = parts[0], parts[1], parts[2]
		if net.ParseIP(b.HostIP) == nil {
			return bad(fmt.Sprintf("%q is not an IP address", b.HostIP))
		}
	default:
		return bad("too many colons")
	}
	key, err := portKey(cport)
	if err != nil {
		return bad(err.Error())
	}
	if b.HostPort != "" {
		if strings.Contains(b.HostPort, "-") {
			return bad("port ranges are not supported")
		}
		if n, err := strconv.Atoi(b.HostPort); err != nil || n < 1 || n > 65535 {
			return bad(fmt.Sprintf("host port %q is not a port from 1 to 65535", b.HostPort))
		}
	}
	return key, b, nil
}

// formatPorts shows ports as docker ps does: 0.0.0.0:8080->80/tcp.
func formatPorts(ports []api.Port) string {
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		if p.PublicPort == 0 {
			out = append(out, fmt.Sprintf("%d/%s", p.PrivatePort, p.Type))
			continue
		}
		host := net.JoinHostPort(p.IP, strconv.Itoa(p.PublicPort))
		out = append(out, fmt.Sprintf("%s->%d/%s", host, p.PrivatePort, p.Type))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func cmdNetwork(c *cli, args []string) error {
	subs := map[string]func(*cli, []string) error{
		"ls": cmdNetworkLs, "list": cmdNetworkLs, "create": cmdNetworkCreate,
		"rm": cmdNetworkRm, "remove": cmdNetworkRm, "inspect": cmdNetworkInspect,
	}
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprintln(c.stdout, "usage: petrel network ls|create|rm|inspect [OPTIONS]")
		if len(args) == 0 {
			return &usageError{err: fmt.Errorf("network needs a subcommand: ls, create, rm or inspect")}
		}
		return nil
	}
	fn, ok := subs[args[0]]
	if !ok {
		return &usageError{err: fmt.Errorf("unknown network subcommand %q: use ls, create, rm or inspect", args[0])}
	}
	return fn(c, args[1:])
}

func cmdNetworkLs(c *cli, args []string) error {
	var quiet, noTrunc bool
	var filters []string
	f := newFlags("petrel network ls [OPTIONS]", true)
	f.Bool(&quiet, "quiet", "q", "only show ids")
	f.Bool(&noTrunc, "no-trunc", "", "do not truncate ids")
	f.List(&filters, "filter", "f", "filter: name=, id=, driver=")
	if _, err := c.parse(f, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
	if len(filters) > 0 {
		m := map[string][]string{}
		for _, fl := range filters {
			k, v, ok := strings.Cut(fl, "=")
			if !ok {
				return &usageError{err: fmt.Errorf("bad format of filter (expected name=value): %s", fl)}
			}
			m[k] = append(m[k], v)
		}
		data, _ := json.Marshal(m)
		q.Set("filters", string(data))
	}
	var list []api.NetworkResource
	if err := c.call("GET", "/networks", q, nil, &list); err != nil {
		return err
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 3, ' ', 0)
	if !quiet {
		fmt.Fprintln(w, "NETWORK ID\tNAME\tDRIVER\tSCOPE\tSUBNET")
	}
	for _, n := range list {
		id := n.ID
		if !noTrunc {
			id = shortID(id)
		}
		if quiet {
			fmt.Fprintln(w, id)
			continue
		}
		var subnets []string
		for _, p := range n.IPAM.Config {
			subnets = append(subnets, p.Subnet)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", id, n.Name, n.Driver, n.Scope, strings.Join(subnets, ","))
	}
	return w.Flush()
}

func cmdNetworkCreate(c *cli, args []string) error {
	var driver, subnet, gateway, bridge string
	var labels, opts []string
	f := newFlags("petrel network create [OPTIONS] NETWORK", true)
	f.String(&driver, "driver", "d", "driver: bridge (the only one)")
	f.String(&subnet, "subnet", "", "subnet in CIDR form (default: a free 10.x.0.0/16)")
	f.String(&gateway, "gateway", "", "gateway address in the subnet (default: its first address)")
	f.String(&bridge, "bridge-name", "", "name of the host's bridge (default: derived from the network)")
	f.List(&labels, "label", "", "set a label (key=value)")
	f.List(&opts, "opt", "o", "driver option: com.docker.network.bridge.name=NAME")
	rest, err := c.parse(f, args, 1, 1)
	if err != nil {
		return err
	}
	req := api.NetworkCreateRequest{Name: rest[0], Driver: driver, CheckDuplicate: true, Options: map[string]string{}, Labels: map[string]string{}}
	if subnet != "" || gateway != "" {
		req.IPAM = &api.IPAM{Driver: "default", Config: []api.IPAMConfig{{Subnet: subnet, Gateway: gateway}}}
	}
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return &usageError{err: fmt.Errorf("invalid option %q: want key=value", o)}
		}
		req.Options[k] = v
	}
	if bridge != "" {
		req.Options["com.docker.network.bridge.name"] = bridge
	}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		req.Labels[k] = v
	}
	var resp api.NetworkCreateResponse
	if err := c.call("POST", "/networks/create", nil, req, &resp); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, resp.ID)
	return nil
}

func cmdNetworkRm(c *cli, args []string) error {
	rest, err := c.parse(newFlags("petrel network rm NETWORK [NETWORK...]", true), args, 1, -1)
	if err != nil {
		return err
	}
	return c.forEach(rest, func(ref string) error {
		if err := c.call("DELETE", "/networks/"+url.PathEscape(ref), nil, nil, nil); err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, ref)
		return nil
	})
}

func cmdNetworkInspect(c *cli, args []string) error {
	var format string
	f := newFlags("petrel network inspect [OPTIONS] NETWORK [NETWORK...]", true)
	f.String(&format, "format", "f", "print one value per network: {{.Path.To.Field}}")
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	var out []json.RawMessage
	failed := false
	for _, ref := range rest {
		resp, err := c.do("GET", "/networks/"+url.PathEscape(ref), nil, nil)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			failed = true
			continue
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if format != "" {
			s, err := formatPath(data, format)
			if err != nil {
				return &usageError{err: err}
			}
			fmt.Fprintln(c.stdout, s)
			continue
		}
		out = append(out, data)
	}
	if format == "" {
		data, _ := json.MarshalIndent(out, "", "    ")
		fmt.Fprintln(c.stdout, string(data))
	}
	if failed {
		return &statusError{code: 1}
	}
	return nil
}

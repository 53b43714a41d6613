//go:build integration

package cni

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// snapshot is what a bridge ADD leaves behind, in a form comparable between
// two runs (ours and the reference's) on the same names.
type snapshot struct {
	Result     map[string]any
	ContAddrs  []string
	ContMTU    int
	ContState  string
	Routes     []string
	BrAddrs    []string
	BrMTU      int
	BrPromisc  bool
	BrVlanFilt any
	PortMTU    int
	Hairpin    any
	PortVlans  string
	Rules      []string
}

type bridgeCase struct {
	name    string
	conf    string // %[1]s is the cniVersion, %[2]s the bridge, %[3]s the network, %[4]s the data dir
	args    string // CNI_ARGS
	vlanDev string // the VLAN gateway port the plugin creates, if any
}

var bridgeCases = []bridgeCase{
	{name: "gateway masquerade dual-stack", conf: `{"cniVersion":"%[1]s","name":"%[3]s","type":"bridge","bridge":"%[2]s",
		"isGateway":true,"isDefaultGateway":true,"ipMasq":true,"hairpinMode":true,"mtu":1400,
		"ipam":{"type":"host-local","dataDir":"%[4]s","ranges":[[{"subnet":"10.231.1.0/24"}],[{"subnet":"fd00:231::/64"}]]}}`},
	{name: "routes and requested address", args: "IgnoreUnknown=1;IP=10.231.2.50", conf: `{"cniVersion":"%[1]s","name":"%[3]s","type":"bridge","bridge":"%[2]s",
		"isGateway":true,
		"ipam":{"type":"host-local","dataDir":"%[4]s","ranges":[[{"subnet":"10.231.2.0/24","rangeStart":"10.231.2.10"}]],
		"routes":[{"dst":"192.0.2.0/24"},{"dst":"198.51.100.0/24","gw":"10.231.2.254"}]}}`},
	{name: "promiscuous", conf: `{"cniVersion":"%[1]s","name":"%[3]s","type":"bridge","bridge":"%[2]s",
		"isGateway":true,"promiscMode":true,
		"ipam":{"type":"host-local","dataDir":"%[4]s","ranges":[[{"subnet":"10.231.9.0/24"}]]}}`},
	{name: "vlan", vlanDev: ".100", conf: `{"cniVersion":"%[1]s","name":"%[3]s","type":"bridge","bridge":"%[2]s",
		"isGateway":true,"vlan":100,
		"ipam":{"type":"host-local","dataDir":"%[4]s","ranges":[[{"subnet":"10.231.3.0/24"}]]}}`},
	{name: "layer 2 only", conf: `{"cniVersion":"%[1]s","name":"%[3]s","type":"bridge","bridge":"%[2]s","ipam":{}}`},
}

// bridgeRun does ADD, CHECK (where the version has it), takes a snapshot,
// then DEL twice, and checks that DEL left nothing behind.
// Failures of the reference plugin (Debian's 1.1.1 has CHECK bugs) are
// logged, not counted.
func bridgeRun(t *testing.T, dir, nsName, version, br, network string, c bridgeCase, isRef bool) snapshot {
	t.Helper()
	errorf := t.Errorf
	if isRef {
		errorf = func(format string, args ...any) { t.Logf("reference plugin: "+format, args...) }
	}
	dataDir := t.TempDir()
	conf := []byte(fmt.Sprintf(c.conf, version, br, network, dataDir))
	ns := netns(t, nsName)
	removeBridge(t, br)
	if c.vlanDev != "" {
		t.Cleanup(func() { exec.Command("ip", "link", "del", br+c.vlanDev).Run() })
	}
	cl := call{dir: dir, plugin: "bridge", id: "ctr", netns: ns, ifname: "eth0", args: c.args, conf: conf}
	add := cl
	add.command = "ADD"
	out := add.must(t)
	t.Cleanup(func() { del := cl; del.command = "DEL"; del.run() })

	var s snapshot
	s.Result = normResult(t, out)
	if ifs, ok := s.Result["interfaces"].([]any); ok {
		for _, i := range ifs {
			if im := i.(map[string]any); im["sandbox"] != nil {
				im["sandbox"] = "SANDBOX"
			}
		}
	}
	eth0 := link(t, ns, "eth0")
	s.ContAddrs, s.ContMTU, s.ContState = eth0.globalAddrs(), eth0.MTU, eth0.OperState
	s.Routes = routes(t, ns)
	b := link(t, "", br)
	s.BrAddrs, s.BrMTU, s.BrPromisc, s.BrVlanFilt = b.globalAddrs(), b.MTU, b.Promisc > 0, b.LinkInfo.Data["vlan_filtering"]
	ports := bridgePorts(t, br)
	var hostVeth string
	var raw struct {
		Interfaces []struct{ Name, Sandbox string }
	}
	json.Unmarshal(out, &raw)
	for _, i := range raw.Interfaces {
		if strings.HasPrefix(i.Name, "veth") && i.Sandbox == "" {
			hostVeth = i.Name
		}
	}
	if version == "0.2.0" || version == "0.1.0" {
		// Old results have no interfaces: the container's port is the one
		// that is not the VLAN gateway's.
		for _, p := range ports {
			if peer := link(t, "", p); peer.LinkInfo.Kind == "veth" {
				hostVeth = p
			}
		}
	}
	if hostVeth != "" {
		hv := link(t, "", hostVeth)
		if hv.Master != br {
			t.Errorf("host veth %s has master %q, want %q", hostVeth, hv.Master, br)
		}
		s.PortMTU, s.Hairpin = hv.MTU, hv.LinkInfo.SlaveData["hairpin"]
		if c.vlanDev != "" {
			var v []struct {
				Vlans []struct {
					Vlan  int      `json:"vlan"`
					Flags []string `json:"flags"`
				} `json:"vlans"`
			}
			json.Unmarshal([]byte(sh(t, "bridge", "-j", "vlan", "show", "dev", hostVeth)), &v)
			s.PortVlans = fmt.Sprint(v)
		}
	}
	s.Rules = natRules(t, network)

	if ok, _ := versionAtLeast(version, "0.4.0"); ok {
		chk := cl
		chk.command, chk.conf = "CHECK", withPrev(t, conf, out)
		if _, err := chk.run(); err != nil {
			errorf("%v", err)
		}
	}
	for i := 0; i < 2; i++ {
		del := cl
		del.command = "DEL"
		if _, err := del.run(); err != nil {
			errorf("DEL %d: %v", i+1, err)
		}
	}
	if out := inNS(t, ns, "ip", "-o", "link", "show"); strings.Contains(out, "eth0") {
		errorf("eth0 still in the namespace after DEL:\n%s", out)
	}
	if after := bridgePorts(t, br); len(after) != len(ports)-1 {
		errorf("bridge ports after DEL: %v (after ADD: %v): the container's veth is left", after, ports)
	}
	if r := natRules(t, network); len(r) != 0 {
		errorf("nat rules left after DEL:\n%s", strings.Join(r, "\n"))
	}
	if a := allocations(t, dataDir, network); len(a) != 0 {
		errorf("addresses still allocated after DEL: %v", a)
	}
	exec.Command("ip", "link", "del", br).Run()
	if c.vlanDev != "" {
		exec.Command("ip", "link", "del", br+c.vlanDev).Run()
	}
	return s
}

func versionAtLeast(v, min string) (bool, error) {
	parse := func(s string) (out [3]int) {
		fmt.Sscanf(s, "%d.%d.%d", &out[0], &out[1], &out[2])
		return
	}
	a, b := parse(v), parse(min)
	return slices.Compare(a[:], b[:]) >= 0, nil
}

func TestBridgeMatchesReference(t *testing.T) {
	requireRoot(t)
	ref, ours := refPlugins(t), ourDir(t)
	for ci, c := range bridgeCases {
		for _, version := range []string{"0.2.0", "0.3.1", "0.4.0", "1.0.0"} {
			t.Run(c.name+"/"+version, func(t *testing.T) {
				br := fmt.Sprintf("ptbr%d", ci)
				network := fmt.Sprintf("petrel-test-br%d", ci)
				if c.vlanDev != "" && !vlanFiltering(t) {
					t.Skip("the kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING); TestBridgeVlanUnsupported covers this kernel")
				}
				if version == "0.2.0" && !strings.Contains(c.conf, "host-local") {
					t.Skip("a 0.2.0 result needs an address")
				}
				want := bridgeRun(t, ref, "bref", version, br, network, c, true)
				got := bridgeRun(t, ours, "bour", version, br, network, c, false)
				sameJSON(t, "ADD result", got.Result, want.Result)
				want.Result, got.Result = nil, nil
				sameJSON(t, "interfaces, addresses, routes and rules", got, want)
			})
		}
	}
}

// TestBridgeConnects checks that the container reaches its gateway, and
// that two containers on the bridge reach each other.
func TestBridgeConnects(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("busybox"); err != nil {
		need(t, "busybox (apt-get install busybox-static)")
	}
	dir := ourDir(t)
	br, network := "ptbrc", "petrel-test-conn"
	removeBridge(t, br)
	conf := []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"%s","isGateway":true,"ipMasq":true,
		"ipam":{"type":"host-local","dataDir":"%s","ranges":[[{"subnet":"10.231.4.0/24"}],[{"subnet":"fd00:231:4::/64"}]]}}`, network, br, t.TempDir()))
	var addrs []string
	var nss []string
	for i := 0; i < 2; i++ {
		ns := netns(t, fmt.Sprint("conn", i))
		cl := call{dir: dir, plugin: "bridge", command: "ADD", id: fmt.Sprint("conn", i), netns: ns, ifname: "eth0", conf: conf}
		out := cl.must(t)
		t.Cleanup(func() { cl.command = "DEL"; cl.run() })
		var r struct {
			IPs []struct{ Address string } `json:"ips"`
		}
		json.Unmarshal(out, &r)
		addrs = append(addrs, strings.Split(r.IPs[0].Address, "/")[0], strings.Split(r.IPs[1].Address, "/")[0])
		nss = append(nss, ns)
	}
	// IPv6 addresses may still be tentative; DAD is off, so they are not.
	for _, target := range []string{"10.231.4.1", addrs[2], addrs[3]} {
		if out, err := exec.Command("nsenter", "--net="+nss[0], "busybox", "ping", "-c", "1", "-W", "2", target).CombinedOutput(); err != nil {
			t.Errorf("ping %s from the first container: %v\n%s", target, err, out)
		}
	}
}

func TestBridgeErrors(t *testing.T) {
	requireRoot(t)
	ref, ours := refPlugins(t), ourDir(t)
	tests := []struct {
		name string
		conf string
	}{
		{"malformed", `{"cniVersion":"1.0.0","name":"%[2]s","type":"bridge",`},
		{"hairpin and promiscuous", `{"cniVersion":"1.0.0","name":"%[2]s","type":"bridge","bridge":"%[1]s","hairpinMode":true,"promiscMode":true,"ipam":{}}`},
		{"unknown IPAM plugin", `{"cniVersion":"1.0.0","name":"%[2]s","type":"bridge","bridge":"%[1]s","ipam":{"type":"petrel-no-such-ipam"}}`},
		{"bad subnet", `{"cniVersion":"1.0.0","name":"%[2]s","type":"bridge","bridge":"%[1]s","ipam":{"type":"host-local","dataDir":"%[3]s","subnet":"10.231.5.1/24"}}`},
		{"unsupported version", `{"cniVersion":"9.9.9","name":"%[2]s","type":"bridge","bridge":"%[1]s","ipam":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			codes := map[string]int{}
			for _, impl := range []struct{ name, dir string }{{"ref", ref}, {"ours", ours}} {
				br, network, dataDir := "ptbre", "petrel-test-err", t.TempDir()
				removeBridge(t, br)
				ns := netns(t, "err"+impl.name)
				cl := call{dir: impl.dir, plugin: "bridge", command: "ADD", id: "err", netns: ns, ifname: "eth0",
					conf: []byte(fmt.Sprintf(tt.conf, br, network, dataDir))}
				out, err := cl.run()
				if err == nil {
					t.Fatalf("%s: ADD succeeded: %s", impl.name, out)
				}
				code, msg := cniError(t, out)
				if msg == "" {
					t.Errorf("%s: empty error message", impl.name)
				}
				codes[impl.name] = code
				if impl.name == "ref" {
					// Debian's 1.1.1 leaves the veth behind when IPAM fails.
					exec.Command("ip", "link", "del", br).Run()
					continue
				}
				if o := inNS(t, ns, "ip", "-o", "link", "show"); strings.Contains(o, "eth0") {
					t.Errorf("%s: eth0 left in the namespace after a failed ADD", impl.name)
				}
				if p := bridgePorts(t, br); len(p) != 0 {
					t.Errorf("%s: ports left on the bridge after a failed ADD: %v", impl.name, p)
				}
				if a := allocations(t, dataDir, network); len(a) != 0 {
					t.Errorf("%s: allocations left after a failed ADD: %v", impl.name, a)
				}
				exec.Command("ip", "link", "del", br).Run()
			}
			if codes["ours"] != codes["ref"] {
				t.Errorf("error code %d, the reference's %d", codes["ours"], codes["ref"])
			}
		})
	}
}

// TestBridgeExhausted fills a range: the next ADD fails with a clear error
// and undoes its veth; the first container keeps its address.
func TestBridgeExhausted(t *testing.T) {
	requireRoot(t)
	dir := ourDir(t)
	br, network, dataDir := "ptbrx", "petrel-test-full", t.TempDir()
	removeBridge(t, br)
	conf := []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"%s","isGateway":true,"ipMasq":true,
		"ipam":{"type":"host-local","dataDir":"%s","subnet":"10.231.6.0/30"}}`, network, br, dataDir))
	first := call{dir: dir, plugin: "bridge", command: "ADD", id: "full1", netns: netns(t, "full1"), ifname: "eth0", conf: conf}
	first.must(t)
	t.Cleanup(func() { first.command = "DEL"; first.run() })
	second := call{dir: dir, plugin: "bridge", command: "ADD", id: "full2", netns: netns(t, "full2"), ifname: "eth0", conf: conf}
	out, err := second.run()
	if err == nil {
		t.Fatalf("ADD in a full range succeeded: %s", out)
	}
	if _, msg := cniError(t, out); !strings.Contains(msg, "no IP addresses available") {
		t.Errorf("error %q does not say the range is exhausted", msg)
	}
	if p := bridgePorts(t, br); len(p) != 1 {
		t.Errorf("bridge ports after the failed ADD: %v, want only the first container's", p)
	}
	if a := allocations(t, dataDir, network); len(a) != 1 || a[0] != "10.231.6.2" {
		t.Errorf("allocations %v, want only 10.231.6.2", a)
	}
	if r := natRules(t, network); len(r) != 4 {
		t.Errorf("nat rules after the failed ADD: want the first container's chain and 3 rules, got\n%s", strings.Join(r, "\n"))
	}
}

// TestBridgeCheckDetectsDrift: CHECK fails once the container's address is
// gone, and DEL still cleans up.
func TestBridgeCheckDetectsDrift(t *testing.T) {
	requireRoot(t)
	dir := ourDir(t)
	br, network := "ptbrk", "petrel-test-check"
	removeBridge(t, br)
	conf := []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"%s","isGateway":true,"isDefaultGateway":true,
		"ipam":{"type":"host-local","dataDir":"%s","subnet":"10.231.7.0/24"}}`, network, br, t.TempDir()))
	ns := netns(t, "check")
	cl := call{dir: dir, plugin: "bridge", command: "ADD", id: "check", netns: ns, ifname: "eth0", conf: conf}
	out := cl.must(t)
	t.Cleanup(func() { cl.command = "DEL"; cl.conf = conf; cl.run() })
	chk := cl
	chk.command, chk.conf = "CHECK", withPrev(t, conf, out)
	chk.must(t)
	inNS(t, ns, "ip", "route", "del", "default")
	if _, err := chk.run(); err == nil {
		t.Error("CHECK passed without the default route")
	}
	inNS(t, ns, "ip", "addr", "flush", "dev", "eth0")
	if _, err := chk.run(); err == nil {
		t.Error("CHECK passed without the container's address")
	}
}

// vlanFiltering probes whether the kernel's bridges can filter VLANs.
func vlanFiltering(t *testing.T) bool {
	t.Helper()
	name := "ptvlprobe"
	err := exec.Command("ip", "link", "add", name, "type", "bridge", "vlan_filtering", "1").Run()
	exec.Command("ip", "link", "del", name).Run()
	return err == nil
}

// TestBridgeVlanUnsupported: on a kernel without bridge VLAN filtering, ADD
// with a VLAN fails with a clear error and leaves nothing behind.
func TestBridgeVlanUnsupported(t *testing.T) {
	requireRoot(t)
	if vlanFiltering(t) {
		t.Skip("the kernel filters VLANs: TestBridgeMatchesReference/vlan covers it")
	}
	dir := ourDir(t)
	br, network, dataDir := "ptbrv", "petrel-test-vlan", t.TempDir()
	removeBridge(t, br)
	ns := netns(t, "vlan")
	cl := call{dir: dir, plugin: "bridge", command: "ADD", id: "vlan", netns: ns, ifname: "eth0", conf: []byte(fmt.Sprintf(
		`{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"%s","vlan":100,"ipam":{"type":"host-local","dataDir":"%s","subnet":"10.231.8.0/24"}}`, network, br, dataDir))}
	out, err := cl.run()
	if err == nil {
		t.Fatalf("ADD with a VLAN succeeded on a kernel without VLAN filtering: %s", out)
	}
	if _, msg := cniError(t, out); !strings.Contains(msg, "not supported") {
		t.Errorf("error %q does not say what is unsupported", msg)
	}
	if o := inNS(t, ns, "ip", "-o", "link", "show"); strings.Contains(o, "eth0") {
		t.Error("eth0 left in the namespace")
	}
	if a := allocations(t, dataDir, network); len(a) != 0 {
		t.Errorf("allocations left: %v", a)
	}
}

// TestBridgeLateFailureRollsBack: ADD fails after IPAM and the veth are done
// (the bridge holds another address of the subnet and forceAddress is off);
// the address is released and the veth removed, as with Debian's plugin.
func TestBridgeLateFailureRollsBack(t *testing.T) {
	requireRoot(t)
	ref, ours := refPlugins(t), ourDir(t)
	for _, impl := range []struct{ name, dir string }{{"ref", ref}, {"ours", ours}} {
		t.Run(impl.name, func(t *testing.T) {
			br, network, dataDir := "ptbrlf", "petrel-test-late", t.TempDir()
			removeBridge(t, br)
			sh(t, "ip", "link", "add", br, "type", "bridge")
			sh(t, "ip", "addr", "add", "10.231.19.9/24", "dev", br)
			ns := netns(t, "late"+impl.name)
			cl := call{dir: impl.dir, plugin: "bridge", command: "ADD", id: "late", netns: ns, ifname: "eth0", conf: []byte(fmt.Sprintf(
				`{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"%s","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","dataDir":"%s","subnet":"10.231.19.0/24"}}`, network, br, dataDir))}
			out, err := cl.run()
			if err == nil {
				t.Fatalf("ADD succeeded with a conflicting bridge address: %s", out)
			}
			if _, msg := cniError(t, out); !strings.Contains(msg, "already has an IP address") {
				t.Errorf("error %q does not name the conflict", msg)
			}
			if a := allocations(t, dataDir, network); len(a) != 0 {
				t.Errorf("allocations left after the failed ADD: %v", a)
			}
			if impl.name == "ours" {
				if p := bridgePorts(t, br); len(p) != 0 {
					t.Errorf("veths left after the failed ADD: %v", p)
				}
				if r := natRules(t, network); len(r) != 0 {
					t.Errorf("nat rules left after the failed ADD:\n%s", strings.Join(r, "\n"))
				}
			}
		})
	}
}

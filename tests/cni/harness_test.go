//go:build integration

package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	cniapplet "github.com/petrel-edge/petrel/applets/cni"
	"github.com/petrel-edge/petrel/net/iptables"
)

var pluginNames = []string{"bridge", "host-local", "loopback", "portmap"}

// refDir holds Debian's reference plugins.
const refDir = "/usr/lib/cni"

func TestMain(m *testing.M) {
	// Run through a symlink named after a plugin, the test binary is that
	// plugin.
	base := filepath.Base(os.Args[0])
	for _, p := range pluginNames {
		if base == p {
			os.Exit(cniapplet.Main(os.Args[1:]))
		}
	}
	// The test binary fetches a URL from inside a namespace for the tests
	// (nsenter --net=… <test binary>).
	if url := os.Getenv("PETREL_CNI_TEST_GET"); url != "" {
		body, err := httpGet(url)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Print(body)
		os.Exit(0)
	}
	if os.Geteuid() == 0 {
		sweep()
	}
	os.Exit(m.Run())
}

// sweep removes what an earlier run that was killed (a timeout panics past
// every cleanup) left behind: its namespaces, bridges and nat rules. All of
// them carry this suite's names.
func sweep() {
	if out, err := exec.Command("ip", "netns", "list").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			f := strings.Fields(l)
			if len(f) == 0 || !strings.HasPrefix(f[0], "petrel-cni-") {
				continue
			}
			pid := f[0][strings.LastIndexByte(f[0], '-')+1:]
			if _, err := os.Stat("/proc/" + pid); err != nil {
				exec.Command("ip", "netns", "del", f[0]).Run()
			}
		}
	}
	if out, err := exec.Command("ip", "-o", "link", "show", "type", "bridge").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[1], "ptbr") {
				name := strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":")
				exec.Command("ip", "link", "del", name).Run()
			}
		}
	}
	exec.Command("iptables", "-w", "5", "-D", "FORWARD", "-i", "ptbrp", "-o", "ptbrp", "-j", "ACCEPT").Run()
	for _, v6 := range []bool{false, true} {
		ipt, err := iptables.New(v6)
		if err != nil {
			continue
		}
		snap, err := ipt.Snapshot("nat")
		if err != nil {
			continue
		}
		b := iptables.NewBatch("nat")
		chains := map[string]bool{}
		for _, r := range snap.Rules("") {
			if !strings.Contains(r, `name: \"petrel-test-`) {
				continue
			}
			f := iptables.SplitRule(r)
			for i := 0; i+1 < len(f); i++ {
				if f[i] == "-j" && strings.HasPrefix(f[i+1], "CNI-") && !strings.HasPrefix(f[i+1], "CNI-HOSTPORT-") {
					chains[f[i+1]] = true
				}
			}
			if len(f) > 1 && !chains[f[1]] {
				b.DeleteLine(r)
			}
		}
		for c := range chains {
			b.RemoveChain(c)
		}
		ipt.Apply(b)
	}
}

// getIn fetches url from inside the namespace at ns.
func getIn(t *testing.T, ns, url string) (string, error) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("nsenter", "--net="+ns, "--", self)
	cmd.Env = append(os.Environ(), "PETREL_CNI_TEST_GET="+url)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		return "", fmt.Errorf("%v: %s", err, stderr)
	}
	return string(out), nil
}

// need stops the test for a missing prerequisite: a failure under CI, a
// skip otherwise.
func need(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("missing prerequisite: "+format, args...)
	}
	t.Skipf("missing prerequisite: "+format, args...)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		need(t, "root (the plugins create namespaces, links and iptables rules)")
	}
	for _, c := range []struct{ cmd, pkg string }{{"ip", "iproute2"}, {"iptables", "iptables"}, {"ip6tables", "iptables"}, {"nsenter", "util-linux"}, {"bridge", "iproute2"}} {
		if _, err := exec.LookPath(c.cmd); err != nil {
			need(t, "%s (apt-get install %s)", c.cmd, c.pkg)
		}
	}
}

// ourDir returns a CNI_PATH directory with the built-in plugins: symlinks
// to $PETREL_BIN, or else to this test binary.
func ourDir(t *testing.T) string {
	t.Helper()
	target := os.Getenv("PETREL_BIN")
	if target == "" {
		var err error
		if target, err = os.Executable(); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	for _, p := range pluginNames {
		if err := os.Symlink(target, filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// refPlugins returns Debian's plugin directory, or stops the test.
func refPlugins(t *testing.T) string {
	t.Helper()
	for _, p := range pluginNames {
		if _, err := os.Stat(filepath.Join(refDir, p)); err != nil {
			need(t, "reference plugin %s (apt-get install containernetworking-plugins): %v", p, err)
		}
	}
	return refDir
}

// netns creates a named network namespace, removed when the test ends.
func netns(t *testing.T, name string) string {
	t.Helper()
	name = fmt.Sprintf("petrel-cni-%s-%d", name, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return "/var/run/netns/" + name
}

// call is one plugin invocation.
type call struct {
	dir, plugin, command, id, netns, ifname, args string
	conf                                          []byte
	// path is CNI_PATH when set, else dir.
	path string
}

// run executes the plugin as a CNI runtime does and returns its stdout; a
// non-zero exit is an error carrying the CNI error JSON.
func (c call) run() ([]byte, error) {
	cmd := exec.Command(filepath.Join(c.dir, c.plugin))
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"CNI_COMMAND=" + c.command,
		"CNI_CONTAINERID=" + c.id,
		"CNI_NETNS=" + c.netns,
		"CNI_IFNAME=" + c.ifname,
		"CNI_PATH=" + c.dir,
	}
	if c.path != "" {
		cmd.Env[len(cmd.Env)-1] = "CNI_PATH=" + c.path
	}
	if c.args != "" {
		cmd.Env = append(cmd.Env, "CNI_ARGS="+c.args)
	}
	cmd.Stdin = bytes.NewReader(c.conf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %v: %s %s", c.plugin, c.command, err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes(), nil
}

func (c call) must(t *testing.T) []byte {
	t.Helper()
	out, err := c.run()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// cniError decodes the error a plugin printed.
func cniError(t *testing.T, out []byte) (code int, msg string) {
	t.Helper()
	var e struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}
	if err := json.Unmarshal(out, &e); err != nil {
		t.Fatalf("plugin error is not CNI error JSON: %v: %q", err, out)
	}
	return e.Code, e.Msg
}

// sh runs a command and returns its stdout, failing the test on error.
func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// execQuiet runs a command and returns only whether it failed.
func execQuiet(name string, args ...string) error {
	return exec.Command(name, args...).Run()
}

// inNS runs a command in the network namespace at path.
func inNS(t *testing.T, path string, args ...string) string {
	t.Helper()
	return sh(t, "nsenter", append([]string{"--net=" + path, "--"}, args...)...)
}

// withPrev returns conf with prevResult set.
func withPrev(t *testing.T, conf, prev []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(conf, &m); err != nil {
		t.Fatal(err)
	}
	m["prevResult"] = json.RawMessage(prev)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// normResult decodes a result and blanks what differs between any two runs
// (MAC addresses, the random host veth name); an empty dns is dropped, as
// the reference prints "dns":{} and we leave it out.
func normResult(t *testing.T, out []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatalf("result is not JSON: %v: %q", err, out)
	}
	if d, ok := m["dns"].(map[string]any); ok && len(d) == 0 {
		delete(m, "dns")
	}
	if ifs, ok := m["interfaces"].([]any); ok {
		for _, i := range ifs {
			im := i.(map[string]any)
			if _, ok := im["mac"]; ok {
				im["mac"] = "MAC"
			}
			if n, _ := im["name"].(string); strings.HasPrefix(n, "veth") {
				im["name"] = "VETH"
			}
		}
	}
	return m
}

func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s differs from the reference plugin's:\n got %s\nwant %s", what, g, w)
	}
}

func sameLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s differs from the reference plugin's:\n got:\n\t%s\nwant:\n\t%s", what, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
}

// natRules returns the nat rules, IPv4 then IPv6, that belong to network:
// those whose comment names it and every rule of a chain they jump to.
func natRules(t *testing.T, network string) []string {
	t.Helper()
	var out []string
	for _, cmd := range []string{"iptables", "ip6tables"} {
		lines := strings.Split(sh(t, cmd, "-w", "5", "-t", "nat", "-S"), "\n")
		chains := map[string]bool{}
		var mine []string
		for _, l := range lines {
			if strings.Contains(l, `name: \"`+network+`\"`) {
				mine = append(mine, l)
				f := strings.Fields(l)
				for i := 0; i+1 < len(f); i++ {
					if f[i] == "-j" && strings.HasPrefix(f[i+1], "CNI-") && !strings.HasPrefix(f[i+1], "CNI-HOSTPORT-") {
						chains[f[i+1]] = true
					}
				}
			}
		}
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) >= 2 && (f[0] == "-A" || f[0] == "-N") && chains[f[1]] && !strings.Contains(l, `name: \"`+network+`\"`) {
				mine = append(mine, l)
			}
		}
		sort.Strings(mine)
		for _, l := range mine {
			out = append(out, cmd+" "+l)
		}
	}
	return out
}

// allocations lists the host-local allocation files of a network.
func allocations(t *testing.T, dataDir, network string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dataDir, network))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); n != "lock" && !strings.HasPrefix(n, "last_reserved_ip") {
			out = append(out, n)
		}
	}
	return out
}

// bridgePorts lists the interfaces enslaved to a bridge.
func bridgePorts(t *testing.T, br string) []string {
	t.Helper()
	var links []struct {
		Name string `json:"ifname"`
	}
	out, err := exec.Command("ip", "-j", "link", "show", "master", br).Output()
	if err != nil {
		return nil // no such bridge: no ports
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return nil
	}
	if err := json.Unmarshal(out, &links); err != nil {
		t.Fatalf("ip -j link: %v: %s", err, out)
	}
	var names []string
	for _, l := range links {
		names = append(names, l.Name)
	}
	return names
}

// removeBridge deletes a bridge when the test ends (neither plugin removes
// it: other containers may use it).
func removeBridge(t *testing.T, name string) {
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
}

// linkInfo is what `ip -j -d addr show` says about one link.
type linkInfo struct {
	Name      string   `json:"ifname"`
	Flags     []string `json:"flags"`
	MTU       int      `json:"mtu"`
	Master    string   `json:"master"`
	Promisc   int      `json:"promiscuity"`
	OperState string   `json:"operstate"`
	LinkInfo  struct {
		Kind      string         `json:"info_kind"`
		Data      map[string]any `json:"info_data"`
		SlaveData map[string]any `json:"info_slave_data"`
	} `json:"linkinfo"`
	Addrs []struct {
		Family string `json:"family"`
		Local  string `json:"local"`
		Prefix int    `json:"prefixlen"`
		Scope  string `json:"scope"`
	} `json:"addr_info"`
}

func link(t *testing.T, nsPath, name string) *linkInfo {
	t.Helper()
	args := []string{"ip", "-j", "-d", "addr", "show", "dev", name}
	var out string
	if nsPath == "" {
		out = sh(t, args[0], args[1:]...)
	} else {
		out = inNS(t, nsPath, args...)
	}
	var l []linkInfo
	if err := json.Unmarshal([]byte(out), &l); err != nil || len(l) != 1 {
		t.Fatalf("ip addr show %s: %v: %s", name, err, out)
	}
	return &l[0]
}

// globalAddrs lists a link's addresses other than IPv6 link-local ones
// (which derive from the random MAC).
func (l *linkInfo) globalAddrs() []string {
	var out []string
	for _, a := range l.Addrs {
		if a.Scope == "link" && a.Family == "inet6" {
			continue
		}
		out = append(out, fmt.Sprintf("%s/%d", a.Local, a.Prefix))
	}
	sort.Strings(out)
	return out
}

// routes lists the routes of a namespace (both families) in `ip route` form,
// without link-local ones and kernel metrics that differ only by timing.
func routes(t *testing.T, nsPath string) []string {
	t.Helper()
	var out []string
	for _, fam := range []string{"-4", "-6"} {
		for _, l := range strings.Split(inNS(t, nsPath, "ip", fam, "route", "show", "table", "main"), "\n") {
			l = strings.TrimSpace(l)
			if l == "" || strings.HasPrefix(l, "fe80::") || strings.HasPrefix(l, "multicast") {
				continue
			}
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

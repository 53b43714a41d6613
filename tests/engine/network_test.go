//go:build integration

package engine

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/net/bridge"
	"github.com/petrel-edge/petrel/tests/internal/testenv"
)

// netDaemon is a petreld whose default network has a bridge and a /24 of
// its own, so that parallel runs and the host's own petrel0 never meet.
type netDaemon struct {
	*daemon
	bridge, subnet, prefix string // prefix: "10.x.y."
	confDir                string
}

func startNetDaemon(t *testing.T) *netDaemon {
	t.Helper()
	testenv.RequireRoot(t)
	testenv.LookPath(t, "iptables")
	dir, err := os.MkdirTemp("", "pn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var b [3]byte
	rand.Read(b[:])
	n := &netDaemon{bridge: "pn" + hex.EncodeToString(b[:]), confDir: filepath.Join(dir, "net.d")}
	n.subnet, n.prefix = freeTestSubnet(t)
	d := &daemon{t: t, bin: testenv.Binary(t), dir: dir, root: filepath.Join(dir, "r"), state: filepath.Join(dir, "s"),
		sock: filepath.Join(dir, "p.sock"), rootfs: filepath.Join(dir, "rootfs")}
	n.daemon = d
	testenv.BusyboxRootfs(t, d.rootfs)
	os.MkdirAll(filepath.Join(d.rootfs, "www"), 0o755)
	os.WriteFile(filepath.Join(d.rootfs, "www", "index.html"), []byte("hello from petrel\n"), 0o644)
	d.configFile = d.config(fmt.Sprintf(`{"graph": %q, "state": %q, "hosts": ["unix://%s"], "cni-conf-dir": %q,
		"default-network-subnet": %q, "default-network-bridge": %q}`, d.root, d.state, d.sock, n.confDir, n.subnet, n.bridge))
	t.Cleanup(func() {
		// After the daemon's cleanup (cleanups run last-in first-out):
		// the bridge is the host's, made by the first container.
		exec.Command("ip", "link", "del", n.bridge).Run()
		removeMasquerade(t, n.bridge)
	})
	t.Cleanup(d.cleanup)
	d.start()
	return n
}

// freeTestSubnet picks a 10.2xx.y.0/24 that no host address is in.
func freeTestSubnet(t *testing.T) (string, string) {
	addrs, _ := net.InterfaceAddrs()
	for i := 0; i < 100; i++ {
		var b [2]byte
		rand.Read(b[:])
		prefix := fmt.Sprintf("10.%d.%d.", 200+int(b[0])%50, b[1])
		_, s, _ := net.ParseCIDR(prefix + "0/24")
		free := true
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (s.Contains(ipn.IP) || ipn.Contains(s.IP)) {
				free = false
			}
		}
		if free {
			return s.String(), prefix
		}
	}
	t.Fatal("no free test subnet")
	return "", ""
}

// leftovers counts what the network could have left behind: veths on the
// bridge, namespaces under the state dir and mounted, iptables and nft
// rules naming the subnet or a container (but the network's own
// masquerade rule, which lives as long as the network), host-local's
// addresses in the subnet.
func (n *netDaemon) leftovers(ids []string) map[string]int {
	n.t.Helper()
	got := map[string]int{}
	out, _ := exec.Command("ip", "-o", "link", "show", "master", n.bridge).Output()
	got["veths"] = strings.Count(string(out), "\n")
	ents, _ := os.ReadDir(filepath.Join(n.state, "netns"))
	got["netns files"] = len(ents)
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], n.dir+"/") && strings.Contains(line, " - nsfs ") {
			got["netns mounts"]++
		}
	}
	var rules []string
	for _, cmd := range [][]string{{"iptables-save"}, {"ip6tables-save"}} {
		if out, err := exec.Command(cmd[0], cmd[1:]...).Output(); err == nil {
			rules = append(rules, strings.Split(string(out), "\n")...)
		}
	}
	if out, err := exec.Command("nft", "list", "ruleset").Output(); err == nil {
		// iptables-nft's own tables are listed above already, and nft
		// prints their comments apart from the rules.
		iptablesTable := false
		for _, l := range strings.Split(string(out), "\n") {
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "table" {
				iptablesTable = (f[1] == "ip" || f[1] == "ip6") &&
					(f[2] == "nat" || f[2] == "filter" || f[2] == "mangle" || f[2] == "raw" || f[2] == "security")
			}
			if !iptablesTable {
				rules = append(rules, l)
			}
		}
	}
	for _, r := range rules {
		if strings.Contains(r, bridge.NetworkMasqPrefix) {
			continue
		}
		hit := strings.Contains(r, n.prefix)
		for _, id := range ids {
			hit = hit || strings.Contains(r, id)
		}
		if hit {
			got["rules"]++
			n.t.Logf("left: %s", r)
		}
	}
	ips, _ := os.ReadDir("/var/lib/cni/networks/petrel0")
	for _, e := range ips {
		if strings.HasPrefix(e.Name(), n.prefix) {
			got["addresses"]++
		}
	}
	for k, v := range got {
		if v == 0 {
			delete(got, k)
		}
	}
	return got
}

func (n *netDaemon) assertClean(ids []string) {
	n.t.Helper()
	if left := n.leftovers(ids); len(left) > 0 {
		n.t.Errorf("left behind: %v", left)
	}
}

// httpGet fetches url from the host, retrying for a few seconds while
// the container's server starts.
func (n *netDaemon) httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	var err error
	for i := 0; i < 50; i++ {
		var resp *http.Response
		if resp, err = c.Get(url); err == nil {
			data, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(data), rerr
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "", err
}

// wgetScript fetches url from inside a container, retrying while the
// server starts (busybox's wget -T crashes, so no timeout flag).
func wgetScript(url string) []string {
	return []string{"sh", "-c", "for i in $(seq 50); do wget -qO- " + url + " 2>/dev/null && exit 0; sleep 0.1; done; exit 1"}
}

func TestNetworkDefault(t *testing.T) {
	n := startNetDaemon(t)
	// The default network was written on first start, from daemon.json.
	data, err := os.ReadFile(filepath.Join(n.confDir, "petrel0.conflist"))
	if err != nil || !strings.Contains(string(data), n.subnet) || !strings.Contains(string(data), n.bridge) ||
		!strings.Contains(string(data), `"portmap"`) || !strings.Contains(string(data), `"loopback"`) {
		t.Fatalf("default conflist: %v\n%s", err, data)
	}
	if out := n.must("network", "ls"); !strings.Contains(out, "petrel0") || !strings.Contains(out, n.subnet) {
		t.Errorf("network ls:\n%s", out)
	}
	n.must(n.runArgs("-d", "--name", "web", "none", "httpd", "-f", "-p", "80", "-h", "/www")...)
	n.must(n.runArgs("-d", "--name", "other", "--dns", "192.0.2.53", "--dns-search", "corp.example", "--add-host", "db:192.0.2.7", "none", "sleep", "1000")...)
	ip := n.inspect("web", ".NetworkSettings.IPAddress")
	if !strings.HasPrefix(ip, n.prefix) {
		t.Fatalf("web's address %q is not in %s", ip, n.subnet)
	}
	if gw := n.inspect("web", ".NetworkSettings.Gateway"); gw != n.prefix+"1" {
		t.Errorf("gateway %q", gw)
	}
	if mac := n.inspect("web", ".NetworkSettings.Networks.petrel0.MacAddress"); len(mac) != 17 {
		t.Errorf("mac %q", mac)
	}
	// The two reach each other by address.
	if out := n.must(append([]string{"exec", "other"}, wgetScript("http://"+ip+"/")...)...); out != "hello from petrel" {
		t.Errorf("wget from other: %q", out)
	}
	otherIP := n.inspect("other", ".NetworkSettings.IPAddress")
	if out, errs, code := n.petrel("exec", "web", "ping", "-c", "1", "-W", "5", otherIP); code != 0 {
		t.Errorf("ping from web: %s%s", out, errs)
	}
	// /etc/hosts names the container's address; resolv.conf has --dns.
	hosts := n.must("exec", "other", "cat", "/etc/hosts")
	host := n.inspect("other", ".Config.Hostname")
	if !strings.Contains(hosts, otherIP+"\t"+host) || !strings.Contains(hosts, "192.0.2.7\tdb") {
		t.Errorf("/etc/hosts:\n%s", hosts)
	}
	if rc := n.must("exec", "other", "cat", "/etc/resolv.conf"); !strings.Contains(rc, "nameserver 192.0.2.53") || !strings.Contains(rc, "search corp.example") {
		t.Errorf("/etc/resolv.conf:\n%s", rc)
	}
	if out := n.must("network", "inspect", "--format", "{{.Containers}}", "petrel0"); !strings.Contains(out, ip) {
		t.Errorf("network inspect lists no web: %s", out)
	}
	ids := []string{n.inspect("web", ".Id"), n.inspect("other", ".Id")}
	n.must("rm", "-f", "web", "other")
	n.assertClean(ids)
}

func TestNetworkPublish(t *testing.T) {
	n := startNetDaemon(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	n.must(n.runArgs("-d", "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "-p", "127.0.0.1::80", "none", "httpd", "-f", "-p", "80", "-h", "/www")...)
	if out, err := n.httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || out != "hello from petrel\n" {
		t.Errorf("published port: %q, %v", out, err)
	}
	ports := n.must("ps", "--format", "{{.Ports}}")
	if !strings.Contains(ports, fmt.Sprintf("127.0.0.1:%d->80/tcp", port)) {
		t.Errorf("ps ports: %q", ports)
	}
	// The random host port is recorded and works too.
	var random string
	for _, p := range strings.Split(ports, ", ") {
		if h, _, ok := strings.Cut(p, "->"); ok && h != fmt.Sprintf("127.0.0.1:%d", port) {
			random = h
		}
	}
	if out, err := n.httpGet("http://" + random + "/"); err != nil || out != "hello from petrel\n" {
		t.Errorf("random published port %q: %q, %v", random, out, err)
	}
	// A host port that is taken is refused and leaves nothing.
	_, errs, code := n.petrel(n.runArgs("-d", "--name", "clash", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "none", "sleep", "100")...)
	if code == 0 || !strings.Contains(errs, "port is already allocated") {
		t.Errorf("second bind of %d: exit %d, %s", port, code, errs)
	}
	webID := n.inspect("web", ".Id")
	clashID := n.inspect("clash", ".Id")
	if st := n.inspect("clash", ".State.Status"); st != "exited" {
		t.Errorf("clash is %s", st)
	}
	n.must("rm", "-f", "web")
	// Only clash (not running) remains: nothing of its network exists.
	n.assertClean([]string{webID, clashID})
	n.must("rm", "clash")
	// A port the host holds is refused as well.
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hl.Close()
	_, errs, code = n.petrel(n.runArgs("--rm", "-p", hl.Addr().String()+":80", "none", "true")...)
	if code == 0 || !strings.Contains(errs, "already allocated") {
		t.Errorf("port the host holds: exit %d, %s", code, errs)
	}
	n.assertClean(nil)
}

func TestNetworkModes(t *testing.T) {
	n := startNetDaemon(t)
	n.must(n.runArgs("-d", "--name", "base", "none", "sleep", "1000")...)
	ip := n.inspect("base", ".NetworkSettings.IPAddress")
	// container: shares the stack: same address, and base's lo.
	out := n.must(n.runArgs("--rm", "--network", "container:base", "none", "ip", "-4", "-o", "addr")...)
	if !strings.Contains(out, ip+"/") {
		t.Errorf("container:base sees %q, want %s", out, ip)
	}
	// none: lo only, up.
	out = n.must(n.runArgs("--rm", "--network", "none", "none", "ip", "-o", "link")...)
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "lo:") || !strings.Contains(lines[0], "UP") {
		t.Errorf("--network none links:\n%s", out)
	}
	// none, running: the namespace is the init's alone, named by it,
	// and nothing is bind-mounted for it.
	n.must(n.runArgs("-d", "--name", "alone", "--network", "none", "none", "sleep", "1000")...)
	if key, pid := n.inspect("alone", ".NetworkSettings.SandboxKey"), n.inspect("alone", ".State.Pid"); key != "/proc/"+pid+"/ns/net" {
		t.Errorf("--network none SandboxKey %q, want /proc/%s/ns/net", key, pid)
	}
	if out := n.must("exec", "alone", "ip", "-o", "link"); !strings.Contains(out, "lo:") || strings.Contains(out, "eth0") {
		t.Errorf("exec in the none container sees:\n%s", out)
	}
	if left := n.leftovers(nil); left["netns files"] != 1 || left["netns mounts"] != 1 {
		t.Errorf("%v namespaces bound while base and alone run, want base's only", left)
	}
	n.must("rm", "-f", "alone")
	// host: the host's interfaces, the bridge among them.
	out = n.must(n.runArgs("--rm", "--network", "host", "none", "ip", "-o", "link")...)
	if !strings.Contains(out, n.bridge) {
		t.Errorf("--network host does not see %s:\n%s", n.bridge, out)
	}
	if _, errs, code := n.petrel(n.runArgs("--network", "container:nosuch", "none", "true")...); code == 0 || !strings.Contains(errs, "No such container") {
		t.Errorf("container:nosuch: exit %d, %s", code, errs)
	}
	if _, errs, code := n.petrel(n.runArgs("--network", "host", "-p", "80", "none", "true")...); code == 0 || !strings.Contains(errs, "port publishing") {
		t.Errorf("-p with host: exit %d, %s", code, errs)
	}
	id := n.inspect("base", ".Id")
	n.must("rm", "-f", "base")
	n.assertClean([]string{id})
}

func TestNetworkCommandsAndBadInput(t *testing.T) {
	n := startNetDaemon(t)
	_, prefix := freeTestSubnet(t)
	// A /30 holds one container besides the gateway.
	_, s30, _ := net.ParseCIDR(prefix + "0/30")
	br := n.bridge + "t"
	t.Cleanup(func() { exec.Command("ip", "link", "del", br).Run() })
	id := n.must("network", "create", "--subnet", s30.String(), "--bridge-name", br, "tiny")
	if len(id) != 64 {
		t.Errorf("network create printed %q", id)
	}
	if _, errs, code := n.petrel("network", "create", "--subnet", s30.String(), "tiny"); code == 0 || !strings.Contains(errs, "already exists") {
		t.Errorf("duplicate network: exit %d, %s", code, errs)
	}
	if _, errs, code := n.petrel("network", "create", "--subnet", "10.1.2.3", "bad"); code == 0 || !strings.Contains(errs, "invalid subnet") {
		t.Errorf("bad subnet: exit %d, %s", code, errs)
	}
	if _, errs, code := n.petrel("network", "create", "--driver", "overlay", "bad"); code == 0 || !strings.Contains(errs, "not supported") {
		t.Errorf("bad driver: exit %d, %s", code, errs)
	}
	if r := masqueradeRules(t, br); len(r) != 0 {
		t.Errorf("masquerading before the network's first container:\n%s", strings.Join(r, "\n"))
	}
	n.must(n.runArgs("-d", "--name", "one", "--network", "tiny", "none", "sleep", "1000")...)
	if ip := n.inspect("one", ".NetworkSettings.Networks.tiny.IPAddress"); ip != prefix+"2" {
		t.Errorf("one's address %q", ip)
	}
	if r := masqueradeRules(t, br); len(r) != 1 || !strings.Contains(r[0], s30.String()) {
		t.Errorf("tiny's masquerade rules, want one for %s:\n%s", s30, strings.Join(r, "\n"))
	}
	// The range is exhausted: a clear error, and nothing half made.
	_, errs, code := n.petrel(n.runArgs("-d", "--name", "two", "--network", "tiny", "none", "sleep", "1000")...)
	if code == 0 || !strings.Contains(errs, "no IP addresses available") {
		t.Errorf("exhausted range: exit %d, %s", code, errs)
	}
	twoID := n.inspect("two", ".Id")
	if out, _ := exec.Command("ip", "-o", "link", "show", "master", br).Output(); strings.Count(string(out), "\n") != 1 {
		t.Errorf("veths on %s after the failed start:\n%s", br, out)
	}
	if ents, _ := os.ReadDir(filepath.Join(n.state, "netns")); len(ents) != 1 {
		t.Errorf("%d namespaces after the failed start, want one's only", len(ents))
	}
	// rm of a network in use is refused.
	if _, errs, code := n.petrel("network", "rm", "tiny"); code == 0 || !strings.Contains(errs, "active endpoints") {
		t.Errorf("rm of a used network: exit %d, %s", code, errs)
	}
	oneID := n.inspect("one", ".Id")
	n.must("rm", "-f", "one", "two")
	n.must("network", "rm", "tiny")
	if _, err := os.Stat(filepath.Join(n.confDir, "tiny.conflist")); err == nil {
		t.Error("tiny.conflist left after network rm")
	}
	if r := masqueradeRules(t, br); len(r) != 0 {
		t.Errorf("masquerading left after network rm:\n%s", strings.Join(r, "\n"))
	}
	if _, errs, code := n.petrel("network", "rm", "petrel0"); code == 0 || !strings.Contains(errs, "pre-defined") {
		t.Errorf("rm of the default network: exit %d, %s", code, errs)
	}
	if _, errs, code := n.petrel("network", "inspect", "tiny"); code == 0 || !strings.Contains(errs, "not found") {
		t.Errorf("inspect of a removed network: exit %d, %s", code, errs)
	}

	// A malformed conflist and an unknown plugin: clear errors, nothing left.
	os.WriteFile(filepath.Join(n.confDir, "broken.conflist"), []byte(`{"cniVersion": "1.0.0", "name": "broken", "plugins": [`), 0o644)
	if _, errs, code := n.petrel(n.runArgs("--rm", "--network", "broken", "none", "true")...); code == 0 || !strings.Contains(errs, "broken.conflist") {
		t.Errorf("malformed conflist: exit %d, %s", code, errs)
	}
	os.WriteFile(filepath.Join(n.confDir, "odd.conflist"), []byte(`{"cniVersion": "1.0.0", "name": "odd", "plugins": [{"type": "nosuchplugin"}]}`), 0o644)
	_, errs, code = n.petrel(n.runArgs("-d", "--name", "odd", "--network", "odd", "none", "true")...)
	if code == 0 || !strings.Contains(errs, "nosuchplugin") {
		t.Errorf("unknown plugin: exit %d, %s", code, errs)
	}
	oddID := n.inspect("odd", ".Id")
	n.must("rm", "odd")
	n.assertClean([]string{oneID, twoID, oddID})
	if out := n.must("network", "ls"); !strings.Contains(out, "petrel0") || strings.Contains(out, "tiny") {
		t.Errorf("network ls:\n%s", out)
	}
}

// TestNetworkNoLeaks runs 200 create/start/rm cycles with networking, a
// quarter of them killed mid-way, and counts what is left.
func TestNetworkNoLeaks(t *testing.T) {
	n := startNetDaemon(t)
	const cycles, workers = 200, 4
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	errc := make(chan string, cycles)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < cycles; i += workers {
				name := fmt.Sprintf("c%d", i)
				ports := []string{"-p", "127.0.0.1::80"}
				switch i % 4 {
				case 0: // run --rm, published port
					if out, errs, code := n.petrel(n.runArgs(append(ports, "--rm", "--name", name, "none", "true")...)...); code != 0 {
						errc <- fmt.Sprintf("%s: %s%s", name, out, errs)
					}
					continue
				case 1: // detached, then rm -f
					out, errs, code := n.petrel(n.runArgs(append(ports, "-d", "--name", name, "none", "sleep", "100")...)...)
					if code != 0 {
						errc <- fmt.Sprintf("%s: %s%s", name, out, errs)
						continue
					}
					mu.Lock()
					ids = append(ids, strings.TrimSpace(out))
					mu.Unlock()
				case 2: // its process killed with SIGKILL behind the engine's back
					out, errs, code := n.petrel(n.runArgs("-d", "--name", name, "none", "sleep", "100")...)
					if code != 0 {
						errc <- fmt.Sprintf("%s: %s%s", name, out, errs)
						continue
					}
					mu.Lock()
					ids = append(ids, strings.TrimSpace(out))
					mu.Unlock()
					if pid, err := strconv.Atoi(n.inspect(name, ".State.Pid")); err == nil && pid > 0 {
						exec.Command("kill", "-9", strconv.Itoa(pid)).Run()
					}
					n.petrel("wait", name)
				case 3: // rm -f while it starts
					cout, cerrs, ccode := n.petrel(append([]string{"create", "--external-rootfs", n.rootfs, "--name", name}, append(ports, "none", "sleep", "100")...)...)
					if ccode != 0 {
						errc <- fmt.Sprintf("%s: %s%s", name, cout, cerrs)
						continue
					}
					mu.Lock()
					ids = append(ids, strings.TrimSpace(cout))
					mu.Unlock()
					done := make(chan struct{})
					go func() { n.petrel("start", name); close(done) }()
					n.petrel("rm", "-f", name)
					<-done
					n.petrel("rm", "-f", name)
					continue
				}
				n.petrel("rm", "-f", name)
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	failed := 0
	for e := range errc {
		if failed++; failed <= 5 {
			t.Errorf("cycle failed: %s", e)
		}
	}
	if out := n.must("ps", "-aq"); out != "" {
		t.Errorf("containers left: %s", out)
	}
	n.assertClean(ids)
}

// TestNetworkLiveRestore: a container that dies while the daemon is down
// has its network torn down by the next daemon; one that lives keeps it.
func TestNetworkLiveRestore(t *testing.T) {
	n := startNetDaemon(t)
	n.must(n.runArgs("-d", "--name", "dies", "-p", "127.0.0.1::80", "none", "sleep", "1000")...)
	n.must(n.runArgs("-d", "--name", "lives", "none", "httpd", "-f", "-p", "80", "-h", "/www")...)
	diesID, pid := n.inspect("dies", ".Id"), n.inspect("dies", ".State.Pid")
	livesIP := n.inspect("lives", ".NetworkSettings.IPAddress")
	n.kill9()
	exec.Command("kill", "-9", pid).Run()
	n.start()
	n.waitFor("dies to be exited", func() bool { return n.inspect("dies", ".State.Status") == "exited" })
	if ip := n.inspect("dies", ".NetworkSettings.IPAddress"); ip != "" {
		t.Errorf("dies still has address %q", ip)
	}
	if out, _ := exec.Command("ip", "-o", "link", "show", "master", n.bridge).Output(); strings.Count(string(out), "\n") != 1 {
		t.Errorf("veths after restore, want lives' only:\n%s", out)
	}
	if out := n.must(n.runArgs(append([]string{"--rm", "none"}, wgetScript("http://"+livesIP+"/")...)...)...); out != "hello from petrel" {
		t.Errorf("lives after restore: %q", out)
	}
	livesID := n.inspect("lives", ".Id")
	n.must("rm", "-f", "dies", "lives")
	n.assertClean([]string{diesID, livesID})
}

// listenIn opens a TCP listener inside the network namespace at nsPath:
// the socket stays in the namespace it was made in.
func listenIn(t *testing.T, nsPath, addr string) net.Listener {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	defer self.Close()
	target, err := os.Open(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		t.Fatalf("enter %s: %v", nsPath, err)
	}
	l, lerr := net.Listen("tcp", addr)
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread must not run anything else: leave it locked.
		runtime.LockOSThread()
		t.Fatalf("return to the host's namespace: %v", err)
	}
	if lerr != nil {
		t.Fatal(lerr)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestNetworkMasquerade: a container's traffic that leaves the host through
// another interface carries the host's address, by one rule for the
// network, made with its first container, rather than one per container.
func TestNetworkMasquerade(t *testing.T) {
	n := startNetDaemon(t)
	// "Outside": a namespace behind a veth with a /30 of its own, where a
	// server answers with the address each connection comes from.
	_, outPrefix := freeTestSubnet(t)
	hostIP, outIP := outPrefix+"1", outPrefix+"2"
	nsName, veth := "pout"+n.bridge[2:], "pv"+n.bridge[2:]
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", nsName)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", nsName).Run() })
	ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", nsName)
	t.Cleanup(func() { exec.Command("ip", "link", "del", veth).Run() })
	ip("addr", "add", hostIP+"/30", "dev", veth)
	ip("link", "set", veth, "up")
	ip("-n", nsName, "addr", "add", outIP+"/30", "dev", "eth0")
	ip("-n", nsName, "link", "set", "eth0", "up")
	l := listenIn(t, "/run/netns/"+nsName, outIP+":8080")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil || strings.TrimSpace(line) == "" {
						break
					}
				}
				from, _, _ := net.SplitHostPort(c.RemoteAddr().String())
				fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(from), from)
			}()
		}
	}()

	if r := masqueradeRules(t, n.bridge); len(r) != 0 {
		t.Errorf("masquerading before the first container:\n%s", strings.Join(r, "\n"))
	}
	n.must(n.runArgs("-d", "--name", "ca", "none", "sleep", "1000")...)
	n.must(n.runArgs("-d", "--name", "cb", "none", "sleep", "1000")...)
	out := n.must(n.runArgs("--rm", "none", "wget", "-qO-", "http://"+outIP+":8080/")...)
	if out != hostIP {
		t.Errorf("the outside saw the container's traffic come from %q, want the host's %s", out, hostIP)
	}
	if out := n.must("exec", "ca", "wget", "-qO-", "http://"+outIP+":8080/"); out != hostIP {
		t.Errorf("from a running container: %q, want %s", out, hostIP)
	}
	// One rule for the network, none for each container.
	if r := masqueradeRules(t, n.bridge); len(r) != 1 || !strings.Contains(r[0], n.subnet) {
		t.Errorf("want one masquerade rule for %s:\n%s", n.subnet, strings.Join(r, "\n"))
	}
	ids := []string{n.inspect("ca", ".Id"), n.inspect("cb", ".Id")}
	nat, _ := exec.Command("iptables-save", "-t", "nat").Output()
	for _, id := range ids {
		if strings.Contains(string(nat), id) {
			t.Errorf("nat rules name container %s:\n%s", id, nat)
		}
	}
	// The rule outlives a daemon restart without being made twice.
	n.kill9()
	n.start()
	n.must(n.runArgs("--rm", "none", "true")...)
	if r := masqueradeRules(t, n.bridge); len(r) != 1 {
		t.Errorf("after a daemon restart, want one masquerade rule:\n%s", strings.Join(r, "\n"))
	}
	n.must("rm", "-f", "ca", "cb")
	n.assertClean(ids)
}

//go:build integration

package cni

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// sharedPortmapRules lists the nat rules of the chains every container's
// port forwarding shares.
func sharedPortmapRules(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, cmd := range []string{"iptables", "ip6tables"} {
		for _, l := range strings.Split(sh(t, cmd, "-w", "5", "-t", "nat", "-S"), "\n") {
			if strings.Contains(l, "CNI-HOSTPORT-") {
				out = append(out, cmd+" "+l)
			}
		}
	}
	sort.Strings(out)
	return out
}

// httpGet fetches url once, with a short timeout for a refused or dropped
// connection.
func httpGet(url string) (string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// startHTTPD serves a page from inside the namespace on port 80 and waits
// until it accepts connections.
func startHTTPD(t *testing.T, ns, page string) {
	t.Helper()
	inNS(t, ns, "ip", "link", "set", "lo", "up")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte(page), 0o644)
	cmd := exec.Command("nsenter", "--net="+ns, "--", "busybox", "httpd", "-f", "-p", "80", "-h", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if out, err := getIn(t, ns, "http://127.0.0.1:80/"); err == nil && out == page {
			return
		}
		if i == 100 {
			t.Fatal("busybox httpd in the container did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestPortmapMatchesReference(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("busybox"); err != nil {
		need(t, "busybox (apt-get install busybox-static)")
	}
	ref, ours := refPlugins(t), ourDir(t)
	br, network := "ptbrp", "petrel-test-pm"
	// Hairpin traffic is routed back out of the bridge: let it through
	// even where a FORWARD policy drops.
	sh(t, "iptables", "-w", "5", "-I", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT")
	t.Cleanup(func() { exec.Command("iptables", "-w", "5", "-D", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT").Run() })
	netConf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"%s","isGateway":true,"isDefaultGateway":true,"ipMasq":true,"hairpinMode":true,
		"ipam":{"type":"host-local","dataDir":"%%s","ranges":[[{"subnet":"10.231.15.0/24"}],[{"subnet":"fd00:231:15::/64"}]]}}`, network, br)
	pmConf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"%s","type":"portmap","capabilities":{"portMappings":true},"runtimeConfig":{"portMappings":[
		{"hostPort":38080,"containerPort":80,"protocol":"tcp"},
		{"hostPort":38081,"containerPort":80,"protocol":"tcp","hostIP":"127.0.0.1"},
		{"hostPort":38053,"containerPort":53,"protocol":"udp"}]}}`, network)

	var rules [2][]string
	for i, impl := range []struct{ name, dir string }{{"ref", ref}, {"ours", ours}} {
		t.Run(impl.name, func(t *testing.T) {
			removeBridge(t, br)
			dataDir := t.TempDir()
			ns := netns(t, "pm"+impl.name)
			b := call{dir: impl.dir, plugin: "bridge", command: "ADD", id: "pm", netns: ns, ifname: "eth0", conf: []byte(fmt.Sprintf(netConf, dataDir))}
			res := b.must(t)
			pm := call{dir: impl.dir, plugin: "portmap", command: "ADD", id: "pm", netns: ns, ifname: "eth0", conf: withPrev(t, []byte(pmConf), res)}
			pmRes := pm.must(t)
			cleanup := func() {
				pm.command, pm.conf = "DEL", []byte(pmConf)
				pm.run()
				b.command, b.conf = "DEL", []byte(fmt.Sprintf(netConf, dataDir))
				b.run()
			}
			t.Cleanup(cleanup)
			sameJSON(t, "portmap ADD result (prevResult passed on)", normResult(t, pmRes), normResult(t, res))
			rules[i] = natRules(t, network)
			shared := sharedPortmapRules(t)
			for _, want := range []string{
				"iptables -A CNI-HOSTPORT-SETMARK -m comment --comment \"CNI portfwd masquerade mark\" -j MARK --set-xmark 0x2000/0x2000",
				"iptables -A CNI-HOSTPORT-MASQ -m mark --mark 0x2000/0x2000 -j MASQUERADE",
				"iptables -A POSTROUTING -m comment --comment \"CNI portfwd requiring masquerade\" -j CNI-HOSTPORT-MASQ",
				"iptables -A PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
				"iptables -A OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
			} {
				n := 0
				for _, l := range shared {
					if l == want {
						n++
					}
				}
				if n != 1 {
					t.Errorf("shared rule %q present %d times, want once; shared rules:\n%s", want, n, strings.Join(shared, "\n"))
				}
			}
			if impl.name == "ours" {
				chk := pm
				chk.command, chk.conf = "CHECK", withPrev(t, []byte(pmConf), res)
				chk.must(t)
			}

			startHTTPD(t, ns, "petrel "+impl.name)
			for _, url := range []string{"http://127.0.0.1:38080/", "http://10.231.15.1:38080/", "http://127.0.0.1:38081/"} {
				if got, err := httpGet(url); err != nil || got != "petrel "+impl.name {
					t.Errorf("GET %s from the host: %q, %v", url, got, err)
				}
			}
			// 38081 is bound to 127.0.0.1 only.
			if got, err := httpGet("http://10.231.15.1:38081/"); err == nil {
				t.Errorf("GET 10.231.15.1:38081 reached the container (%q) though the port is bound to 127.0.0.1", got)
			}
			// Hairpin: the container reaches itself through the host port.
			if out, err := getIn(t, ns, "http://10.231.15.1:38080/"); err != nil || out != "petrel "+impl.name {
				t.Errorf("hairpin GET from the container: %q, %v", out, err)
			}

			cleanup()
			if r := natRules(t, network); len(r) != 0 {
				t.Errorf("nat rules left after DEL:\n%s", strings.Join(r, "\n"))
			}
			if c, err := net.DialTimeout("tcp", "127.0.0.1:38080", 2*time.Second); err == nil {
				c.Close()
				t.Error("host port 38080 still forwarded after DEL")
			}
			exec.Command("ip", "link", "del", br).Run()
		})
	}
	if rules[0] != nil && rules[1] != nil {
		sameLines(t, "nat rules of bridge+portmap", rules[1], rules[0])
	}
}

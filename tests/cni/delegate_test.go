//go:build integration

package cni

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBridgeDelegatesIPAM: an IPAM plugin other than host-local is found in
// CNI_PATH and executed (here the reference static plugin).
func TestBridgeDelegatesIPAM(t *testing.T) {
	requireRoot(t)
	ref, ours := refPlugins(t), ourDir(t)
	if _, err := os.Stat(filepath.Join(ref, "static")); err != nil {
		need(t, "the reference static IPAM plugin (apt-get install containernetworking-plugins)")
	}
	br := "ptbrd"
	removeBridge(t, br)
	ns := netns(t, "deleg")
	conf := []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"petrel-test-deleg","type":"bridge","bridge":"%s","isGateway":true,
		"ipam":{"type":"static","addresses":[{"address":"10.231.18.5/24","gateway":"10.231.18.1"}],"routes":[{"dst":"192.0.2.0/24"}]}}`, br))
	cl := call{dir: ours, path: ours + ":" + ref, plugin: "bridge", command: "ADD", id: "deleg", netns: ns, ifname: "eth0", conf: conf}
	out := cl.must(t)
	t.Cleanup(func() { cl.command = "DEL"; cl.run() })
	if !strings.Contains(string(out), "10.231.18.5/24") {
		t.Errorf("result lacks the static address: %s", out)
	}
	if a := link(t, ns, "eth0").globalAddrs(); len(a) != 1 || a[0] != "10.231.18.5/24" {
		t.Errorf("eth0 addresses %v", a)
	}
	if r := strings.Join(routes(t, ns), "\n"); !strings.Contains(r, "192.0.2.0/24 via 10.231.18.1") {
		t.Errorf("routes lack 192.0.2.0/24 via the gateway:\n%s", r)
	}
	chk := cl
	chk.command, chk.conf = "CHECK", withPrev(t, conf, out)
	chk.must(t)
	del := cl
	del.command = "DEL"
	del.must(t)
	if p := bridgePorts(t, br); len(p) != 0 {
		t.Errorf("veths left: %v", p)
	}
}

// TestMulticallForms runs the plugins the ways the binary offers besides
// a plugin-named symlink: `petrel cni <plugin>` and the links that
// `petrel --install` makes. It needs the real binary (PETREL_BIN).
func TestMulticallForms(t *testing.T) {
	bin := os.Getenv("PETREL_BIN")
	if bin == "" {
		t.Skip("PETREL_BIN not set: the plugin-named links to the test binary cover the plugins")
	}
	cmd := exec.Command(bin, "cni", "loopback")
	cmd.Env = []string{"CNI_COMMAND=VERSION"}
	cmd.Stdin = strings.NewReader(`{"cniVersion":"1.0.0"}`)
	if out, err := cmd.Output(); err != nil || !strings.Contains(string(out), `"1.1.0"`) {
		t.Errorf("petrel cni loopback VERSION: %s, %v", out, err)
	}
	dir := t.TempDir()
	if out, err := exec.Command(bin, "--install", dir).CombinedOutput(); err != nil {
		t.Fatalf("petrel --install: %v: %s", err, out)
	}
	for _, p := range pluginNames {
		out, err := call{dir: dir, plugin: p, command: "VERSION", conf: []byte(`{"cniVersion":"1.0.0"}`)}.run()
		if err != nil || !strings.Contains(string(out), `"supportedVersions"`) {
			t.Errorf("%s from petrel --install: %s, %v", p, out, err)
		}
	}
	cmd = exec.Command(bin, "cni", "macvlan")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "unknown plugin") {
		t.Errorf("petrel cni macvlan: %s, %v; want an unknown-plugin error", out, err)
	}
}

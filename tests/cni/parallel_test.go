//go:build integration

package cni

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// TestParallel starts and removes containers at once on a bridge and shared
// port-forwarding chains that do not exist yet, as a kubelet starting pods
// does: every container must get its own address and all of its rules, and
// nothing may be left afterwards.
func TestParallel(t *testing.T) {
	requireRoot(t)
	ours := ourDir(t)
	br, network, dataDir := "ptbrpar", "petrel-test-par", t.TempDir()
	removeBridge(t, br)
	// The shared chains start missing, as on a fresh host.
	for _, cmd := range []string{"iptables", "ip6tables"} {
		snapshotFree(t, cmd)
	}
	netConf := []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"%s","isGateway":true,"ipMasq":true,
		"ipam":{"type":"host-local","dataDir":"%s","subnet":"10.231.17.0/24"}}`, network, br, dataDir))
	const n = 8
	type ctr struct {
		ns       string
		res, pm  []byte
		addr     string
		addErr   error
		portConf []byte
	}
	ctrs := make([]*ctr, n)
	for i := range ctrs {
		ctrs[i] = &ctr{ns: netns(t, fmt.Sprint("par", i))}
		ctrs[i].portConf = []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"%s","type":"portmap","runtimeConfig":{"portMappings":[{"hostPort":%d,"containerPort":80,"protocol":"tcp"}]}}`, network, 38200+i))
	}
	var wg sync.WaitGroup
	for i, c := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("par", i)
			c.res, c.addErr = call{dir: ours, plugin: "bridge", command: "ADD", id: id, netns: c.ns, ifname: "eth0", conf: netConf}.run()
			if c.addErr != nil {
				return
			}
			var r struct {
				IPs []struct{ Address string } `json:"ips"`
			}
			json.Unmarshal(c.res, &r)
			c.addr = r.IPs[0].Address
			_, c.addErr = call{dir: ours, plugin: "portmap", command: "ADD", id: id, netns: c.ns, ifname: "eth0", conf: withPrev(t, c.portConf, c.res)}.run()
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for i, c := range ctrs {
			id := fmt.Sprint("par", i)
			call{dir: ours, plugin: "portmap", command: "DEL", id: id, netns: c.ns, ifname: "eth0", conf: c.portConf}.run()
			call{dir: ours, plugin: "bridge", command: "DEL", id: id, netns: c.ns, ifname: "eth0", conf: netConf}.run()
		}
	})
	seen := map[string]bool{}
	for i, c := range ctrs {
		if c.addErr != nil {
			t.Errorf("container %d: %v", i, c.addErr)
			continue
		}
		if seen[c.addr] {
			t.Errorf("address %s handed out twice", c.addr)
		}
		seen[c.addr] = true
		chk := call{dir: ours, plugin: "portmap", command: "CHECK", id: fmt.Sprint("par", i), netns: c.ns, ifname: "eth0", conf: withPrev(t, c.portConf, c.res)}
		if _, err := chk.run(); err != nil {
			t.Errorf("container %d's port forwarding is incomplete: %v", i, err)
		}
	}
	shared := sharedPortmapRules(t)
	count := map[string]int{}
	for _, l := range shared {
		count[l]++
	}
	for l, k := range count {
		if k > 1 {
			t.Errorf("shared rule present %d times: %s", k, l)
		}
	}
	// Per container: the masquerade chain, its 2 rules and the POSTROUTING
	// jump; the DNAT chain, its 3 rules and the jump from CNI-HOSTPORT-DNAT.
	if r := natRules(t, network); len(r) != n*9 {
		t.Errorf("%d nat rules and chains for %d containers, want %d:\n%s", len(r), n, n*9, strings.Join(r, "\n"))
	}

	for i, c := range ctrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("par", i)
			if _, err := (call{dir: ours, plugin: "portmap", command: "DEL", id: id, netns: c.ns, ifname: "eth0", conf: c.portConf}).run(); err != nil {
				t.Error(err)
			}
			if _, err := (call{dir: ours, plugin: "bridge", command: "DEL", id: id, netns: c.ns, ifname: "eth0", conf: netConf}).run(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if r := natRules(t, network); len(r) != 0 {
		t.Errorf("nat rules left:\n%s", strings.Join(r, "\n"))
	}
	if p := bridgePorts(t, br); len(p) != 0 {
		t.Errorf("veths left: %v", p)
	}
	if a := allocations(t, dataDir, network); len(a) != 0 {
		t.Errorf("allocations left: %v", a)
	}
}

// snapshotFree removes the shared port-forwarding chains when no container
// uses them, so that the test starts from a fresh host's state. Chains in
// use by someone else are left alone.
func snapshotFree(t *testing.T, cmd string) {
	t.Helper()
	out, err := exec.Command(cmd, "-w", "5", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT").Output()
	if err != nil || strings.Contains(string(out), "-A CNI-HOSTPORT-DNAT") {
		return // missing already, or in use
	}
	for _, r := range []string{
		"-D PREROUTING -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
		"-D OUTPUT -m addrtype --dst-type LOCAL -j CNI-HOSTPORT-DNAT",
		"-X CNI-HOSTPORT-DNAT",
	} {
		for try := 0; try < 3; try++ {
			if err := execQuiet(cmd, append([]string{"-w", "5", "-t", "nat"}, strings.Fields(r)...)...); err != nil {
				break
			}
		}
	}
}

//go:build integration

package cni

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
)

func TestVersion(t *testing.T) {
	requireRoot(t)
	ref, ours := refPlugins(t), ourDir(t)
	for _, p := range pluginNames {
		t.Run(p, func(t *testing.T) {
			var got, want struct {
				Supported []string `json:"supportedVersions"`
			}
			json.Unmarshal(call{dir: ours, plugin: p, command: "VERSION", conf: []byte(`{"cniVersion":"1.0.0"}`)}.must(t), &got)
			json.Unmarshal(call{dir: ref, plugin: p, command: "VERSION", conf: []byte(`{"cniVersion":"1.0.0"}`)}.must(t), &want)
			for _, v := range want.Supported {
				if !contains(got.Supported, v) {
					t.Errorf("supported versions %v lack the reference's %s", got.Supported, v)
				}
			}
			if !contains(got.Supported, "1.1.0") {
				t.Errorf("supported versions %v lack 1.1.0", got.Supported)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestHostLocalMatchesReference runs host-local on its own, as a CNI
// runtime's IPAM delegate: results and the files on disk must be the
// reference's, and DEL must free everything.
func TestHostLocalMatchesReference(t *testing.T) {
	requireRoot(t)
	ref, ours := refPlugins(t), ourDir(t)
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	os.WriteFile(resolv, []byte("nameserver 10.231.0.53\nsearch example.test\noptions ndots:3\n"), 0o644)
	conf := `{"cniVersion":"%s","name":"petrel-test-hl","type":"host-local","ipam":{"type":"host-local","dataDir":"%s","resolvConf":"` + resolv + `",
		"ranges":[[{"subnet":"10.231.10.0/24","rangeStart":"10.231.10.100","rangeEnd":"10.231.10.102"},{"subnet":"10.231.11.0/24"}],[{"subnet":"fd00:231:10::/64"}]],
		"routes":[{"dst":"0.0.0.0/0"},{"dst":"192.0.2.0/24","gw":"10.231.10.1"}]}}`
	ns := netns(t, "hl")
	for _, version := range []string{"0.2.0", "0.3.1", "0.4.0", "1.0.0"} {
		t.Run(version, func(t *testing.T) {
			var results [2][]map[string]any
			var files [2]map[string]string
			for i, dir := range []string{ref, ours} {
				dataDir := t.TempDir()
				c := []byte(fmt.Sprintf(conf, version, dataDir))
				for n := 0; n < 4; n++ {
					args := ""
					if n == 3 {
						args = "IP=10.231.11.77"
					}
					cl := call{dir: dir, plugin: "host-local", command: "ADD", id: fmt.Sprint("hl", n), ifname: "eth0", netns: ns, args: args, conf: c}
					if version == "0.2.0" && n > 0 {
						break // 0.2.0 results carry one address per family; one ADD is enough
					}
					results[i] = append(results[i], normResult(t, cl.must(t)))
				}
				files[i] = readDir(t, filepath.Join(dataDir, "petrel-test-hl"))
				for n := 0; n < 4; n++ {
					cl := call{dir: dir, plugin: "host-local", command: "DEL", id: fmt.Sprint("hl", n), ifname: "eth0", netns: ns, conf: c}
					cl.must(t)
					cl.must(t) // DEL is idempotent
				}
				if i == 1 {
					if a := allocations(t, dataDir, "petrel-test-hl"); len(a) != 0 {
						t.Errorf("allocations left after DEL: %v", a)
					}
				}
			}
			sameJSON(t, "ADD results", results[1], results[0])
			sameJSON(t, "data directory", files[1], files[0])
		})
	}
}

func readDir(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		out[e.Name()] = string(b)
	}
	return out
}

// TestHostLocalConcurrent: processes allocating at once get distinct
// addresses (the store's lock serialises them).
func TestHostLocalConcurrent(t *testing.T) {
	requireRoot(t)
	ours := ourDir(t)
	dataDir, ns := t.TempDir(), netns(t, "hlc")
	c := []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"petrel-test-hlc","type":"host-local","ipam":{"type":"host-local","dataDir":"%s","subnet":"10.231.12.0/24"}}`, dataDir))
	const n = 12
	addrs := make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := call{dir: ours, plugin: "host-local", command: "ADD", id: fmt.Sprint("c", i), ifname: "eth0", netns: ns, conf: c}.run()
			if err != nil {
				t.Error(err)
				return
			}
			var r struct {
				IPs []struct{ Address string } `json:"ips"`
			}
			json.Unmarshal(out, &r)
			addrs[i] = r.IPs[0].Address
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Errorf("address %s handed out twice: %v", a, addrs)
		}
		seen[a] = true
	}
	if a := allocations(t, dataDir, "petrel-test-hlc"); len(a) != n {
		t.Errorf("%d allocation files, want %d", len(a), n)
	}
}

func TestLoopbackMatchesReference(t *testing.T) {
	requireRoot(t)
	ref, ours := refPlugins(t), ourDir(t)
	for _, version := range []string{"0.3.1", "0.4.0", "1.0.0"} {
		t.Run(version, func(t *testing.T) {
			conf := []byte(fmt.Sprintf(`{"cniVersion":"%s","name":"petrel-test-lo","type":"loopback"}`, version))
			var results [2]map[string]any
			for i, dir := range []string{ref, ours} {
				ns := netns(t, fmt.Sprint("lo", i))
				cl := call{dir: dir, plugin: "loopback", command: "ADD", id: "lo", netns: ns, ifname: "lo", conf: conf}
				out := cl.must(t)
				results[i] = normResult(t, out)
				if ifs, ok := results[i]["interfaces"].([]any); ok {
					ifs[0].(map[string]any)["sandbox"] = "SANDBOX"
				}
				if l := link(t, ns, "lo"); !contains(l.Flags, "UP") {
					t.Errorf("lo is not up after ADD: %v", l.Flags)
				}
				if ok, _ := versionAtLeast(version, "0.4.0"); ok {
					chk := cl
					chk.command, chk.conf = "CHECK", withPrev(t, conf, out)
					chk.must(t)
				}
				del := cl
				del.command = "DEL"
				del.must(t)
				if l := link(t, ns, "lo"); contains(l.Flags, "UP") {
					t.Errorf("lo is still up after DEL: %v", l.Flags)
				}
				// DEL of a namespace that is gone succeeds.
				del.netns = ns + "-gone"
				del.must(t)
			}
			sameJSON(t, "ADD result", results[1], results[0])
		})
	}
}

// TestGCAndStatus exercises spec 1.1's STATUS and GC, which Debian's
// plugins predate: GC frees what belongs to containers that are gone and
// keeps the rest.
func TestGCAndStatus(t *testing.T) {
	requireRoot(t)
	ours := ourDir(t)
	br, network, dataDir := "ptbrgc", "petrel-test-gc", t.TempDir()
	removeBridge(t, br)
	conf := fmt.Sprintf(`{"cniVersion":"1.1.0","name":"%s","type":"bridge","bridge":"%s","isGateway":true,"ipMasq":true,
		"ipam":{"type":"host-local","dataDir":"%s","subnet":"10.231.13.0/24"}%%s}`, network, br, dataDir)
	plain := []byte(fmt.Sprintf(conf, ""))
	for _, p := range pluginNames {
		c := []byte(strings.Replace(string(plain), `"type":"bridge"`, `"type":"`+p+`"`, 1))
		call{dir: ours, plugin: p, command: "STATUS", conf: c}.must(t)
	}
	for _, id := range []string{"keep", "gone"} {
		cl := call{dir: ours, plugin: "bridge", command: "ADD", id: id, netns: netns(t, "gc"+id), ifname: "eth0", conf: plain}
		cl.must(t)
		t.Cleanup(func() { cl.command = "DEL"; cl.run() })
	}
	gc := []byte(fmt.Sprintf(conf, `,"cni.dev/valid-attachments":[{"containerID":"keep","ifname":"eth0"}]`))
	call{dir: ours, plugin: "bridge", command: "GC", conf: gc}.must(t)
	if a := allocations(t, dataDir, network); !reflect.DeepEqual(a, []string{"10.231.13.2"}) {
		t.Errorf("allocations after GC: %v, want only keep's 10.231.13.2", a)
	}
	rules := natRules(t, network)
	for _, r := range rules {
		if strings.Contains(r, `id: \"gone\"`) {
			t.Errorf("gone's masquerade rule survived GC: %s", r)
		}
	}
	if len(rules) != 4 {
		t.Errorf("want keep's chain and 3 rules after GC, got:\n%s", strings.Join(rules, "\n"))
	}
}

// TestLeakCycles runs bridge, portmap and loopback through many
// ADD/CHECK/DEL cycles, some of them with the namespace removed before DEL
// as when a container dies, and counts what is left.
func TestLeakCycles(t *testing.T) {
	requireRoot(t)
	ours := ourDir(t)
	br, network, dataDir := "ptbrl", "petrel-test-leak", t.TempDir()
	removeBridge(t, br)
	netConf := fmt.Sprintf(`{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"%s","isGateway":true,"isDefaultGateway":true,"ipMasq":true,"hairpinMode":true,
		"ipam":{"type":"host-local","dataDir":"%s","ranges":[[{"subnet":"10.231.14.0/24"}],[{"subnet":"fd00:231:14::/64"}]]}}`, network, br, dataDir)
	pmConf := func(prev []byte) []byte {
		c := []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"%s","type":"portmap","runtimeConfig":{"portMappings":[{"hostPort":38090,"containerPort":80,"protocol":"tcp"},{"hostPort":38091,"containerPort":53,"protocol":"udp"}]}}`, network))
		if prev != nil {
			c = withPrev(t, c, prev)
		}
		return c
	}
	const cycles = 30
	for i := 0; i < cycles; i++ {
		id := fmt.Sprint("leak", i)
		ns := netns(t, id)
		lo := call{dir: ours, plugin: "loopback", command: "ADD", id: id, netns: ns, ifname: "lo", conf: []byte(`{"cniVersion":"1.0.0","name":"lo","type":"loopback"}`)}
		lo.must(t)
		b := call{dir: ours, plugin: "bridge", command: "ADD", id: id, netns: ns, ifname: "eth0", conf: []byte(netConf)}
		res := b.must(t)
		pm := call{dir: ours, plugin: "portmap", command: "ADD", id: id, netns: ns, ifname: "eth0", conf: pmConf(res)}
		pmRes := pm.must(t)
		b.command, b.conf = "CHECK", withPrev(t, []byte(netConf), res)
		b.must(t)
		pm.command, pm.conf = "CHECK", pmConf(pmRes)
		pm.must(t)
		if i%3 == 2 {
			// The container died: its namespace is gone before DEL.
			sh(t, "ip", "netns", "del", filepath.Base(ns))
		}
		// A runtime deletes in reverse order, without prevResult.
		pm.command, pm.conf = "DEL", pmConf(nil)
		pm.must(t)
		b.command, b.conf = "DEL", []byte(netConf)
		b.must(t)
		lo.command = "DEL"
		lo.must(t)
		if i%3 != 2 {
			sh(t, "ip", "netns", "del", filepath.Base(ns))
		}
	}
	if p := bridgePorts(t, br); len(p) != 0 {
		t.Errorf("veths left on the bridge after %d cycles: %v", cycles, p)
	}
	if r := natRules(t, network); len(r) != 0 {
		t.Errorf("nat rules left after %d cycles:\n%s", cycles, strings.Join(r, "\n"))
	}
	if a := allocations(t, dataDir, network); len(a) != 0 {
		t.Errorf("allocations left after %d cycles: %v", cycles, a)
	}
	var left []string
	for _, l := range strings.Split(sh(t, "ip", "netns", "list"), "\n") {
		if strings.Contains(l, fmt.Sprintf("-leak")) && strings.Contains(l, fmt.Sprint(os.Getpid())) {
			left = append(left, l)
		}
	}
	sort.Strings(left)
	if len(left) != 0 {
		t.Errorf("namespaces left: %v", left)
	}
	var veths []string
	for _, l := range strings.Split(sh(t, "ip", "-o", "link", "show", "type", "veth"), "\n") {
		if strings.Contains(l, "master "+br+" ") {
			veths = append(veths, l)
		}
	}
	if len(veths) != 0 {
		t.Errorf("veths left: %v", veths)
	}
}

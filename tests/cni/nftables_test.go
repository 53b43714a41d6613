//go:build integration

package cni

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// nftRules lists the rules of the plugins' nftables tables that mention s.
func nftRules(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	for _, table := range []string{"inet cni_plugins_masquerade", "ip cni_hostport", "ip6 cni_hostport"} {
		b, err := exec.Command("nft", append([]string{"list", "table"}, strings.Fields(table)...)...).Output()
		if err != nil {
			continue // no such table
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, s) {
				out = append(out, table+": "+strings.TrimSpace(l))
			}
		}
	}
	return out
}

// TestNFTablesBackend runs bridge's masquerading and portmap with the
// nftables backend, as on hosts without iptables (Debian's reference
// plugins predate it, so this checks behaviour, not likeness).
func TestNFTablesBackend(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("nft"); err != nil {
		need(t, "nft (apt-get install nftables)")
	}
	if _, err := exec.LookPath("busybox"); err != nil {
		need(t, "busybox (apt-get install busybox-static)")
	}
	ours := ourDir(t)
	br, network, id := "ptbrn", "petrel-test-nft", "nftctr"
	removeBridge(t, br)
	sh(t, "iptables", "-w", "5", "-I", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT")
	t.Cleanup(func() { exec.Command("iptables", "-w", "5", "-D", "FORWARD", "-i", br, "-o", br, "-j", "ACCEPT").Run() })
	dataDir := t.TempDir()
	netConf := []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"%s","type":"bridge","bridge":"%s","isGateway":true,"isDefaultGateway":true,
		"ipMasq":true,"ipMasqBackend":"nftables","hairpinMode":true,
		"ipam":{"type":"host-local","dataDir":"%s","ranges":[[{"subnet":"10.231.16.0/24"}],[{"subnet":"fd00:231:16::/64"}]]}}`, network, br, dataDir))
	pmConf := []byte(fmt.Sprintf(`{"cniVersion":"1.0.0","name":"%s","type":"portmap","backend":"nftables","runtimeConfig":{"portMappings":[
		{"hostPort":38180,"containerPort":80,"protocol":"tcp"},
		{"hostPort":38181,"containerPort":80,"protocol":"tcp","hostIP":"127.0.0.1"},
		{"hostPort":38153,"containerPort":53,"protocol":"udp"}]}}`, network))
	ns := netns(t, "nft")
	b := call{dir: ours, plugin: "bridge", command: "ADD", id: id, netns: ns, ifname: "eth0", conf: netConf}
	res := b.must(t)
	pm := call{dir: ours, plugin: "portmap", command: "ADD", id: id, netns: ns, ifname: "eth0", conf: withPrev(t, pmConf, res)}
	pm.must(t)
	del := func() {
		pm.command, pm.conf = "DEL", withPrev(t, pmConf, res)
		pm.run()
		b.command, b.conf = "DEL", netConf
		b.run()
	}
	t.Cleanup(del)

	masq := nftRules(t, "id: "+id)
	dnat := nftRules(t, `comment "`+id+`"`)
	if len(masq) != 2 {
		t.Errorf("want 2 masquerade rules (IPv4, IPv6), got:\n%s", strings.Join(masq, "\n"))
	}
	// IPv4: 3 DNAT + 2 masquerade; IPv6: 2 DNAT (the 127.0.0.1 one is IPv4) + 1.
	if len(dnat) != 8 {
		t.Errorf("want 8 port forwarding rules, got:\n%s", strings.Join(dnat, "\n"))
	}
	if r := natRules(t, network); len(r) != 0 {
		t.Errorf("the nftables backend wrote iptables rules:\n%s", strings.Join(r, "\n"))
	}
	chk := call{dir: ours, plugin: "bridge", command: "CHECK", id: id, netns: ns, ifname: "eth0", conf: withPrev(t, netConf, res)}
	chk.must(t)
	chk.plugin, chk.conf = "portmap", withPrev(t, pmConf, res)
	chk.must(t)

	startHTTPD(t, ns, "petrel nft")
	for _, url := range []string{"http://127.0.0.1:38180/", "http://10.231.16.1:38180/", "http://127.0.0.1:38181/"} {
		if got, err := httpGet(url); err != nil || got != "petrel nft" {
			t.Errorf("GET %s from the host: %q, %v", url, got, err)
		}
	}
	if got, err := httpGet("http://10.231.16.1:38181/"); err == nil {
		t.Errorf("GET 10.231.16.1:38181 reached the container (%q) though the port is bound to 127.0.0.1", got)
	}
	if out, err := getIn(t, ns, "http://10.231.16.1:38180/"); err != nil || out != "petrel nft" {
		t.Errorf("hairpin GET from the container: %q, %v", out, err)
	}

	del()
	if r := append(nftRules(t, "id: "+id), nftRules(t, `comment "`+id+`"`)...); len(r) != 0 {
		t.Errorf("nftables rules left after DEL:\n%s", strings.Join(r, "\n"))
	}
	if a := allocations(t, dataDir, network); len(a) != 0 {
		t.Errorf("allocations left after DEL: %v", a)
	}
}

package portmap

import (
	"net"
	"reflect"
	"strings"
	"testing"
)

const prev = `"prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"cni0"},{"name":"veth1"},{"name":"eth0","sandbox":"/var/run/netns/x"}],
 "ips":[{"address":"10.231.0.5/24","interface":2},{"address":"fd00:231::5/64","interface":2},{"address":"10.231.9.9/24","interface":1}]}`

func TestParseConf(t *testing.T) {
	c, _, err := ParseConf([]byte(`{"cniVersion":"1.0.0","name":"n","type":"portmap",`+prev+`,
		"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"TCP"},{"hostPort":53,"containerPort":53,"protocol":"udp","hostIP":"127.0.0.1"}]}}`), "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.contIPv4.String(); got != "10.231.0.5/24" {
		t.Errorf("IPv4 = %s, want the sandbox interface's 10.231.0.5/24", got)
	}
	if got := c.contIPv6.String(); got != "fd00:231::5/64" {
		t.Errorf("IPv6 = %s", got)
	}
	if c.RuntimeConfig.PortMaps[0].Protocol != "tcp" || !*c.SNAT || *c.MarkMasqBit != 13 {
		t.Errorf("defaults not applied: %+v", c)
	}
}

func TestParseConfErrors(t *testing.T) {
	tests := []struct{ name, rc, want string }{
		{"host port", `{"hostPort":0,"containerPort":80}`, "host port"},
		{"container port", `{"hostPort":80,"containerPort":70000}`, "container port"},
		{"protocol", `{"hostPort":80,"containerPort":80,"protocol":"icmp"}`, "protocol"},
		{"host IP", `{"hostPort":80,"containerPort":80,"hostIP":"nope"}`, "hostIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseConf([]byte(`{"cniVersion":"1.0.0","name":"n","runtimeConfig":{"portMappings":[`+tt.rc+`]}}`), "eth0")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mention of %q", err, tt.want)
			}
		})
	}
}

func TestDNATChainRules(t *testing.T) {
	c, _, err := ParseConf([]byte(`{"cniVersion":"1.0.0","name":"n","type":"portmap",`+prev+`,
		"runtimeConfig":{"portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"},{"hostPort":8053,"containerPort":53,"protocol":"udp","hostIP":"192.0.2.1"},{"hostPort":9,"containerPort":9,"protocol":"tcp","hostIP":"fd00::1"}]}}`), "eth0")
	if err != nil {
		t.Fatal(err)
	}
	c.containerID = "ctr"
	ch := dnatChain(c, c.contIPv4)
	if want := chainName("DN-", "n", "ctr"); ch.name != want || len(want) != 28 {
		t.Fatalf("chain %q, want %q", ch.name, want)
	}
	cm := `dnat name: "n" id: "ctr"`
	wantEntry := [][]string{
		{"-m", "comment", "--comment", cm, "-m", "multiport", "-p", "tcp", "--destination-ports", "8080,9"},
		{"-m", "comment", "--comment", cm, "-m", "multiport", "-p", "udp", "--destination-ports", "8053"},
	}
	if !reflect.DeepEqual(ch.entryRules, wantEntry) {
		t.Errorf("entry rules:\n got %q\nwant %q", ch.entryRules, wantEntry)
	}
	wantRules := [][]string{
		{"-p", "tcp", "--dport", "8080", "-s", "10.231.0.5/24", "-j", "CNI-HOSTPORT-SETMARK"},
		{"-p", "tcp", "--dport", "8080", "-s", "127.0.0.1", "-j", "CNI-HOSTPORT-SETMARK"},
		{"-p", "tcp", "--dport", "8080", "-j", "DNAT", "--to-destination", "10.231.0.5:80"},
		{"-p", "udp", "--dport", "8053", "-d", "192.0.2.1", "-s", "10.231.0.5/24", "-j", "CNI-HOSTPORT-SETMARK"},
		{"-p", "udp", "--dport", "8053", "-d", "192.0.2.1", "-s", "127.0.0.1", "-j", "CNI-HOSTPORT-SETMARK"},
		{"-p", "udp", "--dport", "8053", "-d", "192.0.2.1", "-j", "DNAT", "--to-destination", "10.231.0.5:53"},
	}
	if !reflect.DeepEqual(ch.rules, wantRules) {
		t.Errorf("rules:\n got %q\nwant %q", ch.rules, wantRules)
	}
	v6 := dnatChain(c, c.contIPv6)
	last := v6.rules[len(v6.rules)-1]
	if got := last[len(last)-1]; got != "[fd00:231::5]:9" {
		t.Errorf("IPv6 DNAT target %q", got)
	}
	if n := len(dnatChain(c, net.IPNet{}).rules); n != 0 {
		t.Errorf("teardown chain has %d rules", n)
	}
}

func TestSplitPorts(t *testing.T) {
	var ports []int
	for i := 1; i <= 16; i++ {
		ports = append(ports, i)
	}
	got := splitPorts(ports)
	want := []string{"1,2,3,4,5,6,7,8,9,10,11,12,13,14,15", "16"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("splitPorts = %q, want %q", got, want)
	}
}

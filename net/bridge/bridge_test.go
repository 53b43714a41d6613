package bridge

import (
	"net"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netlink"
)

func ipnet(s string) net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return *n
}

func TestCalcGateways(t *testing.T) {
	tests := []struct {
		name       string
		conf       NetConf
		ips        []*current.IPConfig
		routes     []*types.Route
		wantGWs    string // gateway addresses the bridge takes
		wantRoutes string
	}{
		{"gateway from the subnet", NetConf{IsGW: true},
			[]*current.IPConfig{{Address: ipnet("10.231.0.5/24")}}, nil,
			"10.231.0.1/24", ""},
		{"default gateway, both families", NetConf{IsGW: true, IsDefaultGW: true},
			[]*current.IPConfig{{Address: ipnet("10.231.0.5/24"), Gateway: net.ParseIP("10.231.0.254")}, {Address: ipnet("fd00:231::5/64")}}, nil,
			"10.231.0.254/24 fd00:231::1/64", "0.0.0.0/0>10.231.0.254 ::/0>fd00:231::1"},
		{"default route from IPAM kept", NetConf{IsGW: true, IsDefaultGW: true},
			[]*current.IPConfig{{Address: ipnet("10.231.0.5/24")}}, []*types.Route{{Dst: ipnet("0.0.0.0/0"), GW: net.ParseIP("10.231.0.9")}},
			"10.231.0.1/24", "0.0.0.0/0>10.231.0.9"},
		{"not a gateway", NetConf{},
			[]*current.IPConfig{{Address: ipnet("10.231.0.5/24")}}, nil,
			"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &current.Result{IPs: tt.ips, Routes: tt.routes}
			gws, err := calcGateways(res, &tt.conf)
			if err != nil {
				t.Fatal(err)
			}
			var g, r []string
			for _, gw := range gws {
				g = append(g, gw.net.String())
			}
			for _, rt := range res.Routes {
				r = append(r, rt.Dst.String()+">"+rt.GW.String())
			}
			if got := strings.Join(g, " "); got != tt.wantGWs {
				t.Errorf("bridge addresses %q, want %q", got, tt.wantGWs)
			}
			if got := strings.Join(r, " "); got != tt.wantRoutes {
				t.Errorf("routes %q, want %q", got, tt.wantRoutes)
			}
			for _, ipc := range res.IPs {
				if ipc.Interface == nil || *ipc.Interface != contIndex {
					t.Errorf("IP %s not tied to the container's interface", ipc.Address.String())
				}
			}
		})
	}
}

func TestHasRoute(t *testing.T) {
	_, sub, _ := net.ParseCIDR("192.0.2.0/24")
	routes := []netlink.Route{
		{Family: netlink.FAMILY_V4, Dst: nil, Gw: net.ParseIP("10.231.0.1")},
		{Family: netlink.FAMILY_V4, Dst: sub},
	}
	tests := []struct {
		want types.Route
		ok   bool
	}{
		{types.Route{Dst: ipnet("0.0.0.0/0"), GW: net.ParseIP("10.231.0.1")}, true},
		{types.Route{Dst: ipnet("0.0.0.0/0"), GW: net.ParseIP("10.231.0.2")}, false},
		{types.Route{Dst: ipnet("::/0")}, false},
		{types.Route{Dst: ipnet("192.0.2.0/24")}, true},
		{types.Route{Dst: ipnet("198.51.100.0/24")}, false},
	}
	for _, tt := range tests {
		if got := hasRoute(routes, &tt.want); got != tt.ok {
			t.Errorf("hasRoute(%v via %v) = %v, want %v", tt.want.Dst.String(), tt.want.GW, got, tt.ok)
		}
	}
}

func TestLoadNetConf(t *testing.T) {
	tests := []struct{ conf, args, want string }{
		{`{"name":"n","vlan":5000}`, "", "invalid VLAN"},
		{`{"name":"n","hairpinMode":true,"promiscMode":true}`, "", "hairpin"},
		{`{"name":"n","mtu":-1}`, "", "MTU"},
		{`{"name":"n"}`, "MAC=zz", "MAC"},
		{`{"name":"n","runtimeConfig":{"mac":"nope"}}`, "", "MAC"},
		{`{"name":"n"`, "", "netconf"},
	}
	for _, tt := range tests {
		_, _, err := LoadNetConf([]byte(tt.conf), tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadNetConf(%s, %q) = %v, want an error about %s", tt.conf, tt.args, err, tt.want)
		}
	}
	n, _, err := LoadNetConf([]byte(`{"name":"n","isDefaultGateway":true,"runtimeConfig":{"mac":"02:00:00:00:00:01"}}`), "IgnoreUnknown=1")
	if err != nil {
		t.Fatal(err)
	}
	if n.BrName != DefaultBridge || !n.IsGW || n.mac != "02:00:00:00:00:01" {
		t.Errorf("defaults: bridge %q, isGateway %v, mac %q", n.BrName, n.IsGW, n.mac)
	}
}

package engine

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/net/cni"
)

func TestPortMappings(t *testing.T) {
	cfg := &api.Config{ExposedPorts: map[string]struct{}{"53/udp": {}, "80/tcp": {}}}
	tests := []struct {
		name string
		hc   api.HostConfig
		want []cni.PortMapping
		err  string
	}{
		{"none", api.HostConfig{}, nil, ""},
		{"bound", api.HostConfig{ContainerNetwork: api.ContainerNetwork{PortBindings: map[string][]api.PortBinding{
			"80/tcp": {{HostIP: "127.0.0.1", HostPort: "8080"}}, "81": {{}}}}},
			[]cni.PortMapping{{HostPort: 8080, ContainerPort: 80, Protocol: "tcp", HostIP: "127.0.0.1"}, {ContainerPort: 81, Protocol: "tcp"}}, ""},
		{"publish all", api.HostConfig{ContainerNetwork: api.ContainerNetwork{PublishAllPorts: true, PortBindings: map[string][]api.PortBinding{
			"80/tcp": {{HostPort: "8080"}}}}},
			[]cni.PortMapping{{ContainerPort: 53, Protocol: "udp"}, {HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}}, ""},
		{"bad port", api.HostConfig{ContainerNetwork: api.ContainerNetwork{PortBindings: map[string][]api.PortBinding{"0/tcp": {{}}}}}, nil, "invalid port"},
		{"bad proto", api.HostConfig{ContainerNetwork: api.ContainerNetwork{PortBindings: map[string][]api.PortBinding{"80/sctp": {{}}}}}, nil, "invalid protocol"},
		{"bad host port", api.HostConfig{ContainerNetwork: api.ContainerNetwork{PortBindings: map[string][]api.PortBinding{"80": {{HostPort: "70000"}}}}}, nil, "invalid host port"},
		{"bad host ip", api.HostConfig{ContainerNetwork: api.ContainerNetwork{PortBindings: map[string][]api.PortBinding{"80": {{HostIP: "localhost"}}}}}, nil, "invalid host IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := portMappings(cfg, &tt.hc)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("portMappings = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestNetworkValidation(t *testing.T) {
	e, rootfs := newTestEngine(t)
	cmd := api.Config{Cmd: []string{"true"}, Image: "none"}
	tests := []struct {
		name string
		hc   api.HostConfig
		err  string
	}{
		{"default", api.HostConfig{}, ""},
		{"bridge", api.HostConfig{NetworkMode: "bridge"}, ""},
		{"unknown network", api.HostConfig{NetworkMode: "nosuchnet"}, "network nosuchnet not found"},
		{"unknown container", api.HostConfig{NetworkMode: "container:nosuch"}, "No such container"},
		{"empty container", api.HostConfig{NetworkMode: "container:"}, "want container:<name|id>"},
		{"ports with host", api.HostConfig{NetworkMode: "host", ContainerNetwork: api.ContainerNetwork{PortBindings: map[string][]api.PortBinding{"80": {{}}}}}, "port publishing"},
		{"bad dns", api.HostConfig{ContainerNetwork: api.ContainerNetwork{DNS: []string{"dns.example"}}}, "invalid DNS server"},
		{"bad add-host", api.HostConfig{ContainerNetwork: api.ContainerNetwork{ExtraHosts: []string{"db"}}}, "add-host"},
		{"good add-host", api.HostConfig{ContainerNetwork: api.ContainerNetwork{ExtraHosts: []string{"db:10.0.0.5", "v6:[::1]"}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hc := tt.hc
			hc.ExternalRootfs = rootfs
			id, _, err := e.Create("", cmd, &hc)
			if tt.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				e.Remove(id, RemoveOptions{})
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Create = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestNetworkCreateRemove(t *testing.T) {
	e, rootfs := newTestEngine(t)
	if _, err := e.NetworkCreate(api.NetworkCreateRequest{Name: "none"}); err == nil {
		t.Fatal("a network named none was created")
	}
	if _, err := e.NetworkCreate(api.NetworkCreateRequest{Name: "n1", Driver: "macvlan"}); err == nil || !strings.Contains(err.Error(), "driver") {
		t.Fatalf("macvlan: %v", err)
	}
	if _, err := e.NetworkCreate(api.NetworkCreateRequest{Name: "n1", IPAM: &api.IPAM{Config: []api.IPAMConfig{{Subnet: "10.89.1.0/24"}}}}); err == nil || !strings.Contains(err.Error(), "overlaps") {
		t.Fatalf("overlapping subnet: %v", err)
	}
	id, err := e.NetworkCreate(api.NetworkCreateRequest{Name: "n1", IPAM: &api.IPAM{Config: []api.IPAMConfig{{Subnet: "10.123.0.0/24", Gateway: "10.123.0.1"}}}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.NetworkInspect(id[:10])
	if err != nil || n.Name != "n1" || n.IPAM.Config[0].Subnet != "10.123.0.0/24" {
		t.Fatalf("inspect = %+v, %v", n, err)
	}
	cid, _, err := e.Create("user", api.Config{Cmd: []string{"true"}}, &api.HostConfig{NetworkMode: "n1", ExternalRootfs: rootfs})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.NetworkRemove("n1"); err == nil || !strings.Contains(err.Error(), "active endpoints") {
		t.Fatalf("remove of a network in use: %v", err)
	}
	e.Remove(cid, RemoveOptions{})
	if err := e.NetworkRemove("n1"); err != nil {
		t.Fatal(err)
	}
	if err := e.NetworkRemove(DefaultNetwork); err == nil {
		t.Fatal("the default network was removed")
	}
	if _, err := e.NetworkInspect("n1"); err == nil {
		t.Fatal("a removed network is still found")
	}
}

func TestResolvConf(t *testing.T) {
	host := []byte("search corp.example\nnameserver 127.0.0.53\nnameserver 192.0.2.1\noptions edns0\n")
	tests := []struct {
		name string
		o    etcOptions
		want string
	}{
		{"bridge drops loopback", etcOptions{}, "search corp.example\nnameserver 192.0.2.1\noptions edns0\n"},
		{"host keeps it", etcOptions{hostNetwork: true}, string(host)},
		{"dns flags", etcOptions{dns: []string{"192.0.2.9"}, search: []string{"a.example", "b.example"}, options: []string{"ndots:2"}},
			"nameserver 192.0.2.9\nsearch a.example b.example\noptions ndots:2\n"},
	}
	for _, tt := range tests {
		if got := string(resolvConf(host, tt.o)); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := string(resolvConf([]byte("nameserver 127.0.0.1\n"), etcOptions{})); !strings.Contains(got, "8.8.8.8") {
		t.Errorf("no nameserver left: %q", got)
	}
}

func TestBrokenDefaultNetwork(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "root", "cni", "net.d")
	os.MkdirAll(conf, 0o755)
	broken := []byte(`{"cniVersion": "1.0.0", "name": "petrel0", "plugins": [`)
	os.WriteFile(filepath.Join(conf, "petrel0.conflist"), broken, 0o644)
	e, err := New(Options{Root: filepath.Join(dir, "root"), State: filepath.Join(dir, "state")})
	if err != nil {
		t.Fatalf("a broken network file stopped the engine: %v", err)
	}
	defer e.Close()
	rootfs := filepath.Join(dir, "rootfs")
	os.MkdirAll(rootfs, 0o755)
	_, _, err = e.Create("", api.Config{Cmd: []string{"true"}}, &api.HostConfig{ExternalRootfs: rootfs})
	if err == nil || !strings.Contains(err.Error(), "petrel0.conflist") {
		t.Fatalf("Create on the broken default network: %v", err)
	}
	if data, _ := os.ReadFile(filepath.Join(conf, "petrel0.conflist")); string(data) != string(broken) {
		t.Fatal("the broken file was overwritten")
	}
	// --network none needs no CNI network.
	if _, _, err := e.Create("", api.Config{Cmd: []string{"true"}}, &api.HostConfig{ExternalRootfs: rootfs, NetworkMode: "none"}); err != nil {
		t.Fatal(err)
	}
}

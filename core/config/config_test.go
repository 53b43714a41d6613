package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// spareShim checks a config's "spare-shim" duration.
func spareShim(want time.Duration) func(Config) bool {
	return func(c Config) bool {
		d, err := c.SpareShimDuration()
		return err == nil && d == want
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		wantErr string // substring; "" for success
		check   func(Config) bool
	}{
		{"empty object", `{}`, "", func(c Config) bool { return c.Root == "/var/lib/petrel" && c.LogDriver == "json-file" }},
		{"isulad keys", `{"graph":"/data/petrel","state":"/run/p","log-opts":{"max-size":"10m","max-file":"3"}}`, "",
			func(c Config) bool {
				return c.Root == "/data/petrel" && c.State == "/run/p" && c.LogOpts["max-file"] == "3"
			}},
		{"docker aliases", `{"data-root":"/d","exec-root":"/e"}`, "", func(c Config) bool { return c.Root == "/d" && c.State == "/e" }},
		{"runtimes", `{"runtimes":{"kata":{"path":"/usr/bin/kata-runtime"}},"default-runtime":"kata"}`, "",
			func(c Config) bool { return c.Runtimes["kata"].Path == "/usr/bin/kata-runtime" }},
		{"init", `{"init":true}`, "", func(c Config) bool { return c.Init }},
		{"init not a bool", `{"init":"yes"}`, `key "init"`, nil},
		{"binary-hugepages unset", `{}`, "", func(c Config) bool { return c.BinaryHugepages == nil }},
		{"binary-hugepages off", `{"binary-hugepages":false}`, "", func(c Config) bool { return c.BinaryHugepages != nil && !*c.BinaryHugepages }},
		{"binary-hugepages not a bool", `{"binary-hugepages":"no"}`, `key "binary-hugepages"`, nil},
		{"spare-shim unset", `{}`, "", spareShim(DefaultSpareShim)},
		{"spare-shim off", `{"spare-shim":"0"}`, "", spareShim(0)},
		{"spare-shim 0s", `{"spare-shim":"0s"}`, "", spareShim(0)},
		{"spare-shim minutes", `{"spare-shim":"2m"}`, "", spareShim(2 * time.Minute)},
		{"spare-shim not a duration", `{"spare-shim":"soon"}`, `key "spare-shim": "soon" is not a duration`, nil},
		{"spare-shim negative", `{"spare-shim":"-5s"}`, `key "spare-shim": "-5s" is not a duration`, nil},
		{"spare-shim a number", `{"spare-shim":30}`, `key "spare-shim"`, nil},
		{"unknown key", `{"graph":"/d","log-levle":"debug"}`, `unknown key "log-levle"`, nil},
		{"wrong type", `{"hosts":"unix:///x"}`, `key "hosts"`, nil},
		{"bad log level", `{"log-level":"loud"}`, `key "log-level"`, nil},
		{"bad max-size", `{"log-opts":{"max-size":"ten"}}`, `max-size`, nil},
		{"unknown log opt", `{"log-opts":{"compress":"true"}}`, `unknown option "compress"`, nil},
		{"tcp host", `{"hosts":["tcp://0.0.0.0:2375"]}`, `key "hosts"`, nil},
		{"relative root", `{"graph":"data"}`, `key "graph"`, nil},
		{"unknown default runtime", `{"default-runtime":"nosuch"}`, `key "default-runtime"`, nil},
		{"runtime without path", `{"runtimes":{"x":{}}}`, `has no path`, nil},
		{"alias twice", `{"graph":"/a","data-root":"/b"}`, `given twice`, nil},
		{"syntax error", "{\n\"graph\": \"/a\",\n}", `line 3`, nil},
		{"not an object", `[1]`, `not a JSON object`, nil},
		{"image keys", `{"storage-driver":"overlay2","storage-opts":["overlay2.override_kernel_check=true"],"registry-mirrors":["https://m.example"],"insecure-registries":["10.0.0.0/8"]}`, "",
			func(c Config) bool { return c.StorageDriver == "overlay2" && len(c.RegistryMirrors) == 1 }},
		{"bad storage driver", `{"storage-driver":"btrfs"}`, `key "storage-driver"`, nil},
		{"bad storage opt", `{"storage-opts":["overlay2.size=1G"]}`, `key "storage-opts": "overlay2.size=1G"`, nil},
		{"bad mirror", `{"registry-mirrors":["m.example"]}`, `key "registry-mirrors": "m.example"`, nil},
		{"network keys", `{"default-network-subnet":"10.77.0.0/24","default-network-bridge":"pt1","cni-conf-dir":"/c"}`, "",
			func(c Config) bool {
				return c.NetworkSubnet == "10.77.0.0/24" && c.NetworkBridge == "pt1" && c.CNIConfDir == "/c"
			}},
		{"default subnet", `{}`, "", func(c Config) bool { return c.NetworkSubnet == "10.89.0.0/16" && c.NetworkBridge == "petrel0" }},
		{"bad subnet", `{"default-network-subnet":"10.77.0.0"}`, `key "default-network-subnet"`, nil},
		{"subnet host bits", `{"default-network-subnet":"10.77.0.1/16"}`, `host bits`, nil},
		{"subnet too small", `{"default-network-subnet":"10.77.0.0/31"}`, `too small`, nil},
		{"ipv6 subnet", `{"default-network-subnet":"fd00::/64"}`, `IPv4`, nil},
		{"bad bridge", `{"default-network-bridge":"a-very-long-bridge-name"}`, `key "default-network-bridge"`, nil},
		{"relative cni dir", `{"cni-bin-dir":"bin"}`, `key "cni-bin-dir"`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			err := Parse([]byte(tc.json), &c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
}

func TestLoadMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "daemon.json")
	if _, err := Load(p, true); err != nil {
		t.Errorf("optional missing file: %v", err)
	}
	if _, err := Load(p, false); err == nil {
		t.Error("named missing file accepted")
	}
	os.WriteFile(p, []byte(`{"bogus":1}`), 0o644)
	if _, err := Load(p, true); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("error %v does not name the file", err)
	}
}

func TestGCKeys(t *testing.T) {
	tests := []struct {
		json      string
		wantErr   string
		wantPct   int // 0: unset
		wantLimit int64
	}{
		{`{}`, "", 0, 0},
		{`{"gc-percent":100,"memory-limit":"64m"}`, "", 100, 64 << 20},
		{`{"memory-limit":"24MiB"}`, "", 0, 24 << 20},
		{`{"memory-limit":"off"}`, "", 0, -1},
		{`{"gc-percent":-1,"memory-limit":"1g"}`, "", -1, 1 << 30},
		{`{"gc-percent":0}`, `key "gc-percent": 0 is not a percentage`, 0, 0},
		{`{"gc-percent":"50"}`, `key "gc-percent"`, 0, 0},
		{`{"gc-percent":-1}`, `needs a "memory-limit"`, 0, 0},
		{`{"gc-percent":-1,"memory-limit":"off"}`, `needs a "memory-limit"`, 0, 0},
		{`{"memory-limit":"lots"}`, `key "memory-limit": "lots" is not a size`, 0, 0},
		{`{"memory-limit":"2m"}`, `key "memory-limit": "2m" is below the minimum`, 0, 0},
		{`{"memory-limit":32}`, `key "memory-limit"`, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.json, func(t *testing.T) {
			c := Default()
			err := Parse([]byte(tc.json), &c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if pct := c.GCPercent; (pct == nil) != (tc.wantPct == 0) || pct != nil && *pct != tc.wantPct {
				t.Errorf("gc-percent %v, want %d", pct, tc.wantPct)
			}
			if n, _ := c.MemoryLimitBytes(); n != tc.wantLimit {
				t.Errorf("memory limit %d, want %d", n, tc.wantLimit)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "512b": 512, "4k": 4 << 10, "32m": 32 << 20, "32M": 32 << 20,
		"32mb": 32 << 20, "32MiB": 32 << 20, "2g": 2 << 30, "1GiB": 1 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "m", "-1m", "1.5m", "32x", "32mm", "ib", "99999999999g"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

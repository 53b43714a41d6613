// Package config reads petreld's daemon.json (iSulad-like keys, Docker's
// names accepted where they differ) strictly: an unknown key or a bad
// value is refused with the key named, so a typo never goes unnoticed.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"time"
)

// DefaultPath is where petreld looks for its configuration.
const DefaultPath = "/etc/petrel/daemon.json"

// Runtime is an external runtime of the "runtimes" map.
type Runtime struct {
	Path        string   `json:"path"`
	RuntimeArgs []string `json:"runtimeArgs,omitempty"`
}

// Config is daemon.json.
type Config struct {
	Root               string             `json:"graph,omitempty"`
	State              string             `json:"state,omitempty"`
	Hosts              []string           `json:"hosts,omitempty"`
	Group              string             `json:"group,omitempty"`
	LogLevel           string             `json:"log-level,omitempty"`
	LogDriver          string             `json:"log-driver,omitempty"`
	LogOpts            map[string]string  `json:"log-opts,omitempty"`
	DefaultRuntime     string             `json:"default-runtime,omitempty"`
	Runtimes           map[string]Runtime `json:"runtimes,omitempty"`
	RegistryMirrors    []string           `json:"registry-mirrors,omitempty"`
	InsecureRegistries []string           `json:"insecure-registries,omitempty"`
	StorageDriver      string             `json:"storage-driver,omitempty"`
	StorageOpts        []string           `json:"storage-opts,omitempty"`
	DefaultUlimits     map[string]Ulimit  `json:"default-ulimits,omitempty"`
	CgroupParent       string             `json:"cgroup-parent,omitempty"`
	CNIConfDir         string             `json:"cni-conf-dir,omitempty"`
	CNIBinDir          string             `json:"cni-bin-dir,omitempty"`
	NetworkSubnet      string             `json:"default-network-subnet,omitempty"`
	NetworkBridge      string             `json:"default-network-bridge,omitempty"`
	PidFile            string             `json:"pidfile,omitempty"`
	LiveRestore        *bool              `json:"live-restore,omitempty"`
	// GCPercent and MemoryLimit tune petreld's Go garbage collector
	// (GOGC and GOMEMLIMIT, which win when set in the environment).
	GCPercent   *int   `json:"gc-percent,omitempty"`
	MemoryLimit string `json:"memory-limit,omitempty"`
	// Init runs every container's command under petrel-init, as --init.
	Init bool `json:"init,omitempty"`
	// BinaryHugepages (default true) has petreld read the petrel
	// binary's text into the page cache in 2 MiB folios at start
	// (core/hugetext): a faster start for every client and shim, for the
	// whole text in the page cache instead of the pages processes run.
	BinaryHugepages *bool `json:"binary-hugepages,omitempty"`
	// SpareShim is how long a spare shim, started once a container has
	// started for the next start to take, waits to be taken ("0": none).
	SpareShim string `json:"spare-shim,omitempty"`
}

// Ulimit is one default ulimit.
type Ulimit struct {
	Name string `json:"Name"`
	Hard int64  `json:"Hard"`
	Soft int64  `json:"Soft"`
}

// alias maps Docker's names for iSulad's keys.
func alias(key string) (string, bool) {
	switch key {
	case "data-root":
		return "graph", true
	case "exec-root":
		return "state", true
	case "log-driver-opts":
		return "log-opts", true
	}
	return "", false
}

// Default returns the configuration without a file.
func Default() Config {
	return Config{
		Root: "/var/lib/petrel", State: "/run/petrel", Hosts: []string{"unix:///run/petrel/petrel.sock"},
		LogLevel: "info", LogDriver: "json-file", DefaultRuntime: "lcr",
		CNIConfDir: "/etc/petrel/cni/net.d", CNIBinDir: "/usr/libexec/petrel/cni",
		NetworkSubnet: "10.89.0.0/16", NetworkBridge: "petrel0",
		SpareShim: DefaultSpareShim.String(),
	}
}

// DefaultSpareShim is "spare-shim" when unset.
const DefaultSpareShim = 30 * time.Second

// SpareShimDuration returns "spare-shim": 0 for no spare shim.
func (c *Config) SpareShimDuration() (time.Duration, error) {
	if c.SpareShim == "" || c.SpareShim == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(c.SpareShim)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("key \"spare-shim\": %q is not a duration such as 30s or 2m (\"0\": no spare shim)", c.SpareShim)
	}
	return d, nil
}

// Load reads path over the defaults. A missing file is fine when
// optional (the default path); a named one must exist.
func Load(path string, optional bool) (Config, error) {
	c := Default()
	data, err := os.ReadFile(path)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			return c, nil
		}
		return c, fmt.Errorf("config file: %w", err)
	}
	if err := Parse(data, &c); err != nil {
		return c, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// Parse decodes data over c and validates the result.
func Parse(data []byte, c *Config) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(data[:se.Offset], []byte("\n"))
			return fmt.Errorf("line %d: %v", line, err)
		}
		return fmt.Errorf("not a JSON object: %w", err)
	}
	norm := map[string]json.RawMessage{}
	for k, v := range raw {
		key := k
		if a, ok := alias(k); ok {
			key = a
		}
		if _, dup := norm[key]; dup {
			return fmt.Errorf("key %q given twice (as %q and an alias)", key, k)
		}
		norm[key] = v
	}
	canon, _ := json.Marshal(norm)
	dec := json.NewDecoder(bytes.NewReader(canon))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil && err != io.EOF {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("key %q: %s is not a valid value (want %s)", te.Field, te.Value, te.Type)
		}
		if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
			return fmt.Errorf("unknown key %s", strings.TrimPrefix(msg, "json: unknown field "))
		}
		return err
	}
	return c.Validate()
}

// Validate checks values that JSON types cannot.
func (c *Config) Validate() error {
	switch c.LogLevel {
	case "debug", "info", "warn", "error", "fatal":
	default:
		return fmt.Errorf("key \"log-level\": %q is not one of debug, info, warn, error, fatal", c.LogLevel)
	}
	switch c.LogDriver {
	case "json-file", "none":
	default:
		return fmt.Errorf("key \"log-driver\": %q is not supported (json-file or none)", c.LogDriver)
	}
	for k, v := range c.LogOpts {
		switch k {
		case "max-size":
			if !validSize(v) {
				return fmt.Errorf("key \"log-opts\": max-size %q is not a size such as 10m", v)
			}
		case "max-file":
			if n, ok := atoi(v); !ok || n < 1 {
				return fmt.Errorf("key \"log-opts\": max-file %q is not a positive number", v)
			}
		default:
			return fmt.Errorf("key \"log-opts\": unknown option %q (max-size, max-file)", k)
		}
	}
	if len(c.Hosts) == 0 {
		return errors.New("key \"hosts\": at least one socket is needed")
	}
	for _, h := range c.Hosts {
		if !strings.HasPrefix(h, "unix://") || len(h) == len("unix://") {
			return fmt.Errorf("key \"hosts\": %q: only unix:///path sockets are supported", h)
		}
	}
	if c.Root == "" || !strings.HasPrefix(c.Root, "/") {
		return fmt.Errorf("key \"graph\": %q is not an absolute path", c.Root)
	}
	if c.State == "" || !strings.HasPrefix(c.State, "/") {
		return fmt.Errorf("key \"state\": %q is not an absolute path", c.State)
	}
	for name, r := range c.Runtimes {
		if name == "" || name == "lcr" {
			return fmt.Errorf("key \"runtimes\": %q cannot be redefined", name)
		}
		if r.Path == "" {
			return fmt.Errorf("key \"runtimes\": runtime %q has no path", name)
		}
	}
	switch c.DefaultRuntime {
	case "", "lcr", "runc", "crun", "kata-runtime", "runsc":
	default:
		if _, ok := c.Runtimes[c.DefaultRuntime]; !ok {
			return fmt.Errorf("key \"default-runtime\": unknown runtime %q", c.DefaultRuntime)
		}
	}
	if p := c.GCPercent; p != nil && *p != -1 && (*p < 1 || *p > 10000) {
		return fmt.Errorf("key \"gc-percent\": %d is not a percentage from 1 to 10000 (or -1 to collect only at the memory limit)", *p)
	}
	limit, err := c.MemoryLimitBytes()
	if err != nil {
		return err
	}
	if p := c.GCPercent; p != nil && *p == -1 && limit <= 0 {
		return errors.New("key \"gc-percent\": -1 collects only at the memory limit and needs a \"memory-limit\"")
	}
	if _, err := c.SpareShimDuration(); err != nil {
		return err
	}
	if err := validSubnet(c.NetworkSubnet); err != nil {
		return fmt.Errorf("key \"default-network-subnet\": %v", err)
	}
	if n := c.NetworkBridge; n == "" || len(n) > 15 || strings.ContainsAny(n, "/ \t\n:") {
		return fmt.Errorf("key \"default-network-bridge\": %q is not an interface name (1 to 15 characters, no '/', ':' or spaces)", n)
	}
	for _, k := range []struct{ key, dir string }{{"cni-conf-dir", c.CNIConfDir}, {"cni-bin-dir", c.CNIBinDir}} {
		if !strings.HasPrefix(k.dir, "/") {
			return fmt.Errorf("key %q: %q is not an absolute path", k.key, k.dir)
		}
	}
	switch c.StorageDriver {
	case "", "overlay", "overlay2", "vfs":
	default:
		return fmt.Errorf("key \"storage-driver\": %q is not supported (overlay2 or vfs)", c.StorageDriver)
	}
	for _, o := range c.StorageOpts {
		if k, _, _ := strings.Cut(o, "="); k != "overlay2.override_kernel_check" {
			return fmt.Errorf("key \"storage-opts\": %q is not supported (only overlay2.override_kernel_check)", o)
		}
	}
	for _, m := range c.RegistryMirrors {
		if !strings.HasPrefix(m, "https://") && !strings.HasPrefix(m, "http://") {
			return fmt.Errorf("key \"registry-mirrors\": %q is not a URL (want https://host[:port])", m)
		}
	}
	return nil
}

// MinMemoryLimit is the smallest "memory-limit": below it the daemon
// would spend its time collecting.
const MinMemoryLimit = 4 << 20

// MemoryLimitBytes returns "memory-limit" in bytes: 0 when the key is
// unset, -1 for "off" (no limit).
func (c *Config) MemoryLimitBytes() (int64, error) {
	switch c.MemoryLimit {
	case "":
		return 0, nil
	case "off":
		return -1, nil
	}
	n, err := ParseSize(c.MemoryLimit)
	if err != nil {
		return 0, fmt.Errorf("key \"memory-limit\": %w (or \"off\")", err)
	}
	if n < MinMemoryLimit {
		return 0, fmt.Errorf("key \"memory-limit\": %q is below the minimum of 4m", c.MemoryLimit)
	}
	return n, nil
}

// ParseSize reads a byte count such as 512k, 32m, 32MiB or 1g (binary
// multiples; case does not matter).
func ParseSize(s string) (int64, error) {
	t, shift := strings.ToLower(s), 0
	for i, unit := range []string{"k", "m", "g"} {
		for _, form := range []string{unit + "ib", unit + "b", unit} {
			if rest, ok := strings.CutSuffix(t, form); ok && shift == 0 {
				t, shift = rest, 10*(i+1)
			}
		}
	}
	if shift == 0 {
		t = strings.TrimSuffix(t, "b")
	}
	n, ok := atoi(t) // at most 2^30: no overflow below
	if !ok {
		return 0, fmt.Errorf("%q is not a size such as 32m", s)
	}
	return int64(n) << shift, nil
}

func atoi(s string) (int, bool) {
	n := 0
	if s == "" {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' || n > 1<<30 {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}

func validSize(s string) bool {
	t := strings.TrimRight(strings.ToLower(s), "kmgb")
	if t == "" || len(s)-len(t) > 2 {
		return false
	}
	_, ok := atoi(t)
	return ok
}

// validSubnet accepts an IPv4 network in CIDR form with room for a
// gateway and containers: 10.89.0.0/16.
func validSubnet(s string) error {
	ip, n, err := net.ParseCIDR(s)
	if err != nil || ip.To4() == nil {
		return fmt.Errorf("%q is not an IPv4 subnet such as 10.89.0.0/16", s)
	}
	if !ip.Equal(n.IP) {
		return fmt.Errorf("%q has host bits set (did you mean %s?)", s, n)
	}
	if ones, _ := n.Mask.Size(); ones > 30 {
		return fmt.Errorf("%q is too small: at most /30", s)
	}
	return nil
}

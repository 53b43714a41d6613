package hostlocal

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	"github.com/containernetworking/plugins/plugins/ipam/host-local/backend/disk"
)

// DefaultDataDir is where allocations live when the config names no dataDir.
const DefaultDataDir = "/var/lib/cni/networks"

// Allocate reserves one address per range set for the container and
// interface of args and returns them with the configured routes and DNS. It
// is host-local's ADD without printing; on error nothing stays reserved.
func Allocate(args *skel.CmdArgs) (*current.Result, string, error) {
	conf, confVersion, err := LoadConfig(args.StdinData, args.Args)
	if err != nil {
		return nil, "", err
	}
	result := &current.Result{CNIVersion: current.ImplementedSpecVersion}
	if conf.ResolvConf != "" {
		dns, err := parseResolvConf(conf.ResolvConf)
		if err != nil {
			return nil, "", err
		}
		result.DNS = *dns
	}
	s, err := disk.New(conf.Name, conf.DataDir)
	if err != nil {
		return nil, "", fmt.Errorf("open IPAM store: %w", err)
	}
	defer s.Close()

	requested := append([]net.IP(nil), conf.IPArgs...)
	var done []*allocator
	fail := func(err error) (*current.Result, string, error) {
		for _, a := range done {
			_ = a.release(args.ContainerID, args.IfName)
		}
		return nil, "", err
	}
	for idx, set := range conf.Ranges {
		a := newAllocator(set, s, idx)
		var want net.IP
		for i, ip := range requested {
			if set.Contains(ip) {
				want = ip
				requested = append(requested[:i], requested[i+1:]...)
				break
			}
		}
		ipc, err := a.get(args.ContainerID, args.IfName, want)
		if err != nil {
			return fail(fmt.Errorf("failed to allocate for range %d: %w", idx, err))
		}
		done = append(done, a)
		result.IPs = append(result.IPs, ipc)
	}
	if len(requested) != 0 {
		var b strings.Builder
		b.WriteString("failed to allocate all requested IPs:")
		for _, ip := range requested {
			b.WriteString(" " + ip.String())
		}
		return fail(errors.New(b.String()))
	}
	result.Routes = conf.Routes
	return result, confVersion, nil
}

// Release frees every address held by the container and interface of args.
// Releasing what is not allocated is not an error.
func Release(args *skel.CmdArgs) error {
	conf, _, err := LoadConfig(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	s, err := disk.New(conf.Name, conf.DataDir)
	if err != nil {
		return fmt.Errorf("open IPAM store: %w", err)
	}
	defer s.Close()
	var errs []error
	for idx, set := range conf.Ranges {
		if err := newAllocator(set, s, idx).release(args.ContainerID, args.IfName); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// add is host-local's ADD: it allocates and prints the result in the
// configuration's version.
func add(args *skel.CmdArgs, emit func(types.Result, string) error) error {
	result, v, err := Allocate(args)
	if err != nil {
		return err
	}
	return emit(result, v)
}

// Add is the plugin's ADD as a CNI runtime calls it: the result goes to
// stdout in the configuration's version.
func Add(args *skel.CmdArgs) error { return add(args, types.PrintResult) }

// AddResult is ADD for a caller in the same process: the result, in the
// configuration's version, is returned instead of printed.
func AddResult(args *skel.CmdArgs) (types.Result, error) {
	var out types.Result
	err := add(args, func(r types.Result, v string) error {
		var err error
		out, err = r.GetAsVersion(v)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Del is host-local's DEL.
func Del(args *skel.CmdArgs) error { return Release(args) }

// Check is host-local's CHECK: the container must hold an address.
func Check(args *skel.CmdArgs) error {
	conf, _, err := LoadConfig(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	s, err := disk.New(conf.Name, conf.DataDir)
	if err != nil {
		return fmt.Errorf("open IPAM store: %w", err)
	}
	defer s.Close()
	if !s.FindByID(args.ContainerID, args.IfName) {
		return fmt.Errorf("host-local: failed to find address added by container %v", args.ContainerID)
	}
	return nil
}

// Status is host-local's STATUS: the configuration must parse and its data
// directory must be usable.
func Status(args *skel.CmdArgs) error {
	conf, _, err := LoadConfig(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	s, err := disk.New(conf.Name, conf.DataDir)
	if err != nil {
		return types.NewError(errPluginNotAvailable, "IPAM store not usable", err.Error())
	}
	return s.Close()
}

// GC is host-local's GC: it frees every allocation of the network whose
// container and interface are not among the valid attachments.
func GC(args *skel.CmdArgs) error {
	conf, _, err := LoadConfig(args.StdinData, args.Args)
	if err != nil {
		return err
	}
	var nc types.NetConf
	if err := json.Unmarshal(args.StdinData, &nc); err != nil {
		return fmt.Errorf("parse network configuration: %w", err)
	}
	valid := make(map[string]bool, len(nc.ValidAttachments))
	for _, a := range nc.ValidAttachments {
		valid[strings.TrimSpace(a.ContainerID)+disk.LineBreak+a.IfName] = true
		valid[strings.TrimSpace(a.ContainerID)] = true // files of old versions hold only the ID
	}
	s, err := disk.New(conf.Name, conf.DataDir)
	if err != nil {
		return fmt.Errorf("open IPAM store: %w", err)
	}
	defer s.Close()
	if err := s.Lock(); err != nil {
		return fmt.Errorf("lock IPAM store: %w", err)
	}
	defer s.Unlock()
	dir := dataDir(conf)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if e.IsDir() || net.ParseIP(strings.ReplaceAll(e.Name(), "_", ":")) == nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		key := strings.TrimSpace(string(data))
		if valid[key] {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func dataDir(conf *Config) string {
	d := conf.DataDir
	if d == "" {
		d = DefaultDataDir
	}
	return filepath.Join(d, conf.Name)
}

// parseResolvConf reads the nameserver, domain, search and options lines of
// a resolv.conf file.
func parseResolvConf(path string) (*types.DNS, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read resolvConf: %w", err)
	}
	defer f.Close()
	dns := &types.DNS{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			dns.Nameservers = append(dns.Nameservers, fields[1])
		case "domain":
			dns.Domain = fields[1]
		case "search":
			dns.Search = append(dns.Search, fields[1:]...)
		case "options":
			dns.Options = append(dns.Options, fields[1:]...)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read resolvConf: %w", err)
	}
	return dns, nil
}

// errPluginNotAvailable is the spec 1.1 STATUS error code 50.
const errPluginNotAvailable uint = 50

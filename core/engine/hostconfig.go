package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/oci/caps"
	"github.com/petrel-edge/petrel/oci/seccomp"
	ocispec "github.com/petrel-edge/petrel/oci/spec"
)

// minMemory is Docker's smallest memory limit.
const minMemory = 6 << 20

// validateHostConfig refuses what applyHostConfig could not apply, with
// Docker's messages where Docker has one.
func validateHostConfig(hc *api.HostConfig) error {
	r := hc.Resources
	if r.Memory > 0 && r.Memory < minMemory {
		return errdefs.Invalid("Minimum memory limit allowed is 6MB")
	}
	if r.Memory < 0 || r.MemoryReservation < 0 || r.CPUShares < 0 || r.NanoCPUs < 0 || hc.ShmSize < 0 {
		return errdefs.Invalid("memory, reservation, CPU shares, CPUs and shm size cannot be negative")
	}
	if r.MemorySwap > 0 && r.Memory == 0 {
		return errdefs.Invalid("You should always set the Memory limit when using Memoryswap limit")
	}
	if r.MemorySwap > 0 && r.MemorySwap < r.Memory {
		return errdefs.Invalid("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if r.NanoCPUs > 0 && (r.CPUPeriod > 0 || r.CPUQuota > 0) {
		return errdefs.Invalid("Conflicting options: Nano CPUs and CPU Period cannot both be set")
	}
	if n := int64(runtime.NumCPU()); r.NanoCPUs > 0 && (r.NanoCPUs < 1e7 || r.NanoCPUs > n*1e9) {
		return errdefs.Invalid("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", n, n)
	}
	for name, set := range map[string]string{"cpuset-cpus": r.CpusetCpus, "cpuset-mems": r.CpusetMems} {
		if !validCPUSet(set) {
			return errdefs.Invalid("invalid value %q for %s: want a list such as 0-2,4", set, name)
		}
	}
	for _, u := range r.Ulimits {
		if u == nil {
			continue
		}
		if _, ok := ocispec.Rlimit("RLIMIT_" + strings.ToUpper(u.Name)); !ok {
			return errdefs.Invalid("invalid ulimit type: %s", u.Name)
		}
		if u.Soft > u.Hard {
			return errdefs.Invalid("ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard)
		}
	}
	for _, list := range [][]string{hc.CapAdd, hc.CapDrop} {
		for _, c := range list {
			if n := capName(c); n != "ALL" {
				if _, err := caps.Parse(n); err != nil {
					return errdefs.Invalid("invalid capability: %s", c)
				}
			}
		}
	}
	for _, d := range r.Devices {
		if !filepath.IsAbs(d.PathOnHost) || d.PathInContainer != "" && !filepath.IsAbs(d.PathInContainer) {
			return errdefs.Invalid("invalid device %q: paths must be absolute", d.PathOnHost)
		}
		if strings.Trim(d.CgroupPermissions, "rwm") != "" {
			return errdefs.Invalid("invalid device permissions %q: use r, w and m", d.CgroupPermissions)
		}
	}
	if _, err := securityOpts(hc.SecurityOpt); err != nil {
		return err
	}
	for k := range hc.Sysctls {
		if !namespacedSysctl(k) {
			return errdefs.Invalid("sysctl %q is not allowed: only namespaced sysctls (net.*, kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*) can be set", k)
		}
		if strings.HasPrefix(k, "net.") && hc.NetworkMode == "host" {
			return errdefs.Invalid("sysctl %q is not allowed in the host's network namespace", k)
		}
	}
	if w := r.BlkioWeight; w != 0 && (w < 10 || w > 1000) {
		return errdefs.Invalid("Range of blkio weight is from 10 to 1000")
	}
	if _, err := mountSpecs(hc); err != nil {
		return err
	}
	return nil
}

func capName(c string) string {
	c = strings.ToUpper(c)
	if c == "ALL" || strings.HasPrefix(c, "CAP_") {
		return c
	}
	return "CAP_" + c
}

func validCPUSet(s string) bool {
	if s == "" {
		return true
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.ParseUint(lo, 10, 16)
		if err1 != nil {
			return false
		}
		if isRange {
			b, err2 := strconv.ParseUint(hi, 10, 16)
			if err2 != nil || b < a {
				return false
			}
		}
	}
	return true
}

func namespacedSysctl(k string) bool {
	switch {
	case strings.HasPrefix(k, "net."), strings.HasPrefix(k, "fs.mqueue."), strings.HasPrefix(k, "kernel.msg"),
		strings.HasPrefix(k, "kernel.shm"), k == "kernel.sem":
		return true
	}
	return false
}

// secOpts are the parsed --security-opt values.
type secOpts struct {
	noNewPrivs bool
	seccomp    *specs.LinuxSeccomp // nil: the default profile, unless unconfined
	unconfined bool                // seccomp=unconfined
}

func securityOpts(opts []string) (secOpts, error) {
	var o secOpts
	for _, opt := range opts {
		k, v, _ := strings.Cut(opt, "=")
		if k == opt && strings.Contains(opt, ":") { // the old key:value form
			k, v, _ = strings.Cut(opt, ":")
		}
		switch k {
		case "no-new-privileges":
			b := true
			if v != "" {
				var err error
				if b, err = strconv.ParseBool(v); err != nil {
					return o, errdefs.Invalid("invalid --security-opt %q", opt)
				}
			}
			o.noNewPrivs = b
		case "seccomp":
			if v == "unconfined" {
				o.seccomp, o.unconfined = nil, true
				continue
			}
			var prof specs.LinuxSeccomp
			if err := json.Unmarshal([]byte(v), &prof); err != nil {
				return o, errdefs.Invalid("--security-opt seccomp: the profile is not JSON: %v", err)
			}
			if err := seccomp.Validate(&prof); err != nil {
				return o, errdefs.Invalid("--security-opt seccomp: %v", err)
			}
			o.seccomp, o.unconfined = &prof, false
		case "apparmor", "label":
			if v != "unconfined" && v != "disable" {
				return o, errdefs.NotSupported("--security-opt %s: this host has no AppArmor or SELinux", k)
			}
		default:
			return o, errdefs.Invalid("invalid --security-opt %q", opt)
		}
	}
	return o, nil
}

// applyHostConfig sets the resources, devices, mounts and security of
// a validated host configuration on the spec.
func applyHostConfig(s *specs.Spec, hc *api.HostConfig) error {
	r := hc.Resources
	res := s.Linux.Resources
	if res == nil {
		res = &specs.LinuxResources{}
		s.Linux.Resources = res
	}
	lim := limits(r)
	res.Memory, res.CPU, res.Pids, res.BlockIO = lim.Memory, lim.CPU, lim.Pids, lim.BlockIO
	for _, u := range r.Ulimits {
		if u != nil {
			s.Process.Rlimits = append(s.Process.Rlimits, specs.POSIXRlimit{Type: "RLIMIT_" + strings.ToUpper(u.Name), Hard: uint64(u.Hard), Soft: uint64(u.Soft)})
		}
	}
	for _, d := range r.Devices {
		if err := addDevice(s, d); err != nil {
			return err
		}
	}
	// Capabilities: the defaults, then --cap-add, then --cap-drop.
	capSet := map[string]bool{}
	for _, c := range s.Process.Capabilities.Bounding {
		capSet[c] = true
	}
	all := ownCaps()
	if hc.Privileged {
		for _, c := range all {
			capSet[c] = true
		}
	}
	for _, c := range hc.CapAdd {
		if n := capName(c); n == "ALL" {
			for _, c := range all {
				capSet[c] = true
			}
		} else {
			capSet[n] = true
		}
	}
	for _, c := range hc.CapDrop {
		if n := capName(c); n == "ALL" {
			capSet = map[string]bool{}
		} else {
			delete(capSet, n)
		}
	}
	var list []string
	for _, c := range all {
		if capSet[c] {
			list = append(list, c)
		}
	}
	s.Process.Capabilities = &specs.LinuxCapabilities{Bounding: list, Effective: list, Permitted: list}
	if hc.Privileged {
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		res.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		for i, m := range s.Mounts {
			if m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup" {
				s.Mounts[i].Options = without(m.Options, "ro")
			}
		}
	}
	so, err := securityOpts(hc.SecurityOpt)
	if err != nil {
		return err
	}
	s.Process.NoNewPrivileges = so.noNewPrivs
	// Docker's default profile unless a profile is given or seccomp is
	// off; --privileged turns it off whatever was asked, as Docker does.
	switch {
	case hc.Privileged || so.unconfined:
		s.Linux.Seccomp = nil
	case so.seccomp != nil:
		s.Linux.Seccomp = so.seccomp
	default:
		s.Linux.Seccomp = seccomp.Default(list)
	}
	if len(hc.Sysctls) > 0 {
		s.Linux.Sysctl = map[string]string{}
		for k, v := range hc.Sysctls {
			s.Linux.Sysctl[k] = v
		}
	}
	if hc.ShmSize > 0 {
		for i, m := range s.Mounts {
			if m.Destination == "/dev/shm" {
				opts := []string{}
				for _, o := range m.Options {
					if !strings.HasPrefix(o, "size=") {
						opts = append(opts, o)
					}
				}
				s.Mounts[i].Options = append(opts, "size="+strconv.FormatInt(hc.ShmSize, 10))
			}
		}
	}
	return nil
}

// limits returns the cgroup limits of r: memory, CPU, pids and block
// I/O weight. Unset values stay nil, so an update leaves them alone.
func limits(r api.Resources) *specs.LinuxResources {
	res := &specs.LinuxResources{}
	if r.Memory > 0 || r.MemoryReservation > 0 {
		m := &specs.LinuxMemory{}
		if r.Memory > 0 {
			m.Limit = &r.Memory
			if swapAccounting() {
				swap := r.MemorySwap
				if swap == 0 {
					swap = 2 * r.Memory
				}
				m.Swap = &swap
			}
		}
		if r.MemoryReservation > 0 {
			m.Reservation = &r.MemoryReservation
		}
		res.Memory = m
	}
	if r.NanoCPUs > 0 || r.CPUShares > 0 || r.CPUPeriod > 0 || r.CPUQuota != 0 || r.CpusetCpus != "" || r.CpusetMems != "" {
		c := &specs.LinuxCPU{Cpus: r.CpusetCpus, Mems: r.CpusetMems}
		if r.CPUShares > 0 {
			sh := uint64(r.CPUShares)
			c.Shares = &sh
		}
		if r.NanoCPUs > 0 {
			period := uint64(100000)
			quota := r.NanoCPUs * 100000 / 1e9
			c.Period, c.Quota = &period, &quota
		} else {
			if r.CPUPeriod > 0 {
				p := uint64(r.CPUPeriod)
				c.Period = &p
			}
			if r.CPUQuota != 0 {
				q := r.CPUQuota
				c.Quota = &q
			}
		}
		res.CPU = c
	}
	if r.PidsLimit != nil && *r.PidsLimit > 0 {
		res.Pids = &specs.LinuxPids{Limit: *r.PidsLimit}
	}
	if r.BlkioWeight > 0 {
		w := r.BlkioWeight
		res.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return res
}

// ownCaps returns the capabilities this process holds (its permitted
// set): "all capabilities" for a container cannot be more than that,
// or the runtime's capset fails (a host root without CAP_SYS_RESOURCE).
func ownCaps() []string {
	names := caps.Names()
	if last := caps.Last(); last+1 < len(names) {
		names = names[:last+1]
	}
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return names
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "CapPrm:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return names
			}
			var out []string
			for i, n := range names {
				if i < 64 && mask&(1<<uint(i)) != 0 {
					out = append(out, n)
				}
			}
			return out
		}
	}
	return names
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

// swapAccounting reports whether the memory cgroup can limit swap.
func swapAccounting() bool {
	for _, p := range []string{"/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", "/sys/fs/cgroup/memory.swap.max"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// addDevice gives the container a host device node and access to it.
func addDevice(s *specs.Spec, d api.DeviceMapping) error {
	var st unix.Stat_t
	if err := unix.Stat(d.PathOnHost, &st); err != nil {
		return errdefs.Invalid("error gathering device information while adding custom device %q: %v", d.PathOnHost, err)
	}
	var typ string
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		typ = "c"
	case unix.S_IFBLK:
		typ = "b"
	default:
		return errdefs.Invalid("%s is not a device node", d.PathOnHost)
	}
	dst := d.PathInContainer
	if dst == "" {
		dst = d.PathOnHost
	}
	perms := d.CgroupPermissions
	if perms == "" {
		perms = "rwm"
	}
	major, minor := int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
	mode := os.FileMode(st.Mode & 0o777)
	uid, gid := st.Uid, st.Gid
	s.Linux.Devices = append(s.Linux.Devices, specs.LinuxDevice{Path: dst, Type: typ, Major: major, Minor: minor, FileMode: &mode, UID: &uid, GID: &gid})
	s.Linux.Resources.Devices = append(s.Linux.Resources.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: typ, Major: &major, Minor: &minor, Access: perms})
	return nil
}

package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Set applies r to the cgroup. Values are converted as runc does on each
// cgroup version; settings that cannot apply on this host are errors, except
// the ones runc ignores too: kernel memory limits the kernel no longer
// implements, and on cgroup v2 the v1-only memory knobs (kernel, kernelTCP,
// swappiness, disableOOMKiller, useHierarchy) and network classID/priorities.
// Device rules replace the previous ones; other settings left nil are kept.
func (m *Manager) Set(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if d, ok := m.paths[keyUnified]; ok {
		return m.setV2(d, r)
	}
	return m.setV1(r)
}

// need returns the dir of a controller, or an error saying it is missing.
func (m *Manager) need(ctrl string) (string, error) {
	if d, ok := m.paths[keyUnified]; ok {
		return d, nil
	}
	if d, ok := m.paths[ctrl]; ok {
		return d, nil
	}
	return "", fmt.Errorf("cannot set %s limits: the %s controller is not mounted on this host", ctrl, ctrl)
}

func val[T any](p *T) (v T) {
	if p != nil {
		v = *p
	}
	return v
}

func (m *Manager) setV1(r *specs.LinuxResources) error {
	if c := r.CPU; c != nil {
		if err := m.setCpusetV1(c); err != nil {
			return err
		}
		if err := m.setCPUV1(c); err != nil {
			return err
		}
	}
	if err := m.setMemoryV1(r.Memory); err != nil {
		return err
	}
	if r.Pids != nil && r.Pids.Limit != 0 {
		d, err := m.need("pids")
		if err != nil {
			return err
		}
		if err := m.write(d, "pids.max", pidsMax(r.Pids.Limit)); err != nil {
			return err
		}
	}
	if err := m.setBlkioV1(r.BlockIO); err != nil {
		return err
	}
	if err := m.setHugetlb(r.HugepageLimits); err != nil {
		return err
	}
	if err := m.setDevices(r.Devices); err != nil {
		return err
	}
	if err := m.setNetworkV1(r.Network); err != nil {
		return err
	}
	if len(r.Rdma) > 0 {
		d, err := m.need("rdma")
		if err != nil {
			return err
		}
		if err := m.setRdma(d, r.Rdma); err != nil {
			return err
		}
	}
	if len(r.Unified) > 0 {
		d, ok := m.paths[keyHybrid]
		if !ok {
			return errors.New("cannot set unified resources: cgroup v2 is not mounted on this host")
		}
		return m.setUnified(d, r.Unified)
	}
	return nil
}

func pidsMax(limit int64) string {
	if limit < 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}

func (m *Manager) setCpusetV1(c *specs.LinuxCPU) error {
	if c.Cpus == "" && c.Mems == "" {
		return nil
	}
	d, err := m.need("cpuset")
	if err != nil {
		return err
	}
	return m.setCpuset(d, c)
}

func (m *Manager) setCpuset(d string, c *specs.LinuxCPU) error {
	if c.Cpus != "" {
		if err := m.write(d, "cpuset.cpus", c.Cpus); err != nil {
			return err
		}
	}
	if c.Mems != "" {
		if err := m.write(d, "cpuset.mems", c.Mems); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) setCPUV1(c *specs.LinuxCPU) error {
	shares, quota, period := val(c.Shares), val(c.Quota), val(c.Period)
	rtPeriod, rtRuntime := val(c.RealtimePeriod), val(c.RealtimeRuntime)
	if shares == 0 && quota == 0 && period == 0 && rtPeriod == 0 && rtRuntime == 0 && c.Burst == nil && c.Idle == nil {
		return nil
	}
	d, err := m.need("cpu")
	if err != nil {
		return err
	}
	// Realtime first: the period bounds the runtime.
	if rtPeriod != 0 {
		if err := m.write(d, "cpu.rt_period_us", strconv.FormatUint(rtPeriod, 10)); err != nil {
			return err
		}
	}
	if rtRuntime != 0 {
		if err := m.write(d, "cpu.rt_runtime_us", strconv.FormatInt(rtRuntime, 10)); err != nil {
			return err
		}
	}
	if shares != 0 {
		s := strconv.FormatUint(shares, 10)
		if err := m.write(d, "cpu.shares", s); err != nil {
			return err
		}
		// The kernel clamps shares silently; say so instead.
		got, err := readUint(d, "cpu.shares")
		if err != nil {
			return err
		}
		if got != shares {
			bound := "maximum"
			if shares < got {
				bound = "minimum"
			}
			return fmt.Errorf("set %s to %q: the %s allowed cpu shares is %d", filepath.Join(d, "cpu.shares"), s, bound, got)
		}
	}
	// A period shorter than the current one can be refused (EINVAL) until
	// the quota fits it; then set the period again after the quota.
	retryPeriod := false
	if period != 0 {
		err := m.write(d, "cpu.cfs_period_us", strconv.FormatUint(period, 10))
		if err != nil && (!errors.Is(err, unix.EINVAL) || quota == 0) {
			return err
		}
		retryPeriod = err != nil
	}
	retryBurst := false
	if c.Burst != nil {
		err := m.write(d, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10))
		if err != nil && (!errors.Is(err, unix.EINVAL) || quota == 0) {
			return err
		}
		retryBurst = err != nil
	}
	if quota != 0 {
		if err := m.write(d, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
			return err
		}
		if retryPeriod {
			if err := m.write(d, "cpu.cfs_period_us", strconv.FormatUint(period, 10)); err != nil {
				return err
			}
		}
		if retryBurst {
			if err := m.write(d, "cpu.cfs_burst_us", strconv.FormatUint(*c.Burst, 10)); err != nil {
				return err
			}
		}
	}
	if c.Idle != nil {
		if err := m.write(d, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) setMemoryV1(mem *specs.LinuxMemory) error {
	if mem == nil || (mem.Limit == nil && mem.Reservation == nil && mem.Swap == nil && mem.Kernel == nil &&
		mem.KernelTCP == nil && mem.Swappiness == nil && mem.DisableOOMKiller == nil && mem.UseHierarchy == nil) {
		return nil
	}
	d, err := m.need("memory")
	if err != nil {
		return err
	}
	limit, swap := val(mem.Limit), val(mem.Swap)
	if limit < -1 || swap < -1 {
		return fmt.Errorf("invalid memory limit %d or swap %d", limit, swap)
	}
	const swapFile = "memory.memsw.limit_in_bytes"
	if limit == -1 && swap == 0 {
		// Unlimited memory means unlimited swap too, if swap is accounted.
		if _, err := os.Stat(filepath.Join(d, swapFile)); err == nil {
			swap = -1
		}
	}
	setLimit := func() error {
		if limit == 0 {
			return nil
		}
		err := m.write(d, "memory.limit_in_bytes", strconv.FormatInt(limit, 10))
		if errors.Is(err, unix.EBUSY) {
			usage, _ := readUint(d, "memory.usage_in_bytes")
			return fmt.Errorf("memory limit %d is below the current usage %d: %w", limit, usage, err)
		}
		return err
	}
	setSwap := func() error {
		if swap == 0 {
			return nil
		}
		return m.write(d, swapFile, strconv.FormatInt(swap, 10))
	}
	// mem+swap must stay >= mem at every step: raise the larger one first.
	first, second := setLimit, setSwap
	if limit != 0 && swap != 0 {
		cur, err := readUint(d, "memory.limit_in_bytes")
		if err != nil {
			return err
		}
		if swap == -1 || cur < uint64(swap) {
			first, second = setSwap, setLimit
		}
	}
	if err := first(); err != nil {
		return err
	}
	if err := second(); err != nil {
		return err
	}
	if mem.Reservation != nil && *mem.Reservation != 0 {
		if err := m.write(d, "memory.soft_limit_in_bytes", strconv.FormatInt(*mem.Reservation, 10)); err != nil {
			return err
		}
	}
	if mem.Kernel != nil && *mem.Kernel != 0 {
		// Kernels since 6.1 no longer limit kernel memory separately; runc
		// ignores the setting there, and so do we.
		err := m.write(d, "memory.kmem.limit_in_bytes", strconv.FormatInt(*mem.Kernel, 10))
		if err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EOPNOTSUPP) {
			return err
		}
	}
	if mem.KernelTCP != nil && *mem.KernelTCP != 0 {
		if err := m.write(d, "memory.kmem.tcp.limit_in_bytes", strconv.FormatInt(*mem.KernelTCP, 10)); err != nil {
			return err
		}
	}
	if mem.Swappiness != nil {
		if *mem.Swappiness > 100 {
			return fmt.Errorf("invalid memory swappiness %d: the range is 0-100", *mem.Swappiness)
		}
		if err := m.write(d, "memory.swappiness", strconv.FormatUint(*mem.Swappiness, 10)); err != nil {
			return err
		}
	}
	if val(mem.DisableOOMKiller) {
		if err := m.write(d, "memory.oom_control", "1"); err != nil {
			return err
		}
	}
	if mem.UseHierarchy != nil {
		v := "0"
		if *mem.UseHierarchy {
			v = "1"
		}
		// Kernels since 5.16 are always hierarchical and refuse 0 with
		// EINVAL; runc ignores the setting altogether.
		if err := m.write(d, "memory.use_hierarchy", v); err != nil && !(v == "0" && errors.Is(err, unix.EINVAL)) {
			return err
		}
	}
	return nil
}

func (m *Manager) setBlkioV1(b *specs.LinuxBlockIO) error {
	if b == nil || (b.Weight == nil && b.LeafWeight == nil && len(b.WeightDevice) == 0 &&
		len(b.ThrottleReadBpsDevice) == 0 && len(b.ThrottleWriteBpsDevice) == 0 &&
		len(b.ThrottleReadIOPSDevice) == 0 && len(b.ThrottleWriteIOPSDevice) == 0) {
		return nil
	}
	d, err := m.need("blkio")
	if err != nil {
		return err
	}
	// With the BFQ scheduler the weights have their own files.
	weight, weightDev := "blkio.weight", "blkio.weight_device"
	if b.Weight != nil || len(b.WeightDevice) > 0 {
		if _, err := os.Stat(filepath.Join(d, "blkio.bfq.weight")); err == nil {
			weight, weightDev = "blkio.bfq.weight", "blkio.bfq.weight_device"
		}
	}
	if w := val(b.Weight); w != 0 {
		if err := m.write(d, weight, strconv.FormatUint(uint64(w), 10)); err != nil {
			return err
		}
	}
	if w := val(b.LeafWeight); w != 0 {
		if err := m.write(d, "blkio.leaf_weight", strconv.FormatUint(uint64(w), 10)); err != nil {
			return err
		}
	}
	for _, wd := range b.WeightDevice {
		if w := val(wd.Weight); w != 0 {
			if err := m.write(d, weightDev, fmt.Sprintf("%d:%d %d", wd.Major, wd.Minor, w)); err != nil {
				return err
			}
		}
		if w := val(wd.LeafWeight); w != 0 {
			if err := m.write(d, "blkio.leaf_weight_device", fmt.Sprintf("%d:%d %d", wd.Major, wd.Minor, w)); err != nil {
				return err
			}
		}
	}
	for _, t := range []struct {
		file string
		devs []specs.LinuxThrottleDevice
	}{
		{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
		{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
		{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
		{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
	} {
		for _, td := range t.devs {
			if err := m.write(d, t.file, fmt.Sprintf("%d:%d %d", td.Major, td.Minor, td.Rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

// setHugetlb works on both versions: on a hybrid host hugetlb may live on the
// v2 hierarchy and then has v2's file names.
func (m *Manager) setHugetlb(limits []specs.LinuxHugepageLimit) error {
	if len(limits) == 0 {
		return nil
	}
	d, err := m.need("hugetlb")
	if err != nil {
		return err
	}
	_, unified := m.paths[keyUnified]
	v2 := unified || m.v2["hugetlb"]
	for _, l := range limits {
		ps := l.Pagesize
		if ps == "" || strings.ContainsAny(ps, "/.") {
			return fmt.Errorf("invalid hugepage size %q", ps)
		}
		file, rsvd := "hugetlb."+ps+".limit_in_bytes", "hugetlb."+ps+".rsvd.limit_in_bytes"
		if v2 {
			file, rsvd = "hugetlb."+ps+".max", "hugetlb."+ps+".rsvd.max"
		}
		v := strconv.FormatUint(l.Limit, 10)
		if err := m.write(d, file, v); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("hugepage size %q is not supported by this host: %w", ps, err)
			}
			return err
		}
		// Reservations are limited too where the kernel has them.
		if err := m.write(d, rsvd, v); err != nil && !errors.Is(err, unix.ENOENT) {
			return err
		}
	}
	return nil
}

// setDevices replaces the device rules: on the v1 devices controller by
// denying all and then writing the rules in order, else with an eBPF program
// on the v2 cgroup.
func (m *Manager) setDevices(devs []specs.LinuxDeviceCgroup) error {
	if len(devs) == 0 {
		return nil
	}
	rules := make([]devRule, 0, len(devs))
	for _, d := range devs {
		r, err := parseDevRule(d)
		if err != nil {
			return err
		}
		rules = append(rules, r)
	}
	if d, ok := m.paths["devices"]; ok && !m.v2["devices"] {
		// Start from "deny all" unless the first rule resets everything
		// anyway.
		if f := rules[0]; f.typ != 0 || f.major >= 0 || f.minor >= 0 {
			if err := m.write(d, "devices.deny", "a"); err != nil {
				return err
			}
		}
		for _, r := range rules {
			file := "devices.deny"
			if r.allow {
				file = "devices.allow"
			}
			if err := m.write(d, file, r.v1String()); err != nil {
				return err
			}
		}
		return nil
	}
	d, ok := m.paths[keyUnified]
	if !ok {
		d, ok = m.paths[keyHybrid]
	}
	if !ok {
		return errors.New("cannot set device rules: neither the v1 devices controller nor cgroup v2 is mounted")
	}
	attach := m.attachDevices
	if attach == nil {
		attach = attachDeviceProgram
	}
	if err := attach(d, deviceProgram(rules)); err != nil {
		return fmt.Errorf("set device rules: %w", err)
	}
	return nil
}

func (m *Manager) setNetworkV1(n *specs.LinuxNetwork) error {
	if n == nil {
		return nil
	}
	if n.ClassID != nil {
		d, err := m.need("net_cls")
		if err != nil {
			return err
		}
		if err := m.write(d, "net_cls.classid", strconv.FormatUint(uint64(*n.ClassID), 10)); err != nil {
			return err
		}
	}
	if len(n.Priorities) > 0 {
		d, err := m.need("net_prio")
		if err != nil {
			return err
		}
		for _, p := range n.Priorities {
			if err := m.write(d, "net_prio.ifpriomap", fmt.Sprintf("%s %d", p.Name, p.Priority)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Manager) setRdma(d string, rdma map[string]specs.LinuxRdma) error {
	devs := make([]string, 0, len(rdma))
	for dev := range rdma {
		devs = append(devs, dev)
	}
	slices.Sort(devs)
	for _, dev := range devs {
		l := rdma[dev]
		if dev == "" || strings.ContainsAny(dev, " \n") {
			return fmt.Errorf("invalid rdma device name %q", dev)
		}
		v := dev
		if l.HcaHandles != nil {
			v += " hca_handle=" + strconv.FormatUint(uint64(*l.HcaHandles), 10)
		}
		if l.HcaObjects != nil {
			v += " hca_object=" + strconv.FormatUint(uint64(*l.HcaObjects), 10)
		}
		if v == dev {
			continue
		}
		if err := m.write(d, "rdma.max", v); err != nil {
			return err
		}
	}
	return nil
}

// setUnified writes the spec's unified map verbatim, in key order.
func (m *Manager) setUnified(d string, u map[string]string) error {
	keys := make([]string, 0, len(u))
	for k := range u {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "" || k == "." || k == ".." || strings.ContainsAny(k, "/\x00") || !strings.Contains(k, ".") {
			return fmt.Errorf("invalid unified resource key %q: not a cgroup file name", k)
		}
		if k == "cgroup.procs" || k == "cgroup.threads" || k == "cgroup.subtree_control" {
			return fmt.Errorf("unified resource key %q may not be set", k)
		}
		if err := m.write(d, k, u[k]); err != nil {
			if errors.Is(err, unix.ENOENT) {
				ctrl, _, _ := strings.Cut(k, ".")
				return fmt.Errorf("unified resource %q: the %s controller is not available: %w", k, ctrl, err)
			}
			return err
		}
	}
	return nil
}

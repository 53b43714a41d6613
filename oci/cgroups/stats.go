package cgroups

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Stats is a cgroup's usage, shaped like the data of runc's
// `events --stats` (the JSON field names are runc's).
type Stats struct {
	CPU     CPU                `json:"cpu"`
	Memory  Memory             `json:"memory"`
	Pids    Pids               `json:"pids"`
	Blkio   Blkio              `json:"blkio"`
	Hugetlb map[string]Hugetlb `json:"hugetlb"`
}

// CPU usage in nanoseconds, and CFS throttling.
type CPU struct {
	Usage      CPUUsage   `json:"usage,omitempty"`
	Throttling Throttling `json:"throttling,omitempty"`
}

// CPUUsage is time spent, in nanoseconds.
type CPUUsage struct {
	Total        uint64   `json:"total,omitempty"`
	Percpu       []uint64 `json:"percpu,omitempty"`
	PercpuKernel []uint64 `json:"percpu_kernel,omitempty"`
	PercpuUser   []uint64 `json:"percpu_user,omitempty"`
	Kernel       uint64   `json:"kernel"`
	User         uint64   `json:"user"`
}

// Throttling counts CFS periods and the time throttled (nanoseconds).
type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// MemoryEntry is one memory counter with its limit and high-water mark.
type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// Memory usage; Swap is memory+swap as on cgroup v1, on v2 too.
type Memory struct {
	Cache     uint64            `json:"cache,omitempty"`
	Usage     MemoryEntry       `json:"usage,omitempty"`
	Swap      MemoryEntry       `json:"swap,omitempty"`
	Kernel    MemoryEntry       `json:"kernel,omitempty"`
	KernelTCP MemoryEntry       `json:"kernelTCP,omitempty"`
	Raw       map[string]uint64 `json:"raw,omitempty"`
}

// Pids counts processes; Limit 0 means no limit.
type Pids struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

// BlkioEntry is one counter of one device.
type BlkioEntry struct {
	Major uint64 `json:"major,omitempty"`
	Minor uint64 `json:"minor,omitempty"`
	Op    string `json:"op,omitempty"`
	Value uint64 `json:"value,omitempty"`
}

// Blkio holds bytes and operations per device, this cgroup and below.
type Blkio struct {
	IoServiceBytesRecursive []BlkioEntry `json:"ioServiceBytesRecursive,omitempty"`
	IoServicedRecursive     []BlkioEntry `json:"ioServicedRecursive,omitempty"`
}

// Hugetlb is the usage of one huge page size.
type Hugetlb struct {
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// Stats reads the cgroup's usage. Controllers that are not mounted, and
// counters the kernel does not have (swap accounting off, no kernel memory
// accounting), are left zero.
func (m *Manager) Stats() (*Stats, error) {
	s := &Stats{Hugetlb: map[string]Hugetlb{}}
	if d, ok := m.paths[keyUnified]; ok {
		if err := statsV2(d, s); err != nil {
			return nil, err
		}
		if err := statHugetlb(d, true, s); err != nil {
			return nil, err
		}
		return s, nil
	}
	for _, f := range []struct {
		ctrl string
		fn   func(string, *Stats) error
	}{
		{"cpu", statCPUV1},
		{"cpuacct", statCpuacct},
		{"memory", statMemoryV1},
		{"pids", statPids},
		{"blkio", statBlkioV1},
	} {
		if d, ok := m.paths[f.ctrl]; ok {
			if err := f.fn(d, s); err != nil {
				return nil, err
			}
		}
	}
	if d, ok := m.paths["hugetlb"]; ok {
		if err := statHugetlb(d, m.v2["hugetlb"], s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// keyValues parses a flat-keyed file ("key value" lines).
func keyValues(dir, file string) (map[string]uint64, error) {
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	kv := make(map[string]uint64)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := parseUint(strings.TrimSpace(v), filepath.Join(dir, file))
		if err != nil {
			return nil, err
		}
		kv[k] = n
	}
	return kv, sc.Err()
}

// optional turns "file does not exist" into success.
func optional(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func statCPUV1(d string, s *Stats) error {
	kv, err := keyValues(d, "cpu.stat")
	if err != nil {
		return optional(err)
	}
	s.CPU.Throttling = Throttling{kv["nr_periods"], kv["nr_throttled"], kv["throttled_time"]}
	return nil
}

// userHz is USER_HZ, the unit of cpuacct.stat.
const userHz = 100

func statCpuacct(d string, s *Stats) error {
	var err error
	if s.CPU.Usage.Total, err = readUint(d, "cpuacct.usage"); err != nil {
		return err
	}
	if s.CPU.Usage.Percpu, err = readUints(d, "cpuacct.usage_percpu"); err != nil {
		return err
	}
	if s.CPU.Usage.PercpuKernel, err = readUints(d, "cpuacct.usage_percpu_sys"); optional(err) != nil {
		return err
	}
	if s.CPU.Usage.PercpuUser, err = readUints(d, "cpuacct.usage_percpu_user"); optional(err) != nil {
		return err
	}
	kv, err := keyValues(d, "cpuacct.stat")
	if err != nil {
		return err
	}
	s.CPU.Usage.User = kv["user"] * (1e9 / userHz)
	s.CPU.Usage.Kernel = kv["system"] * (1e9 / userHz)
	return nil
}

func readUints(dir, file string) ([]uint64, error) {
	str, err := readString(dir, file)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, f := range strings.Fields(str) {
		v, err := parseUint(f, filepath.Join(dir, file))
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func memoryEntryV1(d, prefix string) (MemoryEntry, error) {
	var e MemoryEntry
	var err error
	if e.Usage, err = readUint(d, prefix+".usage_in_bytes"); err != nil {
		return e, err
	}
	if e.Max, err = readUint(d, prefix+".max_usage_in_bytes"); err != nil {
		return e, err
	}
	if e.Failcnt, err = readUint(d, prefix+".failcnt"); err != nil {
		return e, err
	}
	if e.Limit, err = readUint(d, prefix+".limit_in_bytes"); err != nil {
		return e, err
	}
	return e, nil
}

func statMemoryV1(d string, s *Stats) error {
	raw, err := keyValues(d, "memory.stat")
	if err != nil {
		return err
	}
	s.Memory.Raw, s.Memory.Cache = raw, raw["cache"]
	if s.Memory.Usage, err = memoryEntryV1(d, "memory"); err != nil {
		return err
	}
	if s.Memory.Swap, err = memoryEntryV1(d, "memory.memsw"); optional(err) != nil {
		return err
	}
	if s.Memory.Kernel, err = memoryEntryV1(d, "memory.kmem"); optional(err) != nil {
		return err
	}
	if s.Memory.KernelTCP, err = memoryEntryV1(d, "memory.kmem.tcp"); optional(err) != nil {
		return err
	}
	return nil
}

func statPids(d string, s *Stats) error {
	var err error
	if s.Pids.Current, err = readUint(d, "pids.current"); err != nil {
		return optional(err)
	}
	max, err := readString(d, "pids.max")
	if err != nil {
		return err
	}
	if max != "max" {
		if s.Pids.Limit, err = parseUint(max, filepath.Join(d, "pids.max")); err != nil {
			return err
		}
	}
	return nil
}

// statBlkioV1 reads the recursive counters, from the CFQ or BFQ files where
// present, else from the throttling ones that every kernel has.
func statBlkioV1(d string, s *Stats) error {
	for _, prefix := range []string{"blkio.", "blkio.bfq.", "blkio.throttle."} {
		bytes, err := blkioEntries(d, prefix+"io_service_bytes_recursive")
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		ops, err := blkioEntries(d, prefix+"io_serviced_recursive")
		if err != nil {
			return err
		}
		s.Blkio = Blkio{IoServiceBytesRecursive: bytes, IoServicedRecursive: ops}
		return nil
	}
	return nil
}

// blkioEntries parses "8:0 Read 4096" lines; the "Total" line is dropped.
func blkioEntries(d, file string) ([]BlkioEntry, error) {
	str, err := readString(d, file)
	if err != nil {
		return nil, err
	}
	var out []BlkioEntry
	for _, line := range strings.Split(str, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		maj, min, ok := strings.Cut(f[0], ":")
		if !ok {
			continue
		}
		e := BlkioEntry{Op: f[1]}
		var err1, err2, err3 error
		e.Major, err1 = strconv.ParseUint(maj, 10, 64)
		e.Minor, err2 = strconv.ParseUint(min, 10, 64)
		e.Value, err3 = strconv.ParseUint(f[2], 10, 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func statsV2(d string, s *Stats) error {
	kv, err := keyValues(d, "cpu.stat")
	if err != nil {
		return err
	}
	s.CPU.Usage.Total = kv["usage_usec"] * 1000
	s.CPU.Usage.User = kv["user_usec"] * 1000
	s.CPU.Usage.Kernel = kv["system_usec"] * 1000
	s.CPU.Throttling = Throttling{kv["nr_periods"], kv["nr_throttled"], kv["throttled_usec"] * 1000}

	if raw, err := keyValues(d, "memory.stat"); err == nil {
		s.Memory.Raw, s.Memory.Cache = raw, raw["file"]
		u := &s.Memory.Usage
		if u.Usage, err = readUint(d, "memory.current"); err != nil {
			return err
		}
		if u.Limit, err = readUint(d, "memory.max"); err != nil {
			return err
		}
		if u.Max, err = readUint(d, "memory.peak"); optional(err) != nil {
			return err
		}
		if ev, err := keyValues(d, "memory.events"); err == nil {
			u.Failcnt = ev["max"]
		}
		// Report swap as memory+swap, as v1 does.
		if sw, err := readUint(d, "memory.swap.current"); err == nil {
			s.Memory.Swap.Usage = sw + u.Usage
			if s.Memory.Swap.Limit, err = readUint(d, "memory.swap.max"); err != nil {
				return err
			}
			if s.Memory.Swap.Limit != 1<<64-1 && u.Limit != 1<<64-1 {
				s.Memory.Swap.Limit += u.Limit
			}
		}
	} else if optional(err) != nil {
		return err
	}
	if err := statPids(d, s); err != nil {
		return err
	}
	return statIOV2(d, s)
}

// statIOV2 parses io.stat lines such as "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0".
func statIOV2(d string, s *Stats) error {
	str, err := readString(d, "io.stat")
	if err != nil {
		return optional(err)
	}
	for _, line := range strings.Split(str, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		maj, min, ok := strings.Cut(f[0], ":")
		if !ok {
			continue
		}
		major, _ := strconv.ParseUint(maj, 10, 64)
		minor, _ := strconv.ParseUint(min, 10, 64)
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			e := BlkioEntry{Major: major, Minor: minor, Value: n}
			switch k {
			case "rbytes":
				e.Op = "Read"
				s.Blkio.IoServiceBytesRecursive = append(s.Blkio.IoServiceBytesRecursive, e)
			case "wbytes":
				e.Op = "Write"
				s.Blkio.IoServiceBytesRecursive = append(s.Blkio.IoServiceBytesRecursive, e)
			case "rios":
				e.Op = "Read"
				s.Blkio.IoServicedRecursive = append(s.Blkio.IoServicedRecursive, e)
			case "wios":
				e.Op = "Write"
				s.Blkio.IoServicedRecursive = append(s.Blkio.IoServicedRecursive, e)
			}
		}
	}
	return nil
}

// statHugetlb finds the page sizes from the cgroup's own file names.
func statHugetlb(d string, v2 bool, s *Stats) error {
	ents, err := os.ReadDir(d)
	if err != nil {
		return err
	}
	for _, e := range ents {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, "hugetlb.")
		if !ok {
			continue
		}
		size, file, ok := strings.Cut(rest, ".")
		if !ok {
			continue
		}
		var h Hugetlb
		switch {
		case v2 && file == "current":
			if h.Usage, err = readUint(d, name); err != nil {
				return err
			}
			if ev, err := keyValues(d, "hugetlb."+size+".events"); err == nil {
				h.Failcnt = ev["max"]
			}
		case !v2 && file == "usage_in_bytes":
			if h.Usage, err = readUint(d, name); err != nil {
				return err
			}
			if h.Max, err = readUint(d, "hugetlb."+size+".max_usage_in_bytes"); err != nil {
				return err
			}
			if h.Failcnt, err = readUint(d, "hugetlb."+size+".failcnt"); err != nil {
				return err
			}
		default:
			continue
		}
		s.Hugetlb[size] = h
	}
	return nil
}

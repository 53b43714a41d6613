package lcr

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// parseSize parses a byte count with an optional k, m, g or t suffix
// (powers of 1024, as docker and runc accept); -1 means unlimited.
func parseSize(s string) (int64, error) {
	if s == "-1" {
		return -1, nil
	}
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "b"), "i")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return v * mult, nil
}

func cmdUpdate(g *globals, args []string) error {
	fs := newFlags(g, "update")
	var resources string
	str := map[string]*string{}
	for _, n := range []string{"memory", "memory-swap", "memory-reservation", "kernel-memory", "kernel-memory-tcp",
		"cpu-shares", "cpu-quota", "cpu-period", "cpu-rt-period", "cpu-rt-runtime", "cpuset-cpus", "cpuset-mems",
		"pids-limit", "blkio-weight", "cpu-idle"} {
		str[n] = fs.String(n, "", "set "+n)
	}
	fs.StringVar(&resources, "resources", "", "JSON file with linux.resources (- for stdin)")
	fs.StringVar(&resources, "r", "", "JSON file with linux.resources (- for stdin)")
	rest, err := parse(fs, args, 1, 1, "update [options] <container-id>")
	if err != nil {
		return err
	}
	c, err := load(g, rest[0])
	if err != nil {
		return err
	}
	r := &specs.LinuxResources{}
	if resources != "" {
		var in io.Reader = os.Stdin
		if resources != "-" {
			f, err := os.Open(resources)
			if err != nil {
				return err
			}
			defer f.Close()
			in = f
		}
		if err := json.NewDecoder(in).Decode(r); err != nil {
			return fmt.Errorf("resources %s: %w", resources, err)
		}
	}
	set := func(name string) (string, bool) { v := *str[name]; return v, v != "" }
	mem := func() *specs.LinuxMemory {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		return r.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		return r.CPU
	}
	for _, f := range []struct {
		name string
		dst  func() **int64
	}{
		{"memory", func() **int64 { return &mem().Limit }},
		{"memory-swap", func() **int64 { return &mem().Swap }},
		{"memory-reservation", func() **int64 { return &mem().Reservation }},
		{"kernel-memory", func() **int64 { return &mem().Kernel }},
		{"kernel-memory-tcp", func() **int64 { return &mem().KernelTCP }},
	} {
		if v, ok := set(f.name); ok {
			n, err := parseSize(v)
			if err != nil {
				return usageErrorf("--%s: %v", f.name, err)
			}
			*f.dst() = &n
		}
	}
	for _, f := range []struct {
		name string
		dst  func(uint64)
	}{
		{"cpu-shares", func(v uint64) { cpu().Shares = &v }},
		{"cpu-period", func(v uint64) { cpu().Period = &v }},
		{"cpu-rt-period", func(v uint64) { cpu().RealtimePeriod = &v }},
	} {
		if v, ok := set(f.name); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return usageErrorf("--%s %q: want a non-negative number", f.name, v)
			}
			f.dst(n)
		}
	}
	for _, f := range []struct {
		name string
		dst  func(int64)
	}{
		{"cpu-quota", func(v int64) { cpu().Quota = &v }},
		{"cpu-rt-runtime", func(v int64) { cpu().RealtimeRuntime = &v }},
		{"cpu-idle", func(v int64) { cpu().Idle = &v }},
		{"pids-limit", func(v int64) { r.Pids = &specs.LinuxPids{Limit: v} }},
	} {
		if v, ok := set(f.name); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return usageErrorf("--%s %q: want a number", f.name, v)
			}
			f.dst(n)
		}
	}
	if v, ok := set("cpuset-cpus"); ok {
		cpu().Cpus = v
	}
	if v, ok := set("cpuset-mems"); ok {
		cpu().Mems = v
	}
	if v, ok := set("blkio-weight"); ok {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || (n != 0 && (n < 10 || n > 1000)) {
			return usageErrorf("--blkio-weight %q: want 10 to 1000", v)
		}
		w := uint16(n)
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
	}
	return c.Update(r)
}

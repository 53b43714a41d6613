package engine

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/oci/cgroups"
)

// StatsOptions of Stats: Stream sends a sample every second until ctx
// ends; otherwise one sample goes out, taken a second after a first one
// so that its CPU figures have a base (Docker's stream=false), unless
// OneShot asks for it at once.
type StatsOptions struct {
	Stream  bool
	OneShot bool
}

// Stats reads the container's cgroup counters, as Docker's stats
// endpoint shapes them, and gives each sample to send. A container that
// is not running gives empty samples.
func (e *Engine) Stats(ctx context.Context, id string, o StatsOptions, send func(*api.Stats) error) error {
	c, err := e.Lookup(id)
	if err != nil {
		return err
	}
	c.mu.Lock()
	cid, name := c.rec.ID, "/"+c.rec.Name
	c.mu.Unlock()
	var prev *api.Stats
	sample := func() *api.Stats {
		s := e.sample(c)
		s.ID, s.Name = cid, name
		if prev != nil {
			s.PreCPUStats, s.PreRead = prev.CPUStats, prev.Read
		}
		prev = s
		return s
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	first := sample()
	if !o.Stream {
		if !o.OneShot && !first.Read.IsZero() {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick.C:
			}
			first = sample()
		}
		return send(first)
	}
	if err := send(first); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if err := send(sample()); err != nil {
			return err
		}
		c.mu.Lock()
		removed := c.removed
		c.mu.Unlock()
		if removed {
			return nil
		}
	}
}

// sample takes one reading; a container that is not running (or whose
// cgroup is gone) gives a sample with only the time set.
func (e *Engine) sample(c *Container) *api.Stats {
	c.mu.Lock()
	running, cid := c.running(), c.rec.ID
	c.mu.Unlock()
	s := &api.Stats{}
	if !running {
		return s
	}
	m, err := cgroups.New("/petrel/"+cid, cid)
	if err != nil {
		return s
	}
	cs, err := m.Stats()
	if err != nil {
		return s
	}
	s.Read = time.Now().UTC()
	s.CPUStats = api.CPUStats{
		CPUUsage: api.CPUUsage{TotalUsage: cs.CPU.Usage.Total, PercpuUsage: cs.CPU.Usage.Percpu,
			UsageInKernelmode: cs.CPU.Usage.Kernel, UsageInUsermode: cs.CPU.Usage.User},
		SystemUsage: systemCPUUsage(), OnlineCPUs: uint32(runtime.NumCPU()),
		ThrottlingData: api.ThrottlingData{Periods: cs.CPU.Throttling.Periods,
			ThrottledPeriods: cs.CPU.Throttling.ThrottledPeriods, ThrottledTime: cs.CPU.Throttling.ThrottledTime},
	}
	mem := cs.Memory
	s.MemoryStats = api.MemoryStats{Usage: mem.Usage.Usage, MaxUsage: mem.Usage.Max, Failcnt: mem.Usage.Failcnt,
		Limit: mem.Usage.Limit, Stats: mem.Raw}
	// No limit: the host's memory is the limit, as Docker reports it.
	if total := hostMemory(); total > 0 && (s.MemoryStats.Limit == 0 || s.MemoryStats.Limit > total) {
		s.MemoryStats.Limit = total
	}
	s.PidsStats = api.PidsStats{Current: cs.Pids.Current, Limit: cs.Pids.Limit}
	s.BlkioStats.IoServiceBytesRecursive = blkio(cs.Blkio.IoServiceBytesRecursive)
	s.BlkioStats.IoServicedRecursive = blkio(cs.Blkio.IoServicedRecursive)
	return s
}

func blkio(in []cgroups.BlkioEntry) []api.BlkioStatEntry {
	out := make([]api.BlkioStatEntry, 0, len(in))
	for _, b := range in {
		out = append(out, api.BlkioStatEntry{Major: b.Major, Minor: b.Minor, Op: b.Op, Value: b.Value})
	}
	return out
}

func hostMemory() uint64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}

// clockTicks is USER_HZ, 100 on every Linux architecture Petrel runs on.
const clockTicks = 100

// systemCPUUsage is the host's CPU time in nanoseconds from /proc/stat,
// the base Docker's CPU percentage is taken against.
func systemCPUUsage() uint64 {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[0] != "cpu" {
			continue
		}
		var ticks uint64
		for _, v := range fields[1:8] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0
			}
			ticks += n
		}
		return ticks * (1e9 / clockTicks)
	}
	return 0
}

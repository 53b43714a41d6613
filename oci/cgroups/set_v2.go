package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/opencontainers/runtime-spec/specs-go"
)

// sharesToWeight converts v1 cpu shares [2, 262144] to a v2 cpu.weight
// [1, 10000] with runc's linear formula; 0 stays 0 (unset).
func sharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	shares = min(max(shares, 2), 262144)
	return 1 + (shares-2)*9999/262142
}

// blkioToIOWeight converts a v1 blkio weight [10, 1000] to a v2 io.weight
// [1, 10000]; 0 stays 0 (unset).
func blkioToIOWeight(w uint16) uint64 {
	if w == 0 {
		return 0
	}
	v := uint64(min(max(w, 10), 1000))
	return 1 + (v-10)*9999/990
}

// swapToV2 converts the spec's swap (v1 semantics: memory+swap) to the v2
// memory.swap.max value, as runc does: -1 is max, 0 unset.
func swapToV2(swap, limit int64) (int64, error) {
	if limit == -1 && swap == 0 {
		return -1, nil
	}
	if swap == -1 || swap == 0 {
		return swap, nil
	}
	if limit == 0 || limit == -1 {
		return 0, errors.New("cannot set a swap limit without a memory limit")
	}
	if limit < 0 {
		return 0, fmt.Errorf("invalid memory limit %d", limit)
	}
	if swap < limit {
		return 0, fmt.Errorf("memory+swap limit %d is below the memory limit %d", swap, limit)
	}
	return swap - limit, nil
}

// v2Num formats a limit for a v2 .max/.low/.high file: -1 is "max".
func v2Num(v int64) string {
	if v == -1 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func (m *Manager) setV2(d string, r *specs.LinuxResources) error {
	if r.Pids != nil && r.Pids.Limit != 0 {
		if err := m.write(d, "pids.max", pidsMax(r.Pids.Limit)); err != nil {
			return err
		}
	}
	if err := m.setMemoryV2(d, r.Memory); err != nil {
		return err
	}
	if err := m.setIOV2(d, r.BlockIO); err != nil {
		return err
	}
	if c := r.CPU; c != nil {
		if err := m.setCPUV2(d, c); err != nil {
			return err
		}
		if err := m.setCpuset(d, c); err != nil {
			return err
		}
	}
	if err := m.setHugetlb(r.HugepageLimits); err != nil {
		return err
	}
	if len(r.Rdma) > 0 {
		if err := m.setRdma(d, r.Rdma); err != nil {
			return err
		}
	}
	if err := m.setDevices(r.Devices); err != nil {
		return err
	}
	// net_cls and net_prio do not exist on v2; runc ignores them too.
	return m.setUnified(d, r.Unified)
}

func (m *Manager) setMemoryV2(d string, mem *specs.LinuxMemory) error {
	if mem == nil {
		return nil
	}
	limit, swap, low := val(mem.Limit), val(mem.Swap), val(mem.Reservation)
	if limit == 0 && swap == 0 && low == 0 {
		return nil
	}
	if limit < -1 || low < -1 {
		return fmt.Errorf("invalid memory limit %d or reservation %d", limit, low)
	}
	sw, err := swapToV2(swap, limit)
	if err != nil {
		return err
	}
	if val(mem.CheckBeforeUpdate) && limit > 0 {
		usage, err := readUint(d, "memory.current")
		if err != nil {
			return err
		}
		if usage >= uint64(limit) {
			return fmt.Errorf("memory limit %d is not above the current usage %d", limit, usage)
		}
	}
	// memory == swap in the spec means no swap at all.
	if sw != 0 || swap > 0 {
		if err := m.write(d, "memory.swap.max", v2Num(sw)); err != nil {
			return err
		}
	}
	if limit != 0 {
		if err := m.write(d, "memory.max", v2Num(limit)); err != nil {
			return err
		}
	}
	if low != 0 {
		if err := m.write(d, "memory.low", v2Num(low)); err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) setIOV2(d string, b *specs.LinuxBlockIO) error {
	if b == nil {
		return nil
	}
	if b.Weight != nil || len(b.WeightDevice) > 0 {
		// BFQ takes v1's weights as they are, per device too; without it
		// only a converted overall io.weight exists.
		bfq := false
		if _, err := os.Stat(filepath.Join(d, "io.bfq.weight")); err == nil {
			bfq = true
		}
		if w := val(b.Weight); w != 0 {
			file, v := "io.weight", strconv.FormatUint(blkioToIOWeight(w), 10)
			if bfq {
				file, v = "io.bfq.weight", strconv.FormatUint(uint64(w), 10)
			}
			if err := m.write(d, file, v); err != nil {
				return err
			}
		}
		for _, wd := range b.WeightDevice {
			w := val(wd.Weight)
			if w == 0 {
				continue
			}
			if !bfq {
				return fmt.Errorf("per-device block io weight for %d:%d needs the BFQ I/O scheduler (io.bfq.weight)", wd.Major, wd.Minor)
			}
			if err := m.write(d, "io.bfq.weight", fmt.Sprintf("%d:%d %d", wd.Major, wd.Minor, w)); err != nil {
				return err
			}
		}
	}
	for _, t := range []struct {
		key  string
		devs []specs.LinuxThrottleDevice
	}{
		{"rbps", b.ThrottleReadBpsDevice},
		{"wbps", b.ThrottleWriteBpsDevice},
		{"riops", b.ThrottleReadIOPSDevice},
		{"wiops", b.ThrottleWriteIOPSDevice},
	} {
		for _, td := range t.devs {
			// 0 meant "no limit" on v1.
			rate := "max"
			if td.Rate != 0 {
				rate = strconv.FormatUint(td.Rate, 10)
			}
			if err := m.write(d, "io.max", fmt.Sprintf("%d:%d %s=%s", td.Major, td.Minor, t.key, rate)); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m *Manager) setCPUV2(d string, c *specs.LinuxCPU) error {
	if val(c.RealtimePeriod) != 0 || val(c.RealtimeRuntime) != 0 {
		return errors.New("cpu realtime period and runtime are not supported on cgroup v2")
	}
	if w := sharesToWeight(val(c.Shares)); w != 0 {
		if err := m.write(d, "cpu.weight", strconv.FormatUint(w, 10)); err != nil {
			return err
		}
	}
	if c.Idle != nil {
		if err := m.write(d, "cpu.idle", strconv.FormatInt(*c.Idle, 10)); err != nil {
			return err
		}
	}
	quota, period := val(c.Quota), val(c.Period)
	if quota != 0 || period != 0 {
		q := "max"
		switch {
		case quota > 0:
			q = strconv.FormatInt(quota, 10)
		case quota == 0:
			// Only the period changes: keep the current quota.
			cur, err := readString(d, "cpu.max")
			if err != nil {
				return err
			}
			q, _, _ = strings.Cut(cur, " ")
		}
		if period == 0 {
			period = 100000 // the kernel's default
		}
		if err := m.write(d, "cpu.max", q+" "+strconv.FormatUint(period, 10)); err != nil {
			return err
		}
	}
	if c.Burst != nil {
		if err := m.write(d, "cpu.max.burst", strconv.FormatUint(*c.Burst, 10)); err != nil {
			return err
		}
	}
	return nil
}

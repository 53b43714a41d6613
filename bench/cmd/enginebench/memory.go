package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// usage is the memory of a set of processes from smaps_rollup, KiB.
type usage struct {
	Procs   int   `json:"procs"`
	PssKiB  int64 `json:"pss_kib"`
	RssKiB  int64 `json:"rss_kib"`
	PrivKiB int64 `json:"private_kib"` // Private_Clean + Private_Dirty
}

func (u *usage) add(v usage) {
	u.Procs += v.Procs
	u.PssKiB += v.PssKiB
	u.RssKiB += v.RssKiB
	u.PrivKiB += v.PrivKiB
}

// parseRollup reads the Pss, Rss and Private lines of a smaps_rollup.
func parseRollup(data []byte) (usage, error) {
	u := usage{Procs: 1}
	seen := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "Pss:":
			u.PssKiB, seen = n, true
		case "Rss:":
			u.RssKiB = n
		case "Private_Clean:", "Private_Dirty:":
			u.PrivKiB += n
		}
	}
	if !seen {
		return usage{}, fmt.Errorf("no Pss line in %q", data)
	}
	return u, nil
}

// memOf sums the memory of pids; a process that is gone is an error.
func memOf(pids []int) (usage, error) {
	var total usage
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			return usage{}, err
		}
		u, err := parseRollup(b)
		if err != nil {
			return usage{}, fmt.Errorf("pid %d: %w", pid, err)
		}
		total.add(u)
	}
	return total, nil
}

// memResult is the memory of one engine: its daemons idle and with
// Containers running, and the per-container host processes (shims,
// conmon) then.
type memResult struct {
	Containers int   `json:"containers"`
	Idle       usage `json:"daemons_idle"`
	Loaded     usage `json:"daemons_loaded"`
	PerCtr     usage `json:"container_processes"`
	// Per container, KiB of PSS: the host processes' share (a spare shim
	// that is up counts in it), the daemons' growth, and their sum.
	ShimKiB   float64 `json:"shim_pss_kib_per_container"`
	GrowthKiB float64 `json:"daemon_growth_pss_kib_per_container"`
	TotalKiB  float64 `json:"host_pss_kib_per_container"`
}

// settle is how long processes get after a change before memory is read:
// shims free what start-up needed, daemons finish their bookkeeping.
const settle = 3 * time.Second

// measureMemory reads the engine's daemons idle, runs n sleeping
// containers, reads the daemons and the per-container processes, and
// removes the containers.
func measureMemory(e *engine, n int) (memResult, error) {
	r := memResult{Containers: n}
	time.Sleep(settle)
	var err error
	if r.Idle, err = memOf(e.daemonPids()); err != nil {
		return r, fmt.Errorf("daemons idle: %w", err)
	}
	defer e.removeAll()
	for i := range n {
		args := append([]string{"run", "--detach", "--name", fmt.Sprintf("ebm-%s-%d", e.name, i)}, e.opts...)
		if _, err := e.must(append(args, e.image, "sleep", "100000")...); err != nil {
			return r, err
		}
	}
	time.Sleep(settle)
	if r.Loaded, err = memOf(e.daemonPids()); err != nil {
		return r, fmt.Errorf("daemons with %d containers: %w", n, err)
	}
	pids := procsMatching(e.hostProc)
	if len(pids) < n || len(pids) > n+e.spareProcs {
		return r, fmt.Errorf("%d containers running, but %d per-container host processes found", n, len(pids))
	}
	if r.PerCtr, err = memOf(pids); err != nil {
		return r, fmt.Errorf("per-container processes: %w", err)
	}
	r.ShimKiB = float64(r.PerCtr.PssKiB) / float64(n)
	r.GrowthKiB = float64(r.Loaded.PssKiB-r.Idle.PssKiB) / float64(n)
	r.TotalKiB = r.ShimKiB + r.GrowthKiB
	return r, nil
}

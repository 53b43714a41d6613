package main

import (
	"fmt"
	"sort"
)

// peer is the memory of another engine with the same number of idle
// containers, from an enginebench report: its daemons' PSS idle (dockerd
// + containerd; podman has none) and, per container, its per-container
// processes (containerd-shim-runc-v2, conmon) and its daemons' growth.
type peer struct {
	Name         string  `json:"name"`
	Version      string  `json:"version,omitempty"`
	Skipped      string  `json:"skipped,omitempty"`
	Containers   int     `json:"containers,omitempty"`
	IdleKiB      int64   `json:"idle_pss_kib"`
	PerContainer float64 `json:"per_container_kib"`
}

// engineReport is the part of enginebench's JSON report read here.
type engineReport struct {
	Date    string `json:"date"`
	Subject string `json:"subject"`
	Engines []struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Skipped string `json:"skipped"`
		Dropped bool   `json:"dropped"`
	} `json:"engines"`
	Speedup map[string]map[string]float64 `json:"speedup"`
	Memory  map[string]struct {
		Containers int `json:"containers"`
		Idle       struct {
			PssKiB int64 `json:"pss_kib"`
		} `json:"daemons_idle"`
		TotalKiB float64 `json:"host_pss_kib_per_container"`
	} `json:"memory"`
}

// peersFrom reads the peers' memory from an enginebench report that was
// run just before (make bench-footprint does), skipping its subject.
func peersFrom(path string) ([]peer, error) {
	var r engineReport
	if err := readJSON(path, &r); err != nil {
		return nil, err
	}
	var out []peer
	for _, e := range r.Engines {
		if e.Name == r.Subject {
			continue
		}
		p := peer{Name: e.Name, Version: e.Version, Skipped: e.Skipped}
		m, ok := r.Memory[e.Name]
		switch {
		case p.Skipped != "":
		case !ok || m.Containers == 0:
			p.Skipped = "no memory figures in " + path
			if e.Dropped {
				p.Skipped = "failed in enginebench (see its report)"
			}
		default:
			p.Containers, p.IdleKiB, p.PerContainer = m.Containers, m.Idle.PssKiB, m.TotalKiB
		}
		out = append(out, p)
	}
	return out, nil
}

// engineRatios are the lifecycle speed-ups of a saved enginebench report:
// the faster peer's median over petrel's, per op.
func engineRatios(r engineReport) []ratio {
	var out []ratio
	for _, mode := range []string{"single", "concurrent"} {
		ops := make([]string, 0, len(r.Speedup[mode]))
		for op := range r.Speedup[mode] {
			ops = append(ops, op)
		}
		sort.Strings(ops)
		for _, op := range ops {
			out = append(out, ratio{"engine", fmt.Sprintf("%s %s, fastest peer/%s", mode, op, r.Subject), r.Speedup[mode][op]})
		}
	}
	return out
}

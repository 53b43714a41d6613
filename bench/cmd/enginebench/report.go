package main

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/petrel-edge/petrel/bench/internal/hostinfo"
	"github.com/petrel-edge/petrel/bench/internal/stats"
	"github.com/petrel-edge/petrel/bench/internal/table"
)

// Goals of the subject engine (issue 4): every operation at least this
// many times faster than the faster of the others, one at a time and all at
// once; the host-side memory of each container and the daemon's idle PSS.
const (
	speedGoal     = 4.0
	speedAim      = 6.0
	perCtrGoalKiB = 2048
	perCtrAimKiB  = 1536
	idleGoalKiB   = 12 * 1024
)

// report is what enginebench prints, and its JSON form (also written with
// -o for other tables to read).
type report struct {
	Date        string        `json:"date"`
	Host        hostinfo.Info `json:"host"`
	Iterations  int           `json:"iterations"`
	Warmup      int           `json:"warmup"`
	Concurrency int           `json:"concurrency"`
	Rounds      int           `json:"rounds"`
	Subject     string        `json:"subject"`
	Engines     []engineInfo  `json:"engines"`
	// Single and Concurrent are per op and engine: the wall time of one
	// client call, and of a whole phase of Concurrency clients at once.
	Single     map[string]map[string]stats.Summary `json:"single"`
	Concurrent map[string]map[string]stats.Summary `json:"concurrent"`
	// Speedup is, per mode ("single", "concurrent") and op, the faster
	// other engine's median over the subject's.
	Speedup map[string]map[string]float64 `json:"speedup"`
	Memory  map[string]memResult          `json:"memory"`
	// NetworkCost is, per engine, the median of `run --rm` on its default
	// network less the median with --network none (ms), with -network.
	NetworkCost map[string]float64 `json:"network_cost_ms,omitempty"`

	single, conc map[string]map[string][]time.Duration
}

type engineInfo struct {
	Name    string `json:"name"`
	Path    string `json:"path,omitempty"`
	Version string `json:"version,omitempty"`
	Skipped string `json:"skipped,omitempty"`
	// Errors are the failed iterations and rounds, not counted.
	Errors  []string `json:"errors,omitempty"`
	Dropped bool     `json:"dropped,omitempty"`
}

func newReport(o options, subject string) *report {
	return &report{
		Date:       time.Now().UTC().Format(time.RFC3339),
		Iterations: o.n, Warmup: o.warmup, Concurrency: o.concurrency, Rounds: o.rounds, Subject: subject,
		Single:     map[string]map[string]stats.Summary{},
		Concurrent: map[string]map[string]stats.Summary{},
		Speedup:    map[string]map[string]float64{},
		Memory:     map[string]memResult{},
		single:     map[string]map[string][]time.Duration{},
		conc:       map[string]map[string][]time.Duration{},
	}
}

func addTo(m map[string]map[string][]time.Duration, name string, t map[string]time.Duration) {
	for op, d := range t {
		if m[op] == nil {
			m[op] = map[string][]time.Duration{}
		}
		m[op][name] = append(m[op][name], d)
	}
}

func (r *report) addSingle(name string, t map[string]time.Duration)     { addTo(r.single, name, t) }
func (r *report) addConcurrent(name string, t map[string]time.Duration) { addTo(r.conc, name, t) }

// finish computes the summaries and the subject's speed-ups.
func (r *report) finish() {
	defer r.networkCost()
	for _, m := range []struct {
		samples map[string]map[string][]time.Duration
		out     map[string]map[string]stats.Summary
		mode    string
	}{{r.single, r.Single, "single"}, {r.conc, r.Concurrent, "concurrent"}} {
		for op, byEngine := range m.samples {
			m.out[op] = map[string]stats.Summary{}
			for name, s := range byEngine {
				m.out[op][name] = stats.Summarize(s)
			}
		}
		for op, byEngine := range m.out {
			if x := speedup(byEngine, r.Subject); x > 0 {
				if r.Speedup[m.mode] == nil {
					r.Speedup[m.mode] = map[string]float64{}
				}
				r.Speedup[m.mode][op] = x
			}
		}
	}
}

// speedup returns the fastest other engine's median over the subject's,
// or 0 when either is missing.
// ops are the operations measured: ops, and opNet with -network.
func (r *report) ops() []string {
	if _, ok := r.Single[opNet]; ok {
		return append(append([]string{}, ops...), opNet)
	}
	return ops
}

// netGoal: the subject's added network cost is under half of the faster
// other engine's.
const netGoal = 0.5

// networkCost fills NetworkCost from the one-at-a-time medians.
func (r *report) networkCost() {
	for name, net := range r.Single[opNet] {
		if none, ok := r.Single["run --rm"][name]; ok && net.N > 0 && none.N > 0 {
			if r.NetworkCost == nil {
				r.NetworkCost = map[string]float64{}
			}
			r.NetworkCost[name] = net.MedianMS - none.MedianMS
		}
	}
}

// printNetwork prints the cost of the default network per engine, the
// ratios to the subject's and the goal.
func (r *report) printNetwork(w io.Writer, names, others []string) {
	if len(r.NetworkCost) == 0 {
		return
	}
	fmt.Fprintf(w, "\nnetwork: run --rm IMAGE true on the default network less with --network none (one at a time, difference of medians, ms)\n\n")
	head := []string{""}
	head = append(head, names...)
	for _, o := range others {
		head = append(head, o+"/"+r.Subject)
	}
	cost := []string{"added by the network"}
	for _, n := range names {
		if c, ok := r.NetworkCost[n]; ok {
			cost = append(cost, fmt.Sprintf("%.1f", c))
		} else {
			cost = append(cost, "—")
		}
	}
	subj, hasSubj := r.NetworkCost[r.Subject]
	best := math.Inf(1)
	for _, o := range others {
		c, ok := r.NetworkCost[o]
		if ok {
			best = min(best, c)
		}
		if ok && hasSubj && subj > 0 {
			cost = append(cost, fmt.Sprintf("%.2fx", c/subj))
		} else {
			cost = append(cost, "—")
		}
	}
	table.Write(w, [][]string{head, cost}, 1)
	if hasSubj && !math.IsInf(best, 1) {
		fmt.Fprintf(w, "goal: %s's network cost under %.0f%% of the faster other's (%.1f ms): %.1f ms, %.2f of it: %s\n",
			r.Subject, netGoal*100, best, subj, subj/best, verdict(subj < netGoal*best, subj < netGoal*best))
	}
}

func speedup(byEngine map[string]stats.Summary, subject string) float64 {
	subj, ok := byEngine[subject]
	if !ok || subj.MedianMS <= 0 {
		return 0
	}
	best := math.Inf(1)
	for name, s := range byEngine {
		if name != subject && s.N > 0 {
			best = min(best, s.MedianMS)
		}
	}
	if math.IsInf(best, 1) {
		return 0
	}
	return best / subj.MedianMS
}

func (r *report) failed() bool {
	for _, e := range r.Engines {
		if len(e.Errors) > 0 {
			return true
		}
	}
	return false
}

// measured returns the engines that were started, subject first.
func (r *report) measured() []string {
	var names []string
	for _, e := range r.Engines {
		if e.Skipped == "" {
			names = append(names, e.Name)
		}
	}
	return names
}

// print writes the report as tables.
func (r *report) print(w io.Writer) {
	h := r.Host
	fmt.Fprintf(w, "host: %s, kernel %s, %d CPUs, %s; %s\n", h.Arch, h.Kernel, h.CPUs, h.Cgroup, r.Date)
	for _, e := range r.Engines {
		if e.Skipped != "" {
			fmt.Fprintf(w, "%-7s skipped: %s\n", e.Name, e.Skipped)
		} else {
			fmt.Fprintf(w, "%-7s %s (%s)\n", e.Name, e.Version, e.Path)
		}
	}
	names := r.measured()
	var others []string
	for _, n := range names {
		if n != r.Subject {
			others = append(others, n)
		}
	}
	timeTable := func(title string, sums map[string]map[string]stats.Summary, mode string) {
		fmt.Fprintf(w, "\n%s\n\n", title)
		head := []string{"op"}
		head = append(head, names...)
		for _, o := range others {
			head = append(head, o+"/"+r.Subject)
		}
		head = append(head, "speed-up")
		rows := [][]string{head}
		for _, op := range r.ops() {
			row := []string{op}
			for _, n := range names {
				if s, ok := sums[op][n]; ok {
					row = append(row, fmt.Sprintf("%.1f / %.1f", s.MedianMS, s.P90MS))
				} else {
					row = append(row, "—")
				}
			}
			for _, o := range others {
				row = append(row, stats.Ratio(sums[op][o].MedianMS, sums[op][r.Subject].MedianMS))
			}
			row = append(row, goalMark(r.Speedup[mode][op]))
			rows = append(rows, row)
		}
		table.Write(w, rows, 1)
	}
	timeTable(fmt.Sprintf("one at a time: %d iterations (+%d warm-up), interleaved; ms per client call, median / p90", r.Iterations, r.Warmup), r.Single, "single")
	if len(r.Concurrent) > 0 {
		timeTable(fmt.Sprintf("%d at once: %d round(s); ms from the first client's start to the last one's exit, median / p90", r.Concurrency, r.Rounds), r.Concurrent, "concurrent")
	}
	fmt.Fprintf(w, "speed-up: the faster other engine's median over %s's (goal ≥ %.0fx, aim %.0fx)\n", r.Subject, speedGoal, speedAim)
	r.printNetwork(w, names, others)
	if len(r.Memory) > 0 {
		var n int
		for _, m := range r.Memory {
			n = m.Containers
		}
		fmt.Fprintf(w, "\nmemory (PSS from smaps_rollup, MiB): daemons idle, and per container with %d running\n\n", n)
		rows := [][]string{{"", "daemons idle", "daemons loaded", "per ctr: host procs", "+ daemon growth", "= total", "daemons", "per-container procs"}}
		for _, n := range names {
			m, ok := r.Memory[n]
			if !ok {
				continue
			}
			rows = append(rows, []string{n, mib(float64(m.Idle.PssKiB)), mib(float64(m.Loaded.PssKiB)), mib(m.ShimKiB), mib(m.GrowthKiB), mib(m.TotalKiB),
				fmt.Sprint(m.Idle.Procs), fmt.Sprintf("%s ×%d", memWhat(n), m.PerCtr.Procs)})
		}
		table.Write(w, rows, 1)
		if m, ok := r.Memory[r.Subject]; ok {
			fmt.Fprintf(w, "goals: %s idle ≤ %s MiB: %s; per container ≤ %s MiB (aim %s): %s\n", r.Subject,
				mib(idleGoalKiB), verdict(float64(m.Idle.PssKiB) <= idleGoalKiB, float64(m.Idle.PssKiB) <= idleGoalKiB),
				mib(perCtrGoalKiB), mib(perCtrAimKiB), verdict(m.TotalKiB <= perCtrGoalKiB, m.TotalKiB <= perCtrAimKiB))
		}
	}
	for _, e := range r.Engines {
		if len(e.Errors) == 0 {
			continue
		}
		what := "not counted"
		if e.Dropped {
			what = "then dropped"
		}
		fmt.Fprintf(w, "\n%s FAILED %d time(s), %s:\n", e.Name, len(e.Errors), what)
		for _, msg := range e.Errors {
			fmt.Fprintf(w, "  %s\n", msg)
		}
	}
}

// memWhat names the processes counted per container for an engine.
func memWhat(engine string) string {
	switch engine {
	case "petrel":
		return "petrel-shim"
	case "docker":
		return "containerd-shim-runc-v2"
	case "podman":
		return "conmon"
	}
	return "?"
}

func mib(kib float64) string { return fmt.Sprintf("%.2f", kib/1024) }

// goalMark formats a speed-up with its verdict against the goal and aim.
func goalMark(x float64) string {
	if x <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.1fx %s", x, verdict(x >= speedGoal, x >= speedAim))
}

func verdict(goal, aim bool) string {
	switch {
	case aim:
		return "met"
	case goal:
		return "goal met"
	}
	return "NOT met"
}

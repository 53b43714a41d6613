package main

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/petrel-edge/petrel/bench/internal/hostinfo"
	"github.com/petrel-edge/petrel/bench/internal/stats"
	"github.com/petrel-edge/petrel/bench/internal/table"
)

// report is what runtimebench prints, and its JSON form.
type report struct {
	Host       hostinfo.Info                       `json:"host"`
	Iterations int                                 `json:"iterations"`
	Warmup     int                                 `json:"warmup"`
	States     int                                 `json:"states_per_iteration"`
	Subject    string                              `json:"subject"`
	Runtimes   []runtimeInfo                       `json:"runtimes"`
	Ops        map[string]map[string]stats.Summary `json:"ops"`
	// RSS is the median and maximum peak RSS (VmHWM) of the runtime
	// process of `run`, KiB.
	RSS map[string]rss `json:"run_peak_rss_kib"`
	// Ratios are subject/other of the medians, per op and other runtime.
	Ratios map[string]map[string]float64 `json:"ratios"`
	// Leftovers counts the `run`s that left their container behind.
	Leftovers map[string]int `json:"run_leftovers,omitempty"`
	// Floor is fork+exec+wait of a static `busybox true`, measured in the
	// same loop: no runtime call can be faster on this host.
	Floor stats.Summary `json:"exec_floor"`

	floor []time.Duration

	samples    map[string]map[string][]time.Duration
	rssSamples map[string][]int64
}

type runtimeInfo struct {
	Name    string `json:"name"`
	Path    string `json:"path,omitempty"`
	Version string `json:"version,omitempty"`
	Skipped string `json:"skipped,omitempty"`
	// Errors are the failed iterations, not counted in the figures.
	Errors  []string `json:"errors,omitempty"`
	Dropped bool     `json:"dropped,omitempty"`
}

type rss struct {
	MedianKiB int64 `json:"median"`
	MaxKiB    int64 `json:"max"`
}

func newReport(o options) *report {
	return &report{
		Iterations: o.n, Warmup: o.warmup, States: o.states, Subject: o.subject,
		Ops:        map[string]map[string]stats.Summary{},
		RSS:        map[string]rss{},
		Ratios:     map[string]map[string]float64{},
		Leftovers:  map[string]int{},
		samples:    map[string]map[string][]time.Duration{},
		rssSamples: map[string][]int64{},
	}
}

// add records one iteration of runtime name.
func (r *report) add(name string, c cycleResult) {
	put := func(op string, d ...time.Duration) {
		if r.samples[op] == nil {
			r.samples[op] = map[string][]time.Duration{}
		}
		r.samples[op][name] = append(r.samples[op][name], d...)
	}
	for op, d := range c.times {
		put(op, d)
	}
	put("state", c.states...)
	r.rssSamples[name] = append(r.rssSamples[name], c.rss)
	if c.leftover {
		r.Leftovers[name]++
	}
}

// finish computes the summaries and ratios from the samples.
func (r *report) finish() {
	r.Floor = stats.Summarize(r.floor)
	for op, byRT := range r.samples {
		r.Ops[op] = map[string]stats.Summary{}
		for name, s := range byRT {
			r.Ops[op][name] = stats.Summarize(s)
		}
	}
	for name, s := range r.rssSamples {
		r.RSS[name] = rss{MedianKiB: medianKB(s), MaxKiB: slices.Max(s)}
	}
	for op, byRT := range r.Ops {
		subj, ok := byRT[r.Subject]
		if !ok {
			continue
		}
		for name, s := range byRT {
			if name == r.Subject || s.MedianMS <= 0 {
				continue
			}
			if r.Ratios[op] == nil {
				r.Ratios[op] = map[string]float64{}
			}
			r.Ratios[op][r.Subject+"/"+name] = subj.MedianMS / s.MedianMS
		}
	}
}

func (r *report) failed() bool {
	for _, rt := range r.Runtimes {
		if len(rt.Errors) > 0 {
			return true
		}
	}
	return false
}

// measured returns the runtimes with samples, in the order given.
func (r *report) measured() []string {
	var names []string
	for _, rt := range r.Runtimes {
		if _, ok := r.rssSamples[rt.Name]; ok {
			names = append(names, rt.Name)
		}
	}
	return names
}

// print writes the report as tables.
func (r *report) print(w io.Writer) {
	h := r.Host
	fmt.Fprintf(w, "host: %s, kernel %s, %d CPUs, %s\n", h.Arch, h.Kernel, h.CPUs, h.Cgroup)
	for _, rt := range r.Runtimes {
		switch {
		case rt.Skipped != "":
			fmt.Fprintf(w, "%-7s skipped: %s\n", rt.Name, rt.Skipped)
		default:
			fmt.Fprintf(w, "%-7s %s (%s)\n", rt.Name, rt.Version, rt.Path)
		}
	}
	names := r.measured()
	var others []string
	if slices.Contains(names, r.Subject) {
		for _, n := range names {
			if n != r.Subject {
				others = append(others, n)
			}
		}
	}
	fmt.Fprintf(w, "\n%d iterations (+%d warm-up), interleaved; milliseconds, median / p90; state: %d calls per iteration\n\n",
		r.Iterations, r.Warmup, r.States)
	head := []string{"op"}
	for _, n := range names {
		head = append(head, n)
	}
	for _, o := range others {
		head = append(head, r.Subject+"/"+o)
	}
	rows := [][]string{head}
	for _, op := range tableOps {
		row := []string{op}
		for _, n := range names {
			if s, ok := r.Ops[op][n]; ok {
				row = append(row, fmt.Sprintf("%.1f / %.1f", s.MedianMS, s.P90MS))
			} else {
				row = append(row, "—")
			}
		}
		for _, o := range others {
			row = append(row, stats.Ratio(r.Ops[op][r.Subject].MedianMS, r.Ops[op][o].MedianMS))
		}
		rows = append(rows, row)
	}
	row := []string{"run peak RSS (MiB, median)"}
	for _, n := range names {
		row = append(row, fmt.Sprintf("%.1f", float64(r.RSS[n].MedianKiB)/1024))
	}
	for _, o := range others {
		row = append(row, stats.Ratio(float64(r.RSS[r.Subject].MedianKiB), float64(r.RSS[o].MedianKiB)))
	}
	rows = append(rows, row)
	table.Write(w, rows, 1)
	fmt.Fprintf(w, "exec floor (fork+exec+wait of static busybox true): %.1f / %.1f ms\n", r.Floor.MedianMS, r.Floor.P90MS)
	for n, k := range r.Leftovers {
		fmt.Fprintf(w, "note: %s run left %d of %d containers behind (deleted, time counted in run)\n", n, k, r.Iterations)
	}
	if r.Subject == "petrel" && slices.Contains(names, "petrel") {
		fmt.Fprintln(w, "\ngoals (informative):")
		goal := func(what string, got float64, ok bool) {
			verdict := "not met"
			if ok {
				verdict = "met"
			}
			fmt.Fprintf(w, "  %-32s %7.2f  %s\n", what, got, verdict)
		}
		run := r.Ops["run"]
		if c, ok := run["crun"]; ok {
			x := run["petrel"].MedianMS / c.MedianMS
			goal("run: petrel/crun <= 1.2", x, x <= 1.2)
		}
		if c, ok := run["runc"]; ok {
			x := run["petrel"].MedianMS / c.MedianMS
			goal("run: petrel/runc <= 0.8", x, x <= 0.8)
		}
		if s, ok := r.Ops["state"]["petrel"]; ok {
			goal("state: median < 3 ms", s.MedianMS, s.MedianMS < 3)
			if f := r.Floor.MedianMS; f > 0 {
				fmt.Fprintf(w, "  (state is %.1fx the exec floor of %.1f ms on this host now)\n", s.MedianMS/f, f)
			}
		}
	}
	for _, rt := range r.Runtimes {
		if len(rt.Errors) == 0 {
			continue
		}
		what := "not counted"
		if rt.Dropped {
			what = "then dropped"
		}
		fmt.Fprintf(w, "\n%s FAILED %d time(s), %s:\n", rt.Name, len(rt.Errors), what)
		for _, e := range rt.Errors {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
}

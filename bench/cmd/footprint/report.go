package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/petrel-edge/petrel/bench/internal/table"
)

// A ratio is one Petrel/peer figure from another benchmark's results.
type ratio struct {
	Bench string  `json:"bench"`
	What  string  `json:"what"`
	Value float64 `json:"value"`
}

// savedRatios reads the other benchmarks' latest JSON reports from dir:
// enginebench.json (make bench-engine writes it), runtimebench.json
// (make -s bench-runtime BENCHFLAGS=-json > bench/runtimebench.json) and
// pullbench.json (make -s bench-pull PULLFLAGS=-json > bench/pullbench.json).
func savedRatios(dir string) ([]ratio, []string) {
	var out []ratio
	var notes []string
	var eng engineReport
	if err := readJSON(filepath.Join(dir, "enginebench.json"), &eng); err != nil {
		notes = append(notes, err.Error())
	} else {
		out = append(out, engineRatios(eng)...)
	}
	var rt struct {
		Subject string                        `json:"subject"`
		Ratios  map[string]map[string]float64 `json:"ratios"`
		Host    struct {
			LoadStart string `json:"load_start"`
		} `json:"host"`
	}
	switch err := readJSON(filepath.Join(dir, "runtimebench.json"), &rt); {
	case err != nil:
		notes = append(notes, err.Error())
	default:
		for _, op := range []string{"run", "create", "start", "state", "kill+delete"} {
			others := sortedKeys(rt.Ratios[op])
			for _, other := range others {
				// Keyed "petrel/runc": the subject over the other.
				out = append(out, ratio{"runtime", op + " " + other, rt.Ratios[op][other]})
			}
		}
	}
	var pull struct {
		Subject string `json:"subject"`
		Tools   []struct {
			Name    string `json:"name"`
			Skipped string `json:"skipped"`
			Total   struct {
				MedianMS float64 `json:"median_ms"`
			} `json:"total"`
			PeakRSS struct {
				MedianKB int64 `json:"median_kb"`
			} `json:"peak_rss"`
		} `json:"tools"`
	}
	switch err := readJSON(filepath.Join(dir, "pullbench.json"), &pull); {
	case err != nil:
		notes = append(notes, err.Error())
	default:
		var subj int = -1
		for i, t := range pull.Tools {
			if t.Name == pull.Subject || strings.HasPrefix(t.Name, pull.Subject) {
				subj = i
				break
			}
		}
		if subj < 0 {
			notes = append(notes, "pullbench.json: no result of its subject "+pull.Subject)
			break
		}
		s := pull.Tools[subj]
		for i, t := range pull.Tools {
			if i == subj || t.Skipped != "" || t.Total.MedianMS <= 0 {
				continue
			}
			out = append(out, ratio{"pull", "wall " + s.Name + "/" + t.Name, s.Total.MedianMS / t.Total.MedianMS})
			if t.PeakRSS.MedianKB > 0 {
				out = append(out, ratio{"pull", "peak RSS " + s.Name + "/" + t.Name, float64(s.PeakRSS.MedianKB) / float64(t.PeakRSS.MedianKB)})
			}
		}
	}
	return out, notes
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no %s: save the benchmark's -json output there", path)
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "Petrel footprint, %s UTC (%s)\n\n", r.Date, r.Host)
	rows := [][]string{{"what", "petrel", "notes"}}
	add := func(what, v, note string) { rows = append(rows, []string{what, v, note}) }
	for _, s := range r.Sizes {
		add("binary size, "+s.Target, fmt.Sprintf("%.1f MB", float64(s.Bytes)/1e6), "static, stripped")
	}
	add("petreld idle PSS", mib(r.DaemonIdle.PSS), fmt.Sprintf("RSS %s", mib(r.DaemonIdle.RSS)))
	add("per container", mib(r.PerContainer), fmt.Sprintf("(petreld + %d shims + spare shim PSS - idle petreld) / %d", r.Containers, r.Containers))
	add("  shim PSS", mib(r.ShimPSS), fmt.Sprintf("private %s, of which anonymous %s", mib(r.ShimPrivate), mib(r.ShimAnon)))
	add("  spare shim PSS", mib(r.SparePSS), "the spare shim that waits for the next start (0: none)")
	add("  petreld growth", mib((r.DaemonWithN.Anonymous-r.DaemonIdle.Anonymous)/int64(r.Containers)), "anonymous memory, per container")
	add(fmt.Sprintf("petreld PSS after %d run/rm", r.Cycles), mib(r.DaemonAfter.PSS), fmt.Sprintf("RSS %s", mib(r.DaemonAfter.RSS)))
	add("client peak RSS", mib(r.ClientPeak), "petrel ps -a")
	add("runtime peak RSS", mib(r.RuntimePeak), "petrel-runtime run (busybox true)")
	add("idle writes", fmt.Sprintf("%.0f B/min", r.Idle.perMinute()),
		fmt.Sprintf("%d containers (%d with a health check every %s, %d healthy), %.0f s, %d B, %d changes",
			r.Containers, r.Healthy, r.HealthEvery, r.HealthyAtEnd, r.Idle.Seconds, r.Idle.Bytes, len(r.Idle.Changed)))
	add("writes per run/rm", kb(r.Cycle.Bytes), fmt.Sprintf("root %s, state %s; %d changes, listed below", kb(r.Cycle.Root), kb(r.Cycle.State), len(r.Cycle.Changed)))
	for _, p := range r.Peers {
		if p.Skipped != "" {
			add(p.Name, "—", "skipped: "+p.Skipped)
			continue
		}
		if p.IdleKiB > 0 {
			add(p.Name+": daemons idle PSS", ratioOf(r.DaemonIdle.PSS, p.IdleKiB), fmt.Sprintf("petrel/%s; %s has %s", p.Name, p.Name, mib(p.IdleKiB)))
		}
		add(p.Name+": per container", ratioOf(r.PerContainer, int64(p.PerContainer)),
			fmt.Sprintf("petrel/%s; %s has %s (%d containers)", p.Name, p.Name, mib(int64(p.PerContainer)), p.Containers))
	}
	for _, x := range r.Ratios {
		add(x.Bench+": "+x.What, fmt.Sprintf("%.2fx", x.Value), "latest saved "+x.Bench+"bench report")
	}
	table.Write(w, rows, 1)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "written while idle:", changed(r.Idle.Changed))
	fmt.Fprintln(w, "written by one run/rm:", changed(r.Cycle.Changed))
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func ratioOf(a, b int64) string {
	if a <= 0 || b <= 0 {
		return "—"
	}
	return fmt.Sprintf("%.2fx", float64(a)/float64(b))
}

func kb(b int64) string { return fmt.Sprintf("%.1f KiB", float64(b)/1024) }

// changed summarises the files that changed: none, or their names with
// container ids and temporary suffixes folded.
func changed(files []string) string {
	if len(files) == 0 {
		return "no file changed"
	}
	seen := map[string]bool{}
	var names []string
	for _, f := range files {
		f, _, _ = strings.Cut(f, " (")
		var parts []string
		for _, p := range strings.Split(f, "/") {
			if len(p) >= 64 && strings.Trim(p[:64], "0123456789abcdef") == "" {
				p = "ID" + p[64:]
			}
			if i := strings.Index(p, ".tmp-"); i >= 0 {
				p = p[:i] + ".tmp-*"
			}
			parts = append(parts, p)
		}
		if n := strings.Join(parts, "/"); !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return fmt.Sprintf("%d files: %s", len(files), strings.Join(names, " "))
}

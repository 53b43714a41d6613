package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/bench/internal/table"
)

// A Summary is the spread of a step's wall times, in milliseconds.
type Summary struct {
	N        int     `json:"n"`
	MedianMS float64 `json:"median_ms"`
	MinMS    float64 `json:"min_ms"`
	MaxMS    float64 `json:"max_ms"`
}

// RSS is the spread of a step's peak RSS samples, in KiB.
type RSS struct {
	MedianKB int64 `json:"median_kb"`
	MaxKB    int64 `json:"max_kb"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// median returns the median of v (the mean of the middle two for an even
// count), sorting v; NaN for none.
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	switch {
	case n == 0:
		return math.NaN()
	case n%2 == 0:
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[n/2]
}

func summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	v := make([]float64, len(d))
	for i, x := range d {
		v[i] = ms(x)
	}
	m := median(v) // sorts v
	return Summary{N: len(v), MedianMS: m, MinMS: v[0], MaxMS: v[len(v)-1]}
}

func summarizeRSS(kb []int64) RSS {
	if len(kb) == 0 {
		return RSS{}
	}
	v := make([]float64, len(kb))
	for i, x := range kb {
		v[i] = float64(x)
	}
	m := median(v)
	return RSS{MedianKB: int64(math.Round(m)), MaxKB: int64(v[len(v)-1])}
}

// ratio formats a/b as "1.23x", or "—" when either is missing.
func ratio(a, b float64) string {
	if a <= 0 || b <= 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "—"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

func mib(kb int64) string { return fmt.Sprintf("%.1f", float64(kb)/1024) }

// host describes the machine and how busy it was.
type host struct {
	Kernel    string `json:"kernel"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	LoadStart string `json:"load_start"` // /proc/loadavg's 1, 5, 15 minute figures
	LoadEnd   string `json:"load_end"`
}

func hostInfo() host {
	h := host{Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), LoadStart: loadavg()}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return h
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// stepReport is one step of a tool: its wall times and peak RSS.
type stepReport struct {
	Name    string    `json:"name"`
	Wall    Summary   `json:"wall"`
	PeakRSS RSS       `json:"peak_rss"`
	WallMS  []float64 `json:"wall_ms"`
	RSSKB   []int64   `json:"rss_kb"`
}

// toolReport is one tool: its steps, the total of their wall times per
// iteration and the largest peak RSS of its steps per iteration.
type toolReport struct {
	Name     string       `json:"name"`
	Version  string       `json:"version,omitempty"`
	Skipped  string       `json:"skipped,omitempty"`
	Steps    []stepReport `json:"steps,omitempty"`
	Total    Summary      `json:"total"`
	PeakRSS  RSS          `json:"peak_rss"`
	Failures []string     `json:"failures,omitempty"`
}

type report struct {
	Host       host         `json:"host"`
	Image      imageInfo    `json:"image"`
	Iterations int          `json:"iterations"`
	Warmup     int          `json:"warmup"`
	RSSFloorKB int64        `json:"rss_floor_kb"` // the spawner's VmHWM; see doc.go
	Tools      []toolReport `json:"tools"`
	Subject    string       `json:"subject"`
	GoalRSSKB  int64        `json:"goal_rss_kb"`
	Elapsed    float64      `json:"elapsed_s"`
}

func (r *report) failed() bool {
	for _, t := range r.Tools {
		if len(t.Failures) > 0 {
			return true
		}
	}
	return false
}

func (r *report) tool(name string) *toolReport {
	for i := range r.Tools {
		if r.Tools[i].Name == name {
			return &r.Tools[i]
		}
	}
	return nil
}

// print writes the report as a table with the ratios of each tool to the
// subject (above 1: the subject is faster, or smaller).
func (r *report) print(w io.Writer) {
	h := r.Host
	fmt.Fprintf(w, "host: %s, kernel %s, %d CPUs, load average %s at start, %s at end\n", h.Arch, h.Kernel, h.CPUs, h.LoadStart, h.LoadEnd)
	for _, t := range r.Tools {
		switch {
		case t.Skipped != "":
			fmt.Fprintf(w, "%-13s skipped: %s\n", t.Name, t.Skipped)
		default:
			fmt.Fprintf(w, "%-13s %s\n", t.Name, t.Version)
		}
	}
	fmt.Fprintf(w, "image: %d layers, %.1f MiB gzip, %.1f MiB of tar:", len(r.Image.Layers), float64(r.Image.Size)/(1<<20), float64(r.Image.DiffSize)/(1<<20))
	for _, l := range r.Image.Layers {
		fmt.Fprintf(w, " %s (%.1f MiB);", l.What, float64(l.Size)/(1<<20))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%d iterations (+%d warm-up), interleaved; wall ms median (min–max); peak RSS MiB median (max)\n", r.Iterations, r.Warmup)
	fmt.Fprintf(w, "peak RSS floor (VmHWM of the spawner that forks each command; see doc.go): %s MiB\n\n", mib(r.RSSFloorKB))

	sub := r.tool(r.Subject)
	rows := [][]string{{"tool", "step", "wall ms", "peak RSS MiB", "wall/" + r.Subject, "RSS/" + r.Subject}}
	for _, t := range r.Tools {
		if t.Skipped != "" || t.Total.N == 0 {
			continue
		}
		for _, s := range t.Steps {
			rows = append(rows, []string{t.Name, s.Name,
				fmt.Sprintf("%.0f (%.0f–%.0f)", s.Wall.MedianMS, s.Wall.MinMS, s.Wall.MaxMS),
				fmt.Sprintf("%s (%s)", mib(s.PeakRSS.MedianKB), mib(s.PeakRSS.MaxKB)), "", ""})
		}
		last := rows[len(rows)-1]
		if len(t.Steps) > 1 {
			last = []string{t.Name, "total", fmt.Sprintf("%.0f (%.0f–%.0f)", t.Total.MedianMS, t.Total.MinMS, t.Total.MaxMS),
				fmt.Sprintf("%s (%s)", mib(t.PeakRSS.MedianKB), mib(t.PeakRSS.MaxKB)), "", ""}
			rows = append(rows, last)
		}
		if sub != nil && sub.Total.N > 0 {
			last[4] = ratio(t.Total.MedianMS, sub.Total.MedianMS)
			last[5] = ratio(float64(t.PeakRSS.MedianKB), float64(sub.PeakRSS.MedianKB))
		}
	}
	table.Write(w, rows, 2)
	if line := r.goalLine(); line != "" {
		fmt.Fprintf(w, "\n%s\n", line)
	}
	fmt.Fprintf(w, "elapsed %.0f s\n", r.Elapsed)
	for _, t := range r.Tools {
		for _, f := range t.Failures {
			fmt.Fprintf(w, "\nFAILED %s: %s\n", t.Name, f)
		}
	}
}

// goalLine says whether the subject is faster than every other tool (by the
// medians) and peaks under the RSS goal.
func (r *report) goalLine() string {
	sub := r.tool(r.Subject)
	if sub == nil || sub.Total.N == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "goal: %s faster than", r.Subject)
	faster, others := true, 0
	for _, t := range r.Tools {
		if t.Name == r.Subject || t.Total.N == 0 {
			continue
		}
		others++
		fmt.Fprintf(&b, " %s (%s)", t.Name, ratio(t.Total.MedianMS, sub.Total.MedianMS))
		faster = faster && sub.Total.MedianMS < t.Total.MedianMS
	}
	if others == 0 {
		b.WriteString(" — (nothing to compare)")
	}
	fmt.Fprintf(&b, ": %s; peak RSS %s MiB (max %s) < %s MiB: %s", yes(faster && others > 0),
		mib(sub.PeakRSS.MedianKB), mib(sub.PeakRSS.MaxKB), mib(r.GoalRSSKB), yes(sub.PeakRSS.MaxKB < r.GoalRSSKB))
	if sub.PeakRSS.MaxKB <= r.RSSFloorKB {
		b.WriteString(" (at most the floor)")
	}
	return b.String()
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

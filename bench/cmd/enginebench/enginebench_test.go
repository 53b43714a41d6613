package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/petrel-edge/petrel/bench/internal/stats"
)

func TestParseRollup(t *testing.T) {
	const rollup = `55d1c0000000-7ffd3f5fe000 ---p 00000000 00:00 0                          [rollup]
Rss:                6144 kB
Pss:                2673 kB
Pss_Anon:           1800 kB
Shared_Clean:       3000 kB
Private_Clean:       300 kB
Private_Dirty:      1900 kB
`
	tests := []struct {
		name    string
		in      string
		want    usage
		wantErr bool
	}{
		{"rollup", rollup, usage{Procs: 1, PssKiB: 2673, RssKiB: 6144, PrivKiB: 2200}, false},
		{"no pss", "Rss: 10 kB\n", usage{}, true},
		{"empty", "", usage{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRollup([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseRollup = %+v, %v; want %+v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestArgUnder(t *testing.T) {
	tests := []struct {
		argv []string
		want bool
	}{
		{[]string{"petrel-shim", "--socket", "/tmp/eb1/petrel/state/s.sock"}, true},
		{[]string{"petrel-shim", "--spare", "/tmp/eb1/petrel/state", "--control-fd", "4"}, true},
		{[]string{"conmon", "--exit-dir=/tmp/eb1/podman/runroot/x"}, true},
		{[]string{"conmon", "-p", "/tmp/eb1"}, true},
		{[]string{"petrel-shim", "--socket", "/tmp/eb10/s.sock"}, false},
		{[]string{"sleep", "1000"}, false},
	}
	for _, tt := range tests {
		if got := argUnder(tt.argv, "/tmp/eb1"); got != tt.want {
			t.Errorf("argUnder(%q) = %v, want %v", tt.argv, got, tt.want)
		}
	}
}

func TestSpeedup(t *testing.T) {
	by := map[string]stats.Summary{
		"petrel": {N: 3, MedianMS: 10},
		"docker": {N: 3, MedianMS: 200},
		"podman": {N: 3, MedianMS: 50},
	}
	if got := speedup(by, "petrel"); got != 5 {
		t.Errorf("speedup = %v, want 5 (podman, the faster other, over petrel)", got)
	}
	if got := speedup(map[string]stats.Summary{"petrel": {N: 1, MedianMS: 10}}, "petrel"); got != 0 {
		t.Errorf("speedup with no other engine = %v, want 0", got)
	}
	if got := speedup(by, "crun"); got != 0 {
		t.Errorf("speedup of a missing subject = %v, want 0", got)
	}
}

func TestFirstErrors(t *testing.T) {
	e := errors.New("boom")
	if err := firstErrors([]error{nil, nil}, 3); err != nil {
		t.Errorf("no errors: got %v", err)
	}
	err := firstErrors([]error{e, nil, e, e, e, e}, 3)
	if err == nil || !errors.Is(err, e) || !strings.Contains(err.Error(), "and 2 more") {
		t.Errorf("firstErrors = %v, want three and \"and 2 more\"", err)
	}
}

func TestReport(t *testing.T) {
	r := newReport(options{n: 2, warmup: 1, concurrency: 4, rounds: 1}, "petrel")
	r.Engines = []engineInfo{{Name: "petrel", Version: "dev"}, {Name: "docker", Version: "20.10"}, {Name: "podman", Skipped: "not installed"}}
	for _, ms := range []time.Duration{10, 12} {
		r.addSingle("petrel", map[string]time.Duration{"create": ms * time.Millisecond, "run --rm": 3 * ms * time.Millisecond})
		r.addSingle("docker", map[string]time.Duration{"create": 4 * ms * time.Millisecond, "run --rm": 6 * ms * time.Millisecond})
	}
	r.addConcurrent("petrel", map[string]time.Duration{"create": 100 * time.Millisecond})
	r.addConcurrent("docker", map[string]time.Duration{"create": 700 * time.Millisecond})
	r.Memory["petrel"] = memResult{Containers: 50, Idle: usage{Procs: 1, PssKiB: 10240}, ShimKiB: 1400, GrowthKiB: 200, TotalKiB: 1600}
	r.finish()
	if got := r.Speedup["single"]["create"]; got != 4 {
		t.Errorf("single create speed-up = %v, want 4", got)
	}
	if got := r.Speedup["concurrent"]["create"]; got != 7 {
		t.Errorf("concurrent create speed-up = %v, want 7", got)
	}
	var b bytes.Buffer
	r.print(&b)
	// Compared with runs of spaces squeezed: the columns' widths vary.
	out := strings.Join(strings.Fields(b.String()), " ")
	for _, want := range []string{
		"podman skipped: not installed",
		"create 11.0 / 12.0 44.0 / 48.0 4.00x 4.0x goal met",
		"run --rm 33.0 / 36.0 66.0 / 72.0 2.00x 2.0x NOT met",
		"7.0x met",
		"per container ≤ 2.00 MiB (aim 1.50): goal met",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if r.failed() {
		t.Error("failed() with no errors")
	}
	r.Engines[1].Errors = []string{"iteration 1: boom"}
	if !r.failed() {
		t.Error("failed() = false with an engine's error")
	}
}

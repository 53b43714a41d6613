package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestMedianKB(t *testing.T) {
	tests := []struct {
		in   []int64
		want int64
	}{
		{nil, 0}, {[]int64{7}, 7}, {[]int64{9, 1, 5}, 5}, {[]int64{8, 2, 4, 6}, 5},
	}
	for _, tt := range tests {
		if got := medianKB(tt.in); got != tt.want {
			t.Errorf("medianKB(%v) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestCheckState(t *testing.T) {
	tests := []struct {
		name, out string
		wantErr   string
	}{
		{"running", `{"ociVersion":"1.0.2","id":"c1","pid":42,"status":"running","bundle":"/b"}`, ""},
		{"created", `{"id":"c1","pid":42,"status":"created"}`, "status"},
		{"other pid", `{"id":"c1","pid":43,"status":"running"}`, "pid"},
		{"not json", `container c1 is running`, "output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkState([]byte(tt.out), "c1", 42)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("checkState = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestReportRatios(t *testing.T) {
	rep := newReport(options{n: 2, warmup: 1, states: 1, subject: "petrel"})
	for i, ms := range []time.Duration{10, 20} {
		rep.add("crun", cycleResult{times: map[string]time.Duration{"run": ms * time.Millisecond}, states: []time.Duration{time.Millisecond}, rss: int64(1000 * (i + 1))})
		rep.add("petrel", cycleResult{times: map[string]time.Duration{"run": 2 * ms * time.Millisecond}, states: []time.Duration{time.Millisecond}, rss: 500})
	}
	rep.Runtimes = []runtimeInfo{{Name: "petrel"}, {Name: "runc", Skipped: "not installed"}, {Name: "crun"}}
	rep.finish()
	if got := rep.Ratios["run"]["petrel/crun"]; got != 2 {
		t.Errorf("run petrel/crun = %v, want 2", got)
	}
	if got := rep.RSS["crun"]; got.MedianKiB != 1500 || got.MaxKiB != 2000 {
		t.Errorf("crun rss = %+v", got)
	}
	var b bytes.Buffer
	rep.print(&b)
	for _, want := range []string{"runc    skipped: not installed", "petrel/crun", "2.00x", "run: petrel/crun <= 1.2"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

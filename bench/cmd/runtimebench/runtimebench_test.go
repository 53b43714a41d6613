package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/petrel-edge/petrel/core/mountinfo"
)

func TestSummarize(t *testing.T) {
	d := func(ms ...float64) []time.Duration {
		var s []time.Duration
		for _, m := range ms {
			s = append(s, time.Duration(m*float64(time.Millisecond)))
		}
		return s
	}
	tests := []struct {
		name      string
		in        []time.Duration
		med, p90  float64
		min, maxv float64
	}{
		{"one", d(5), 5, 5, 5, 5},
		{"odd", d(3, 1, 2), 2, 3, 1, 3},
		{"even", d(4, 1, 3, 2), 2.5, 4, 1, 4},
		{"ten", d(10, 9, 8, 7, 6, 5, 4, 3, 2, 1), 5.5, 9, 1, 10},
		{"outlier", d(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1000), 1, 1, 1, 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarize(tt.in)
			if s.N != len(tt.in) || s.MedianMS != tt.med || s.P90MS != tt.p90 || s.MinMS != tt.min || s.MaxMS != tt.maxv {
				t.Errorf("summarize = %+v, want median %v p90 %v min %v max %v", s, tt.med, tt.p90, tt.min, tt.maxv)
			}
		})
	}
	if s := summarize(nil); s.N != 0 {
		t.Errorf("summarize(nil) = %+v", s)
	}
}

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

func TestRatio(t *testing.T) {
	tests := []struct {
		a, b float64
		want string
	}{
		{3, 2, "1.50x"}, {1, 4, "0.25x"}, {0, 2, "—"}, {2, 0, "—"},
	}
	for _, tt := range tests {
		if got := ratio(tt.a, tt.b); got != tt.want {
			t.Errorf("ratio(%v, %v) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestHugetlbV1(t *testing.T) {
	const base = "" +
		"30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" +
		"31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n" +
		"40 30 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n"
	tests := []struct {
		name string
		text string
		want bool
	}{
		{"hybrid, hugetlb on v2 only", base, false},
		{"hugetlb mounted as v1", base + "41 30 0:37 / /sys/fs/cgroup/hugetlb rw,relatime - cgroup cgroup rw,hugetlb\n", true},
		{"hugetlb in a name only", base + "42 30 0:38 / /x rw - cgroup cgroup rw,name=hugetlbx\n", false},
		{"garbage", "no separator here\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hugetlbV1(mountinfo.Parse(tt.text)); got != tt.want {
				t.Errorf("hugetlbV1 = %v, want %v", got, tt.want)
			}
		})
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

func TestParseVmHWM(t *testing.T) {
	tests := []struct {
		name, in string
		want     int64
		wantErr  bool
	}{
		{"status", "Name:\tcrun\nVmPeak:\t   9000 kB\nVmHWM:\t    3312 kB\nVmRSS:\t    3000 kB\n", 3312, false},
		{"missing", "Name:\tzombie\nState:\tZ (zombie)\n", 0, true},
		{"garbage", "VmHWM:\tlots kB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmHWM([]byte(tt.in))
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("parseVmHWM = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

package cgroups

import (
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestStatsV1(t *testing.T) {
	f := newFakeV1(t, []string{"hugetlb"}, "cpu", "cpuacct", "memory", "pids", "blkio")
	for path, data := range map[string]string{
		"cpu/c/cpu.stat":                                    "nr_periods 10\nnr_throttled 3\nthrottled_time 5000\n",
		"cpuacct/c/cpuacct.usage":                           "3000000\n",
		"cpuacct/c/cpuacct.usage_percpu":                    "1000000 2000000 \n",
		"cpuacct/c/cpuacct.usage_percpu_sys":                "100 200\n",
		"cpuacct/c/cpuacct.usage_percpu_user":               "900 1800\n",
		"cpuacct/c/cpuacct.stat":                            "user 2\nsystem 1\n",
		"memory/c/memory.stat":                              "cache 4096\nrss 8192\ntotal_rss 8192\n",
		"memory/c/memory.usage_in_bytes":                    "12288\n",
		"memory/c/memory.max_usage_in_bytes":                "20000\n",
		"memory/c/memory.failcnt":                           "2\n",
		"memory/c/memory.limit_in_bytes":                    "67108864\n",
		"memory/c/memory.kmem.usage_in_bytes":               "100\n",
		"memory/c/memory.kmem.max_usage_in_bytes":           "200\n",
		"memory/c/memory.kmem.failcnt":                      "0\n",
		"memory/c/memory.kmem.limit_in_bytes":               "9223372036854771712\n",
		"pids/c/pids.current":                               "3\n",
		"pids/c/pids.max":                                   "max\n",
		"blkio/c/blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 8192\n8:0 Total 12288\nTotal 12288\n",
		"blkio/c/blkio.throttle.io_serviced_recursive":      "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
		"unified/c/hugetlb.2MB.current":                     "2097152\n",
		"unified/c/hugetlb.2MB.events":                      "max 4\n",
		"unified/c/hugetlb.2MB.max":                         "max\n",
	} {
		writeFile(t, filepath.Join(f.root, filepath.Dir(path)), filepath.Base(path), data)
	}
	m, _ := newManager(f.l, "/c", "")
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{
		CPU: CPU{
			Usage: CPUUsage{Total: 3000000, Percpu: []uint64{1000000, 2000000}, PercpuKernel: []uint64{100, 200},
				PercpuUser: []uint64{900, 1800}, User: 20000000, Kernel: 10000000},
			Throttling: Throttling{Periods: 10, ThrottledPeriods: 3, ThrottledTime: 5000},
		},
		Memory: Memory{
			Cache:  4096,
			Usage:  MemoryEntry{Limit: 67108864, Usage: 12288, Max: 20000, Failcnt: 2},
			Kernel: MemoryEntry{Limit: 9223372036854771712, Usage: 100, Max: 200},
			Raw:    map[string]uint64{"cache": 4096, "rss": 8192, "total_rss": 8192},
		},
		Pids: Pids{Current: 3},
		Blkio: Blkio{
			IoServiceBytesRecursive: []BlkioEntry{{8, 0, "Read", 4096}, {8, 0, "Write", 8192}, {8, 0, "Total", 12288}},
			IoServicedRecursive:     []BlkioEntry{{8, 0, "Read", 1}, {8, 0, "Write", 2}},
		},
		Hugetlb: map[string]Hugetlb{"2MB": {Usage: 2097152, Failcnt: 4}},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Stats() =\n%+v\nwant\n%+v", s, want)
	}
}

func TestStatsV2(t *testing.T) {
	f := newFakeV2(t, "cpu", "memory", "pids", "io")
	dir := filepath.Join(f.root, "c")
	for file, data := range map[string]string{
		"cpu.stat":            "usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\nnr_periods 7\nnr_throttled 1\nthrottled_usec 50\n",
		"memory.stat":         "anon 8192\nfile 4096\n",
		"memory.current":      "12288\n",
		"memory.max":          "1048576\n",
		"memory.peak":         "16384\n",
		"memory.events":       "low 0\nhigh 0\nmax 5\noom 0\noom_kill 0\n",
		"memory.swap.current": "1000\n",
		"memory.swap.max":     "max\n",
		"pids.current":        "2\n",
		"pids.max":            "100\n",
		"io.stat":             "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
	} {
		writeFile(t, dir, file, data)
	}
	m, _ := newManager(f.l, "/c", "")
	s, err := m.Stats()
	if err != nil {
		t.Fatal(err)
	}
	want := &Stats{
		CPU: CPU{
			Usage:      CPUUsage{Total: 3000000, User: 2000000, Kernel: 1000000},
			Throttling: Throttling{Periods: 7, ThrottledPeriods: 1, ThrottledTime: 50000},
		},
		Memory: Memory{
			Cache: 4096,
			Usage: MemoryEntry{Limit: 1048576, Usage: 12288, Max: 16384, Failcnt: 5},
			Swap:  MemoryEntry{Limit: math.MaxUint64, Usage: 13288},
			Raw:   map[string]uint64{"anon": 8192, "file": 4096},
		},
		Pids: Pids{Current: 2, Limit: 100},
		Blkio: Blkio{
			IoServiceBytesRecursive: []BlkioEntry{{8, 0, "Read", 4096}, {8, 0, "Write", 0}},
			IoServicedRecursive:     []BlkioEntry{{8, 0, "Read", 1}, {8, 0, "Write", 0}},
		},
		Hugetlb: map[string]Hugetlb{},
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Stats() =\n%+v\nwant\n%+v", s, want)
	}

	// The JSON has runc's field names.
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"cpu":{"usage":{"total":3000000`, `"throttling":{"periods":7`, `"memory":{"cache":4096`,
		`"swap":{"limit":18446744073709551615`, `"pids":{"current":2,"limit":100}`, `"ioServiceBytesRecursive":[`, `"hugetlb":{}`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
}

func TestStatsBadFile(t *testing.T) {
	f := newFakeV1(t, nil, "pids")
	writeFile(t, filepath.Join(f.root, "pids/c"), "pids.current", "lots\n")
	m, _ := newManager(f.l, "/c", "")
	if _, err := m.Stats(); err == nil || !strings.Contains(err.Error(), "pids.current") {
		t.Errorf("err = %v, want one naming pids.current", err)
	}
}

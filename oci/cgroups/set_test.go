package cgroups

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func p[T any](v T) *T { return &v }

// setCase is one Set call on a fake host: the files present beforehand
// (path below root -> content), and the writes expected in order, or an
// error that mentions errHas.
type setCase struct {
	name   string
	files  map[string]string
	r      *specs.LinuxResources
	writes []string
	errHas string
}

func runSetCases(t *testing.T, mk func(t *testing.T) *fakeHost, tests []setCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mk(t)
			for path, data := range tt.files {
				writeFile(t, filepath.Join(f.root, filepath.Dir(path)), filepath.Base(path), data)
			}
			m, err := newManager(f.l, "/c", "")
			if err != nil {
				t.Fatal(err)
			}
			m.attachDevices = func(dir string, prog []bpfInsn) error {
				t.Fatalf("unexpected device program for %s", dir)
				return nil
			}
			rec := (&recorder{root: f.root}).attach(m)
			err = m.Set(tt.r)
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want one saying %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rec.writes, tt.writes) {
				t.Errorf("writes:\n got %q\nwant %q", rec.writes, tt.writes)
			}
		})
	}
}

// files makes a file set: every name below dir, empty.
func files(dir string, names ...string) map[string]string {
	m := make(map[string]string)
	for _, n := range names {
		k, v, _ := strings.Cut(n, "=")
		m[dir+"/"+k] = v
	}
	return m
}

func merge(ms ...map[string]string) map[string]string {
	out := make(map[string]string)
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

func TestSetV1(t *testing.T) {
	mk := func(t *testing.T) *fakeHost {
		return newFakeV1(t, nil, "cpu,cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "hugetlb", "net_cls,net_prio")
	}
	mem := files("memory/c", "memory.limit_in_bytes=9223372036854771712", "memory.memsw.limit_in_bytes",
		"memory.soft_limit_in_bytes", "memory.swappiness", "memory.oom_control", "memory.kmem.tcp.limit_in_bytes")
	cpu := files("cpu,cpuacct/c", "cpu.shares", "cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.cfs_burst_us",
		"cpu.rt_period_us", "cpu.rt_runtime_us", "cpu.idle")
	runSetCases(t, mk, []setCase{
		{name: "nil resources"},
		{
			name:  "memory raise: swap first",
			files: merge(mem, files("memory/c", "memory.limit_in_bytes=50", "memory.memsw.limit_in_bytes=50")),
			r:     &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(100)), Swap: p(int64(200)), Reservation: p(int64(50))}},
			writes: []string{"memory/c/memory.memsw.limit_in_bytes=200", "memory/c/memory.limit_in_bytes=100",
				"memory/c/memory.soft_limit_in_bytes=50"},
		},
		{
			name:   "memory lower: limit first",
			files:  merge(mem, files("memory/c", "memory.limit_in_bytes=1000")),
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(100)), Swap: p(int64(200))}},
			writes: []string{"memory/c/memory.limit_in_bytes=100", "memory/c/memory.memsw.limit_in_bytes=200"},
		},
		{
			name:   "unlimited memory unlimits swap",
			files:  mem,
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(-1))}},
			writes: []string{"memory/c/memory.memsw.limit_in_bytes=-1", "memory/c/memory.limit_in_bytes=-1"},
		},
		{
			name:   "unlimited memory without swap accounting",
			files:  files("memory/c", "memory.limit_in_bytes"),
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(-1))}},
			writes: []string{"memory/c/memory.limit_in_bytes=-1"},
		},
		{
			name:  "memory knobs",
			files: mem,
			r: &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: p(uint64(10)), DisableOOMKiller: p(true),
				KernelTCP: p(int64(4096)), Kernel: p(int64(8192))}},
			// memory.kmem.limit_in_bytes is gone on new kernels: skipped.
			writes: []string{"memory/c/memory.kmem.limit_in_bytes=8192", "memory/c/memory.kmem.tcp.limit_in_bytes=4096",
				"memory/c/memory.swappiness=10", "memory/c/memory.oom_control=1"},
		},
		{
			name:   "swappiness out of range",
			files:  mem,
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Swappiness: p(uint64(101))}},
			errHas: "swappiness 101",
		},
		{
			name:   "negative memory limit",
			files:  mem,
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(-2))}},
			errHas: "invalid memory limit -2",
		},
		{
			name:  "cpu",
			files: cpu,
			r: &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: p(uint64(512)), Quota: p(int64(50000)), Period: p(uint64(100000)),
				Burst: p(uint64(1000)), RealtimePeriod: p(uint64(1000000)), RealtimeRuntime: p(int64(950000)), Idle: p(int64(0))}},
			writes: []string{
				"cpu,cpuacct/c/cpu.rt_period_us=1000000", "cpu,cpuacct/c/cpu.rt_runtime_us=950000",
				"cpu,cpuacct/c/cpu.shares=512", "cpu,cpuacct/c/cpu.cfs_period_us=100000",
				"cpu,cpuacct/c/cpu.cfs_burst_us=1000", "cpu,cpuacct/c/cpu.cfs_quota_us=50000", "cpu,cpuacct/c/cpu.idle=0",
			},
		},
		{
			name:   "realtime without CONFIG_RT_GROUP_SCHED",
			files:  files("cpu,cpuacct/c", "cpu.shares"),
			r:      &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: p(int64(1000))}},
			errHas: "cpu.rt_runtime_us",
		},
		{
			name:   "cpuset",
			files:  files("cpuset/c", "cpuset.cpus", "cpuset.mems"),
			r:      &specs.LinuxResources{CPU: &specs.LinuxCPU{Cpus: "0-1", Mems: "0"}},
			writes: []string{"cpuset/c/cpuset.cpus=0-1", "cpuset/c/cpuset.mems=0"},
		},
		{
			name:   "pids unlimited",
			files:  files("pids/c", "pids.max"),
			r:      &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: -1}},
			writes: []string{"pids/c/pids.max=max"},
		},
		{
			name:  "blkio with bfq",
			files: files("blkio/c", "blkio.bfq.weight", "blkio.bfq.weight_device", "blkio.throttle.read_bps_device", "blkio.throttle.write_iops_device"),
			r: &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
				Weight:                  p(uint16(300)),
				WeightDevice:            []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Weight: p(uint16(500))}},
				ThrottleReadBpsDevice:   []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 1048576}},
				ThrottleWriteIOPSDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Rate: 0}},
			}},
			writes: []string{"blkio/c/blkio.bfq.weight=300", "blkio/c/blkio.bfq.weight_device=8:0 500",
				"blkio/c/blkio.throttle.read_bps_device=8:0 1048576", "blkio/c/blkio.throttle.write_iops_device=8:16 0"},
		},
		{
			name:   "blkio without bfq",
			files:  files("blkio/c", "blkio.weight", "blkio.leaf_weight"),
			r:      &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: p(uint16(300)), LeafWeight: p(uint16(200))}},
			writes: []string{"blkio/c/blkio.weight=300", "blkio/c/blkio.leaf_weight=200"},
		},
		{
			name:   "hugetlb v1",
			files:  files("hugetlb/c", "hugetlb.2MB.limit_in_bytes"),
			r:      &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 4194304}}},
			writes: []string{"hugetlb/c/hugetlb.2MB.limit_in_bytes=4194304", "hugetlb/c/hugetlb.2MB.rsvd.limit_in_bytes=4194304"},
		},
		{
			name:   "hugetlb size the host lacks",
			files:  files("hugetlb/c", "hugetlb.2MB.limit_in_bytes"),
			r:      &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "1GB", Limit: 1 << 30}}},
			errHas: `hugepage size "1GB" is not supported`,
		},
		{
			name:   "hugetlb size with a slash",
			r:      &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "../2MB"}}},
			errHas: "invalid hugepage size",
		},
		{
			name:  "devices: deny all, then the rules in order",
			files: files("devices/c", "devices.allow", "devices.deny"),
			r: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
				{Allow: false, Access: "rwm"},
				{Allow: true, Type: "c", Major: p(int64(1)), Minor: p(int64(3)), Access: "rwm"},
				{Allow: true, Type: "c", Major: p(int64(136)), Access: "rw"},
				{Allow: false, Type: "c", Major: p(int64(136)), Minor: p(int64(2)), Access: "w"},
			}},
			writes: []string{"devices/c/devices.deny=a *:* rwm", "devices/c/devices.allow=c 1:3 rwm",
				"devices/c/devices.allow=c 136:* rw", "devices/c/devices.deny=c 136:2 w"},
		},
		{
			name:   "devices: rules without a reset start from deny all",
			files:  files("devices/c", "devices.allow", "devices.deny"),
			r:      &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: true, Type: "c", Major: p(int64(1)), Minor: p(int64(3)), Access: "r"}}},
			writes: []string{"devices/c/devices.deny=a", "devices/c/devices.allow=c 1:3 r"},
		},
		{
			name:   "bad device rule",
			r:      &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Type: "x"}}},
			errHas: `invalid type "x"`,
		},
		{
			name:  "network",
			files: files("net_cls,net_prio/c", "net_cls.classid", "net_prio.ifpriomap"),
			r: &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: p(uint32(0x100001)),
				Priorities: []specs.LinuxInterfacePriority{{Name: "eth0", Priority: 5}, {Name: "lo", Priority: 1}}}},
			writes: []string{"net_cls,net_prio/c/net_cls.classid=1048577", "net_cls,net_prio/c/net_prio.ifpriomap=eth0 5",
				"net_cls,net_prio/c/net_prio.ifpriomap=lo 1"},
		},
		{
			name:   "unified without cgroup v2",
			r:      &specs.LinuxResources{Unified: map[string]string{"memory.high": "1000"}},
			errHas: "cgroup v2 is not mounted",
		},
		{
			name:   "rdma controller not mounted",
			r:      &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx5_0": {HcaHandles: p(uint32(3))}}},
			errHas: "the rdma controller is not mounted",
		},
		{
			name:   "missing file names file and value",
			files:  files("pids/c"),
			r:      &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: 5}},
			errHas: `pids/c/pids.max to "5": no such file or directory`,
		},
	})
}

func TestSetV1MissingController(t *testing.T) {
	f := newFakeV1(t, nil, "memory")
	m, _ := newManager(f.l, "/c", "")
	err := m.Set(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: 5}})
	if err == nil || !strings.Contains(err.Error(), "the pids controller is not mounted") {
		t.Errorf("err = %v", err)
	}
}

func TestSetHybrid(t *testing.T) {
	mk := func(t *testing.T) *fakeHost { return newFakeV1(t, []string{"hugetlb"}, "memory", "pids") }
	runSetCases(t, mk, []setCase{
		{
			name:   "hugetlb on the v2 hierarchy uses v2 names",
			files:  files("unified/c", "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max"),
			r:      &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 2097152}}},
			writes: []string{"unified/c/hugetlb.2MB.max=2097152", "unified/c/hugetlb.2MB.rsvd.max=2097152"},
		},
		{
			name:   "unified keys go to the v2 hierarchy",
			files:  files("unified/c", "hugetlb.2MB.max"),
			r:      &specs.LinuxResources{Unified: map[string]string{"hugetlb.2MB.max": "0"}},
			writes: []string{"unified/c/hugetlb.2MB.max=0"},
		},
		{
			name:   "unified key of a controller not there",
			r:      &specs.LinuxResources{Unified: map[string]string{"memory.high": "10"}},
			errHas: "the memory controller is not available",
		},
	})
}

func TestSetV2(t *testing.T) {
	mk := func(t *testing.T) *fakeHost {
		return newFakeV2(t, "cpu", "cpuset", "io", "memory", "pids", "hugetlb", "rdma")
	}
	mem := files("c", "memory.max", "memory.swap.max", "memory.low", "memory.current=5000")
	cpu := files("c", "cpu.weight", "cpu.max=30000 100000", "cpu.max.burst", "cpu.idle", "cpuset.cpus", "cpuset.mems")
	runSetCases(t, mk, []setCase{
		{
			name:   "memory and swap: v1 swap is memory+swap",
			files:  mem,
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(100 << 20)), Swap: p(int64(300 << 20)), Reservation: p(int64(50 << 20))}},
			writes: []string{"c/memory.swap.max=209715200", "c/memory.max=104857600", "c/memory.low=52428800"},
		},
		{
			name:   "swap equal to memory disables swap",
			files:  mem,
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(1000)), Swap: p(int64(1000))}},
			writes: []string{"c/memory.swap.max=0", "c/memory.max=1000"},
		},
		{
			name:   "unlimited memory and swap",
			files:  mem,
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(-1))}},
			writes: []string{"c/memory.swap.max=max", "c/memory.max=max"},
		},
		{
			name:   "swap -1 is max",
			files:  mem,
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(1000)), Swap: p(int64(-1))}},
			writes: []string{"c/memory.swap.max=max", "c/memory.max=1000"},
		},
		{
			name:   "swap without memory limit",
			files:  mem,
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: p(int64(1000))}},
			errHas: "swap limit without a memory limit",
		},
		{
			name:   "swap below memory",
			files:  mem,
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(1000)), Swap: p(int64(500))}},
			errHas: "below the memory limit",
		},
		{
			name:   "check before update refuses a limit below usage",
			files:  mem,
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(4096)), CheckBeforeUpdate: p(true)}},
			errHas: "not above the current usage 5000",
		},
		{
			name:   "v1-only memory knobs are ignored",
			files:  mem,
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Kernel: p(int64(1)), Swappiness: p(uint64(5)), DisableOOMKiller: p(true)}},
			writes: nil,
		},
		{
			name:  "cpu shares convert to weight",
			files: cpu,
			r: &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: p(uint64(1024)), Quota: p(int64(50000)),
				Burst: p(uint64(2000)), Idle: p(int64(1)), Cpus: "1", Mems: "0"}},
			writes: []string{"c/cpu.weight=39", "c/cpu.idle=1", "c/cpu.max=50000 100000", "c/cpu.max.burst=2000",
				"c/cpuset.cpus=1", "c/cpuset.mems=0"},
		},
		{
			name:   "period alone keeps the quota",
			files:  cpu,
			r:      &specs.LinuxResources{CPU: &specs.LinuxCPU{Period: p(uint64(50000))}},
			writes: []string{"c/cpu.max=30000 50000"},
		},
		{
			name:   "quota -1 is max",
			files:  cpu,
			r:      &specs.LinuxResources{CPU: &specs.LinuxCPU{Quota: p(int64(-1)), Period: p(uint64(20000))}},
			writes: []string{"c/cpu.max=max 20000"},
		},
		{
			name:   "realtime is refused",
			files:  cpu,
			r:      &specs.LinuxResources{CPU: &specs.LinuxCPU{RealtimeRuntime: p(int64(100))}},
			errHas: "realtime",
		},
		{
			name:  "io without bfq",
			files: files("c", "io.weight", "io.max"),
			r: &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: p(uint16(500)),
				ThrottleReadBpsDevice:  []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 100}},
				ThrottleWriteBpsDevice: []specs.LinuxThrottleDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 0}, Rate: 0}}}},
			writes: []string{"c/io.weight=4950", "c/io.max=8:0 rbps=100", "c/io.max=8:0 wbps=max"},
		},
		{
			name:  "io with bfq takes v1 weights",
			files: files("c", "io.weight", "io.bfq.weight"),
			r: &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{Weight: p(uint16(500)),
				WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Weight: p(uint16(200))}}}},
			writes: []string{"c/io.bfq.weight=500", "c/io.bfq.weight=8:16 200"},
		},
		{
			name:  "per-device weight needs bfq",
			files: files("c", "io.weight"),
			r: &specs.LinuxResources{BlockIO: &specs.LinuxBlockIO{
				WeightDevice: []specs.LinuxWeightDevice{{LinuxBlockIODevice: specs.LinuxBlockIODevice{Major: 8, Minor: 16}, Weight: p(uint16(200))}}}},
			errHas: "BFQ",
		},
		{
			name:   "pids",
			files:  files("c", "pids.max"),
			r:      &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: 64}},
			writes: []string{"c/pids.max=64"},
		},
		{
			name:   "hugetlb",
			files:  files("c", "hugetlb.2MB.max"),
			r:      &specs.LinuxResources{HugepageLimits: []specs.LinuxHugepageLimit{{Pagesize: "2MB", Limit: 0}}},
			writes: []string{"c/hugetlb.2MB.max=0", "c/hugetlb.2MB.rsvd.max=0"},
		},
		{
			name:   "rdma",
			files:  files("c", "rdma.max"),
			r:      &specs.LinuxResources{Rdma: map[string]specs.LinuxRdma{"mlx5_1": {HcaObjects: p(uint32(9))}, "mlx5_0": {HcaHandles: p(uint32(3)), HcaObjects: p(uint32(100))}}},
			writes: []string{"c/rdma.max=mlx5_0 hca_handle=3 hca_object=100", "c/rdma.max=mlx5_1 hca_object=9"},
		},
		{
			name:   "network is ignored on v2",
			r:      &specs.LinuxResources{Network: &specs.LinuxNetwork{ClassID: p(uint32(1))}},
			writes: nil,
		},
		{
			name:   "unified written verbatim after the rest",
			files:  merge(mem, files("c", "memory.high", "pids.max")),
			r:      &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: p(int64(1 << 20))}, Unified: map[string]string{"memory.max": "max", "memory.high": "500000"}},
			writes: []string{"c/memory.max=1048576", "c/memory.high=500000", "c/memory.max=max"},
		},
		{
			name:   "unified key with a slash",
			r:      &specs.LinuxResources{Unified: map[string]string{"../cgroup.procs": "1"}},
			errHas: "not a cgroup file name",
		},
		{
			name:   "unified cannot move processes",
			r:      &specs.LinuxResources{Unified: map[string]string{"cgroup.procs": "1"}},
			errHas: "may not be set",
		},
	})
}

func TestSetV2Devices(t *testing.T) {
	f := newFakeV2(t, "memory")
	m, _ := newManager(f.l, "/c", "")
	var gotDir string
	var gotProg []bpfInsn
	m.attachDevices = func(dir string, prog []bpfInsn) error {
		gotDir, gotProg = dir, prog
		return nil
	}
	r := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		{Allow: true, Type: "c", Major: p(int64(1)), Minor: p(int64(3)), Access: "rw"},
	}}
	if err := m.Set(r); err != nil {
		t.Fatal(err)
	}
	if gotDir != filepath.Join(f.root, "c") {
		t.Errorf("program attached to %q", gotDir)
	}
	if runProg(t, gotProg, devChar, accRead|accWrite, 1, 3) != 1 || runProg(t, gotProg, devChar, accRead, 1, 5) != 0 {
		t.Error("attached program does not enforce the rules")
	}
	m.attachDevices = func(string, []bpfInsn) error { return unix.EPERM }
	if err := m.Set(r); !errors.Is(err, unix.EPERM) {
		t.Errorf("attach failure: err = %v, want EPERM kept", err)
	}
}

func TestConversions(t *testing.T) {
	for _, tt := range []struct{ shares, weight uint64 }{{0, 0}, {1, 1}, {2, 1}, {1024, 39}, {262144, 10000}, {1 << 20, 10000}} {
		if got := sharesToWeight(tt.shares); got != tt.weight {
			t.Errorf("sharesToWeight(%d) = %d, want %d", tt.shares, got, tt.weight)
		}
	}
	for _, tt := range []struct {
		w    uint16
		want uint64
	}{{0, 0}, {10, 1}, {100, 910}, {500, 4950}, {1000, 10000}} {
		if got := blkioToIOWeight(tt.w); got != tt.want {
			t.Errorf("blkioToIOWeight(%d) = %d, want %d", tt.w, got, tt.want)
		}
	}
}

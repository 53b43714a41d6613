// Package hostinfo describes the benchmark host (kernel, CPUs, cgroup layout)
// and prepares its cgroups for crun, which refuses a cgroup v1 hybrid
// layout while hugetlb is only on the v2 hierarchy.
package hostinfo

import (
	"fmt"
	"os"
	goruntime "runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/mountinfo"
)

// Info describes the host a benchmark ran on.
type Info struct {
	Kernel string `json:"kernel"`
	Arch   string `json:"arch"`
	CPUs   int    `json:"cpus"`
	Cgroup string `json:"cgroup"`
}

// Host returns the Info of this host.
func Host() Info {
	h := Info{Arch: goruntime.GOARCH, CPUs: goruntime.NumCPU(), Cgroup: CgroupMode()}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		h.Kernel = unix.ByteSliceToString(u.Release[:])
	}
	return h
}

// CgroupMode names the cgroup layout: v2, v1 or hybrid.
func CgroupMode() string {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "cgroup v2"
	}
	if err := unix.Statfs("/sys/fs/cgroup/unified", &st); err == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "cgroup v1 hybrid"
	}
	return "cgroup v1"
}

// HugetlbV1 reports whether hugetlb is mounted as a cgroup v1 hierarchy.
func HugetlbV1(ms []mountinfo.Mount) bool {
	return slices.ContainsFunc(ms, func(m mountinfo.Mount) bool {
		return m.FSType == "cgroup" && slices.Contains(m.SuperOpts, "hugetlb")
	})
}

// EnsureHugetlb makes crun accept a cgroup v1 hybrid host: crun 1.8 refuses
// "cgroups in hybrid mode" while a v1 controller (hugetlb) is only on the v2
// hierarchy. It mounts hugetlb as a v1 hierarchy at /sys/fs/cgroup/hugetlb
// when allowed, and returns what it did.
func EnsureHugetlb(allowed bool) (string, error) {
	if CgroupMode() != "cgroup v1 hybrid" {
		return "", nil
	}
	ms, err := mountinfo.Read()
	if err != nil {
		return "", err
	}
	if HugetlbV1(ms) {
		return "", nil
	}
	ctrl, _ := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
	if !slices.Contains(strings.Fields(string(ctrl)), "hugetlb") {
		return "", nil
	}
	const dir = "/sys/fs/cgroup/hugetlb"
	if !allowed {
		return "", fmt.Errorf("hugetlb is not mounted as cgroup v1: crun will refuse hybrid mode (mount -t cgroup -o hugetlb cgroup %s)", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("crun needs hugetlb as cgroup v1: %w", err)
	}
	if err := unix.Mount("cgroup", dir, "cgroup", 0, "hugetlb"); err != nil {
		return "", fmt.Errorf("crun needs hugetlb as cgroup v1: mount %s: %w", dir, err)
	}
	return "mounted the hugetlb cgroup controller as a v1 hierarchy at " + dir + " (crun refuses cgroup v1 hybrid mode otherwise); it stays mounted", nil
}

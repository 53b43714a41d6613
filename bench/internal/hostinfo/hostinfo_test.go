package hostinfo

import (
	"testing"

	"github.com/petrel-edge/petrel/core/mountinfo"
)

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
			if got := HugetlbV1(mountinfo.Parse(tt.text)); got != tt.want {
				t.Errorf("hugetlbV1 = %v, want %v", got, tt.want)
			}
		})
	}
}

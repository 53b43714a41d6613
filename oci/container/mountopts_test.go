package container

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	tests := []struct {
		opts  []string
		flags uintptr
		nprop int
		data  string
	}{
		{nil, 0, 0, ""},
		{[]string{"nosuid", "noexec", "mode=755", "size=65536k"}, unix.MS_NOSUID | unix.MS_NOEXEC, 0, "mode=755,size=65536k"},
		{[]string{"rbind", "ro", "rprivate"}, unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, 1, ""},
		{[]string{"ro", "rw"}, 0, 0, ""},
		{[]string{"bind", "shared", "newinstance"}, unix.MS_BIND, 1, "newinstance"},
	}
	for _, tc := range tests {
		flags, prop, data := parseMountOptions(tc.opts)
		if flags != tc.flags || len(prop) != tc.nprop || data != tc.data {
			t.Errorf("%v: got %#x %v %q; want %#x %d %q", tc.opts, flags, prop, data, tc.flags, tc.nprop, tc.data)
		}
	}
}

package netns

import (
	"os"
	"runtime"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// TestOpen checks that Open gives a namespace of its own whose loopback
// is up, and that the caller stays where it was.
func TestOpen(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	before := nsInode(t, "/proc/thread-self/ns/net")
	f, err := Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := nsInode(t, "/proc/self/fd/"+strconv.Itoa(int(f.Fd()))); got == before {
		t.Fatal("Open returned the caller's namespace")
	}
	flags := make(chan uint16, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread ends in f's namespace
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			t.Error(err)
			flags <- 0
			return
		}
		flags <- loFlags(t)
	}()
	if fl := <-flags; fl&unix.IFF_UP == 0 {
		t.Errorf("lo flags %#x in the new namespace: not up", fl)
	}
	if after := nsInode(t, "/proc/thread-self/ns/net"); after != before {
		t.Error("the calling thread changed namespace")
	}
}

func nsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// loFlags reads lo's flags in the calling thread's namespace.
func loFlags(t *testing.T) uint16 {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer unix.Close(fd)
	ifr, _ := unix.NewIfreq("lo")
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		t.Error(err)
		return 0
	}
	return ifr.Uint16()
}

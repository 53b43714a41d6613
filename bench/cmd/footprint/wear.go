package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A scratch is a fresh ext4 filesystem on a loop device that holds
// petreld's root and state directories and nothing else, so the sectors
// its device has written are exactly what the engine cost the flash:
// data, metadata and journal, by any process (daemon, shims, runtime).
type scratch struct {
	img, dev, mnt string
	stat          string // /sys/block/loopN/stat
}

// newScratch makes a size-MiB ext4 image in dir and mounts it on dir/mnt.
// The inode tables and the journal are initialised by mkfs, not lazily
// after mounting, so that the filesystem writes nothing on its own.
func newScratch(dir string, sizeMiB int64) (_ *scratch, err error) {
	s := &scratch{img: filepath.Join(dir, "fs.img"), mnt: filepath.Join(dir, "mnt")}
	f, err := os.Create(s.img)
	if err != nil {
		return nil, err
	}
	err = f.Truncate(sizeMiB << 20)
	f.Close()
	if err != nil {
		return nil, err
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", s.img).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("mkfs.ext4: %v: %s", err, out)
	}
	out, err := exec.Command("losetup", "--find", "--show", s.img).Output()
	if err != nil {
		return nil, fmt.Errorf("losetup: %w", err)
	}
	s.dev = strings.TrimSpace(string(out))
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	s.stat = filepath.Join("/sys/block", filepath.Base(s.dev), "stat")
	if err := os.MkdirAll(s.mnt, 0o755); err != nil {
		return nil, err
	}
	if err := unix.Mount(s.dev, s.mnt, "ext4", 0, ""); err != nil {
		return nil, fmt.Errorf("mount %s: %w", s.dev, err)
	}
	return s, nil
}

// written syncs the filesystem and returns the bytes its device has
// written since it was attached.
func (s *scratch) written() (int64, error) {
	fd, err := unix.Open(s.mnt, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	err = unix.Syncfs(fd)
	unix.Close(fd)
	if err != nil {
		return 0, fmt.Errorf("syncfs: %w", err)
	}
	data, err := os.ReadFile(s.stat)
	if err != nil {
		return 0, err
	}
	return parseSectorsWritten(string(data))
}

// parseSectorsWritten returns the bytes written from a block device's
// stat file: its seventh field counts 512-byte sectors.
func parseSectorsWritten(stat string) (int64, error) {
	f := strings.Fields(stat)
	if len(f) < 7 {
		return 0, fmt.Errorf("block stat %q: too few fields", stat)
	}
	n, err := strconv.ParseInt(f[6], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("block stat: %w", err)
	}
	return n * 512, nil
}

func (s *scratch) close() error {
	var errs []error
	if err := unix.Unmount(s.mnt, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		errs = append(errs, fmt.Errorf("unmount %s: %w", s.mnt, err))
	}
	if s.dev != "" {
		if out, err := exec.Command("losetup", "-d", s.dev).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("losetup -d %s: %v: %s", s.dev, err, out))
		}
	}
	return errors.Join(errs...)
}

// A recorder watches directory trees with inotify and records every
// change of a file or directory in them: which files were written, made,
// renamed or removed. It names what the device counters only count.
type recorder struct {
	f     *os.File
	mu    sync.Mutex
	dirs  map[int]string // watch descriptor: directory
	seen  map[string]int // path: changes
	done  chan struct{}
	errs  []error
	roots map[string]string // directory: its name in reports
}

const recordMask = unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_CREATE | unix.IN_MOVED_TO |
	unix.IN_MOVED_FROM | unix.IN_DELETE | unix.IN_ATTRIB

// newRecorder watches the trees of roots, a map of directories to the
// names that stand for them in the paths take returns.
func newRecorder(roots map[string]string) (*recorder, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	r := &recorder{f: os.NewFile(uintptr(fd), "inotify"), dirs: map[int]string{}, seen: map[string]int{},
		done: make(chan struct{}), roots: roots}
	for root := range roots {
		if err := r.addTree(root); err != nil {
			r.f.Close()
			return nil, err
		}
	}
	go r.read()
	return r, nil
}

func (r *recorder) addTree(root string) error {
	return filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // gone meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		wd, err := unix.InotifyAddWatch(int(r.f.Fd()), p, recordMask|unix.IN_ONLYDIR|unix.IN_DONT_FOLLOW)
		if err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return fmt.Errorf("watch %s: %w", p, err)
		}
		r.mu.Lock()
		r.dirs[wd] = p
		r.mu.Unlock()
		return nil
	})
}

func (r *recorder) read() {
	defer close(r.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := r.f.Read(buf)
		if err != nil {
			return // closed
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := ""
			if ev.Len > 0 {
				b := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				name = strings.TrimRight(string(b), "\x00")
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				r.mu.Lock()
				r.seen["(inotify lost events: its queue overflowed)"]++
				r.mu.Unlock()
				continue
			}
			r.mu.Lock()
			dir := r.dirs[int(ev.Wd)]
			if ev.Mask&unix.IN_IGNORED != 0 {
				delete(r.dirs, int(ev.Wd))
			}
			r.mu.Unlock()
			if dir == "" || ev.Mask&recordMask == 0 {
				continue
			}
			p := filepath.Join(dir, name)
			r.mu.Lock()
			r.seen[p]++
			r.mu.Unlock()
			if ev.Mask&unix.IN_ISDIR != 0 && ev.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0 {
				if err := r.addTree(p); err != nil {
					r.mu.Lock()
					r.errs = append(r.errs, err)
					r.mu.Unlock()
				}
			}
		}
	}
}

// take returns the paths changed since the last take (under their root's
// name, sorted) with their change counts, and forgets them.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for p, n := range r.seen {
		rel := p
		for root, name := range r.roots {
			if q, err := filepath.Rel(root, p); err == nil && !strings.HasPrefix(q, "..") {
				rel = filepath.Join(name, q)
			}
		}
		out = append(out, fmt.Sprintf("%s (%d)", rel, n))
	}
	sort.Strings(out)
	r.seen = map[string]int{}
	return out
}

func (r *recorder) close() error {
	r.f.Close()
	<-r.done
	return errors.Join(r.errs...)
}

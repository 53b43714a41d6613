package cgroups

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrSystemdPath is returned by New for a systemd "slice:prefix:name"
// cgroupsPath: Petrel manages cgroupfs directly and has no systemd driver.
var ErrSystemdPath = errors.New("systemd cgroup paths (slice:prefix:name) are not supported: no systemd cgroup driver")

// Keys of Paths for the v2 hierarchy: the only key on a pure v2 host, and the
// v2 hierarchy of a hybrid host.
const (
	keyUnified = ""
	keyHybrid  = "unified"
)

// Manager is the cgroup of one container in every hierarchy of the host.
type Manager struct {
	paths   map[string]string // controller (or keyUnified/keyHybrid) -> cgroup dir
	v2      map[string]bool   // keys whose dir is on the v2 hierarchy
	mounts  map[string]string // key -> mount point; unknown after Load
	v2ctrls []string          // controllers to enable in v2 subtree_control
	created []string          // dirs Apply made, parents first
	made    bool              // the dirs exist: a later Apply only moves pids in

	// attachDevices loads and attaches a v2 device program; replaced in tests.
	attachDevices func(dir string, prog []bpfInsn) error
	// trace, when set, sees every file write (tests).
	trace func(path, value string)
}

// New resolves the container's cgroup from the spec's cgroupsPath; "" means
// "/petrel/<id>". An absolute path is taken relative to each hierarchy's root,
// a relative one relative to the calling process's own cgroup, as runc does.
// Nothing is created yet.
func New(cgroupsPath, id string) (*Manager, error) {
	l, err := hostLayout()
	if err != nil {
		return nil, fmt.Errorf("probe cgroup layout: %w", err)
	}
	return newManager(l, cgroupsPath, id)
}

// isSystemdPath reports whether p has systemd's "slice:prefix:name" form.
func isSystemdPath(p string) bool {
	return strings.Count(p, ":") == 2 && !strings.Contains(p, "/")
}

func newManager(l *layout, cgroupsPath, id string) (*Manager, error) {
	p := cgroupsPath
	if p == "" {
		if id == "" || id == "." || id == ".." || strings.Contains(id, "/") {
			return nil, fmt.Errorf("invalid container id %q for a cgroup name", id)
		}
		p = "/petrel/" + id
	}
	if isSystemdPath(p) {
		return nil, fmt.Errorf("cgroupsPath %q: %w", p, ErrSystemdPath)
	}
	rel := !filepath.IsAbs(p)
	inner := filepath.Clean("/" + p) // ".." cannot climb above the start
	if inner == "/" {
		return nil, fmt.Errorf("cgroupsPath %q names the root cgroup", cgroupsPath)
	}
	var own map[string]string
	if rel {
		b, err := l.selfCgroup()
		if err != nil {
			return nil, fmt.Errorf("read own cgroup: %w", err)
		}
		own = ownCgroups(b)
	}
	resolve := func(ownKey, mnt, mroot string) (string, error) {
		if !rel {
			return filepath.Join(mnt, inner), nil
		}
		o, ok := own[ownKey]
		if !ok {
			return "", fmt.Errorf("cgroupsPath %q: own cgroup of %q not found in /proc/self/cgroup", cgroupsPath, ownKey)
		}
		// Below a cgroup namespace or a bind mount the mount shows only
		// part of the hierarchy.
		if mroot != "/" && mroot != "" {
			if o == mroot {
				o = "/"
			} else if strings.HasPrefix(o, mroot+"/") {
				o = strings.TrimPrefix(o, mroot)
			}
		}
		return filepath.Join(mnt, o, inner), nil
	}

	m := &Manager{
		paths:   make(map[string]string),
		v2:      make(map[string]bool),
		mounts:  make(map[string]string),
		v2ctrls: l.v2ctrls,
	}
	if l.unified {
		dir, err := resolve("", l.v2, l.v2root)
		if err != nil {
			return nil, err
		}
		m.paths[keyUnified], m.v2[keyUnified], m.mounts[keyUnified] = dir, true, l.v2
		return m, nil
	}
	for c, mnt := range l.v1 {
		dir, err := resolve(c, mnt.dir, mnt.root)
		if err != nil {
			return nil, err
		}
		m.paths[c], m.mounts[c] = dir, mnt.dir
	}
	if l.v2 != "" {
		dir, err := resolve("", l.v2, l.v2root)
		if err != nil {
			return nil, err
		}
		m.paths[keyHybrid], m.v2[keyHybrid], m.mounts[keyHybrid] = dir, true, l.v2
		for _, c := range l.v2ctrls {
			m.paths[c], m.v2[c], m.mounts[c] = dir, true, l.v2
		}
	}
	return m, nil
}

// Load rebuilds a manager from the Paths of an earlier one, without probing
// the host.
func Load(paths map[string]string) *Manager {
	m := &Manager{paths: make(map[string]string), v2: make(map[string]bool), mounts: make(map[string]string)}
	for k, v := range paths {
		m.paths[k] = v
	}
	if _, ok := m.paths[keyUnified]; ok {
		m.v2[keyUnified] = true
	}
	if d, ok := m.paths[keyHybrid]; ok {
		for k, v := range m.paths {
			if v == d {
				m.v2[k] = true
			}
		}
	}
	return m
}

// Paths returns the container's cgroup dir per controller: "" is the only key
// on a pure cgroup v2 host; on a hybrid host "unified" is the v2 hierarchy and
// a controller that lives there maps to the same dir.
func (m *Manager) Paths() map[string]string {
	out := make(map[string]string, len(m.paths))
	for k, v := range m.paths {
		out[k] = v
	}
	return out
}

// dirs returns the distinct cgroup dirs, sorted, with the keys naming each.
func (m *Manager) dirs() ([]string, map[string][]string) {
	byDir := make(map[string][]string)
	for k, d := range m.paths {
		byDir[d] = append(byDir[d], k)
	}
	ds := make([]string, 0, len(byDir))
	for d := range byDir {
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds, byDir
}

// Apply creates the cgroup in every hierarchy (remembering what it created for
// Destroy) and moves pid into it. A pid <= 0 only creates; once created, a
// later Apply only moves pid in.
func (m *Manager) Apply(pid int) error {
	ds, byDir := m.dirs()
	for _, d := range ds {
		if m.made {
			break
		}
		keys := byDir[d]
		if err := m.mkdirs(d, keys); err != nil {
			return err
		}
	}
	m.made = true
	if pid <= 0 {
		return nil
	}
	v := strconv.Itoa(pid)
	for _, d := range ds {
		if err := m.write(d, "cgroup.procs", v); err != nil {
			return fmt.Errorf("join cgroup: %w", err)
		}
	}
	return nil
}

// mkdirs creates dir and the missing dirs above it, below the hierarchy's
// mount point. On v2 it enables the controllers in each parent first; on v1
// cpuset it copies cpus and mems into each new dir (else no task may join).
func (m *Manager) mkdirs(dir string, keys []string) error {
	var top string
	isV2, cpuset := false, false
	for _, k := range keys {
		if m.mounts[k] != "" {
			top = m.mounts[k]
		}
		isV2 = isV2 || m.v2[k]
		cpuset = cpuset || k == "cpuset"
	}
	if top == "" {
		// Loaded from state: start at the nearest existing dir.
		top = dir
		for {
			if _, err := os.Stat(top); err == nil || top == "/" {
				break
			}
			top = filepath.Dir(top)
		}
	}
	rel, err := filepath.Rel(top, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		if rel == "." {
			return nil
		}
		return fmt.Errorf("cgroup %s is outside its hierarchy %s", dir, top)
	}
	cur := top
	for _, part := range strings.Split(rel, "/") {
		child := filepath.Join(cur, part)
		if isV2 {
			m.enableControllers(cur)
		}
		err := os.Mkdir(child, 0o755)
		switch {
		case err == nil:
			m.created = append(m.created, child)
			if cpuset && !isV2 {
				if err := m.initCpuset(cur, child); err != nil {
					return err
				}
			}
		case errors.Is(err, fs.ErrExist):
		default:
			return fmt.Errorf("create cgroup: %w", err)
		}
		cur = child
	}
	return nil
}

// enableControllers turns on the v2 controllers for dir's children. A
// controller the kernel refuses stays off; setting its files then fails
// with a clear error.
func (m *Manager) enableControllers(dir string) {
	if len(m.v2ctrls) == 0 {
		return
	}
	all := "+" + strings.Join(m.v2ctrls, " +")
	if m.write(dir, "cgroup.subtree_control", all) == nil {
		return
	}
	for _, c := range m.v2ctrls {
		_ = m.write(dir, "cgroup.subtree_control", "+"+c)
	}
}

func (m *Manager) initCpuset(parent, child string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		v, err := readString(parent, f)
		if err != nil {
			return err
		}
		if v == "" {
			continue
		}
		if err := m.write(child, f, v); err != nil {
			return err
		}
	}
	return nil
}

// Destroy removes the container's cgroup dirs, their children first, and any
// parent Apply created in this process that is now empty. Removing a cgroup
// whose last process is still exiting is retried briefly. Destroying what is
// already gone succeeds.
func (m *Manager) Destroy() error {
	ds, _ := m.dirs()
	var errs []error
	for _, d := range ds {
		if err := removeTree(d); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(m.created) - 1; i >= 0; i-- {
		// Shared parents such as /petrel may hold other containers.
		_ = unix.Rmdir(m.created[i])
	}
	m.created = nil
	return errors.Join(errs...)
}

func removeTree(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove cgroup: %w", err)
	}
	for _, e := range ents {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	delay := time.Millisecond
	for try := 0; ; try++ {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) || try == 10 {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		time.Sleep(delay)
		delay = min(2*delay, 100*time.Millisecond)
	}
}

// mainDir is the dir that stands for the whole cgroup when one is enough.
func (m *Manager) mainDir() string {
	for _, k := range []string{keyUnified, "freezer", "pids", "memory", "devices", "cpu", keyHybrid} {
		if d, ok := m.paths[k]; ok {
			return d
		}
	}
	ds, _ := m.dirs()
	if len(ds) > 0 {
		return ds[0]
	}
	return ""
}

// Exists reports whether the container's cgroup exists.
func (m *Manager) Exists() bool {
	d := m.mainDir()
	if d == "" {
		return false
	}
	_, err := os.Stat(d)
	return err == nil
}

// Pids returns every process in the cgroup and in the cgroups below it.
func (m *Manager) Pids() ([]int, error) {
	var pids []int
	var walk func(dir string) error
	walk = func(dir string) error {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return err
		}
		for _, f := range strings.Fields(string(b)) {
			p, err := strconv.Atoi(f)
			if err != nil {
				return fmt.Errorf("parse %s: %w", filepath.Join(dir, "cgroup.procs"), err)
			}
			pids = append(pids, p)
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.IsDir() {
				if err := walk(filepath.Join(dir, e.Name())); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk(m.mainDir()); err != nil {
		return nil, fmt.Errorf("list cgroup processes: %w", err)
	}
	return pids, nil
}

// write sets one cgroup file, naming file and value on failure with the
// errno kept reachable.
func (m *Manager) write(dir, file, value string) error {
	p := filepath.Join(dir, file)
	if m.trace != nil {
		m.trace(p, value)
	}
	// Plain syscalls: cgroupfs files need no poller, and this is the
	// hot path of container creation.
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err == nil {
		for {
			_, err = unix.Write(fd, []byte(value))
			if err != unix.EINTR {
				break
			}
		}
		unix.Close(fd)
	}
	if err != nil {
		return fmt.Errorf("set %s to %q: %w", p, value, err)
	}
	return nil
}

// readString returns a cgroup file's contents without the trailing newline.
func readString(dir, file string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// readUint parses a single-number cgroup file; "max" is MaxUint64.
func readUint(dir, file string) (uint64, error) {
	s, err := readString(dir, file)
	if err != nil {
		return 0, err
	}
	return parseUint(s, filepath.Join(dir, file))
}

func parseUint(s, where string) (uint64, error) {
	if s == "max" {
		return 1<<64 - 1, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// Negative values (a v1 file at its floor) read as 0.
		if i, ierr := strconv.ParseInt(s, 10, 64); ierr == nil && i < 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("parse %s: %w", where, err)
	}
	return v, nil
}

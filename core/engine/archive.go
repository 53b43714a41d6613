package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/archive"
	"github.com/petrel-edge/petrel/core/errdefs"
)

// archiveTarget finds where a container path lives: for a running
// container, its own view through /proc/PID/root (every mount in it);
// for a stopped one, the rootfs or the bind or volume mounted there.
// It returns the root (closed with its release, which also gives back
// the stopped container's operation token), the path inside it and
// whether writes are refused.
func (e *Engine) archiveTarget(id, p string) (*archiveRoot, string, bool, error) {
	if p == "" {
		return nil, "", false, errdefs.Invalid("a path in the container is required")
	}
	c, err := e.Lookup(id)
	if err != nil {
		return nil, "", false, err
	}
	c.mu.Lock()
	running := c.running()
	c.mu.Unlock()
	unlock := func() {}
	if !running {
		// A stopped container neither starts nor goes meanwhile, and
		// an image container's rootfs is mounted again if it is not.
		c.lock()
		unlock = c.unlock
		c.mu.Lock()
		running, removed := c.running(), c.removed
		c.mu.Unlock()
		if running {
			c.unlock()
			return e.archiveTarget(id, p)
		}
		if removed {
			c.unlock()
			return nil, "", false, errdefs.NotFound("No such container: %s", id)
		}
		if err := e.mountRootfs(c); err != nil {
			c.unlock()
			return nil, "", false, err
		}
	}
	r, inner, ro, err := e.archiveTargetOf(c, p, running)
	if err != nil {
		unlock()
		return nil, "", false, err
	}
	return &archiveRoot{Root: r, unlock: unlock}, inner, ro, nil
}

// archiveRoot is a root with what to give back when done.
type archiveRoot struct {
	*archive.Root
	unlock func()
}

func (r *archiveRoot) Close() error {
	err := r.Root.Close()
	r.unlock()
	return err
}

func (e *Engine) archiveTargetOf(c *Container, p string, running bool) (*archive.Root, string, bool, error) {
	c.mu.Lock()
	pid, rootfs, hc, id := c.rec.State.Pid, c.rec.Rootfs, c.hostConfig, c.rec.ID
	c.mu.Unlock()
	clean := path.Clean("/" + p)
	suffix := ""
	if strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/") && clean != "/" {
		suffix = "/."
	}
	ms, err := mountSpecs(hc)
	if err != nil {
		return nil, "", false, err
	}
	var best *mountSpec
	for i, m := range ms {
		if clean == m.dst || strings.HasPrefix(clean, m.dst+"/") {
			if best == nil || len(m.dst) > len(best.dst) {
				best = &ms[i]
			}
		}
	}
	readonly := hc.ReadonlyRootfs
	if best != nil {
		readonly = best.ro
	}
	dir, inner := rootfs, clean
	switch {
	case running && pid > 0:
		dir = "/proc/" + strconv.Itoa(pid) + "/root"
	case best != nil && best.typ == "bind":
		dir, inner = best.src, "/"+strings.TrimPrefix(strings.TrimPrefix(clean, best.dst), "/")
	case best != nil && best.typ == "volume":
		dir, inner = e.vols.Path(best.src), "/"+strings.TrimPrefix(strings.TrimPrefix(clean, best.dst), "/")
		// cp is a first mount too: the volume gets the container's
		// content before anything is copied in or out.
		if !best.nocopy {
			m := *best
			if err := e.vols.Populate(m.src, func(d string) error { return copyUp(rootfs, m.dst, d) }); err != nil {
				return nil, "", false, fmt.Errorf("volume %s: copy %s from the container: %w", m.src, m.dst, err)
			}
		}
	}
	r, err := archive.OpenRoot(dir)
	if err != nil {
		if running {
			return nil, "", false, errdefs.Conflict("container %s is not running any more", id)
		}
		return nil, "", false, fmt.Errorf("container %s: %w", id, err)
	}
	// The pid may have exited and been reused before the root was
	// opened: the process must still be in the container's cgroup.
	if running && !inCgroup(pid, id) {
		r.Close()
		return nil, "", false, errdefs.Conflict("container %s is not running any more", id)
	}
	return r, strings.TrimSuffix(inner, "/") + suffix, readonly, nil
}

// inCgroup reports whether process pid is in the cgroup of container id.
func inCgroup(pid int, id string) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	return err == nil && strings.Contains(string(data), "/"+id)
}

func notFound(err error, p, id string) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return errdefs.NotFound("Could not find the file %s in container %s", p, id)
	}
	return err
}

// ArchiveStat describes a path in the container (HEAD archive).
func (e *Engine) ArchiveStat(id, p string) (api.PathStat, error) {
	r, inner, _, err := e.archiveTarget(id, p)
	if err != nil {
		return api.PathStat{}, err
	}
	defer r.Close()
	st, err := r.Stat(inner)
	return st, notFound(err, p, id)
}

// ArchiveGet writes a tar stream of a path in the container; ready gets
// the path's description before the first byte is written.
func (e *Engine) ArchiveGet(id, p string, w io.Writer, ready func(api.PathStat)) error {
	r, inner, _, err := e.archiveTarget(id, p)
	if err != nil {
		return err
	}
	defer r.Close()
	st, err := r.Stat(inner)
	if err != nil {
		return notFound(err, p, id)
	}
	ready(st)
	return r.Tar(inner, w)
}

// ArchivePut extracts a tar stream into a directory of the container.
func (e *Engine) ArchivePut(id, p string, rd io.Reader, o archive.UntarOptions) error {
	r, inner, readonly, err := e.archiveTarget(id, p)
	if err != nil {
		return err
	}
	defer r.Close()
	if readonly {
		return errdefs.Conflict("container rootfs is marked read-only")
	}
	st, err := r.Stat(inner + "/.")
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return errdefs.Invalid("extraction point is not a directory")
		}
		return notFound(err, p, id)
	}
	if !st.Mode.IsDir() {
		return errdefs.Invalid("extraction point is not a directory")
	}
	if err := r.Untar(inner, rd, o); err != nil {
		if errors.Is(err, archive.ErrNotDir) {
			return errdefs.Invalid("extraction point is not a directory")
		}
		return errdefs.Invalid("copy into %s: %v", p, err)
	}
	return nil
}

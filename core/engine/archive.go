package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
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
// It returns the root, the path inside it and whether writes are refused.
func (e *Engine) archiveTarget(id, p string) (*archive.Root, string, bool, error) {
	if p == "" {
		return nil, "", false, errdefs.Invalid("a path in the container is required")
	}
	c, err := e.Lookup(id)
	if err != nil {
		return nil, "", false, err
	}
	c.mu.Lock()
	running, pid, rootfs, hc := c.running(), c.rec.State.Pid, c.rec.Rootfs, c.hostConfig
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
	}
	r, err := archive.OpenRoot(dir)
	if err != nil {
		return nil, "", false, fmt.Errorf("container %s: %w", c.rec.ID, err)
	}
	return r, strings.TrimSuffix(inner, "/") + suffix, readonly, nil
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

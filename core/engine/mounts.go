package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/archive"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/core/volume"
)

// mountSpec is one parsed -v, --mount or --tmpfs.
type mountSpec struct {
	typ         string // bind, volume, tmpfs
	src         string // host path of a bind, name of a volume
	dst         string
	ro          bool
	propagation string // of a bind
	nocopy      bool   // of a volume
	tmpfsOpts   []string
	anonymous   bool // a volume mount without a name (made at create)
}

var propagations = []string{"private", "rprivate", "shared", "rshared", "slave", "rslave"}

func isPropagation(s string) bool {
	for _, p := range propagations {
		if s == p {
			return true
		}
	}
	return false
}

// parseBind reads one -v SRC:DST[:OPTS]: SRC is an absolute host path
// or a volume name.
func parseBind(b string) (mountSpec, error) {
	parts := strings.Split(b, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return mountSpec{}, errdefs.Invalid("invalid volume specification: '%s'", b)
	}
	if !filepath.IsAbs(parts[1]) {
		return mountSpec{}, errdefs.Invalid("invalid volume specification: '%s': invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", b, parts[1])
	}
	m := mountSpec{typ: "bind", src: parts[0], dst: filepath.Clean(parts[1]), propagation: "rprivate"}
	if !filepath.IsAbs(parts[0]) {
		if err := volume.ValidateName(parts[0]); err != nil {
			return mountSpec{}, errdefs.Invalid("invalid volume specification: '%s': %v", b, err)
		}
		m.typ, m.propagation = "volume", ""
	} else {
		m.src = filepath.Clean(parts[0])
	}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch {
			case o == "ro":
				m.ro = true
			case o == "rw", o == "z", o == "Z":
			case o == "nocopy" && m.typ == "volume":
				m.nocopy = true
			case isPropagation(o) && m.typ == "bind":
				m.propagation = o
			default:
				return mountSpec{}, errdefs.Invalid("invalid volume specification: '%s': invalid mode: %s", b, o)
			}
		}
	}
	return m, nil
}

// parseMount checks one --mount as Docker does, with its messages.
func parseMount(mt api.Mount) (mountSpec, error) {
	bad := func(format string, args ...any) (mountSpec, error) {
		return mountSpec{}, errdefs.Invalid("invalid mount config for type \"%s\": "+format, append([]any{mt.Type}, args...)...)
	}
	if mt.Target == "" {
		return bad("field Target must not be empty")
	}
	if !filepath.IsAbs(mt.Target) {
		return bad("invalid mount path: '%s' mount path must be absolute", mt.Target)
	}
	m := mountSpec{typ: mt.Type, src: mt.Source, dst: filepath.Clean(mt.Target), ro: mt.ReadOnly}
	switch mt.Type {
	case "bind":
		if mt.VolumeOptions != nil {
			return bad("field VolumeOptions must not be specified")
		}
		if mt.TmpfsOptions != nil {
			return bad("field TmpfsOptions must not be specified")
		}
		if mt.Source == "" {
			return bad("field Source must not be empty")
		}
		if !filepath.IsAbs(mt.Source) {
			return bad("invalid mount path: '%s' mount path must be absolute", mt.Source)
		}
		m.src = filepath.Clean(mt.Source)
		if _, err := os.Stat(m.src); err != nil {
			return bad("bind source path does not exist: %s", m.src)
		}
		m.propagation = "rprivate"
		if bo := mt.BindOptions; bo != nil && bo.Propagation != "" {
			if !isPropagation(bo.Propagation) {
				return bad("invalid propagation mode %q: use one of %s", bo.Propagation, strings.Join(propagations, ", "))
			}
			m.propagation = bo.Propagation
		}
	case "volume":
		if mt.BindOptions != nil {
			return bad("field BindOptions must not be specified")
		}
		if mt.TmpfsOptions != nil {
			return bad("field TmpfsOptions must not be specified")
		}
		if mt.Source == "" {
			m.anonymous = true
		} else if err := volume.ValidateName(mt.Source); err != nil {
			return bad("%v", err)
		}
		if vo := mt.VolumeOptions; vo != nil {
			if vo.DriverConfig != nil && vo.DriverConfig.Name != "" && vo.DriverConfig.Name != volume.Driver {
				return bad("volume driver %q is not supported: only %q", vo.DriverConfig.Name, volume.Driver)
			}
			m.nocopy = vo.NoCopy
		}
	case "tmpfs":
		if mt.Source != "" {
			return bad("field Source must not be specified")
		}
		if mt.BindOptions != nil || mt.VolumeOptions != nil {
			return bad("only TmpfsOptions may be specified")
		}
		m.src = "tmpfs"
		m.tmpfsOpts = []string{"nosuid", "nodev", "noexec"}
		if to := mt.TmpfsOptions; to != nil {
			if to.SizeBytes < 0 {
				return bad("invalid tmpfs size %d: it cannot be negative", to.SizeBytes)
			}
			if to.SizeBytes > 0 {
				m.tmpfsOpts = append(m.tmpfsOpts, "size="+strconv.FormatInt(to.SizeBytes, 10))
			}
			if to.Mode&^0o7777 != 0 {
				return bad("invalid tmpfs mode %#o", to.Mode)
			}
			if to.Mode != 0 {
				m.tmpfsOpts = append(m.tmpfsOpts, "mode="+strconv.FormatUint(uint64(to.Mode), 8))
			}
		}
	case "":
		return mountSpec{}, errdefs.Invalid("invalid mount config: the mount type is missing: use bind, volume or tmpfs")
	default:
		return bad("mount type unknown: use bind, volume or tmpfs")
	}
	return m, nil
}

// mountSpecs parses every -v, --mount and --tmpfs of hc and refuses two
// mounts on one path.
func mountSpecs(hc *api.HostConfig) ([]mountSpec, error) {
	var out []mountSpec
	for _, b := range hc.Binds {
		m, err := parseBind(b)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	for _, mt := range hc.Mounts {
		m, err := parseMount(mt)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	tmpfs := make([]string, 0, len(hc.Tmpfs))
	for dst := range hc.Tmpfs {
		tmpfs = append(tmpfs, dst)
	}
	sort.Strings(tmpfs)
	for _, dst := range tmpfs {
		if !filepath.IsAbs(dst) {
			return nil, errdefs.Invalid("invalid tmpfs mount point %q: it must be absolute", dst)
		}
		opts := []string{"nosuid", "nodev", "noexec"}
		if o := hc.Tmpfs[dst]; o != "" {
			opts = append(opts, strings.Split(o, ",")...)
		}
		out = append(out, mountSpec{typ: "tmpfs", src: "tmpfs", dst: filepath.Clean(dst), tmpfsOpts: opts})
	}
	seen := map[string]bool{}
	for _, m := range out {
		if seen[m.dst] {
			return nil, errdefs.Invalid("Duplicate mount point: %s", m.dst)
		}
		seen[m.dst] = true
	}
	return out, nil
}

// volumeNames lists the named volumes hc mounts.
func volumeNames(hc *api.HostConfig) []string {
	ms, _ := mountSpecs(hc)
	var out []string
	for _, m := range ms {
		if m.typ == "volume" && m.src != "" {
			out = append(out, m.src)
		}
	}
	return out
}

// createVolumes makes the volumes hc names that do not exist yet, and
// anonymous ones for --mount type=volume without a source (their names
// are written into hc). It returns the volumes it made, for undo.
func (e *Engine) createVolumes(hc *api.HostConfig) ([]string, error) {
	var made []string
	undo := func(err error) ([]string, error) {
		for _, n := range made {
			e.vols.Remove(n)
		}
		return nil, err
	}
	for i, mt := range hc.Mounts {
		if mt.Type == "volume" && mt.Source == "" {
			v, _, err := e.vols.Create(api.VolumeCreateRequest{})
			if err != nil {
				return undo(err)
			}
			made = append(made, v.Name)
			hc.Mounts[i].Source = v.Name
		}
	}
	for _, n := range volumeNames(hc) {
		_, created, err := e.vols.Create(api.VolumeCreateRequest{Name: n})
		if err != nil {
			return undo(err)
		}
		if created {
			made = append(made, n)
		}
	}
	return made, nil
}

// applyMounts adds the container's binds, volumes and tmpfs mounts to
// the spec, parents before children.
func (e *Engine) applyMounts(s *specs.Spec, hc *api.HostConfig) error {
	ms, err := mountSpecs(hc)
	if err != nil {
		return err
	}
	sort.SliceStable(ms, func(i, j int) bool {
		return strings.Count(ms[i].dst, "/") < strings.Count(ms[j].dst, "/")
	})
	for _, m := range ms {
		// A mount replaces one of the spec's defaults on the same path.
		kept := s.Mounts[:0]
		for _, old := range s.Mounts {
			if old.Destination != m.dst {
				kept = append(kept, old)
			}
		}
		s.Mounts = kept
		switch m.typ {
		case "tmpfs":
			opts := m.tmpfsOpts
			if m.ro {
				opts = append(opts, "ro")
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: m.dst, Type: "tmpfs", Source: "tmpfs", Options: opts})
			continue
		case "volume":
			if _, err := e.vols.Get(m.src); err != nil {
				if !errors.Is(err, errdefs.ErrNotFound) {
					return err
				}
				// Removed by hand meanwhile: as Docker, make it again.
				if _, _, err := e.vols.Create(api.VolumeCreateRequest{Name: m.src}); err != nil {
					return err
				}
			}
			opts := []string{"rbind", "rprivate"}
			if m.ro {
				opts = append(opts, "ro")
			}
			if !m.nocopy && s.Root != nil {
				rootfs := s.Root.Path
				if err := e.vols.Populate(m.src, func(dir string) error { return copyUp(rootfs, m.dst, dir) }); err != nil {
					return fmt.Errorf("volume %s: copy %s from the container: %w", m.src, m.dst, err)
				}
			}
			s.Mounts = append(s.Mounts, specs.Mount{Destination: m.dst, Type: "bind", Source: e.vols.Path(m.src), Options: opts})
			continue
		}
		if _, err := os.Stat(m.src); err != nil {
			// As Docker: a missing host directory of -v is created
			// (--mount refused it at create).
			if err := os.MkdirAll(m.src, 0o755); err != nil {
				return errdefs.Invalid("bind source %s: %v", m.src, err)
			}
		}
		opts := []string{"rbind", m.propagation}
		if m.ro {
			opts = append(opts, "ro")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: m.dst, Type: "bind", Source: m.src, Options: opts})
	}
	return nil
}

// copyUp fills a new volume with what the container's rootfs holds at
// the mount point, as Docker does (unless nocopy): owners, modes and
// links kept, nothing followed outside either root.
func copyUp(rootfs, dst, volDir string) error {
	src, err := archive.OpenRoot(rootfs)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat(dst + "/.")
	if err != nil || !st.Mode.IsDir() {
		return nil // nothing there to copy
	}
	to, err := archive.OpenRoot(volDir)
	if err != nil {
		return err
	}
	defer to.Close()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(src.Tar(dst+"/.", pw)) }()
	err = to.Untar("/", pr, archive.UntarOptions{RootAttrs: true})
	pr.CloseWithError(errors.New("copy ended"))
	return err
}

// mountPoints describes the container's mounts for inspect and ps; the
// container's c.mu is held.
func (c *Container) mountPoints() []api.MountPoint {
	out := []api.MountPoint{}
	ms, err := mountSpecs(c.hostConfig)
	if err != nil {
		return out
	}
	volDir := filepath.Join(filepath.Dir(filepath.Dir(c.dir)), "volumes")
	for _, m := range ms {
		mp := api.MountPoint{Type: m.typ, Source: m.src, Destination: m.dst, RW: !m.ro, Propagation: m.propagation}
		switch m.typ {
		case "volume":
			mp.Name, mp.Driver, mp.Source = m.src, volume.Driver, filepath.Join(volDir, m.src, "_data")
			mp.Mode = "z"
		case "tmpfs":
			mp.Source = ""
		}
		if m.ro {
			mp.Mode = strings.TrimPrefix(mp.Mode+",ro", ",")
		}
		out = append(out, mp)
	}
	return out
}

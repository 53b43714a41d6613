package container

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/oci/cgroups"
)

// Status values of the runtime-spec, plus the paused state runc reports.
const (
	Creating = "creating"
	Created  = "created"
	Running  = "running"
	Paused   = "paused"
	Stopped  = "stopped"
)

const (
	stateFile  = "state.json"
	configFile = "config.json" // the bundle's config as it was at create, with updates
	fifoName   = "exec.fifo"
)

// ErrNotExist is returned for a container id with no state under the root.
var ErrNotExist = errors.New("container does not exist")

// ErrExist is returned by Create for an id that is already in use.
var ErrExist = errors.New("container already exists")

// A Container is the persisted record of one container.
type Container struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Pid         int               `json:"pid"`
	PidStart    uint64            `json:"pidStart"` // /proc/<pid>/stat start time, guards against pid reuse
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner,omitempty"`
	CgroupPaths map[string]string `json:"cgroupPaths,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`

	spec     *specs.Spec // config.json of the state dir, read on first use
	specJSON []byte      // its bytes; nil once spec changed
	view     *specView   // what Start and Delete need, when a handover said (AdoptHandover)
	dir      string
	proc     *Process // the init, when this process created it
}

// ValidateID rejects ids that could escape the root or confuse tools:
// letters, digits and _ + - . only, not starting with a dot or dash.
func ValidateID(id string) error {
	ok := len(id) > 0 && len(id) <= 1024 && id[0] != '.' && id[0] != '-'
	for i := 0; ok && i < len(id); i++ {
		b := id[i]
		ok = b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_' || b == '+' || b == '-' || b == '.'
	}
	if !ok {
		return fmt.Errorf("invalid container id %q: use letters, digits, and _ + - .", id)
	}
	return nil
}

// Load reads the container id from root.
func Load(root, id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, id)
	data, err := readNoatime(filepath.Join(dir, stateFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Stat(dir); err == nil {
				return &Container{ID: id, dir: dir}, nil // still being created
			}
			return nil, fmt.Errorf("container %s: %w", id, ErrNotExist)
		}
		return nil, err
	}
	c := &Container{dir: dir}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("container %s: corrupt state: %w", id, err)
	}
	return c, nil
}

// Adopt loads a created container whose init, pid, is a child of this
// process that Load cannot know of, as after the process that created it
// executed itself again: Wait then reaps it.
func Adopt(root, id string, pid int) (*Container, error) {
	c, err := Load(root, id)
	if err != nil {
		return nil, err
	}
	if c.Pid != pid || pid <= 0 {
		return nil, fmt.Errorf("container %s: its init is %d, not %d", id, c.Pid, pid)
	}
	c.proc = &Process{Pid: pid}
	return c, nil
}

// List returns the containers under root, sorted by id.
func List(root string) ([]*Container, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Container
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		c, err := Load(root, e.Name())
		if err != nil {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

func (c *Container) save() error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return atomicfile.WriteFileVolatile(filepath.Join(c.dir, stateFile), data, 0o600)
}

func (c *Container) saveSpec() error {
	data := c.specJSON
	if data == nil {
		var err error
		if data, err = json.Marshal(c.spec); err != nil {
			return err
		}
		c.specJSON = data
	}
	return atomicfile.WriteFileVolatile(filepath.Join(c.dir, configFile), data, 0o600)
}

// Spec returns the container's configuration: the bundle's config.json as
// it was at create, with later updates. It is read on first use only, so
// that state and list stay cheap.
func (c *Container) Spec() (*specs.Spec, error) {
	if c.spec != nil {
		return c.spec, nil
	}
	data, err := readNoatime(filepath.Join(c.dir, configFile))
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("container %s: corrupt config: %w", c.ID, err)
	}
	c.spec, c.specJSON = &s, data
	return c.spec, nil
}

// specView is what Start and Delete need of the configuration.
type specView struct {
	hasProcess bool
	mountNS    bool         // Delete: without one, the rootfs mounts are the runtime's to undo
	Hooks      *specs.Hooks // startSpec's only
}

// startSpec reads only what Start needs, unless the whole configuration
// is at hand: decoding all of it in a long-lived shim would leave the
// decoder's caches for every spec type in its heap for good.
func (c *Container) startSpec() (*specView, error) {
	if c.spec != nil {
		return &specView{hasProcess: c.spec.Process != nil, Hooks: c.spec.Hooks}, nil
	}
	if c.view != nil {
		return c.view, nil
	}
	data, err := readNoatime(filepath.Join(c.dir, configFile))
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.ID, err)
	}
	var v struct {
		Process json.RawMessage `json:"process"`
		Hooks   *specs.Hooks    `json:"hooks"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("container %s: corrupt config: %w", c.ID, err)
	}
	return &specView{hasProcess: len(v.Process) > 0 && string(v.Process) != "null", Hooks: v.Hooks}, nil
}

// readNoatime is os.ReadFile without updating the file's access time:
// the first read of a state file after it was written (relatime) would
// otherwise be an inode write, a health check's exec on an idle host
// among them. O_NOATIME needs the file's owner or CAP_FOWNER; without,
// the read goes on with the access time.
func readNoatime(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		f, err = os.Open(path)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// Dir is the container's state directory.
func (c *Container) Dir() string { return c.dir }

func (c *Container) cgroup() *cgroups.Manager {
	if len(c.CgroupPaths) == 0 {
		return nil
	}
	return cgroups.Load(c.CgroupPaths)
}

// Status reports the container's current status.
func (c *Container) Status() string {
	if c.Pid == 0 {
		return Creating
	}
	if !alive(c.Pid, c.PidStart) {
		return Stopped
	}
	if _, err := os.Lstat(filepath.Join(c.dir, fifoName)); err == nil {
		return Created
	}
	if cg := c.cgroup(); cg != nil {
		if frozen, err := cg.Frozen(); err == nil && frozen {
			return Paused
		}
	}
	return Running
}

// State returns the runtime-spec state of the container.
func (c *Container) State() specs.State {
	st := specs.State{
		Version: specs.Version,
		ID:      c.ID,
		Status:  specs.ContainerState(c.Status()),
		Bundle:  c.Bundle,
	}
	if st.Status != Stopped {
		st.Pid = c.Pid
	}
	st.Annotations = c.Annotations
	return st
}

// procStart returns the start time (clock ticks after boot) and the state
// letter of a process from /proc/<pid>/stat.
func procStart(pid int) (start uint64, state byte, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name is in parentheses and may hold spaces or ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 || i+2 >= len(data) {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := bytes.Fields(data[i+2:])
	// fields[0] is field 3 (state); start time is field 22.
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(string(fields[19]), 10, 64)
	return start, fields[0][0], err
}

// alive reports whether pid still runs the process that started at start.
func alive(pid int, start uint64) bool {
	st, state, err := procStart(pid)
	if err != nil || state == 'Z' || state == 'X' {
		return false
	}
	return start == 0 || st == start
}

// signalInit sends sig to the container's init if it is still the same process.
func (c *Container) signalInit(sig unix.Signal) error {
	if !alive(c.Pid, c.PidStart) {
		return fmt.Errorf("container %s is not running", c.ID)
	}
	if err := unix.Kill(c.Pid, sig); err != nil {
		return fmt.Errorf("signal %d to pid %d: %w", sig, c.Pid, err)
	}
	return nil
}

package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/oci/cgroups"
)

// Start lets a created container's process run: it reads the exec fifo
// that init is blocked on, then runs the poststart hooks. warn gets a
// poststart hook failure, which does not fail the start.
func (c *Container) Start(warn func(string)) error {
	if st := c.Status(); st != Created {
		return fmt.Errorf("cannot start container %s: it is %s, not created", c.ID, st)
	}
	spec, err := c.startSpec()
	if err != nil {
		return err
	}
	if !spec.hasProcess {
		// Nothing will ever run: the container stops here.
		c.signalInit(unix.SIGKILL)
		return fmt.Errorf("cannot start container %s: config.json has no process", c.ID)
	}
	fifo := filepath.Join(c.dir, fifoName)
	fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(fd)
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, 100)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("wait on exec fifo: %w", err)
		}
		if n > 0 {
			var b [1]byte
			if n, _ := unix.Read(fd, b[:]); n != 1 {
				return fmt.Errorf("container %s: init exited before start", c.ID)
			}
			break
		}
		if !alive(c.Pid, c.PidStart) {
			return fmt.Errorf("container %s: init exited before start", c.ID)
		}
	}
	// A process that exits at once may be reaped, and its state
	// deleted by its shim, before we get here: the fifo is gone then.
	if err := os.Remove(fifo); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove exec fifo: %w", err)
	}
	if h := spec.Hooks; h != nil && len(h.Poststart) > 0 {
		// The process may be gone already; the hooks still get its pid.
		st := c.State()
		st.Status, st.Pid = Running, c.Pid
		runHooksWarn("poststart", h.Poststart, &st, warn)
	}
	return nil
}

// Signal sends sig to the container's init, or with all to every process
// in its cgroup.
func (c *Container) Signal(sig unix.Signal, all bool) error {
	st := c.Status()
	if st == Stopped || st == Creating {
		return fmt.Errorf("container %s is %s", c.ID, st)
	}
	if !all {
		return c.signalInit(sig)
	}
	cg := c.cgroup()
	if cg == nil {
		return c.signalInit(sig)
	}
	pids, err := cg.Pids()
	if err != nil {
		return err
	}
	if st == Paused && sig == unix.SIGKILL {
		defer cg.Thaw()
	}
	for _, p := range pids {
		if err := unix.Kill(p, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("signal %d to pid %d: %w", sig, p, err)
		}
	}
	return nil
}

// Delete removes a stopped or created container: its processes, cgroup
// and state, then runs the poststop hooks. A running or paused container
// needs force, which kills it first.
func (c *Container) Delete(force bool, warn func(string)) error {
	st := c.Status()
	switch st {
	case Stopped:
	case Creating:
		if !force {
			return fmt.Errorf("cannot delete container %s: it is still being created", c.ID)
		}
	case Created:
		c.killAll()
	default:
		if !force {
			return fmt.Errorf("cannot delete container %s that is not stopped: %s (use --force)", c.ID, st)
		}
		c.killAll()
	}
	if c.Pid != 0 {
		deadline := time.Now().Add(10 * time.Second)
		for alive(c.Pid, c.PidStart) {
			if time.Now().After(deadline) {
				return fmt.Errorf("container %s: init pid %d did not exit after SIGKILL", c.ID, c.Pid)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	mountNS, hooks := true, (*specs.Hooks)(nil)
	if c.view != nil {
		mountNS = c.view.mountNS
	} else if spec, _ := c.Spec(); spec != nil { // nil for a container that died being created
		mountNS, hooks = hasNamespace(spec, specs.MountNamespace), spec.Hooks
	}
	if !mountNS {
		if err := unmountUnder(c.Rootfs); err != nil {
			return err
		}
	}
	if cg := c.cgroup(); cg != nil {
		if err := cg.Destroy(); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		return fmt.Errorf("remove state: %w", err)
	}
	if hooks != nil && len(hooks.Poststop) > 0 {
		s := c.State()
		s.Status = Stopped
		s.Pid = 0
		runHooksWarn("poststop", hooks.Poststop, &s, warn)
	}
	return nil
}

func (c *Container) killAll() {
	if cg := c.cgroup(); cg != nil {
		if pids, err := cg.Pids(); err == nil {
			for _, p := range pids {
				unix.Kill(p, unix.SIGKILL)
			}
			cg.Thaw()
		}
	}
	if c.Pid != 0 && alive(c.Pid, c.PidStart) {
		unix.Kill(c.Pid, unix.SIGKILL)
	}
}

func (c *Container) requireCgroup() (*cgroups.Manager, error) {
	cg := c.cgroup()
	if cg == nil {
		return nil, fmt.Errorf("container %s has no cgroup", c.ID)
	}
	return cg, nil
}

// Pause freezes every process of a running container.
func (c *Container) Pause() error {
	if st := c.Status(); st != Running && st != Created {
		return fmt.Errorf("cannot pause container %s: it is %s", c.ID, st)
	}
	cg, err := c.requireCgroup()
	if err != nil {
		return err
	}
	return cg.Freeze()
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	if st := c.Status(); st != Paused {
		return fmt.Errorf("cannot resume container %s: it is %s, not paused", c.ID, st)
	}
	cg, err := c.requireCgroup()
	if err != nil {
		return err
	}
	return cg.Thaw()
}

// Processes returns the host pids of every process in the container.
func (c *Container) Processes() ([]int, error) {
	if st := c.Status(); st == Stopped {
		return nil, fmt.Errorf("container %s is stopped", c.ID)
	}
	cg, err := c.requireCgroup()
	if err != nil {
		return nil, err
	}
	return cg.Pids()
}

// Update applies new resource limits and records them in the state.
func (c *Container) Update(r *specs.LinuxResources) error {
	if st := c.Status(); st == Stopped {
		return fmt.Errorf("cannot update container %s: it is stopped", c.ID)
	}
	cg, err := c.requireCgroup()
	if err != nil {
		return err
	}
	if err := cg.Set(r); err != nil {
		return err
	}
	spec, err := c.Spec()
	if err != nil {
		return err
	}
	if spec.Linux.Resources == nil {
		spec.Linux.Resources = &specs.LinuxResources{}
	}
	mergeResources(spec.Linux.Resources, r)
	c.specJSON = nil
	return c.saveSpec()
}

func mergeResources(dst, src *specs.LinuxResources) {
	if src.Memory != nil {
		dst.Memory = src.Memory
	}
	if src.CPU != nil {
		dst.CPU = src.CPU
	}
	if src.Pids != nil {
		dst.Pids = src.Pids
	}
	if src.BlockIO != nil {
		dst.BlockIO = src.BlockIO
	}
	if len(src.Unified) > 0 {
		dst.Unified = src.Unified
	}
}

// Stats reads the container's cgroup statistics.
func (c *Container) Stats() (*cgroups.Stats, error) {
	cg, err := c.requireCgroup()
	if err != nil {
		return nil, err
	}
	return cg.Stats()
}

// Wait waits for the init of a container created by this process and
// returns its exit code (128+signal when killed).
func (c *Container) Wait() (int, error) {
	if c.proc == nil {
		return -1, errors.New("container was not created by this process")
	}
	return c.proc.Wait()
}

func hasNamespace(s *specs.Spec, t specs.LinuxNamespaceType) bool {
	if s.Linux == nil {
		return false
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

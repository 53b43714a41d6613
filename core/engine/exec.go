package engine

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/core/shim"
)

// execRecord is one exec, kept in memory as Docker does: a restarted
// daemon forgets them.
type execRecord struct {
	id        string
	container *Container
	cfg       api.ExecConfig

	mu       sync.Mutex
	started  bool
	running  bool
	pid      int
	exitCode *int
}

func (e *Engine) execByID(id string) (*execRecord, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.execs[id]
	if !ok {
		return nil, errdefs.NotFound("No such exec instance: %s", id)
	}
	return x, nil
}

// ExecCreate records an exec in a running container.
func (e *Engine) ExecCreate(ref string, cfg api.ExecConfig) (string, error) {
	c, err := e.Lookup(ref)
	if err != nil {
		return "", err
	}
	if len(cfg.Cmd) == 0 {
		return "", errdefs.Invalid("No exec command specified")
	}
	for _, env := range cfg.Env {
		if env == "" || env[0] == '=' {
			return "", errdefs.Invalid("invalid environment variable: %q", env)
		}
	}
	c.mu.Lock()
	st := c.rec.State.Status
	c.mu.Unlock()
	switch st {
	case StatusRunning:
	case StatusPaused:
		return "", errdefs.Conflict("Container %s is paused, unpause the container before exec", c.rec.ID)
	default:
		return "", errdefs.Conflict("Container %s is not running", c.rec.ID)
	}
	x := &execRecord{id: newID(), container: c, cfg: cfg}
	e.mu.Lock()
	e.execs[x.id] = x
	e.mu.Unlock()
	e.event(c, "exec_create: "+cfg.Cmd[0], "execID", x.id)
	return x.id, nil
}

// execProcess builds the exec's OCI process from the container's.
func (e *Engine) execProcess(x *execRecord) (*specs.Process, error) {
	c := x.container
	data, err := readNoAtime(filepath.Join(c.dir, specFile))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, err
	}
	if s.Process == nil {
		return nil, errors.New("container config has no process")
	}
	p := *s.Process
	p.Args = x.cfg.Cmd
	p.Env = mergeEnv(p.Env, x.cfg.Env)
	p.Terminal = x.cfg.Tty
	p.ConsoleSize = nil
	if cs := x.cfg.ConsoleSize; x.cfg.Tty && cs != nil && cs[0] > 0 && cs[1] > 0 {
		p.ConsoleSize = &specs.Box{Height: cs[0], Width: cs[1]}
	}
	if x.cfg.WorkingDir != "" {
		p.Cwd = x.cfg.WorkingDir
		if !filepath.IsAbs(p.Cwd) {
			return nil, errdefs.Invalid("working directory %q is not an absolute path", p.Cwd)
		}
	}
	if x.cfg.User != "" {
		c.mu.Lock()
		rootfs := c.rec.Rootfs
		c.mu.Unlock()
		if p.User, err = resolveUser(rootfs, x.cfg.User); err != nil {
			return nil, err
		}
	}
	return &p, nil
}

// ExecStart runs an exec; unless detach, it streams its stdio on s
// (as Attach does) until the process exits. onReady is called once the
// process runs, before any output.
func (e *Engine) ExecStart(ctx context.Context, id string, detach bool, s Stream, onReady func()) error {
	x, err := e.execByID(id)
	if err != nil {
		return err
	}
	x.mu.Lock()
	if x.started {
		x.mu.Unlock()
		return errdefs.Conflict("Error: Exec command %s has already run", id)
	}
	x.started = true
	x.mu.Unlock()
	c := x.container
	c.mu.Lock()
	cl, running := c.shim, c.rec.State.Status == StatusRunning
	c.mu.Unlock()
	if !running || cl == nil {
		return errdefs.Conflict("Container %s is not running", c.rec.ID)
	}
	p, err := e.execProcess(x)
	if err != nil {
		return err
	}
	req := shim.Request{Exec: id, Process: p, Tty: x.cfg.Tty, Stdin: x.cfg.AttachStdin && !detach,
		Stdout: x.cfg.AttachStdout, Stderr: x.cfg.AttachStderr}
	conn, br, err := cl.Exec(ctx, req)
	if err != nil {
		return errdefs.Invalid("exec failed: %v", err)
	}
	x.mu.Lock()
	x.running = true
	x.mu.Unlock()
	e.event(c, "exec_start: "+x.cfg.Cmd[0], "execID", id)
	if onReady != nil {
		onReady()
	}
	if detach {
		conn.Close()
		return nil
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if req.Stdin {
		go func() {
			io.Copy(conn, s)
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
	_, err = io.Copy(s, br)
	if err != nil && errors.Is(err, net.ErrClosed) {
		err = nil
	}
	e.execExit(x)
	return err
}

// execExit fetches a finished exec's exit code from the shim.
func (e *Engine) execExit(x *execRecord) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.running {
		return
	}
	c := x.container
	c.mu.Lock()
	cl := c.shim
	c.mu.Unlock()
	if cl == nil {
		x.running = false // the container is gone, and the exec with it
		return
	}
	r, err := cl.Call(e.ctx, shim.Request{Op: shim.OpExecState, Exec: x.id})
	if err != nil {
		if isGone(err) {
			x.running = false
		}
		return
	}
	x.pid = r.Pid
	if r.Exit != nil {
		code := r.Exit.Code
		x.exitCode = &code
		x.running = false
		go e.event(c, "exec_die", "execID", x.id)
	}
}

// ExecInspect describes an exec.
func (e *Engine) ExecInspect(id string) (*api.ExecInspect, error) {
	x, err := e.execByID(id)
	if err != nil {
		return nil, err
	}
	e.execExit(x)
	x.mu.Lock()
	defer x.mu.Unlock()
	out := &api.ExecInspect{
		ID: x.id, Running: x.running, ExitCode: x.exitCode, ContainerID: x.container.rec.ID,
		OpenStdin: x.cfg.AttachStdin, OpenStdout: x.cfg.AttachStdout, OpenStderr: x.cfg.AttachStderr,
		DetachKeys: x.cfg.DetachKeys, Pid: x.pid, CanRemove: false,
		ProcessConfig: api.ProcessConfig{Privileged: x.cfg.Privileged, User: x.cfg.User, Tty: x.cfg.Tty,
			Entrypoint: x.cfg.Cmd[0], Arguments: append([]string{}, x.cfg.Cmd[1:]...)},
	}
	return out, nil
}

// ExecResize sets the size of an exec's terminal.
func (e *Engine) ExecResize(id string, height, width uint16) error {
	x, err := e.execByID(id)
	if err != nil {
		return err
	}
	c := x.container
	c.mu.Lock()
	cl := c.shim
	c.mu.Unlock()
	if cl == nil || !x.cfg.Tty {
		return errdefs.Conflict("exec %s has no terminal to resize", id)
	}
	_, err = cl.Call(e.ctx, shim.Request{Op: shim.OpResize, Exec: id, Height: height, Width: width})
	return err
}

// readNoAtime reads a file without updating its access time: config.json
// is written at start and first read by the first exec (a health check
// on an idle container, say), whose atime update would be a journal
// commit on flash that nothing needs.
func readNoAtime(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) {
		f, err = os.Open(path) // O_NOATIME needs the owner or CAP_FOWNER
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/core/shim"
	"github.com/petrel-edge/petrel/image"
	"github.com/petrel-edge/petrel/oci/container"
)

// Create records a new container; it runs nothing yet.
func (e *Engine) Create(name string, cfg api.Config, hc *api.HostConfig) (id string, warnings []string, err error) {
	return e.CreateWith(CreateOptions{Name: name}, cfg, hc)
}

// CreateOptions are what POST /containers/create takes in its query.
type CreateOptions struct {
	Name     string
	Platform string // os/arch[/variant] the image must be for ("" for any)
}

// CreateWith records a new container from an image (its writable layer
// made and mounted now) or from an external root filesystem.
func (e *Engine) CreateWith(o CreateOptions, cfg api.Config, hc *api.HostConfig) (id string, warnings []string, err error) {
	name := o.Name
	if hc == nil {
		hc = &api.HostConfig{}
	}
	if name != "" {
		if err := ValidateName(name); err != nil {
			return "", nil, err
		}
		name = strings.TrimPrefix(name, "/")
	}
	rootfs := hc.ExternalRootfs
	var img *image.Image
	if rootfs == "" {
		if cfg.Image == "" {
			return "", nil, errdefs.Invalid("no image and no --external-rootfs given")
		}
		if img, err = e.imageForContainer(&cfg, o.Platform); err != nil {
			return "", nil, err
		}
	} else {
		if !filepath.IsAbs(rootfs) {
			return "", nil, errdefs.Invalid("external rootfs %q: the path must be absolute", rootfs)
		}
		if fi, err := os.Stat(rootfs); err != nil || !fi.IsDir() {
			return "", nil, errdefs.Invalid("external rootfs %s is not a directory", rootfs)
		}
	}
	if h := cfg.Healthcheck; h != nil && len(h.Test) == 0 && (h.Interval != 0 || h.Timeout != 0 || h.StartPeriod != 0 || h.Retries != 0) {
		what := "the image " + cfg.Image
		if img == nil {
			what = "an external rootfs"
		}
		return "", nil, errdefs.Invalid("health-check options need --health-cmd: %s has no HEALTHCHECK to tune", what)
	}
	if err := e.validate(&cfg, hc); err != nil {
		return "", nil, err
	}
	args := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	if len(args) == 0 {
		return "", nil, errdefs.Invalid("no command specified")
	}
	// The name (and the image, for rmi) is reserved under e.mu; the
	// directory, the image's writable layer and the durable records are
	// made without it, so that concurrent creates do not wait on each
	// other's mounts and fsyncs, nor block lookups.
	var imageID string
	if img != nil {
		imageID = string(img.ID)
	}
	e.mu.Lock()
	if name == "" {
		name = e.newName()
	} else if err := e.nameConflict(name); err != nil {
		e.mu.Unlock()
		return "", nil, err
	}
	e.reserveName(name, reservation{image: imageID, hc: hc})
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.creating, name)
		e.mu.Unlock()
	}()
	// The directory's exclusive mkdir reserves the ID.
	var dir string
	for {
		id = newID()
		dir = filepath.Join(e.containersDir(), id)
		err := os.Mkdir(dir, 0o710)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return "", nil, fmt.Errorf("create container dir: %w", err)
		}
	}
	e.mu.Lock()
	r := e.creating[name]
	r.id = id
	e.creating[name] = r
	e.mu.Unlock()
	rec := record{
		ID: id, Name: name, Created: time.Now().UTC(), Path: args[0], Args: args[1:], Config: &cfg,
		State: State{Status: StatusCreated}, Runtime: hc.Runtime, Rootfs: rootfs, Driver: "external-rootfs",
	}
	if img != nil {
		if rec.Rootfs, err = e.prepareRootfs(id, dir, img); err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		rec.Image, rec.Driver = string(img.ID), e.StorageDriver()
	}
	undo := func() {
		if err := e.releaseRootfs(id, rec.Image, rec.Rootfs, dir); err != nil {
			e.logf("container %s: %v", id, err)
		}
		os.RemoveAll(dir)
	}
	e.mu.Lock()
	madeVols, err := e.createVolumes(hc)
	e.mu.Unlock()
	if err != nil {
		undo()
		return "", nil, err
	}
	undoAll := func() {
		undo()
		e.mu.Lock()
		for _, n := range madeVols {
			e.vols.Remove(n)
		}
		e.mu.Unlock()
	}
	if e.logDriver(hc) == "json-file" {
		rec.LogPath = filepath.Join(dir, id+"-json.log")
	}
	c := newContainer(rec, hc, dir)
	if err := c.saveNew(e.containersDir()); err != nil {
		undoAll()
		return "", nil, err
	}
	e.mu.Lock()
	e.byID[id] = c
	e.byName[name] = c
	e.mu.Unlock()
	e.event(c, "create")
	return id, nil, nil
}

// nameTaken reports whether a container has name or a create in
// progress reserved it; e.mu held.
func (e *Engine) nameTaken(name string) bool {
	_, ok := e.byName[name]
	_, creating := e.creating[name]
	return ok || creating
}

// nameConflict is Docker's error for a name in use; e.mu held.
func (e *Engine) nameConflict(name string) error {
	if !e.nameTaken(name) {
		return nil
	}
	owner := e.creating[name].id
	if other, ok := e.byName[name]; ok {
		owner = other.rec.ID
	}
	return errdefs.Conflict("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, owner)
}

// A reservation is a create in progress: the container's ID (once
// made), its image and its host config (the volumes it mounts).
type reservation struct {
	id, image string
	hc        *api.HostConfig
}

// reserveName holds name for a create in progress; e.mu held.
func (e *Engine) reserveName(name string, r reservation) {
	if e.creating == nil {
		e.creating = map[string]reservation{}
	}
	e.creating[name] = r
}

func (e *Engine) logDriver(hc *api.HostConfig) string {
	if hc.LogConfig.Type != "" {
		return hc.LogConfig.Type
	}
	return e.opts.LogDriver
}

// validate refuses a configuration the engine cannot run.
func (e *Engine) validate(cfg *api.Config, hc *api.HostConfig) error {
	if _, err := e.runtime(hc.Runtime); err != nil {
		return err
	}
	switch e.logDriver(hc) {
	case "json-file", "none":
	default:
		return errdefs.Invalid("log driver %q is not supported: use json-file or none", hc.LogConfig.Type)
	}
	if _, _, err := logOpts(e.opts.LogOpts, hc.LogConfig.Config); err != nil {
		return err
	}
	if err := validateRestartPolicy(hc.RestartPolicy); err != nil {
		return err
	}
	if hc.AutoRemove && hc.RestartPolicy.Name != "" && hc.RestartPolicy.Name != "no" {
		return errdefs.Invalid("can't create 'AutoRemove' container with restart policy")
	}
	if err := e.validateNetwork(cfg, hc); err != nil {
		return err
	}
	if err := validateHostConfig(hc); err != nil {
		return err
	}
	if !validHealth(cfg.Healthcheck) {
		return errdefs.Invalid("invalid health check test %q: want [NONE], [CMD, arg…] or [CMD-SHELL, command]", cfg.Healthcheck.Test)
	}
	if h := cfg.Healthcheck; h != nil && (h.Interval < 0 || h.Timeout < 0 || h.StartPeriod < 0 || h.Retries < 0) {
		return errdefs.Invalid("health check durations and retries cannot be negative")
	}
	if cfg.StopSignal != "" {
		if _, err := ParseSignal(cfg.StopSignal); err != nil {
			return errdefs.Invalid("invalid stop signal: %v", err)
		}
	}
	for _, env := range cfg.Env {
		if strings.HasPrefix(env, "=") || env == "" {
			return errdefs.Invalid("invalid environment variable: %q", env)
		}
	}
	return nil
}

// logOpts parses max-size and max-file; container options win over the
// daemon's.
func logOpts(daemon, ctr map[string]string) (maxSize int64, maxFile int, err error) {
	maxFile = 1
	for _, m := range []map[string]string{daemon, ctr} {
		for k, v := range m {
			switch k {
			case "max-size":
				if maxSize, err = ParseSize(v); err != nil || maxSize < 0 {
					return 0, 0, errdefs.Invalid("log-opt max-size=%s: want a size such as 10m", v)
				}
			case "max-file":
				if maxFile, err = strconv.Atoi(v); err != nil || maxFile < 1 {
					return 0, 0, errdefs.Invalid("log-opt max-file=%s: want a positive number", v)
				}
			default:
				return 0, 0, errdefs.Invalid("unknown log opt '%s' for json-file log driver", k)
			}
		}
	}
	if maxFile > 1 && maxSize == 0 {
		return 0, 0, errdefs.Invalid("log-opt max-file needs max-size")
	}
	return maxSize, maxFile, nil
}

// ParseSize reads 10, 10k, 10m, 1g (also kb, mb, gb; binary units).
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.m
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return int64(n * float64(mult)), nil
}

// ParseSignal accepts SIGKILL, KILL, kill and 9.
func ParseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal number %d", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("invalid signal: %s", s)
}

func (e *Engine) event(c *Container, action string, extra ...string) {
	c.mu.Lock()
	attrs := map[string]string{"name": c.rec.Name, "image": c.rec.Config.Image}
	c.mu.Unlock()
	for i := 0; i+1 < len(extra); i += 2 {
		attrs[extra[i]] = extra[i+1]
	}
	e.Events.Publish("container", action, c.rec.ID, attrs)
}

// Start runs a created or exited container.
func (e *Engine) Start(id string) error {
	c, err := e.Lookup(id)
	if err != nil {
		return err
	}
	c.lock()
	defer c.unlock()
	c.mu.Lock()
	switch {
	case c.removed:
		c.mu.Unlock()
		return errdefs.NotFound("No such container: %s", id)
	case c.rec.State.Status == StatusPaused:
		c.mu.Unlock()
		return errdefs.Conflict("cannot start a paused container, try unpause instead")
	case c.running():
		c.mu.Unlock()
		return errdefs.NotModified("container %s is already running", id)
	}
	c.rec.ManuallyStopped = false
	c.mu.Unlock()
	return e.start(c)
}

// start spawns the shim and starts the process; the op token is held.
func (e *Engine) start(c *Container) (err error) {
	c.mu.Lock()
	if c.restartTmr != nil {
		c.restartTmr.Stop()
		c.restartTmr = nil
	}
	rec, hc := c.rec, c.hostConfig
	c.mu.Unlock()
	fail := func(err error) error {
		e.teardownNetwork(c)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.rec.State.Status = StatusExited
		if c.rec.State.Error == "" {
			c.rec.State.Error = err.Error()
		}
		c.rec.State.ExitCode = 128
		c.rec.State.FinishedAt = time.Now().UTC()
		c.save()
		for _, p := range c.pending {
			p.ready <- attachResult{err: err}
		}
		c.pending = nil
		// A start that failed is an exit: waiters learn of it, and
		// --rm removes the container.
		close(c.exitCh)
		c.exitCh = make(chan struct{})
		if c.hostConfig.AutoRemove {
			go e.Remove(c.rec.ID, RemoveOptions{Force: true})
		}
		return err
	}
	rt, err := e.runtime(hc.Runtime)
	if err != nil {
		return fail(err)
	}
	maxSize, maxFile, err := logOpts(e.opts.LogOpts, hc.LogConfig.Config)
	if err != nil {
		return fail(err)
	}
	os.Remove(filepath.Join(c.dir, exitFile))
	shimLog, err := os.OpenFile(filepath.Join(c.dir, shimLogFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fail(fmt.Errorf("shim log: %w", err))
	}
	defer shimLog.Close()
	rtName := hc.Runtime
	if rtName == "" {
		rtName = e.opts.DefaultRuntime
	}
	if rtName == "" {
		rtName = "lcr"
	}
	sock := e.shimSocket(rec.ID)
	// The shim starts first, unless a spare one waits: its Go runtime
	// comes up on another CPU while the rootfs, the network and the spec
	// are made ready here.
	launched, err := e.launchShim(shim.SpawnOptions{
		Options: shim.Options{
			ID: rec.ID, Bundle: c.dir, RuntimeRoot: filepath.Join(e.opts.State, "runtime", rtName),
			Runtime: rt.Path, RuntimeArgs: rt.Args, Socket: sock, ExitFile: filepath.Join(c.dir, exitFile),
			LogFile: rec.LogPath, LogMaxSize: maxSize, LogMaxFile: maxFile,
			Stdin: rec.Config.OpenStdin, StdinOnce: rec.Config.StdinOnce, Tty: rec.Config.Tty,
		},
		Binary: e.opts.Binary, Log: shimLog,
	})
	defer e.startDone()
	if err != nil {
		return fail(errdefs.Invalid("failed to create container %s: %v", rec.ID, err))
	}
	defer func() {
		if launched != nil {
			if err := launched.Abort(); err != nil {
				e.logf("container %s: abandoned shim: %v", rec.ID, err)
			}
		}
	}()
	if err := e.mountRootfs(c); err != nil {
		return fail(err)
	}
	if err := e.setupNetwork(c); err != nil {
		return fail(err)
	}
	spec, err := e.spec(c)
	if err != nil {
		return fail(err)
	}
	data, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return fail(err)
	}
	// Generated anew at every start: atomic, but no fsync is needed.
	if err := atomicfile.WriteFileVolatile(filepath.Join(c.dir, specFile), data, 0o600); err != nil {
		return fail(err)
	}
	var proc *os.Process
	var pid int
	// startNow: the shim starts the container before it answers the
	// creation, which saves the start's own exchange. Not when an attach
	// waits: it must be connected before the first output.
	startNow := false
	var startErr error
	if rt.Path == "lcr" && container.RemoteForkRefusal(spec) == "" && os.Getenv("PETREL_SHIM_CREATES") != "1" {
		c.mu.Lock()
		startNow = len(c.pending) == 0
		c.mu.Unlock()
		proc, pid, startErr, err = e.createDriven(launched, rec.ID, c.dir, filepath.Join(e.opts.State, "runtime", rtName), spec, data, startNow)
	} else {
		proc, pid, err = launched.Create()
	}
	launched = nil
	c.releaseNetns()
	if err != nil {
		return fail(errdefs.Invalid("failed to create container %s: %v", rec.ID, err))
	}
	go proc.Wait() // the shim is our child until we die: reap it
	cl := &shim.Client{Socket: sock}
	c.mu.Lock()
	c.shim = cl
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, p := range pending {
		conn, br, err := cl.Attach(e.ctx, p.req)
		p.ready <- attachResult{conn: conn, br: br, err: err}
	}
	var waiter func() (shim.Response, error)
	if !startNow {
		// The wait is sent before the start: no exit can be missed.
		if waiter, err = cl.StartWait(e.ctx); err != nil {
			return fail(err)
		}
		if _, startErr = cl.Call(e.ctx, shim.Request{Op: shim.OpStart}); startErr != nil {
			cl.Call(e.ctx, shim.Request{Op: shim.OpKill, Signal: int(unix.SIGKILL), All: true})
			waiter()
			return fail(startErr)
		}
	} else if startErr != nil {
		waiter, err = cl.StartWait(e.ctx)
		cl.Call(e.ctx, shim.Request{Op: shim.OpKill, Signal: int(unix.SIGKILL), All: true})
		if err == nil {
			waiter()
		}
		return fail(startErr)
	}
	c.mu.Lock()
	c.rec.State = State{Status: StatusRunning, Pid: pid, StartedAt: time.Now().UTC()}
	// A record that a reboot acts on (a restart policy) is durable
	// before the answer; any other is saved after it, volatile: a
	// daemon that dies first finds the container running in its shim.
	late := startNow && !c.durable()
	if !late {
		err = c.save()
	}
	c.mu.Unlock()
	if err != nil {
		e.logf("container %s: save state: %v", rec.ID, err)
	}
	e.event(c, "start")
	e.startHealth(c)
	e.wg.Add(1)
	if !startNow {
		go e.monitor(c, waiter)
		return nil
	}
	// Started by the shim: the answer need not wait for the wait's
	// connection either. A container that exited with its shim by then
	// is found in the exit file by the monitor.
	go func() {
		waiter, werr := cl.StartWait(e.ctx)
		if werr != nil {
			waiter = func() (shim.Response, error) { return shim.Response{}, werr }
		}
		if late {
			c.mu.Lock()
			if !c.removed {
				if err := c.save(); err != nil {
					e.logf("container %s: save state: %v", rec.ID, err)
				}
			}
			c.mu.Unlock()
		}
		e.monitor(c, waiter)
	}()
	return nil
}

// createDriven creates a built-in runtime container here, around an init
// that the launched shim forks (its parent, which reaps it): the daemon's
// warm process decodes nothing and compiles the seccomp filter, and the
// shim, which did none of that, need not execute itself again to shed it.
// With startNow the shim also starts it (startErr: it could not, and the
// container exists). The launched shim is aborted on failure.
func (e *Engine) createDriven(l *shim.Launched, id, bundle, root string, spec *specs.Spec, data []byte, startNow bool) (proc *os.Process, pid int, startErr, err error) {
	var mine, theirs *os.File
	if spec.Process != nil && spec.Process.Terminal {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			l.Abort()
			return nil, 0, nil, fmt.Errorf("console socketpair: %w", err)
		}
		mine, theirs = os.NewFile(uintptr(fds[0]), "console"), os.NewFile(uintptr(fds[1]), "console")
		defer mine.Close()
		defer theirs.Close()
	}
	ctr, err := container.Create(container.CreateOptions{
		Root: root, ID: id, Bundle: bundle, Spec: spec, SpecJSON: data, ConsoleConn: mine,
		Warn: func(msg string) { e.logf("container %s: warning: %s", id, msg) },
		Fork: func(req *container.ForkRequest) (int, error) { return l.Fork(req, theirs) },
	})
	if err != nil {
		l.Abort()
		return nil, 0, nil, err
	}
	handover, herr := ctr.Handover()
	if herr != nil {
		e.logf("container %s: the shim reads its state: %v", id, herr)
	}
	if startNow {
		return l.CreatedStart(handover)
	}
	proc, pid, err = l.Created(handover)
	return proc, pid, nil, err
}

// finishRemoval unmounts and deletes what a removed container leaves:
// its rootfs and writable layer, its directory, its shim's socket.
func (e *Engine) finishRemoval(c *Container) error {
	c.mu.Lock()
	id, imageID, rootfs := c.rec.ID, c.rec.Image, c.rec.Rootfs
	c.mu.Unlock()
	if err := e.releaseRootfs(id, imageID, rootfs, c.dir); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if err := e.discard(c.dir); err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	os.Remove(e.shimSocket(id))
	return nil
}

// monitor waits for the container's exit and records it.
func (e *Engine) monitor(c *Container, waiter func() (shim.Response, error)) {
	defer e.wg.Done()
	var ex *shim.Exit
	for {
		r, err := waiter()
		if err == nil && r.Exit != nil {
			ex = r.Exit
			break
		}
		if e.ctx.Err() != nil {
			return // the daemon is shutting down; a new one will restore
		}
		// The shim went away without answering: its exit file knows.
		if rex, rerr := shim.ReadExit(filepath.Join(c.dir, exitFile)); rerr == nil {
			ex = rex
			break
		}
		c.mu.Lock()
		cl := c.shim
		c.mu.Unlock()
		if w, werr := cl.StartWait(e.ctx); werr == nil {
			waiter = w
			continue
		}
		ex = &shim.Exit{Code: 255, ExitedAt: time.Now().UTC()}
		c.mu.Lock()
		c.rec.State.Error = "shim exited without recording the container's exit"
		c.mu.Unlock()
		e.deleteRuntimeState(c)
		break
	}
	e.exited(c, ex)
}

// exited records an exit and applies --rm and the restart policy.
func (e *Engine) exited(c *Container, ex *shim.Exit) {
	e.teardownNetwork(c)
	c.mu.Lock()
	c.rec.State.Status = StatusExited
	c.rec.State.Pid = 0
	c.rec.State.ExitCode = ex.Code
	c.rec.State.OOMKilled = ex.OOMKilled
	c.rec.State.FinishedAt = ex.ExitedAt
	if c.rec.State.FinishedAt.IsZero() {
		c.rec.State.FinishedAt = time.Now().UTC()
	}
	c.shim = nil
	restart := e.shouldRestart(c)
	if restart {
		c.rec.State.Status = StatusRestarting
	}
	if err := c.save(); err != nil {
		e.logf("container %s: save state: %v", c.rec.ID, err)
	}
	close(c.exitCh)
	c.exitCh = make(chan struct{})
	autoRemove := c.hostConfig.AutoRemove
	c.mu.Unlock()
	e.event(c, "die", "exitCode", strconv.Itoa(ex.Code))
	switch {
	case restart:
		e.scheduleRestart(c)
	case autoRemove:
		go func() {
			if err := e.Remove(c.rec.ID, RemoveOptions{}); err != nil && !errors.Is(err, errdefs.ErrNotFound) {
				e.logf("container %s: auto-remove: %v", c.rec.ID, err)
			}
		}()
	}
}

// shouldRestart applies the restart policy to an exit; c.mu held.
func (e *Engine) shouldRestart(c *Container) bool {
	if c.removed || c.rec.ManuallyStopped || e.ctx.Err() != nil {
		return false
	}
	p := c.hostConfig.RestartPolicy
	switch p.Name {
	case "always", "unless-stopped":
		return true
	case "on-failure":
		return c.rec.State.ExitCode != 0 && (p.MaximumRetryCount == 0 || c.rec.RestartCount < p.MaximumRetryCount)
	}
	return false
}

// scheduleRestart starts the container again after a back-off that
// doubles with each restart (100 ms up to a minute), as Docker does.
func (e *Engine) scheduleRestart(c *Container) {
	c.mu.Lock()
	delay := 100 * time.Millisecond
	for i := 0; i < c.rec.RestartCount && delay < time.Minute; i++ {
		delay *= 2
	}
	if delay > time.Minute {
		delay = time.Minute
	}
	if c.rec.State.StartedAt.Before(time.Now().Add(-10 * time.Second)) {
		delay = 100 * time.Millisecond // it ran for a while: reset the back-off
	}
	c.restartTmr = time.AfterFunc(delay, func() {
		c.lock()
		defer c.unlock()
		c.mu.Lock()
		if c.removed || c.rec.State.Status != StatusRestarting || e.ctx.Err() != nil {
			c.mu.Unlock()
			return
		}
		c.rec.RestartCount++
		c.mu.Unlock()
		if err := e.start(c); err != nil {
			e.logf("container %s: restart: %v", c.rec.ID, err)
			return
		}
		e.event(c, "restart")
	})
	c.mu.Unlock()
}

// StopOptions: Timeout nil means the container's StopTimeout or 10 s.
type StopOptions struct {
	Signal  string
	Timeout *int
}

// Stop sends the stop signal, then SIGKILL after the timeout.
func (e *Engine) Stop(id string, opts StopOptions) error {
	c, err := e.Lookup(id)
	if err != nil {
		return err
	}
	c.lock()
	defer c.unlock()
	c.mu.Lock()
	if c.rec.State.Status == StatusRestarting {
		c.rec.ManuallyStopped = true
		c.rec.State.Status = StatusExited
		if c.restartTmr != nil {
			c.restartTmr.Stop()
		}
		c.save()
		c.mu.Unlock()
		return nil
	}
	if !c.running() {
		c.mu.Unlock()
		return errdefs.NotModified("container %s is not running", id)
	}
	c.rec.ManuallyStopped = true
	// Recorded before the signal only where a restart policy reads it:
	// a daemon that dies before the exit must not restart the container.
	// Without a policy, the exit's record says all.
	if p := c.hostConfig.RestartPolicy.Name; p != "" && p != "no" {
		c.save()
	}
	c.mu.Unlock()
	return e.stop(c, opts)
}

// stop ends a running container; the op token is held.
func (e *Engine) stop(c *Container, opts StopOptions) error {
	c.mu.Lock()
	cfg := c.rec.Config
	exitCh := c.exitCh
	cl := c.shim
	c.mu.Unlock()
	sigName := opts.Signal
	if sigName == "" {
		sigName = cfg.StopSignal
	}
	sig := unix.SIGTERM
	if sigName != "" {
		s, err := ParseSignal(sigName)
		if err != nil {
			return errdefs.Invalid("%v", err)
		}
		sig = s
	}
	timeout := 10
	if cfg.StopTimeout != nil {
		timeout = *cfg.StopTimeout
	}
	if opts.Timeout != nil {
		timeout = *opts.Timeout
	}
	if cl == nil {
		return errdefs.Conflict("container %s has no shim", c.rec.ID)
	}
	if timeout != 0 {
		if _, err := cl.Call(e.ctx, shim.Request{Op: shim.OpKill, Signal: int(sig)}); err != nil && !isGone(err) {
			e.logf("container %s: stop signal: %v", c.rec.ID, err)
		}
		var tc <-chan time.Time
		if timeout > 0 {
			t := time.NewTimer(time.Duration(timeout) * time.Second)
			defer t.Stop()
			tc = t.C
		}
		select {
		case <-exitCh:
			return nil
		case <-tc:
		}
	}
	if _, err := cl.Call(e.ctx, shim.Request{Op: shim.OpKill, Signal: int(unix.SIGKILL), All: true}); err != nil && !isGone(err) {
		return fmt.Errorf("kill container %s: %w", c.rec.ID, err)
	}
	<-exitCh
	return nil
}

// Kill sends a signal to the container's init.
func (e *Engine) Kill(id, signal string) error {
	sig := unix.SIGKILL
	if signal != "" {
		s, err := ParseSignal(signal)
		if err != nil {
			return errdefs.Invalid("%v", err)
		}
		sig = s
	}
	c, err := e.Lookup(id)
	if err != nil {
		return err
	}
	c.lock()
	defer c.unlock()
	c.mu.Lock()
	if !c.running() {
		c.mu.Unlock()
		return errdefs.Conflict("Container %s is not running", c.rec.ID)
	}
	cl := c.shim
	if sig == unix.SIGKILL {
		c.rec.ManuallyStopped = true
		c.save()
	}
	c.mu.Unlock()
	_, err = cl.Call(e.ctx, shim.Request{Op: shim.OpKill, Signal: int(sig), All: sig == unix.SIGKILL})
	if err != nil {
		return fmt.Errorf("kill container %s: %w", c.rec.ID, err)
	}
	return nil
}

// RemoveOptions of Remove: Volumes removes the anonymous volumes
// the container alone used.
type RemoveOptions struct {
	Force   bool
	Volumes bool
}

// Remove deletes a stopped container (with Force, a running one too).
func (e *Engine) Remove(id string, opts RemoveOptions) error {
	c, err := e.Lookup(id)
	if err != nil {
		return err
	}
	c.lock()
	defer c.unlock()
	c.mu.Lock()
	if c.removed {
		c.mu.Unlock()
		return errdefs.NotFound("No such container: %s", id)
	}
	if c.running() {
		if !opts.Force {
			c.mu.Unlock()
			verb := "stop"
			if c.rec.State.Status == StatusPaused {
				verb = "unpause and then stop"
			}
			return errdefs.Conflict("You cannot remove a %s container %s. Please %s the container before attempting removal or force remove", c.rec.State.Status, c.rec.ID, verb)
		}
		c.rec.ManuallyStopped = true
		c.mu.Unlock()
		zero := 0
		if err := e.stop(c, StopOptions{Timeout: &zero}); err != nil {
			return err
		}
		c.mu.Lock()
	}
	if c.restartTmr != nil {
		c.restartTmr.Stop()
	}
	c.mu.Unlock()
	e.teardownNetwork(c)
	c.mu.Lock()
	// Recorded before the container leaves the engine: the unmount and
	// the deletions go on after the answer, and a daemon that dies before
	// they end finishes them at its next start (finishRemoval). A record
	// that cannot be written leaves the container as it was.
	prev := c.rec.State.Status
	c.rec.State.Status, c.rec.RemoveVolumes = StatusRemoving, opts.Volumes
	if err := c.write(false); err != nil {
		c.rec.State.Status, c.rec.RemoveVolumes = prev, false
		c.mu.Unlock()
		return fmt.Errorf("remove container %s: %w", c.rec.ID, err)
	}
	c.removed = true
	c.mu.Unlock()
	e.removals.Add(1)
	go func() {
		defer e.removals.Done()
		if err := e.finishRemoval(c); err != nil {
			e.logf("%v", err)
		}
	}()
	e.mu.Lock()
	for id, x := range e.execs {
		if x.container == c {
			delete(e.execs, id)
		}
	}
	delete(e.byID, c.rec.ID)
	if e.byName[c.rec.Name] == c {
		delete(e.byName, c.rec.Name)
	}
	if opts.Volumes {
		e.removeAnonymousVolumes(c)
	}
	e.mu.Unlock()
	close(c.removedCh)
	e.event(c, "destroy")
	return nil
}

// Wait conditions, as Docker's.
const (
	WaitNotRunning = "not-running"
	WaitNextExit   = "next-exit"
	WaitRemoved    = "removed"
)

// Wait blocks until the condition holds and returns the exit code. ready,
// if not nil, is called once the wait is registered.
func (e *Engine) Wait(ctx context.Context, id, condition string, ready func()) (int, error) {
	c, err := e.Lookup(id)
	if err != nil {
		return -1, err
	}
	c.mu.Lock()
	exitCh, removedCh := c.exitCh, c.removedCh
	running := c.running() || c.rec.State.Status == StatusRestarting
	c.mu.Unlock()
	if ready != nil {
		ready()
	}
	var ch <-chan struct{}
	switch condition {
	case "", WaitNotRunning:
		if !running {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.rec.State.ExitCode, nil
		}
		ch = exitCh
	case WaitNextExit:
		ch = exitCh
	case WaitRemoved:
		ch = removedCh
	default:
		return -1, errdefs.Invalid("invalid condition: %q", condition)
	}
	select {
	case <-ch:
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rec.State.ExitCode, nil
}

// Restart stops the container if it runs and starts it again.
func (e *Engine) Restart(id string, opts StopOptions) error {
	c, err := e.Lookup(id)
	if err != nil {
		return err
	}
	c.lock()
	defer c.unlock()
	c.mu.Lock()
	running := c.running()
	if running {
		c.rec.ManuallyStopped = true // no policy restart in between
	}
	c.mu.Unlock()
	if running {
		if err := e.stop(c, opts); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.rec.ManuallyStopped = false
	c.rec.RestartCount = 0
	c.mu.Unlock()
	if err := e.start(c); err != nil {
		return err
	}
	e.event(c, "restart")
	return nil
}

// Pause freezes a running container; Unpause thaws it.
func (e *Engine) Pause(id string) error { return e.freeze(id, true) }

// Unpause thaws a paused container.
func (e *Engine) Unpause(id string) error { return e.freeze(id, false) }

func (e *Engine) freeze(id string, pause bool) error {
	c, err := e.Lookup(id)
	if err != nil {
		return err
	}
	c.lock()
	defer c.unlock()
	c.mu.Lock()
	st, cl := c.rec.State.Status, c.shim
	c.mu.Unlock()
	op, want, action := shim.OpPause, StatusRunning, "pause"
	if !pause {
		op, want, action = shim.OpResume, StatusPaused, "unpause"
	}
	if st != want {
		if pause && st == StatusPaused {
			return errdefs.Conflict("Container %s is already paused", id)
		}
		if !pause && st == StatusRunning {
			return errdefs.Conflict("Container %s is not paused", id)
		}
		return errdefs.Conflict("Container %s is not running", id)
	}
	if _, err := cl.Call(e.ctx, shim.Request{Op: op}); err != nil {
		return fmt.Errorf("%s container %s: %w", action, id, err)
	}
	c.mu.Lock()
	if pause {
		c.rec.State.Status = StatusPaused
	} else {
		c.rec.State.Status = StatusRunning
	}
	c.save()
	c.mu.Unlock()
	e.event(c, action)
	return nil
}

// Rename gives a container a new name.
func (e *Engine) Rename(id, newName string) error {
	if err := ValidateName(newName); err != nil {
		return err
	}
	newName = strings.TrimPrefix(newName, "/")
	c, err := e.Lookup(id)
	if err != nil {
		return err
	}
	c.lock()
	defer c.unlock()
	e.mu.Lock()
	c.mu.Lock()
	old := c.rec.Name
	err = func() error {
		if old == newName {
			return errdefs.Invalid("Renaming a container with the same name as its current name")
		}
		if err := e.nameConflict(newName); err != nil {
			return err
		}
		c.rec.Name = newName
		if err := c.saveDurable(); err != nil {
			c.rec.Name = old
			return err
		}
		delete(e.byName, old)
		e.byName[newName] = c
		return nil
	}()
	c.mu.Unlock()
	e.mu.Unlock()
	if err != nil {
		return err
	}
	e.event(c, "rename", "oldName", "/"+old)
	return nil
}

// runtimeState returns c's ID, the name of its runtime and the
// runtime's state root.
func (e *Engine) runtimeState(c *Container) (id, name, root string) {
	c.mu.Lock()
	id, name = c.rec.ID, c.hostConfig.Runtime
	c.mu.Unlock()
	if name == "" {
		name = e.opts.DefaultRuntime
	}
	if name == "" {
		name = "lcr"
	}
	return id, name, filepath.Join(e.opts.State, "runtime", name)
}

// deleteRuntimeState kills what is left of a container whose shim died
// without recording its exit, and removes the runtime's state of it.
func (e *Engine) deleteRuntimeState(c *Container) {
	id, name, root := e.runtimeState(c)
	rt, err := e.runtime(name)
	if err != nil {
		return
	}
	if rt.Path == "lcr" {
		if ct, err := container.Load(root, id); err == nil {
			if err := ct.Delete(true, nil); err != nil {
				e.logf("container %s: delete runtime state: %v", id, err)
			}
		}
		return
	}
	args := append(append([]string{}, rt.Args...), "--root", root, "delete", "--force", id)
	if out, err := exec.Command(rt.Path, args...).CombinedOutput(); err != nil {
		e.logf("container %s: %s delete: %v: %s", id, name, err, out)
	}
}

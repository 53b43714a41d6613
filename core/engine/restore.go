package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/shim"
	"golang.org/x/sys/unix"
)

// restore re-attaches one container loaded from disk to its shim, or
// records how it ended while no daemon watched (live restore).
func (e *Engine) restore(c *Container) {
	cl := &shim.Client{Socket: e.shimSocket(c.rec.ID)}
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	r, err := cl.Call(ctx, shim.Request{Op: shim.OpState})
	cancel()
	c.mu.Lock()
	recorded := c.rec.State.Status
	switch {
	case err == nil && r.Status == StatusCreated:
		// A daemon died between creating and starting: undo it.
		c.mu.Unlock()
		cl.Call(e.ctx, shim.Request{Op: shim.OpKill, Signal: int(unix.SIGKILL), All: true})
		e.teardownNetwork(c)
		c.mu.Lock()
		c.rec.State.Status = StatusCreated
	case err == nil && (r.Status == StatusRunning || r.Status == StatusPaused):
		c.shim = cl
		if recorded != r.Status || c.rec.State.Pid != r.Pid {
			c.rec.State.Status = r.Status
			c.rec.State.Pid = r.Pid
			if c.rec.State.StartedAt.IsZero() {
				c.rec.State.StartedAt = time.Now().UTC()
			}
			c.save()
		}
		waiter, werr := cl.StartWait(e.ctx)
		if werr == nil {
			c.mu.Unlock()
			e.restoreNetwork(c)
			e.logf("container %s: re-attached to its shim", c.rec.ID)
			e.startHealth(c)
			e.wg.Add(1)
			go e.monitor(c, waiter)
			return
		}
		fallthrough
	default:
		if recorded != StatusRunning && recorded != StatusPaused && recorded != StatusRestarting {
			// A daemon that died during a start, after the init's
			// fork, left the runtime's state and cgroups of a
			// container that its shim then killed: the next start
			// could not create it again.
			c.mu.Unlock()
			if id, _, root := e.runtimeState(c); pathExists(filepath.Join(root, id)) {
				e.logf("container %s: deleting the runtime state a failed start left", id)
				e.deleteRuntimeState(c)
			}
			c.mu.Lock()
			break
		}
		ex := r.Exit
		if ex == nil {
			ex, err = shim.ReadExit(filepath.Join(c.dir, exitFile))
		}
		lost := ex == nil
		if lost {
			ex = &shim.Exit{Code: 255, ExitedAt: time.Now().UTC()}
			c.rec.State.Error = "the container's shim is gone and recorded no exit status"
		}
		c.mu.Unlock()
		if lost {
			e.deleteRuntimeState(c)
		}
		e.exited(c, ex)
		return
	}
	leftover := c.rec.Net != nil
	c.mu.Unlock()
	if leftover {
		// It stopped, or a start failed, while no daemon could undo
		// its network.
		e.teardownNetwork(c)
	}
	// A host reboot leaves exited containers: restart those whose policy
	// asks for it.
	c.mu.Lock()
	p := c.hostConfig.RestartPolicy.Name
	again := c.rec.State.Status == StatusExited && !c.rec.ManuallyStopped && (p == "always" || p == "unless-stopped")
	if again {
		c.rec.State.Status = StatusRestarting
	}
	c.mu.Unlock()
	if again {
		e.scheduleRestart(c)
	}
}

// Inspect returns a container's full description.
func (e *Engine) Inspect(id string) (*api.ContainerJSON, error) {
	c, err := e.Lookup(id)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.rec.State
	hc := *c.hostConfig
	cfg := *c.rec.Config
	j := &api.ContainerJSON{
		ID: c.rec.ID, Created: c.rec.Created, Path: c.rec.Path, Args: c.rec.Args,
		State: api.State{
			Status: st.Status, Running: st.Status == StatusRunning || st.Status == StatusPaused,
			Paused: st.Status == StatusPaused, Restarting: st.Status == StatusRestarting,
			OOMKilled: st.OOMKilled, Dead: st.Status == StatusDead, Pid: st.Pid, ExitCode: st.ExitCode,
			Error: st.Error, StartedAt: st.StartedAt, FinishedAt: st.FinishedAt,
		},
		Image: c.rec.Image, LogPath: c.rec.LogPath, HostnamePath: filepath.Join(c.dir, hostnameFile),
		HostsPath: filepath.Join(c.dir, hostsFile), ResolvConfPath: filepath.Join(c.dir, resolvFile), Name: "/" + c.rec.Name, RestartCount: c.rec.RestartCount,
		Driver: c.rec.Driver, Platform: "linux", ExecIDs: nil, HostConfig: &hc, Mounts: c.mountPoints(),
		Config:          &cfg,
		NetworkSettings: e.inspectNetwork(c),
	}
	if j.Args == nil {
		j.Args = []string{}
	}
	if j.Image == "" {
		j.Image = cfg.Image // an external rootfs: the name given
	}
	if j.Driver == "" {
		j.Driver = "external-rootfs"
	}
	if c.health != nil && j.State.Running {
		h := *c.health
		h.Log = append([]api.HealthResult{}, h.Log...)
		j.State.Health = &h
	}
	return j, nil
}

// summary is the ps entry of a container; c.mu held.
func (c *Container) summary() api.Container {
	st := c.rec.State
	s := api.Container{
		ID: c.rec.ID, Names: []string{"/" + c.rec.Name}, Image: c.rec.Config.Image, ImageID: c.rec.Image,
		Command: strings.Join(append([]string{c.rec.Path}, c.rec.Args...), " "), Created: c.rec.Created.Unix(),
		Ports: c.ports(), Labels: c.rec.Config.Labels, State: st.Status, Mounts: c.mountPoints(),
		NetworkSettings: c.netSummary(),
	}
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	s.HostConfig.NetworkMode = c.hostConfig.NetworkMode
	if s.HostConfig.NetworkMode == "" {
		s.HostConfig.NetworkMode = "default"
	}
	now := time.Now()
	switch st.Status {
	case StatusRunning:
		s.Status = "Up " + humanDuration(now.Sub(st.StartedAt))
		if c.health != nil {
			if c.health.Status == HealthStarting {
				s.Status += " (health: starting)"
			} else {
				s.Status += " (" + c.health.Status + ")"
			}
		}
	case StatusPaused:
		s.Status = "Up " + humanDuration(now.Sub(st.StartedAt)) + " (Paused)"
	case StatusRestarting:
		s.Status = "Restarting (" + itoa(st.ExitCode) + ") " + humanDuration(now.Sub(st.FinishedAt)) + " ago"
	case StatusExited:
		s.Status = "Exited (" + itoa(st.ExitCode) + ") " + humanDuration(now.Sub(st.FinishedAt)) + " ago"
	case StatusCreated:
		s.Status = "Created"
	default:
		s.Status = st.Status
	}
	return s
}

func pathExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"strconv"
	"time"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/shim"
)

// Health-check defaults, as Docker's.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
	healthLogKeep         = 5
	healthOutputMax       = 4096
)

// Health states.
const (
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// validHealth checks a health-check configuration.
func validHealth(h *api.HealthConfig) bool {
	if h == nil || len(h.Test) == 0 {
		return true
	}
	switch h.Test[0] {
	case "NONE":
		return true
	case "CMD":
		return len(h.Test) > 1
	case "CMD-SHELL":
		return len(h.Test) == 2 && h.Test[1] != ""
	}
	return false
}

// startHealth begins probing a container that has just started; the
// probes end with the run (exitCh closes).
func (e *Engine) startHealth(c *Container) {
	c.mu.Lock()
	h := c.rec.Config.Healthcheck
	exitCh := c.exitCh
	if h == nil || len(h.Test) == 0 || h.Test[0] == "NONE" {
		c.health = nil
		c.mu.Unlock()
		return
	}
	c.health = &api.Health{Status: HealthStarting, Log: []api.HealthResult{}}
	c.mu.Unlock()
	interval, timeout, retries := h.Interval, h.Timeout, h.Retries
	if interval <= 0 {
		interval = defaultHealthInterval
	}
	if timeout <= 0 {
		timeout = defaultHealthTimeout
	}
	if retries <= 0 {
		retries = defaultHealthRetries
	}
	args := h.Test[1:]
	if h.Test[0] == "CMD-SHELL" {
		args = []string{"/bin/sh", "-c", h.Test[1]}
	}
	started := time.Now()
	go func() {
		t := time.NewTimer(interval)
		defer t.Stop()
		for {
			select {
			case <-exitCh:
				return
			case <-e.ctx.Done():
				return
			case <-t.C:
			}
			res := e.probe(c, args, timeout)
			c.mu.Lock()
			hs := c.health
			if hs == nil {
				c.mu.Unlock()
				return
			}
			old := hs.Status
			hs.Log = append(hs.Log, res)
			if len(hs.Log) > healthLogKeep {
				hs.Log = hs.Log[len(hs.Log)-healthLogKeep:]
			}
			if res.ExitCode == 0 {
				hs.Status, hs.FailingStreak = HealthHealthy, 0
			} else if time.Since(started) >= h.StartPeriod || hs.Status == HealthHealthy {
				hs.FailingStreak++
				if hs.FailingStreak >= retries {
					hs.Status = HealthUnhealthy
				}
			}
			status := hs.Status
			c.mu.Unlock()
			if status != old {
				e.event(c, "health_status: "+status)
			}
			t.Reset(interval)
		}
	}()
}

// probe runs one health check through the shim, as an exec.
func (e *Engine) probe(c *Container, args []string, timeout time.Duration) api.HealthResult {
	res := api.HealthResult{Start: time.Now().UTC(), ExitCode: -1}
	defer func() { res.End = time.Now().UTC() }()
	c.mu.Lock()
	cl := c.shim
	c.mu.Unlock()
	if cl == nil {
		res.Output = "container is not running"
		return res
	}
	x := &execRecord{id: newID(), container: c, cfg: api.ExecConfig{Cmd: args}}
	p, err := e.execProcess(x)
	if err != nil {
		res.Output = err.Error()
		return res
	}
	ctx, cancel := context.WithTimeout(e.ctx, timeout)
	defer cancel()
	conn, br, err := cl.Exec(ctx, shim.Request{Exec: x.id, Process: p, Stdout: true, Stderr: true})
	if err != nil {
		res.Output = err.Error()
		return res
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	var out bytes.Buffer
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			break
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		room := int64(healthOutputMax - out.Len())
		if room > n {
			room = n
		}
		if room > 0 {
			io.CopyN(&out, br, room)
		}
		if _, err := io.CopyN(io.Discard, br, n-max(room, 0)); err != nil {
			break
		}
	}
	conn.Close()
	res.Output = out.String()
	if ctx.Err() != nil {
		res.Output = "Health check exceeded timeout (" + timeout.String() + ")"
		return res
	}
	r, err := cl.Call(e.ctx, shim.Request{Op: shim.OpExecState, Exec: x.id})
	if err != nil || r.Exit == nil {
		res.Output += "\nno exit status: " + strconv.Quote(errString(err))
		return res
	}
	res.ExitCode = r.Exit.Code
	return res
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

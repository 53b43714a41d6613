package engine

import (
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/petrel-edge/petrel/core/shim"
)

// spareQuiet is how long no request must have come before a spare
// shim starts: its start, even under SCHED_IDLE, slows the processes
// beside it down (page faults cost more side by side on a virtual
// machine), and a request that follows a start (a stop, a removal) would
// pay for it.
const spareQuiet = 100 * time.Millisecond

// spareBoot bounds a spare shim's start: it boots under SCHED_IDLE and
// may wait that long for CPU time on a busy host.
const spareBoot = 30 * time.Second

// spareShims keeps at most one spare shim (shim.Spare): started once
// the starts under way are over and the API has been quiet for
// spareQuiet, taken by the next start, which then need not wait for a
// shim's Go runtime to come up, and let go when no start took it within
// Options.SpareShim.
type spareShims struct {
	lastRequest atomic.Int64 // UnixNano of the last NoteRequest

	mu        sync.Mutex
	spare     *shim.Spare
	expire    *time.Timer
	starts    int  // starts under way
	launching bool // a spare is starting
	failed    bool // the last spare failed: logged once
	closed    bool
}

// launchShim starts the shim of a start: the spare when one waits, else
// a fresh one. startDone follows once the start is over, whatever the
// outcome.
func (e *Engine) launchShim(opts shim.SpawnOptions) (*shim.Launched, error) {
	s := &e.spares
	s.mu.Lock()
	sp := s.spare
	s.spare = nil
	if s.expire != nil {
		s.expire.Stop()
		s.expire = nil
	}
	s.starts++
	s.mu.Unlock()
	if sp != nil {
		l, err := sp.Take(opts)
		if err == nil {
			return l, nil
		}
		e.logf("container %s: %v; starting a shim of its own", opts.ID, err)
	}
	return shim.Launch(opts)
}

// startDone ends a start that launchShim began; once no start is under
// way, a spare shim starts for the next.
func (e *Engine) startDone() {
	s := &e.spares
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts--
	if e.opts.SpareShim <= 0 || s.closed || s.starts > 0 || s.spare != nil || s.launching {
		return
	}
	s.launching = true
	go e.launchSpare()
}

// NoteRequest tells the engine that an API request came: a spare shim
// starts only once they stop for a while.
func (e *Engine) NoteRequest() {
	e.spares.lastRequest.Store(time.Now().UnixNano())
}

func (e *Engine) launchSpare() {
	s := &e.spares
	for {
		quiet := time.Duration(time.Now().UnixNano() - s.lastRequest.Load())
		if quiet >= spareQuiet {
			break
		}
		select {
		case <-time.After(spareQuiet - quiet):
		case <-e.ctx.Done():
			s.mu.Lock()
			s.launching = false
			s.mu.Unlock()
			return
		}
	}
	sp, err := shim.LaunchSpare(e.opts.Binary, e.opts.State, os.Stderr)
	if err == nil {
		if err = sp.WaitReady(spareBoot); err != nil {
			sp.Close()
		}
	}
	s.mu.Lock()
	s.launching = false
	if err != nil {
		logIt := !s.failed
		s.failed = true
		s.mu.Unlock()
		if logIt {
			e.logf("spare shim: %v (starts launch their own shims)", err)
		}
		return
	}
	s.failed = false
	if s.closed || s.spare != nil || e.ctx.Err() != nil {
		s.mu.Unlock()
		sp.Close()
		return
	}
	s.spare = sp
	s.expire = time.AfterFunc(e.opts.SpareShim, func() { e.dropSpare(sp) })
	s.mu.Unlock()
}

// dropSpare lets sp go if it is still the spare.
func (e *Engine) dropSpare(sp *shim.Spare) {
	s := &e.spares
	s.mu.Lock()
	if s.spare != sp {
		s.mu.Unlock()
		return
	}
	s.spare = nil
	s.expire = nil
	s.mu.Unlock()
	sp.Close()
}

// closeSpares lets the spare go and starts no other.
func (e *Engine) closeSpares() {
	s := &e.spares
	s.mu.Lock()
	s.closed = true
	sp := s.spare
	s.spare = nil
	if s.expire != nil {
		s.expire.Stop()
		s.expire = nil
	}
	s.mu.Unlock()
	if sp != nil {
		sp.Close()
	}
}

package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/core/shim"
)

// Status values of a container, as Docker's.
const (
	StatusCreated    = "created"
	StatusRunning    = "running"
	StatusPaused     = "paused"
	StatusRestarting = "restarting"
	StatusRemoving   = "removing"
	StatusExited     = "exited"
	StatusDead       = "dead"
)

// Files in a container's directory.
const (
	recordFile     = "config.v2.json"
	hostConfigFile = "hostconfig.json"
	specFile       = "config.json"
	exitFile       = "exit.json"
	shimLogFile    = "shim.log"
)

// State is the persisted run state of a container.
type State struct {
	Status     string    `json:"Status"`
	Pid        int       `json:"Pid"`
	ExitCode   int       `json:"ExitCode"`
	Error      string    `json:"Error"`
	OOMKilled  bool      `json:"OOMKilled"`
	StartedAt  time.Time `json:"StartedAt"`
	FinishedAt time.Time `json:"FinishedAt"`
}

// record is what config.v2.json holds.
type record struct {
	ID              string      `json:"ID"`
	Name            string      `json:"Name"`
	Created         time.Time   `json:"Created"`
	Path            string      `json:"Path"`
	Args            []string    `json:"Args"`
	Config          *api.Config `json:"Config"`
	State           State       `json:"State"`
	RestartCount    int         `json:"RestartCount"`
	Runtime         string      `json:"Runtime"`
	Rootfs          string      `json:"Rootfs"`
	Image           string      `json:"Image,omitempty"` // image ID, "" for an external rootfs
	Driver          string      `json:"Driver,omitempty"`
	LogPath         string      `json:"LogPath"`
	ManuallyStopped bool        `json:"HasBeenManuallyStopped"`
	Net             *netState   `json:"NetworkState,omitempty"`
	// RemoveVolumes: rm -v, for a next start that finishes a removal.
	RemoveVolumes bool `json:"RemoveVolumes,omitempty"`
}

// Container is one container's record and its live bookkeeping.
type Container struct {
	op chan struct{} // a token: held for the whole of an operation

	mu         sync.Mutex // guards everything below
	rec        record
	hostConfig *api.HostConfig
	dir        string
	shim       *shim.Client
	exitCh     chan struct{} // closed at the next exit, then replaced
	removedCh  chan struct{} // closed once removed
	removed    bool
	pending    []*pendingAttach
	restartTmr *time.Timer
	health     *api.Health // of the current run, when it has a health check
	// netns holds a --network none container's namespace from its
	// start's setupNetwork until its init has joined it (releaseNetns).
	netns *os.File
}

func newContainer(rec record, hc *api.HostConfig, dir string) *Container {
	return &Container{op: make(chan struct{}, 1), rec: rec, hostConfig: hc, dir: dir,
		exitCh: make(chan struct{}), removedCh: make(chan struct{})}
}

// lock takes the container's operation token.
func (c *Container) lock()   { c.op <- struct{}{} }
func (c *Container) unlock() { <-c.op }

// save writes the record after a change of state; c.mu must be held.
// The write is atomic (a crashed daemon leaves the old record or the
// new one) and fsynced only when a host reboot acts on the state (see
// durable): otherwise a power cut stops every container anyway, and the
// next daemon records that, so the fsyncs, several milliseconds each on
// flash, would buy nothing.
func (c *Container) save() error {
	return c.write(c.durable())
}

// saveDurable writes the record and makes it durable: for what must
// outlive a power cut whatever the state, the container's existence and
// its name; c.mu must be held.
func (c *Container) saveDurable() error { return c.write(true) }

func (c *Container) write(durable bool) error {
	data, err := json.Marshal(&c.rec)
	if err != nil {
		return err
	}
	p := filepath.Join(c.dir, recordFile)
	if durable {
		return atomicfile.WriteFile(p, data, 0o600)
	}
	return atomicfile.WriteFileVolatile(p, data, 0o600)
}

// durable reports whether the container's state must survive a power
// cut: when its restart policy starts it again at daemon start after a
// reboot (always, unless-stopped), which reads the state and the
// manual-stop flag; c.mu must be held.
func (c *Container) durable() bool {
	switch c.hostConfig.RestartPolicy.Name {
	case "always", "unless-stopped":
		return true
	}
	return false
}

// saveNew writes a new container's record and host config, and makes
// them and its directory's entry in parent durable, with one wait for
// the files' fsyncs and one for the directories'.
func (c *Container) saveNew(parent string) error {
	rec, err := json.Marshal(&c.rec)
	if err != nil {
		return err
	}
	hc, err := json.Marshal(c.hostConfig)
	if err != nil {
		return err
	}
	return atomicfile.WriteFiles([]atomicfile.File{
		{Path: filepath.Join(c.dir, hostConfigFile), Data: hc, Perm: 0o600},
		{Path: filepath.Join(c.dir, recordFile), Data: rec, Perm: 0o600},
	}, parent)
}

func (c *Container) saveHostConfig() error {
	data, err := json.Marshal(c.hostConfig)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(c.dir, hostConfigFile), data, 0o600)
}

// loadContainer reads a container's directory.
func loadContainer(dir string) (*Container, error) {
	data, err := os.ReadFile(filepath.Join(dir, recordFile))
	if err != nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", recordFile, err)
	}
	hc := &api.HostConfig{}
	if data, err := os.ReadFile(filepath.Join(dir, hostConfigFile)); err == nil {
		if err := json.Unmarshal(data, hc); err != nil {
			return nil, fmt.Errorf("%s: %w", hostConfigFile, err)
		}
	}
	if rec.ID != filepath.Base(dir) || rec.Config == nil {
		return nil, fmt.Errorf("%s: record does not match its directory", recordFile)
	}
	return newContainer(rec, hc, dir), nil
}

// running reports whether the container has a live process; c.mu held.
func (c *Container) running() bool {
	s := c.rec.State.Status
	return s == StatusRunning || s == StatusPaused
}

// ID returns the container's id.
func (c *Container) ID() string { return c.rec.ID }

func itoa(n int) string { return strconv.Itoa(n) }

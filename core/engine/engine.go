package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/core/events"
	"github.com/petrel-edge/petrel/core/shim"
	"github.com/petrel-edge/petrel/core/volume"
	"github.com/petrel-edge/petrel/image"
)

// Runtime is an external OCI runtime with runc's command line.
type Runtime struct {
	Path string   `json:"path"`
	Args []string `json:"runtimeArgs,omitempty"`
}

// builtinRuntimes are known without configuration: lcr runs in-process in
// the shim, the others are looked up in $PATH.
var builtinRuntimes = []string{"lcr", "runc", "crun", "kata-runtime", "runsc"}

// Options configure an Engine.
type Options struct {
	Root           string // records, logs: /var/lib/petrel
	State          string // sockets, runtime state: /run/petrel
	DefaultRuntime string // "" for lcr
	Runtimes       map[string]Runtime
	LogDriver      string            // json-file (default) or none
	LogOpts        map[string]string // max-size, max-file
	Binary         string            // petrel binary the shims run; "" for /proc/self/exe
	Init           bool              // run containers under petrel-init unless they say otherwise
	Network        NetworkOptions
	Logf           func(format string, args ...any)
	Images         ImageOptions // the image store under Root/image
	// SpareShim is how long a spare shim waits for a start to take it
	// (spare.go); 0 for none.
	SpareShim time.Duration
}

// Engine manages the containers under one root.
type Engine struct {
	opts   Options
	Events events.Bus

	mu     sync.Mutex
	byID   map[string]*Container
	byName map[string]*Container
	execs  map[string]*execRecord
	vols   *volume.Store
	// creating holds the names of creates in progress, which work
	// without e.mu held; see reserveName.
	creating map[string]reservation
	net      *networks

	imgMu    sync.Mutex
	imgStore *image.Store // opened on first use, see images()

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// removals counts the removals still unmounting and deleting after
	// their answer; Close and the image removals wait for them.
	removals sync.WaitGroup

	spares spareShims
}

func (e *Engine) containersDir() string { return filepath.Join(e.opts.Root, "containers") }

// trashDir holds removed containers' directories until the background
// deletes them (discard).
func (e *Engine) trashDir() string { return filepath.Join(e.opts.Root, "trash") }

// discard removes dir from the containers at once and deletes it in the
// background: a container's directory (its logs, say) can be large, and
// rm is done once the container is gone from the records. What a crash
// leaves in the trash goes at the next start (emptyTrash).
func (e *Engine) discard(dir string) error {
	dst := filepath.Join(e.trashDir(), filepath.Base(dir))
	if err := os.Rename(dir, dst); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return os.RemoveAll(dir) // no trash on that filesystem: delete it here
	}
	go os.RemoveAll(dst)
	return nil
}

// emptyTrash deletes, in the background, what removals left in the trash.
func (e *Engine) emptyTrash() {
	ents, _ := os.ReadDir(e.trashDir())
	if len(ents) == 0 {
		return
	}
	go func() {
		for _, ent := range ents {
			os.RemoveAll(filepath.Join(e.trashDir(), ent.Name()))
		}
	}()
}

func (e *Engine) logf(format string, args ...any) {
	if e.opts.Logf != nil {
		e.opts.Logf(format, args...)
	}
}

// New opens the engine's root, loads every container record and
// restores them: running containers whose shims still answer are
// re-attached, those that exited meanwhile get their recorded exit
// status, and restart policies are applied.
func New(opts Options) (*Engine, error) {
	if opts.Root == "" || opts.State == "" {
		return nil, errors.New("engine: root and state directories are required")
	}
	if opts.LogDriver == "" {
		opts.LogDriver = "json-file"
	}
	e := &Engine{opts: opts, byID: map[string]*Container{}, byName: map[string]*Container{}, execs: map[string]*execRecord{}}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	if err := validateImageOptions(opts.Images); err != nil {
		return nil, err
	}
	for _, d := range []string{e.containersDir(), e.trashDir(), filepath.Join(opts.State, "shim"), filepath.Join(opts.State, "runtime")} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
	}
	e.emptyTrash()
	if _, err := e.runtime(opts.DefaultRuntime); err != nil {
		return nil, err
	}
	vols, err := volume.Open(filepath.Join(opts.Root, "volumes"))
	if err != nil {
		return nil, err
	}
	vols.Sweep()
	e.vols = vols
	if err := e.initNetwork(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(e.containersDir())
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	var unfinished []*Container // removals with -v cut short
	for _, ent := range ents {
		if !ent.IsDir() {
			continue
		}
		c, err := loadContainer(filepath.Join(e.containersDir(), ent.Name()))
		if errors.Is(err, fs.ErrNotExist) {
			e.discardPartial(ent.Name())
			continue
		}
		if err != nil {
			e.logf("skipping container %s: %v", ent.Name(), err)
			continue
		}
		if c.rec.State.Status == StatusRemoving {
			// Removed, but the daemon died before it had deleted it all.
			c.removed = true
			if err := e.finishRemoval(c); err != nil {
				e.logf("%v", err)
			}
			if c.rec.RemoveVolumes {
				unfinished = append(unfinished, c)
			}
			continue
		}
		e.byID[c.rec.ID] = c
		if other, ok := e.byName[c.rec.Name]; ok {
			e.logf("containers %s and %s share the name %s", other.rec.ID, c.rec.ID, c.rec.Name)
		}
		e.byName[c.rec.Name] = c
	}
	// Their anonymous volumes go once every container that may share
	// them is known.
	e.mu.Lock()
	for _, c := range unfinished {
		e.removeAnonymousVolumes(c)
	}
	e.mu.Unlock()
	// Restore in parallel: one slow shim must not hold up the others.
	var wg sync.WaitGroup
	for _, c := range e.byID {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.restore(c)
		}()
	}
	wg.Wait()
	return e, nil
}

// Close stops the engine's goroutines; containers keep running.
func (e *Engine) Close() {
	e.cancel()
	e.closeSpares()
	e.removals.Wait()
	e.mu.Lock()
	for _, c := range e.byID {
		c.mu.Lock()
		if c.restartTmr != nil {
			c.restartTmr.Stop()
		}
		c.mu.Unlock()
	}
	e.mu.Unlock()
	e.imgMu.Lock()
	if e.imgStore != nil {
		e.imgStore.Close()
		e.imgStore = nil
	}
	e.imgMu.Unlock()
}

// runtime resolves a runtime name: lcr (in-process), a configured name,
// or a known runtime found in $PATH.
func (e *Engine) runtime(name string) (Runtime, error) {
	if name == "" {
		name = e.opts.DefaultRuntime
	}
	if name == "" || name == "lcr" {
		return Runtime{Path: "lcr"}, nil
	}
	if r, ok := e.opts.Runtimes[name]; ok {
		return r, nil
	}
	for _, b := range builtinRuntimes {
		if b == name {
			return Runtime{Path: name}, nil
		}
	}
	return Runtime{}, errdefs.Invalid("unknown runtime %q: use lcr, runc, crun, kata-runtime, runsc or a name from daemon.json runtimes", name)
}

// Lookup finds a container by full id, name, or unique id prefix.
func (e *Engine) Lookup(ref string) (*Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lookupLocked(ref)
}

func (e *Engine) lookupLocked(ref string) (*Container, error) {
	ref = strings.TrimPrefix(ref, "/")
	if ref == "" {
		return nil, errdefs.NotFound("No such container: %s", ref)
	}
	if c, ok := e.byID[ref]; ok {
		return c, nil
	}
	if c, ok := e.byName[ref]; ok {
		return c, nil
	}
	var found *Container
	for id, c := range e.byID {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, errdefs.Invalid("multiple containers match the prefix %s", ref)
			}
			found = c
		}
	}
	if found == nil {
		return nil, errdefs.NotFound("No such container: %s", ref)
	}
	return found, nil
}

// ValidateName accepts Docker's container names: [a-zA-Z0-9][a-zA-Z0-9_.-]+,
// an optional leading slash dropped.
func ValidateName(name string) error {
	n := strings.TrimPrefix(name, "/")
	ok := len(n) >= 2 && len(n) <= 253
	for i := 0; ok && i < len(n); i++ {
		b := n[i]
		alnum := b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
		ok = alnum || i > 0 && (b == '_' || b == '.' || b == '-')
	}
	if !ok {
		return errdefs.Invalid("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name)
	}
	return nil
}

func newID() string {
	var b [32]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

var (
	nameLeft  = []string{"brave", "calm", "eager", "fond", "keen", "lucid", "merry", "nimble", "quiet", "sharp", "swift", "tidy", "vivid", "witty", "zen"}
	nameRight = []string{"albatross", "auk", "fulmar", "gannet", "gull", "kittiwake", "murre", "petrel", "puffin", "shearwater", "skua", "storm", "tern"}
)

// newName returns an unused generated name; e.mu held.
func (e *Engine) newName() string {
	var b [2]byte
	for i := 0; ; i++ {
		rand.Read(b[:])
		n := nameLeft[int(b[0])%len(nameLeft)] + "_" + nameRight[int(b[1])%len(nameRight)]
		if i > 10 {
			n += fmt.Sprint(i)
		}
		if !e.nameTaken(n) {
			return n
		}
	}
}

// List returns the containers, newest first; all includes stopped ones.
func (e *Engine) List(all bool) []api.Container {
	e.mu.Lock()
	cs := make([]*Container, 0, len(e.byID))
	for _, c := range e.byID {
		cs = append(cs, c)
	}
	e.mu.Unlock()
	out := make([]api.Container, 0, len(cs))
	for _, c := range cs {
		c.mu.Lock()
		if c.removed || !all && !c.running() && c.rec.State.Status != StatusRestarting {
			c.mu.Unlock()
			continue
		}
		out = append(out, c.summary())
		c.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Created != out[j].Created {
			return out[i].Created > out[j].Created
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Counts returns how many containers there are in each state, for /info.
func (e *Engine) Counts() (total, running, paused, stopped int) {
	for _, c := range e.List(true) {
		total++
		switch c.State {
		case StatusRunning, StatusRestarting:
			running++
		case StatusPaused:
			paused++
		default:
			stopped++
		}
	}
	return
}

func (e *Engine) shimSocket(id string) string {
	return filepath.Join(e.opts.State, "shim", id+".sock")
}

func isGone(err error) bool { return errors.Is(err, shim.ErrGone) || errors.Is(err, fs.ErrNotExist) }

// since formats a duration the way docker ps does.
func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	case s < 120:
		return "About a minute"
	case s < 3600:
		return fmt.Sprintf("%d minutes", s/60)
	case s < 7200:
		return "About an hour"
	case s < 48*3600:
		return fmt.Sprintf("%d hours", s/3600)
	default:
		return fmt.Sprintf("%d days", s/86400)
	}
}

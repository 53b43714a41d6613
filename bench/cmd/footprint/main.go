package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/petrel-edge/petrel/bench/busybox"
	"github.com/petrel-edge/petrel/bench/internal/peakrss"
	"github.com/petrel-edge/petrel/cross"
)

type options struct {
	petrel      string
	binDir      string
	containers  int
	healthy     int
	healthEvery time.Duration
	cycles      int
	idle        time.Duration
	settle      time.Duration
	results     string
	peers       string
	gc          string
	json        bool
	keep        bool
}

func main() {
	var o options
	fs := flag.NewFlagSet("footprint", flag.ContinueOnError)
	fs.StringVar(&o.petrel, "petrel", os.Getenv("PETREL_BIN"), "the petrel binary (default $PETREL_BIN, else BIN/petrel)")
	fs.StringVar(&o.binDir, "bin", "bin", "directory of the cross-built binaries (make cross)")
	fs.IntVar(&o.containers, "containers", 10, "idle containers for the per-container and idle-write figures")
	fs.IntVar(&o.healthy, "healthy", 2, "how many of the containers have a health check")
	fs.DurationVar(&o.healthEvery, "health-interval", 5*time.Second, "interval of their health checks")
	fs.IntVar(&o.cycles, "cycles", 50, "run -d / rm -f cycles before the daemon's memory is read again")
	fs.DurationVar(&o.idle, "idle", 10*time.Minute, "idle time over which writes are counted")
	fs.DurationVar(&o.settle, "settle", 2*time.Second, "wait before reading memory after a change")
	fs.StringVar(&o.results, "results", "bench", "directory of the other benchmarks' saved JSON reports (enginebench.json, runtimebench.json, pullbench.json)")
	fs.StringVar(&o.peers, "peers", "", "enginebench JSON report of this run with the peers' memory (make bench-footprint makes one)")
	fs.StringVar(&o.gc, "gc", "", "instead of the footprint, compare petreld's memory under these environments, e.g. 'default GOGC=100 GOGC=50,GOMEMLIMIT=16MiB'")
	fs.BoolVar(&o.json, "json", false, "print JSON instead of the table")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory")
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	if err := o.check(); err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(2)
	}
	// SIGINT or SIGTERM end the run early, and everything it started is
	// still removed: containers, daemon, mounts, loop devices.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if o.gc != "" {
		err = gcSweep(ctx, o, os.Stdout)
	} else {
		err = footprint(ctx, o, os.Stdout)
	}
	if errors.Is(err, context.Canceled) {
		err = errors.New("interrupted (what the run started is removed)")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
}

func (o *options) check() error {
	if o.petrel == "" {
		o.petrel = filepath.Join(o.binDir, "petrel")
	}
	p, err := filepath.Abs(o.petrel)
	if err != nil {
		return err
	}
	o.petrel = p
	if _, err := os.Stat(o.petrel); err != nil {
		return fmt.Errorf("-petrel: %w (make build)", err)
	}
	if o.containers < 1 {
		return fmt.Errorf("-containers: %d is not a positive number", o.containers)
	}
	if o.healthy < 0 || o.healthy > o.containers {
		return fmt.Errorf("-healthy: %d is not between 0 and -containers", o.healthy)
	}
	if o.healthEvery < time.Second {
		return fmt.Errorf("-health-interval: %v is shorter than a second", o.healthEvery)
	}
	if o.cycles < 0 {
		return fmt.Errorf("-cycles: %d is negative", o.cycles)
	}
	if o.idle < time.Second {
		return fmt.Errorf("-idle: %v is shorter than a second", o.idle)
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root (containers, a loop device)")
	}
	return nil
}

// report is the footprint, and its JSON form. Memory in KiB.
type report struct {
	Date         string   `json:"date"`
	Host         string   `json:"host"`
	Sizes        []size   `json:"sizes"`
	Containers   int      `json:"containers"`
	Healthy      int      `json:"health_checked"`
	HealthEvery  string   `json:"health_interval"`
	HealthyAtEnd int      `json:"healthy_after_idle"`
	DaemonIdle   smaps    `json:"petreld_idle_kib"`
	DaemonWithN  smaps    `json:"petreld_with_containers_kib"`
	ShimPSS      int64    `json:"shim_pss_kib"`       // mean
	ShimPrivate  int64    `json:"shim_private_kib"`   // mean
	ShimAnon     int64    `json:"shim_anonymous_kib"` // mean
	SparePSS     int64    `json:"spare_shim_pss_kib"` // the spare shim's, when one waits
	PerContainer int64    `json:"per_container_kib"`
	Cycles       int      `json:"cycles"`
	DaemonAfter  smaps    `json:"petreld_after_cycles_kib"`
	ClientPeak   int64    `json:"client_peak_rss_kib"`
	RuntimePeak  int64    `json:"runtime_peak_rss_kib"`
	Idle         writes   `json:"idle_writes"`
	Cycle        writes   `json:"cycle_writes"`
	Peers        []peer   `json:"peers,omitempty"`
	Ratios       []ratio  `json:"ratios,omitempty"`
	Notes        []string `json:"notes,omitempty"`
}

type size struct {
	Target string `json:"target"`
	Bytes  int64  `json:"bytes"`
}

// writes are the bytes the scratch devices of the root and the state
// wrote over a span, and the files inotify saw change.
type writes struct {
	Seconds float64  `json:"seconds"`
	Bytes   int64    `json:"bytes"` // Root + State
	Root    int64    `json:"root_bytes"`
	State   int64    `json:"state_bytes"`
	Changed []string `json:"changed"`
}

func (w writes) perMinute() float64 { return float64(w.Bytes) / (w.Seconds / 60) }

func footprint(ctx context.Context, o options, out io.Writer) error {
	rep, err := measure(ctx, o)
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(out)
	return nil
}

// measure takes every figure of the footprint.
func measure(ctx context.Context, o options) (*report, error) {
	rep := &report{Date: time.Now().UTC().Format("2006-01-02 15:04"), Host: hostLine(), Containers: o.containers, Cycles: o.cycles,
		Healthy: o.healthy, HealthEvery: o.healthEvery.String()}
	rep.Sizes, rep.Notes = sizes(o.binDir)
	work, err := os.MkdirTemp("", "fp") // short: shim socket paths are limited to 107 bytes
	if err != nil {
		return nil, err
	}
	if !o.keep {
		defer os.RemoveAll(work)
	}
	rootfs := filepath.Join(work, "rootfs")
	if err := busybox.HostRootfs(rootfs); err != nil {
		return nil, fmt.Errorf("busybox rootfs: %w", err)
	}
	if err := measurePetrel(ctx, o, work, rootfs, rep); err != nil {
		return nil, err
	}
	if rep.RuntimePeak, err = runtimePeak(o.petrel, work, rootfs); err != nil {
		return nil, fmt.Errorf("runtime peak RSS: %w", err)
	}
	if o.peers != "" {
		if rep.Peers, err = peersFrom(o.peers); err != nil {
			rep.Notes = append(rep.Notes, "peers: "+err.Error())
		}
	}
	if o.results != "" {
		rat, notes := savedRatios(o.results)
		rep.Ratios, rep.Notes = rat, append(rep.Notes, notes...)
	}
	return rep, nil
}

// measurePetrel runs petreld with its root and its state each on a
// scratch filesystem: idle memory, N silent containers, the writes while
// they idle and for one lifecycle, then the create/rm cycles.
func measurePetrel(ctx context.Context, o options, work, rootfs string, rep *report) (err error) {
	var scs [2]*scratch // root, state
	defer func() {
		for _, sc := range scs {
			if sc == nil {
				continue
			}
			if cerr := sc.close(); err == nil {
				err = cerr
			}
		}
	}()
	for i, name := range []string{"r", "s"} {
		dir := filepath.Join(work, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		if scs[i], err = newScratch(dir, 128); err != nil {
			return fmt.Errorf("scratch filesystem: %w", err)
		}
	}
	d, err := startPetreld(o.petrel, scs[0].mnt, scs[1].mnt, rootfs, work, nil)
	if err != nil {
		return err
	}
	defer func() {
		if serr := d.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	time.Sleep(o.settle)
	if rep.DaemonIdle, err = readSmaps(d.pid()); err != nil {
		return err
	}
	var shims []int
	for i := range o.containers {
		name := fmt.Sprintf("fp%d", i)
		var every time.Duration
		if i < o.healthy {
			every = o.healthEvery
		}
		if err := d.runSilent(name, every); err != nil {
			return err
		}
		pid, err := d.shimPid(name)
		if err != nil {
			return err
		}
		shims = append(shims, pid)
	}
	time.Sleep(o.settle)
	if rep.DaemonWithN, err = readSmaps(d.pid()); err != nil {
		return err
	}
	var shimPSS, shimPriv, shimAnon int64
	for _, p := range shims {
		s, err := readSmaps(p)
		if err != nil {
			return fmt.Errorf("shim %d: %w", p, err)
		}
		shimPSS += s.PSS
		shimPriv += s.Private
		shimAnon += s.Anonymous
	}
	// A spare shim waits once containers have started (daemon.json
	// spare-shim): the host pays for it too.
	for _, p := range d.spares(shims) {
		s, err := readSmaps(p)
		if err != nil {
			return fmt.Errorf("spare shim %d: %w", p, err)
		}
		rep.SparePSS += s.PSS
	}
	n := int64(len(shims))
	rep.ShimPSS, rep.ShimPrivate, rep.ShimAnon = shimPSS/n, shimPriv/n, shimAnon/n
	rep.PerContainer = (rep.DaemonWithN.PSS + shimPSS + rep.SparePSS - rep.DaemonIdle.PSS) / n
	cmd := d.clientCmd("ps", "-a")
	cmd.Stdout = io.Discard
	if rep.ClientPeak, err = peakrss.Run(cmd); err != nil {
		return fmt.Errorf("client peak RSS: %w", err)
	}

	// Writes while the containers idle.
	rec, err := newRecorder(map[string]string{d.root: "root", d.state: "state"})
	if err != nil {
		return err
	}
	defer rec.close()
	if rep.Idle, err = countWrites(scs, rec, func() error { return sleep(ctx, o.idle) }); err != nil {
		return err
	}
	// The health checks ran while idle.
	for i := range o.healthy {
		st, err := d.client("inspect", "--format", "{{.State.Health.Status}}", fmt.Sprintf("fp%d", i))
		if err != nil {
			return err
		}
		if st == "healthy" {
			rep.HealthyAtEnd++
		}
	}
	// Writes of one lifecycle: run -d, then rm -f.
	if rep.Cycle, err = countWrites(scs, rec, func() error { return cycle(d, "fpcycle") }); err != nil {
		return err
	}
	for i := range o.cycles {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := cycle(d, fmt.Sprintf("fpc%d", i)); err != nil {
			return err
		}
	}
	time.Sleep(o.settle)
	rep.DaemonAfter, err = readSmaps(d.pid())
	return err
}

// sleep waits for d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func cycle(d *petreld, name string) error {
	if err := d.runSilent(name, 0); err != nil {
		return err
	}
	_, err := d.client("rm", "-f", name)
	return err
}

// countWrites returns the devices' writes and the changed files during f.
func countWrites(scs [2]*scratch, rec *recorder, f func() error) (writes, error) {
	rec.take()
	var before, after [2]int64
	read := func(into *[2]int64) error {
		for i, sc := range scs {
			n, err := sc.written()
			if err != nil {
				return err
			}
			into[i] = n
		}
		return nil
	}
	if err := read(&before); err != nil {
		return writes{}, err
	}
	start := time.Now()
	if err := f(); err != nil {
		return writes{}, err
	}
	if err := read(&after); err != nil {
		return writes{}, err
	}
	w := writes{Seconds: time.Since(start).Seconds(), Root: after[0] - before[0], State: after[1] - before[1], Changed: rec.take()}
	w.Bytes = w.Root + w.State
	return w, nil
}

// runtimePeak is the peak RSS of `petrel-runtime run` of a busybox true.
func runtimePeak(bin, work, rootfs string) (int64, error) {
	link := filepath.Join(work, "petrel-runtime")
	if err := os.Symlink(bin, link); err != nil && !errors.Is(err, os.ErrExist) {
		return 0, err
	}
	s, err := busybox.TemplateSpec(link)
	if err != nil {
		return 0, err
	}
	busybox.Adjust(s, rootfs, "true")
	bundle := filepath.Join(work, "bundle")
	if err := busybox.WriteBundle(bundle, s); err != nil {
		return 0, err
	}
	cmd := exec.Command(link, "--root", filepath.Join(work, "runtime-root"), "run", "--bundle", bundle, "fp-runtime")
	return peakrss.Run(cmd)
}

// sizes reads the size of every target's binary that make cross built.
func sizes(binDir string) ([]size, []string) {
	ts, err := cross.Targets()
	if err != nil {
		return nil, []string{err.Error()}
	}
	var out []size
	var missing []string
	for _, t := range ts {
		fi, err := os.Stat(filepath.Join(binDir, "petrel-"+t.GOOS+"-"+t.Name))
		if err != nil {
			missing = append(missing, t.Name)
			continue
		}
		out = append(out, size{Target: t.Name, Bytes: fi.Size()})
	}
	var notes []string
	if len(missing) > 0 {
		notes = append(notes, "no binary for "+strings.Join(missing, ", ")+" in "+binDir+" (make cross)")
	}
	return out, notes
}

func hostLine() string {
	load, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(load))
	if len(f) > 3 {
		f = f[:3]
	}
	return fmt.Sprintf("%s, %d CPUs, load %s", runtime.GOARCH, runtime.NumCPU(), strings.Join(f, " "))
}

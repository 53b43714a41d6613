package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/petrel-edge/petrel/bench/busybox"
	"github.com/petrel-edge/petrel/bench/internal/hostinfo"
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// ops are the timed operations, in the order of the tables.
var ops = []string{"create", "start", "stop", "rm", "run --rm"}

// opNet is `run --rm IMAGE true` on the engine's default network, timed
// with -network beside "run --rm" (which has --network none).
const opNet = "run --rm, network"

// sleeper is the process of created containers: a PID 1 that exits on
// SIGTERM, so that stop measures the engine and not its kill timeout. It
// says readyLine once its trap is set: a SIGTERM before that would be
// ignored (PID 1 has no default action), so stop waits for the line.
var sleeper = []string{"sh", "-c", `trap "exit 0" TERM; echo ` + readyLine + `; sleep 100000 & wait`}

const readyLine = "enginebench-ready"

// readyTimeout bounds the wait for containers to set their trap.
const readyTimeout = 2 * time.Minute

// waitReady waits, untimed, until every named container has logged
// readyLine, so that stop measures stopping and not a race with the
// shell's start.
func waitReady(e *engine, names []string) error {
	deadline := time.Now().Add(readyTimeout)
	for len(names) > 0 {
		var left []string
		for _, n := range names {
			out, err := e.must("logs", n)
			if err != nil {
				return err
			}
			if !strings.Contains(out, readyLine) {
				left = append(left, n)
			}
		}
		if names = left; len(names) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d containers (%s, …) did not say %q within %v", len(names), names[0], readyLine, readyTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

type options struct {
	n, warmup    int
	concurrency  int
	rounds       int
	containers   int
	engines      string
	paths        map[string]string
	json         bool
	out          string
	keep         bool
	tolerate     int
	mountHugetlb bool
	network      bool
}

func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("enginebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.n, "n", 10, "measured iterations of the one-at-a-time cycle")
	fs.IntVar(&o.warmup, "warmup", 1, "one-at-a-time iterations run first and not counted")
	fs.IntVar(&o.concurrency, "c", 100, "containers at once in the concurrent rounds (0: none)")
	fs.IntVar(&o.rounds, "rounds", 1, "concurrent rounds")
	fs.IntVar(&o.containers, "containers", 50, "running containers for the memory figures (0: skip memory)")
	fs.StringVar(&o.engines, "engines", "petrel,docker,podman", "engines to compare, in order; the first is the subject")
	defPetrel := os.Getenv("PETREL_BIN")
	if defPetrel == "" {
		defPetrel = "bin/petrel"
	}
	o.paths = map[string]string{}
	petrel := fs.String("petrel", defPetrel, "petrel binary (runs as petreld and as the client)")
	docker := fs.String("docker", "", "docker client (default: Debian's /usr/bin/docker, else docker in PATH)")
	podman := fs.String("podman", "podman", "podman binary")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.StringVar(&o.out, "o", "", "also write the JSON report to `file`")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (engine roots and logs)")
	fs.IntVar(&o.tolerate, "tolerate", 0, "failed iterations or rounds per engine that are skipped (and reported) before the engine is dropped")
	fs.BoolVar(&o.mountHugetlb, "mount-hugetlb", true, "mount hugetlb as a cgroup v1 hierarchy when podman's crun needs it")
	fs.BoolVar(&o.network, "network", false, "also time `run --rm IMAGE true` on each engine's default network (a bridge of its own) and report what the network adds")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.paths["petrel"], o.paths["docker"], o.paths["podman"] = *petrel, *docker, *podman
	if fs.NArg() > 0 || o.n < 1 || o.warmup < 0 || o.concurrency < 0 || o.rounds < 1 || o.containers < 0 || o.tolerate < 0 {
		fmt.Fprintln(stderr, "enginebench: bad arguments (see -h)")
		return 2
	}
	rep, err := bench(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "enginebench: %v\n", err)
		return 1
	}
	if o.out != "" {
		if err := writeJSON(o.out, rep); err != nil {
			fmt.Fprintf(stderr, "enginebench: %v\n", err)
			return 1
		}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "enginebench: %v\n", err)
			return 1
		}
	} else {
		rep.print(stdout)
	}
	if rep.failed() {
		return 1
	}
	return 0
}

// writeJSON writes the report to path through a temporary file, so that a
// reader never sees half of it.
func writeJSON(path string, rep *report) error {
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func bench(o options, log io.Writer) (*report, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root (the engines create namespaces, mounts and cgroups)")
	}
	names := strings.Split(o.engines, ",")
	for i, n := range names {
		names[i] = strings.TrimSpace(n)
		if _, ok := o.paths[names[i]]; !ok {
			return nil, fmt.Errorf("unknown engine %q (petrel, docker, podman)", n)
		}
	}
	// Short: unix socket paths are limited to 107 bytes.
	work, err := os.MkdirTemp("", "eb")
	if err != nil {
		return nil, err
	}
	var engines []*engine
	var closeOnce sync.Once
	cleanup := func() {
		closeOnce.Do(func() {
			for _, e := range engines {
				e.close()
			}
			unmountUnder(work)
			if o.keep {
				fmt.Fprintf(log, "enginebench: work directory %s\n", work)
			} else {
				os.RemoveAll(work)
			}
		})
	}
	defer cleanup()
	// SIGINT and SIGTERM stop the daemons and remove the directories too.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		if _, ok := <-sigs; ok {
			fmt.Fprintln(log, "\nenginebench: interrupted, cleaning up")
			cleanup()
			os.Exit(130)
		}
	}()

	s := setup{work: work, paths: o.paths, tag: fmt.Sprintf("enginebench-%d", os.Getpid()), network: o.network}
	s.rootfs = filepath.Join(work, "rootfs")
	if err := busybox.HostRootfs(s.rootfs); err != nil {
		return nil, fmt.Errorf("busybox rootfs (apt-get install busybox-static): %w", err)
	}
	s.archive = filepath.Join(work, "busybox.tar")
	if err := writeArchive(s.archive, s.rootfs); err != nil {
		return nil, err
	}
	rep := newReport(o, names[0])
	for _, name := range names {
		if name == "podman" {
			if msg, err := hostinfo.EnsureHugetlb(o.mountHugetlb); err != nil {
				fmt.Fprintf(log, "enginebench: warning: %v\n", err)
			} else if msg != "" {
				fmt.Fprintf(log, "enginebench: %s\n", msg)
			}
		}
		fmt.Fprintf(log, "enginebench: starting %s\n", name)
		e, err := newEngine(name, s)
		if err != nil {
			fmt.Fprintf(log, "enginebench: skipping %s: %v\n", name, err)
			rep.Engines = append(rep.Engines, engineInfo{Name: name, Skipped: err.Error()})
			continue
		}
		engines = append(engines, e)
	}
	if len(engines) == 0 {
		return nil, errors.New("no engine to measure")
	}
	rep.Host = hostinfo.Host()

	// Memory first, on fresh daemons: idle, then with containers running.
	if o.containers > 0 {
		for _, e := range engines {
			fmt.Fprintf(log, "enginebench: %s memory with %d containers\n", e.name, o.containers)
			m, err := measureMemory(e, o.containers)
			if err != nil {
				e.fail(log, o.tolerate, "memory", err)
				continue
			}
			rep.Memory[e.name] = m
		}
	}

	total := o.warmup + o.n
	for i := range total {
		// Round-robin, starting one further each iteration, so that no
		// engine always runs right after another one.
		for k := range engines {
			e := engines[(i+k)%len(engines)]
			if e.dropped {
				continue
			}
			t, err := single(e, i)
			if err != nil {
				e.fail(log, o.tolerate, fmt.Sprintf("iteration %d", i+1), err)
				continue
			}
			if i >= o.warmup {
				rep.addSingle(e.name, t)
			}
		}
		if !o.json {
			fmt.Fprintf(log, "\rone at a time: %d/%d", i+1, total)
		}
	}
	if !o.json {
		fmt.Fprintln(log)
	}
	if o.concurrency > 0 {
		for r := range o.rounds {
			for k := range engines {
				e := engines[(r+k)%len(engines)]
				if e.dropped {
					continue
				}
				fmt.Fprintf(log, "enginebench: %s, %d at once, round %d/%d\n", e.name, o.concurrency, r+1, o.rounds)
				t, err := concurrent(e, o.concurrency, r)
				if err != nil {
					e.fail(log, o.tolerate, fmt.Sprintf("concurrent round %d", r+1), err)
					continue
				}
				rep.addConcurrent(e.name, t)
			}
		}
	}
	for _, e := range engines {
		rep.Engines = append(rep.Engines, engineInfo{Name: e.name, Path: e.cli, Version: e.version, Errors: e.failures, Dropped: e.dropped})
	}
	rep.finish()
	return rep, nil
}

// fail records a failed iteration, round or measurement of e and drops e
// after more than tolerate of them.
func (e *engine) fail(log io.Writer, tolerate int, what string, err error) {
	e.failures = append(e.failures, fmt.Sprintf("%s: %v", what, err))
	e.dropped = len(e.failures) > tolerate
	verdict := "not counted"
	if e.dropped {
		verdict = "dropped"
	}
	fmt.Fprintf(log, "\nenginebench: %s failed in %s, %s:\n  %v\n", e.name, what, verdict, err)
	e.removeAll()
}

// writeArchive writes the busybox root filesystem as a docker-archive image.
func writeArchive(path, rootfs string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := busybox.WriteDockerArchive(f, rootfs, image, busybox.ImageConfig{Cmd: []string{"sh"}}); err != nil {
		f.Close()
		return fmt.Errorf("busybox image: %w", err)
	}
	return f.Close()
}

// single runs one container through create, start, stop and rm, then one
// `run --rm … true`, each call timed.
func single(e *engine, i int) (map[string]time.Duration, error) {
	t := map[string]time.Duration{}
	name := fmt.Sprintf("eb-%d", i)
	steps := []struct {
		op   string
		args []string
	}{
		{"create", append(append(append([]string{"create", "--name", name}, e.opts...), e.image), sleeper...)},
		{"start", []string{"start", name}},
		{"stop", []string{"stop", name}},
		{"rm", []string{"rm", name}},
		{"run --rm", append(append([]string{"run", "--rm"}, e.opts...), e.image, "true")},
	}
	if e.netOpts != nil {
		steps = append(steps, struct {
			op   string
			args []string
		}{opNet, append(append([]string{"run", "--rm"}, e.netOpts...), e.image, "true")})
	}
	for _, st := range steps {
		if st.op == "stop" {
			if err := waitReady(e, []string{name}); err != nil {
				return nil, err
			}
		}
		d, _, err := e.call(st.args...)
		if err != nil {
			return nil, err
		}
		t[st.op] = d
	}
	return t, nil
}

// concurrent runs the same cycle as single for c containers at once: c
// clients create, then c start, c stop, c rm, and c `run --rm … true`;
// each phase is timed from the first client's start to the last one's
// exit.
func concurrent(e *engine, c, round int) (map[string]time.Duration, error) {
	t := map[string]time.Duration{}
	name := func(j int) string { return fmt.Sprintf("ebc-%d-%d", round, j) }
	phases := []struct {
		op   string
		args func(j int) []string
	}{
		{"create", func(j int) []string {
			return append(append(append([]string{"create", "--name", name(j)}, e.opts...), e.image), sleeper...)
		}},
		{"start", func(j int) []string { return []string{"start", name(j)} }},
		{"stop", func(j int) []string { return []string{"stop", name(j)} }},
		{"rm", func(j int) []string { return []string{"rm", name(j)} }},
		{"run --rm", func(j int) []string {
			return append(append([]string{"run", "--rm"}, e.opts...), e.image, "true")
		}},
	}
	for _, ph := range phases {
		if ph.op == "stop" {
			names := make([]string, c)
			for j := range c {
				names[j] = name(j)
			}
			if err := waitReady(e, names); err != nil {
				return nil, err
			}
		}
		errs := make([]error, c)
		var wg sync.WaitGroup
		start := time.Now()
		for j := range c {
			wg.Go(func() { _, _, errs[j] = e.call(ph.args(j)...) })
		}
		wg.Wait()
		t[ph.op] = time.Since(start)
		if err := firstErrors(errs, 3); err != nil {
			return nil, fmt.Errorf("%s: %w", ph.op, err)
		}
	}
	return t, nil
}

// firstErrors joins the first n non-nil errors and says how many more
// there were.
func firstErrors(errs []error, n int) error {
	var out []error
	more := 0
	for _, err := range errs {
		switch {
		case err == nil:
		case len(out) < n:
			out = append(out, err)
		default:
			more++
		}
	}
	if more > 0 {
		out = append(out, fmt.Errorf("and %d more", more))
	}
	return errors.Join(out...)
}

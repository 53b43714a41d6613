package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/bench/busybox"
	"github.com/petrel-edge/petrel/bench/internal/hostinfo"
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// tableOps are the rows of the printed table: the timed operations and the
// CPU time (user, system) of the run process and the container processes it
// waited for. kill and delete alone are in the JSON report.
var tableOps = []string{"run", "create", "start", "state", "kill+delete", "run user CPU", "run sys CPU"}

type options struct {
	n, warmup, states int
	tolerate          int
	runtimes          string
	paths             map[string]*string
	added             []string // names given with -add, in order
	subject           string
	json              bool
	keep              bool
	mountHugetlb      bool
}

func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("runtimebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.n, "n", 20, "measured iterations")
	fs.IntVar(&o.warmup, "warmup", 2, "iterations run first and not counted (at least 1: it checks each runtime works)")
	fs.IntVar(&o.states, "states", 10, "`state` calls per iteration")
	fs.IntVar(&o.tolerate, "tolerate", 0, "failed iterations per runtime that are skipped (and reported) before the runtime is dropped")
	fs.StringVar(&o.runtimes, "runtimes", "petrel,runc,crun", "runtimes to compare, in order")
	defPetrel := os.Getenv("PETREL_BIN")
	if defPetrel == "" {
		defPetrel = "bin/petrel"
	}
	o.paths = map[string]*string{
		"petrel": fs.String("petrel", defPetrel, "petrel binary (called as petrel-runtime through a symlink) or a petrel-runtime link"),
		"runc":   fs.String("runc", "runc", "runc binary"),
		"crun":   fs.String("crun", "crun", "crun binary"),
	}
	fs.Func("add", "`name=path` of one more runtime to compare, added to -runtimes (repeatable; a name starting with petrel is called through a petrel-runtime symlink, e.g. petrel-base=/tmp/petrel-old)", func(v string) error {
		name, path, ok := strings.Cut(v, "=")
		if !ok || name == "" || path == "" || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
			return fmt.Errorf("want name=path with a name of letters, digits, _ . -; got %q", v)
		}
		if _, dup := o.paths[name]; dup {
			return fmt.Errorf("runtime %q given twice", name)
		}
		o.paths[name] = &path
		o.added = append(o.added, name)
		return nil
	})
	fs.StringVar(&o.subject, "subject", "petrel", "runtime whose ratios to the others are printed")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (bundles, state roots)")
	fs.BoolVar(&o.mountHugetlb, "mount-hugetlb", true, "mount hugetlb as a cgroup v1 hierarchy when crun needs it")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || o.n < 1 || o.warmup < 1 || o.states < 1 || o.tolerate < 0 {
		fmt.Fprintln(stderr, "runtimebench: bad arguments (see -h)")
		return 2
	}
	rep, err := bench(o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "runtimebench: %v\n", err)
		return 1
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "runtimebench: %v\n", err)
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

// bundles are the two bundle directories that share one rootfs.
type bundles struct {
	run     string // process `true`
	sleep   string // process `sleep 1000`
	busybox string // the rootfs's static busybox
}

func bench(o options, log io.Writer) (*report, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root (runtimes create namespaces and cgroups)")
	}
	// Container processes whose runtime has exited become our children,
	// as they become a shim's, so that kill+delete can wait for them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return nil, fmt.Errorf("set child subreaper: %w", err)
	}
	work, err := os.MkdirTemp("", "runtimebench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintf(log, "runtimebench: work directory %s\n", work)
	} else {
		defer os.RemoveAll(work)
	}

	rep := newReport(o)
	var rts []*runtime
	for _, name := range append(strings.Split(o.runtimes, ","), o.added...) {
		name = strings.TrimSpace(name)
		p, ok := o.paths[name]
		if !ok {
			return nil, fmt.Errorf("unknown runtime %q (petrel, runc, crun, or one given with -add)", name)
		}
		path, err := resolve(name, *p, work)
		if err != nil {
			fmt.Fprintf(log, "runtimebench: skipping %s: %v\n", name, err)
			rep.Runtimes = append(rep.Runtimes, runtimeInfo{Name: name, Skipped: err.Error()})
			continue
		}
		r := &runtime{name: name, path: path, root: filepath.Join(work, "root-"+name)}
		if r.errlog, err = os.Create(filepath.Join(work, name+".stderr")); err != nil {
			return nil, err
		}
		defer r.errlog.Close()
		if r.outlog, err = os.Create(filepath.Join(work, name+".stdout")); err != nil {
			return nil, err
		}
		defer r.outlog.Close()
		if err := os.MkdirAll(r.root, 0o700); err != nil {
			return nil, err
		}
		r.version = versionLine(path)
		rts = append(rts, r)
	}
	if len(rts) == 0 {
		return nil, errors.New("no runtime to measure")
	}
	for _, r := range rts {
		if r.name == "crun" {
			if msg, err := hostinfo.EnsureHugetlb(o.mountHugetlb); err != nil {
				fmt.Fprintf(log, "runtimebench: warning: %v\n", err)
			} else if msg != "" {
				fmt.Fprintf(log, "runtimebench: %s\n", msg)
			}
		}
	}

	b, err := makeBundles(work)
	if err != nil {
		return nil, err
	}
	rep.Host = hostinfo.Host()

	total := o.warmup + o.n
	for i := range total {
		// Round-robin, starting one further each iteration, so that no
		// runtime always runs right after another one.
		for k := range rts {
			r := rts[(i+k)%len(rts)]
			if r.dropped {
				continue
			}
			id := fmt.Sprintf("rb%d-%s-%d", os.Getpid(), r.name, i)
			c, err := cycle(r, b, id, o.states)
			if err != nil {
				var ce *callError
				if !errors.As(err, &ce) {
					ce = &callError{cmd: r.name, err: err}
				}
				r.failures = append(r.failures, fmt.Sprintf("iteration %d: %v", i+1, ce))
				r.dropped = len(r.failures) > o.tolerate
				what := "not counted"
				if r.dropped {
					what = "dropped"
				}
				fmt.Fprintf(log, "\nruntimebench: %s failed in iteration %d, %s:\n  %v\n", r.name, i+1, what, ce)
				continue
			}
			if i >= o.warmup {
				rep.add(r.name, c)
			}
		}
		// The floor under every runtime call: fork, exec and wait of a
		// static binary that does nothing, as many times as state.
		for range o.states {
			d, err := execFloor(b.busybox)
			if err != nil {
				return nil, err
			}
			if i >= o.warmup {
				rep.floor = append(rep.floor, d)
			}
		}
		if !o.json {
			fmt.Fprintf(log, "\r%d/%d", i+1, total)
		}
	}
	if !o.json {
		fmt.Fprintln(log)
	}
	for _, r := range rts {
		info := runtimeInfo{Name: r.name, Path: r.path, Version: r.version, Errors: r.failures, Dropped: r.dropped}
		rep.Runtimes = append(rep.Runtimes, info)
	}
	rep.finish()
	return rep, nil
}

// resolve finds the runtime's executable. petrel (and any name starting
// with petrel) may be given as the multicall binary: it is then called
// through a petrel-runtime symlink in dir, as a device that installed it
// with --install would call it.
func resolve(name, p, dir string) (string, error) {
	path, err := exec.LookPath(p)
	if err != nil {
		if name == "petrel" {
			return "", fmt.Errorf("not built (%s: %w; run make build)", p, err)
		}
		return "", fmt.Errorf("not installed (%w)", err)
	}
	if path, err = filepath.Abs(path); err != nil {
		return "", err
	}
	if !strings.HasPrefix(name, "petrel") || filepath.Base(path) == "petrel-runtime" {
		return path, nil
	}
	link := filepath.Join(dir, "bin-"+name, "petrel-runtime")
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		return "", err
	}
	if err := os.Symlink(path, link); err != nil {
		return "", err
	}
	return link, nil
}

// makeBundles builds the busybox rootfs and the two bundles from runc's
// (else crun's) default config.
func makeBundles(work string) (bundles, error) {
	rootfs := filepath.Join(work, "rootfs")
	if err := busybox.HostRootfs(rootfs); err != nil {
		return bundles{}, fmt.Errorf("busybox rootfs (apt-get install busybox-static): %w", err)
	}
	b := bundles{
		run:     filepath.Join(work, "bundle-true"),
		sleep:   filepath.Join(work, "bundle-sleep"),
		busybox: filepath.Join(rootfs, "bin/busybox"),
	}
	for _, bd := range []struct {
		dir  string
		args []string
	}{{b.run, []string{"true"}}, {b.sleep, []string{"sleep", "1000"}}} {
		s, err := busybox.TemplateSpec("runc")
		if err != nil {
			var err2 error
			if s, err2 = busybox.TemplateSpec("crun"); err2 != nil {
				return bundles{}, fmt.Errorf("default config: %w; %w", err, err2)
			}
		}
		busybox.Adjust(s, rootfs, bd.args...)
		if err := busybox.WriteBundle(bd.dir, s); err != nil {
			return bundles{}, err
		}
	}
	return b, nil
}

// cycleResult holds the times of one iteration of one runtime.
type cycleResult struct {
	times  map[string]time.Duration
	states []time.Duration
	rss    int64
	// leftover is set when `run` left its container behind.
	leftover bool
}

// cycle runs one iteration of one runtime: a `run` container (and one more
// for the peak RSS), then a create/start/state/kill/delete container.
func cycle(r *runtime, b bundles, id string, states int) (cycleResult, error) {
	c := cycleResult{times: map[string]time.Duration{}}
	rid := id + "-run"
	s, err := r.call("run", "--bundle", b.run, rid)
	if err != nil {
		r.call("delete", "--force", rid)
		return c, err
	}
	c.times["run"] = s.wall
	c.times["run user CPU"], c.times["run sys CPU"] = s.user, s.sys
	if _, err := r.call("state", rid); err == nil {
		c.leftover = true
		s, err := r.call("delete", "--force", rid)
		if err != nil {
			return c, err
		}
		c.times["run"] += s.wall
	}
	// Once more, untimed, for the peak RSS of the runtime process.
	rid = id + "-rss"
	if c.rss, err = r.peakRSS("run", "--bundle", b.run, rid); err != nil {
		r.call("delete", "--force", rid)
		return c, err
	}
	if _, err := r.call("state", rid); err == nil {
		if _, err := r.call("delete", "--force", rid); err != nil {
			return c, err
		}
	}

	cid := id + "-sleep"
	pidFile := filepath.Join(filepath.Dir(r.root), cid+".pid")
	defer os.Remove(pidFile)
	if s, err = r.call("create", "--bundle", b.sleep, "--pid-file", pidFile, cid); err != nil {
		r.call("delete", "--force", cid)
		return c, err
	}
	c.times["create"] = s.wall
	ok := false
	defer func() {
		if !ok {
			r.call("delete", "--force", cid)
		}
	}()
	pid, err := readPid(pidFile)
	if err != nil {
		return c, fmt.Errorf("%s create: --pid-file: %w", r.name, err)
	}
	if s, err = r.call("start", cid); err != nil {
		return c, err
	}
	c.times["start"] = s.wall
	for k := range states {
		s, out, err := r.callOut(k == 0, "state", cid)
		if err != nil {
			return c, err
		}
		if k == 0 {
			if err := checkState(out, cid, pid); err != nil {
				return c, fmt.Errorf("%s state %s: %w", r.name, cid, err)
			}
		}
		c.states = append(c.states, s.wall)
	}
	if s, err = r.call("kill", cid, "KILL"); err != nil {
		return c, err
	}
	c.times["kill"] = s.wall
	if err := waitGone(pid); err != nil {
		return c, fmt.Errorf("%s kill %s KILL: %w", r.name, cid, err)
	}
	if s, err = r.call("delete", cid); err != nil {
		return c, err
	}
	c.times["delete"] = s.wall
	c.times["kill+delete"] = c.times["kill"] + s.wall
	ok = true
	return c, nil
}

// execFloor times `busybox true` run as the runtimes are run.
func execFloor(busybox string) (time.Duration, error) {
	cmd := exec.Command(busybox, "true")
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s true: %w", busybox, err)
	}
	return time.Since(start), nil
}

func readPid(file string) (int, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: bad pid %q", file, b)
	}
	return pid, nil
}

// checkState checks the output of `state` for a running container.
func checkState(out []byte, id string, pid int) error {
	var st struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return fmt.Errorf("output %q: %w", out, err)
	}
	if st.ID != id || st.Status != "running" || st.Pid != pid {
		return fmt.Errorf("got id %q status %q pid %d, want %q running %d", st.ID, st.Status, st.Pid, id, pid)
	}
	return nil
}

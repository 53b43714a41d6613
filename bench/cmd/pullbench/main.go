package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	if os.Getenv(spawnEnv) == "1" {
		os.Exit(spawn(os.Args[1:]))
	}
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// The repository the image is pushed to.
const repo = "bench/pull"

type options struct {
	n, warmup int
	layerMB   int
	tools     string
	petrel    string
	json      bool
	keep      bool
	goalMB    int
}

func runMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pullbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.n, "n", 5, "measured iterations")
	fs.IntVar(&o.warmup, "warmup", 1, "iterations run first and not counted (they check each tool works and warm the registry's page cache)")
	fs.IntVar(&o.layerMB, "layer-mb", 200, "size of the image's big layer in MiB")
	fs.StringVar(&o.tools, "tools", "petrel,skopeo+umoci,podman", "tools to compare, in order; the first is the subject of the ratios")
	defPetrel := os.Getenv("PETREL_BIN")
	if defPetrel == "" {
		defPetrel = "bin/petrel"
	}
	fs.StringVar(&o.petrel, "petrel", defPetrel, "petrel binary")
	fs.IntVar(&o.goalMB, "goal-rss-mb", 30, "peak RSS goal of the subject in MiB")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory (image layout, registry storage, logs)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 || o.n < 1 || o.warmup < 0 || o.layerMB < 1 {
		fmt.Fprintln(stderr, "pullbench: bad arguments (see -h)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := bench(ctx, o, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "pullbench: %v\n", err)
		return 1
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(stderr, "pullbench: %v\n", err)
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

// A step is one command of a tool; argv gets the iteration's directory.
type step struct {
	name string
	argv func(dir string) []string
}

// A tool is one way to pull and unpack the image.
type tool struct {
	name    string
	version string
	env     []string
	steps   []step
	// minBytes is what its directory must hold after the steps.
	minBytes int64

	walls   [][]time.Duration // per step
	rss     [][]int64         // per step
	totals  []time.Duration
	peaks   []int64
	failed  []string
	dropped bool
}

// versionLine returns the first line of `argv…` output, or "".
func versionLine(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return ""
	}
	l, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return l
}

// makeTools returns the tools named in o.tools that are installed, and the
// reports of those skipped.
func makeTools(o options, work, runDir, ref string, minBytes int64) ([]*tool, []toolReport, error) {
	var tools []*tool
	var skipped []toolReport
	for _, name := range strings.Split(o.tools, ",") {
		name = strings.TrimSpace(name)
		var t *tool
		var need []string
		switch name {
		case "petrel":
			bin, err := filepath.Abs(o.petrel)
			if err != nil {
				return nil, nil, err
			}
			need = []string{bin}
			host, _, _ := strings.Cut(ref, "/")
			t = &tool{name: name, version: versionLine(bin, "version"), steps: []step{{"pull", func(dir string) []string {
				return []string{bin, "image-tool", "--root", filepath.Join(dir, "root"),
					"--auth-file", filepath.Join(dir, "auth.json"), "--certs-dir", filepath.Join(dir, "certs.d"),
					"--insecure-registry", host, "pull", "-q", ref}
			}}}}
		case "skopeo+umoci":
			need = []string{"skopeo", "umoci"}
			t = &tool{name: name, version: versionLine("skopeo", "--version") + ", " + versionLine("umoci", "--version"), steps: []step{
				{"copy", func(dir string) []string {
					return []string{"skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://" + ref, "oci:" + filepath.Join(dir, "layout") + ":" + imageTag}
				}},
				{"unpack", func(dir string) []string {
					return []string{"umoci", "unpack", "--image", filepath.Join(dir, "layout") + ":" + imageTag, filepath.Join(dir, "bundle")}
				}},
			}}
		case "podman":
			need = []string{"podman"}
			conf, storage := filepath.Join(work, "containers.conf"), filepath.Join(work, "storage.conf")
			if err := writePodmanConf(conf, storage, filepath.Join(work, "podman-events.log"), filepath.Join(work, "podman-default")); err != nil {
				return nil, nil, err
			}
			t = &tool{name: name, version: versionLine("podman", "--version"),
				env: []string{"CONTAINERS_CONF=" + conf, "CONTAINERS_STORAGE_CONF=" + storage},
				steps: []step{{"pull", func(dir string) []string {
					return []string{"podman", "--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(runDir, filepath.Base(dir)),
						"--tmpdir", filepath.Join(dir, "tmp"), "--storage-driver", "overlay",
						"pull", "--quiet", "--tls-verify=false", ref}
				}}}}
		default:
			return nil, nil, fmt.Errorf("unknown tool %q (petrel, skopeo+umoci, podman)", name)
		}
		var missing []string
		for _, n := range need {
			if _, err := exec.LookPath(n); err != nil {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			skipped = append(skipped, toolReport{Name: name, Skipped: "not installed: " + strings.Join(missing, ", ")})
			continue
		}
		t.minBytes = minBytes
		t.walls = make([][]time.Duration, len(t.steps))
		t.rss = make([][]int64, len(t.steps))
		tools = append(tools, t)
	}
	return tools, skipped, nil
}

// writePodmanConf writes a containers.conf for a host without systemd whose
// root lacks CAP_SYS_RESOURCE, and a storage.conf that keeps the host's
// storage configuration out of the way.
func writePodmanConf(conf, storage, events, root string) error {
	c := fmt.Sprintf(`[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
`, events)
	if err := os.WriteFile(conf, []byte(c), 0o644); err != nil {
		return err
	}
	// Every pull gives --root and --runroot; these only satisfy podman.
	st := fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n",
		filepath.Join(root, "graph"), filepath.Join(root, "run"))
	return os.WriteFile(storage, []byte(st), 0o644)
}

func bench(ctx context.Context, o options, log io.Writer) (rep *report, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root (podman's storage, the owners of unpacked files)")
	}
	for _, p := range []string{"docker-registry", "skopeo"} {
		if _, err := exec.LookPath(p); err != nil {
			return nil, fmt.Errorf("%s: %w (apt-get install %s)", p, err, p)
		}
	}
	began := time.Now()
	work, err := os.MkdirTemp("", "pullbench-")
	if err != nil {
		return nil, err
	}
	if o.keep {
		fmt.Fprintf(log, "pullbench: work directory %s\n", work)
	}
	defer func() {
		if o.keep {
			return
		}
		if rerr := removeTree(work); rerr != nil {
			fmt.Fprintf(log, "pullbench: cleaning up %s: %v\n", work, rerr)
		}
	}()

	rep = &report{Host: hostInfo(), Iterations: o.n, Warmup: o.warmup, GoalRSSKB: int64(o.goalMB) << 10}
	fmt.Fprintf(log, "pullbench: building the image (%d MiB data layer)\n", o.layerMB)
	dataSize := int64(o.layerMB) << 20
	layoutDir := filepath.Join(work, "layout")
	rep.Image, err = buildImage(layoutDir, filepath.Join(work, "busybox-rootfs"), dataSize)
	if err != nil {
		return nil, fmt.Errorf("build image: %w", err)
	}
	regDir := filepath.Join(work, "registry")
	if err := os.MkdirAll(regDir, 0o755); err != nil {
		return nil, err
	}
	reg, err := startRegistry(ctx, regDir)
	if err != nil {
		return nil, err
	}
	defer reg.stop()
	fmt.Fprintf(log, "pullbench: pushing to docker-registry on %s\n", reg.host)
	if err := push(ctx, "skopeo", layoutDir, reg, repo, imageTag); err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	if !o.keep {
		os.RemoveAll(layoutDir) // the registry has it; free the disk
	}
	ref := reg.host + "/" + repo + ":" + imageTag
	rep.Image.Reference = ref

	// podman wants a runroot of at most 50 characters.
	runDir, err := os.MkdirTemp("/run", "pullbench-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if rerr := removeTree(runDir); rerr != nil {
			fmt.Fprintf(log, "pullbench: cleaning up %s: %v\n", runDir, rerr)
		}
	}()
	tools, skipped, err := makeTools(o, work, runDir, ref, dataSize)
	if err != nil {
		return nil, err
	}
	for _, s := range skipped {
		fmt.Fprintf(log, "pullbench: skipping %s: %s\n", s.Name, s.Skipped)
	}
	if len(tools) == 0 {
		return nil, errors.New("no tool to measure")
	}
	subject := strings.TrimSpace(strings.Split(o.tools, ",")[0])
	rep.Subject = subject

	total := o.warmup + o.n
	for i := range total {
		for k := range tools {
			// Start one tool further each iteration, so that none always
			// runs right after another.
			t := tools[(i+k)%len(tools)]
			if t.dropped {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			fmt.Fprintf(log, "pullbench: iteration %d/%d: %s\n", i+1, total, t.name)
			dir := filepath.Join(work, fmt.Sprintf("%s-%d", strings.ReplaceAll(t.name, "+", "-"), i))
			samples, err := runTool(ctx, t, dir)
			for _, d := range []string{dir, filepath.Join(runDir, filepath.Base(dir))} {
				if rerr := removeTree(d); rerr != nil && err == nil {
					err = fmt.Errorf("clean up: %w", rerr)
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				t.failed = append(t.failed, fmt.Sprintf("iteration %d: %v", i+1, err))
				t.dropped = true
				fmt.Fprintf(log, "pullbench: %s failed in iteration %d, dropped:\n  %v\n", t.name, i+1, err)
				continue
			}
			if i < o.warmup {
				continue
			}
			var sum time.Duration
			var peak int64
			for j, s := range samples {
				t.walls[j] = append(t.walls[j], s.wall)
				t.rss[j] = append(t.rss[j], s.rssKB)
				sum += s.wall
				peak = max(peak, s.rssKB)
				rep.RSSFloorKB = max(rep.RSSFloorKB, s.floorK)
			}
			t.totals = append(t.totals, sum)
			t.peaks = append(t.peaks, peak)
		}
	}
	for _, t := range tools {
		tr := toolReport{Name: t.name, Version: t.version, Total: summarize(t.totals), PeakRSS: summarizeRSS(t.peaks), Failures: t.failed}
		for j, s := range t.steps {
			sr := stepReport{Name: s.name, Wall: summarize(t.walls[j]), PeakRSS: summarizeRSS(t.rss[j]), RSSKB: t.rss[j]}
			for _, d := range t.walls[j] {
				sr.WallMS = append(sr.WallMS, ms(d))
			}
			tr.Steps = append(tr.Steps, sr)
		}
		rep.Tools = append(rep.Tools, tr)
	}
	rep.Tools = append(rep.Tools, skipped...)
	rep.Host.LoadEnd = loadavg()
	rep.Elapsed = time.Since(began).Seconds()
	return rep, nil
}

// runTool runs t's steps in the fresh directory dir and checks that they
// left at least t.minBytes of files there.
func runTool(ctx context.Context, t *tool, dir string) ([]sample, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var samples []sample
	for j, s := range t.steps {
		sm, err := measure(ctx, t.env, filepath.Join(dir, fmt.Sprintf("step%d.log", j)), s.argv(dir)...)
		if err != nil {
			return nil, err
		}
		samples = append(samples, sm)
	}
	n, err := treeBytes(dir)
	if err != nil {
		return nil, err
	}
	if n < t.minBytes {
		return nil, fmt.Errorf("%s left %d bytes of files in %s, less than the image's data layer (%d)", t.name, n, dir, t.minBytes)
	}
	return samples, nil
}

// treeBytes adds up the sizes of the regular files under dir.
func treeBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// Package lcr is the petrel-runtime applet: an OCI runtime with runc's
// command-line contract (create, start, run, state, kill, delete, list,
// exec, ps, pause, resume, update, events, spec, features), built on
// oci/container. Engines that drive runc can use it in runc's place.
package lcr

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/petrel-edge/petrel/applets/version"
	"github.com/petrel-edge/petrel/oci/container"
)

const defaultRoot = "/run/petrel/runtime"

// globals are the flags before the command, as runc's.
type globals struct {
	root      string
	log       string
	logFormat string
	debug     bool
	stdout    io.Writer
	stderr    io.Writer
}

type command struct {
	summary string
	run     func(g *globals, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"create":   {"create a container from a bundle, ready to start", cmdCreate},
		"start":    {"start the process of a created container", cmdStart},
		"run":      {"create and start a container, wait for it unless --detach", cmdRun},
		"state":    {"print a container's state as JSON", cmdState},
		"kill":     {"send a signal to a container's init (or all processes)", cmdKill},
		"delete":   {"delete a stopped container (--force: any)", cmdDelete},
		"list":     {"list containers", cmdList},
		"exec":     {"run a new process in a running container", cmdExec},
		"ps":       {"list the processes of a container", cmdPs},
		"pause":    {"freeze every process of a container", cmdPause},
		"resume":   {"thaw a paused container", cmdResume},
		"update":   {"change a container's resource limits", cmdUpdate},
		"events":   {"print container statistics (--stats once, else every --interval)", cmdEvents},
		"spec":     {"write a default config.json", cmdSpec},
		"features": {"print the runtime features document", cmdFeatures},
	}
}

// Main runs petrel-runtime with the arguments after its name.
func Main(args []string) int {
	// Keep the main thread to the main goroutine: create and exec join
	// the container's namespaces from a locked thread that they then let
	// die, and were that the main thread Go would keep it, parked in the
	// container's namespaces, where /proc/self looks.
	runtime.LockOSThread()
	if len(args) > 0 && args[0] == "init" {
		return container.Init()
	}
	return run(args, os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("petrel-runtime", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&g.root, "root", defaultRoot, "directory for container state")
	fs.StringVar(&g.log, "log", "", "append errors and warnings to this file")
	fs.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&g.debug, "debug", false, "log debug messages")
	var systemdCgroup, showVersion bool
	fs.BoolVar(&systemdCgroup, "systemd-cgroup", false, "use systemd for cgroups (not supported)")
	fs.BoolVar(&showVersion, "version", false, "print the version")
	fs.BoolVar(&showVersion, "v", false, "print the version")
	fs.String("rootless", "auto", "ignored: rootless mode is detected")
	fs.String("criu", "", "ignored: checkpoint/restore is not supported")
	fs.Usage = func() { usage(stderr, fs) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if showVersion {
		fmt.Fprintf(stdout, "petrel-runtime version %s\nspec: %s\n", version.Version, specs.Version)
		return 0
	}
	if g.logFormat != "text" && g.logFormat != "json" {
		fmt.Fprintf(stderr, "petrel-runtime: --log-format %q: want text or json\n", g.logFormat)
		return 2
	}
	if fs.NArg() == 0 {
		usage(stderr, fs)
		return 2
	}
	name := fs.Arg(0)
	cmd, ok := commands()[name]
	if !ok {
		g.errorf("unknown command %q (try --help)", name)
		return 2
	}
	switch name {
	case "create", "run", "exec":
		// One P for the commands that start a process: the thread that
		// joins the container's namespaces and this goroutine take
		// turns instead of waking idle Ps (a tenth less CPU for run).
		// The other commands end before a second P costs anything, and
		// giving it back would cost them a stop-the-world (about 1 ms
		// of state's 15 here).
		runtime.GOMAXPROCS(1)
	}
	if systemdCgroup {
		g.errorf("--systemd-cgroup: systemd cgroup management is not supported; use cgroupfs paths")
		return 1
	}
	if err := cmd.run(g, fs.Args()[1:]); err != nil {
		var ec exitCode
		if errors.As(err, &ec) {
			return int(ec)
		}
		var ue usageError
		if errors.As(err, &ue) {
			g.errorf("%s: %v", name, err)
			return 2
		}
		g.errorf("%s: %v", name, err)
		return 1
	}
	return 0
}

// exitCode is returned by commands whose exit status is the container's.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError marks bad command-line input (exit 2).
type usageError struct{ error }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "usage: petrel-runtime [global options] <command> [options] <container-id>")
	fmt.Fprintln(w, "\ncommands:")
	cmds := commands()
	for _, n := range []string{"create", "start", "run", "state", "kill", "delete", "list", "exec", "ps", "pause", "resume", "update", "events", "spec", "features"} {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nglobal options:")
	fs.PrintDefaults()
}

// errorf reports an error on stderr and, with --log, in the log file in
// the chosen format (containerd reads the last error from it).
func (g *globals) errorf(format string, a ...any) { g.logf("error", format, a...) }

func (g *globals) warnf(format string, a ...any) { g.logf("warning", format, a...) }

func (g *globals) logf(level, format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	fmt.Fprintf(g.stderr, "petrel-runtime: %s\n", msg)
	if g.log == "" {
		return
	}
	f, err := os.OpenFile(g.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	if g.logFormat == "json" {
		line, _ := json.Marshal(map[string]string{"level": level, "msg": msg, "time": now})
		f.Write(append(line, '\n'))
		return
	}
	fmt.Fprintf(f, "time=%q level=%s msg=%q\n", now, level, msg)
}

func (g *globals) warn(msg string) { g.warnf("%s", msg) }

// newFlags makes a command's flag set; flags may precede the container id.
func newFlags(g *globals, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(g.stderr)
	return fs
}

// parse parses a command's flags and returns its positional arguments,
// checking there are between min and max of them (max < 0: unlimited).
func parse(fs *flag.FlagSet, args []string, min, max int, what string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, usageError{err}
	}
	rest := fs.Args()
	// Allow flags after the container id too (runc users do this).
	if len(rest) > 1 && strings.HasPrefix(rest[1], "-") && max == 1 {
		if err := fs.Parse(rest[1:]); err != nil {
			return nil, usageError{err}
		}
		rest = append(rest[:1:1], fs.Args()...)
	}
	if len(rest) < min || (max >= 0 && len(rest) > max) {
		return nil, usageErrorf("usage: %s", what)
	}
	return rest, nil
}

func load(g *globals, id string) (*container.Container, error) {
	return container.Load(g.root, id)
}

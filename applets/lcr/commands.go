package lcr

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/oci/container"
	ocispec "github.com/petrel-edge/petrel/oci/spec"
)

type createFlags struct {
	bundle        string
	consoleSocket string
	pidFile       string
	noPivot       bool
	preserveFDs   int
}

func (c *createFlags) register(fs interface {
	StringVar(*string, string, string, string)
	BoolVar(*bool, string, bool, string)
	IntVar(*int, string, int, string)
}) {
	fs.StringVar(&c.bundle, "bundle", ".", "path to the bundle directory")
	fs.StringVar(&c.bundle, "b", ".", "path to the bundle directory")
	fs.StringVar(&c.consoleSocket, "console-socket", "", "unix socket that receives the pty master")
	fs.StringVar(&c.pidFile, "pid-file", "", "write the init pid to this file")
	fs.BoolVar(&c.noPivot, "no-pivot", false, "use a move mount and chroot instead of pivot_root")
	fs.IntVar(&c.preserveFDs, "preserve-fds", 0, "pass this many fds after stdio to the process")
	var ignored bool
	fs.BoolVar(&ignored, "no-new-keyring", false, "ignored: no session keyring is created")
}

func (c *createFlags) options(g *globals, id string) container.CreateOptions {
	return container.CreateOptions{
		Root: g.root, ID: id, Bundle: c.bundle, ConsoleSocket: c.consoleSocket, PidFile: c.pidFile,
		NoPivot: c.noPivot, PreserveFDs: c.preserveFDs,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Warn: g.warn,
	}
}

func cmdCreate(g *globals, args []string) error {
	var cf createFlags
	fs := newFlags(g, "create")
	cf.register(fs)
	rest, err := parse(fs, args, 1, 1, "create [options] <container-id>")
	if err != nil {
		return err
	}
	_, err = container.Create(cf.options(g, rest[0]))
	return err
}

func cmdStart(g *globals, args []string) error {
	rest, err := parse(newFlags(g, "start"), args, 1, 1, "start <container-id>")
	if err != nil {
		return err
	}
	c, err := load(g, rest[0])
	if err != nil {
		return err
	}
	return c.Start(g.warn)
}

func cmdRun(g *globals, args []string) error {
	var cf createFlags
	var detach, keep bool
	fs := newFlags(g, "run")
	cf.register(fs)
	fs.BoolVar(&detach, "detach", false, "do not wait for the container")
	fs.BoolVar(&detach, "d", false, "do not wait for the container")
	fs.BoolVar(&keep, "keep", false, "keep the container's state after it exits")
	rest, err := parse(fs, args, 1, 1, "run [options] <container-id>")
	if err != nil {
		return err
	}
	opts := cf.options(g, rest[0])
	if opts.Spec, opts.SpecJSON, err = ocispec.LoadRaw(cf.bundle); err != nil {
		return err
	}
	// Signals go to the container from now on; a terminal in the
	// foreground is proxied from here.
	var fg *foreground
	if !detach {
		s := opts.Spec
		if fg, err = startForeground(cf.consoleSocket == "" && s.Process != nil && s.Process.Terminal); err != nil {
			return err
		}
		defer fg.close()
		opts.ConsoleConn = fg.send
	}
	c, err := container.Create(opts)
	fg.created()
	if err != nil {
		return err
	}
	if err := fg.attachConsole(); err != nil {
		c.Delete(true, nil)
		return err
	}
	if err := c.Start(g.warn); err != nil {
		c.Delete(true, nil)
		return err
	}
	if detach {
		return nil
	}
	code, err := fg.wait(c.Wait, func(sig unix.Signal) { unix.Kill(c.Pid, sig) })
	if err != nil {
		return err
	}
	if !keep {
		if err := c.Delete(true, g.warn); err != nil {
			g.warnf("delete after exit: %v", err)
		}
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

// stateJSON is runc's state output.
type stateJSON struct {
	specs.State
	Rootfs  string    `json:"rootfs"`
	Created time.Time `json:"created"`
	Owner   string    `json:"owner"`
}

func stateOf(c *container.Container) stateJSON {
	return stateJSON{State: c.State(), Rootfs: c.Rootfs, Created: c.Created, Owner: c.Owner}
}

func cmdState(g *globals, args []string) error {
	rest, err := parse(newFlags(g, "state"), args, 1, 1, "state <container-id>")
	if err != nil {
		return err
	}
	c, err := load(g, rest[0])
	if err != nil {
		return err
	}
	out, err := json.MarshalIndent(stateOf(c), "", "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "%s\n", out)
	return nil
}

// parseSignal accepts SIGKILL, KILL, kill and 9.
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("invalid signal number %d", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

func cmdKill(g *globals, args []string) error {
	fs := newFlags(g, "kill")
	var all bool
	fs.BoolVar(&all, "all", false, "signal every process of the container")
	fs.BoolVar(&all, "a", false, "signal every process of the container")
	rest, err := parse(fs, args, 1, 2, "kill [--all] <container-id> [signal]")
	if err != nil {
		return err
	}
	sig := unix.SIGTERM
	if len(rest) == 2 {
		if sig, err = parseSignal(rest[1]); err != nil {
			return usageError{err}
		}
	}
	c, err := load(g, rest[0])
	if err != nil {
		return err
	}
	return c.Signal(sig, all)
}

func cmdDelete(g *globals, args []string) error {
	fs := newFlags(g, "delete")
	var force bool
	fs.BoolVar(&force, "force", false, "kill the container first if it runs")
	fs.BoolVar(&force, "f", false, "kill the container first if it runs")
	rest, err := parse(fs, args, 1, 1, "delete [--force] <container-id>")
	if err != nil {
		return err
	}
	c, err := load(g, rest[0])
	if err != nil {
		if force && errors.Is(err, container.ErrNotExist) {
			return nil
		}
		return err
	}
	return c.Delete(force, g.warn)
}

func cmdList(g *globals, args []string) error {
	fs := newFlags(g, "list")
	var format string
	var quiet bool
	fs.StringVar(&format, "format", "table", "table or json")
	fs.StringVar(&format, "f", "table", "table or json")
	fs.BoolVar(&quiet, "quiet", false, "print only the ids")
	fs.BoolVar(&quiet, "q", false, "print only the ids")
	if _, err := parse(fs, args, 0, 0, "list [--format table|json] [--quiet]"); err != nil {
		return err
	}
	cs, err := container.List(g.root)
	if err != nil {
		return err
	}
	switch {
	case quiet:
		for _, c := range cs {
			fmt.Fprintln(g.stdout, c.ID)
		}
	case format == "json":
		out := make([]stateJSON, 0, len(cs))
		for _, c := range cs {
			out = append(out, stateOf(c))
		}
		return json.NewEncoder(g.stdout).Encode(out)
	case format == "table":
		w := tabwriter.NewWriter(g.stdout, 12, 1, 3, ' ', 0)
		fmt.Fprintln(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
		for _, c := range cs {
			st := c.State()
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", c.ID, st.Pid, st.Status, c.Bundle, c.Created.Format(time.RFC3339Nano), c.Owner)
		}
		return w.Flush()
	default:
		return usageErrorf("--format %q: want table or json", format)
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func cmdExec(g *globals, args []string) error {
	fs := newFlags(g, "exec")
	var processFile, consoleSocket, pidFile, cwd, user string
	var tty, detach, noNewPrivs bool
	var preserveFDs int
	var env, capsAdd, groups multiFlag
	fs.StringVar(&processFile, "process", "", "JSON file with the process to run")
	fs.StringVar(&processFile, "p", "", "JSON file with the process to run")
	fs.StringVar(&consoleSocket, "console-socket", "", "unix socket that receives the pty master")
	fs.StringVar(&pidFile, "pid-file", "", "write the process pid to this file")
	fs.StringVar(&cwd, "cwd", "", "working directory in the container")
	fs.StringVar(&user, "user", "", "uid[:gid]")
	fs.StringVar(&user, "u", "", "uid[:gid]")
	fs.BoolVar(&tty, "tty", false, "allocate a pty")
	fs.BoolVar(&tty, "t", false, "allocate a pty")
	fs.BoolVar(&detach, "detach", false, "do not wait for the process")
	fs.BoolVar(&detach, "d", false, "do not wait for the process")
	fs.BoolVar(&noNewPrivs, "no-new-privs", false, "set no_new_privs")
	fs.IntVar(&preserveFDs, "preserve-fds", 0, "pass this many fds after stdio to the process")
	fs.Var(&env, "env", "KEY=value (repeatable)")
	fs.Var(&env, "e", "KEY=value (repeatable)")
	fs.Var(&capsAdd, "cap", "add a capability (repeatable)")
	fs.Var(&capsAdd, "c", "add a capability (repeatable)")
	fs.Var(&groups, "additional-gids", "additional gid (repeatable)")
	fs.Var(&groups, "g", "additional gid (repeatable)")
	fs.String("process-label", "", "ignored: no SELinux")
	fs.String("apparmor", "", "ignored: no AppArmor")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	rest := fs.Args()
	if len(rest) < 1 || (processFile == "" && len(rest) < 2) {
		return usageErrorf("usage: exec [options] <container-id> <command> [args…] | --process FILE <container-id>")
	}
	c, err := load(g, rest[0])
	if err != nil {
		return err
	}
	var p *specs.Process
	if processFile != "" {
		data, err := os.ReadFile(processFile)
		if err != nil {
			return err
		}
		p = new(specs.Process)
		if err := json.Unmarshal(data, p); err != nil {
			return fmt.Errorf("process file %s: %w", processFile, err)
		}
	} else {
		spec, err := c.Spec()
		if err != nil {
			return err
		}
		var base specs.Process
		if spec.Process != nil {
			base = *spec.Process
		}
		p = &base
		p.Args = rest[1:]
		p.Terminal = tty
		p.ConsoleSize = nil
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if cwd != "" {
		p.Cwd = cwd
	}
	p.Env = append(append([]string(nil), p.Env...), env...)
	if tty {
		p.Terminal = true
	}
	if noNewPrivs {
		p.NoNewPrivileges = true
	}
	if user != "" {
		u, gstr, hasGid := strings.Cut(user, ":")
		uid, err := strconv.ParseUint(u, 10, 32)
		if err != nil {
			return usageErrorf("--user %q: want numeric uid[:gid]", user)
		}
		p.User.UID = uint32(uid)
		if hasGid {
			gid, err := strconv.ParseUint(gstr, 10, 32)
			if err != nil {
				return usageErrorf("--user %q: want numeric uid[:gid]", user)
			}
			p.User.GID = uint32(gid)
		}
	}
	for _, gs := range groups {
		gid, err := strconv.ParseUint(gs, 10, 32)
		if err != nil {
			return usageErrorf("--additional-gids %q: want a number", gs)
		}
		p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(gid))
	}
	if len(capsAdd) > 0 {
		cp := specs.LinuxCapabilities{}
		if p.Capabilities != nil {
			cp = *p.Capabilities
		}
		cp.Bounding = append(append([]string(nil), cp.Bounding...), capsAdd...)
		cp.Effective = append(append([]string(nil), cp.Effective...), capsAdd...)
		cp.Permitted = append(append([]string(nil), cp.Permitted...), capsAdd...)
		p.Capabilities = &cp
	}
	opts := container.ExecOptions{
		Process: p, ConsoleSocket: consoleSocket, PidFile: pidFile, PreserveFDs: preserveFDs,
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
	}
	var fg *foreground
	if !detach {
		if fg, err = startForeground(p.Terminal && consoleSocket == ""); err != nil {
			return err
		}
		defer fg.close()
		opts.ConsoleConn = fg.send
	}
	proc, err := c.Exec(opts)
	fg.created()
	if err != nil {
		return err
	}
	if detach {
		return nil
	}
	if err := fg.attachConsole(); err != nil {
		proc.Signal(unix.SIGKILL)
		return err
	}
	code, err := fg.wait(proc.Wait, func(sig unix.Signal) { proc.Signal(sig) })
	if err != nil {
		return err
	}
	if code != 0 {
		return exitCode(code)
	}
	return nil
}

func cmdPs(g *globals, args []string) error {
	fs := newFlags(g, "ps")
	var format string
	fs.StringVar(&format, "format", "table", "table or json")
	fs.StringVar(&format, "f", "table", "table or json")
	rest, err := parse(fs, args, 1, -1, "ps [--format table|json] <container-id>")
	if err != nil {
		return err
	}
	c, err := load(g, rest[0])
	if err != nil {
		return err
	}
	pids, err := c.Processes()
	if err != nil {
		return err
	}
	sort.Ints(pids)
	switch format {
	case "json":
		if pids == nil {
			pids = []int{}
		}
		return json.NewEncoder(g.stdout).Encode(pids)
	case "table":
		w := tabwriter.NewWriter(g.stdout, 6, 1, 2, ' ', 0)
		fmt.Fprintln(w, "PID\tPPID\tCMD")
		for _, pid := range pids {
			fmt.Fprintf(w, "%d\t%d\t%s\n", pid, ppid(pid), cmdline(pid))
		}
		return w.Flush()
	}
	return usageErrorf("--format %q: want table or json", format)
}

func ppid(pid int) int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(data), ')')
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func cmdline(pid int) string {
	data, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	return strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " "))
}

func cmdPause(g *globals, args []string) error {
	rest, err := parse(newFlags(g, "pause"), args, 1, 1, "pause <container-id>")
	if err != nil {
		return err
	}
	c, err := load(g, rest[0])
	if err != nil {
		return err
	}
	return c.Pause()
}

func cmdResume(g *globals, args []string) error {
	rest, err := parse(newFlags(g, "resume"), args, 1, 1, "resume <container-id>")
	if err != nil {
		return err
	}
	c, err := load(g, rest[0])
	if err != nil {
		return err
	}
	return c.Resume()
}

func cmdEvents(g *globals, args []string) error {
	fs := newFlags(g, "events")
	var stats bool
	var interval time.Duration
	fs.BoolVar(&stats, "stats", false, "print statistics once and exit")
	fs.DurationVar(&interval, "interval", 5*time.Second, "statistics interval")
	rest, err := parse(fs, args, 1, 1, "events [--stats] [--interval 5s] <container-id>")
	if err != nil {
		return err
	}
	if interval <= 0 {
		return usageErrorf("--interval must be positive")
	}
	c, err := load(g, rest[0])
	if err != nil {
		return err
	}
	enc := json.NewEncoder(g.stdout)
	for {
		if c.Status() == container.Stopped {
			return fmt.Errorf("container %s is stopped", c.ID)
		}
		s, err := c.Stats()
		if err != nil {
			return err
		}
		if err := enc.Encode(map[string]any{"type": "stats", "id": c.ID, "data": s}); err != nil {
			return err
		}
		if stats {
			return nil
		}
		time.Sleep(interval)
	}
}

func cmdSpec(g *globals, args []string) error {
	fs := newFlags(g, "spec")
	var bundle string
	var rootless bool
	fs.StringVar(&bundle, "bundle", ".", "directory to write config.json in")
	fs.StringVar(&bundle, "b", ".", "directory to write config.json in")
	fs.BoolVar(&rootless, "rootless", false, "a spec for a rootless container")
	if _, err := parse(fs, args, 0, 0, "spec [--bundle DIR] [--rootless]"); err != nil {
		return err
	}
	path := filepath.Join(bundle, "config.json")
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists: remove it first", path)
	}
	s := ocispec.Default(rootless, uint32(os.Getuid()), uint32(os.Getgid()))
	data, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o644)
}

func cmdFeatures(g *globals, args []string) error {
	if _, err := parse(newFlags(g, "features"), args, 0, 0, "features"); err != nil {
		return err
	}
	out, err := json.MarshalIndent(featuresDoc(), "", "    ")
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "%s\n", out)
	return nil
}

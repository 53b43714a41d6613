// Package daemon is the petreld applet: it reads daemon.json, opens the
// engine (core/engine) and serves a subset of the Docker Engine API over
// HTTP on a unix socket. This package is the HTTP edge only: it parses
// requests, calls the engine and translates errors once.
package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/atomicfile"
	"github.com/petrel-edge/petrel/core/config"
	"github.com/petrel-edge/petrel/core/engine"
	coreshim "github.com/petrel-edge/petrel/core/shim"
)

// Main runs petreld with the arguments after its name.
func Main(args []string) int {
	if err := run(args, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "petreld:", err)
		return 1
	}
	return 0
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("petreld", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config-file", config.DefaultPath, "daemon configuration file")
	root := fs.String("graph", "", "root of persistent state (records, logs, images)")
	fs.StringVar(root, "data-root", "", "alias of --graph")
	state := fs.String("state", "", "root of run state (sockets, runtime state)")
	fs.StringVar(state, "exec-root", "", "alias of --state")
	var hosts stringList
	fs.Var(&hosts, "host", "unix:///path of a socket to serve (repeatable)")
	fs.Var(&hosts, "H", "alias of --host")
	logLevel := fs.String("log-level", "", "debug, info, warn, error or fatal")
	defRuntime := fs.String("default-runtime", "", "runtime of containers that name none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "config-file" })
	cfg, err := config.Load(*cfgPath, !explicit)
	if err != nil {
		return err
	}
	if *root != "" {
		cfg.Root = *root
	}
	if *state != "" {
		cfg.State = *state
	}
	if len(hosts) > 0 {
		cfg.Hosts = hosts
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	if *defRuntime != "" {
		cfg.DefaultRuntime = *defRuntime
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	gc, err := chooseGC(&cfg, os.Getenv)
	if err != nil {
		return err
	}
	spareShim, err := cfg.SpareShimDuration()
	if err != nil {
		return err
	}
	// First: it may execute petreld again, which keeps the pid and the
	// descriptors and loses everything else.
	textMsg := warmBinary(cfg.BinaryHugepages == nil || *cfg.BinaryHugepages)
	coreshim.CloseExecFrom(3)
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s petreld: %s\n", time.Now().UTC().Format(time.RFC3339), fmt.Sprintf(format, args...))
	}
	if textMsg != "" {
		logf("%s", textMsg)
	}
	logf("garbage collector: %s", gc.apply())
	runtimes := map[string]engine.Runtime{}
	for name, r := range cfg.Runtimes {
		runtimes[name] = engine.Runtime{Path: r.Path, Args: r.RuntimeArgs}
	}
	eng, err := engine.New(engine.Options{
		Root: cfg.Root, State: cfg.State, DefaultRuntime: cfg.DefaultRuntime, Runtimes: runtimes,
		LogDriver: cfg.LogDriver, LogOpts: cfg.LogOpts, Logf: logf, Init: cfg.Init, SpareShim: spareShim,
		Images: engine.ImageOptions{Driver: cfg.StorageDriver, StorageOpts: cfg.StorageOpts,
			Mirrors: cfg.RegistryMirrors, Insecure: cfg.InsecureRegistries},
		Network: engine.NetworkOptions{ConfDir: cfg.CNIConfDir, BinDir: cfg.CNIBinDir,
			DefaultSubnet: cfg.NetworkSubnet, DefaultBridge: cfg.NetworkBridge},
	})
	if err != nil {
		return err
	}
	defer eng.Close()
	srv := &http.Server{Handler: newServer(eng, cfg, logf), ReadHeaderTimeout: 30 * time.Second}
	var ls []net.Listener
	for _, h := range cfg.Hosts {
		l, err := listenUnix(strings.TrimPrefix(h, "unix://"))
		if err != nil {
			for _, l := range ls {
				l.Close()
			}
			return err
		}
		if cfg.Group != "" {
			if err := chownGroup(strings.TrimPrefix(h, "unix://"), cfg.Group); err != nil {
				l.Close()
				return err
			}
		}
		ls = append(ls, l)
	}
	if cfg.PidFile != "" {
		if err := atomicfile.WriteFile(cfg.PidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("pid file: %w", err)
		}
		defer os.Remove(cfg.PidFile)
	}
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func(l net.Listener) { errc <- srv.Serve(l) }(l)
	}
	logf("serving the API on %s (root %s, state %s)", strings.Join(cfg.Hosts, ", "), cfg.Root, cfg.State)
	debug.FreeOSMemory()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, unix.SIGTERM, unix.SIGINT)
	signal.Ignore(unix.SIGPIPE, unix.SIGHUP)
	select {
	case sig := <-sigc:
		logf("%v: shutting down; containers keep running", sig)
	case err := <-errc:
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	for _, l := range ls {
		l.(*ownedSocket).remove()
	}
	return nil
}

// ownedSocket is a unix listener that, once closed, removes its path
// only while the path is still its own socket: a daemon shutting down
// slowly must not delete the socket of the one that replaced it.
type ownedSocket struct {
	*net.UnixListener
	path string
	ino  uint64
}

func (s *ownedSocket) remove() {
	var st unix.Stat_t
	if unix.Stat(s.path, &st) == nil && st.Ino == s.ino {
		os.Remove(s.path)
	}
}

// chownGroup gives the socket to a group (name or gid) from /etc/group,
// so that its members can use the API.
func chownGroup(path, group string) error {
	gid, err := strconv.Atoi(group)
	if err != nil {
		data, rerr := os.ReadFile("/etc/group")
		if rerr != nil {
			return fmt.Errorf("group %s: %w", group, rerr)
		}
		gid = -1
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(line, ":")
			if len(f) > 2 && f[0] == group {
				gid, _ = strconv.Atoi(f[2])
			}
		}
		if gid < 0 {
			return fmt.Errorf("key \"group\": no group %q in /etc/group", group)
		}
	}
	if err := os.Chown(path, 0, gid); err != nil {
		return fmt.Errorf("socket group: %w", err)
	}
	return nil
}

// listenUnix listens on path with mode 0660, replacing a stale socket
// but refusing to take over one that a running daemon answers on.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o711); err != nil {
		return nil, fmt.Errorf("socket dir: %w", err)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("%s: another daemon is serving on it", path)
	}
	os.Remove(path)
	old := unix.Umask(0o117)
	l, err := net.Listen("unix", path)
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen: %w", err)
	}
	return &ownedSocket{UnixListener: ul, path: path, ino: st.Ino}, nil
}

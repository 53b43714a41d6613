// Package applets holds Petrel's applet table and the dispatch from argv[0]
// or the first argument to an applet's Main. It does no work at package level:
// every applet runs through the same binary and pays for every init.
package applets

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/applets/client"
	"github.com/petrel-edge/petrel/applets/cni"
	"github.com/petrel-edge/petrel/applets/daemon"
	"github.com/petrel-edge/petrel/applets/imagetool"
	"github.com/petrel-edge/petrel/applets/initproc"
	"github.com/petrel-edge/petrel/applets/lcr"
	"github.com/petrel-edge/petrel/applets/shim"
	"github.com/petrel-edge/petrel/applets/version"
)

// An Applet is one program of the multicall binary.
type Applet struct {
	// Links are the argv[0] names the applet answers to, installed as
	// symlinks by --install (for example "petrel-runtime").
	Links []string
	// Summary is the one line shown by --list.
	Summary string
	// Main runs the applet with the arguments after its name and returns
	// the process exit code.
	Main func(args []string) int
}

// table returns the applets by subcommand name (petrel <name> …).
func table() map[string]Applet {
	return map[string]Applet{
		"cni":     {Links: []string{"bridge", "host-local", "loopback", "portmap"}, Summary: "CNI plugins bridge, host-local, loopback and portmap", Main: cni.Main},
		"client":  {Summary: "isula/docker-style client of petreld (also any command that names no applet)", Main: client.Main},
		"daemon":  {Links: []string{"petreld"}, Summary: "the engine daemon: Docker-style API on a unix socket", Main: daemon.Main},
		"init":    {Links: []string{"petrel-init"}, Summary: "tiny PID 1 for --init: reaps zombies, forwards signals", Main: initproc.Main},
		"runtime": {Links: []string{"petrel-runtime"}, Summary: "OCI runtime with runc's command line (lcr)", Main: lcr.Main},
		"shim":    {Links: []string{"petrel-shim"}, Summary: "per-container shim started by petreld", Main: shim.Main},
		"version": {Summary: "print version, commit, Go version and platform, and the daemon's when one answers", Main: versionMain},

		"image-tool": {Summary: "debug tool for the image store: pull, images, load, save, import, export, rootfs, gc", Main: imagetool.Main},
	}
}

// Dispatch runs the applet that argv names and returns its exit code:
// first by basename(argv[0]), then by argv[1] (petrel <applet> …).
func Dispatch(argv []string) int {
	apps := table()
	if len(argv) > 0 {
		nameProcess(filepath.Base(argv[0]), apps)
	}
	return dispatch(argv, apps, os.Stdout, os.Stderr)
}

// nameProcess gives the process (its comm) the name of the applet link it
// runs as: petreld executes its shims through /proc/self/exe, which would
// make them "exe" to ps -e, top and pgrep.
func nameProcess(base string, apps map[string]Applet) {
	for _, a := range apps {
		if slices.Contains(a.Links, base) {
			b := append([]byte(base), 0)
			unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
			return
		}
	}
}

func dispatch(argv []string, apps map[string]Applet, stdout, stderr io.Writer) int {
	if len(argv) == 0 {
		usage(stderr, apps)
		return 2
	}
	base := filepath.Base(argv[0])
	for _, a := range apps {
		for _, l := range a.Links {
			if l == base {
				return a.Main(argv[1:])
			}
		}
	}
	if len(argv) < 2 {
		if c, ok := apps["client"]; ok {
			return c.Main(nil)
		}
		usage(stderr, apps)
		return 2
	}
	switch name := argv[1]; name {
	case "--list", "-l":
		listApplets(stdout, apps)
		return 0
	case "--install":
		if len(argv) != 3 {
			fmt.Fprintln(stderr, "usage: petrel --install DIR")
			return 2
		}
		if err := install(argv[2], apps); err != nil {
			fmt.Fprintf(stderr, "petrel: install: %v\n", err)
			return 1
		}
		return 0
	case "-h", "--help", "help":
		usage(stdout, apps)
		return 0
	case "-v", "--version":
		return version.Main(nil)
	default:
		if a, ok := apps[name]; ok {
			return a.Main(argv[2:])
		}
		if c, ok := apps["client"]; ok {
			return c.Main(argv[1:])
		}
		fmt.Fprintf(stderr, "petrel: unknown applet %q\n", name)
		usage(stderr, apps)
		return 2
	}
}

func sortedNames(apps map[string]Applet) []string {
	names := make([]string, 0, len(apps))
	for n := range apps {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func usage(w io.Writer, apps map[string]Applet) {
	fmt.Fprintln(w, "usage: petrel <applet> [args…]   or run through a symlink named after the applet")
	fmt.Fprintln(w, "       petrel --list | --install DIR")
	fmt.Fprintln(w)
	listApplets(w, apps)
}

func listApplets(w io.Writer, apps map[string]Applet) {
	for _, n := range sortedNames(apps) {
		a := apps[n]
		links := ""
		if len(a.Links) > 0 {
			links = " (" + strings.Join(a.Links, ", ") + ")"
		}
		fmt.Fprintf(w, "%-16s %s%s\n", n, a.Summary, links)
	}
}

// install makes dir/<link> symlinks to the running binary for every applet
// link name, replacing stale links but never a regular file. Links that
// are right already are left alone, so that installing again on a
// read-only root filesystem writes nothing and succeeds.
func install(dir string, apps map[string]Applet) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	target := self
	if abs, err := filepath.Abs(dir); err == nil && filepath.Dir(self) == abs {
		target = filepath.Base(self)
	}
	for _, n := range sortedNames(apps) {
		for _, l := range apps[n].Links {
			p := filepath.Join(dir, l)
			if fi, err := os.Lstat(p); err == nil {
				if fi.Mode()&os.ModeSymlink == 0 {
					return fmt.Errorf("%s exists and is not a symlink", p)
				}
				if cur, err := os.Readlink(p); err == nil && cur == target {
					continue
				}
				if err := os.Remove(p); err != nil {
					return err
				}
			}
			if err := os.Symlink(target, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// versionMain is `petrel version`: this binary's version, then the
// daemon's as docker version shows it, when one answers.
func versionMain(args []string) int {
	if rc := version.Main(args); rc != 0 {
		return rc
	}
	client.ServerVersion(os.Stdout)
	return 0
}

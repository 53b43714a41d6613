// Package cni is the CNI plugins applet: bridge, host-local, loopback and
// portmap, run by a CNI runtime through a symlink named after the plugin or
// as `petrel cni <plugin>`. The protocol (CNI_COMMAND and friends in the
// environment, the configuration on stdin, the result or error on stdout)
// is handled by the CNI skel package; the plugins' logic lives in net/.
package cni

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"
	petrelversion "github.com/petrel-edge/petrel/applets/version"
	"github.com/petrel-edge/petrel/net/bridge"
	"github.com/petrel-edge/petrel/net/hostlocal"
	"github.com/petrel-edge/petrel/net/loopback"
	"github.com/petrel-edge/petrel/net/portmap"
)

// plugins returns the built-in plugins by name.
func plugins() map[string]skel.CNIFuncs {
	return map[string]skel.CNIFuncs{
		"bridge":     {Add: bridge.Add, Del: bridge.Del, Check: bridge.Check, Status: bridge.Status, GC: bridge.GC},
		"host-local": {Add: hostlocal.Add, Del: hostlocal.Del, Check: hostlocal.Check, Status: hostlocal.Status, GC: hostlocal.GC},
		"loopback":   {Add: loopback.Add, Del: loopback.Del, Check: loopback.Check, Status: loopback.Status, GC: loopback.GC},
		"portmap":    {Add: portmap.Add, Del: portmap.Del, Check: portmap.Check, Status: portmap.Status, GC: portmap.GC},
	}
}

// Main runs the plugin named by the program name (a bridge, host-local, …
// symlink) or else by the first argument.
func Main(args []string) int {
	return run(filepath.Base(os.Args[0]), args, os.Stderr)
}

func run(prog string, args []string, stderr io.Writer) int {
	all := plugins()
	name := prog
	funcs, ok := all[name]
	if !ok {
		if len(args) == 0 {
			usage(stderr, all)
			return 2
		}
		name = args[0]
		if funcs, ok = all[name]; !ok {
			fmt.Fprintf(stderr, "petrel cni: unknown plugin %q\n", name)
			usage(stderr, all)
			return 2
		}
	}
	about := fmt.Sprintf("CNI plugin %s (petrel %s)", name, petrelversion.Version)
	if e := skel.PluginMainFuncsWithError(funcs, version.All, about); e != nil {
		if err := e.Print(); err != nil {
			fmt.Fprintf(stderr, "%s: write error: %v\n", name, err)
		}
		return 1
	}
	return 0
}

func usage(w io.Writer, all map[string]skel.CNIFuncs) {
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: petrel cni <plugin>   (CNI_COMMAND, CNI_NETNS, … in the environment, config on stdin)")
	fmt.Fprintln(w, "plugins:", names)
}

package cni

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/petrel-edge/petrel/net/bridge"
	"github.com/petrel-edge/petrel/net/hostlocal"
	"github.com/petrel-edge/petrel/net/loopback"
	"github.com/petrel-edge/petrel/net/portmap"
)

// builtinPrefix marks a plugin "path" that runs in-process.
const builtinPrefix = "petrel-builtin:"

// plugin is a built-in plugin's commands.
type plugin struct {
	add                       func(*skel.CmdArgs) (types.Result, error)
	del, check, status, gcCmd func(*skel.CmdArgs) error
}

// builtin returns the built-in plugin of that type.
func builtin(typ string) (plugin, bool) {
	switch typ {
	case "bridge":
		return plugin{bridge.AddResult, bridge.Del, bridge.Check, bridge.Status, bridge.GC}, true
	case "host-local":
		return plugin{hostlocal.AddResult, hostlocal.Del, hostlocal.Check, hostlocal.Status, hostlocal.GC}, true
	case "loopback":
		return plugin{loopback.AddResult, loopback.Del, loopback.Check, loopback.Status, loopback.GC}, true
	case "portmap":
		return plugin{portmap.AddResult, portmap.Del, portmap.Check, portmap.Status, portmap.GC}, true
	}
	return plugin{}, false
}

// BuiltinNames are the plugin types this binary provides.
func BuiltinNames() []string { return []string{"bridge", "host-local", "loopback", "portmap"} }

// execer is libcni's invoke.Exec: built-in plugins found in no bin
// directory, or found there as links to this binary, run in-process;
// everything else is executed.
type execer struct {
	self    string // this binary, resolved
	linkDir string // links to it named after the plugins
	raw     invoke.RawExec
}

func (x *execer) FindInPath(plugin string, paths []string) (string, error) {
	p, err := invoke.FindInPath(plugin, paths)
	if _, ok := builtin(plugin); ok && (err != nil || x.isSelf(p)) {
		return builtinPrefix + plugin, nil
	}
	return p, err
}

func (x *execer) isSelf(p string) bool {
	a, err1 := os.Stat(p)
	b, err2 := os.Stat(x.self)
	return err1 == nil && err2 == nil && os.SameFile(a, b)
}

func (x *execer) Decode(data []byte) (version.PluginInfo, error) {
	var d version.PluginDecoder
	return d.Decode(data)
}

func (x *execer) ExecPlugin(ctx context.Context, path string, stdin []byte, environ []string) ([]byte, error) {
	typ, ok := strings.CutPrefix(path, builtinPrefix)
	if !ok {
		return x.raw.ExecPlugin(ctx, path, stdin, environ)
	}
	p, _ := builtin(typ)
	if typ == "bridge" && delegatesIPAM(stdin) {
		// Another IPAM plugin is found through the environment, which
		// only a process of its own can be given.
		return x.raw.ExecPlugin(ctx, filepath.Join(x.linkDir, typ), stdin, environ)
	}
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "CNI_") {
			env[k] = v
		}
	}
	args := &skel.CmdArgs{
		ContainerID: env["CNI_CONTAINERID"], Netns: env["CNI_NETNS"], IfName: env["CNI_IFNAME"],
		Args: env["CNI_ARGS"], Path: env["CNI_PATH"], NetnsOverride: env["CNI_NETNS_OVERRIDE"], StdinData: stdin,
	}
	var err error
	switch cmd := env["CNI_COMMAND"]; cmd {
	case "ADD":
		var r types.Result
		if r, err = p.add(args); err == nil {
			var buf bytes.Buffer
			if err = r.PrintTo(&buf); err == nil {
				return buf.Bytes(), nil
			}
		}
	case "DEL":
		err = p.del(args)
	case "CHECK":
		err = p.check(args)
	case "STATUS":
		err = p.status(args)
	case "GC":
		err = p.gcCmd(args)
	case "VERSION":
		var buf bytes.Buffer
		err = version.All.Encode(&buf)
		return buf.Bytes(), err
	default:
		err = fmt.Errorf("unknown CNI_COMMAND %q", cmd)
	}
	return nil, err
}

// delegatesIPAM reports whether a bridge configuration names an IPAM
// plugin other than the built-in host-local.
func delegatesIPAM(conf []byte) bool {
	var c struct {
		IPAM struct {
			Type string `json:"type"`
		} `json:"ipam"`
	}
	if json.Unmarshal(conf, &c) != nil {
		return false // the plugin reports the error
	}
	return c.IPAM.Type != "" && c.IPAM.Type != "host-local"
}

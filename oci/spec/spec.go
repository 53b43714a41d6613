// Package spec loads, validates and generates OCI runtime configurations
// (config.json of a bundle). Validation happens before anything is set up,
// so that a bad bundle fails with an error naming the problem and leaves
// nothing behind.
package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/petrel-edge/petrel/oci/caps"
)

// Load reads and validates bundle/config.json.
func Load(bundle string) (*specs.Spec, error) {
	s, _, err := LoadRaw(bundle)
	return s, err
}

// LoadRaw is Load that also returns the file's bytes, so that callers can
// store or pass the config on without encoding it again.
func LoadRaw(bundle string) (*specs.Spec, []byte, error) {
	path := filepath.Join(bundle, "config.json")
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("bundle %s has no config.json", bundle)
		}
		return nil, nil, err
	}
	s, err := Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := Validate(s, bundle); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, data, nil
}

// Parse decodes a config.json, reporting syntax errors with line and column.
func Parse(data []byte) (*specs.Spec, error) {
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, col := position(data, se.Offset)
			return nil, fmt.Errorf("malformed JSON at line %d, column %d: %w", line, col, err)
		case errors.As(err, &te):
			line, col := position(data, te.Offset)
			return nil, fmt.Errorf("field %q at line %d, column %d: wrong type %s, want %s", te.Field, line, col, te.Value, te.Type)
		}
		return nil, fmt.Errorf("decode: %w", err)
	}
	return &s, nil
}

func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// RootfsPath returns the absolute rootfs directory of a spec in bundle.
func RootfsPath(s *specs.Spec, bundle string) string {
	p := s.Root.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(bundle, p)
	}
	return filepath.Clean(p)
}

// knownNamespace reports whether t is a namespace type of the spec. A
// switch, not a map: nothing to build at start-up for every applet.
func knownNamespace(t specs.LinuxNamespaceType) bool {
	switch t {
	case specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.IPCNamespace,
		specs.UTSNamespace, specs.UserNamespace, specs.CgroupNamespace, specs.TimeNamespace:
		return true
	}
	return false
}

// Validate checks a spec for the problems that would otherwise surface half
// way through container creation.
func Validate(s *specs.Spec, bundle string) error {
	if !strings.HasPrefix(s.Version, "1.") {
		return fmt.Errorf("ociVersion %q is not supported (want 1.x)", s.Version)
	}
	if s.Root == nil || s.Root.Path == "" {
		return errors.New("root.path is missing")
	}
	rootfs := RootfsPath(s, bundle)
	if fi, err := os.Stat(rootfs); err != nil {
		return fmt.Errorf("rootfs %s: %w", rootfs, err)
	} else if !fi.IsDir() {
		return fmt.Errorf("rootfs %s is not a directory", rootfs)
	}
	if s.Process != nil {
		if err := ValidateProcess(s.Process); err != nil {
			return err
		}
	}
	for i, m := range s.Mounts {
		if m.Destination == "" {
			return fmt.Errorf("mounts[%d]: destination is missing", i)
		}
		if m.Type == "bind" || hasOpt(m.Options, "bind") || hasOpt(m.Options, "rbind") {
			if m.Source == "" {
				return fmt.Errorf("mounts[%d] (%s): bind mount without source", i, m.Destination)
			}
		}
		for _, o := range m.Options {
			if o == "" {
				return fmt.Errorf("mounts[%d] (%s): empty mount option", i, m.Destination)
			}
		}
	}
	if err := validateHooks(s.Hooks); err != nil {
		return err
	}
	if s.Linux != nil {
		if err := validateLinux(s.Linux); err != nil {
			return err
		}
	}
	return nil
}

func hasOpt(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// ValidateProcess checks a process section (also used by exec --process).
func ValidateProcess(p *specs.Process) error {
	if len(p.Args) == 0 && p.CommandLine == "" {
		return errors.New("process.args is empty")
	}
	if p.Cwd == "" || !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("process.cwd %q is not an absolute path", p.Cwd)
	}
	if err := caps.Validate(p.Capabilities); err != nil {
		return fmt.Errorf("process.%w", err)
	}
	seen := map[string]bool{}
	for _, r := range p.Rlimits {
		if _, ok := Rlimit(r.Type); !ok {
			return fmt.Errorf("process.rlimits: unknown type %q", r.Type)
		}
		if seen[r.Type] {
			return fmt.Errorf("process.rlimits: %s given twice", r.Type)
		}
		seen[r.Type] = true
		if r.Soft > r.Hard {
			return fmt.Errorf("process.rlimits: %s soft limit %d above hard limit %d", r.Type, r.Soft, r.Hard)
		}
	}
	for _, e := range p.Env {
		if !strings.Contains(e, "=") {
			return fmt.Errorf("process.env: %q is not KEY=value", e)
		}
	}
	if p.ConsoleSize != nil && !p.Terminal {
		return errors.New("process.consoleSize is set but process.terminal is false")
	}
	return nil
}

func validateHooks(h *specs.Hooks) error {
	if h == nil {
		return nil
	}
	for name, list := range map[string][]specs.Hook{
		"prestart": h.Prestart, "createRuntime": h.CreateRuntime, "createContainer": h.CreateContainer,
		"startContainer": h.StartContainer, "poststart": h.Poststart, "poststop": h.Poststop,
	} {
		for i, hk := range list {
			if !filepath.IsAbs(hk.Path) {
				return fmt.Errorf("hooks.%s[%d]: path %q is not absolute", name, i, hk.Path)
			}
			if hk.Timeout != nil && *hk.Timeout <= 0 {
				return fmt.Errorf("hooks.%s[%d]: timeout must be positive", name, i)
			}
		}
	}
	return nil
}

func validateLinux(l *specs.Linux) error {
	seen := map[specs.LinuxNamespaceType]bool{}
	userns := false
	for _, ns := range l.Namespaces {
		if !knownNamespace(ns.Type) {
			return fmt.Errorf("linux.namespaces: unknown namespace type %q", ns.Type)
		}
		if seen[ns.Type] {
			return fmt.Errorf("linux.namespaces: %s given twice", ns.Type)
		}
		seen[ns.Type] = true
		if ns.Type == specs.UserNamespace {
			userns = true
		}
		if ns.Path != "" && !filepath.IsAbs(ns.Path) {
			return fmt.Errorf("linux.namespaces: %s path %q is not absolute", ns.Type, ns.Path)
		}
	}
	if (len(l.UIDMappings) > 0 || len(l.GIDMappings) > 0) && !userns {
		return errors.New("linux.uidMappings/gidMappings need a user namespace")
	}
	if l.CgroupsPath != "" && strings.Contains(l.CgroupsPath, "..") {
		return fmt.Errorf("linux.cgroupsPath %q must not contain ..", l.CgroupsPath)
	}
	for k := range l.Sysctl {
		if k == "" || strings.Contains(k, "..") {
			return fmt.Errorf("linux.sysctl: bad key %q", k)
		}
	}
	for i, d := range l.Devices {
		if !filepath.IsAbs(d.Path) {
			return fmt.Errorf("linux.devices[%d]: path %q is not absolute", i, d.Path)
		}
		switch d.Type {
		case "c", "b", "u", "p":
		default:
			return fmt.Errorf("linux.devices[%d] (%s): unknown type %q", i, d.Path, d.Type)
		}
	}
	switch l.RootfsPropagation {
	case "", "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable":
	default:
		return fmt.Errorf("linux.rootfsPropagation: unknown value %q", l.RootfsPropagation)
	}
	return nil
}

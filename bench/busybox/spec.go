package busybox

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TemplateSpec returns the default config that `runtime spec` writes (runc's
// or crun's), the starting point of every bundle so that all runtimes get
// the same configuration a user of runc would.
func TemplateSpec(runtime string) (*specs.Spec, error) {
	dir, err := os.MkdirTemp("", "busybox-spec-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command(runtime, "spec", "--bundle", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%s spec: %w: %s", runtime, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s spec: %w", runtime, err)
	}
	return &s, nil
}

// Adjust makes a template config run args without a terminal in its own
// network namespace, with root as the root filesystem path (relative to the
// bundle, or absolute). It changes s in place.
func Adjust(s *specs.Spec, root string, args ...string) {
	if s.Process == nil {
		s.Process = &specs.Process{Cwd: "/"}
	}
	s.Process.Terminal = false
	s.Process.Args = append([]string(nil), args...)
	if s.Root == nil {
		s.Root = &specs.Root{Readonly: true}
	}
	s.Root.Path = root
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return
		}
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
}

// WriteBundle creates the bundle directory dir with s as its config.json.
func WriteBundle(dir string, s *specs.Spec) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
}

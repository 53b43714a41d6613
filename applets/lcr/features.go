package lcr

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"

	"github.com/petrel-edge/petrel/oci/caps"
	"github.com/petrel-edge/petrel/oci/cgroups"
	"github.com/petrel-edge/petrel/oci/seccomp"
)

func featuresDoc() *features.Features {
	f := &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"},
		MountOptions: []string{
			"async", "atime", "bind", "defaults", "dev", "diratime", "dirsync", "exec", "iversion", "lazytime",
			"loud", "mand", "noatime", "nodev", "nodiratime", "noexec", "noiversion", "nolazytime", "nomand",
			"norelatime", "nostrictatime", "nosuid", "private", "rbind", "relatime", "remount", "ro", "rprivate",
			"rshared", "rslave", "runbindable", "rw", "shared", "silent", "slave", "strictatime", "suid", "sync",
			"unbindable",
		},
		Linux: &features.Linux{
			Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "user", "uts"},
			Capabilities: caps.Names(),
			Cgroup:       cgroups.Features(),
			Seccomp:      seccomp.Features(),
			Apparmor:     &features.Apparmor{Enabled: new(bool)},
			Selinux:      &features.Selinux{Enabled: new(bool)},
			IntelRdt:     &features.IntelRdt{Enabled: new(bool)},
		},
		Annotations: map[string]string{"org.petrel.runtime.name": "petrel-runtime"},
	}
	return f
}

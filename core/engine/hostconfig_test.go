package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/core/volume"
	ocispec "github.com/petrel-edge/petrel/oci/spec"
)

func TestValidateHostConfig(t *testing.T) {
	tests := []struct {
		name string
		hc   api.HostConfig
		err  string // "" when valid
	}{
		{"empty", api.HostConfig{}, ""},
		{"memory", api.HostConfig{Resources: api.Resources{Memory: 64 << 20, MemorySwap: -1}}, ""},
		{"tiny memory", api.HostConfig{Resources: api.Resources{Memory: 1 << 20}}, "Minimum memory limit allowed is 6MB"},
		{"swap below memory", api.HostConfig{Resources: api.Resources{Memory: 64 << 20, MemorySwap: 32 << 20}}, "memoryswap limit should be larger"},
		{"swap alone", api.HostConfig{Resources: api.Resources{MemorySwap: 64 << 20}}, "always set the Memory limit"},
		{"too many cpus", api.HostConfig{Resources: api.Resources{NanoCPUs: 1000e9}}, "Range of CPUs"},
		{"nano and period", api.HostConfig{Resources: api.Resources{NanoCPUs: 1e9, CPUPeriod: 1000}}, "Conflicting options"},
		{"cpuset", api.HostConfig{Resources: api.Resources{CpusetCpus: "0-1,3"}}, ""},
		{"bad cpuset", api.HostConfig{Resources: api.Resources{CpusetCpus: "1-0"}}, "cpuset-cpus"},
		{"ulimit", api.HostConfig{Resources: api.Resources{Ulimits: []*api.Ulimit{{Name: "nofile", Soft: 10, Hard: 20}}}}, ""},
		{"bad ulimit", api.HostConfig{Resources: api.Resources{Ulimits: []*api.Ulimit{{Name: "bogus", Soft: 1, Hard: 1}}}}, "invalid ulimit type"},
		{"ulimit soft above hard", api.HostConfig{Resources: api.Resources{Ulimits: []*api.Ulimit{{Name: "nofile", Soft: 30, Hard: 20}}}}, "soft limit"},
		{"caps", api.HostConfig{CapAdd: []string{"net_admin", "ALL"}, CapDrop: []string{"CAP_CHOWN"}}, ""},
		{"bad cap", api.HostConfig{CapAdd: []string{"FLY"}}, "invalid capability"},
		{"security opts", api.HostConfig{SecurityOpt: []string{"no-new-privileges", "seccomp=unconfined", "apparmor=unconfined"}}, ""},
		{"apparmor profile", api.HostConfig{SecurityOpt: []string{"apparmor=docker-default"}}, "no AppArmor"},
		{"bad seccomp", api.HostConfig{SecurityOpt: []string{"seccomp={"}}, "not JSON"},
		{"unknown security opt", api.HostConfig{SecurityOpt: []string{"magic"}}, "invalid --security-opt"},
		{"sysctl", api.HostConfig{Sysctls: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1"}}, ""},
		{"host sysctl", api.HostConfig{Sysctls: map[string]string{"vm.swappiness": "1"}}, "only namespaced"},
		{"net sysctl on host network", api.HostConfig{NetworkMode: "host", Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}}, "host's network"},
		{"bind", api.HostConfig{Binds: []string{"/srv:/data:ro"}}, ""},
		{"named volume", api.HostConfig{Binds: []string{"data:/data:ro,nocopy"}}, ""},
		{"bad volume name", api.HostConfig{Binds: []string{"d@ta:/data"}}, "invalid characters"},
		{"bad bind option", api.HostConfig{Binds: []string{"/srv:/data:fast"}}, "invalid mode: fast"},
		{"propagation on a volume", api.HostConfig{Binds: []string{"data:/data:rshared"}}, "invalid mode: rshared"},
		{"relative bind target", api.HostConfig{Binds: []string{"/srv:data"}}, "must be absolute"},
		{"one-part bind", api.HostConfig{Binds: []string{"/srv"}}, "invalid volume specification"},
		{"duplicate mount point", api.HostConfig{Binds: []string{"/srv:/data"}, Tmpfs: map[string]string{"/data": ""}}, "Duplicate mount point: /data"},
		{"mount bind", api.HostConfig{Mounts: []api.Mount{{Type: "bind", Source: "/", Target: "/host", ReadOnly: true}}}, ""},
		{"mount bind missing source", api.HostConfig{Mounts: []api.Mount{{Type: "bind", Source: "/nonexistent-petrel", Target: "/x"}}}, "bind source path does not exist"},
		{"mount bind no source", api.HostConfig{Mounts: []api.Mount{{Type: "bind", Target: "/x"}}}, "field Source must not be empty"},
		{"mount no target", api.HostConfig{Mounts: []api.Mount{{Type: "volume", Source: "v1"}}}, "field Target must not be empty"},
		{"mount tmpfs with source", api.HostConfig{Mounts: []api.Mount{{Type: "tmpfs", Source: "x", Target: "/x"}}}, "field Source must not be specified"},
		{"mount tmpfs negative size", api.HostConfig{Mounts: []api.Mount{{Type: "tmpfs", Target: "/x", TmpfsOptions: &api.TmpfsOptions{SizeBytes: -1}}}}, "cannot be negative"},
		{"mount bad type", api.HostConfig{Mounts: []api.Mount{{Type: "npipe", Target: "/x"}}}, "mount type unknown"},
		{"mount volume with bind options", api.HostConfig{Mounts: []api.Mount{{Type: "volume", Target: "/x", BindOptions: &api.BindOptions{}}}}, "BindOptions must not be specified"},
		{"blkio weight", api.HostConfig{Resources: api.Resources{BlkioWeight: 5}}, "blkio weight"},
		{"relative tmpfs", api.HostConfig{Tmpfs: map[string]string{"run": ""}}, "must be absolute"},
		{"device perms", api.HostConfig{Resources: api.Resources{Devices: []api.DeviceMapping{{PathOnHost: "/dev/null", CgroupPermissions: "rwx"}}}}, "device permissions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validateHostConfig(&tc.hc)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
			if !errors.Is(err, errdefs.ErrInvalid) && !errors.Is(err, errdefs.ErrNotSupported) {
				t.Errorf("%v is neither invalid nor unsupported", err)
			}
		})
	}
}

func TestApplyHostConfig(t *testing.T) {
	pids := int64(50)
	hc := &api.HostConfig{
		Resources: api.Resources{Memory: 64 << 20, NanoCPUs: 5e8, CPUShares: 512, CpusetCpus: "0", PidsLimit: &pids,
			Ulimits: []*api.Ulimit{{Name: "nofile", Soft: 100, Hard: 200}}},
		CapAdd: []string{"SYS_ADMIN"}, CapDrop: []string{"kill"}, SecurityOpt: []string{"no-new-privileges:true"},
		Sysctls: map[string]string{"net.core.somaxconn": "1024"}, ShmSize: 8 << 20,
		Tmpfs: map[string]string{"/run": "size=1m"}, Binds: []string{t.TempDir() + ":/data:ro"},
	}
	s := ocispec.Default(false, 0, 0)
	s.Process.Capabilities.Bounding = dockerCaps
	if err := applyHostConfig(s, hc); err != nil {
		t.Fatal(err)
	}
	vols, err := volume.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{vols: vols}
	if err := e.applyMounts(s, hc); err != nil {
		t.Fatal(err)
	}
	if s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != "SCMP_ACT_ERRNO" {
		t.Errorf("no default seccomp profile: %+v", s.Linux.Seccomp)
	}
	r := s.Linux.Resources
	if *r.Memory.Limit != 64<<20 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 512 || r.CPU.Cpus != "0" || r.Pids.Limit != 50 {
		t.Errorf("resources %+v %+v %+v", r.Memory, r.CPU, r.Pids)
	}
	if rl := s.Process.Rlimits[len(s.Process.Rlimits)-1]; rl.Type != "RLIMIT_NOFILE" || rl.Soft != 100 || rl.Hard != 200 {
		t.Errorf("rlimit %+v", rl)
	}
	capList := strings.Join(s.Process.Capabilities.Bounding, " ")
	if !strings.Contains(capList, "CAP_SYS_ADMIN") || strings.Contains(capList, "CAP_KILL") || !strings.Contains(capList, "CAP_CHOWN") {
		t.Errorf("capabilities %s", capList)
	}
	if !s.Process.NoNewPrivileges || s.Linux.Sysctl["net.core.somaxconn"] != "1024" {
		t.Error("no-new-privileges or sysctl not applied")
	}
	found := map[string]string{}
	for _, m := range s.Mounts {
		found[m.Destination] = m.Type + " " + strings.Join(m.Options, ",")
	}
	if !strings.Contains(found["/dev/shm"], "size=8388608") || !strings.HasPrefix(found["/run"], "tmpfs") ||
		!strings.Contains(found["/run"], "size=1m") || found["/data"] != "bind rbind,rprivate,ro" {
		t.Errorf("mounts %v", found)
	}
}

func TestSeccompChoice(t *testing.T) {
	tests := []struct {
		name string
		hc   api.HostConfig
		want string // "default", "none" or "custom"
	}{
		{"default", api.HostConfig{}, "default"},
		{"unconfined", api.HostConfig{SecurityOpt: []string{"seccomp=unconfined"}}, "none"},
		{"profile", api.HostConfig{SecurityOpt: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}}, "custom"},
		{"privileged", api.HostConfig{Privileged: true}, "none"},
		{"privileged with a profile", api.HostConfig{Privileged: true, SecurityOpt: []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW"}`}}, "none"},
	}
	for _, tc := range tests {
		s := ocispec.Default(false, 0, 0)
		if err := applyHostConfig(s, &tc.hc); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := "none"
		if sc := s.Linux.Seccomp; sc != nil {
			got = "custom"
			if sc.DefaultAction == "SCMP_ACT_ERRNO" && len(sc.Syscalls) > 0 && len(sc.Syscalls[0].Names) > 300 {
				got = "default"
			}
		}
		if got != tc.want {
			t.Errorf("%s: seccomp %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestMergeUpdate(t *testing.T) {
	pids := int64(10)
	tests := []struct {
		name     string
		old, upd api.Resources
		check    func(api.Resources) bool
		err      string
	}{
		{"memory kept when not named", api.Resources{Memory: 64 << 20, CPUShares: 512}, api.Resources{CPUShares: 256},
			func(r api.Resources) bool { return r.Memory == 64<<20 && r.CPUShares == 256 }, ""},
		{"pids", api.Resources{}, api.Resources{PidsLimit: &pids}, func(r api.Resources) bool { return *r.PidsLimit == 10 }, ""},
		{"memory above swap", api.Resources{Memory: 64 << 20, MemorySwap: 128 << 20}, api.Resources{Memory: 256 << 20}, nil, "memoryswap"},
		{"nano after quota", api.Resources{CPUQuota: 50000}, api.Resources{NanoCPUs: 1e9}, nil, "Conflicting options"},
		{"quota after nano", api.Resources{NanoCPUs: 1e9}, api.Resources{CPUQuota: 50000}, nil, "Conflicting options"},
	}
	for _, tc := range tests {
		r := tc.old
		err := mergeUpdate(&r, tc.upd)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || !tc.check(r) {
			t.Errorf("%s: %v, %+v", tc.name, err, r)
		}
	}
}

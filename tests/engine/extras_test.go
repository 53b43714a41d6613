//go:build integration

package engine

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/petrel-edge/petrel/tests/internal/testenv"
	"github.com/petrel-edge/petrel/tests/internal/testreg"
)

// fails runs the client, wants a non-zero exit and want in its stderr.
func (d *daemon) fails(want string, args ...string) {
	d.t.Helper()
	out, errs, code := d.petrel(args...)
	if code == 0 || !strings.Contains(errs, want) {
		d.t.Errorf("petrel %s: exit %d, stdout %q, stderr %q; want a failure saying %q", strings.Join(args, " "), code, out, errs, want)
	}
}

// restartWith stops the daemon (containers keep running) and starts it
// again with the keys of cfg (a JSON object) added to its daemon.json.
func (d *daemon) restartWith(cfg string) {
	d.t.Helper()
	keys := map[string]any{}
	if cfg != "" {
		if err := json.Unmarshal([]byte(cfg), &keys); err != nil {
			d.t.Fatal(err)
		}
	}
	keys["graph"], keys["state"], keys["hosts"] = d.root, d.state, []string{"unix://" + d.sock}
	for k, v := range d.netConfig() {
		if _, set := keys[k]; !set {
			keys[k] = v
		}
	}
	data, _ := json.Marshal(keys)
	d.cmd.Process.Signal(syscall.SIGTERM)
	for d.cmd.ProcessState == nil {
		time.Sleep(10 * time.Millisecond)
	}
	d.log.Close()
	d.configFile = filepath.Join(d.dir, "daemon-extra.json")
	if err := os.WriteFile(d.configFile, data, 0o644); err != nil {
		d.t.Fatal(err)
	}
	d.start()
}

// cgroupFile reads a file of the container's cgroup: v1 names the
// controller's file ("memory/memory.limit_in_bytes"), v2 the unified one.
func cgroupFile(t *testing.T, id, v1, v2 string) string {
	t.Helper()
	ctrl, file, _ := strings.Cut(v1, "/")
	for _, p := range []string{filepath.Join("/sys/fs/cgroup", ctrl, "petrel", id, file), filepath.Join("/sys/fs/cgroup/petrel", id, v2)} {
		if data, err := os.ReadFile(p); err == nil {
			return strings.TrimSpace(string(data))
		}
	}
	t.Fatalf("no cgroup file %s or %s for %s", v1, v2, id)
	return ""
}

func TestCp(t *testing.T) {
	d := startDaemon(t)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "in.txt"), []byte("from the host\n"), 0o640)
	os.MkdirAll(filepath.Join(host, "tree", "sub"), 0o755)
	os.WriteFile(filepath.Join(host, "tree", "sub", "a"), []byte("a\n"), 0o644)
	d.must(d.runArgs("-d", "--name", "box", "--tmpfs", "/scratch", "-v", "cpvol:/vol", "none", "sh", "-c",
		"echo inside > /scratch/t; mkdir -p /tmp/d/e; echo deep > /tmp/d/e/f; ln -s / /tmp/esc; ln -s ../../../../../../.. /tmp/up; touch /tmp/ready; sleep 1000")...)
	d.waitFor("the container to set up", func() bool {
		_, _, code := d.petrel("exec", "box", "test", "-e", "/tmp/ready")
		return code == 0
	})
	// Into the running container, then out again.
	d.must("cp", filepath.Join(host, "in.txt"), "box:/tmp/")
	if out := d.must("exec", "box", "cat", "/tmp/in.txt"); out != "from the host" {
		t.Errorf("cp to a directory: %q", out)
	}
	d.must("cp", filepath.Join(host, "in.txt"), "box:/tmp/renamed.txt")
	if out := d.must("exec", "box", "stat", "-c", "%a %u %s", "/tmp/renamed.txt"); out != "640 0 14" {
		t.Errorf("copied file: mode, owner, size %q", out)
	}
	d.must("cp", filepath.Join(host, "tree"), "box:/tmp/")
	if out := d.must("exec", "box", "cat", "/tmp/tree/sub/a"); out != "a" {
		t.Errorf("cp of a directory: %q", out)
	}
	out := t.TempDir()
	d.must("cp", "box:/scratch/t", out) // a tmpfs: only the running container's view has it
	if data, _ := os.ReadFile(filepath.Join(out, "t")); string(data) != "inside\n" {
		t.Errorf("cp from a tmpfs: %q", data)
	}
	d.must("cp", "box:/tmp/d", filepath.Join(out, "newdir"))
	if data, _ := os.ReadFile(filepath.Join(out, "newdir", "e", "f")); string(data) != "deep\n" {
		t.Errorf("cp of a directory to a new name: %q", data)
	}
	d.must("cp", "box:/tmp/d/.", out)
	if _, err := os.Stat(filepath.Join(out, "e", "f")); err != nil {
		t.Errorf("cp of a directory's content: %v", err)
	}
	// To stdout as a tar stream, and from stdin.
	tarOut := d.must("cp", "box:/tmp/in.txt", "-")
	tr := tar.NewReader(strings.NewReader(tarOut + "\n"))
	if h, err := tr.Next(); err != nil || h.Name != "in.txt" {
		t.Errorf("cp to -: %v %v", h, err)
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "stdin.txt", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte("in\n"))
	tw.Close()
	if o, e, code := d.petrelIn(tb.String(), "cp", "-", "box:/tmp"); code != 0 {
		t.Fatalf("cp from -: %d %s %s", code, o, e)
	}
	if o := d.must("exec", "box", "cat", "/tmp/stdin.txt"); o != "in" {
		t.Errorf("cp from -: %q", o)
	}
	// Symlinks in the container never lead out of it.
	marker := "petrel-cp-escape-" + filepath.Base(d.dir)
	os.WriteFile(filepath.Join(host, marker), []byte("x"), 0o644)
	d.must("cp", filepath.Join(host, marker), "box:/tmp/esc/")
	d.must("cp", filepath.Join(host, marker), "box:/tmp/up/")
	if _, err := os.Stat("/" + marker); err == nil {
		os.Remove("/" + marker)
		t.Fatal("cp through a symlink wrote to the host's /")
	}
	if _, _, code := d.petrel("exec", "box", "test", "-e", "/"+marker); code != 0 {
		t.Error("cp through /tmp/esc/ did not land in the container's /")
	}
	if o := d.must("cp", "box:/tmp/up/etc/hostname", "-"); !strings.Contains(o, "hostname") {
		t.Errorf("cp out through a symlink: %q", o)
	}
	// A stopped container: its rootfs and its volume.
	d.must("exec", "box", "sh", "-c", "echo kept > /vol/v")
	d.must("stop", "-t", "0", "box")
	d.must("cp", "box:/vol/v", filepath.Join(out, "v"))
	if data, _ := os.ReadFile(filepath.Join(out, "v")); string(data) != "kept\n" {
		t.Errorf("cp from a stopped container's volume: %q", data)
	}
	d.must("cp", filepath.Join(host, "in.txt"), "box:/tmp/while-stopped")
	if _, err := os.Stat(filepath.Join(d.rootfs, "tmp", "while-stopped")); err != nil {
		t.Errorf("cp into a stopped container: %v", err)
	}
	// Bad input: a clear error and nothing written.
	before, _ := os.ReadDir(out)
	d.fails("No such container: nosuch", "cp", "nosuch:/etc/passwd", out)
	d.fails("Could not find the file /nonexistent in container box", "cp", "box:/nonexistent", out)
	d.fails("does not exist", "cp", filepath.Join(host, "in.txt"), "box:/nonexistent/dir/")
	d.fails("not a directory", "cp", "-", "box:/tmp/in.txt")
	d.fails("copying between containers is not supported", "cp", "box:/a", "box:/b")
	d.fails("must specify at least one container source", "cp", "a", "b")
	d.fails("cannot copy a directory to a file", "cp", "box:/tmp/d", filepath.Join(host, "in.txt"))
	d.fails("no such file", "cp", filepath.Join(host, "missing"), "box:/tmp")
	if after, _ := os.ReadDir(out); len(after) != len(before) {
		t.Errorf("failed copies left files: %d entries, then %d", len(before), len(after))
	}
	if data, _ := os.ReadFile(filepath.Join(host, "in.txt")); string(data) != "from the host\n" {
		t.Errorf("a failed copy changed the source: %q", data)
	}
	d.must(d.runArgs("-d", "--name", "ro", "--read-only", "none", "sleep", "1000")...)
	d.fails("read-only", "cp", filepath.Join(host, "in.txt"), "ro:/tmp/")
	// The API: HEAD answers the path's stat in the header.
	req, _ := http.NewRequest("HEAD", "http://petrel/v1.41/containers/box/archive?path=/tmp/in.txt", nil)
	resp, err := d.httpClient().Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("X-Docker-Container-Path-Stat") == "" {
		t.Errorf("HEAD archive: %v %v", resp, err)
	}
}

func TestStats(t *testing.T) {
	d := startDaemon(t)
	d.must(d.runArgs("-d", "--name", "busy", "-m", "64m", "--pids-limit", "50", "none", "sh", "-c", "while :; do :; done")...)
	d.must(d.runArgs("-d", "--name", "idle", "none", "sleep", "1000")...)
	d.must("create", "--external-rootfs", d.rootfs, "--name", "stopped", "none", "true")
	out := d.must("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}} {{.PIDs}} {{.CPUPerc}}", "busy")
	f := strings.Fields(out)
	if len(f) != 6 || f[0] != "busy" || f[3] != "64MiB" || f[4] != "1" || !strings.HasSuffix(f[5], "%") || f[5] == "0.00%" {
		t.Errorf("stats --no-stream busy: %q", out)
	}
	table := d.must("stats", "--no-stream")
	if !strings.Contains(table, "CONTAINER ID") || !strings.Contains(table, "busy") || !strings.Contains(table, "idle") || strings.Contains(table, "stopped") {
		t.Errorf("stats --no-stream:\n%s", table)
	}
	if all := d.must("stats", "--no-stream", "-a", "--no-trunc", "--format", "{{.ID}} {{.Name}}"); !strings.Contains(all, "stopped") || len(strings.Fields(all)[0]) != 64 {
		t.Errorf("stats -a --no-trunc:\n%s", all)
	}
	// The API: one sample has a CPU base; a stream sends one a second.
	resp, err := d.httpClient().Get("http://petrel/containers/busy/stats?stream=false")
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		CPU struct {
			Usage struct {
				Total uint64 `json:"total_usage"`
			} `json:"cpu_usage"`
			System uint64 `json:"system_cpu_usage"`
		} `json:"cpu_stats"`
		PreCPU struct {
			System uint64 `json:"system_cpu_usage"`
		} `json:"precpu_stats"`
		Memory struct {
			Limit uint64 `json:"limit"`
		} `json:"memory_stats"`
		Name string `json:"name"`
	}
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	if s.CPU.Usage.Total == 0 || s.CPU.System <= s.PreCPU.System || s.PreCPU.System == 0 || s.Memory.Limit != 64<<20 || s.Name != "/busy" {
		t.Errorf("stats?stream=false: %+v", s)
	}
	resp, err = d.httpClient().Get("http://petrel/containers/idle/stats")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(resp.Body)
	for i := 0; i < 2; i++ {
		var v map[string]any
		if err := dec.Decode(&v); err != nil || v["read"] == nil {
			t.Fatalf("stream sample %d: %v %v", i, v, err)
		}
	}
	resp.Body.Close()
	// The streaming table redraws itself.
	r := d.stream("stats", "--format", "{{.Name}}", "idle")
	for i := 0; i < 2; i++ {
		if line, err := r.ReadString('\n'); err != nil || strings.TrimSpace(line) != "idle" {
			t.Fatalf("stats stream line %d: %q %v", i, line, err)
		}
	}
	d.fails("No such container: nosuch", "stats", "--no-stream", "nosuch")
	d.fails("unknown field", "stats", "--no-stream", "--format", "table {{.Bogus}}")
	// The stock docker client computes its figures from ours.
	docker := "/usr/bin/docker"
	if _, err := os.Stat(docker); err != nil {
		docker = testenv.LookPath(t, "docker")
	}
	cmd := exec.Command(docker, "-H", "unix://"+d.sock, "stats", "--no-stream", "busy")
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	dout, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(dout), "busy") || !strings.Contains(string(dout), "/ 64MiB") || strings.Contains(string(dout), " 0.00% ") {
		t.Errorf("docker stats --no-stream: %v\n%s", err, dout)
	}
}

func TestUpdate(t *testing.T) {
	d := startDaemon(t)
	id := d.must(d.runArgs("-d", "--name", "lim", "-m", "64m", "--cpus", "1", "none", "sleep", "1000")...)
	mem := func() string { return cgroupFile(t, id, "memory/memory.limit_in_bytes", "memory.max") }
	pids := func() string { return cgroupFile(t, id, "pids/pids.max", "pids.max") }
	quota := func() string {
		q := cgroupFile(t, id, "cpu/cpu.cfs_quota_us", "cpu.max")
		return strings.Fields(q)[0]
	}
	if out := d.must("update", "-m", "128m", "--pids-limit", "20", "--cpus", "0.5", "--restart", "on-failure:3", "lim"); out != "lim" {
		t.Errorf("update printed %q", out)
	}
	if mem() != "134217728" || pids() != "20" || quota() != "50000" {
		t.Errorf("live limits: memory %s, pids %s, quota %s", mem(), pids(), quota())
	}
	check := func(when string) {
		t.Helper()
		got := d.inspect("lim", ".HostConfig.Memory") + " " + d.inspect("lim", ".HostConfig.PidsLimit") + " " +
			d.inspect("lim", ".HostConfig.NanoCpus") + " " + d.inspect("lim", ".HostConfig.RestartPolicy.Name") + ":" +
			d.inspect("lim", ".HostConfig.RestartPolicy.MaximumRetryCount")
		if got != "134217728 20 500000000 on-failure:3" {
			t.Errorf("%s: host config %q", when, got)
		}
	}
	check("after update")
	// Bad values change nothing.
	d.fails("Minimum memory limit allowed is 6MB", "update", "-m", "1k", "lim")
	d.fails("Conflicting options", "update", "--cpu-quota", "10000", "lim")
	d.fails("Range of blkio weight", "update", "--blkio-weight", "5", "lim")
	d.fails("invalid restart policy", "update", "--restart", "sometimes", "lim")
	d.fails("cpuset-cpus", "update", "--cpuset-cpus", "3-1", "lim")
	d.fails("you must provide one or more flags", "update", "lim")
	d.fails("No such container: nosuch", "update", "-m", "64m", "nosuch")
	d.fails("invalid size", "update", "-m", "lots", "lim")
	if mem() != "134217728" || pids() != "20" || quota() != "50000" {
		t.Errorf("limits after refused updates: memory %s, pids %s, quota %s", mem(), pids(), quota())
	}
	check("after refused updates")
	// Kept over a restart of the container and of the daemon.
	d.must("restart", "-t", "0", "lim")
	if mem() != "134217728" || pids() != "20" {
		t.Errorf("after restart: memory %s, pids %s", mem(), pids())
	}
	d.restartWith("")
	check("after a daemon restart")
	// A stopped container takes the update at its next start.
	d.must("stop", "-t", "0", "lim")
	d.must("update", "--pids-limit", "30", "lim")
	d.must("start", "lim")
	if pids() != "30" {
		t.Errorf("update of a stopped container: pids %s", pids())
	}
	// CFS period and quota, cpuset, shares and block I/O weight.
	id2 := d.must(d.runArgs("-d", "--name", "cfs", "none", "sleep", "1000")...)
	d.must("update", "--cpu-period", "50000", "--cpu-quota", "25000", "--cpuset-cpus", "0", "--cpu-shares", "512", "--blkio-weight", "300", "cfs")
	if _, err := os.Stat("/sys/fs/cgroup/cpu/petrel/" + id2); err == nil {
		if got := cgroupFile(t, id2, "cpu/cpu.cfs_quota_us", "") + " " + cgroupFile(t, id2, "cpu/cpu.cfs_period_us", "") + " " +
			cgroupFile(t, id2, "cpu/cpu.shares", ""); got != "25000 50000 512" {
			t.Errorf("cgroup v1 quota, period, shares: %s", got)
		}
	} else if got := cgroupFile(t, id2, "", "cpu.max"); got != "25000 50000" {
		t.Errorf("cgroup v2 cpu.max: %s", got)
	}
	if got := cgroupFile(t, id2, "cpuset/cpuset.cpus", "cpuset.cpus"); got != "0" {
		t.Errorf("cpuset.cpus: %s", got)
	}
	if got := d.inspect("cfs", ".HostConfig.BlkioWeight") + " " + d.inspect("cfs", ".HostConfig.CpuShares"); got != "300 512" {
		t.Errorf("host config blkio weight and shares: %s", got)
	}
	// --rm containers keep no restart policy.
	d.must(d.runArgs("-d", "--rm", "--name", "tmp", "none", "sleep", "1000")...)
	d.fails("AutoRemove", "update", "--restart", "always", "tmp")
}

func TestVolumes(t *testing.T) {
	d := startDaemon(t)
	if out := d.must("volume", "create", "--label", "app=web", "data"); out != "data" {
		t.Errorf("volume create printed %q", out)
	}
	mp := d.must("volume", "inspect", "--format", "{{.Mountpoint}}", "data")
	if mp != filepath.Join(d.root, "volumes", "data", "_data") {
		t.Errorf("mountpoint %s", mp)
	}
	d.must(d.runArgs("--rm", "-v", "data:/data", "none", "sh", "-c", "echo one > /data/f")...)
	if out := d.must(d.runArgs("--rm", "-v", "data:/data:ro", "none", "sh", "-c", "cat /data/f; touch /data/g 2>/dev/null || echo read-only")...); out != "one\nread-only" {
		t.Errorf("second container on the volume: %q", out)
	}
	// A volume named at run is made; one in use, even by a stopped container, stays.
	d.must(d.runArgs("--name", "user", "-v", "made:/m", "none", "true")...)
	if out := d.must("volume", "ls", "-q"); out != "data\nmade" {
		t.Errorf("volume ls -q: %q", out)
	}
	if out := d.must("volume", "ls", "-q", "--filter", "label=app=web"); out != "data" {
		t.Errorf("volume ls --filter label: %q", out)
	}
	if out := d.must("volume", "ls", "-q", "--filter", "dangling=true"); out != "data" {
		t.Errorf("volume ls --filter dangling: %q", out)
	}
	d.fails("volume is in use", "volume", "rm", "made")
	if _, err := os.Stat(filepath.Join(d.root, "volumes", "made", "_data")); err != nil {
		t.Errorf("the refused rm removed the volume: %v", err)
	}
	if mounts := d.inspect("user", "json .Mounts"); !strings.Contains(mounts, `"Name":"made"`) || !strings.Contains(mounts, `"Destination":"/m"`) {
		t.Errorf("inspect .Mounts: %s", mounts)
	}
	d.must("rm", "user")
	d.must("volume", "rm", "made")
	d.fails("no such volume", "volume", "rm", "made")
	d.must("volume", "rm", "-f", "made")
	// --mount: an anonymous volume goes with rm -v; bind and tmpfs.
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "h"), []byte("host file"), 0o644)
	d.must(d.runArgs("--name", "anon", "--mount", "type=volume,target=/anon", "--mount", "type=bind,source="+host+",target=/host,readonly",
		"--mount", "type=tmpfs,target=/t,tmpfs-size=1m", "none", "sh", "-c",
		"cat /host/h; echo; touch /host/x 2>/dev/null || echo ro; grep -c ' /t tmpfs .*size=1024k' /proc/mounts; echo a > /anon/a")...)
	if n := len(strings.Fields(d.must("volume", "ls", "-q"))); n != 2 {
		t.Errorf("%d volumes, want data and the anonymous one", n)
	}
	logs := d.must("logs", "anon")
	if logs != "host file\nro\n1" {
		t.Errorf("--mount container printed %q", logs)
	}
	d.must("rm", "-v", "anon")
	if out := d.must("volume", "ls", "-q"); out != "data" {
		t.Errorf("after rm -v: %q", out)
	}
	// -v with a host path, created when missing.
	missing := filepath.Join(host, "new", "dir")
	d.must(d.runArgs("--rm", "-v", missing+":/n:rw,z", "none", "touch", "/n/made")...)
	if _, err := os.Stat(filepath.Join(missing, "made")); err != nil {
		t.Errorf("-v host path: %v", err)
	}
	// A new volume starts with what the container has at its mount point
	// (unless nocopy), on its first mount only.
	if out := d.must(d.runArgs("--rm", "-v", "seeded:/etc", "none", "sh", "-c", "grep -c ^root: /etc/passwd; rm /etc/passwd")...); out != "1" {
		t.Errorf("copy into a new volume: %q", out)
	}
	if out := d.must(d.runArgs("--rm", "-v", "seeded:/etc", "none", "sh", "-c", "test -e /etc/passwd && echo again || echo once")...); out != "once" {
		t.Errorf("second mount of the volume: %q", out)
	}
	if out := d.must(d.runArgs("--rm", "--mount", "type=volume,source=bare,target=/etc,volume-nocopy", "none", "sh", "-c", "test -e /etc/passwd && echo copied || echo empty")...); out != "empty" {
		t.Errorf("volume-nocopy: %q", out)
	}
	d.must("volume", "rm", "seeded", "bare")
	// Bad specifications: a clear error, no container, no volume.
	for _, tc := range []struct {
		want string
		args []string
	}{
		{"invalid characters", []string{"-v", "b@d:/x"}},
		{"invalid mode: fast", []string{"-v", "data:/x:fast"}},
		{"must be absolute", []string{"-v", "data:rel"}},
		{"Duplicate mount point: /x", []string{"-v", "v1:/x", "--tmpfs", "/x"}},
		{"bind source path does not exist", []string{"--mount", "type=bind,source=/nonexistent-petrel,target=/x"}},
		{"field Source must not be empty", []string{"--mount", "type=bind,target=/x"}},
		{"target is required", []string{"--mount", "type=volume,source=v2"}},
		{"unexpected key 'size'", []string{"--mount", "type=tmpfs,target=/x,size=1m"}},
		{"mount type unknown", []string{"--mount", "type=npipe,target=/x"}},
	} {
		d.fails(tc.want, append(d.runArgs(tc.args...), "none", "true")...)
	}
	if out := d.must("ps", "-aq"); out != "" {
		t.Errorf("refused runs left containers: %q", out)
	}
	if out := d.must("volume", "ls", "-q"); out != "data" {
		t.Errorf("refused runs left volumes: %q", out)
	}
	d.fails("invalid characters", "volume", "create", "-")
	d.fails("not supported", "volume", "create", "-d", "nfs", "v3")
	d.fails("not supported yet: type", "volume", "create", "-o", "type=tmpfs", "v3")
	d.fails("no such volume", "volume", "inspect", "nosuch")
	if out := d.must("volume", "prune", "-f"); !strings.Contains(out, "data") {
		t.Errorf("volume prune: %q", out)
	}
	// The API shape the docker client reads.
	resp, err := d.httpClient().Get("http://petrel/v1.41/volumes")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"Volumes":[]`) || !strings.Contains(string(body), `"Warnings":[]`) {
		t.Errorf("GET /volumes: %d %s", resp.StatusCode, body)
	}
}

func TestInit(t *testing.T) {
	d := startDaemon(t)
	// PID 1 is petrel-init; the command's status comes through.
	out, _, code := d.petrel(d.runArgs("--rm", "--init", "none", "sh", "-c", "cat /proc/1/comm; exit 7")...)
	if code != 7 || out != "petrel-init\n" {
		t.Errorf("--init: exit %d, %q", code, out)
	}
	// Orphans are reaped: no zombie is left behind.
	out = d.must(d.runArgs("--rm", "--init", "none", "sh", "-c",
		"sh -c 'sleep 0.2 & exit 0'; sleep 0.5; ps -o stat,comm | grep -c '^Z' || true")...)
	if out != "0" {
		t.Errorf("zombies with --init: %q", out)
	}
	// stop's signal reaches the command through the init.
	d.must(d.runArgs("-d", "--init", "--name", "trap", "none", "sh", "-c", "trap 'exit 3' TERM; touch /tmp/trap; while :; do sleep 0.1; done")...)
	d.waitFor("the trap", func() bool { _, _, c := d.petrel("exec", "trap", "test", "-e", "/tmp/trap"); return c == 0 })
	d.must("stop", "-t", "30", "trap")
	if code := d.inspect("trap", ".State.ExitCode"); code != "3" {
		t.Errorf("exit code after stop: %s, want the trap's 3", code)
	}
	// Without --init, the command is PID 1; daemon.json init makes it the default.
	if out := d.must(d.runArgs("--rm", "none", "cat", "/proc/1/comm")...); out != "cat" {
		t.Errorf("without --init PID 1 is %q", out)
	}
	d.restartWith(`{"init": true}`)
	if out := d.must(d.runArgs("--rm", "none", "cat", "/proc/1/comm")...); out != "petrel-init" {
		t.Errorf("daemon.json init: PID 1 is %q", out)
	}
	if out := d.must(d.runArgs("--rm", "--init=false", "none", "cat", "/proc/1/comm")...); out != "cat" {
		t.Errorf("--init=false: PID 1 is %q", out)
	}
}

func TestSeccompDefault(t *testing.T) {
	d := startDaemon(t)
	mode := func(flags ...string) string {
		t.Helper()
		args := append(d.runArgs(append([]string{"--rm"}, flags...)...), "none", "sh", "-c", "grep '^Seccomp:' /proc/self/status")
		return strings.Join(strings.Fields(d.must(args...)), " ")
	}
	if m := mode(); m != "Seccomp: 2" {
		t.Errorf("default: %s, want a filter", m)
	}
	for _, flags := range [][]string{{"--security-opt", "seccomp=unconfined"}, {"--privileged"}} {
		if m := mode(flags...); m != "Seccomp: 0" {
			t.Errorf("%v: %s, want no filter", flags, m)
		}
	}
	// The default profile refuses what Docker's refuses: a new user
	// namespace (clone/unshare with namespace flags).
	if out, _, code := d.petrel(d.runArgs("--rm", "none", "unshare", "-U", "true")...); code == 0 {
		t.Errorf("unshare -U under the default profile succeeded: %q", out)
	}
	d.must(d.runArgs("--rm", "--security-opt", "seccomp=unconfined", "none", "unshare", "-U", "true")...)
	// A profile file replaces the default.
	prof := filepath.Join(t.TempDir(), "p.json")
	os.WriteFile(prof, []byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`), 0o644)
	if out, _, code := d.petrel(d.runArgs("--rm", "--security-opt", "seccomp="+prof, "none", "mkdir", "/tmp/x")...); code == 0 {
		t.Errorf("mkdir under a profile that refuses it: %q", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"defaultAction":"SCMP_ACT_SOMETIMES"}`), 0o644)
	d.fails("seccomp", append(d.runArgs("--security-opt", "seccomp="+bad), "none", "true")...)
	d.fails("opening seccomp profile", append(d.runArgs("--security-opt", "seccomp=/nonexistent.json"), "none", "true")...)
}

// cp and volumes on an image container: the writable layer, and a new
// volume filled from the image.
func TestCpAndVolumesOnImage(t *testing.T) {
	d := startDaemon(t)
	reg := testreg.Start(t, "", "")
	reg.Push(t, "bb", "1", testImage())
	name := reg.Host + "/bb:1"
	d.must("pull", "-q", name)
	d.must("create", "--name", "img", "-v", "srvdata:/srv", name, "sh", "-c", "cat /srv/greeting /srv/added")
	// Into the stopped container's writable layer, read back once it runs.
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "added"), []byte("added by cp\n"), 0o644)
	d.must("cp", filepath.Join(host, "added"), "img:/srv/added")
	d.must("start", "-a", "img")
	if out := d.must("logs", "img"); out != "hello from a layer\nadded by cp" {
		t.Errorf("image container with a copied file: %q", out)
	}
	// The volume started with the image's /srv; cp reads it back.
	out := d.must("cp", "img:/srv/greeting", "-")
	if !strings.Contains(out, "hello from a layer") {
		t.Errorf("cp from the image's volume: %q", out)
	}
	d.must("cp", "img:/bin/busybox", filepath.Join(host, "bb"))
	if fi, err := os.Stat(filepath.Join(host, "bb")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("cp of an image's file: %v %v", fi, err)
	}
}

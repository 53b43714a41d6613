package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// setup holds what every engine's set-up needs.
type setup struct {
	work    string // the benchmark's work directory
	rootfs  string // busybox root filesystem, packed as archive
	archive string // the busybox image as a docker-archive
	paths   map[string]string
	tag     string // unique per run: cgroup parents, namespaces
	network bool   // give each engine a default network of its own
}

// image is the tag of the busybox image docker and podman load.
const image = "localhost/enginebench/busybox:latest"

// newEngine starts the named engine with private directories under
// s.work; on error, what it started is already stopped.
func newEngine(name string, s setup) (*engine, error) {
	e := &engine{name: name, dir: filepath.Join(s.work, name)}
	if err := os.MkdirAll(e.dir, 0o700); err != nil {
		return nil, err
	}
	var err error
	switch name {
	case "petrel":
		err = e.startPetrel(s)
	case "docker":
		err = e.startDocker(s)
	case "podman":
		err = e.startPodman(s)
	default:
		err = fmt.Errorf("unknown engine %q (petrel, docker, podman)", name)
	}
	if err != nil {
		e.close()
		return nil, err
	}
	return e, nil
}

func lookPath(name, pkg string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("not installed (apt-get install %s): %w", pkg, err)
	}
	return filepath.Abs(p)
}

// startPetrel runs petreld on its own root, state and socket and loads
// the busybox image.
func (e *engine) startPetrel(s setup) error {
	bin, err := exec.LookPath(s.paths["petrel"])
	if err != nil {
		return fmt.Errorf("not built (%s: %w; run make build)", s.paths["petrel"], err)
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return err
	}
	sock := filepath.Join(e.dir, "p.sock")
	conf := filepath.Join(e.dir, "daemon.json")
	dconf := fmt.Sprintf("{\"cgroup-parent\": %q}\n", "/"+s.tag+"-petrel")
	var bridge string
	if s.network {
		subnet, err := freeSubnet(0)
		if err != nil {
			return err
		}
		bridge = fmt.Sprintf("ebp%d", os.Getpid())
		e.teardown = append(e.teardown, func() {
			exec.Command("ip", "link", "del", bridge).Run()
			removeMasquerade(bridge)
		})
		dconf = fmt.Sprintf("{\"cgroup-parent\": %q, \"cni-conf-dir\": %q, \"default-network-subnet\": %q, \"default-network-bridge\": %q}\n",
			"/"+s.tag+"-petrel", filepath.Join(e.dir, "net.d"), subnet, bridge)
	}
	if err := os.WriteFile(conf, []byte(dconf), 0o644); err != nil {
		return err
	}
	d, err := startDaemon(filepath.Join(e.dir, "petreld.log"), bin, nil,
		"daemon", "--config-file", conf, "--graph", filepath.Join(e.dir, "root"),
		"--state", filepath.Join(e.dir, "state"), "-H", "unix://"+sock)
	if err != nil {
		return err
	}
	e.teardown = append(e.teardown, func() { removeCgroup(s.tag + "-petrel") }, func() { killUnder(e.dir) }, d.stop, e.removeAll)
	e.daemons = append(e.daemons, d)
	if err := d.waitReady("/_ping", func() bool { return ping(sock) }); err != nil {
		return err
	}
	e.cli, e.global = bin, []string{"-H", "unix://" + sock}
	e.opts = []string{"--network", "none"}
	if s.network {
		e.netOpts = []string{}
	}
	e.image = image
	if _, err := e.must("load", "--input", s.archive); err != nil {
		return err
	}
	state := filepath.Join(e.dir, "state")
	e.hostProc = func(argv []string) bool { return filepath.Base(argv[0]) == "petrel-shim" && argUnder(argv, state) }
	e.spareProcs = 1 // petrel-shim --spare STATE, once containers have started
	// petrel version has no --format: the server's "Version:" line.
	e.version = "unknown"
	if out, err := e.must("version"); err == nil {
		_, srv, _ := strings.Cut(out, "Server:")
		for l := range strings.Lines(srv) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Version:"); ok {
				e.version = strings.TrimSpace(v)
			}
		}
	}
	return nil
}

// ping reports whether petreld answers /_ping on sock.
func ping(sock string) bool {
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://petrel/_ping")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// startDocker runs Debian's containerd and dockerd on their own roots,
// states and sockets, with no bridge and no iptables rules, and loads the
// busybox image.
func (e *engine) startDocker(s setup) error {
	dockerd, err := lookPath("dockerd", "docker.io")
	if err != nil {
		return err
	}
	containerd, err := lookPath("containerd", "containerd")
	if err != nil {
		return err
	}
	if _, err := lookPath("containerd-shim-runc-v2", "containerd"); err != nil {
		return err
	}
	cli := s.paths["docker"]
	if cli == "" {
		// Debian's client, released with its dockerd; a newer one in
		// PATH negotiates the API version as well.
		cli = "/usr/bin/docker"
		if _, err := os.Stat(cli); err != nil {
			cli = "docker"
		}
	}
	if e.cli, err = lookPath(cli, "docker.io"); err != nil {
		return err
	}
	csock := filepath.Join(e.dir, "containerd.sock")
	conf := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(e.dir, "containerd/root"), filepath.Join(e.dir, "containerd/state"), csock, csock+".ttrpc", filepath.Join(e.dir, "containerd/opt"))
	confPath := filepath.Join(e.dir, "containerd.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return err
	}
	e.teardown = append(e.teardown, func() { unmountUnder(e.dir) }, func() { removeCgroup(s.tag + "-docker") }, func() { killUnder(csock) })
	cd, err := startDaemon(filepath.Join(e.dir, "containerd.log"), containerd, nil, "--config", confPath)
	if err != nil {
		return err
	}
	e.teardown = append(e.teardown, cd.stop)
	e.daemons = append(e.daemons, cd)
	if err := cd.waitReady("socket "+csock, func() bool { return dialable(csock) }); err != nil {
		return err
	}
	sock := filepath.Join(e.dir, "docker.sock")
	// With -network, a bridge of its own (dockerd does not make one it is
	// given); iptables stays off either way: without published ports
	// dockerd adds no per-container rules, so the host's tables stay as
	// they are.
	bridge := "none"
	if s.network {
		subnet, err := freeSubnet(1)
		if err != nil {
			return err
		}
		bridge = fmt.Sprintf("ebd%d", os.Getpid())
		e.teardown = append(e.teardown, func() { exec.Command("ip", "link", "del", bridge).Run() })
		gw := strings.TrimSuffix(subnet, "0/24") + "1/24"
		for _, args := range [][]string{{"link", "add", bridge, "type", "bridge"}, {"addr", "add", gw, "dev", bridge}, {"link", "set", bridge, "up"}} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
	}
	// dockerd 20.10 writes a trust key, by default to /etc/docker/key.json.
	dconf := fmt.Sprintf("{\"deprecated-key-path\": %q}\n", filepath.Join(e.dir, "key.json"))
	if err := os.WriteFile(filepath.Join(e.dir, "daemon.json"), []byte(dconf), 0o644); err != nil {
		return err
	}
	dd, err := startDaemon(filepath.Join(e.dir, "dockerd.log"), dockerd, nil,
		"--host", "unix://"+sock,
		"--containerd", csock,
		"--containerd-namespace", s.tag+"-moby",
		"--containerd-plugins-namespace", s.tag+"-plugins",
		"--data-root", filepath.Join(e.dir, "docker"),
		"--exec-root", filepath.Join(e.dir, "exec"),
		"--pidfile", filepath.Join(e.dir, "docker.pid"),
		"--config-file", filepath.Join(e.dir, "daemon.json"),
		"--cgroup-parent", "/"+s.tag+"-docker",
		// No bridge, no iptables rules: the host's network stays as it is.
		"--bridge", bridge, "--iptables=false", "--ip-masq=false",
	)
	if err != nil {
		return err
	}
	e.teardown = append(e.teardown, dd.stop, e.removeAll)
	e.daemons = append(e.daemons, dd)
	if err := dd.waitReady("socket "+sock, func() bool { return dialable(sock) }); err != nil {
		return err
	}
	e.env = []string{"DOCKER_HOST=unix://" + sock, "DOCKER_CONFIG=" + filepath.Join(e.dir, "cli")}
	e.opts = []string{"--network", "none"}
	if s.network {
		e.netOpts = []string{}
	}
	e.image = image
	e.hostProc = func(argv []string) bool {
		return filepath.Base(argv[0]) == "containerd-shim-runc-v2" && slices.Contains(argv, csock)
	}
	if _, err := e.must("load", "--input", s.archive); err != nil {
		return err
	}
	e.version = versionOf(e, "{{.Server.Version}}")
	return nil
}

// startPodman gives podman its own storage, run root, network config and
// cgroup parent, and loads the busybox image. Root lacks CAP_SYS_RESOURCE
// on some hosts, so podman's default rlimits (1048576 open files and
// processes) are lowered; there is no systemd.
func (e *engine) startPodman(s setup) error {
	bin, err := lookPath(s.paths["podman"], "podman")
	if err != nil {
		return err
	}
	if _, err := lookPath("conmon", "conmon"); err != nil {
		return err
	}
	e.cli = bin
	conf := `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
`
	storage := fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n",
		filepath.Join(e.dir, "root"), filepath.Join(e.dir, "runroot"))
	for name, text := range map[string]string{"containers.conf": conf, "storage.conf": storage} {
		if err := os.WriteFile(filepath.Join(e.dir, name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	e.env = []string{
		"CONTAINERS_CONF=" + filepath.Join(e.dir, "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(e.dir, "storage.conf"),
	}
	e.global = []string{
		"--root", filepath.Join(e.dir, "root"),
		"--runroot", filepath.Join(e.dir, "runroot"),
		"--tmpdir", filepath.Join(e.dir, "tmp"),
		"--network-config-dir", filepath.Join(e.dir, "net"),
	}
	e.opts = []string{"--network", "none", "--cgroup-parent", "/" + s.tag + "-podman"}
	if s.network {
		// podman's default network, podman (10.88.0.0/16), shared with
		// the host's podman.
		e.netOpts = []string{"--cgroup-parent", "/" + s.tag + "-podman"}
	}
	e.image = image
	runroot := filepath.Join(e.dir, "runroot")
	e.hostProc = func(argv []string) bool { return filepath.Base(argv[0]) == "conmon" && argUnder(argv, runroot) }
	e.teardown = append(e.teardown, func() { unmountUnder(e.dir) }, func() { removeCgroup(s.tag + "-podman") }, func() { killUnder(e.dir) }, e.removeAll)
	if _, err := e.must("load", "--input", s.archive); err != nil {
		return err
	}
	e.version = versionOf(e, "{{.Client.Version}}")
	return nil
}

// versionOf returns the engine's version through `version --format`.
func versionOf(e *engine, format string) string {
	out, err := e.must("version", "--format", format)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(out)
}

// freeSubnet picks a 10.2xx.y.0/24 that no address of the host is in.
func freeSubnet(salt int) (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	seed := os.Getpid() + salt*4099
	for i := range 500 {
		n := (seed + i*7919) % (50 * 256)
		_, s, _ := net.ParseCIDR(fmt.Sprintf("10.%d.%d.0/24", 200+n/256, n%256))
		free := true
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (s.Contains(ipn.IP) || ipn.Contains(s.IP)) {
				free = false
			}
		}
		if free {
			return s.String(), nil
		}
	}
	return "", fmt.Errorf("no free 10.200-249.x.0/24 subnet")
}

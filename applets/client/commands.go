package client

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/petrel-edge/petrel/core/api"
)

// createFlags are the flags of create and run.
type createFlags struct {
	name, workdir, user, entrypoint, rootfs, restart, runtime, hostname string
	network, stopSignal, logDriver                                      string
	stopTimeout                                                         int
	env, envFiles, labels, logOpts                                      []string
	tty, stdin, rm, readOnly, privileged                                bool
	entrypointSet, stopTimeoutSet                                       bool
	healthCmd                                                           string
	healthInterval, healthTimeout, healthStart                          time.Duration
	healthRetries                                                       int
	noHealth                                                            bool
	volumes, tmpfs, ulimits, devices, capAdd, capDrop, secOpts, sysctls []string
	memory, memorySwap, memoryReservation, shmSize                      int64
	cpus                                                                float64
	cpuShares, pidsLimit                                                int64
	cpusetCpus, cpusetMems                                              string
	pidsLimitSet                                                        bool
	platform, pull                                                      string
	mounts                                                              []string
	init, initSet                                                       bool
	netFlags
}

func (cf *createFlags) register(f *flagSet) {
	f.String(&cf.name, "name", "", "assign a name to the container")
	f.List(&cf.env, "env", "e", "set an environment variable (KEY=value, or KEY to pass it on)")
	f.List(&cf.envFiles, "env-file", "", "read environment variables from a file")
	f.String(&cf.workdir, "workdir", "w", "working directory inside the container")
	f.String(&cf.user, "user", "u", "user name or uid[:gid]")
	f.Func("entrypoint", "", "overwrite the image's entrypoint", func(v string) error {
		cf.entrypoint, cf.entrypointSet = v, true
		return nil
	})
	f.String(&cf.rootfs, "external-rootfs", "", "run from this root filesystem directory instead of an image")
	f.String(&cf.restart, "restart", "", "restart policy: no, always, unless-stopped, on-failure[:max-retries]")
	f.String(&cf.runtime, "runtime", "", "runtime: lcr (built in), runc, crun or one from daemon.json")
	f.String(&cf.hostname, "hostname", "h", "container host name")
	f.String(&cf.network, "network", "", "network: "+DefaultNetworkHelp+", none, host, container:<name|id> or a network's name")
	cf.netFlags.register(f)
	f.String(&cf.stopSignal, "stop-signal", "", "signal that stops the container (default SIGTERM)")
	f.Func("stop-timeout", "", "seconds to wait after the stop signal before SIGKILL", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("invalid number %q", v)
		}
		cf.stopTimeout, cf.stopTimeoutSet = n, true
		return nil
	})
	f.List(&cf.labels, "label", "l", "set a label (key=value)")
	f.String(&cf.logDriver, "log-driver", "", "log driver: json-file or none")
	f.List(&cf.logOpts, "log-opt", "", "log driver option: max-size=10m, max-file=3")
	f.Bool(&cf.tty, "tty", "t", "allocate a terminal")
	f.Bool(&cf.stdin, "interactive", "i", "keep stdin open")
	f.Bool(&cf.rm, "rm", "", "remove the container when it exits")
	f.Bool(&cf.readOnly, "read-only", "", "mount the root filesystem read-only")
	f.String(&cf.healthCmd, "health-cmd", "", "command to run to check health (in a shell)")
	for _, d := range []struct {
		name string
		p    *time.Duration
		help string
	}{
		{"health-interval", &cf.healthInterval, "time between health checks (default 30s)"},
		{"health-timeout", &cf.healthTimeout, "maximum time one check may take (default 30s)"},
		{"health-start-period", &cf.healthStart, "start period during which failures do not count"},
	} {
		p := d.p
		f.Func(d.name, "", d.help, func(v string) error {
			dur, err := time.ParseDuration(v)
			if err != nil || dur < 0 {
				return fmt.Errorf("invalid duration %q", v)
			}
			*p = dur
			return nil
		})
	}
	f.Int(&cf.healthRetries, "health-retries", "", "consecutive failures needed to report unhealthy (default 3)")
	f.Bool(&cf.noHealth, "no-healthcheck", "", "disable any health check")
	f.List(&cf.volumes, "volume", "v", "bind mount a host path or a named volume: /host:/container[:ro] or NAME:/container[:ro]")
	f.List(&cf.mounts, "mount", "", "mount: type=bind|volume|tmpfs,source=,target=[,readonly][,tmpfs-size=]")
	f.add("init", "", "run an init (petrel-init) as PID 1 that forwards signals and reaps zombies", true, func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("invalid boolean %q", v)
		}
		cf.init, cf.initSet = b, true
		return nil
	})
	f.List(&cf.tmpfs, "tmpfs", "", "mount a tmpfs: /path[:options]")
	for _, sz := range []struct {
		long, short string
		p           *int64
		help        string
		minusOne    bool
	}{
		{"memory", "m", &cf.memory, "memory limit (e.g. 64m)", false},
		{"memory-swap", "", &cf.memorySwap, "memory plus swap limit, -1 for unlimited swap", true},
		{"memory-reservation", "", &cf.memoryReservation, "memory soft limit", false},
		{"shm-size", "", &cf.shmSize, "size of /dev/shm (default 64m)", false},
	} {
		sz := sz
		f.Func(sz.long, sz.short, sz.help, func(v string) error {
			if sz.minusOne && v == "-1" {
				*sz.p = -1
				return nil
			}
			n, err := parseSize(v)
			if err != nil {
				return err
			}
			*sz.p = n
			return nil
		})
	}
	f.Func("cpus", "", "number of CPUs (e.g. 0.5)", func(v string) error {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid number %q", v)
		}
		cf.cpus = n
		return nil
	})
	f.Func("cpu-shares", "c", "CPU shares (relative weight)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid number %q", v)
		}
		cf.cpuShares = n
		return nil
	})
	f.String(&cf.cpusetCpus, "cpuset-cpus", "", "CPUs the container may use (0-3, 0,1)")
	f.String(&cf.cpusetMems, "cpuset-mems", "", "memory nodes the container may use")
	f.Func("pids-limit", "", "process limit (-1 for unlimited)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid number %q", v)
		}
		cf.pidsLimit, cf.pidsLimitSet = n, true
		return nil
	})
	f.List(&cf.ulimits, "ulimit", "", "ulimit: name=soft[:hard]")
	f.List(&cf.devices, "device", "", "add a host device: /dev/host[:/dev/container[:rwm]]")
	f.List(&cf.capAdd, "cap-add", "", "add a capability")
	f.List(&cf.capDrop, "cap-drop", "", "drop a capability")
	f.Bool(&cf.privileged, "privileged", "", "give the container every capability and device access")
	f.List(&cf.secOpts, "security-opt", "", "no-new-privileges, seccomp=unconfined or seccomp=PROFILE.json")
	f.List(&cf.sysctls, "sysctl", "", "namespaced sysctl: key=value")
	f.String(&cf.platform, "platform", "", "use (and pull) the image for this platform (os/arch[/variant])")
	f.Func("pull", "", "pull the image before creating: missing (default), always or never", func(v string) error {
		if err := checkPullPolicy(v); err != nil {
			return err
		}
		cf.pull = v
		return nil
	})
}

// parseSize reads docker's sizes: 10, 10b, 10k, 10m, 10g (binary units).
func parseSize(v string) (int64, error) {
	t := strings.ToLower(v)
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'b':
			t = t[:n-1]
		case 'k':
			t, mult = t[:n-1], 1<<10
		case 'm':
			t, mult = t[:n-1], 1<<20
		case 'g':
			t, mult = t[:n-1], 1<<30
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("invalid size: %q", v)
	}
	return int64(f * float64(mult)), nil
}

// request turns the flags and IMAGE [COMMAND [ARG…]] into a create body.
func (cf *createFlags) request(args []string) (*api.CreateRequest, error) {
	req := &api.CreateRequest{}
	cfg := &req.Config
	cfg.Image = args[0]
	if len(args) > 1 {
		cfg.Cmd = args[1:]
	}
	if cf.entrypointSet {
		cfg.Entrypoint = []string{}
		if cf.entrypoint != "" {
			cfg.Entrypoint = []string{cf.entrypoint}
		}
	}
	for _, file := range cf.envFiles {
		vars, err := readEnvFile(file)
		if err != nil {
			return nil, err
		}
		cfg.Env = append(cfg.Env, vars...)
	}
	for _, e := range cf.env {
		if e == "" || strings.HasPrefix(e, "=") {
			return nil, fmt.Errorf("invalid environment variable: %q", e)
		}
		if !strings.Contains(e, "=") {
			v, ok := os.LookupEnv(e)
			if !ok {
				continue
			}
			e += "=" + v
		}
		cfg.Env = append(cfg.Env, e)
	}
	cfg.WorkingDir, cfg.User, cfg.Hostname = cf.workdir, cf.user, cf.hostname
	cfg.Tty, cfg.OpenStdin = cf.tty, cf.stdin
	cfg.StopSignal = cf.stopSignal
	if cf.stopTimeoutSet {
		n := cf.stopTimeout
		cfg.StopTimeout = &n
	}
	if len(cf.labels) > 0 {
		cfg.Labels = map[string]string{}
		for _, l := range cf.labels {
			k, v, _ := strings.Cut(l, "=")
			if k == "" {
				return nil, fmt.Errorf("invalid label %q", l)
			}
			cfg.Labels[k] = v
		}
	}
	switch {
	case cf.noHealth && cf.healthCmd != "":
		return nil, errors.New("--no-healthcheck conflicts with --health-cmd")
	case cf.noHealth:
		cfg.Healthcheck = &api.HealthConfig{Test: []string{"NONE"}}
	case cf.healthCmd != "":
		if cf.healthRetries < 0 {
			return nil, fmt.Errorf("--health-retries cannot be negative")
		}
		cfg.Healthcheck = &api.HealthConfig{Test: []string{"CMD-SHELL", cf.healthCmd}, Interval: cf.healthInterval,
			Timeout: cf.healthTimeout, StartPeriod: cf.healthStart, Retries: cf.healthRetries}
	case cf.healthInterval != 0 || cf.healthTimeout != 0 || cf.healthStart != 0 || cf.healthRetries != 0:
		// Options without a command tune the image's HEALTHCHECK.
		if cf.healthRetries < 0 {
			return nil, fmt.Errorf("--health-retries cannot be negative")
		}
		cfg.Healthcheck = &api.HealthConfig{Interval: cf.healthInterval, Timeout: cf.healthTimeout,
			StartPeriod: cf.healthStart, Retries: cf.healthRetries}
	}
	hc := &api.HostConfig{AutoRemove: cf.rm, Runtime: cf.runtime, ReadonlyRootfs: cf.readOnly, NetworkMode: cf.network,
		Binds: cf.volumes, CapAdd: cf.capAdd, CapDrop: cf.capDrop, Privileged: cf.privileged, ShmSize: cf.shmSize}
	if err := cf.netFlags.apply(cfg, hc); err != nil {
		return nil, err
	}
	hc.Memory, hc.MemorySwap, hc.MemoryReservation = cf.memory, cf.memorySwap, cf.memoryReservation
	hc.NanoCPUs = int64(cf.cpus * 1e9)
	hc.CPUShares, hc.CpusetCpus, hc.CpusetMems = cf.cpuShares, cf.cpusetCpus, cf.cpusetMems
	if cf.pidsLimitSet {
		hc.PidsLimit = &cf.pidsLimit
	}
	for _, v := range cf.volumes {
		if i := strings.IndexByte(v, ':'); i < 0 {
			return nil, fmt.Errorf("invalid volume %q: anonymous volumes with -v are not supported; use NAME:/container or --mount type=volume,target=%s", v, v)
		}
	}
	for _, m := range cf.mounts {
		mt, err := parseMountFlag(m)
		if err != nil {
			return nil, err
		}
		hc.Mounts = append(hc.Mounts, mt)
	}
	if cf.initSet {
		b := cf.init
		hc.Init = &b
	}
	for _, t := range cf.tmpfs {
		dst, opts, _ := strings.Cut(t, ":")
		if hc.Tmpfs == nil {
			hc.Tmpfs = map[string]string{}
		}
		hc.Tmpfs[dst] = opts
	}
	for _, u := range cf.ulimits {
		name, val, ok := strings.Cut(u, "=")
		soft, hard, hasHard := strings.Cut(val, ":")
		s, err1 := strconv.ParseInt(soft, 10, 64)
		h, err2 := s, error(nil)
		if hasHard {
			h, err2 = strconv.ParseInt(hard, 10, 64)
		}
		if !ok || name == "" || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("invalid ulimit %q: want name=soft[:hard]", u)
		}
		hc.Ulimits = append(hc.Ulimits, &api.Ulimit{Name: name, Soft: s, Hard: h})
	}
	for _, d := range cf.devices {
		parts := strings.Split(d, ":")
		dm := api.DeviceMapping{PathOnHost: parts[0], PathInContainer: parts[0], CgroupPermissions: "rwm"}
		switch len(parts) {
		case 1:
		case 2:
			if strings.Trim(parts[1], "rwm") == "" {
				dm.CgroupPermissions = parts[1]
			} else {
				dm.PathInContainer = parts[1]
			}
		case 3:
			dm.PathInContainer, dm.CgroupPermissions = parts[1], parts[2]
		default:
			return nil, fmt.Errorf("invalid device %q", d)
		}
		hc.Devices = append(hc.Devices, dm)
	}
	for _, o := range cf.secOpts {
		// As docker: a seccomp profile is sent as its content.
		if file, ok := strings.CutPrefix(o, "seccomp="); ok && file != "unconfined" {
			data, err := os.ReadFile(file)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %v", file, err)
			}
			o = "seccomp=" + string(data)
		}
		hc.SecurityOpt = append(hc.SecurityOpt, o)
	}
	for _, kv := range cf.sysctls {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid sysctl %q: want key=value", kv)
		}
		if hc.Sysctls == nil {
			hc.Sysctls = map[string]string{}
		}
		hc.Sysctls[k] = v
	}
	if cf.rootfs != "" {
		abs, err := filepath.Abs(cf.rootfs)
		if err != nil {
			return nil, err
		}
		hc.ExternalRootfs = abs
	}
	if cf.restart != "" {
		name, max, hasMax := strings.Cut(cf.restart, ":")
		hc.RestartPolicy.Name = name
		switch name {
		case "no", "always", "unless-stopped":
			if hasMax {
				return nil, fmt.Errorf("invalid restart policy %q: only on-failure takes a maximum retry count", cf.restart)
			}
		case "on-failure":
			if hasMax {
				n, err := strconv.Atoi(max)
				if err != nil || n < 0 {
					return nil, fmt.Errorf("invalid restart policy %q: maximum retry count must be a number", cf.restart)
				}
				hc.RestartPolicy.MaximumRetryCount = n
			}
		default:
			return nil, fmt.Errorf("invalid restart policy %q: use no, always, unless-stopped or on-failure[:N]", cf.restart)
		}
	}
	hc.LogConfig.Type = cf.logDriver
	for _, o := range cf.logOpts {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return nil, fmt.Errorf("invalid log-opt %q: want key=value", o)
		}
		if hc.LogConfig.Config == nil {
			hc.LogConfig.Config = map[string]string{}
		}
		hc.LogConfig.Config[k] = v
	}
	req.HostConfig = hc
	return req, nil
}

func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, "=") {
			if v, ok := os.LookupEnv(line); ok {
				out = append(out, line+"="+v)
			}
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
}

func (c *cli) create(req *api.CreateRequest, name string) (string, error) {
	q := url.Values{}
	if name != "" {
		q.Set("name", name)
	}
	var resp api.CreateResponse
	if err := c.call("POST", "/containers/create", q, req, &resp); err != nil {
		return "", err
	}
	for _, w := range resp.Warnings {
		fmt.Fprintln(c.stderr, "WARNING:", w)
	}
	return resp.ID, nil
}

func cmdCreate(c *cli, args []string) error {
	var cf createFlags
	f := newFlags("petrel create [OPTIONS] IMAGE [COMMAND] [ARG...]", false)
	cf.register(f)
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	req, err := cf.request(rest)
	if err != nil {
		return &usageError{err: err}
	}
	id, err := c.createPulling(req, cf.name, cf.platform, cf.pull)
	if err != nil {
		return &statusError{code: 125, msg: err.Error()}
	}
	fmt.Fprintln(c.stdout, id)
	return nil
}

func cmdRun(c *cli, args []string) error {
	var cf createFlags
	var detach bool
	f := newFlags("petrel run [OPTIONS] IMAGE [COMMAND] [ARG...]", false)
	cf.register(f)
	f.Bool(&detach, "detach", "d", "run in the background and print the container id")
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	req, err := cf.request(rest)
	if err != nil {
		return &usageError{err: err}
	}
	if h, w, ok := c.termSize(); ok && cf.tty {
		req.HostConfig.ConsoleSize = [2]uint{h, w}
	}
	if !detach {
		req.AttachStdout, req.AttachStderr = true, true
		req.AttachStdin = cf.stdin
		req.StdinOnce = cf.stdin
	}
	id, err := c.createPulling(req, cf.name, cf.platform, cf.pull)
	if err != nil {
		return &statusError{code: 125, msg: err.Error()}
	}
	if detach {
		if err := c.call("POST", "/containers/"+id+"/start", nil, nil, nil); err != nil {
			return &statusError{code: 125, msg: err.Error()}
		}
		fmt.Fprintln(c.stdout, id)
		return nil
	}
	return c.runAttached(id, cf.tty, cf.stdin, cf.rm)
}

// runAttached attaches, starts, streams and returns the exit code.
func (c *cli) runAttached(id string, tty, stdin, autoRemove bool) error {
	q := url.Values{"stream": {"1"}, "stdout": {"1"}, "stderr": {"1"}}
	if stdin {
		q.Set("stdin", "1")
	}
	conn, br, err := c.hijack("/containers/"+id+"/attach", q)
	if err != nil {
		return &statusError{code: 125, msg: err.Error()}
	}
	defer conn.Close()
	cond := "next-exit"
	if autoRemove {
		cond = "removed"
	}
	waitResp, err := c.do("POST", "/containers/"+id+"/wait", url.Values{"condition": {cond}}, nil)
	if err != nil {
		return &statusError{code: 125, msg: err.Error()}
	}
	defer waitResp.Body.Close()
	restore := func() {}
	if tty && stdin {
		restore = makeRaw(c.stdin)
	}
	defer restore()
	if err := c.call("POST", "/containers/"+id+"/start", nil, nil, nil); err != nil {
		return &statusError{code: 125, msg: err.Error()}
	}
	if tty {
		defer c.watchSize(id)()
	}
	if stdin {
		go func() {
			io.Copy(conn, c.stdin)
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
	if tty {
		io.Copy(c.stdout, br)
	} else {
		demux(br, c.stdout, c.stderr)
	}
	restore()
	var wr api.WaitResponse
	if err := json.NewDecoder(waitResp.Body).Decode(&wr); err != nil {
		return &statusError{code: 125, msg: "wait: " + err.Error()}
	}
	if wr.Error != nil && wr.Error.Message != "" {
		return &statusError{code: 125, msg: wr.Error.Message}
	}
	if wr.StatusCode != 0 {
		return &statusError{code: wr.StatusCode}
	}
	return nil
}

// demux splits Docker's multiplexed stream into stdout and stderr.
func demux(r io.Reader, stdout, stderr io.Writer) error {
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil
			}
			return err
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		w := stdout
		if hdr[0] == 2 {
			w = stderr
		}
		if _, err := io.CopyN(w, r, n); err != nil {
			return err
		}
	}
}

func cmdStart(c *cli, args []string) error {
	var attach, interactive bool
	f := newFlags("petrel start [OPTIONS] CONTAINER [CONTAINER...]", true)
	f.Bool(&attach, "attach", "a", "attach stdout/stderr and wait for the exit")
	f.Bool(&interactive, "interactive", "i", "attach stdin")
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	if attach || interactive {
		if len(rest) != 1 {
			return &usageError{err: errors.New("you cannot start and attach multiple containers at once")}
		}
		var j api.ContainerJSON
		if err := c.call("GET", "/containers/"+rest[0]+"/json", nil, nil, &j); err != nil {
			return err
		}
		return c.runAttached(j.ID, j.Config.Tty, interactive && j.Config.OpenStdin, false)
	}
	return c.forEach(rest, func(id string) error {
		return c.call("POST", "/containers/"+id+"/start", nil, nil, nil)
	})
}

func stopFlags(usage string) (*flagSet, *string, *string) {
	var timeout, signal string
	f := newFlags(usage, true)
	f.String(&timeout, "time", "t", "seconds to wait before killing the container")
	f.String(&signal, "signal", "s", "signal to send (default the container's stop signal)")
	return f, &timeout, &signal
}

func stopQuery(timeout, signal string) (url.Values, error) {
	q := url.Values{}
	if timeout != "" {
		if _, err := strconv.Atoi(timeout); err != nil {
			return nil, &usageError{err: fmt.Errorf("invalid argument %q for \"-t, --time\" flag: not a number", timeout)}
		}
		q.Set("t", timeout)
	}
	if signal != "" {
		q.Set("signal", signal)
	}
	return q, nil
}

func cmdStop(c *cli, args []string) error {
	f, timeout, signal := stopFlags("petrel stop [OPTIONS] CONTAINER [CONTAINER...]")
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	q, err := stopQuery(*timeout, *signal)
	if err != nil {
		return err
	}
	return c.forEach(rest, func(id string) error { return c.call("POST", "/containers/"+id+"/stop", q, nil, nil) })
}

func cmdRestart(c *cli, args []string) error {
	f, timeout, signal := stopFlags("petrel restart [OPTIONS] CONTAINER [CONTAINER...]")
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	q, err := stopQuery(*timeout, *signal)
	if err != nil {
		return err
	}
	return c.forEach(rest, func(id string) error { return c.call("POST", "/containers/"+id+"/restart", q, nil, nil) })
}

func cmdKill(c *cli, args []string) error {
	var signal string
	f := newFlags("petrel kill [OPTIONS] CONTAINER [CONTAINER...]", true)
	f.String(&signal, "signal", "s", "signal to send (default KILL)")
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	q := url.Values{}
	if signal != "" {
		q.Set("signal", signal)
	}
	return c.forEach(rest, func(id string) error { return c.call("POST", "/containers/"+id+"/kill", q, nil, nil) })
}

func cmdRm(c *cli, args []string) error {
	var force, volumes bool
	f := newFlags("petrel rm [OPTIONS] CONTAINER [CONTAINER...]", true)
	f.Bool(&force, "force", "f", "kill and remove a running container")
	f.Bool(&volumes, "volumes", "v", "remove the container's anonymous volumes")
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	if volumes {
		q.Set("v", "1")
	}
	return c.forEach(rest, func(id string) error { return c.call("DELETE", "/containers/"+id, q, nil, nil) })
}

func simple(usage, action string) func(c *cli, args []string) error {
	return func(c *cli, args []string) error {
		rest, err := c.parse(newFlags(usage, true), args, 1, -1)
		if err != nil {
			return err
		}
		return c.forEach(rest, func(id string) error { return c.call("POST", "/containers/"+id+"/"+action, nil, nil, nil) })
	}
}

func cmdPause(c *cli, args []string) error {
	return simple("petrel pause CONTAINER [CONTAINER...]", "pause")(c, args)
}

func cmdUnpause(c *cli, args []string) error {
	return simple("petrel unpause CONTAINER [CONTAINER...]", "unpause")(c, args)
}

func cmdRename(c *cli, args []string) error {
	rest, err := c.parse(newFlags("petrel rename CONTAINER NEW_NAME", true), args, 2, 2)
	if err != nil {
		return err
	}
	return c.call("POST", "/containers/"+rest[0]+"/rename", url.Values{"name": {rest[1]}}, nil, nil)
}

func cmdPs(c *cli, args []string) error {
	var all, quiet, noTrunc, latest bool
	var last int
	var filters []string
	f := newFlags("petrel ps [OPTIONS]", true)
	f.Bool(&all, "all", "a", "show all containers (default: running only)")
	f.Bool(&quiet, "quiet", "q", "only show ids")
	f.Bool(&noTrunc, "no-trunc", "", "do not truncate ids and commands")
	f.Bool(&latest, "latest", "l", "show the latest created container")
	f.Int(&last, "last", "n", "show the n last created containers")
	f.List(&filters, "filter", "f", "filter: status=, name=, id=, label=")
	var format string
	f.String(&format, "format", "", "print each container through a template: {{.ID}} {{.Names}} {{.Image}} {{.Command}} {{.Status}} {{.State}} {{.CreatedAt}} {{.Labels}}")
	if _, err := c.parse(f, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
	if all || last > 0 || latest {
		q.Set("all", "1")
	}
	if latest {
		last = 1
	}
	if last > 0 {
		q.Set("limit", strconv.Itoa(last))
	}
	if len(filters) > 0 {
		m := map[string][]string{}
		for _, fl := range filters {
			k, v, ok := strings.Cut(fl, "=")
			if !ok {
				return &usageError{err: fmt.Errorf("bad format of filter (expected name=value): %s", fl)}
			}
			m[k] = append(m[k], v)
		}
		data, _ := json.Marshal(m)
		q.Set("filters", string(data))
	}
	var list []api.Container
	if err := c.call("GET", "/containers/json", q, nil, &list); err != nil {
		return err
	}
	if format != "" && !quiet {
		for _, ct := range list {
			line, err := psFormat(format, ct, noTrunc)
			if err != nil {
				return &usageError{err: err}
			}
			fmt.Fprintln(c.stdout, line)
		}
		return nil
	}
	if quiet {
		for _, ct := range list {
			if noTrunc {
				fmt.Fprintln(c.stdout, ct.ID)
			} else {
				fmt.Fprintln(c.stdout, shortID(ct.ID))
			}
		}
		return nil
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
	for _, ct := range list {
		id, cmd := ct.ID, strconv.Quote(ct.Command)
		if !noTrunc {
			id = shortID(id)
			if len(ct.Command) > 20 {
				cmd = strconv.Quote(ct.Command[:19] + "…")
			}
		}
		names := make([]string, len(ct.Names))
		for i, n := range ct.Names {
			names[i] = strings.TrimPrefix(n, "/")
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, ct.Image, cmd, ago(time.Unix(ct.Created, 0)), ct.Status, formatPorts(ct.Ports), strings.Join(names, ","))
	}
	return w.Flush()
}

func cmdLogs(c *cli, args []string) error {
	var follow, timestamps bool
	var tail, since, until string
	f := newFlags("petrel logs [OPTIONS] CONTAINER", true)
	f.Bool(&follow, "follow", "f", "follow the output")
	f.Bool(&timestamps, "timestamps", "t", "show timestamps")
	f.String(&tail, "tail", "n", "number of lines to show from the end (default all)")
	f.String(&since, "since", "", "show logs since a timestamp (RFC 3339 or unix) or a duration (10m)")
	f.String(&until, "until", "", "show logs before a timestamp or a duration ago")
	rest, err := c.parse(f, args, 1, 1)
	if err != nil {
		return err
	}
	q := url.Values{"stdout": {"1"}, "stderr": {"1"}}
	if follow {
		q.Set("follow", "1")
	}
	if timestamps {
		q.Set("timestamps", "1")
	}
	if tail != "" && tail != "all" {
		if n, err := strconv.Atoi(tail); err != nil || n < 0 {
			return &usageError{err: fmt.Errorf("invalid argument %q for \"-n, --tail\" flag", tail)}
		}
		q.Set("tail", tail)
	}
	for name, v := range map[string]string{"since": since, "until": until} {
		if v == "" {
			continue
		}
		if d, err := time.ParseDuration(v); err == nil {
			v = strconv.FormatInt(time.Now().Add(-d).Unix(), 10)
		}
		q.Set(name, v)
	}
	var j api.ContainerJSON
	if err := c.call("GET", "/containers/"+rest[0]+"/json", nil, nil, &j); err != nil {
		return err
	}
	resp, err := c.do("GET", "/containers/"+rest[0]+"/logs", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if j.Config != nil && j.Config.Tty {
		_, err = io.Copy(c.stdout, resp.Body)
		return err
	}
	return demux(resp.Body, c.stdout, c.stderr)
}

func cmdWait(c *cli, args []string) error {
	rest, err := c.parse(newFlags("petrel wait CONTAINER [CONTAINER...]", true), args, 1, -1)
	if err != nil {
		return err
	}
	failed := false
	for _, id := range rest {
		var wr api.WaitResponse
		if err := c.call("POST", "/containers/"+id+"/wait", nil, nil, &wr); err != nil {
			fmt.Fprintln(c.stderr, err)
			failed = true
			continue
		}
		fmt.Fprintln(c.stdout, wr.StatusCode)
	}
	if failed {
		return &statusError{code: 1}
	}
	return nil
}

func cmdInspect(c *cli, args []string) error {
	var format string
	var typ string
	f := newFlags("petrel inspect [OPTIONS] NAME|ID [NAME|ID...]", true)
	f.String(&format, "format", "f", "print one value per object: {{.Path.To.Field}} (no other template syntax)")
	f.String(&typ, "type", "", "container or image (default: a container, else an image)")
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	if typ != "" && typ != "container" && typ != "image" {
		return &usageError{err: fmt.Errorf("%q is not a valid value for --type: use container or image", typ)}
	}
	var out []json.RawMessage
	failed := false
	for _, id := range rest {
		resp, err := c.inspectObject(id, typ)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			failed = true
			continue
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if format != "" {
			s, err := formatPath(data, format)
			if err != nil {
				return &usageError{err: err}
			}
			fmt.Fprintln(c.stdout, s)
			continue
		}
		out = append(out, data)
	}
	if format == "" {
		if out == nil {
			out = []json.RawMessage{}
		}
		data, _ := json.MarshalIndent(out, "", "    ")
		fmt.Fprintln(c.stdout, string(data))
	}
	if failed {
		return &statusError{code: 1}
	}
	return nil
}

// formatPath evaluates the small subset of Go templates that scripts use
// with inspect: text with {{.A.B}} field paths and {{json .A}}.
func formatPath(data []byte, format string) (string, error) {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		i := strings.Index(format, "{{")
		if i < 0 {
			b.WriteString(format)
			return b.String(), nil
		}
		b.WriteString(format[:i])
		j := strings.Index(format[i:], "}}")
		if j < 0 {
			return "", fmt.Errorf("template: unclosed action in %q", format)
		}
		expr := strings.TrimSpace(format[i+2 : i+j])
		format = format[i+j+2:]
		asJSON := false
		if rest, ok := strings.CutPrefix(expr, "json "); ok {
			asJSON, expr = true, strings.TrimSpace(rest)
		}
		if !strings.HasPrefix(expr, ".") {
			return "", fmt.Errorf("template: only {{.Field.Path}} and {{json .Field}} are supported, not %q", expr)
		}
		v := doc
		for _, k := range strings.Split(strings.TrimPrefix(expr, "."), ".") {
			if k == "" {
				continue
			}
			m, ok := v.(map[string]any)
			if !ok {
				return "", fmt.Errorf("template: can't evaluate field %s", k)
			}
			if v, ok = m[k]; !ok {
				return "", fmt.Errorf("template: can't evaluate field %s", k)
			}
		}
		switch x := v.(type) {
		case string:
			if asJSON {
				d, _ := json.Marshal(x)
				b.Write(d)
			} else {
				b.WriteString(x)
			}
		case float64:
			b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
		case nil:
			if asJSON {
				b.WriteString("null")
			} else {
				b.WriteString("<no value>")
			}
		case bool:
			b.WriteString(strconv.FormatBool(x))
		default:
			d, _ := json.Marshal(x)
			b.Write(d)
		}
	}
}

func cmdAttach(c *cli, args []string) error {
	var noStdin bool
	f := newFlags("petrel attach [OPTIONS] CONTAINER", true)
	f.Bool(&noStdin, "no-stdin", "", "do not attach stdin")
	rest, err := c.parse(f, args, 1, 1)
	if err != nil {
		return err
	}
	var j api.ContainerJSON
	if err := c.call("GET", "/containers/"+rest[0]+"/json", nil, nil, &j); err != nil {
		return err
	}
	stdin := !noStdin && j.Config.OpenStdin
	q := url.Values{"stream": {"1"}, "stdout": {"1"}, "stderr": {"1"}}
	if stdin {
		q.Set("stdin", "1")
	}
	conn, br, err := c.hijack("/containers/"+j.ID+"/attach", q)
	if err != nil {
		return err
	}
	defer conn.Close()
	restore := func() {}
	if j.Config.Tty && stdin {
		restore = makeRaw(c.stdin)
	}
	defer restore()
	if stdin {
		go func() {
			io.Copy(conn, c.stdin)
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
	if j.Config.Tty {
		io.Copy(c.stdout, br)
	} else {
		demux(br, c.stdout, c.stderr)
	}
	restore()
	var wr api.WaitResponse
	if err := c.call("POST", "/containers/"+j.ID+"/wait", nil, nil, &wr); err == nil && wr.StatusCode != 0 {
		return &statusError{code: wr.StatusCode}
	}
	return nil
}

func cmdEvents(c *cli, args []string) error {
	var since, until string
	f := newFlags("petrel events [OPTIONS]", true)
	f.String(&since, "since", "", "show events since a timestamp or duration")
	f.String(&until, "until", "", "stream events until a timestamp or duration")
	if _, err := c.parse(f, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
	for name, v := range map[string]string{"since": since, "until": until} {
		if v == "" {
			continue
		}
		if d, err := time.ParseDuration(v); err == nil {
			if name == "since" {
				v = strconv.FormatInt(time.Now().Add(-d).Unix(), 10)
			} else {
				v = strconv.FormatInt(time.Now().Add(d).Unix(), 10)
			}
		}
		q.Set(name, v)
	}
	resp, err := c.do("GET", "/events", q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var e api.Event
		if err := dec.Decode(&e); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		attrs := make([]string, 0, len(e.Actor.Attributes))
		for k, v := range e.Actor.Attributes {
			attrs = append(attrs, k+"="+v)
		}
		sortStrings(attrs)
		fmt.Fprintf(c.stdout, "%s %s %s %s (%s)\n", time.Unix(0, e.TimeNano).Format("2006-01-02T15:04:05.000000000-07:00"),
			e.Type, e.Action, e.Actor.ID, strings.Join(attrs, ", "))
	}
}

func cmdVersion(c *cli, args []string) error {
	if _, err := c.parse(newFlags("petrel version", true), args, 0, 0); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Client:\n API version:  %s\n\n", api.Version)
	var v api.VersionResponse
	if err := c.call("GET", "/version", nil, nil, &v); err != nil {
		return err
	}
	printServerVersion(c.stdout, v)
	return nil
}

func printServerVersion(w io.Writer, v api.VersionResponse) {
	fmt.Fprintf(w, "Server: %s\n Version:      %s\n API version:  %s (minimum version %s)\n Go version:   %s\n Git commit:   %s\n OS/Arch:      %s/%s\n Kernel:       %s\n",
		v.Platform.Name, v.Version, v.APIVersion, v.MinAPIVersion, v.GoVersion, v.GitCommit, v.Os, v.Arch, v.KernelVersion)
}

// ServerVersion prints the daemon's version, as `petrel client version`
// does, when a daemon answers on $PETREL_HOST or the default socket within
// a second; it reports whether one did. `petrel version` uses it after the
// binary's own version.
func ServerVersion(w io.Writer) bool {
	host := os.Getenv("PETREL_HOST")
	if host == "" {
		host = DefaultHost
	}
	socket, ok := strings.CutPrefix(host, "unix://")
	if !ok {
		return false
	}
	if _, err := os.Stat(socket); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c := &cli{ctx: ctx, socket: socket, stdout: io.Discard, stderr: io.Discard, hc: unixHTTPClient(socket)}
	var v api.VersionResponse
	if err := c.call("GET", "/version", nil, nil, &v); err != nil {
		return false
	}
	fmt.Fprintln(w)
	printServerVersion(w, v)
	return true
}

func cmdInfo(c *cli, args []string) error {
	if _, err := c.parse(newFlags("petrel info", true), args, 0, 0); err != nil {
		return err
	}
	var i api.Info
	if err := c.call("GET", "/info", nil, nil, &i); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "Containers: %d\n Running: %d\n Paused: %d\n Stopped: %d\nImages: %d\nServer Version: %s\nStorage Driver: %s\nLogging Driver: %s\nCgroup Driver: %s\nCgroup Version: %s\nDefault Runtime: %s\nLive Restore Enabled: %v\nKernel Version: %s\nOperating System: %s\nArchitecture: %s\nCPUs: %d\nTotal Memory: %.3fGiB\nName: %s\nRoot Dir: %s\n",
		i.Containers, i.ContainersRunning, i.ContainersPaused, i.ContainersStopped, i.Images, i.ServerVersion, i.Driver, i.LoggingDriver,
		i.CgroupDriver, i.CgroupVersion, i.DefaultRuntime, i.LiveRestoreEnabled, i.KernelVersion, i.OperatingSystem,
		i.Architecture, i.NCPU, float64(i.MemTotal)/(1<<30), i.Name, i.DockerRootDir)
	return nil
}

func cmdExec(c *cli, args []string) error {
	var detach, interactive, tty bool
	var user, workdir string
	var env []string
	f := newFlags("petrel exec [OPTIONS] CONTAINER COMMAND [ARG...]", false)
	f.Bool(&detach, "detach", "d", "run the command in the background")
	f.Bool(&interactive, "interactive", "i", "keep stdin open")
	f.Bool(&tty, "tty", "t", "allocate a terminal")
	f.String(&user, "user", "u", "user name or uid[:gid]")
	f.String(&workdir, "workdir", "w", "working directory inside the container")
	f.List(&env, "env", "e", "set an environment variable")
	rest, err := c.parse(f, args, 2, -1)
	if err != nil {
		return err
	}
	for i, e := range env {
		if !strings.Contains(e, "=") {
			if v, ok := os.LookupEnv(e); ok {
				env[i] = e + "=" + v
			}
		}
	}
	cfg := api.ExecConfig{User: user, WorkingDir: workdir, Env: env, Cmd: rest[1:], Tty: tty,
		AttachStdin: interactive && !detach, AttachStdout: !detach, AttachStderr: !detach, Detach: detach}
	if h, w, ok := c.termSize(); ok && tty {
		cfg.ConsoleSize = &[2]uint{h, w}
	}
	var created api.IDResponse
	if err := c.call("POST", "/containers/"+rest[0]+"/exec", nil, cfg, &created); err != nil {
		return err
	}
	if detach {
		return c.call("POST", "/exec/"+created.ID+"/start", nil, api.ExecStartConfig{Detach: true}, nil)
	}
	conn, br, err := c.hijackBody("/exec/"+created.ID+"/start", nil, api.ExecStartConfig{Tty: tty})
	if err != nil {
		return err
	}
	defer conn.Close()
	restore := func() {}
	if tty && interactive {
		restore = makeRaw(c.stdin)
	}
	defer restore()
	if tty {
		defer c.watchExecSize(created.ID)()
	}
	if interactive {
		go func() {
			io.Copy(conn, c.stdin)
			if cw, ok := conn.(interface{ CloseWrite() error }); ok {
				cw.CloseWrite()
			}
		}()
	}
	if tty {
		io.Copy(c.stdout, br)
	} else {
		demux(br, c.stdout, c.stderr)
	}
	restore()
	var x api.ExecInspect
	if err := c.call("GET", "/exec/"+created.ID+"/json", nil, nil, &x); err != nil {
		return err
	}
	if x.ExitCode != nil && *x.ExitCode != 0 {
		return &statusError{code: *x.ExitCode}
	}
	return nil
}

// psFormat renders docker ps's template fields; other template syntax
// is refused rather than misread.
func psFormat(format string, ct api.Container, noTrunc bool) (string, error) {
	names := make([]string, len(ct.Names))
	for i, n := range ct.Names {
		names[i] = strings.TrimPrefix(n, "/")
	}
	id := ct.ID
	if !noTrunc {
		id = shortID(id)
	}
	labels := make([]string, 0, len(ct.Labels))
	for k, v := range ct.Labels {
		labels = append(labels, k+"="+v)
	}
	sortStrings(labels)
	fields := map[string]string{
		".ID": id, ".Names": strings.Join(names, ","), ".Image": ct.Image, ".Command": strconv.Quote(ct.Command),
		".Status": ct.Status, ".State": ct.State, ".CreatedAt": time.Unix(ct.Created, 0).Format("2006-01-02 15:04:05 -0700 MST"),
		".RunningFor": ago(time.Unix(ct.Created, 0)), ".Labels": strings.Join(labels, ","), ".Ports": formatPorts(ct.Ports),
	}
	return renderTemplate(format, fields)
}

func cmdTop(c *cli, args []string) error {
	rest, err := c.parse(newFlags("petrel top CONTAINER [ps OPTIONS]", false), args, 1, -1)
	if err != nil {
		return err
	}
	q := url.Values{}
	if len(rest) > 1 {
		q.Set("ps_args", strings.Join(rest[1:], " "))
	}
	var top api.TopResponse
	if err := c.call("GET", "/containers/"+rest[0]+"/top", q, nil, &top); err != nil {
		return err
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, strings.Join(top.Titles, "\t"))
	for _, p := range top.Processes {
		fmt.Fprintln(w, strings.Join(p, "\t"))
	}
	return w.Flush()
}

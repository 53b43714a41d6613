package client

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/petrel-edge/petrel/core/api"
)

func cmdUpdate(c *cli, args []string) error {
	var u api.UpdateConfig
	var restart string
	set := false
	f := newFlags("petrel update [OPTIONS] CONTAINER [CONTAINER...]", true)
	size := func(p *int64, minusOne bool) func(string) error {
		return func(v string) error {
			set = true
			if minusOne && v == "-1" {
				*p = -1
				return nil
			}
			n, err := parseSize(v)
			if err != nil {
				return err
			}
			*p = n
			return nil
		}
	}
	integer := func(p *int64) func(string) error {
		return func(v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return fmt.Errorf("invalid number %q", v)
			}
			*p, set = n, true
			return nil
		}
	}
	f.Func("memory", "m", "memory limit (e.g. 64m)", size(&u.Memory, false))
	f.Func("memory-swap", "", "memory plus swap limit, -1 for unlimited swap", size(&u.MemorySwap, true))
	f.Func("memory-reservation", "", "memory soft limit", size(&u.MemoryReservation, false))
	f.Func("cpus", "", "number of CPUs (e.g. 0.5)", func(v string) error {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n <= 0 {
			return fmt.Errorf("invalid number %q", v)
		}
		u.NanoCPUs, set = int64(n*1e9), true
		return nil
	})
	f.Func("cpu-shares", "c", "CPU shares (relative weight)", integer(&u.CPUShares))
	f.Func("cpu-period", "", "CFS period in microseconds", integer(&u.CPUPeriod))
	f.Func("cpu-quota", "", "CFS quota in microseconds (-1 for none)", integer(&u.CPUQuota))
	f.Func("cpuset-cpus", "", "CPUs the container may use (0-3, 0,1)", func(v string) error {
		u.CpusetCpus, set = v, true
		return nil
	})
	f.Func("cpuset-mems", "", "memory nodes the container may use", func(v string) error {
		u.CpusetMems, set = v, true
		return nil
	})
	f.Func("pids-limit", "", "process limit (-1 for unlimited)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("invalid number %q", v)
		}
		u.PidsLimit, set = &n, true
		return nil
	})
	f.Func("blkio-weight", "", "block I/O weight, 10 to 1000 (0 keeps it)", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return fmt.Errorf("invalid number %q", v)
		}
		u.BlkioWeight, set = uint16(n), true
		return nil
	})
	f.Func("restart", "", "restart policy: no, always, unless-stopped, on-failure[:max-retries]", func(v string) error {
		restart, set = v, true
		return nil
	})
	for _, name := range []string{"cpu-rt-period", "cpu-rt-runtime", "kernel-memory"} {
		name := name
		f.Func(name, "", "not supported", func(string) error {
			return fmt.Errorf("--%s is not supported", name)
		})
	}
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	if !set {
		return &usageError{err: errNoFlags}
	}
	if restart != "" {
		name, max, hasMax := strings.Cut(restart, ":")
		u.RestartPolicy.Name = name
		if hasMax {
			n, err := strconv.Atoi(max)
			if err != nil || n < 0 || name != "on-failure" {
				return &usageError{err: fmt.Errorf("invalid restart policy %q: only on-failure takes a maximum retry count, a number", restart)}
			}
			u.RestartPolicy.MaximumRetryCount = n
		}
	}
	failed := false
	for _, id := range rest {
		var resp api.UpdateResponse
		if err := c.call("POST", "/containers/"+id+"/update", nil, u, &resp); err != nil {
			fmt.Fprintln(c.stderr, err)
			failed = true
			continue
		}
		for _, w := range resp.Warnings {
			fmt.Fprintln(c.stderr, "WARNING:", w)
		}
		fmt.Fprintln(c.stdout, id)
	}
	if failed {
		return &statusError{code: 1}
	}
	return nil
}

func cmdVolume(c *cli, args []string) error {
	subs := map[string]func(*cli, []string) error{
		"ls": volumeLs, "list": volumeLs, "create": volumeCreate, "rm": volumeRm, "remove": volumeRm,
		"inspect": volumeInspect, "prune": volumePrune,
	}
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		w := c.stderr
		if len(args) > 0 {
			w = c.stdout
		}
		fmt.Fprintln(w, "Usage:  petrel volume COMMAND\n\nCommands:\n  create   create a volume\n  inspect  show volumes in JSON\n  ls       list volumes\n  prune    remove every volume no container uses\n  rm       remove volumes")
		if len(args) == 0 {
			return &statusError{code: 125}
		}
		return nil
	}
	sub, ok := subs[args[0]]
	if !ok {
		return &usageError{err: fmt.Errorf("unknown volume command %q: use ls, create, rm, inspect or prune", args[0])}
	}
	return sub(c, args[1:])
}

func volumeLs(c *cli, args []string) error {
	var quiet bool
	var filters []string
	var format string
	f := newFlags("petrel volume ls [OPTIONS]", true)
	f.Bool(&quiet, "quiet", "q", "only show names")
	f.List(&filters, "filter", "f", "filter: name=, label=, dangling=true|false, driver=")
	f.String(&format, "format", "", "print each volume through a template: {{.Name}} {{.Driver}} {{.Mountpoint}} {{.Scope}} {{.CreatedAt}}")
	if _, err := c.parse(f, args, 0, 0); err != nil {
		return err
	}
	q := url.Values{}
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
	var resp api.VolumeListResponse
	if err := c.call("GET", "/volumes", q, nil, &resp); err != nil {
		return err
	}
	if quiet {
		for _, v := range resp.Volumes {
			fmt.Fprintln(c.stdout, v.Name)
		}
		return nil
	}
	if format != "" {
		for _, v := range resp.Volumes {
			data, _ := json.Marshal(v)
			line, err := formatPath(data, strings.TrimPrefix(format, "table "))
			if err != nil {
				return &usageError{err: err}
			}
			fmt.Fprintln(c.stdout, strings.ReplaceAll(line, `\t`, "\t"))
		}
		return nil
	}
	w := tabwriter.NewWriter(c.stdout, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "DRIVER\tVOLUME NAME")
	for _, v := range resp.Volumes {
		fmt.Fprintf(w, "%s\t%s\n", v.Driver, v.Name)
	}
	return w.Flush()
}

func volumeCreate(c *cli, args []string) error {
	var req api.VolumeCreateRequest
	var opts, labels []string
	f := newFlags("petrel volume create [OPTIONS] [VOLUME]", true)
	f.String(&req.Name, "name", "", "volume name")
	f.String(&req.Driver, "driver", "d", "volume driver (local)")
	f.List(&opts, "opt", "o", "driver option (none supported yet)")
	f.List(&labels, "label", "", "set a label (key=value)")
	rest, err := c.parse(f, args, 0, 1)
	if err != nil {
		return err
	}
	if len(rest) == 1 {
		if req.Name != "" && req.Name != rest[0] {
			return &usageError{err: fmt.Errorf("conflicting options: either specify --name or provide positional arg, not both")}
		}
		req.Name = rest[0]
	}
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok || k == "" {
			return &usageError{err: fmt.Errorf("invalid option %q: want key=value", o)}
		}
		if req.DriverOpts == nil {
			req.DriverOpts = map[string]string{}
		}
		req.DriverOpts[k] = v
	}
	for _, l := range labels {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return &usageError{err: fmt.Errorf("invalid label %q", l)}
		}
		if req.Labels == nil {
			req.Labels = map[string]string{}
		}
		req.Labels[k] = v
	}
	var v api.Volume
	if err := c.call("POST", "/volumes/create", nil, req, &v); err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, v.Name)
	return nil
}

func volumeRm(c *cli, args []string) error {
	var force bool
	f := newFlags("petrel volume rm [OPTIONS] VOLUME [VOLUME...]", true)
	f.Bool(&force, "force", "f", "do not fail on a missing volume")
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	q := url.Values{}
	if force {
		q.Set("force", "1")
	}
	return c.forEach(rest, func(name string) error {
		return c.call("DELETE", "/volumes/"+url.PathEscape(name), q, nil, nil)
	})
}

func volumeInspect(c *cli, args []string) error {
	var format string
	f := newFlags("petrel volume inspect [OPTIONS] VOLUME [VOLUME...]", true)
	f.String(&format, "format", "f", "print one value per volume: {{.Mountpoint}}")
	rest, err := c.parse(f, args, 1, -1)
	if err != nil {
		return err
	}
	var out []json.RawMessage
	failed := false
	for _, name := range rest {
		var raw json.RawMessage
		if err := c.call("GET", "/volumes/"+url.PathEscape(name), nil, nil, &raw); err != nil {
			fmt.Fprintln(c.stderr, err)
			failed = true
			continue
		}
		if format != "" {
			s, err := formatPath(raw, format)
			if err != nil {
				return &usageError{err: err}
			}
			fmt.Fprintln(c.stdout, s)
			continue
		}
		out = append(out, raw)
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

func volumePrune(c *cli, args []string) error {
	var force bool
	f := newFlags("petrel volume prune [OPTIONS]", true)
	f.Bool(&force, "force", "f", "do not ask for confirmation")
	if _, err := c.parse(f, args, 0, 0); err != nil {
		return err
	}
	if !force {
		fmt.Fprint(c.stdout, "WARNING! This will remove all volumes not used by at least one container.\nAre you sure you want to continue? [y/N] ")
		var answer string
		fmt.Fscanln(c.stdin, &answer)
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return nil
		}
	}
	var resp api.VolumePruneResponse
	if err := c.call("POST", "/volumes/prune", nil, nil, &resp); err != nil {
		return err
	}
	if len(resp.VolumesDeleted) > 0 {
		fmt.Fprintln(c.stdout, "Deleted Volumes:")
		for _, n := range resp.VolumesDeleted {
			fmt.Fprintln(c.stdout, n)
		}
		fmt.Fprintln(c.stdout)
	}
	fmt.Fprintf(c.stdout, "Total reclaimed space: %s\n", decimalSize(resp.SpaceReclaimed))
	return nil
}

// parseMountFlag reads one --mount: comma-separated key=value fields,
// docker's names.
func parseMountFlag(v string) (api.Mount, error) {
	m := api.Mount{Type: "volume"}
	var tmpfsSet, bindSet, volSet bool
	for _, field := range strings.Split(v, ",") {
		k, val, hasVal := strings.Cut(field, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		boolVal := func() (bool, error) {
			if !hasVal {
				return true, nil
			}
			switch strings.ToLower(val) {
			case "1", "true":
				return true, nil
			case "0", "false":
				return false, nil
			}
			return false, fmt.Errorf("invalid value for %s: %s", k, val)
		}
		if !hasVal && k != "readonly" && k != "ro" && k != "volume-nocopy" && k != "bind-nonrecursive" {
			return m, fmt.Errorf("invalid field '%s' must be a key=value pair", field)
		}
		var err error
		switch k {
		case "type":
			m.Type = val
		case "source", "src":
			m.Source = val
		case "target", "destination", "dst":
			m.Target = val
		case "readonly", "ro":
			m.ReadOnly, err = boolVal()
		case "consistency":
			m.Consistency = val
		case "bind-propagation":
			bindSet = true
			if m.BindOptions == nil {
				m.BindOptions = &api.BindOptions{}
			}
			m.BindOptions.Propagation = val
		case "bind-nonrecursive":
			bindSet = true
			if m.BindOptions == nil {
				m.BindOptions = &api.BindOptions{}
			}
			m.BindOptions.NonRecursive, err = boolVal()
		case "volume-nocopy":
			volSet = true
			if m.VolumeOptions == nil {
				m.VolumeOptions = &api.VolumeOptions{}
			}
			m.VolumeOptions.NoCopy, err = boolVal()
		case "volume-label":
			volSet = true
			if m.VolumeOptions == nil {
				m.VolumeOptions = &api.VolumeOptions{}
			}
			lk, lv, _ := strings.Cut(val, "=")
			if m.VolumeOptions.Labels == nil {
				m.VolumeOptions.Labels = map[string]string{}
			}
			m.VolumeOptions.Labels[lk] = lv
		case "volume-driver":
			volSet = true
			if m.VolumeOptions == nil {
				m.VolumeOptions = &api.VolumeOptions{}
			}
			m.VolumeOptions.DriverConfig = &api.VolumeDriver{Name: val}
		case "tmpfs-size":
			tmpfsSet = true
			if m.TmpfsOptions == nil {
				m.TmpfsOptions = &api.TmpfsOptions{}
			}
			m.TmpfsOptions.SizeBytes, err = parseSize(val)
		case "tmpfs-mode":
			tmpfsSet = true
			if m.TmpfsOptions == nil {
				m.TmpfsOptions = &api.TmpfsOptions{}
			}
			var mode uint64
			mode, err = strconv.ParseUint(val, 8, 32)
			m.TmpfsOptions.Mode = os.FileMode(mode)
		default:
			return m, fmt.Errorf("unexpected key '%s' in '%s'", k, field)
		}
		if err != nil {
			return m, fmt.Errorf("invalid --mount %q: %s: %v", v, k, err)
		}
	}
	switch {
	case m.Target == "":
		return m, fmt.Errorf("invalid --mount %q: target is required", v)
	case tmpfsSet && m.Type != "tmpfs":
		return m, fmt.Errorf("cannot mix 'tmpfs-*' options with mount type '%s'", m.Type)
	case bindSet && m.Type != "bind":
		return m, fmt.Errorf("cannot mix 'bind-*' options with mount type '%s'", m.Type)
	case volSet && m.Type != "volume":
		return m, fmt.Errorf("cannot mix 'volume-*' options with mount type '%s'", m.Type)
	}
	return m, nil
}

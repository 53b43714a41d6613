package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/petrel-edge/petrel/bench/busybox"
	"github.com/petrel-edge/petrel/bench/internal/table"
)

// gcSweep starts a fresh petreld under each environment of o.gc and
// compares its memory: idle, with o.containers containers, and after
// o.cycles run/rm cycles. "default" is the daemon's own settings.
func gcSweep(ctx context.Context, o options, out io.Writer) error {
	work, err := os.MkdirTemp("", "fpgc")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(work)
	}
	rootfs := filepath.Join(work, "rootfs")
	if err := busybox.HostRootfs(rootfs); err != nil {
		return fmt.Errorf("busybox rootfs: %w", err)
	}
	rows := [][]string{{"environment", "idle PSS", "idle RSS", fmt.Sprintf("PSS, %d containers", o.containers),
		fmt.Sprintf("PSS after %d run/rm", o.cycles), "anon after", "peak RSS", "daemon CPU"}}
	for i, setting := range strings.Fields(o.gc) {
		var env []string
		if setting != "default" {
			env = strings.Split(setting, ",")
			for _, e := range env {
				if !strings.HasPrefix(e, "GOGC=") && !strings.HasPrefix(e, "GOMEMLIMIT=") {
					return fmt.Errorf("-gc: %q is not GOGC=… or GOMEMLIMIT=…", e)
				}
			}
		}
		dir := filepath.Join(work, fmt.Sprint(i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		row, err := gcRun(ctx, o, dir, rootfs, env)
		if err != nil {
			return fmt.Errorf("%s: %w", setting, err)
		}
		rows = append(rows, append([]string{setting}, row...))
	}
	fmt.Fprintf(out, "petreld memory by GC setting, %s UTC (%s)\n\n", time.Now().UTC().Format("2006-01-02 15:04"), hostLine())
	table.Write(out, rows, 1)
	return nil
}

func gcRun(ctx context.Context, o options, dir, rootfs string, env []string) (_ []string, err error) {
	d, err := startPetreld(o.petrel, filepath.Join(dir, "root"), filepath.Join(dir, "state"), rootfs, dir, env)
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := d.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	time.Sleep(o.settle)
	idle, err := readSmaps(d.pid())
	if err != nil {
		return nil, err
	}
	for i := range o.containers {
		if err := d.runSilent(fmt.Sprintf("gc%d", i), 0); err != nil {
			return nil, err
		}
	}
	time.Sleep(o.settle)
	withN, err := readSmaps(d.pid())
	if err != nil {
		return nil, err
	}
	for i := range o.cycles {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := cycle(d, fmt.Sprintf("gcc%d", i)); err != nil {
			return nil, err
		}
	}
	time.Sleep(o.settle)
	after, err := readSmaps(d.pid())
	if err != nil {
		return nil, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.pid()))
	if err != nil {
		return nil, err
	}
	peak := "?"
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			peak = strings.TrimSpace(v)
		}
	}
	cpu, err := cpuTime(d.pid())
	if err != nil {
		return nil, err
	}
	return []string{mib(idle.PSS), mib(idle.RSS), mib(withN.PSS), mib(after.PSS), mib(after.Anonymous), peak, fmt.Sprintf("%.2f s", cpu)}, nil
}

// cpuTime is the user and system CPU time of a process, in seconds.
func cpuTime(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad CPU times", pid)
	}
	return float64(ut+st) / 100, nil // USER_HZ is 100 on Linux
}

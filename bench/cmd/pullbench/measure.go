package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A sample is one measured process.
type sample struct {
	wall   time.Duration
	rssKB  int64 // ru_maxrss from wait4, KiB
	floorK int64 // this benchmark's VmHWM when it started the process, KiB
}

// A stepError is a failed command with its output.
type stepError struct {
	cmd    string
	err    error
	output string
}

func (e *stepError) Error() string {
	s := fmt.Sprintf("%s: %v", e.cmd, e.err)
	if e.output != "" {
		s += "\n    " + strings.ReplaceAll(e.output, "\n", "\n    ")
	}
	return s
}

func (e *stepError) Unwrap() error { return e.err }

// spawnEnv, set in the environment of this program, makes it the spawner:
// it runs the command in its arguments and prints a spawnResult as JSON.
const spawnEnv = "PULLBENCH_SPAWNER"

// A spawnResult is what the spawner measured.
type spawnResult struct {
	WallNS  int64  `json:"wall_ns"`
	MaxRSS  int64  `json:"maxrss_kb"`
	FloorKB int64  `json:"floor_kb"`
	Error   string `json:"error,omitempty"`
}

// Why a spawner: a child's ru_maxrss is at least the high-water RSS of the
// memory it was forked from (os/exec's vfork child runs on the parent's
// memory until execve, and the kernel records that memory's peak at
// execve). This program's peak is tens of MiB after it built the image; a
// fresh spawner's is a few MiB, so the measured process is started from it.

// spawn is the spawner's main: it runs argv with its stdout and stderr,
// waits and prints the spawnResult on fd 3.
func spawn(argv []string) int {
	syscall.CloseOnExec(3) // not for the command
	out := os.NewFile(3, "result")
	res := spawnResult{}
	defer func() { json.NewEncoder(out).Encode(res) }()
	if len(argv) == 0 {
		res.Error = "spawner: no command"
		return 2
	}
	// The child dies with the thread that started it: with the spawner,
	// which the benchmark kills when it gives up.
	runtime.LockOSThread()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	res.FloorKB, _ = selfHWM()
	start := time.Now()
	err := cmd.Run()
	res.WallNS = int64(time.Since(start))
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			res.MaxRSS = int64(ru.Maxrss) // int32 on 32-bit targets
		}
	}
	if err != nil {
		res.Error = err.Error()
		return 1
	}
	return 0
}

// measure runs argv with env added to the environment, its stdout and
// stderr going to the file logPath, through a spawner, and returns its wall
// time (from just before the fork to its reaped exit) and ru_maxrss.
func measure(ctx context.Context, env []string, logPath string, argv ...string) (sample, error) {
	self, err := os.Executable()
	if err != nil {
		return sample{}, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return sample{}, err
	}
	defer logf.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return sample{}, err
	}
	defer pr.Close()
	cmd := exec.CommandContext(ctx, self, argv...)
	cmd.Env = append(append(os.Environ(), env...), spawnEnv+"=1")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{pw}
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Start()
	pw.Close()
	if err != nil {
		return sample{}, fmt.Errorf("start spawner: %w", err)
	}
	var res spawnResult
	derr := json.NewDecoder(pr).Decode(&res)
	err = cmd.Wait()
	fail := func(err error) (sample, error) {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return sample{}, &stepError{cmd: strings.Join(argv, " "), err: err, output: tail(logPath, 1500)}
	}
	switch {
	case res.Error != "":
		return fail(errors.New(res.Error))
	case err != nil:
		return fail(err)
	case derr != nil:
		return fail(fmt.Errorf("spawner result: %w", derr))
	}
	return sample{wall: time.Duration(res.WallNS), rssKB: res.MaxRSS, floorK: res.FloorKB}, nil
}

// selfHWM returns this process's peak RSS (VmHWM) in KiB.
func selfHWM() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	return parseStatusKB(b, "VmHWM:")
}

// parseStatusKB finds "Key:   1234 kB" in /proc/PID/status text.
func parseStatusKB(status []byte, key string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), key)
		if !ok {
			continue
		}
		v = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB"))
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q: %w", key, v, err)
		}
		return n, nil
	}
	return 0, fmt.Errorf("no %s in /proc/PID/status", key)
}

// unmount unmounts mp, detaching it when it is busy.
func unmount(mp string) error {
	err := unix.Unmount(mp, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(mp, unix.MNT_DETACH)
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
		return nil // no longer a mount point
	}
	return err
}

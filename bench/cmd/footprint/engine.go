package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// petreld is a private daemon on its own root, state and socket.
type petreld struct {
	bin, root, state, sock, rootfs string
	cmd                            *exec.Cmd
	exited                         chan struct{}
	log                            string
}

// startPetreld runs bin as petreld with root and state, its socket, log
// and daemon.json in dir, env added to the environment (GOGC=…,
// GOMEMLIMIT=…), and waits until it answers /_ping.
func startPetreld(bin, root, state, rootfs, dir string, env []string) (*petreld, error) {
	d := &petreld{bin: bin, root: root, state: state,
		sock: filepath.Join(dir, "p.sock"), rootfs: rootfs, exited: make(chan struct{}),
		log: filepath.Join(dir, "petreld.log")}
	cfg := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(cfg, []byte("{}\n"), 0o644); err != nil {
		return nil, err
	}
	log, err := os.OpenFile(d.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	defer log.Close()
	d.cmd = exec.Command(bin, "daemon", "--config-file", cfg, "--graph", d.root, "--state", d.state, "-H", "unix://"+d.sock)
	d.cmd.Env = append(withoutGC(os.Environ()), env...)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.cmd.Wait(); close(d.exited) }()
	cl := d.httpClient()
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := cl.Get("http://petrel/_ping"); err == nil {
			resp.Body.Close()
			return d, nil
		}
		select {
		case <-d.exited:
			data, _ := os.ReadFile(d.log)
			return nil, fmt.Errorf("petreld exited at start: %s", data)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, errors.New("petreld did not answer within 30 s")
		}
	}
}

// withoutGC drops GOGC and GOMEMLIMIT from env: each run sets its own.
func withoutGC(env []string) []string {
	var out []string
	for _, e := range env {
		if !strings.HasPrefix(e, "GOGC=") && !strings.HasPrefix(e, "GOMEMLIMIT=") {
			out = append(out, e)
		}
	}
	return out
}

func (d *petreld) httpClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", d.sock)
	}}}
}

func (d *petreld) pid() int { return d.cmd.Process.Pid }

// client runs the petrel client against the daemon.
func (d *petreld) client(args ...string) (string, error) {
	cmd := d.clientCmd(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("petrel %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

func (d *petreld) clientCmd(args ...string) *exec.Cmd {
	return exec.Command(d.bin, append([]string{"-H", "unix://" + d.sock}, args...)...)
}

// runSilent starts a detached container that writes nothing, with a
// health check every healthEvery when that is not zero.
func (d *petreld) runSilent(name string, healthEvery time.Duration) error {
	args := []string{"run", "-d", "--name", name, "--external-rootfs", d.rootfs}
	if healthEvery > 0 {
		args = append(args, "--health-cmd", "true", "--health-interval", healthEvery.String())
	}
	_, err := d.client(append(args, "none", "sleep", "100000000")...)
	return err
}

// shimPid returns the pid of a running container's shim: the parent of
// its init.
func (d *petreld) shimPid(name string) (int, error) {
	s, err := d.client("inspect", "--format", "{{.State.Pid}}", name)
	if err != nil {
		return 0, err
	}
	data, err := os.ReadFile("/proc/" + s + "/stat")
	if err != nil {
		return 0, fmt.Errorf("container %s: %w", name, err)
	}
	i := bytes.LastIndexByte(data, ')')
	f := strings.Fields(string(data[i+2:]))
	if len(f) < 2 {
		return 0, fmt.Errorf("container %s: bad /proc/%s/stat", name, s)
	}
	return strconv.Atoi(f[1])
}

// spares returns the daemon's spare shims ("petrel-shim --spare STATE")
// that are not among shims, those of its containers.
func (d *petreld) spares(shims []int) []int {
	want := "petrel-shim\x00--spare\x00" + d.state + "\x00"
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || slices.Contains(shims, pid) {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.HasPrefix(string(b), want) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// removeAll removes every container of the daemon.
func (d *petreld) removeAll() error {
	ids, err := d.client("ps", "-aq", "--no-trunc")
	if err != nil || ids == "" {
		return err
	}
	_, err = d.client(append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
	return err
}

// stop removes the containers and ends the daemon.
func (d *petreld) stop() error {
	err := d.removeAll()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
	}
	return err
}

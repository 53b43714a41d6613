package seccomp

import (
	"encoding/json"
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SendListener hands the seccomp listener fd of a container process to the
// agent listening on cfg.ListenerPath, as the runtime-spec's "seccomp"
// section describes: one connection on that unix stream socket carrying the
// ContainerProcessState JSON (ociVersion, fds ["seccompFd"], pid, metadata
// cfg.ListenerMetadata, state) with the fd in SCM_RIGHTS. pid is the
// container process as the runtime sees it. The caller keeps listenerFd and
// closes it once sent. The runtime calls it from the host's mount
// namespace, where listenerPath is resolved.
func SendListener(cfg *specs.LinuxSeccomp, listenerFd, pid int, state specs.State) error {
	if cfg == nil || cfg.ListenerPath == "" {
		return fmt.Errorf("seccomp: send listener: %w", invalid("no listenerPath"))
	}
	msg, err := json.Marshal(specs.ContainerProcessState{
		Version:  specs.Version,
		Fds:      []string{specs.SeccompFdName},
		Pid:      pid,
		Metadata: cfg.ListenerMetadata,
		State:    state,
	})
	if err != nil {
		return fmt.Errorf("seccomp: send listener: %w", err)
	}
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("seccomp: send listener: socket: %w", err)
	}
	defer unix.Close(fd)
	if err := connect(fd, cfg.ListenerPath); err != nil {
		return fmt.Errorf("seccomp: send listener to %s: %w", cfg.ListenerPath, err)
	}
	// The fd travels with the first byte; a short stream write sends the
	// rest plainly.
	n, err := unix.SendmsgN(fd, msg, unix.UnixRights(listenerFd), nil, 0)
	for err == nil && n < len(msg) {
		var m int
		m, err = unix.Write(fd, msg[n:])
		n += m
	}
	if err != nil {
		return fmt.Errorf("seccomp: send listener to %s: %w", cfg.ListenerPath, err)
	}
	return nil
}

func connect(fd int, path string) error {
	for {
		err := unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			return err
		}
	}
}

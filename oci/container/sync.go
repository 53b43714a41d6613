package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/petrel-edge/petrel/core/mountinfo"
)

// The runtime and the init it re-executes (when the forked init of
// child.go cannot be used) talk over a socketpair (fd given
// in $PETREL_SYNC_FD), one JSON message a line:
//
//	runtime (create)                          init (new namespaces)
//	    | fork+exec /proc/self/exe init ------->  |
//	    | join cgroups, oom_score_adj             |
//	    | ---- msgConfig {initConfig} ----------> |
//	    |                                         | mounts, devices
//	    | <--------------- msgHooks ------------- |
//	    | prestart + createRuntime hooks          |
//	    | ---- msgHooksDone {state} ------------> |
//	    |                                         | createContainer hooks, pivot_root,
//	    |                                         | console, sysctl, caps, user, seccomp
//	    | <--------------- msgReady ------------- |
//	    | write state.json, pid file; exit        | block opening exec.fifo for writing
//	                                              | (Start reads it) → startContainer hooks, execve
//
// At any point init may send msgError instead and exit; the runtime then
// tears down everything it made. For exec the same protocol runs without
// msgHooks.
const (
	msgConfig    = "config"
	msgHooks     = "hooks"
	msgHooksDone = "hooks-done"
	msgReady     = "ready"
	msgError     = "error"
)

type syncMsg struct {
	Type   string       `json:"type"`
	Error  string       `json:"error,omitempty"`
	State  *specs.State `json:"state,omitempty"`
	Config *initConfig  `json:"config,omitempty"`
}

// initConfig is what init needs to set up the container or exec process.
type initConfig struct {
	Exec        bool              `json:"exec,omitempty"` // join a running container instead of creating one
	ID          string            `json:"id"`
	SpecJSON    json.RawMessage   `json:"spec"`              // config.json as the runtime read it: not encoded again
	Process     *specs.Process    `json:"process,omitempty"` // exec's process; create's is the spec's
	Rootfs      string            `json:"rootfs"`
	Bundle      string            `json:"bundle"`
	FifoFd      int               `json:"fifoFd,omitempty"` // O_PATH fd of the exec fifo
	NoPivot     bool              `json:"noPivot,omitempty"`
	Console     bool              `json:"console,omitempty"` // a console socket fd is in $PETREL_CONSOLE_FD
	CgroupPaths map[string]string `json:"cgroupPaths,omitempty"`
	NewCgroupNS bool              `json:"newCgroupNS,omitempty"`
	NewNet      bool              `json:"newNet,omitempty"`    // the init made a network namespace: bring lo up
	MountNSFd   int               `json:"mountNSFd,omitempty"` // join this mount namespace (exec, or a path in the spec)
	NoMountNS   bool              `json:"noMountNS,omitempty"` // the container shares the runtime's mount namespace

	Spec       *specs.Spec       `json:"-"` // SpecJSON decoded by init
	hostMounts []mountinfo.Mount // the mount table before the container's mounts, read by prepareRootfs
	// mountInChild, when set, makes the proc mounts: the forked init's
	// setup runs in the runtime, whose pid namespace is not the
	// container's.
	mountInChild func(source, target, fstype string, flags uintptr, data string) error
}

type syncConn struct {
	enc *json.Encoder
	dec *json.Decoder
}

func newSyncConn(rw io.ReadWriter) *syncConn {
	return &syncConn{enc: json.NewEncoder(rw), dec: json.NewDecoder(rw)}
}

func (s *syncConn) send(m syncMsg) error {
	if err := s.enc.Encode(m); err != nil {
		return fmt.Errorf("sync send %s: %w", m.Type, err)
	}
	return nil
}

// recv reads the next message; an error message from the peer becomes an
// error, and so does an unexpected type.
func (s *syncConn) recv(want string) (syncMsg, error) {
	var m syncMsg
	if err := s.dec.Decode(&m); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return m, fmt.Errorf("init exited before %s", want)
		}
		return m, fmt.Errorf("sync receive %s: %w", want, err)
	}
	if m.Type == msgError {
		return m, errors.New(m.Error)
	}
	if m.Type != want {
		return m, fmt.Errorf("sync: got %q, want %q", m.Type, want)
	}
	return m, nil
}

package shim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The daemon ⇄ shim protocol. Every exchange is one connection to the
// shim's unix socket: a request as one JSON line, an answer as one JSON
// line; attach then turns the connection into a byte stream.
//
//	daemon (engine)                          petrel-shim                 runtime
//	     |  fork+exec, setsid, fd 3 = ready pipe, |                         |
//	     |  fd 4 = control socket (launch.go)     |                         |
//	     |--------------------------------------->|  listen on the socket   |
//	     |  creates the container around the init |                         |
//	     |  the shim forks (lcr), or says "go"    |  create (init waits     |
//	     |                                        |------ on exec fifo) --->|
//	     |<------ ready: {"pid":N} or {"error"} --|                         |
//	     |  (after ctlCreatedStart, the shim has  |                         |
//	     |  started it: {"pid":N,"started":true}) |                         |
//	     |                                        |                         |
//	     |-- {"op":"attach","stdout":true,...} -->|  (optional, before      |
//	     |<------------- {} then stream ----------|   start: no output lost)|
//	     |-- {"op":"wait"} ---------------------->|  (held open)            |
//	     |-- {"op":"start"} --------------------->|------ start ----------->|
//	     |<------------- {} ----------------------|                         |
//	     |-- {"op":"kill","signal":15} ---------->|------ kill ------------>|
//	     |<------------- {} ----------------------|                         |
//	     |                                        |<----- init exits -------| wait4
//	     |                                        |  drain stdio, close log,
//	     |                                        |  write exit file (atomic)
//	     |<------- {"exit":{"exitCode":..}} ------|  (wait answered)        |
//	     |<------- EOF on attach streams ---------|------ delete ---------->|
//	     |                                        |  remove socket, exit    |
//
// An exec is one more connection while the container runs:
//
//	|-- {"op":"exec","exec":ID,"process":{..}} -->|-- exec ----------->|
//	|<------------- {"pid":N} then stream --------|                    |
//	|<------------- EOF once it exited -----------|<-- wait4 ----------|
//	|-- {"op":"exec-state","exec":ID} ----------->|                    |
//	|<------------- {"exit":{...}} ---------------|  (then forgotten)  |
//
// A daemon that comes back after a crash dials the socket again
// ("state", "wait", "attach" work at any time); when the socket is gone
// the shim has exited and the exit file holds the exit status.
//
// Attach streams carry the container's output as Docker does: raw bytes
// with a terminal, else frames of an 8-byte header {stream, 0, 0, 0,
// size uint32 big-endian} (stream 1 stdout, 2 stderr) and the data.
// Bytes the daemon writes after the answer go to the container's stdin;
// closing the write side ends stdin when the container was started with
// stdin-once.
const (
	OpState  = "state"  // answer: pid, status, exit once exited
	OpStart  = "start"  // start the created container's process
	OpKill   = "kill"   // signal, all
	OpPause  = "pause"  // freeze every process
	OpResume = "resume" // thaw
	OpResize = "resize" // height, width of the terminal
	OpAttach = "attach" // stdin, stdout, stderr; then a stream
	OpWait   = "wait"   // answered once the exit is recorded
	// OpExec runs process in the container: the answer carries its pid,
	// then the connection is its stdio stream (as attach), closed once
	// the process has exited and its output is drained.
	OpExec      = "exec"
	OpExecState = "exec-state" // exec: pid, exit once exited
	// OpUpdate sets new cgroup limits (resources) on the running
	// container through its runtime.
	OpUpdate = "update"
)

// Request is one request line.
type Request struct {
	Op     string `json:"op"`
	Signal int    `json:"signal,omitempty"`
	All    bool   `json:"all,omitempty"`
	Stdin  bool   `json:"stdin,omitempty"`
	Stdout bool   `json:"stdout,omitempty"`
	Stderr bool   `json:"stderr,omitempty"`
	Height uint16 `json:"height,omitempty"`
	Width  uint16 `json:"width,omitempty"`
	// Exec names an exec for exec, exec-state and resize; Process and
	// Tty describe what exec runs.
	Exec    string         `json:"exec,omitempty"`
	Process *specs.Process `json:"process,omitempty"`
	Tty     bool           `json:"tty,omitempty"`
	// Resources are the limits update sets.
	Resources *specs.LinuxResources `json:"resources,omitempty"`
}

// wireRequest is Request as the shim reads it: the process and the
// resources stay raw unless exec or update come with them, so that a shim
// that only starts, waits and stops never builds the decoder's tables for
// the runtime-spec types (a millisecond or two at its first request, and
// heap for its life).
type wireRequest struct {
	Request
	Process   json.RawMessage `json:"process,omitempty"`
	Resources json.RawMessage `json:"resources,omitempty"`
}

func decodeRequest(line []byte) (Request, error) {
	var w wireRequest
	if err := json.Unmarshal(line, &w); err != nil {
		return Request{}, err
	}
	req := w.Request
	if len(w.Process) > 0 && string(w.Process) != "null" && req.Op == OpExec {
		req.Process = new(specs.Process)
		if err := json.Unmarshal(w.Process, req.Process); err != nil {
			return Request{}, fmt.Errorf("process: %w", err)
		}
	}
	if len(w.Resources) > 0 && string(w.Resources) != "null" && req.Op == OpUpdate {
		req.Resources = new(specs.LinuxResources)
		if err := json.Unmarshal(w.Resources, req.Resources); err != nil {
			return Request{}, fmt.Errorf("resources: %w", err)
		}
	}
	return req, nil
}

// Response is one answer line; Error is set when the request failed.
type Response struct {
	Error  string `json:"error,omitempty"`
	Pid    int    `json:"pid,omitempty"`
	Status string `json:"status,omitempty"` // created, running, paused, stopped
	Exit   *Exit  `json:"exit,omitempty"`
	// Started and StartError answer ctlCreatedStart on the ready pipe:
	// the container was created, and started or not.
	Started    bool   `json:"started,omitempty"`
	StartError string `json:"startError,omitempty"`
}

// readyLine is the answer on the ready pipe: json.Encoder's line. The
// usual answers are written by hand, as forkReply's: the encoder's first
// use costs a shim 0.4 ms before the daemon has its answer.
func (r Response) readyLine() []byte {
	if r != (Response{Pid: r.Pid, Started: r.Started}) || r.Pid <= 0 {
		b, _ := json.Marshal(r)
		return append(b, '\n')
	}
	b := strconv.AppendInt([]byte(`{"pid":`), int64(r.Pid), 10)
	if r.Started {
		b = append(b, `,"started":true`...)
	}
	return append(b, "}\n"...)
}

// Exit is the recorded end of a container's init, also the content of
// the exit file.
type Exit struct {
	Pid      int       `json:"pid"`
	Code     int       `json:"exitCode"`
	ExitedAt time.Time `json:"exitedAt"`
	// OOMKilled is not detected yet; kept for inspect's field.
	OOMKilled bool `json:"oomKilled,omitempty"`
}

// Stream numbers of the attach framing, as Docker's stdcopy.
const (
	StreamStdin  = 0
	StreamStdout = 1
	StreamStderr = 2
)

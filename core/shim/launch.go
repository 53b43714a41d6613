package shim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/oci/container"
)

// The control socket of a launched shim (SOCK_SEQPACKET, one message per
// step). The daemon sends one of:
//
//	ctlGo                        create the container here, as a shim
//	                             started without a control socket does
//	ctlFork ForkRequest          fork the init (fds: the sync socket's
//	                             child end, the exec fifo, and with a
//	                             terminal the socket the pty master
//	                             comes on), in its binary encoding;
//	                             answered by ctlForked JSON(forkReply)
//	ctlCreated [handover]        the daemon made the container around
//	                             that init: take it on (from the
//	                             container's Handover when it comes,
//	                             else from its state under the root)
//	ctlCreatedStart [handover]   the same, and start it before answering
//	                             on the ready pipe (no attach is waiting
//	                             for its first output): the start needs
//	                             no connection and no request of its own
//
// and closes the socket to abort: before ctlGo or ctlFork, the shim exits
// having made nothing; after ctlFork, it kills and reaps the init.
const (
	ctlGo           = 'g'
	ctlFork         = 'f'
	ctlCreated      = 'c'
	ctlCreatedStart = 's'
	ctlForked       = 'p' // the shim's answer to ctlFork
	ctlContainer    = 'i' // a spare's container (spare.go)
)

// maxControl bounds one control message: a fork request is the child's
// plan (its argv and environment, and the seccomp filter, about 8 KiB as
// JSON for the default profile).
const maxControl = 4 << 20

type forkReply struct {
	Pid   int    `json:"pid,omitempty"`
	Error string `json:"error,omitempty"`
}

// encode is json.Marshal's encoding. A success is written by hand: the
// shim's first use of encoding/json's encoder costs 0.4 ms, on the
// start's critical path.
func (r forkReply) encode() []byte {
	if r.Error != "" || r.Pid <= 0 {
		b, _ := json.Marshal(r)
		return b
	}
	return append(strconv.AppendInt([]byte(`{"pid":`), int64(r.Pid), 10), '}')
}

func sendControl(f *os.File, op byte, payload []byte, files ...*os.File) error {
	var rights []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, file := range files {
			fds[i] = int(file.Fd())
		}
		rights = unix.UnixRights(fds...)
	}
	err := unix.Sendmsg(int(f.Fd()), append([]byte{op}, payload...), rights, nil, 0)
	if err != nil {
		return fmt.Errorf("shim control: %w", err)
	}
	return nil
}

// recvControl reads one message; io.EOF-like ends (the peer closed) come
// back as a zero op and no error.
func recvControl(f *os.File) (op byte, payload []byte, files []*os.File, err error) {
	fd := int(f.Fd())
	var size int
	for {
		// The message's size first, to read it whole into a buffer of
		// its size.
		size, _, err = unix.Recvfrom(fd, make([]byte, 1), unix.MSG_PEEK|unix.MSG_TRUNC)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		return 0, nil, nil, fmt.Errorf("shim control: %w", err)
	}
	if size > maxControl {
		return 0, nil, nil, fmt.Errorf("shim control: a message of %d bytes", size)
	}
	buf := make([]byte, max(size, 1))
	oob := make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, rerr := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if errors.Is(rerr, unix.EINTR) {
			continue
		}
		if rerr != nil {
			return 0, nil, nil, fmt.Errorf("shim control: %w", rerr)
		}
		if oobn > 0 {
			msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
			if perr != nil {
				return 0, nil, nil, fmt.Errorf("shim control: %w", perr)
			}
			for _, m := range msgs {
				fds, _ := unix.ParseUnixRights(&m)
				for _, fd := range fds {
					files = append(files, os.NewFile(uintptr(fd), "control"))
				}
			}
		}
		if n == 0 {
			for _, file := range files {
				file.Close()
			}
			return 0, nil, nil, nil
		}
		return buf[0], buf[1:n:n], files, nil
	}
}

// driven is a fork request a launched shim got instead of creating the
// container itself.
type driven struct {
	req     container.ForkRequest
	console *os.File // the pty master comes on it; nil without a terminal
}

// readControl waits for the daemon's word: nil to create the container
// here, a request to fork its init, or ErrAborted.
func readControl(ctl *os.File) (*driven, error) {
	op, payload, files, err := recvControl(ctl)
	if err != nil {
		return nil, err
	}
	switch op {
	case 0:
		return nil, ErrAborted
	case ctlGo:
		for _, f := range files {
			f.Close()
		}
		return nil, nil
	case ctlFork:
		d := &driven{}
		if err := d.req.UnmarshalBinary(payload); err != nil || len(files) < 2 {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("bad fork request (%d descriptors): %v", len(files), err)
		}
		d.req.Sync, d.req.Fifo = files[0], files[1]
		if len(files) > 2 {
			d.console = files[2]
		}
		return d, nil
	}
	for _, f := range files {
		f.Close()
	}
	return nil, fmt.Errorf("unknown control message %q", op)
}

// forkDriven forks the init for the daemon, which creates the container
// around it, and takes the container on once the daemon says it is made.
func (s *server) forkDriven(d *driven, io stdio) (int, error) {
	defer d.req.Sync.Close()
	defer d.req.Fifo.Close()
	r, ok := s.rt.(*lcr)
	if !ok {
		return 0, errors.New("only the built-in runtime takes a fork request")
	}
	pid, err := container.ForkInit(&d.req, [3]*os.File{io.in, io.out, io.err})
	reply := forkReply{Pid: pid}
	if err != nil {
		reply.Error = err.Error()
	}
	if serr := sendControl(s.opts.Control, ctlForked, reply.encode()); serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		if pid > 0 {
			unix.Kill(pid, unix.SIGKILL)
			container.WaitPid(pid)
		}
		return 0, err
	}
	op, handover, files, err := recvControl(s.opts.Control)
	for _, f := range files {
		f.Close()
	}
	switch {
	case err != nil:
	case op == 0:
		err = ErrAborted // the daemon failed to make the container, and says why
	case op == ctlCreatedStart:
		s.startNow = true
	case op != ctlCreated:
		err = fmt.Errorf("unexpected control message %q", op)
	}
	if err == nil && len(handover) > 0 {
		err = r.adoptHandover(pid, handover)
	} else if err == nil {
		err = r.adopt(pid)
	}
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		container.WaitPid(pid)
		return 0, err
	}
	return pid, nil
}

func (d *driven) consoleOrNil() *os.File {
	if d == nil {
		return nil
	}
	return d.console
}

package container

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// forkWireVersion leads an encoded ForkRequest: a forking process from
// another build refuses the request instead of misreading it.
const forkWireVersion = 1

// MarshalBinary encodes the request for the process that forks the init
// (the shim's control socket): varints, length-prefixed strings and
// lists, in field order. That process decodes it cold, on the start's
// critical path, where encoding/json's first decode of these types cost
// 0.8 ms; UnmarshalBinary uses no reflection.
func (r *ForkRequest) MarshalBinary() ([]byte, error) {
	if r.Plan == nil {
		return nil, errors.New("fork request without a plan")
	}
	w := wireWriter{b: make([]byte, 0, 512+8*len(r.Plan.Seccomp))}
	w.uint(forkWireVersion)
	w.uint(uint64(r.Cloneflags))
	w.uint(uint64(len(r.Joins)))
	for _, j := range r.Joins {
		w.str(j.Path)
		w.uint(uint64(j.Flag))
	}
	p := r.Plan
	w.bool(p.Setsid)
	w.uint(uint64(len(p.Rlimits)))
	for _, rl := range p.Rlimits {
		w.uint(uint64(rl.Resource))
		w.uint(rl.Soft)
		w.uint(rl.Hard)
	}
	w.uint(uint64(p.Umask))
	w.bool(p.NoNewPrivs)
	w.bool(p.SeccompEarly)
	w.bool(p.SeccompLate)
	w.uint(uint64(p.SeccompFlags))
	w.uint(uint64(len(p.Seccomp)))
	for _, ins := range p.Seccomp {
		w.b = binary.LittleEndian.AppendUint64(w.b, ins)
	}
	w.bool(p.SetCaps)
	w.uint32s(p.CapDrop)
	for _, c := range p.Caps {
		w.uint(uint64(c.Effective))
		w.uint(uint64(c.Permitted))
		w.uint(uint64(c.Inheritable))
	}
	w.uint32s(p.Ambient)
	w.uint32s(p.Groups)
	w.uint(uint64(p.UID))
	w.uint(uint64(p.GID))
	w.str(p.Cwd)
	w.strs(p.Paths)
	w.bool(p.Search)
	w.strs(p.Argv)
	w.strs(p.Env)
	return w.b, nil
}

// UnmarshalBinary decodes what MarshalBinary encoded; Sync and Fifo are
// left alone (they travel as descriptors).
func (r *ForkRequest) UnmarshalBinary(b []byte) error {
	rd := wireReader{b: b}
	if v := rd.uint(); rd.err == nil && v != forkWireVersion {
		return fmt.Errorf("fork request: encoding version %d, want %d (a petreld and a shim of different builds?)", v, forkWireVersion)
	}
	r.Cloneflags = uintptr(rd.uint())
	r.Joins = nil
	for n := rd.count(2); n > 0; n-- {
		r.Joins = append(r.Joins, ForkJoin{Path: rd.str(), Flag: int(rd.uint32())})
	}
	p := &PlanSpec{}
	p.Setsid = rd.bool()
	for n := rd.count(3); n > 0; n-- {
		p.Rlimits = append(p.Rlimits, PlanRlimit{Resource: rd.uint32(), Soft: rd.uint(), Hard: rd.uint()})
	}
	p.Umask = rd.uint32()
	p.NoNewPrivs = rd.bool()
	p.SeccompEarly = rd.bool()
	p.SeccompLate = rd.bool()
	p.SeccompFlags = rd.uint32()
	if n := rd.count(8); n > 0 {
		p.Seccomp = make([]uint64, n)
		for i := range p.Seccomp {
			p.Seccomp[i] = binary.LittleEndian.Uint64(rd.b[8*i:])
		}
		rd.b = rd.b[8*n:]
	}
	p.SetCaps = rd.bool()
	p.CapDrop = rd.uint32s()
	for i := range p.Caps {
		p.Caps[i].Effective = rd.uint32()
		p.Caps[i].Permitted = rd.uint32()
		p.Caps[i].Inheritable = rd.uint32()
	}
	p.Ambient = rd.uint32s()
	p.Groups = rd.uint32s()
	p.UID = rd.uint32()
	p.GID = rd.uint32()
	p.Cwd = rd.str()
	p.Paths = rd.strs()
	p.Search = rd.bool()
	p.Argv = rd.strs()
	p.Env = rd.strs()
	if rd.err == nil && len(rd.b) > 0 {
		rd.err = fmt.Errorf("%d bytes after the end", len(rd.b))
	}
	if rd.err != nil {
		return fmt.Errorf("fork request: %w", rd.err)
	}
	r.Plan = p
	return nil
}

// wireWriter and wireReader's primitives are not inlined: inlined at
// each of their calls, they made the encoding 3 KiB larger.
type wireWriter struct{ b []byte }

//go:noinline
func (w *wireWriter) uint(v uint64) { w.b = binary.AppendUvarint(w.b, v) }

//go:noinline
func (w *wireWriter) bool(v bool) {
	if v {
		w.b = append(w.b, 1)
	} else {
		w.b = append(w.b, 0)
	}
}

//go:noinline
func (w *wireWriter) str(s string) {
	w.uint(uint64(len(s)))
	w.b = append(w.b, s...)
}

func (w *wireWriter) strs(l []string) {
	w.uint(uint64(len(l)))
	for _, s := range l {
		w.str(s)
	}
}

func (w *wireWriter) uint32s(l []uint32) {
	w.uint(uint64(len(l)))
	for _, v := range l {
		w.uint(uint64(v))
	}
}

// wireReader reads a wireWriter's encoding; the first error sticks and
// every later read returns a zero value.
type wireReader struct {
	b   []byte
	err error
}

var errTruncated = errors.New("truncated")

//go:noinline
func (r *wireReader) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errTruncated
		return 0
	}
	r.b = r.b[n:]
	return v
}

//go:noinline
func (r *wireReader) uint32() uint32 {
	v := r.uint()
	if v > math.MaxUint32 {
		r.err = fmt.Errorf("%d does not fit 32 bits", v)
		return 0
	}
	return uint32(v)
}

//go:noinline
func (r *wireReader) bool() bool {
	switch v := r.uint(); {
	case r.err != nil:
		return false
	case v > 1:
		r.err = fmt.Errorf("%d is not a boolean", v)
		return false
	default:
		return v == 1
	}
}

// count reads a list's length, each element taking at least min bytes:
// a length the rest of the input cannot hold is an error, not an
// allocation.
func (r *wireReader) count(min int) int {
	n := r.uint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.err = errTruncated
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

//go:noinline
func (r *wireReader) str() string {
	n := r.count(1)
	if r.err != nil {
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *wireReader) strs() []string {
	n := r.count(1)
	if n == 0 {
		return nil
	}
	l := make([]string, n)
	for i := range l {
		l[i] = r.str()
	}
	return l
}

func (r *wireReader) uint32s() []uint32 {
	n := r.count(1)
	if n == 0 {
		return nil
	}
	l := make([]uint32, n)
	for i := range l {
		l[i] = r.uint32()
	}
	return l
}

// Handover encodes what the process that forked the init needs to take
// the created container on (AdoptHandover): its state, and what Start and
// Delete need of its configuration, unless they run hooks (then they read
// config.json). That process then decodes no JSON to start the container
// and to delete it: not state.json, which Adopt reads, and not
// config.json (a cold decode of all of it cost a shim 3 ms at the exit).
func (c *Container) Handover() ([]byte, error) {
	if c.spec == nil {
		return nil, errors.New("handover of a container whose configuration is not at hand")
	}
	w := wireWriter{b: make([]byte, 0, 256)}
	w.uint(forkWireVersion)
	w.str(c.ID)
	w.str(c.Bundle)
	w.str(c.Rootfs)
	w.uint(uint64(c.Pid))
	w.uint(c.PidStart)
	w.uint(uint64(c.Created.UnixNano()))
	w.str(c.Owner)
	w.strMap(c.CgroupPaths)
	w.strMap(c.Annotations)
	w.bool(c.spec.Process != nil)
	w.bool(hasNamespace(c.spec, specs.MountNamespace))
	w.bool(c.spec.Hooks != nil && (len(c.spec.Hooks.Poststart) > 0 || len(c.spec.Hooks.Poststop) > 0))
	return w.b, nil
}

// AdoptHandover is Adopt from a Handover instead of the state under root.
func AdoptHandover(root, id string, pid int, b []byte) (*Container, error) {
	rd := wireReader{b: b}
	if v := rd.uint(); rd.err == nil && v != forkWireVersion {
		return nil, fmt.Errorf("container %s: handover encoding version %d, want %d", id, v, forkWireVersion)
	}
	c := &Container{ID: rd.str(), Bundle: rd.str(), Rootfs: rd.str()}
	c.Pid = int(rd.uint32())
	c.PidStart = rd.uint()
	c.Created = time.Unix(0, int64(rd.uint())).UTC()
	c.Owner = rd.str()
	c.CgroupPaths = rd.strMap()
	c.Annotations = rd.strMap()
	hasProcess, mountNS, hooks := rd.bool(), rd.bool(), rd.bool()
	if rd.err == nil && len(rd.b) > 0 {
		rd.err = fmt.Errorf("%d bytes after the end", len(rd.b))
	}
	switch {
	case rd.err != nil:
		return nil, fmt.Errorf("container %s: handover: %w", id, rd.err)
	case c.ID != id:
		return nil, fmt.Errorf("container %s: handover is of container %s", id, c.ID)
	case c.Pid != pid || pid <= 0:
		return nil, fmt.Errorf("container %s: its init is %d, not %d", id, c.Pid, pid)
	}
	c.dir = filepath.Join(root, id)
	c.proc = &Process{Pid: pid}
	if !hooks {
		c.view = &specView{hasProcess: hasProcess, mountNS: mountNS}
	}
	return c, nil
}

func (w *wireWriter) strMap(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the same request, the same bytes
	w.uint(uint64(len(keys)))
	for _, k := range keys {
		w.str(k)
		w.str(m[k])
	}
}

func (r *wireReader) strMap() map[string]string {
	n := r.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for ; n > 0 && r.err == nil; n-- {
		k := r.str()
		m[k] = r.str()
	}
	return m
}

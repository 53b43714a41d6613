package seccomp

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A compiled filter:
//
//	ld  arch
//	jeq AUDIT_ARCH_a, section a      one per architecture, native first
//	ret KILL_THREAD                  libseccomp's bad-arch action
//	section a:
//	ld  nr
//	binary search on nr over ranges of equal verdict: a RET, or the
//	rules of one system call (argument checks in order, then default)
//
// Above the highest system call number the profile names, the verdict is
// ERRNO(ENOSYS) (runc's -ENOSYS stub) unless the default action lets the
// call through or is already ENOSYS. On x86_64, numbers with
// __X32_SYSCALL_BIT set belong to x32 and get the bad-arch action unless
// the profile lists SCMP_ARCH_X32; the same holds the other way round.

const badArchAction = unix.SECCOMP_RET_KILL_THREAD

var errTooLong = errors.New("seccomp filter too long")

type rule struct {
	conds []specs.LinuxSeccompArg
	act   uint32
}

// Compile turns cfg into a BPF program for the native architecture and the
// architectures cfg lists. A nil cfg has no program.
func Compile(cfg *specs.LinuxSeccomp) ([]unix.SockFilter, error) {
	return compileFor(cfg, -1)
}

// compileFor compiles with arches[nat] as the native architecture (-1: the
// one this program runs as).
func compileFor(cfg *specs.LinuxSeccomp, nat int) ([]unix.SockFilter, error) {
	if cfg == nil {
		return nil, nil
	}
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	if nat < 0 {
		var ok bool
		if nat, ok = native(); !ok {
			return nil, errors.New("seccomp: no system call table for this architecture")
		}
	}
	defAct, _ := action(cfg.DefaultAction, cfg.DefaultErrnoRet)

	// The ABIs to filter, native first, each once.
	abis := []int{nat}
	for _, name := range cfg.Architectures {
		i, _, _ := lookupArch(name)
		if i < 0 {
			continue
		}
		seen := false
		for _, a := range abis {
			seen = seen || a == i
		}
		if !seen {
			abis = append(abis, i)
		}
	}

	stub := true
	switch cfg.DefaultAction {
	case specs.ActAllow, specs.ActLog, specs.ActTrace:
		stub = false
	}
	if cfg.DefaultErrnoRet != nil && *cfg.DefaultErrnoRet == uint(unix.ENOSYS) {
		stub = false
	}

	c := &compiler{a: newAsm(), cfg: cfg, defAct: defAct, stub: stub}

	// One section per AUDIT_ARCH value, in the order of abis; x86_64 and x32
	// share theirs.
	type section struct {
		audit uint32
		parts [2]int // ABIs in the section, -1 if none
	}
	var sections []section
	for _, i := range abis {
		found := false
		for s := range sections {
			if sections[s].audit == arches[i].audit {
				sections[s].parts[1] = i
				found = true
			}
		}
		if !found {
			sections = append(sections, section{arches[i].audit, [2]int{i, -1}})
		}
	}
	labels := make([]ref, len(sections))
	for s := len(sections) - 1; s >= 0; s-- {
		var spans []span
		if sections[s].audit == unix.AUDIT_ARCH_X86_64 {
			amd, x32 := -1, -1
			for _, i := range sections[s].parts {
				if i >= 0 && arches[i].tab == tabX32 {
					x32 = i
				} else if i >= 0 {
					amd = i
				}
			}
			spans = c.spans(spans, amd, 0, x32SyscallBit-1)
			spans = c.spans(spans, x32, x32SyscallBit, 0xffffffff)
		} else {
			spans = c.spans(spans, sections[s].parts[0], 0, 0xffffffff)
		}
		c.a.place(c.tree(spans))
		labels[s] = c.a.load(offNr)
	}
	next := retRef(badArchAction)
	for s := len(sections) - 1; s >= 0; s-- {
		next = c.a.jump(bpfJEQ, sections[s].audit, labels[s], next)
	}
	c.a.place(next)
	c.a.load(offArch)

	prog := c.a.program()
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("%w: %d instructions, the kernel takes %d", errTooLong, len(prog), maxInsns)
	}
	return prog, nil
}

type compiler struct {
	a      *asm
	cfg    *specs.LinuxSeccomp
	defAct uint32
	stub   bool
}

// span is a range of system call numbers, from lo to the next span's lo,
// with one verdict.
type span struct {
	lo uint32
	r  ref
}

func addSpan(spans []span, lo uint32, r ref) []span {
	if n := len(spans); n > 0 && spans[n-1].r == r {
		return spans
	}
	return append(spans, span{lo, r})
}

// spans appends the verdicts of ABI abi (-1: not filtered) for the numbers
// lo..hi, writing the rule bodies they need.
func (c *compiler) spans(spans []span, abi int, lo, hi uint32) []span {
	if abi < 0 {
		return addSpan(spans, lo, retRef(badArchAction))
	}
	type entry struct {
		nr    uint32
		rules []rule
		key   string // where the rules come from: profile entries (and sub-calls)
	}
	byNr := map[uint32]*entry{}
	var max uint32
	haveMax := false
	add := func(nr uint32, from string, rules []rule) {
		e := byNr[nr]
		if e == nil {
			e = &entry{nr: nr}
			byNr[nr] = e
		}
		e.rules = append(e.rules, rules...)
		e.key += from
	}
	for i := range c.cfg.Syscalls {
		sc := &c.cfg.Syscalls[i]
		act, _ := action(sc.Action, sc.ErrnoRet)
		for _, name := range sc.Names {
			nr, ok := syscallNr(abi, name)
			// ARM's private calls sit far above the table; they would
			// disable the stub.
			if ok && !isARMPrivate(abi, nr) && (!haveMax || nr > max) {
				max, haveMax = nr, true
			}
			if act == c.defAct {
				continue // redundant, as in runc
			}
			if ok {
				add(nr, fmt.Sprintf("%d,", i), splitRule(sc.Args, act))
			}
			if mux, sub, ok := multiplexed(abi, name); ok {
				add(mux, fmt.Sprintf("%d/%d,", i, sub), muxRules(splitRule(sc.Args, act), sub))
			}
			// Names unknown here are skipped, as runc does.
		}
	}
	entries := make([]*entry, 0, len(byNr))
	for _, e := range byNr {
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(x, y *entry) int { return cmp.Compare(x.nr, y.nr) })

	// The verdict of numbers without rules: the default action, or ENOSYS
	// above max but for ARM's private calls.
	gap := func(nr uint32) ref {
		if c.stub && haveMax && nr > max && !isARMPrivate(abi, nr) {
			return retRef(unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS))
		}
		return retRef(c.defAct)
	}
	fill := func(spans []span, from, to uint32) []span {
		cuts := [...]uint32{max + 1, armPrivFirst, armPrivLast + 1}
		for from <= to {
			spans = addSpan(spans, from, gap(from))
			next := to
			for _, cut := range cuts {
				if cut > from && cut-1 < next {
					next = cut - 1
				}
			}
			if next == to {
				break
			}
			from = next + 1
		}
		return spans
	}
	bodies := map[string]ref{}
	cur := lo
	for _, e := range entries {
		if e.nr < lo || e.nr > hi {
			continue
		}
		if e.nr > cur {
			spans = fill(spans, cur, e.nr-1)
		}
		// System calls named by the same profile entries share one body.
		b, ok := bodies[e.key]
		if !ok {
			b = c.body(e.rules, abi)
			bodies[e.key] = b
		}
		spans = addSpan(spans, e.nr, b)
		if e.nr == hi {
			return spans
		}
		cur = e.nr + 1
	}
	return fill(spans, cur, hi)
}

// splitRule returns the rules of one profile entry: one with all its
// conditions ANDed, or, when two conditions test the same argument, one per
// condition (runc's behaviour).
func splitRule(args []specs.LinuxSeccompArg, act uint32) []rule {
	var seen [maxArgs]bool
	for _, arg := range args {
		if seen[arg.Index] {
			rules := make([]rule, len(args))
			for i := range args {
				rules[i] = rule{args[i : i+1], act}
			}
			return rules
		}
		seen[arg.Index] = true
	}
	return []rule{{args, act}}
}

// muxRules turns rules for a call that i386 also reaches through a
// multiplexer into rules for the multiplexer: the sub-call number replaces
// any condition on argument 0, the other conditions stay (libseccomp's
// x86_rule_add).
func muxRules(rules []rule, sub uint32) []rule {
	out := make([]rule, len(rules))
	for i, r := range rules {
		conds := []specs.LinuxSeccompArg{{Index: 0, Value: uint64(sub), Op: specs.OpEqualTo}}
		for _, a := range r.conds {
			if a.Index != 0 {
				conds = append(conds, a)
			}
		}
		out[i] = rule{conds, r.act}
	}
	return out
}

// body writes the rules of one system call, tried in order, and returns
// where they start.
func (c *compiler) body(rules []rule, abi int) ref {
	for i, r := range rules {
		if len(r.conds) == 0 {
			rules = rules[:i+1] // the rest is never reached
			break
		}
	}
	next := retRef(c.defAct)
	for i := len(rules) - 1; i >= 0; i-- {
		ok := retRef(rules[i].act)
		conds := rules[i].conds
		for j := len(conds) - 1; j >= 0; j-- {
			ok = c.cond(conds[j], arches[abi].bits == 32, ok, next)
		}
		next = ok
	}
	return next
}

// cond writes one argument comparison going to t when it holds, else to f.
// Arguments are compared unsigned; on 32-bit ABIs only their low word, as
// libseccomp does (the kernel zero-extends them).
func (c *compiler) cond(arg specs.LinuxSeccompArg, as32 bool, t, f ref) ref {
	if t == f {
		return t
	}
	lo := offArgs + 8*uint32(arg.Index) // little-endian: low word first
	hi := lo + 4
	v := arg.Value
	switch arg.Op {
	case specs.OpNotEqual:
		return c.cond(specs.LinuxSeccompArg{Index: arg.Index, Op: specs.OpEqualTo, Value: v}, as32, f, t)
	case specs.OpLessThan:
		return c.cond(specs.LinuxSeccompArg{Index: arg.Index, Op: specs.OpGreaterEqual, Value: v}, as32, f, t)
	case specs.OpLessEqual:
		return c.cond(specs.LinuxSeccompArg{Index: arg.Index, Op: specs.OpGreaterThan, Value: v}, as32, f, t)
	case specs.OpEqualTo:
		return c.masked(lo, hi, ^uint64(0), v, as32, t, f)
	case specs.OpMaskedEqual:
		return c.masked(lo, hi, arg.Value, arg.ValueTwo, as32, t, f)
	}
	// GT, GE: hi > vh, or hi == vh and lo > (>=) vl.
	jlo := uint16(bpfJGT)
	if arg.Op == specs.OpGreaterEqual {
		jlo = bpfJGE
	}
	r := c.a.jump(jlo, uint32(v), t, f)
	r = c.a.place(r)
	r = c.a.load(lo)
	if as32 {
		return r
	}
	r = c.a.jump(bpfJEQ, uint32(v>>32), r, f)
	r = c.a.jump(bpfJGT, uint32(v>>32), t, r)
	c.a.place(r)
	return c.a.load(hi)
}

// masked writes (arg & mask) == datum.
func (c *compiler) masked(lo, hi uint32, mask, datum uint64, as32 bool, t, f ref) ref {
	r := c.word(lo, uint32(mask), uint32(datum), t, f)
	if as32 {
		return r
	}
	return c.word(hi, uint32(mask>>32), uint32(datum>>32), r, f)
}

func (c *compiler) word(off, mask, datum uint32, t, f ref) ref {
	if mask == 0 {
		if datum == 0 {
			return t
		}
		return f
	}
	if mask&datum != datum {
		return f
	}
	r := c.a.jump(bpfJEQ, datum, t, f)
	c.a.place(r)
	if mask != 0xffffffff {
		c.a.emit(bpfALU|bpfAND|bpfK, mask, 0, 0)
	}
	return c.a.load(off)
}

// tree writes a binary search over spans and returns its root.
func (c *compiler) tree(spans []span) ref {
	if len(spans) == 1 {
		return spans[0].r
	}
	mid := len(spans) / 2
	right := c.tree(spans[mid:])
	left := c.tree(spans[:mid])
	return c.a.jump(bpfJGE, spans[mid].lo, right, left)
}

// isARMPrivate reports whether nr is one of ARM's private system calls,
// numbered far above the others.
func isARMPrivate(abi int, nr uint32) bool {
	return arches[abi].tab == tabARM && nr >= armPrivFirst && nr <= armPrivLast
}

const (
	armPrivFirst = 0x0f0000
	armPrivLast  = 0x0fffff
)

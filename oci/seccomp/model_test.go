package seccomp

import (
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// modelVerdict is what a filter compiled from cfg with arches[nat] as native
// architecture must answer for d, computed straight from the profile's
// semantics rather than from a program.
func modelVerdict(cfg *specs.LinuxSeccomp, nat int, d *seccompData) uint32 {
	defAct, _ := action(cfg.DefaultAction, cfg.DefaultErrnoRet)
	in := map[int]bool{nat: true}
	for _, name := range cfg.Architectures {
		if i, _, _ := lookupArch(name); i >= 0 {
			in[i] = true
		}
	}
	abi := -1
	for i := range in {
		if arches[i].audit != d.arch {
			continue
		}
		if d.arch == unix.AUDIT_ARCH_X86_64 && (arches[i].tab == tabX32) != (d.nr >= x32SyscallBit) {
			continue
		}
		abi = i
	}
	if abi < 0 {
		return badArchAction
	}
	as32 := arches[abi].bits == 32
	for _, sc := range cfg.Syscalls {
		act, _ := action(sc.Action, sc.ErrnoRet)
		if act == defAct {
			continue
		}
		for _, name := range sc.Names {
			var rules []rule
			if nr, ok := syscallNr(abi, name); ok && nr == d.nr {
				rules = splitRule(sc.Args, act)
			} else if mux, sub, ok := multiplexed(abi, name); ok && mux == d.nr {
				rules = muxRules(splitRule(sc.Args, act), sub)
			}
			for _, r := range rules {
				all := true
				for _, a := range r.conds {
					all = all && holds(a, d.args[a.Index], as32)
				}
				if all {
					return r.act
				}
			}
		}
	}
	stub := cfg.DefaultAction != specs.ActAllow && cfg.DefaultAction != specs.ActLog &&
		cfg.DefaultAction != specs.ActTrace &&
		(cfg.DefaultErrnoRet == nil || *cfg.DefaultErrnoRet != uint(unix.ENOSYS))
	if stub {
		var max uint32
		have := false
		for _, sc := range cfg.Syscalls {
			for _, name := range sc.Names {
				if nr, ok := syscallNr(abi, name); ok && !isARMPrivate(abi, nr) && (!have || nr > max) {
					max, have = nr, true
				}
			}
		}
		if have && d.nr > max && !isARMPrivate(abi, d.nr) {
			return unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		}
	}
	return defAct
}

func holds(a specs.LinuxSeccompArg, val uint64, as32 bool) bool {
	v, v2 := a.Value, a.ValueTwo
	if as32 {
		val, v, v2 = uint64(uint32(val)), uint64(uint32(v)), uint64(uint32(v2))
	}
	switch a.Op {
	case specs.OpNotEqual:
		return val != v
	case specs.OpLessThan:
		return val < v
	case specs.OpLessEqual:
		return val <= v
	case specs.OpEqualTo:
		return val == v
	case specs.OpGreaterEqual:
		return val >= v
	case specs.OpGreaterThan:
		return val > v
	case specs.OpMaskedEqual:
		return val&v == v2
	}
	panic("unknown operator " + a.Op)
}

package container

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var schedPolicies = table[specs.LinuxSchedulerPolicy, uint32]{
	{specs.SchedOther, 0},
	{specs.SchedFIFO, 1},
	{specs.SchedRR, 2},
	{specs.SchedBatch, 3},
	{specs.SchedISO, 4},
	{specs.SchedIdle, 5},
	{specs.SchedDeadline, 6},
}

var schedFlags = table[specs.LinuxSchedulerFlag, uint64]{
	{specs.SchedFlagResetOnFork, unix.SCHED_FLAG_RESET_ON_FORK},
	{specs.SchedFlagReclaim, unix.SCHED_FLAG_RECLAIM},
	{specs.SchedFlagDLOverrun, unix.SCHED_FLAG_DL_OVERRUN},
	{specs.SchedFlagKeepPolicy, unix.SCHED_FLAG_KEEP_POLICY},
	{specs.SchedFlagKeepParams, unix.SCHED_FLAG_KEEP_PARAMS},
	{specs.SchedFlagUtilClampMin, unix.SCHED_FLAG_UTIL_CLAMP_MIN},
	{specs.SchedFlagUtilClampMax, unix.SCHED_FLAG_UTIL_CLAMP_MAX},
}

var ioPrioClasses = table[specs.IOPriorityClass, int]{
	{specs.IOPRIO_CLASS_RT, 1},
	{specs.IOPRIO_CLASS_BE, 2},
	{specs.IOPRIO_CLASS_IDLE, 3},
}

// validateSched checks the scheduler, I/O priority and personality
// settings before anything is set up.
func validateSched(p *specs.Process, l *specs.Linux) error {
	if s := p.Scheduler; s != nil {
		if _, ok := schedPolicies.get(s.Policy); !ok {
			return fmt.Errorf("process.scheduler: unknown policy %q", s.Policy)
		}
		for _, f := range s.Flags {
			if _, ok := schedFlags.get(f); !ok {
				return fmt.Errorf("process.scheduler: unknown flag %q", f)
			}
		}
	}
	if io := p.IOPriority; io != nil {
		if _, ok := ioPrioClasses.get(io.Class); !ok {
			return fmt.Errorf("process.ioPriority: unknown class %q", io.Class)
		}
		if io.Priority < 0 || io.Priority > 7 {
			return fmt.Errorf("process.ioPriority: priority %d is not in 0..7", io.Priority)
		}
	}
	if l != nil && l.Personality != nil {
		switch l.Personality.Domain {
		case specs.PerLinux, specs.PerLinux32:
		default:
			return fmt.Errorf("linux.personality: unknown domain %q", l.Personality.Domain)
		}
		if len(l.Personality.Flags) > 0 {
			return fmt.Errorf("linux.personality: flags %v are not supported", l.Personality.Flags)
		}
	}
	return nil
}

// applySched sets the scheduler, I/O priority and personality of the
// calling thread, which is the one that execs.
func applySched(p *specs.Process, l *specs.Linux) error {
	if s := p.Scheduler; s != nil {
		attr := unix.SchedAttr{
			Policy: schedPolicies.val(s.Policy), Nice: s.Nice, Priority: uint32(s.Priority),
			Runtime: s.Runtime, Deadline: s.Deadline, Period: s.Period,
		}
		for _, f := range s.Flags {
			attr.Flags |= schedFlags.val(f)
		}
		if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
			return fmt.Errorf("process.scheduler: sched_setattr: %w", err)
		}
	}
	if io := p.IOPriority; io != nil {
		prio := ioPrioClasses.val(io.Class)<<13 | io.Priority
		const ioprioWhoProcess = 1
		if _, _, e := unix.RawSyscall(unix.SYS_IOPRIO_SET, ioprioWhoProcess, 0, uintptr(prio)); e != 0 {
			return fmt.Errorf("process.ioPriority: ioprio_set: %w", e)
		}
	}
	if l != nil && l.Personality != nil {
		persona := 0 // PER_LINUX
		if l.Personality.Domain == specs.PerLinux32 {
			persona = 0x0008 // PER_LINUX32
		}
		if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, uintptr(persona), 0, 0); e != 0 {
			return fmt.Errorf("linux.personality: %w", e)
		}
	}
	return nil
}

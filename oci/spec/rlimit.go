package spec

import "golang.org/x/sys/unix"

// rlimits lists the rlimit names with their resource numbers: a slice the
// linker lays out, where a map would be built at every applet's start.
var rlimits = [...]struct {
	name string
	res  int
}{
	{"RLIMIT_AS", unix.RLIMIT_AS}, {"RLIMIT_CORE", unix.RLIMIT_CORE}, {"RLIMIT_CPU", unix.RLIMIT_CPU},
	{"RLIMIT_DATA", unix.RLIMIT_DATA}, {"RLIMIT_FSIZE", unix.RLIMIT_FSIZE}, {"RLIMIT_LOCKS", unix.RLIMIT_LOCKS},
	{"RLIMIT_MEMLOCK", unix.RLIMIT_MEMLOCK}, {"RLIMIT_MSGQUEUE", unix.RLIMIT_MSGQUEUE}, {"RLIMIT_NICE", unix.RLIMIT_NICE},
	{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE}, {"RLIMIT_NPROC", unix.RLIMIT_NPROC}, {"RLIMIT_RSS", unix.RLIMIT_RSS},
	{"RLIMIT_RTPRIO", unix.RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", unix.RLIMIT_RTTIME}, {"RLIMIT_SIGPENDING", unix.RLIMIT_SIGPENDING},
	{"RLIMIT_STACK", unix.RLIMIT_STACK},
}

// Rlimit returns the resource number of an rlimit name such as "RLIMIT_NOFILE".
func Rlimit(name string) (int, bool) {
	for _, r := range rlimits {
		if r.name == name {
			return r.res, true
		}
	}
	return 0, false
}

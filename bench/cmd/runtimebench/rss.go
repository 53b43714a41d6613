package main

import (
	"os"
	"os/exec"
	"strings"

	"github.com/petrel-edge/petrel/bench/internal/peakrss"
)

// peakRSS runs the runtime with args under ptrace and returns the VmHWM in
// KiB of its process at exit: the peak RSS of the runtime itself, without
// the container processes it starts (package peakrss says why not
// ru_maxrss). The call is not timed.
func (r *runtime) peakRSS(args ...string) (int64, error) {
	argv := append([]string{"--root", r.root}, args...)
	if err := rewind(r.errlog); err != nil {
		return 0, err
	}
	cmd := exec.Command(r.path, argv...)
	cmd.Stderr = r.errlog
	hwm, err := peakrss.Run(cmd)
	if err != nil {
		b, _ := os.ReadFile(r.errlog.Name())
		return 0, &callError{cmd: r.path + " " + strings.Join(argv, " ") + " (under ptrace)", err: err, stderr: string(b)}
	}
	return hwm, nil
}

package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/core/hugetext"
)

// hugeTextEnv carries petreld's start-up across its own executions:
// "populate:PATH" in a copy run from memory, "done:MESSAGE" back in the
// binary.
const hugeTextEnv = "PETREL_HUGETEXT"

// warmBinary reads the petrel binary's text into 2 MiB folios (core/hugetext),
// so that clients and shims start faster, and returns what to log. It
// may execute petreld twice: the binary's pages that petreld itself maps
// cannot be dropped, so it first executes a copy of itself from memory,
// populates the binary from there and executes the binary again, with
// the same arguments and pid. Nothing before it may depend on state that
// an exec loses.
func warmBinary(enabled bool) string {
	stage := os.Getenv(hugeTextEnv)
	self, _ := os.Readlink("/proc/self/exe")
	switch {
	case strings.HasPrefix(stage, "populate:") && strings.HasPrefix(self, "/memfd:petrel"):
		return populateAndReturn(strings.TrimPrefix(stage, "populate:"))
	case strings.HasPrefix(stage, "done:"):
		os.Unsetenv(hugeTextEnv)
		return releaseText("petrel binary: " + strings.TrimPrefix(stage, "done:"))
	}
	if !enabled {
		return ""
	}
	if ok, why := hugetext.Available(); !ok {
		return "petrel binary: stays in 4 KiB pages: " + why
	}
	text, err := hugetext.OwnText()
	switch {
	case err != nil:
		return "petrel binary: stays in 4 KiB pages: " + err.Error()
	case text.Mappable == 0:
		return "petrel binary: stays in 4 KiB pages: its text's addresses and file offsets are not 2 MiB apart"
	case text.Mapped >= text.Mappable:
		return releaseText("petrel binary: text in 2 MiB pages already")
	}
	if self == "" || strings.HasSuffix(self, " (deleted)") {
		return fmt.Sprintf("petrel binary: stays in 4 KiB pages: %q is not a binary on disk", self)
	}
	err = hugetext.ExecCopy(self, os.Args, withEnv(hugeTextEnv+"=populate:"+execPath(self)))
	return "petrel binary: stays in 4 KiB pages: " + err.Error()
}

// execPath returns the path petreld was executed by (argv[0], looked up
// in PATH when it has no slash) if it names the running binary, else
// self: executed again by that path, petreld keeps its name (its comm,
// what ps, pidof and the init scripts see) when a link named it.
func execPath(self string) string {
	p := os.Args[0]
	if !strings.Contains(p, "/") {
		lp, err := exec.LookPath(p)
		if err != nil {
			return self
		}
		p = lp
	}
	var a, b unix.Stat_t
	if unix.Stat(p, &a) != nil || unix.Stat(self, &b) != nil || a.Dev != b.Dev || a.Ino != b.Ino {
		return self
	}
	return p
}

// populateAndReturn runs in the copy: it populates the binary and
// executes it again, or goes on as petreld from the copy if it cannot.
func populateAndReturn(exe string) string {
	hugetext.SetName(filepath.Base(exe))
	text, err := hugetext.OwnText()
	var n int64
	if err == nil {
		n, err = hugetext.Populate(exe, text.Offset, text.Length)
	}
	var msg string
	switch {
	case err != nil:
		msg = "stays in 4 KiB pages: " + err.Error()
	case n == 0:
		msg = "stays in 4 KiB pages: none of it went into a huge folio (the file system keeps small ones, or processes kept mapping it)"
	default:
		msg = fmt.Sprintf("text read into 2 MiB pages (%d of %d MiB)", n>>20, (text.Length+2<<20-1)>>21<<1)
	}
	err = unix.Exec(exe, os.Args, withEnv(hugeTextEnv+"=done:"+msg))
	os.Unsetenv(hugeTextEnv)
	return fmt.Sprintf("petrel binary: %s; running from a copy in memory: execute %s: %v", msg, exe, err)
}

// releaseText has petreld map its own text with small pages (see
// hugetext.Release) and returns msg, with the error if it could not.
func releaseText(msg string) string {
	if err := hugetext.Release(); err != nil {
		return msg + "; " + err.Error()
	}
	return msg
}

// withEnv returns the environment with kv (KEY=VALUE) in place of any
// value of KEY.
func withEnv(kv string) []string {
	key, _, _ := strings.Cut(kv, "=")
	env := []string{kv}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, key+"=") {
			env = append(env, e)
		}
	}
	return env
}

//go:build integration

package engine

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestExec(t *testing.T) {
	d := startDaemon(t)
	d.must(d.runArgs("-d", "--name", "box", "--hostname", "boxhost", "none", "sleep", "1000")...)
	tests := []struct {
		name           string
		args           []string
		stdin          string
		stdout, stderr string
		code           int
	}{
		{"output and code", []string{"exec", "box", "sh", "-c", "echo out; echo err >&2; exit 9"}, "", "out\n", "err\n", 9},
		{"stdin env workdir", []string{"exec", "-i", "-e", "X=1", "-w", "/tmp", "box", "sh", "-c", "cat; echo $X $(pwd)"}, "piped\n", "piped\n1 /tmp\n", "", 0},
		{"user", []string{"exec", "-u", "nobody", "box", "id", "-u"}, "", "65534\n", "", 0},
		{"same namespaces", []string{"exec", "box", "sh", "-c", "ps -o comm | grep -c sleep"}, "", "1\n", "", 0},
		// Every exec, not only the first: the shim's runtime joins
		// namespaces from threads it must not keep.
		{"same uts, mount, net namespaces", []string{"exec", "box", "sh", "-c",
			`hostname; for ns in uts mnt net ipc; do [ "$(readlink /proc/self/ns/$ns)" = "$(readlink /proc/1/ns/$ns)" ] || echo "$ns differs"; done`}, "", "boxhost\n", "", 0},
		{"again", []string{"exec", "box", "hostname"}, "", "boxhost\n", "", 0},
		{"missing command", []string{"exec", "box", "/nonexistent"}, "", "", "", 1},
		{"no command", []string{"exec", "box"}, "", "", "", 125},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errs, code := d.petrelIn(tc.stdin, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d (stdout %q, stderr %q)", code, tc.code, out, errs)
			}
			if tc.code == 0 || tc.code == 9 {
				if out != tc.stdout || errs != tc.stderr {
					t.Errorf("stdout %q stderr %q, want %q %q", out, errs, tc.stdout, tc.stderr)
				}
			}
		})
	}
	if out := d.must("top", "box"); !strings.Contains(out, "PID") || !strings.Contains(out, "sleep 1000") || strings.Count(out, "\n") != 1 {
		t.Errorf("top: %q", out)
	}
	d.must("exec", "-d", "box", "sh", "-c", "echo detached > /tmp/mark")
	d.waitFor("the detached exec", func() bool {
		out, _, _ := d.petrel("exec", "box", "cat", "/tmp/mark")
		return out == "detached\n"
	})
	d.must("stop", "-t", "0", "box")
	_, errs, code := d.petrel("exec", "box", "true")
	if code == 0 || !strings.Contains(errs, "is not running") {
		t.Errorf("exec in a stopped container: exit %d, %q", code, errs)
	}
}

// openPty returns a pty master and its slave.
func openPty(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

func TestTerminal(t *testing.T) {
	d := startDaemon(t)
	d.must(d.runArgs("-d", "-t", "--name", "tbox", "none", "sleep", "1000")...)
	tests := []struct {
		name string
		args []string
	}{
		{"run -it", d.runArgs("-it", "--rm", "none", "sh", "-c", "stty size; tty; read x; echo got $x")},
		{"exec -it", []string{"exec", "-it", "tbox", "sh", "-c", "stty size; tty; read x; echo got $x"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, s := openPty(t)
			if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 101}); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(d.bin, append([]string{"-H", "unix://" + d.sock}, tc.args...)...)
			cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			s.Close()
			// The shell reads one line once it printed its terminal.
			var out bytes.Buffer
			buf := make([]byte, 4096)
			for !strings.Contains(out.String(), "/dev/pts/") {
				n, err := m.Read(buf)
				out.Write(buf[:n])
				if err != nil {
					t.Fatalf("pty closed early: %q", out.String())
				}
			}
			m.Write([]byte("abc\r"))
			io.Copy(&out, m) // until the client exits (EIO)
			if err := cmd.Wait(); err != nil {
				t.Errorf("client: %v", err)
			}
			got := out.String()
			if !strings.Contains(got, "33 101") || !strings.Contains(got, "got abc") {
				t.Errorf("terminal output %q lacks the size 33 101 and the echoed line", got)
			}
		})
	}
}

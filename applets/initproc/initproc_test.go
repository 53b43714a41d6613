package initproc

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"success", []string{"--", "true"}, 0},
		{"status", []string{"sh", "-c", "exit 3"}, 3},
		{"killed by a signal", []string{"sh", "-c", "kill -KILL $$"}, 128 + 9},
		{"orphans are reaped, the command's status wins", []string{"sh", "-c", "sleep 0.1 & exit 5"}, 5},
		{"missing command", []string{"/nonexistent/cmd"}, 127},
		{"no command", nil, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := run(tc.args, &stderr); got != tc.want {
				t.Errorf("exit %d, want %d (stderr %q)", got, tc.want, stderr.String())
			}
		})
	}
}

// A signal sent to the init reaches the command.
func TestForwardsSignals(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"sh", "-c", `trap "exit 7" TERM; touch ` + ready + `; while :; do sleep 0.02; done`}, os.Stderr)
	}()
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	if got := <-done; got != 7 {
		t.Errorf("exit %d, want 7 (the command's trap)", got)
	}
}

func TestUsage(t *testing.T) {
	var stderr bytes.Buffer
	if got := run([]string{"--help"}, &stderr); got != 0 || !strings.Contains(stderr.String(), "Usage") {
		t.Errorf("--help: exit %d, %q", got, stderr.String())
	}
}

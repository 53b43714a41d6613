package lcr

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want unix.Signal
		ok   bool
	}{
		{"KILL", unix.SIGKILL, true},
		{"SIGTERM", unix.SIGTERM, true},
		{"hup", unix.SIGHUP, true},
		{"9", unix.SIGKILL, true},
		{"0", 0, false},
		{"65", 0, false},
		{"SIGNOPE", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := parseSignal(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSignal(%q) = %v, %v; want %v ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1024", 1024, true},
		{"64m", 64 << 20, true},
		{"64M", 64 << 20, true},
		{"1g", 1 << 30, true},
		{"2KiB", 2048, true},
		{"-1", -1, true},
		{"-5", 0, false},
		{"lots", 0, false},
		{"", 0, false},
	}
	for _, tc := range tests {
		got, err := parseSize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"state"}, 2, "usage: state"},
		{[]string{"state", "a", "b"}, 2, "usage: state"},
		{[]string{"create", "--bogus", "x"}, 2, "bogus"},
		{[]string{"kill", "x", "SIGFOO"}, 2, "SIGFOO"},
		{[]string{"--log-format", "xml", "list"}, 2, "--log-format"},
		{[]string{"list", "--format", "yaml"}, 2, "yaml"},
		{[]string{"state", "nope"}, 1, "does not exist"},
		{[]string{"delete", "nope"}, 1, "does not exist"},
		{[]string{"update", "--memory", "lots", "x"}, 1, "does not exist"},
		{[]string{"--systemd-cgroup", "list"}, 1, "systemd"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"--root", root}, tc.args...), &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errb.String(), tc.code, tc.want)
			}
		})
	}
}

func TestDeleteForceOfMissingSucceeds(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--root", t.TempDir(), "delete", "--force", "gone"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
}

func TestLogFileJSON(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log.json")
	var out, errb bytes.Buffer
	run([]string{"--root", t.TempDir(), "--log", log, "--log-format", "json", "state", "nope"}, &out, &errb)
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var entry struct{ Level, Msg, Time string }
	if err := json.Unmarshal(bytes.TrimSpace(data), &entry); err != nil {
		t.Fatalf("log line %q: %v", data, err)
	}
	if entry.Level != "error" || !strings.Contains(entry.Msg, "does not exist") || entry.Time == "" {
		t.Errorf("log entry %+v", entry)
	}
}

func TestSpecAndFeatures(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	if code := run([]string{"spec", "--bundle", dir}, &out, &errb); code != 0 {
		t.Fatalf("spec: %s", errb.String())
	}
	if code := run([]string{"spec", "--bundle", dir}, &out, &errb); code == 0 {
		t.Error("spec overwrote an existing config.json")
	}
	out.Reset()
	if code := run([]string{"features"}, &out, &errb); code != 0 {
		t.Fatalf("features: %s", errb.String())
	}
	var f struct {
		OCIVersionMax string
		Linux         struct{ Namespaces []string }
	}
	if err := json.Unmarshal(out.Bytes(), &f); err != nil || f.OCIVersionMax == "" || len(f.Linux.Namespaces) == 0 {
		t.Errorf("features %+v, %v", f, err)
	}
}

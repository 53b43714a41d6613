package client

import (
	"bytes"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/core/api"
)

func TestImageRows(t *testing.T) {
	list := []api.ImageSummary{
		{ID: "sha256:" + strings.Repeat("a", 64), RepoTags: []string{"busybox:latest", "host:5000/bb:1"},
			RepoDigests: []string{"busybox@sha256:" + strings.Repeat("d", 64)}, Size: 4_260_000},
		{ID: "sha256:" + strings.Repeat("b", 64), RepoDigests: []string{"app@sha256:" + strings.Repeat("e", 64)}},
		{ID: "sha256:" + strings.Repeat("c", 64)},
	}
	rows := imageRows(list, false)
	want := []imageRow{
		{"busybox", "latest", "sha256:" + strings.Repeat("d", 64), strings.Repeat("a", 12), 0, 4_260_000},
		{"host:5000/bb", "1", "<none>", strings.Repeat("a", 12), 0, 4_260_000},
		{"app", "<none>", "sha256:" + strings.Repeat("e", 64), strings.Repeat("b", 12), 0, 0},
		{"<none>", "<none>", "<none>", strings.Repeat("c", 12), 0, 0},
	}
	if len(rows) != len(want) {
		t.Fatalf("rows %+v", rows)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: %+v, want %+v", i, rows[i], want[i])
		}
	}
	if rows := imageRows(list[:1], true); rows[0].id != list[0].ID {
		t.Errorf("--no-trunc id %q", rows[0].id)
	}
}

func TestRenderTemplate(t *testing.T) {
	fields := map[string]string{".Repository": "busybox", ".Tag": "latest"}
	tests := []struct{ format, want, err string }{
		{"{{.Repository}}:{{.Tag}}", "busybox:latest", ""},
		{`table {{.Repository}}\t{{ .Tag }}`, "busybox\tlatest", ""},
		{"{{.Size}}", "", "unknown field .Size"},
		{"{{.Repository", "", "unclosed action"},
	}
	for _, tc := range tests {
		got, err := renderTemplate(tc.format, fields)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: %q, %v; want error %q", tc.format, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %q, %v; want %q", tc.format, got, err, tc.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 999: "999B", 1000: "1kB", 4_260_000: "4.26MB", 1_234_567_890: "1.23GB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestProgressUI(t *testing.T) {
	msgs := []api.JSONMessage{
		{Status: "Pulling from library/busybox", ID: "latest"},
		{Status: "Pulling fs layer", ID: "aaa"},
		{Status: "Pulling fs layer", ID: "bbb"},
		{Status: "Downloading", ID: "aaa", Progress: "[=>  ] 1MB/2MB", ProgressDetail: &api.ProgressDetail{Current: 1, Total: 2}},
		{Status: "Pull complete", ID: "aaa"},
		{Status: "Pull complete", ID: "bbb"},
		{Status: "Digest: sha256:x"},
	}
	var plain bytes.Buffer
	ui := newProgressUI(&plain)
	for _, m := range msgs {
		ui.show(m)
	}
	want := "latest: Pulling from library/busybox\naaa: Pulling fs layer\nbbb: Pulling fs layer\naaa: Pull complete\nbbb: Pull complete\nDigest: sha256:x\n"
	if plain.String() != want {
		t.Errorf("plain output:\n%q\nwant\n%q", plain.String(), want)
	}
	// On a terminal, updates of a layer redraw its line in place.
	var tty bytes.Buffer
	ui = newProgressUI(&tty)
	ui.tty = true
	for _, m := range msgs {
		ui.show(m)
	}
	out := tty.String()
	for _, want := range []string{"aaa: Downloading [=>  ] 1MB/2MB", "\x1b[2A\raaa: Pull complete\x1b[K\x1b[2B\r", "\x1b[1A\rbbb: Pull complete\x1b[K\x1b[1B\r"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
}

func TestReadMessagesError(t *testing.T) {
	in := strings.NewReader(`{"status":"Pulling from x","id":"1"}` + "\n" + `{"errorDetail":{"message":"boom"},"error":"boom"}` + "\n")
	var out bytes.Buffer
	if _, err := readMessages(in, newProgressUI(&out), false); err == nil || err.Error() != "boom" {
		t.Errorf("error in the stream: %v", err)
	}
	if _, err := readMessages(strings.NewReader(`{"status":`), nil, true); err == nil {
		t.Error("a broken stream was accepted")
	}
}

func TestCheckPullPolicy(t *testing.T) {
	for _, p := range []string{"", "missing", "always", "never"} {
		if err := checkPullPolicy(p); err != nil {
			t.Errorf("%q: %v", p, err)
		}
	}
	if err := checkPullPolicy("sometimes"); err == nil || !strings.Contains(err.Error(), "invalid pull option") {
		t.Errorf("sometimes: %v", err)
	}
}

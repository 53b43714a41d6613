package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSmaps(t *testing.T) {
	in := "55d0-7ffd ---p 00000000 00:00 0  [rollup]\nRss:  9924 kB\nPss:  4916 kB\nPss_Anon: 1800 kB\n" +
		"Shared_Clean: 5000 kB\nPrivate_Clean: 3000 kB\nPrivate_Dirty: 1900 kB\nAnonymous: 1820 kB\n"
	got, err := parseSmaps([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := (smaps{RSS: 9924, PSS: 4916, Private: 4900, Anonymous: 1820}); got != want {
		t.Errorf("parseSmaps = %+v, want %+v", got, want)
	}
	if _, err := parseSmaps([]byte("Private_Clean: 3 kB\n")); err == nil {
		t.Error("a rollup without Rss and Pss was accepted")
	}
}

func TestParseSectorsWritten(t *testing.T) {
	got, err := parseSectorsWritten("     120        0     5000      40       33       10      264       90        0      100      130\n")
	if err != nil || got != 264*512 {
		t.Errorf("parseSectorsWritten = %d, %v; want %d", got, err, 264*512)
	}
	if _, err := parseSectorsWritten("1 2 3"); err == nil {
		t.Error("a short stat line was accepted")
	}
}

func TestChanged(t *testing.T) {
	id := strings.Repeat("ab", 32)
	files := []string{
		"root/containers/" + id + "/config.v2.json (4)",
		"root/containers/" + id + "/.config.v2.json.tmp-123 (5)",
		"root/containers/" + id + "/.config.v2.json.tmp-456 (5)",
		"state/shim/" + id + ".sock (2)",
	}
	want := "4 files: root/containers/ID/.config.v2.json.tmp-* root/containers/ID/config.v2.json state/shim/ID.sock"
	if got := changed(files); got != want {
		t.Errorf("changed =\n%q, want\n%q", got, want)
	}
	if got := changed(nil); got != "no file changed" {
		t.Errorf("changed(nil) = %q", got)
	}
}

func TestSavedRatios(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("runtimebench.json", `{"subject":"petrel","ratios":{"run":{"petrel/runc":0.64,"petrel/crun":1.75}}}`)
	write("pullbench.json", `{"subject":"petrel","tools":[{"name":"petrel","total":{"median_ms":2700},"peak_rss":{"median_kb":12700}},`+
		`{"name":"podman","total":{"median_ms":5900},"peak_rss":{"median_kb":61800}},{"name":"skopeo+umoci","skipped":"not installed"}]}`)
	got, notes := savedRatios(dir)
	var lines []string
	for _, r := range got {
		lines = append(lines, fmt.Sprintf("%s %s %.2f", r.Bench, r.What, r.Value))
	}
	want := []string{"runtime run petrel/crun 1.75", "runtime run petrel/runc 0.64", "pull wall petrel/podman 0.46", "pull peak RSS petrel/podman 0.21"}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("ratios:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "enginebench.json") {
		t.Errorf("notes %q, want one about the missing enginebench.json", notes)
	}
}

func TestPeersFrom(t *testing.T) {
	p := filepath.Join(t.TempDir(), "e.json")
	os.WriteFile(p, []byte(`{"subject":"petrel","engines":[{"name":"petrel"},{"name":"docker","version":"20.10"},{"name":"podman","skipped":"not installed"}],
		"memory":{"petrel":{"containers":10},"docker":{"containers":10,"daemons_idle":{"pss_kib":90000},"host_pss_kib_per_container":4000}}}`), 0o644)
	got, err := peersFrom(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "docker" || got[0].IdleKiB != 90000 || got[0].PerContainer != 4000 ||
		got[1].Name != "podman" || got[1].Skipped != "not installed" {
		t.Errorf("peers %+v", got)
	}
}

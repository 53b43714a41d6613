package client

import (
	"errors"
	"strings"
	"testing"

	"github.com/petrel-edge/petrel/core/api"
)

func TestFlags(t *testing.T) {
	type result struct {
		detach, tty, stdin, rm bool
		name                   string
		env                    []string
		rest                   []string
	}
	parse := func(interspersed bool, args ...string) (result, error) {
		var r result
		f := newFlags("x", interspersed)
		f.Bool(&r.detach, "detach", "d", "")
		f.Bool(&r.tty, "tty", "t", "")
		f.Bool(&r.stdin, "interactive", "i", "")
		f.Bool(&r.rm, "rm", "", "")
		f.String(&r.name, "name", "", "")
		f.List(&r.env, "env", "e", "")
		rest, err := f.Parse(args)
		r.rest = rest
		return r, err
	}
	tests := []struct {
		args         []string
		interspersed bool
		want         string // the result, or "error: …" substring
	}{
		{[]string{"-d", "--name", "web", "img", "sh", "-c", "x"}, false, "d name=web rest=img,sh,-c,x"},
		{[]string{"-dit", "img"}, false, "d t i rest=img"},
		{[]string{"--name=web", "-e", "A=1", "-eB=2", "img"}, false, "name=web env=A=1,B=2 rest=img"},
		{[]string{"--rm=false", "--detach=true", "img"}, false, "d rest=img"},
		{[]string{"a", "-d", "b"}, true, "d rest=a,b"},
		{[]string{"a", "-d", "b"}, false, "rest=a,-d,b"},
		{[]string{"--", "-d"}, true, "rest=-d"},
		{[]string{"--bogus", "img"}, false, "error: unknown flag: --bogus"},
		{[]string{"-x"}, false, "error: unknown shorthand flag: 'x'"},
		{[]string{"--name"}, false, "error: flag needs an argument: --name"},
		{[]string{"--rm=maybe"}, false, "error: invalid argument \"maybe\""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r, err := parse(tc.interspersed, tc.args...)
			if strings.HasPrefix(tc.want, "error: ") {
				if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tc.want, "error: ")) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, b := range []struct {
				on bool
				s  string
			}{{r.detach, "d"}, {r.tty, "t"}, {r.stdin, "i"}, {r.rm, "rm"}} {
				if b.on {
					parts = append(parts, b.s)
				}
			}
			if r.name != "" {
				parts = append(parts, "name="+r.name)
			}
			if len(r.env) > 0 {
				parts = append(parts, "env="+strings.Join(r.env, ","))
			}
			parts = append(parts, "rest="+strings.Join(r.rest, ","))
			if got := strings.Join(parts, " "); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := parse(false, "--help"); !errors.Is(err, errHelp) {
		t.Errorf("--help: %v", err)
	}
}

func TestPsFormat(t *testing.T) {
	ct := api.Container{ID: "0123456789abcdef", Names: []string{"/web"}, Image: "none", Command: "sleep 1", State: "running", Status: "Up 1 second", Labels: map[string]string{"b": "2", "a": "1"}}
	tests := []struct {
		format, want string
	}{
		{"{{.ID}} {{.Names}}", "0123456789ab web"},
		{"{{ .State }}/{{.Status}}", "running/Up 1 second"},
		{"{{.Command}}", `"sleep 1"`},
		{"{{.Labels}}", "a=1,b=2"},
		{`{{.Names}}\t{{.Image}}`, "web\tnone"},
		{"{{.Bogus}}", "error"},
		{"{{.ID", "error"},
	}
	for _, tc := range tests {
		got, err := psFormat(tc.format, ct, false)
		if tc.want == "error" {
			if err == nil {
				t.Errorf("%q accepted", tc.format)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("psFormat(%q) = %q, %v; want %q", tc.format, got, err, tc.want)
		}
	}
}

func TestFormatPath(t *testing.T) {
	doc := []byte(`{"Id":"abc","State":{"Status":"running","ExitCode":137,"Running":true,"Error":""},"Args":["-c","x"],"Gone":null}`)
	tests := []struct {
		format, want string
	}{
		{"{{.State.Status}}", "running"},
		{"{{.State.ExitCode}} {{.State.Running}}", "137 true"},
		{"{{json .Args}}", `["-c","x"]`},
		{"{{json .Id}}", `"abc"`},
		{"id={{.Id}}", "id=abc"},
		{"{{.Gone}}", "<no value>"},
		{"{{.State.Nope}}", "error"},
		{"{{range .Args}}", "error"},
	}
	for _, tc := range tests {
		got, err := formatPath(doc, tc.format)
		if tc.want == "error" {
			if err == nil {
				t.Errorf("%q accepted: %q", tc.format, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("formatPath(%q) = %q, %v; want %q", tc.format, got, err, tc.want)
		}
	}
}

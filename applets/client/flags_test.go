package client

import (
	"errors"
	"strings"
	"testing"
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

package engine

import (
	"encoding/json"
	"strings"

	"github.com/petrel-edge/petrel/core/errdefs"
	"github.com/petrel-edge/petrel/image/manifest"
)

// ApplyChanges applies Dockerfile instructions, as docker import -c and
// commit --change take them, to an image configuration: CMD, ENTRYPOINT
// (JSON array or shell form), ENV, LABEL, EXPOSE, USER, WORKDIR,
// STOPSIGNAL and VOLUME.
func ApplyChanges(cfg *manifest.Config, changes []string) error {
	for _, ch := range changes {
		ch = strings.TrimSpace(ch)
		instr, rest, _ := strings.Cut(ch, " ")
		rest = strings.TrimSpace(rest)
		bad := func(why string) error {
			return errdefs.Invalid("invalid change %q: %s", ch, why)
		}
		if rest == "" {
			return bad("no value")
		}
		switch strings.ToUpper(instr) {
		case "CMD":
			cfg.Cmd = commandForm(rest)
		case "ENTRYPOINT":
			cfg.Entrypoint = commandForm(rest)
		case "ENV":
			kvs, err := keyValues(rest, true)
			if err != nil {
				return bad(err.Error())
			}
			for _, kv := range kvs {
				cfg.Env = mergeEnv(cfg.Env, []string{kv[0] + "=" + kv[1]})
			}
		case "LABEL":
			kvs, err := keyValues(rest, false)
			if err != nil {
				return bad(err.Error())
			}
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			for _, kv := range kvs {
				cfg.Labels[kv[0]] = kv[1]
			}
		case "EXPOSE":
			if cfg.ExposedPorts == nil {
				cfg.ExposedPorts = map[string]struct{}{}
			}
			for _, p := range strings.Fields(rest) {
				port, proto, ok := strings.Cut(p, "/")
				if !ok {
					proto = "tcp"
				}
				if !isDigits(port) || proto != "tcp" && proto != "udp" && proto != "sctp" {
					return bad("want a port such as 80 or 53/udp")
				}
				cfg.ExposedPorts[port+"/"+proto] = struct{}{}
			}
		case "USER":
			cfg.User = rest
		case "WORKDIR":
			if !strings.HasPrefix(rest, "/") {
				return bad("the working directory must be absolute")
			}
			cfg.WorkingDir = rest
		case "STOPSIGNAL":
			if _, err := ParseSignal(rest); err != nil {
				return bad(err.Error())
			}
			cfg.StopSignal = rest
		case "VOLUME":
			if cfg.Volumes == nil {
				cfg.Volumes = map[string]struct{}{}
			}
			var vs []string
			if json.Unmarshal([]byte(rest), &vs) != nil {
				vs = strings.Fields(rest)
			}
			for _, v := range vs {
				cfg.Volumes[v] = struct{}{}
			}
		default:
			return errdefs.Invalid("invalid change %q: %s is not one of CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, USER, WORKDIR, STOPSIGNAL, VOLUME", ch, instr)
		}
	}
	return nil
}

// commandForm reads ["a", "b"], else the shell form.
func commandForm(s string) []string {
	var argv []string
	if strings.HasPrefix(s, "[") && json.Unmarshal([]byte(s), &argv) == nil {
		return argv
	}
	return []string{"/bin/sh", "-c", s}
}

// keyValues reads k=v pairs (values may be double-quoted), or for ENV's
// legacy form "KEY value with spaces".
func keyValues(s string, legacy bool) ([][2]string, error) {
	if k, v, ok := strings.Cut(s, " "); legacy && ok && !strings.Contains(k, "=") {
		return [][2]string{{k, strings.TrimSpace(v)}}, nil
	}
	var out [][2]string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || strings.ContainsAny(s[:eq], " \t\"") {
			return nil, errdefs.Invalid("want key=value")
		}
		k := s[:eq]
		s = s[eq+1:]
		var v string
		if strings.HasPrefix(s, `"`) {
			end := 1
			for end < len(s) && s[end] != '"' {
				if s[end] == '\\' {
					end++
				}
				end++
			}
			if end >= len(s) {
				return nil, errdefs.Invalid("unterminated quote")
			}
			v = strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(s[1:end])
			s = s[end+1:]
		} else {
			v, s, _ = strings.Cut(s, " ")
		}
		out = append(out, [2]string{k, v})
	}
	return out, nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// Package mountinfo reads /proc/<pid>/mountinfo: the mounts of a mount
// namespace, for code that must find, make private or undo mounts.
package mountinfo

import (
	"os"
	"path/filepath"
	"strings"
)

// A Mount is one line of mountinfo (proc(5)), with its escapes undone.
type Mount struct {
	Root      string   // root of the mount within its filesystem (field 4)
	Point     string   // mount point (field 5)
	Optional  []string // optional fields: shared:N, master:N, …
	FSType    string
	Source    string
	SuperOpts []string // per-superblock options (for cgroup v1, the controllers)
}

// Read parses the mount table of the calling thread's mount namespace
// (/proc/thread-self/mountinfo: a thread that joined another mount
// namespace sees that one, not the process's).
func Read() ([]Mount, error) {
	data, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, err
	}
	return Parse(string(data)), nil
}

// Parse parses mountinfo text; malformed lines are skipped.
func Parse(text string) []Mount {
	var ms []Mount
	for line := range strings.Lines(text) {
		pre, post, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 6 || len(g) < 3 {
			continue
		}
		ms = append(ms, Mount{
			Root:      unescape(f[3]),
			Point:     unescape(f[4]),
			Optional:  f[6:],
			FSType:    g[0],
			Source:    unescape(g[1]),
			SuperOpts: strings.Split(g[2], ","),
		})
	}
	return ms
}

// Under returns the mount points at or below dir, the last mounted
// first: the order to unmount them in.
func Under(ms []Mount, dir string) []string {
	dir = filepath.Clean(dir)
	var points []string
	for i := len(ms) - 1; i >= 0; i-- {
		if p := ms[i].Point; p == dir || strings.HasPrefix(p, dir+"/") || dir == "/" {
			points = append(points, p)
		}
	}
	return points
}

// Holding returns the mount that holds path: the one with the longest
// mount point that is path or a parent of it (the last mounted wins a tie).
func Holding(ms []Mount, path string) (Mount, bool) {
	path = filepath.Clean(path)
	var best Mount
	found := false
	for _, m := range ms {
		p := m.Point
		if (p == path || p == "/" || strings.HasPrefix(path, p+"/")) && (!found || len(p) >= len(best.Point)) {
			best, found = m, true
		}
	}
	return best, found
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(o string) bool {
	return o[0] >= '0' && o[0] <= '3' && o[1] >= '0' && o[1] <= '7' && o[2] >= '0' && o[2] <= '7'
}

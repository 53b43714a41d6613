package reference

import (
	"errors"
	"fmt"
	"strings"

	"github.com/petrel-edge/petrel/image/digest"
)

// Defaults applied by Parse.
const (
	DefaultDomain = "docker.io"
	DefaultTag    = "latest"
	// LegacyDomain is the registry host docker.io references talk to.
	LegacyDomain  = "registry-1.docker.io"
	officialRepos = "library/"
	maxNameLen    = 255
	maxTagLen     = 128
)

// ErrInvalid is wrapped by every parse failure.
var ErrInvalid = errors.New("invalid reference")

// A Reference names an image: a repository on a registry, and a tag, a
// digest or both. Parse always fills Domain and Path.
type Reference struct {
	Domain string        // registry host[:port], "docker.io" by default
	Path   string        // repository path, "library/busybox"
	Tag    string        // "latest" unless a digest alone was given
	Digest digest.Digest // empty unless given
}

// Parse parses and normalises s. Without a tag or digest the tag is
// "latest". Upper-case repository names, bad tags, bad digests and bare
// 64-character hex strings (image IDs) are refused with an error that
// wraps ErrInvalid and says what is wrong.
func Parse(s string) (Reference, error) {
	r, err := parse(s)
	if err != nil {
		return Reference{}, err
	}
	if r.Tag == "" && r.Digest == "" {
		r.Tag = DefaultTag
	}
	return r, nil
}

// ParseRepository parses a repository name without tag or digest, as
// "petrel tag" and "push" take for a destination without a tag.
func ParseRepository(s string) (Reference, error) {
	r, err := parse(s)
	if err != nil {
		return Reference{}, err
	}
	if r.Tag != "" || r.Digest != "" {
		return Reference{}, fmt.Errorf("%w %q: a repository name takes no tag or digest", ErrInvalid, s)
	}
	return r, nil
}

func errf(s, format string, a ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalid, s, fmt.Sprintf(format, a...))
}

func parse(s string) (Reference, error) {
	if s == "" {
		return Reference{}, errf(s, "empty")
	}
	if isIDLike(s) {
		return Reference{}, errf(s, "a 64-character hexadecimal string is an image ID, not a repository name")
	}
	var r Reference
	rest := s
	if i := strings.IndexByte(rest, '@'); i >= 0 {
		d, err := digest.Parse(rest[i+1:])
		if err != nil {
			return Reference{}, errf(s, "bad digest: %v", err)
		}
		r.Digest = d
		rest = rest[:i]
	}
	// A tag follows the last colon after the last slash (a colon before
	// a slash belongs to a port).
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && i > strings.LastIndexByte(rest, '/') {
		tag := rest[i+1:]
		if err := checkTag(tag); err != nil {
			return Reference{}, errf(s, "%v", err)
		}
		r.Tag = tag
		rest = rest[:i]
	}
	if rest == "" {
		return Reference{}, errf(s, "missing repository name")
	}
	// The first component is a registry host if it looks like one.
	domain, path := "", rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		first := rest[:i]
		if strings.ContainsAny(first, ".:") || first == "localhost" || strings.ToLower(first) != first {
			domain, path = first, rest[i+1:]
		}
	}
	if domain == "" {
		domain = DefaultDomain
	} else if err := checkDomain(domain); err != nil {
		return Reference{}, errf(s, "%v", err)
	}
	if domain == "index.docker.io" || domain == LegacyDomain {
		domain = DefaultDomain
	}
	if domain == DefaultDomain && !strings.Contains(path, "/") {
		path = officialRepos + path
	}
	if strings.ToLower(path) != path {
		return Reference{}, errf(s, "repository name must be lowercase")
	}
	if err := checkPath(path); err != nil {
		return Reference{}, errf(s, "%v", err)
	}
	if len(domain)+1+len(path) > maxNameLen {
		return Reference{}, errf(s, "repository name longer than %d characters", maxNameLen)
	}
	r.Domain, r.Path = domain, path
	return r, nil
}

func isIDLike(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// checkPath checks path components: [a-z0-9]+ joined by ".", "_", "__"
// or any run of "-".
func checkPath(path string) error {
	for comp := range strings.SplitSeq(path, "/") {
		if comp == "" {
			return errors.New("empty path component")
		}
		if !isAlnum(comp[0]) || !isAlnum(comp[len(comp)-1]) {
			return fmt.Errorf("path component %q must start and end with a lower-case letter or digit", comp)
		}
		for i := 0; i < len(comp); i++ {
			c := comp[i]
			if isAlnum(c) {
				continue
			}
			switch {
			case c == '.' || c == '_':
				// "." and "_" single, "__" double; never "._" or "..".
				if c == '_' && comp[i+1] == '_' {
					i++
				}
				if !isAlnum(comp[i+1]) {
					return fmt.Errorf("invalid separator in path component %q", comp)
				}
			case c == '-':
				for comp[i+1] == '-' {
					i++
				}
				if !isAlnum(comp[i+1]) {
					return fmt.Errorf("invalid separator in path component %q", comp)
				}
			default:
				return fmt.Errorf("invalid character %q in path component %q", c, comp)
			}
		}
	}
	return nil
}

func checkDomain(d string) error {
	host, port := d, ""
	if strings.HasPrefix(d, "[") {
		i := strings.IndexByte(d, ']')
		if i < 0 {
			return fmt.Errorf("unterminated IPv6 address in %q", d)
		}
		for _, c := range d[1:i] {
			if !(c == ':' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return fmt.Errorf("bad IPv6 address in %q", d)
			}
		}
		host, port = "", d[i+1:]
		if port != "" && port[0] != ':' {
			return fmt.Errorf("bad registry host %q", d)
		}
		port = strings.TrimPrefix(port, ":")
		if port == "" && strings.HasSuffix(d, ":") {
			return fmt.Errorf("empty port in %q", d)
		}
	} else if i := strings.IndexByte(d, ':'); i >= 0 {
		host, port = d[:i], d[i+1:]
		if port == "" {
			return fmt.Errorf("empty port in %q", d)
		}
	}
	for _, c := range port {
		if c < '0' || c > '9' {
			return fmt.Errorf("bad port in registry host %q", d)
		}
	}
	if host == "" && !strings.HasPrefix(d, "[") {
		return fmt.Errorf("empty registry host in %q", d)
	}
	if host == "" {
		return nil
	}
	for label := range strings.SplitSeq(host, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("bad registry host %q", d)
		}
		for _, c := range label {
			if !(c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return fmt.Errorf("bad character %q in registry host %q", c, d)
			}
		}
	}
	return nil
}

func checkTag(tag string) error {
	if tag == "" {
		return errors.New("empty tag")
	}
	if len(tag) > maxTagLen {
		return fmt.Errorf("tag longer than %d characters", maxTagLen)
	}
	for i := 0; i < len(tag); i++ {
		c := tag[i]
		word := c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !word && (i == 0 || c != '.' && c != '-') {
			return fmt.Errorf("invalid tag %q", tag)
		}
	}
	return nil
}

// Name returns "domain/path", for example "docker.io/library/busybox".
func (r Reference) Name() string { return r.Domain + "/" + r.Path }

// String returns the full normalised form, "docker.io/library/busybox:latest".
func (r Reference) String() string {
	s := r.Name()
	if r.Tag != "" {
		s += ":" + r.Tag
	}
	if r.Digest != "" {
		s += "@" + string(r.Digest)
	}
	return s
}

// Familiar returns the short form users type: "busybox:latest",
// "team/app:v1", "127.0.0.1:5000/app:v1".
func (r Reference) Familiar() string {
	name := r.Name()
	if r.Domain == DefaultDomain {
		name = strings.TrimPrefix(r.Path, officialRepos)
	}
	if r.Tag != "" {
		name += ":" + r.Tag
	}
	if r.Digest != "" {
		name += "@" + string(r.Digest)
	}
	return name
}

// Object returns what the registry's manifests endpoint takes: the digest
// when there is one, else the tag.
func (r Reference) Object() string {
	if r.Digest != "" {
		return string(r.Digest)
	}
	return r.Tag
}

// WithTag returns r naming tag and no digest.
func (r Reference) WithTag(tag string) Reference {
	r.Tag, r.Digest = tag, ""
	return r
}

// WithDigest returns r naming d and no tag.
func (r Reference) WithDigest(d digest.Digest) Reference {
	r.Tag, r.Digest = "", d
	return r
}

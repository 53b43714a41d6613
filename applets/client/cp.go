package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/petrel-edge/petrel/core/api"
	"github.com/petrel-edge/petrel/core/archive"
)

// splitCpArg splits CONTAINER:PATH; a local path is absolute, starts
// with "." or has no colon (docker's rule, so ./a:b is a local file).
func splitCpArg(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok || ctr == "" {
		return "", arg
	}
	return ctr, p
}

func cmdCp(c *cli, args []string) error {
	var archiveMode, follow, quiet bool
	f := newFlags("petrel cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n        petrel cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH", true)
	f.Bool(&archiveMode, "archive", "a", "archive mode: keep uid and gid")
	f.Bool(&follow, "follow-link", "L", "always follow a symbolic link in SRC_PATH")
	f.Bool(&quiet, "quiet", "q", "print nothing but errors (no progress is printed anyway)")
	rest, err := c.parse(f, args, 2, 2)
	if err != nil {
		return err
	}
	srcCtr, src := splitCpArg(rest[0])
	dstCtr, dst := splitCpArg(rest[1])
	switch {
	case srcCtr != "" && dstCtr != "":
		return &usageError{err: errors.New("copying between containers is not supported")}
	case srcCtr == "" && dstCtr == "":
		return &usageError{err: errors.New("must specify at least one container source")}
	case srcCtr != "" && src == "" || dstCtr != "" && dst == "":
		return &usageError{err: errors.New("the path in the container cannot be empty")}
	case src == "" || dst == "":
		return &usageError{err: errors.New("the local path cannot be empty")}
	}
	if srcCtr != "" {
		return c.copyFrom(srcCtr, src, dst, archiveMode, follow)
	}
	return c.copyTo(src, dstCtr, dst, archiveMode, follow)
}

func decodePathStat(h string) (api.PathStat, error) {
	var st api.PathStat
	data, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return st, fmt.Errorf("bad %s header: %w", "X-Docker-Container-Path-Stat", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("bad %s header: %w", "X-Docker-Container-Path-Stat", err)
	}
	return st, nil
}

// statIn describes a path in a container; exists is false when the
// path is missing. HEAD has no body: the daemon's reason for an error
// comes in the X-Petrel-Error header.
func (c *cli) statIn(ctr, p string) (st api.PathStat, exists bool, err error) {
	u := "http://petrel" + apiPrefix + "/containers/" + ctr + "/archive?" + url.Values{"path": {p}}.Encode()
	req, err := http.NewRequestWithContext(c.ctx, "HEAD", u, nil)
	if err != nil {
		return st, false, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return st, false, c.connError(err)
	}
	resp.Body.Close()
	msg := resp.Header.Get("X-Petrel-Error")
	switch {
	case resp.StatusCode == http.StatusNotFound && strings.HasPrefix(msg, "Could not find the file"):
		return st, false, nil
	case resp.StatusCode >= 400:
		if msg == "" {
			msg = resp.Status
		}
		return st, false, &apiError{status: resp.StatusCode, msg: msg}
	}
	st, err = decodePathStat(resp.Header.Get("X-Docker-Container-Path-Stat"))
	return st, err == nil, err
}

func (c *cli) copyFrom(ctr, src, dst string, keepOwner, follow bool) error {
	resp, err := c.do("GET", "/containers/"+ctr+"/archive", url.Values{"path": {src}}, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	st, err := decodePathStat(resp.Header.Get("X-Docker-Container-Path-Stat"))
	if err != nil {
		return err
	}
	if follow && st.Mode&fs.ModeSymlink != 0 {
		target := st.LinkTarget
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(path.Clean("/"+src)), target)
		}
		resp.Body.Close()
		return c.copyFrom(ctr, target, dst, keepOwner, false)
	}
	if dst == "-" {
		_, err := io.Copy(c.stdout, resp.Body)
		return err
	}
	srcContents := st.Mode.IsDir() && (strings.HasSuffix(src, "/.") || src == ".")
	top := path.Base(path.Clean("/" + src))
	if strings.HasSuffix(src, "/.") || strings.HasSuffix(src, "/") {
		top = "."
	}
	// Where the archive's top entry lands: root is the directory that
	// holds it; nothing it carries can leave root.
	var root, name string
	dfi, derr := os.Stat(dst)
	switch {
	case derr == nil && dfi.IsDir():
		if srcContents {
			root, name = dst, "."
		} else {
			root, name = dst, top
			if top == "." {
				name = path.Base(path.Clean("/" + src))
			}
		}
	case derr == nil:
		if st.Mode.IsDir() {
			return fmt.Errorf("cannot copy a directory to a file: %s", dst)
		}
		root, name = filepath.Dir(dst), filepath.Base(dst)
	case errors.Is(derr, fs.ErrNotExist):
		if strings.HasSuffix(dst, string(filepath.Separator)) && !st.Mode.IsDir() {
			return fmt.Errorf("destination directory %s does not exist", dst)
		}
		root, name = filepath.Dir(filepath.Clean(dst)), filepath.Base(filepath.Clean(dst))
		if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
			return fmt.Errorf("destination directory %s does not exist", root)
		}
	default:
		return derr
	}
	r, err := archive.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	o := archive.UntarOptions{Rebase: [2]string{top, name}}
	if top == "." {
		o.Rebase[0] = "./"
	}
	if !keepOwner {
		o.Owner = &[2]int{os.Getuid(), os.Getgid()}
	}
	return r.Untar("/", resp.Body, o)
}

func (c *cli) copyTo(src, ctr, dst string, keepOwner, follow bool) error {
	q := url.Values{}
	if keepOwner {
		q.Set("copyUIDGID", "1")
	}
	put := func(dir string, body io.Reader) error {
		q.Set("path", dir)
		u := "http://petrel" + apiPrefix + "/containers/" + ctr + "/archive?" + q.Encode()
		req, err := http.NewRequestWithContext(c.ctx, "PUT", u, body)
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-tar")
		resp, err := c.hc.Do(req)
		if err != nil {
			return c.connError(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode >= 400 {
			return readAPIError(resp)
		}
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if src == "-" {
		st, ok, err := c.statIn(ctr, dst)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("Could not find the file %s in container %s", dst, ctr)
		}
		if !st.Mode.IsDir() {
			return fmt.Errorf("destination %s is not a directory: a tar stream from - is extracted into a directory", ctr+":"+dst)
		}
		return put(dst, c.stdin)
	}
	local := src
	if follow {
		p, err := filepath.EvalSymlinks(src)
		if err != nil {
			return err
		}
		local = p
	}
	sfi, err := os.Lstat(local)
	if err != nil {
		return err
	}
	srcContents := sfi.IsDir() && (strings.HasSuffix(src, "/.") || src == ".")
	st, exists, err := c.statIn(ctr, dst)
	if err != nil {
		return err
	}
	var dir, top string
	switch {
	case exists && st.Mode.IsDir():
		dir, top = dst, filepath.Base(filepath.Clean(local))
		if srcContents {
			top = "."
		}
	case exists:
		if sfi.IsDir() {
			return fmt.Errorf("cannot copy a directory to a file: %s", ctr+":"+dst)
		}
		dir, top = path.Dir(path.Clean("/"+dst)), path.Base(dst)
	default:
		if strings.HasSuffix(dst, "/") && !sfi.IsDir() {
			return fmt.Errorf("destination directory %s does not exist", ctr+":"+dst)
		}
		dir, top = path.Dir(path.Clean("/"+dst)), path.Base(path.Clean("/"+dst))
	}
	parent, base := filepath.Dir(filepath.Clean(local)), filepath.Base(filepath.Clean(local))
	if srcContents {
		parent, base = filepath.Clean(local), "."
	}
	r, err := archive.OpenRoot(parent)
	if err != nil {
		return err
	}
	defer r.Close()
	pr, pw := io.Pipe()
	go func() {
		p := "/" + base
		if base == "." {
			p = "/."
		}
		pw.CloseWithError(r.TarAs(p, top, pw))
	}()
	err = put(dir, pr)
	pr.CloseWithError(errors.New("upload ended"))
	return err
}

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/petrel-edge/petrel/core/mountinfo"
)

// A registry is a docker-registry process serving on loopback.
type registry struct {
	host string // 127.0.0.1:port
	cmd  *exec.Cmd
	log  string // its stdout and stderr
	done chan struct{}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// registryConfig is docker-registry's configuration: storage under data,
// listening on 127.0.0.1:port only.
func registryConfig(data string, port int) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: 127.0.0.1:%d
`, data, port)
}

// startRegistry runs docker-registry with its config and storage in dir and
// waits until it answers. The caller stops it with stop.
func startRegistry(ctx context.Context, dir string) (*registry, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, []byte(registryConfig(filepath.Join(dir, "data"), port)), 0o644); err != nil {
		return nil, err
	}
	r := &registry{host: fmt.Sprintf("127.0.0.1:%d", port), log: filepath.Join(dir, "registry.log"), done: make(chan struct{})}
	logf, err := os.Create(r.log)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	r.cmd = exec.Command("docker-registry", "serve", cfg)
	r.cmd.Stdout, r.cmd.Stderr = logf, logf
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start docker-registry: %w", err)
	}
	go func() { r.cmd.Wait(); close(r.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + r.host + "/v2/")
		if err == nil {
			resp.Body.Close()
			return r, nil
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("docker-registry exited: %s\n%s", r.cmd.ProcessState, r.logTail())
		case <-ctx.Done():
			r.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("docker-registry on %s did not answer in 30s: %v\n%s", r.host, err, r.logTail())
		}
	}
}

// stop kills the registry and waits for it.
func (r *registry) stop() {
	r.cmd.Process.Kill()
	<-r.done
}

func (r *registry) logTail() string { return tail(r.log, 2000) }

// tail returns the last n bytes of a file, or "" when it cannot be read.
func tail(path string, n int64) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if int64(len(b)) > n {
		b = b[int64(len(b))-n:]
	}
	return strings.TrimSpace(string(b))
}

// push copies the layout's tag to the registry as repo:tag with skopeo.
func push(ctx context.Context, skopeo, layoutDir string, r *registry, repo, tag string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	args := []string{"copy", "--dest-tls-verify=false", "oci:" + layoutDir + ":" + tag, "docker://" + r.host + "/" + repo + ":" + tag}
	out, err := exec.CommandContext(ctx, skopeo, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", skopeo, strings.Join(args, " "), err, out)
	}
	return nil
}

// removeTree unmounts every mount at or below dir (lazily, as a last
// resort) and removes dir.
func removeTree(dir string) error {
	var errs []error
	if ms, err := mountinfo.Read(); err == nil {
		for _, mp := range mountinfo.Under(ms, dir) {
			if err := unmount(mp); err != nil {
				errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err))
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

//go:build integration

package engine

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/petrel-edge/petrel/image/manifest"
	"github.com/petrel-edge/petrel/tests/internal/testenv"
	"github.com/petrel-edge/petrel/tests/internal/testreg"
)

// testImage is the busybox image the image tests push: its config is
// what run must merge with the request.
func testImage() testreg.Image {
	return testreg.Image{
		Config: manifest.Config{
			Env: []string{"PATH=/bin", "MODE=image"}, Cmd: []string{"sh", "-c", "echo from-image $MODE; pwd"},
			WorkingDir: "/srv", Labels: map[string]string{"org.test": "yes"}, StopSignal: "SIGUSR1",
			ExposedPorts: map[string]struct{}{"8080/tcp": {}},
		},
		Extra: map[string]string{"srv/greeting": "hello from a layer\n"},
	}
}

// imageStoreEmpty fails unless the daemon's image store holds no layer,
// container snapshot or blob.
func (d *daemon) imageStoreEmpty(t *testing.T) {
	t.Helper()
	for _, sub := range []string{"snapshots/layers", "snapshots/active", "content/blobs/sha256"} {
		ents, _ := os.ReadDir(filepath.Join(d.root, "image", sub))
		if len(ents) != 0 {
			t.Errorf("image store %s holds %d entries", sub, len(ents))
		}
	}
}

// mountsLeft is mountsUnder once removals have had a few seconds to
// end: rm answers before it unmounts.
func (d *daemon) mountsLeft() int {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n := d.mountsUnder(); n == 0 || time.Now().After(deadline) {
			return n
		}
	}
}

// mountsUnder counts the mounts below the daemon's directory.
func (d *daemon) mountsUnder() int {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		// Network namespaces bound under the state dir are the network's,
		// counted by the network tests.
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], d.dir+"/") && !strings.Contains(line, " - nsfs ") {
			n++
		}
	}
	return n
}

func TestImagePullRunRmi(t *testing.T) {
	d := startDaemon(t)
	reg := testreg.Start(t, "", "")
	reg.Push(t, "bb", "1", testImage())
	name := reg.Host + "/bb:1"

	out := d.must("pull", name)
	for _, want := range []string{"1: Pulling from bb", "Pull complete", "Digest: sha256:", "Status: Downloaded newer image for " + name, "\n" + name} {
		if !strings.Contains(out, want) {
			t.Errorf("pull output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "[=") {
		t.Errorf("progress bars written to a pipe:\n%s", out)
	}
	if out := d.must("info"); !strings.Contains(out, "Images: 1\n") || !strings.Contains(out, "Storage Driver: overlay2") {
		t.Errorf("info after a pull:\n%s", out)
	}
	if out := d.must("pull", "-q", name); out != name {
		t.Errorf("pull -q: %q", out)
	}
	if out := d.must("pull", name); !strings.Contains(out, "Status: Image is up to date for "+name) {
		t.Errorf("second pull: %s", out)
	}

	fullID := d.must("images", "-q", "--no-trunc")
	if !strings.HasPrefix(fullID, "sha256:") || len(fullID) != 71 {
		t.Fatalf("images -q --no-trunc: %q", fullID)
	}
	if out := d.must("images", "-q"); out != fullID[7:19] {
		t.Errorf("images -q: %q, want %q", out, fullID[7:19])
	}
	if out := d.must("images"); !strings.Contains(out, "REPOSITORY") || !strings.Contains(out, reg.Host+"/bb") || !strings.Contains(out, fullID[7:19]) {
		t.Errorf("images:\n%s", out)
	}
	if out := d.must("images", "--digests"); !strings.Contains(out, "DIGEST") || !strings.Contains(out, "sha256:") {
		t.Errorf("images --digests:\n%s", out)
	}
	if out := d.must("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"); out != name+" "+fullID[7:19] {
		t.Errorf("images --format: %q", out)
	}
	if out := d.must("images", "-q", "nosuch/*"); out != "" {
		t.Errorf("images with a reference that matches nothing: %q", out)
	}

	if out := d.must("run", "--rm", name); out != "from-image image\n/srv" {
		t.Errorf("run with the image's command: %q", out)
	}
	if out := d.must("run", "--rm", "-e", "MODE=request", "-w", "/", name); out != "from-image request\n/" {
		t.Errorf("run with env and workdir: %q", out)
	}
	if out := d.must("run", "--rm", "--entrypoint", "cat", name, "/srv/greeting"); out != "hello from a layer" {
		t.Errorf("run with entrypoint: %q", out)
	}

	d.must("run", "-d", "--name", "keep", name, "sleep", "1000")
	var j []struct {
		Image  string
		Driver string
		Config struct {
			Image        string
			Labels       map[string]string
			ExposedPorts map[string]struct{}
			StopSignal   string
		}
	}
	if err := json.Unmarshal([]byte(d.must("inspect", "keep")), &j); err != nil || len(j) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	if c := j[0]; c.Image != fullID || c.Config.Image != name || c.Config.Labels["org.test"] != "yes" || c.Driver != "overlay2" ||
		c.Config.StopSignal != "SIGUSR1" || len(c.Config.ExposedPorts) != 1 {
		t.Errorf("inspect: %+v", c)
	}
	// The container writes to its own layer, not the image's.
	d.must("exec", "keep", "sh", "-c", "echo changed > /srv/greeting")
	if out := d.must("run", "--rm", name, "cat", "/srv/greeting"); out != "hello from a layer" {
		t.Errorf("a container's write reached the image: %q", out)
	}
	if _, errs, code := d.petrel("rmi", name); code != 1 || !strings.Contains(errs, "must force") || !strings.Contains(errs, "is using its referenced image") {
		t.Errorf("rmi of a used image: exit %d, %s", code, errs)
	}
	if _, errs, code := d.petrel("rmi", "-f", name); code != 1 || !strings.Contains(errs, "running container") {
		t.Errorf("rmi -f of an image a running container uses: exit %d, %s", code, errs)
	}
	if d.mountsUnder() != 1 {
		t.Errorf("%d mounts under the daemon's directory with one container", d.mountsUnder())
	}
	d.must("rm", "-f", "keep")
	if n := d.mountsLeft(); n != 0 {
		t.Errorf("%d mounts left after rm", n)
	}
	out = d.must("rmi", name)
	if !strings.Contains(out, "Untagged: "+name) || !strings.Contains(out, "Deleted: "+fullID) {
		t.Errorf("rmi: %s", out)
	}
	if out := d.must("images", "-q"); out != "" {
		t.Errorf("images after rmi: %q", out)
	}
	d.imageStoreEmpty(t)
}

func TestRunPullsMissingImage(t *testing.T) {
	d := startDaemon(t)
	reg := testreg.Start(t, "", "")
	reg.Push(t, "bb", "1", testImage())
	name := reg.Host + "/bb:1"
	since := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	if _, errs, code := d.petrel("run", "--rm", "--pull", "never", name, "true"); code != 125 || !strings.Contains(errs, "No such image: "+name) {
		t.Errorf("run --pull never: exit %d, %s", code, errs)
	}
	out, errs, code := d.petrel("run", "--rm", name, "echo", "hi")
	if code != 0 || out != "hi\n" || !strings.Contains(errs, "Unable to find image '"+name+"' locally") || !strings.Contains(errs, "Pull complete") {
		t.Errorf("run of a missing image: exit %d, stdout %q, stderr %s", code, out, errs)
	}
	// create pulls too, and tag names the same image.
	d.must("tag", name, "local/alias:v2")
	if out := d.must("create", "--name", "c2", "local/alias:v2"); len(out) != 64 {
		t.Errorf("create from a tag: %q", out)
	}
	if got, want := d.inspect("c2", ".Image"), d.must("images", "-q", "--no-trunc", "local/alias"); got != want {
		t.Errorf("inspect .Image %q, want %q", got, want)
	}
	d.must("rm", "c2")
	out = d.must("rmi", "local/alias:v2")
	if out != "Untagged: local/alias:v2" {
		t.Errorf("rmi of one of two names: %q", out)
	}
	out = d.must("events", "--since", since, "--until", strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10))
	var actions []string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[1] == "image" {
			actions = append(actions, f[2])
		}
	}
	if got := strings.Join(actions, " "); got != "pull tag untag" {
		t.Errorf("image events %q, want pull tag untag:\n%s", got, out)
	}
}

func TestExportImport(t *testing.T) {
	d := startDaemon(t)
	d.must(d.runArgs("--name", "src", "none", "sh", "-c", "echo exported > /root/marker")...)
	tarPath := filepath.Join(d.dir, "src.tar")
	d.must("export", "-o", tarPath, "src")
	id := d.must("import", "-c", `CMD ["cat", "/root/marker"]`, "-c", "ENV FROM=import", "-m", "round trip", tarPath, "local/exported:v1")
	if !strings.HasPrefix(id, "sha256:") {
		t.Fatalf("import printed %q", id)
	}
	if out := d.must("run", "--rm", "local/exported:v1"); out != "exported" {
		t.Errorf("run of the imported image: %q", out)
	}
	// Through a pipe, from a container made from that image.
	d.must("run", "--name", "second", "local/exported:v1", "sh", "-c", "echo again >> /root/marker")
	pipe := exec.Command("sh", "-c", `"$0" -H "unix://$1" export second | "$0" -H "unix://$1" import - local/piped`, d.bin, d.sock)
	if out, err := pipe.CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "sha256:") {
		t.Fatalf("export | import: %v: %s", err, out)
	}
	if out := d.must("run", "--rm", "--entrypoint", "cat", "local/piped", "/root/marker"); out != "exported\nagain" {
		t.Errorf("run of the piped image: %q", out)
	}
	if out := d.must("run", "--rm", "local/piped", "sh", "-c", "echo $FROM"); out != "" {
		t.Errorf("an import without -c kept a config: %q", out)
	}
	if _, errs, code := d.petrel("export", "nosuch"); code != 1 || !strings.Contains(errs, "No such container: nosuch") {
		t.Errorf("export of an unknown container: %d %s", code, errs)
	}
}

func TestSaveLoad(t *testing.T) {
	d := startDaemon(t)
	reg := testreg.Start(t, "", "")
	reg.Push(t, "bb", "1", testImage())
	name := reg.Host + "/bb:1"
	d.must("pull", "-q", name)
	id := d.must("images", "-q", "--no-trunc")
	archive := filepath.Join(d.dir, "bb.tar")
	d.must("save", "-o", archive, name)
	if _, err := exec.LookPath("skopeo"); err == nil {
		if out, err := exec.Command("skopeo", "inspect", "docker-archive:"+archive).CombinedOutput(); err != nil {
			t.Errorf("skopeo cannot read the saved archive: %v: %s", err, out)
		}
	}
	d.must("rmi", name)
	d.imageStoreEmpty(t)
	if out := d.must("load", "-i", archive); out != "Loaded image: "+name {
		t.Errorf("load: %q", out)
	}
	if out := d.must("images", "-q", "--no-trunc"); out != id {
		t.Errorf("image ID after load %q, want %q", out, id)
	}
	if out := d.must("run", "--rm", name); out != "from-image image\n/srv" {
		t.Errorf("run of the loaded image: %q", out)
	}
	// save | load through a pipe, by ID and by a second name.
	d.must("tag", name, "local/second:v1")
	pipe := exec.Command("sh", "-c", `"$0" -H "unix://$1" save local/second:v1 > "$2" && "$0" -H "unix://$1" rmi -f "$3" && "$0" -H "unix://$1" load -q < "$2"`,
		d.bin, d.sock, filepath.Join(d.dir, "second.tar"), id)
	out, err := pipe.CombinedOutput()
	if err != nil || !strings.HasSuffix(string(out), "\nLoaded image: local/second:v1\n") {
		t.Fatalf("save | load: %v: %s", err, out)
	}
	// Loading an image the store has under more names reports the archive's.
	d.must("tag", "local/second:v1", "local/third:v1")
	if out := d.must("load", "-i", filepath.Join(d.dir, "second.tar")); out != "Loaded image: local/second:v1" {
		t.Errorf("load of a known image: %q", out)
	}
	if _, errs, code := d.petrel("save", "-o", filepath.Join(d.dir, "none.tar"), "nosuch"); code != 1 || !strings.Contains(errs, "No such image: nosuch") {
		t.Errorf("save of an unknown image: %d %s", code, errs)
	}
	if _, err := os.Stat(filepath.Join(d.dir, "none.tar")); err == nil {
		t.Error("a failed save left its output file")
	}
}

func TestLoginPull(t *testing.T) {
	d := startDaemon(t)
	reg := testreg.Start(t, "edge", "s3cret")
	reg.Push(t, "private/bb", "1", testImage())
	name := reg.Host + "/private/bb:1"
	if _, errs, code := d.petrel("pull", name); code != 1 || !strings.Contains(errs, "pull access denied") {
		t.Errorf("pull without login: exit %d, %s", code, errs)
	}
	// A request may bring its own login (X-Registry-Auth, as Docker's SDKs send).
	for _, tc := range []struct{ pass, want string }{{"wrong", "pull access denied"}, {"s3cret", "Downloaded newer image"}} {
		auth, _ := json.Marshal(map[string]string{"username": "edge", "password": tc.pass, "serveraddress": reg.Host})
		req, _ := http.NewRequest("POST", "http://petrel/v1.41/images/create?fromImage="+reg.Host+"/private/bb&tag=1", nil)
		req.Header.Set("X-Registry-Auth", base64.URLEncoding.EncodeToString(auth))
		resp, err := d.httpClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), tc.want) {
			t.Errorf("pull with X-Registry-Auth (password %s): %d %s", tc.pass, resp.StatusCode, body)
		}
	}
	d.must("rmi", name)
	if _, errs, code := d.petrelIn("wrong\n", "login", "-u", "edge", "--password-stdin", reg.Host); code != 1 || !strings.Contains(errs, "unauthorized") {
		t.Errorf("login with a bad password: exit %d, %s", code, errs)
	}
	authFile := filepath.Join(d.root, "auth.json")
	if _, err := os.Stat(authFile); err == nil {
		t.Error("a refused login was stored")
	}
	if out, errs, code := d.petrelIn("s3cret\n", "login", "-u", "edge", "--password-stdin", reg.Host); code != 0 || strings.TrimSpace(out) != "Login Succeeded" {
		t.Fatalf("login: exit %d, %s%s", code, out, errs)
	}
	fi, err := os.Stat(authFile)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: %v, mode %v", err, fi.Mode())
	}
	d.must("pull", name)
	if out := d.must("run", "--rm", name, "echo", "private"); out != "private" {
		t.Errorf("run of the private image: %q", out)
	}
	if out := d.must("logout", reg.Host); out != "Removing login credentials for "+reg.Host {
		t.Errorf("logout: %q", out)
	}
	if data, _ := os.ReadFile(authFile); strings.Contains(string(data), reg.Host) {
		t.Errorf("logout left the login: %s", data)
	}
	if _, errs, code := d.petrel("logout", reg.Host); code != 1 || !strings.Contains(errs, "not logged in") {
		t.Errorf("second logout: exit %d, %s", code, errs)
	}
	if _, errs, code := d.petrel("login", "-u", "edge", "-p", "x", "--password-stdin", reg.Host); code != 125 || !strings.Contains(errs, "mutually exclusive") {
		t.Errorf("login with -p and --password-stdin: exit %d, %s", code, errs)
	}
}

func TestImageBadInput(t *testing.T) {
	d := startDaemon(t)
	reg := testreg.Start(t, "", "")
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"pull", "Bad:Ref"}, 1, "invalid reference format"},
		{[]string{"pull", reg.Host + "/nosuch:1"}, 1, "manifest for " + reg.Host + "/nosuch:1 not found: manifest unknown"},
		{[]string{"pull", "--platform", "linux/nosuch/x/y", reg.Host + "/nosuch:1"}, 1, "invalid platform"},
		{[]string{"run", "--rm", "Busybox", "true"}, 125, "invalid reference format"},
		{[]string{"run", "--rm", reg.Host + "/nosuch:1", "true"}, 125, "manifest for " + reg.Host + "/nosuch:1 not found"},
		{[]string{"run", "--rm", "--pull", "sometimes", "x", "true"}, 125, "invalid pull option"},
		{[]string{"rmi", "nosuch"}, 1, "No such image: nosuch"},
		{[]string{"tag", "nosuch", "other"}, 1, "No such image: nosuch"},
		{[]string{"tag", "nosuch", "Bad:Ref"}, 1, "invalid reference format"},
		{[]string{"import", "-c", "RUN make", "-", "x"}, 1, "RUN is not one of"},
		{[]string{"images", "--format", "{{.Nope}}"}, 125, "unknown field .Nope"},
		{[]string{"images", "--filter", "colour=red"}, 1, "invalid filter"},
	}
	for _, s := range steps {
		_, errs, code := d.petrelIn("", s.args...)
		if code != s.code || !strings.Contains(errs, s.want) {
			t.Errorf("petrel %s: exit %d, %q; want %d and %q", strings.Join(s.args, " "), code, errs, s.code, s.want)
		}
	}
	// Malformed archives change nothing.
	for what, data := range map[string]string{"garbage": "this is not a tar", "tar without a manifest": string(tarWith(t, "hello", "x"))} {
		if _, errs, code := d.petrelIn(data, "load"); code != 1 || errs == "" {
			t.Errorf("load of %s: exit %d, %q", what, code, errs)
		}
		if _, errs, code := d.petrelIn(data, "import", "-", "local/bad"); what == "garbage" && (code != 1 || errs == "") {
			t.Errorf("import of %s: exit %d, %q", what, code, errs)
		}
	}
	if out := d.must("images", "-q"); out != "" {
		d.must("rmi", "-f", "local/bad") // an import of a tar is legal; only garbage must fail
	}
	if out := d.must("ps", "-aq"); out != "" {
		t.Errorf("bad input left containers: %q", out)
	}
	d.imageStoreEmpty(t)
	if n := d.mountsLeft(); n != 0 {
		t.Errorf("bad input left %d mounts", n)
	}
}

// tarWith is a tar of one file.
func tarWith(t *testing.T, name, body string) []byte {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tar", "-C", dir, "-cf", "-", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDockerCLIImages drives petreld's image API with the stock docker
// client: pull, images, run --rm.
func TestDockerCLIImages(t *testing.T) {
	docker := "/usr/bin/docker"
	if _, err := os.Stat(docker); err != nil {
		docker = testenv.LookPath(t, "docker")
	}
	d := startDaemon(t)
	reg := testreg.Start(t, "", "")
	reg.Push(t, "bb", "1", testImage())
	name := reg.Host + "/bb:1"
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(docker, append([]string{"-H", "unix://" + d.sock}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	steps := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--rm", name, "echo", "first"}, 0, "Unable to find image '" + name + "' locally"},
		{[]string{"pull", name}, 0, "Image is up to date for " + name},
		{[]string{"images"}, 0, reg.Host + "/bb"},
		{[]string{"image", "inspect", "-f", "{{.Config.WorkingDir}}", name}, 0, "/srv"},
		{[]string{"run", "--rm", name}, 0, "from-image image"},
		{[]string{"run", "--rm", name, "cat", "/srv/greeting"}, 0, "hello from a layer"},
		{[]string{"tag", name, "local/copy:v1"}, 0, ""},
		{[]string{"rmi", "local/copy:v1"}, 0, "Untagged: local/copy:v1"},
		{[]string{"rmi", "nosuch"}, 1, "No such image"},
		{[]string{"save", "-o", filepath.Join(d.dir, "docker.tar"), name}, 0, ""},
		{[]string{"rmi", name}, 0, "Deleted: sha256:"},
		{[]string{"load", "-i", filepath.Join(d.dir, "docker.tar")}, 0, "Loaded image: " + name},
		{[]string{"create", "--name", "made", name}, 0, ""},
		{[]string{"export", "-o", filepath.Join(d.dir, "made.tar"), "made"}, 0, ""},
		{[]string{"import", filepath.Join(d.dir, "made.tar"), "local/made:v1"}, 0, "sha256:"},
		{[]string{"run", "--rm", "local/made:v1", "cat", "/srv/greeting"}, 0, "hello from a layer"},
	}
	for _, s := range steps {
		out, code := run(s.args...)
		if code != s.code || !strings.Contains(out, s.want) {
			t.Errorf("docker %s: exit %d, %q; want %d and %q", strings.Join(s.args, " "), code, out, s.code, s.want)
		}
	}
}

// TestPullProgressTerminal pulls with stdout on a terminal: one line per
// layer, redrawn in place with progress bars.
func TestPullProgressTerminal(t *testing.T) {
	d := startDaemon(t)
	reg := testreg.Start(t, "", "")
	reg.Push(t, "bb", "1", testImage())
	m, s := openPty(t)
	cmd := exec.Command(d.bin, "-H", "unix://"+d.sock, "pull", reg.Host+"/bb:1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	var out bytes.Buffer
	io.Copy(&out, m) // until the client exits (EIO)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("pull: %v: %q", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"\x1b[", "Pull complete", "Downloading [", "Downloaded newer image"} {
		if !strings.Contains(got, want) {
			t.Errorf("terminal output lacks %q: %q", want, got)
		}
	}
}

// TestImageContainerRestart: an image container's root filesystem
// survives a daemon crash, is mounted again after a reboot (simulated by
// unmounting it), and is released by rm.
func TestImageContainerRestart(t *testing.T) {
	d := startDaemon(t)
	reg := testreg.Start(t, "", "")
	reg.Push(t, "bb", "1", testImage())
	name := reg.Host + "/bb:1"
	d.must("pull", "-q", name)
	d.must("run", "-d", "--name", "live", name, "sleep", "1000")
	d.must("create", "--name", "later", name, "cat", "/srv/greeting")
	d.kill9()
	// A reboot loses the mounts of containers that do not run.
	id := d.inspectOffline(t, "later")
	if err := unix.Unmount(filepath.Join(d.root, "containers", id, "rootfs"), 0); err != nil {
		t.Fatalf("unmount the rootfs of a stopped container: %v", err)
	}
	d.start()
	if out := d.must("exec", "live", "cat", "/srv/greeting"); out != "hello from a layer" {
		t.Errorf("exec after a daemon crash: %q", out)
	}
	if out := d.must("start", "-a", "later"); out != "hello from a layer" {
		t.Errorf("start after the rootfs was unmounted: %q", out)
	}
	d.must("rm", "-f", "live", "later")
	if n := d.mountsLeft(); n != 0 {
		t.Errorf("%d mounts left after rm", n)
	}
	d.must("rmi", name)
	d.imageStoreEmpty(t)
}

// inspectOffline finds a container's ID by name in the records on disk.
func (d *daemon) inspectOffline(t *testing.T, name string) string {
	t.Helper()
	ents, _ := os.ReadDir(filepath.Join(d.root, "containers"))
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(d.root, "containers", e.Name(), "config.v2.json"))
		if err != nil {
			continue
		}
		var rec struct{ ID, Name string }
		if json.Unmarshal(data, &rec) == nil && rec.Name == name {
			return rec.ID
		}
	}
	t.Fatalf("no container %s on disk", name)
	return ""
}

// TestDockerCLILogin: docker login goes through POST /auth, and the
// daemon then pulls with the login.
func TestDockerCLILogin(t *testing.T) {
	docker := "/usr/bin/docker"
	if _, err := os.Stat(docker); err != nil {
		docker = testenv.LookPath(t, "docker")
	}
	d := startDaemon(t)
	reg := testreg.Start(t, "edge", "s3cret")
	reg.Push(t, "private/bb", "1", testImage())
	cfgDir := t.TempDir()
	run := func(stdin string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(docker, append([]string{"-H", "unix://" + d.sock}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfgDir)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	if out, code := run("wrong\n", "login", "-u", "edge", "--password-stdin", reg.Host); code == 0 || !strings.Contains(out, "unauthorized") {
		t.Errorf("docker login with a bad password: exit %d, %s", code, out)
	}
	if out, code := run("s3cret\n", "login", "-u", "edge", "--password-stdin", reg.Host); code != 0 || !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("docker login: exit %d, %s", code, out)
	}
	if out, code := run("", "pull", reg.Host+"/private/bb:1"); code != 0 || !strings.Contains(out, "Downloaded newer image") {
		t.Errorf("docker pull after login: exit %d, %s", code, out)
	}
}

// TestRegistryMirror: daemon.json's registry-mirrors serve docker.io
// names.
func TestRegistryMirror(t *testing.T) {
	d := startDaemon(t)
	reg := testreg.Start(t, "", "")
	reg.Push(t, "library/mirrored", "1", testImage())
	d.kill9()
	keys := d.netConfig()
	keys["graph"], keys["state"], keys["hosts"] = d.root, d.state, []string{"unix://" + d.sock}
	keys["registry-mirrors"], keys["storage-driver"] = []string{"http://" + reg.Host}, "overlay2"
	cfg, _ := json.Marshal(keys)
	d.configFile = d.config(string(cfg))
	d.start()
	out := d.must("pull", "mirrored:1")
	if !strings.HasSuffix(out, "docker.io/library/mirrored:1") || !strings.Contains(out, "Pulling from library/mirrored") {
		t.Errorf("pull through the mirror: %s", out)
	}
	if out := d.must("images", "--format", "{{.Repository}}:{{.Tag}}"); out != "mirrored:1" {
		t.Errorf("images: %q", out)
	}
	if out := d.must("run", "--rm", "mirrored:1", "cat", "/srv/greeting"); out != "hello from a layer" {
		t.Errorf("run: %q", out)
	}
}

// TestImageUserHealthPlatform: the image's USER and HEALTHCHECK apply
// unless the request overrides them; --platform refuses an image for
// another platform.
func TestImageUserHealthPlatform(t *testing.T) {
	d := startDaemon(t)
	reg := testreg.Start(t, "", "")
	img := testImage()
	img.Config.User = "nobody"
	img.Config.Cmd = []string{"sh", "-c", "touch /tmp/ok; exec sleep 1000"}
	img.Config.Healthcheck = &manifest.Healthcheck{Test: []string{"CMD-SHELL", "test -f /tmp/ok"}, Interval: 200 * time.Millisecond, Retries: 1}
	reg.Push(t, "health", "1", img)
	name := reg.Host + "/health:1"
	d.must("pull", "-q", name)
	d.must("run", "-d", "--name", "hc", name)
	d.waitFor("healthy", func() bool { return d.inspect("hc", ".State.Health.Status") == "healthy" })
	if out := d.must("exec", "hc", "id", "-u"); out != "65534" {
		t.Errorf("the image's user: uid %q", out)
	}
	if out := d.must("run", "--rm", "-u", "root", name, "id", "-u"); out != "0" {
		t.Errorf("-u over the image's user: uid %q", out)
	}
	if got := d.inspect("hc", ".Config.Healthcheck.Test"); !strings.Contains(got, "test -f /tmp/ok") {
		t.Errorf("health check in the container's config: %q", got)
	}
	_, errs, code := d.petrel("run", "--rm", "--platform", "linux/s390x", name, "true")
	if code != 125 || !strings.Contains(errs, "Unable to find image") || !strings.Contains(errs, "linux/s390x") {
		t.Errorf("run --platform of another platform: exit %d, %s", code, errs)
	}
	if _, errs, code := d.petrel("pull", "--platform", "linux/s390x", name); code != 1 || !strings.Contains(errs, "not linux/s390x") {
		t.Errorf("pull --platform of another platform: exit %d, %s", code, errs)
	}
	if out := d.must("images", "-q"); len(strings.Fields(out)) != 1 {
		t.Errorf("a refused pull added images: %q", out)
	}
}

// TestConcurrentRunsPullOnce: runs of a missing image at once pull it
// (sharing the layers) and all start.
func TestConcurrentRunsPullOnce(t *testing.T) {
	d := startDaemon(t)
	reg := testreg.Start(t, "", "")
	reg.Push(t, "bb", "1", testImage())
	name := reg.Host + "/bb:1"
	const n = 4
	errc := make(chan string, n)
	for i := range n {
		go func() {
			cmd := exec.Command(d.bin, "-H", "unix://"+d.sock, "run", "--rm", name, "echo", "run", strconv.Itoa(i))
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "run "+strconv.Itoa(i)+"\n") {
				errc <- fmt.Sprintf("run %d: %v: %s", i, err, out)
				return
			}
			errc <- ""
		}()
	}
	for range n {
		if msg := <-errc; msg != "" {
			t.Error(msg)
		}
	}
	if out := d.must("images", "-q"); len(strings.Fields(out)) != 1 {
		t.Errorf("images after concurrent pulls: %q", out)
	}
	d.waitFor("the --rm containers to go", func() bool { return d.must("ps", "-aq") == "" })
	if n := d.mountsLeft(); n != 0 {
		t.Errorf("%d mounts left", n)
	}
}

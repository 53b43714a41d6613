// Package dropin holds black-box tests, as crun's tests/podman are, showing
// that petrel-runtime works as a drop-in replacement for runc under the
// engines Debian ships: podman, docker (dockerd on containerd) and
// containerd's ctr. Every engine runs with private storage, state and
// sockets under a temporary directory and is torn down after its test.
//
// The tests carry the build tag integration and need root:
//
//	make build
//	PETREL_BIN=$PWD/bin/petrel go test -tags integration -count=1 -v ./tests/dropin/
//
// PETREL_DROPIN_RUNTIME=/usr/bin/crun (or runc) runs the same tests with
// another runc-compatible runtime in petrel-runtime's place, to check the
// harness. Under CI=true a missing engine fails the test instead of
// skipping it.
package dropin

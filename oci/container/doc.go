// Package container creates, starts and manages OCI containers on Linux:
// the lcr-style runtime behind petrel-runtime, callable in-process by the
// shim. A container's state lives in <root>/<id>/state.json, written
// atomically; its init process is this same binary re-executed as
// "petrel-runtime init", which sets the container up in its new namespaces
// and execs the user process once Start opens the exec fifo.
//
// The init side (Init) must run on the main goroutine of a fresh process
// and locks it to its OS thread: capabilities, seccomp, setns and the user
// change are per-thread, so all of them happen on the thread that execs.
package container

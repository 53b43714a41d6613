// Package shim is petrel-shim's logic and the daemon's side of it: one
// shim per container, started detached in its own session, runs the
// container through a runtime (the built-in lcr in-process, or an
// external binary with runc's command line), owns its stdio, writes its
// json-file log, reaps its init, records the exit status atomically and
// answers on a per-container unix socket. The daemon may die and come
// back: everything it needs is on that socket or in the exit file.
//
// Serve runs in the shim process and calls runtime.GOMAXPROCS and
// debug.SetGCPercent to keep the shim small; Launch, LaunchSpare (a shim
// started before its container is known, spare.go) and Client are used
// by the engine.
package shim

// Package seccomp turns the seccomp section of an OCI runtime spec into a
// classic BPF program and installs it with seccomp(2), without libseccomp.
//
// The filter follows libseccomp's and runc's semantics: the native
// architecture is always filtered, an architecture the profile does not list
// gets the "bad arch" action (kill the thread), unknown system call names are
// ignored, rules for one system call are tried in order, and a system call
// newer than any the profile names fails with ENOSYS unless the default
// action lets system calls through (runc's -ENOSYS stub). On i386 a rule for
// a socket or System V IPC call also covers socketcall(2) and ipc(2) with
// that call's number, as libseccomp does.
//
// Compile and Validate are pure. Load changes the calling thread: the caller
// locks it to its goroutine and sets no_new_privs (or holds CAP_SYS_ADMIN)
// before. Nothing happens at package initialisation.
package seccomp

//go:generate go run gen_tables.go

// Package loopback is the loopback CNI plugin: it brings the lo interface
// of a network namespace up on ADD and down on DEL. Its functions switch the
// calling goroutine's OS thread into the target namespace for the duration
// of the call only.
package loopback

package cgroups

import "github.com/opencontainers/runtime-spec/specs-go"

// AllowedDevices returns the device rules every container gets after its
// spec's own, as runc adds them: mknod of any device, and full access to
// /dev/null, zero, full, random, urandom, tty, console pts, ptmx and
// net/tun. Set applies only the rules it is given; the runtime appends these.
func AllowedDevices() []specs.LinuxDeviceCgroup {
	n := func(v int64) *int64 { return &v }
	wild := n(-1)
	return []specs.LinuxDeviceCgroup{
		{Allow: true, Type: "c", Major: wild, Minor: wild, Access: "m"},
		{Allow: true, Type: "b", Major: wild, Minor: wild, Access: "m"},
		{Allow: true, Type: "c", Major: n(1), Minor: n(3), Access: "rwm"},    // /dev/null
		{Allow: true, Type: "c", Major: n(1), Minor: n(8), Access: "rwm"},    // /dev/random
		{Allow: true, Type: "c", Major: n(1), Minor: n(7), Access: "rwm"},    // /dev/full
		{Allow: true, Type: "c", Major: n(5), Minor: n(0), Access: "rwm"},    // /dev/tty
		{Allow: true, Type: "c", Major: n(1), Minor: n(5), Access: "rwm"},    // /dev/zero
		{Allow: true, Type: "c", Major: n(1), Minor: n(9), Access: "rwm"},    // /dev/urandom
		{Allow: true, Type: "c", Major: n(136), Minor: wild, Access: "rwm"},  // /dev/pts/*
		{Allow: true, Type: "c", Major: n(5), Minor: n(2), Access: "rwm"},    // /dev/ptmx
		{Allow: true, Type: "c", Major: n(10), Minor: n(200), Access: "rwm"}, // /dev/net/tun
	}
}

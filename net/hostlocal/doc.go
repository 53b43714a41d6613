// Package hostlocal is the host-local IPAM plugin: it hands out addresses
// from configured ranges (IPv4 and IPv6) and keeps each allocation as a file
// under a data directory (default /var/lib/cni/networks/<network>), guarded
// by a file lock, in the same on-disk format as the reference plugin so that
// both can share a network. The bridge plugin calls Allocate and Release
// in-process instead of executing host-local.
package hostlocal

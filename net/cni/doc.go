// Package cni attaches containers to CNI networks: it reads the network
// configuration lists of a directory, writes and removes them for
// `network create` and `rm`, reserves published host ports, and runs the
// plugin chains through libcni. The built-in plugins (bridge, host-local,
// loopback, portmap) run in the calling process; any other plugin is
// executed from the bin directory as the CNI spec says.
//
// A Manager is safe for concurrent use. It keeps no package-level state.
package cni

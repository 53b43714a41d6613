// Package bridge is the bridge CNI plugin: it connects a container's network
// namespace to a Linux bridge on the host through a veth pair, configures
// the addresses IPAM hands out, and optionally makes the bridge the
// gateway, masquerades outgoing traffic and tags the port with a VLAN. The
// host-local IPAM runs in-process; other IPAM plugins are executed from
// CNI_PATH. Functions switch an OS thread into the container's namespace
// only for the duration of a call and keep no package-level state.
package bridge

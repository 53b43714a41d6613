// Package portmap is the portmap CNI plugin, chained after bridge: it
// forwards host ports to a container's ports (TCP and UDP, optionally bound
// to one host address) with iptables DNAT chains laid out like the
// reference plugin's, and marks hairpin and localhost traffic for
// masquerading so that the container and the host itself can reach a
// published port.
package portmap

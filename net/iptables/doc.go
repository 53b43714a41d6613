// Package iptables runs the host's iptables and ip6tables commands (legacy
// or nft, whichever the host's alternatives select) to add, check and remove
// rules and chains, waiting for the xtables lock.
package iptables

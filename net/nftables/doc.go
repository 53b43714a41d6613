// Package nftables runs the host's nft command for hosts without iptables:
// a script is applied as one transaction (nft -f -) and a chain's rules are
// listed with the handles and comments needed to delete them.
package nftables

// Package nftables runs the host's nft command for hosts without iptables:
// a script is applied as one transaction (nft -f -) and a chain's rules are
// listed with the handles and comments needed to delete them — over
// netlink, where nft would take 20 ms just to start, and with nft where
// netlink is refused.
package nftables

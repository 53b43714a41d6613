// Package cni holds black-box tests of Petrel's built-in CNI plugins:
// each plugin runs as a CNI runtime runs it (CNI_COMMAND, CNI_NETNS,
// CNI_IFNAME, CNI_PATH in the environment, the configuration on stdin) in
// network namespaces the tests create, and is compared with Debian's
// containernetworking-plugins (/usr/lib/cni) run on the same configuration:
// result JSON, interfaces, addresses, routes and iptables rules. Every
// ADD/CHECK/DEL cycle must leave no veth, namespace, rule or address
// allocation behind. Subnets are 10.231.0.0/16 and fd00:231::/64.
//
// The tests carry the build tag integration and need root:
//
//	make build
//	PETREL_BIN=$PWD/bin/petrel go test -tags integration -count=1 -v ./tests/cni/
//
// Without PETREL_BIN the test binary itself plays the plugins (TestMain
// dispatches on its program name). Under CI=true a missing prerequisite
// fails the test instead of skipping it.
package cni

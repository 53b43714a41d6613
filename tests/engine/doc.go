// Package engine holds the end-to-end tests of petreld, petrel-shim and
// the petrel client: a private daemon on temporary root, state and
// socket runs busybox containers from an --external-rootfs directory.
// They need root and carry the integration build tag.
package engine

// Package initscripts holds no code: its tests check the init scripts of
// this directory (sysvinit/busybox init, OpenRC, OpenWrt procd, systemd)
// that start petreld. See README.md.
package initscripts

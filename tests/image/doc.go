// Package image holds the integration tests of the image store against a
// real registry (Debian's docker-registry on 127.0.0.1, started by the
// tests), with images the tests build from busybox-static and push with
// skopeo. They need root and carry the build tag integration.
package image

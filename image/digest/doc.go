// Package digest parses, computes and verifies content digests
// ("sha256:<hex>") as used by OCI and Docker images. It has no state.
package digest

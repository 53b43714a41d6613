// Package image pulls, stores and unpacks OCI and Docker images: a Store
// ties together the content store (blobs by digest), the snapshotter
// (layers unpacked once per chain ID, shared between images), image
// records (names to images) and the registry client, and hands containers
// their root filesystems. It knows nothing of HTTP servers or the engine
// above it; network operations take a context.Context.
//
// A Store holds an exclusive lock on its root for its lifetime: one
// process at a time. Its methods are safe for concurrent use.
package image

// Package content is a store of blobs by digest (manifests, configs and
// compressed layers) on the local filesystem. Blobs enter through a
// Writer that verifies size and digest before the blob becomes visible,
// so a mismatch stores nothing; an interrupted write stays in the ingest
// directory and resumes where it stopped. A Store is safe for concurrent
// use by goroutines and processes: one ingest per digest at a time,
// enforced with a file lock.
package content

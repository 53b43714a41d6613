// Package registry is a client of the Docker Registry HTTP API v2 for
// pulling images: it resolves tags to manifests, fetches manifests and
// blobs with digest verification, resumes broken blob downloads with HTTP
// Range requests, and authenticates anonymously, with bearer tokens
// (WWW-Authenticate challenges) or with basic auth. It honours
// registry-mirrors, insecure-registries and per-registry CA certificates
// (certs.d/<host>/*.crt). Credentials for login/logout live in a 0600
// JSON file (see Credentials). A Client is safe for concurrent use.
package registry

// Package securepath resolves a path inside a root directory as if the
// root were "/": symlinks are followed without ever leading outside it.
// It is a leaf package shared by the runtime and the engine.
package securepath

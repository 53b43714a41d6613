// Package volume keeps named volumes: one directory per volume under
// the engine's root, holding the data directory (_data) and a small JSON
// record written atomically. It does not know which containers use a
// volume; the engine checks that before it removes one. Methods are safe
// for concurrent use. Nothing happens at package initialisation.
package volume

// Package errdefs classifies the engine's errors so that each edge (the
// HTTP API, the CLI, CRI) translates them once: not found, conflict,
// invalid parameter, not modified. Wrapping keeps the class reachable
// through errors.Is.
package errdefs

import (
	"errors"
	"fmt"
)

// The error classes; test with errors.Is.
var (
	ErrNotFound     = errors.New("not found")
	ErrConflict     = errors.New("conflict")
	ErrInvalid      = errors.New("invalid parameter")
	ErrNotModified  = errors.New("not modified")
	ErrUnavailable  = errors.New("unavailable")
	ErrNotSupported = errors.New("not supported")
)

// classed carries a message and its class; Error shows only the message.
type classed struct {
	msg   string
	class error
	cause error
}

func (e *classed) Error() string { return e.msg }

func (e *classed) Unwrap() []error {
	if e.cause != nil {
		return []error{e.class, e.cause}
	}
	return []error{e.class}
}

func newf(class error, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &classed{msg: err.Error(), class: class, cause: errors.Unwrap(err)}
}

// NotFound returns an ErrNotFound error with the formatted message.
func NotFound(format string, args ...any) error { return newf(ErrNotFound, format, args...) }

// Conflict returns an ErrConflict error with the formatted message.
func Conflict(format string, args ...any) error { return newf(ErrConflict, format, args...) }

// Invalid returns an ErrInvalid error with the formatted message.
func Invalid(format string, args ...any) error { return newf(ErrInvalid, format, args...) }

// NotModified returns an ErrNotModified error with the formatted message.
func NotModified(format string, args ...any) error { return newf(ErrNotModified, format, args...) }

// NotSupported returns an ErrNotSupported error with the formatted message.
func NotSupported(format string, args ...any) error {
	return newf(ErrNotSupported, format, args...)
}

// ErrUnauthorized: credentials were refused (a registry login).
var ErrUnauthorized = errors.New("unauthorized")

// Unauthorized returns an ErrUnauthorized error with the formatted message.
func Unauthorized(format string, args ...any) error { return newf(ErrUnauthorized, format, args...) }

// Unavailable returns an ErrUnavailable error with the formatted message.
func Unavailable(format string, args ...any) error { return newf(ErrUnavailable, format, args...) }

package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Sentinel errors, matched with errors.Is.
var (
	ErrNotFound     = errors.New("not found")
	ErrUnauthorized = errors.New("unauthorized")
	ErrDenied       = errors.New("access denied")
	ErrTooMany      = errors.New("too many requests")
	// ErrSizeMismatch: a blob is not the size its descriptor says.
	ErrSizeMismatch = errors.New("blob size mismatch")
)

// An HTTPError is a registry's error answer.
type HTTPError struct {
	Method, URL string
	Status      int
	Code        string // first error code of the body, e.g. MANIFEST_UNKNOWN
	Message     string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s %s: %s", e.Method, e.URL, http.StatusText(e.Status))
	if e.Status == 0 {
		msg = fmt.Sprintf("%s %s", e.Method, e.URL)
	}
	if e.Code != "" {
		msg += ": " + e.Code
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// Is maps statuses to the sentinel errors.
func (e *HTTPError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrDenied:
		return e.Status == http.StatusForbidden
	case ErrTooMany:
		return e.Status == http.StatusTooManyRequests
	}
	return false
}

// temporary reports whether a retry may succeed.
func (e *HTTPError) temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout || e.Status >= 500
}

func httpError(resp *http.Response) error {
	e := &HTTPError{Method: resp.Request.Method, URL: redact(resp.Request.URL.String()), Status: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var doc struct {
		Errors []struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &doc) == nil && len(doc.Errors) > 0 {
		e.Code, e.Message = doc.Errors[0].Code, doc.Errors[0].Message
	}
	return e
}

// redact drops the query of a URL (pre-signed blob URLs carry secrets).
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}

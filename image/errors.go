package image

import "errors"

// Sentinel errors of the package, matched with errors.Is.
var (
	// ErrNotFound: no image has that name or ID.
	ErrNotFound = errors.New("no such image")
	// ErrAmbiguous: an ID prefix matches several images.
	ErrAmbiguous = errors.New("ambiguous image ID prefix")
	// ErrInUse: a container uses the image (remove it with force).
	ErrInUse = errors.New("image is in use")
	// ErrConflict: removing by ID an image that has several names.
	ErrConflict = errors.New("image is referenced by several names")
	// ErrPlatform: the image is not made for the wanted platform.
	ErrPlatform = errors.New("image platform does not match")
	// ErrLocked: another process holds the store.
	ErrLocked = errors.New("image store is in use by another process")
)

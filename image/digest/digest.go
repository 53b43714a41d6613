package digest

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// A Digest is a content address: "<algorithm>:<lower-case hex>".
type Digest string

// ErrInvalid is wrapped by every parse failure.
var ErrInvalid = errors.New("invalid digest")

// Canonical is the algorithm used for everything Petrel computes itself.
const Canonical = "sha256"

func hexLen(alg string) int {
	switch alg {
	case "sha256":
		return 64
	case "sha512":
		return 128
	}
	return 0
}

// Parse checks that s is a digest of a supported algorithm (sha256 or
// sha512) with the right number of lower-case hex characters.
func Parse(s string) (Digest, error) {
	alg, hx, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("%w %q: missing algorithm", ErrInvalid, s)
	}
	n := hexLen(alg)
	if n == 0 {
		return "", fmt.Errorf("%w %q: unsupported algorithm %q", ErrInvalid, s, alg)
	}
	if len(hx) != n {
		return "", fmt.Errorf("%w %q: %s needs %d hex characters, got %d", ErrInvalid, s, alg, n, len(hx))
	}
	for i := 0; i < len(hx); i++ {
		c := hx[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return "", fmt.Errorf("%w %q: not lower-case hex", ErrInvalid, s)
		}
	}
	return Digest(s), nil
}

// Validate reports whether d is well formed (see Parse).
func (d Digest) Validate() error {
	_, err := Parse(string(d))
	return err
}

// Algorithm returns the part before the colon.
func (d Digest) Algorithm() string {
	alg, _, _ := strings.Cut(string(d), ":")
	return alg
}

// Hex returns the part after the colon.
func (d Digest) Hex() string {
	_, hx, _ := strings.Cut(string(d), ":")
	return hx
}

func (d Digest) String() string { return string(d) }

// Short returns the first 12 hex characters, as image IDs are shown.
func (d Digest) Short() string {
	hx := d.Hex()
	if len(hx) > 12 {
		return hx[:12]
	}
	return hx
}

// FromBytes returns the sha256 digest of b.
func FromBytes(b []byte) Digest {
	sum := sha256.Sum256(b)
	return Digest("sha256:" + hex.EncodeToString(sum[:]))
}

// FromReader returns the sha256 digest of everything r yields.
func FromReader(r io.Reader) (Digest, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", n, err
	}
	return Digest("sha256:" + hex.EncodeToString(h.Sum(nil))), n, nil
}

// A Digester computes a digest of the bytes written to it.
type Digester struct {
	alg string
	h   hash.Hash
}

// NewDigester returns a Digester for alg ("sha256" or "sha512").
func NewDigester(alg string) (*Digester, error) {
	switch alg {
	case "sha256":
		return &Digester{alg, sha256.New()}, nil
	case "sha512":
		return &Digester{alg, sha512.New()}, nil
	}
	return nil, fmt.Errorf("%w: unsupported algorithm %q", ErrInvalid, alg)
}

// Write adds p to the digest; it never fails.
func (d *Digester) Write(p []byte) (int, error) { return d.h.Write(p) }

// Hash exposes the underlying hash, for example to restore its state.
func (d *Digester) Hash() hash.Hash { return d.h }

// Digest returns the digest of everything written so far.
func (d *Digester) Digest() Digest {
	return Digest(d.alg + ":" + hex.EncodeToString(d.h.Sum(nil)))
}

// MismatchError says that content did not hash to the digest it was
// fetched or stored under.
type MismatchError struct {
	Want, Got Digest
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("digest mismatch: want %s, got %s", e.Want, e.Got)
}

// ErrMismatch is matched by errors.Is for every *MismatchError.
var ErrMismatch = errors.New("digest mismatch")

// Is makes errors.Is(err, ErrMismatch) true.
func (e *MismatchError) Is(target error) bool { return target == ErrMismatch }

// Verify checks that b hashes to want.
func Verify(want Digest, b []byte) error {
	d, err := NewDigester(want.Algorithm())
	if err != nil {
		return err
	}
	d.Write(b)
	if got := d.Digest(); got != want {
		return &MismatchError{Want: want, Got: got}
	}
	return nil
}

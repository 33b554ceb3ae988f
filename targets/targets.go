// Package targets defines what the reconciler asks of a deployment target:
// the desired state it is given, the state it observes, and the change set
// between the two. Drivers live in subpackages (targets/local).
package targets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Action is what applying a plan does to one model on a target.
type Action string

// Actions of a change set, as printed by `cairn plan`.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
	Deleted   Action = "deleted"
	Skipped   Action = "skipped"
)

// Artifact is one pinned model artifact: where it comes from and what its bytes must hash to.
type Artifact struct {
	URI    string `json:"uri"`
	Digest string `json:"digest"` // "sha256:<64 hex>"
	Size   int64  `json:"size,omitempty"`
}

// Model is the desired state of one model on a target: the version pinned
// for the target's stage and its artifact.
type Model struct {
	Name     string   `json:"name"`
	Version  string   `json:"version"`
	Artifact Artifact `json:"artifact"`
}

// Deployed is the observed state of one model on a target.
type Deployed struct {
	Name    string `json:"name"`
	Version string `json:"version"` // the version `current` points at; empty if none
	Digest  string `json:"digest,omitempty"`
	// Corrupt lists files whose bytes no longer hash to the recorded digest.
	Corrupt []string `json:"corrupt,omitempty"`
}

// Change is one entry of a change set.
type Change struct {
	Model  string `json:"model"`
	Action Action `json:"action"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Digest string `json:"digest,omitempty"`
}

// File is one file of an artifact as a target deploys it.
type File struct {
	// Name is the file's name inside <model>/<version>: a single clean
	// path element (CheckFileName). Empty for a single-file artifact, which
	// the target names itself (the local target: after its URI).
	Name   string `json:"name"`
	Digest string `json:"digest"` // "sha256:<64 hex>" of the file's bytes
	Size   int64  `json:"size,omitempty"`
}

// Opener gives a target driver the bytes of pinned artifacts. The driver
// checks every file's digest and size while it streams it: what it deploys
// is what the pin names.
type Opener interface {
	// Files returns the files that a deploys as: for a single-file artifact
	// (file://, https://) one File with an empty Name and a's digest and
	// size, without I/O; for an OCI artifact (oci://) its layers, named by
	// their titles, read from a manifest that hashes to a.Digest.
	Files(ctx context.Context, a Artifact) ([]File, error)
	// Open opens file f of a, as Files returned it. The caller closes it.
	Open(ctx context.Context, a Artifact, f File) (io.ReadCloser, error)
}

// OpenFunc is an Opener of single-file artifacts: the function opens an
// artifact's bytes by URI.
type OpenFunc func(ctx context.Context, a Artifact) (io.ReadCloser, error)

// Files returns a as one unnamed file.
func (fn OpenFunc) Files(_ context.Context, a Artifact) ([]File, error) {
	return []File{{Digest: a.Digest, Size: a.Size}}, nil
}

// Open calls fn for a.
func (fn OpenFunc) Open(ctx context.Context, a Artifact, _ File) (io.ReadCloser, error) {
	return fn(ctx, a)
}

// ErrFileName is wrapped by CheckFileName's error.
var ErrFileName = errors.New("not a safe file name")

// CheckFileName returns an error wrapping ErrFileName unless name can be a
// file of <model>/<version> on every target: one path element of at most
// 255 bytes, not starting with a dot (hidden and temporary names), without
// a slash, backslash, NUL or other control character. Subfolders are not
// supported yet.
func CheckFileName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrFileName)
	case len(name) > 255:
		return fmt.Errorf("%w: longer than 255 bytes", ErrFileName)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf("%q: %w: starts with a dot", name, ErrFileName)
	case strings.ContainsAny(name, "/\\"):
		return fmt.Errorf("%q: %w: has a path separator (subfolders are not supported)", name, ErrFileName)
	case strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0:
		return fmt.Errorf("%q: %w: has a control character", name, ErrFileName)
	}
	return nil
}

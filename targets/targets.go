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
	// Serving is how a serving platform (kserve) runs the version; drivers
	// that only copy bytes ignore it.
	Serving Serving `json:"serving,omitzero"`
}

// Serving is how a serving platform runs one version: the model format
// (the version's serving.format, else the card's framework), the runtime
// and protocol where the version names them, and its resources.
type Serving struct {
	Format          string            `json:"format,omitempty"`
	Runtime         string            `json:"runtime,omitempty"`
	ProtocolVersion string            `json:"protocolVersion,omitempty"`
	Requests        map[string]string `json:"requests,omitempty"`
	Limits          map[string]string `json:"limits,omitempty"`
}

// Deployed is the observed state of one model on a target.
type Deployed struct {
	Name    string `json:"name"`
	Version string `json:"version"` // the version `current` points at; empty if none
	Digest  string `json:"digest,omitempty"`
	// Corrupt lists files whose bytes no longer hash to the recorded digest.
	Corrupt []string `json:"corrupt,omitempty"`
	// Revision is the git revision that deployed Version, where the target
	// records it per model (kserve).
	Revision string `json:"revision,omitempty"`
	// Object names the object that serves the model on a cluster target,
	// "kserve NAMESPACE/NAME".
	Object string `json:"object,omitempty"`
	// Fields are the values Cairn set that someone else changed, when the
	// target can tell (kserve).
	Fields []FieldDrift `json:"fields,omitempty"`
	// Status is the serving platform's view of the model, when it has one.
	Status *Status `json:"status,omitempty"`
}

// FieldDrift is one field Cairn set whose live value differs: the field's
// path, the desired and live values as JSON, and who changed it last, as
// the object's managedFields tell.
type FieldDrift struct {
	Path      string `json:"path"`
	Want      string `json:"want"`
	Got       string `json:"got"`
	Manager   string `json:"manager,omitempty"`
	Operation string `json:"operation,omitempty"`
	Time      string `json:"time,omitempty"`
	// Conflict is the API server's own word on the conflict, from a
	// dry-run apply without force.
	Conflict string `json:"conflict,omitempty"`
}

// String returns "PATH is GOT, want WANT (changed by MANAGER, OPERATION, TIME)".
func (f FieldDrift) String() string {
	s := fmt.Sprintf("%s is %s, want %s", f.Path, f.Got, f.Want)
	if f.Manager != "" {
		s += " (changed by " + f.Manager
		if f.Operation != "" {
			s += ", " + f.Operation
		}
		if f.Time != "" {
			s += ", " + f.Time
		}
		s += ")"
	}
	return s
}

// Status is whether the serving platform serves a model, and where.
type Status struct {
	Ready bool `json:"ready"`
	// Reason says why it is not ready, one line.
	Reason string `json:"reason,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Change is one entry of a change set.
type Change struct {
	Model  string `json:"model"`
	Action Action `json:"action"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Digest string `json:"digest,omitempty"`
	// Object names the cluster object the change writes, "kserve NAMESPACE/NAME".
	Object string `json:"object,omitempty"`
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

// Serves reports whether a target of kind can serve an artifact at uri, and
// when it cannot, says which schemes it can. A kserve target hands the URI
// to KServe's storage initializer in the cluster, which cannot read the
// inventory's own files: it serves https:// and oci:// artifacts, which
// Cairn verifies by digest before it applies them. Other kinds fetch the
// artifact themselves and serve every scheme the inventory accepts.
func Serves(kind, uri string) (ok bool, want string) {
	if kind != "kserve" {
		return true, ""
	}
	for _, s := range kserveSchemes {
		if strings.HasPrefix(uri, s) {
			return true, ""
		}
	}
	return false, strings.Join(kserveSchemes, " or ")
}

// kserveSchemes are the artifact URI schemes a kserve target serves.
var kserveSchemes = []string{"https://", "oci://"}

// Package targets defines what the reconciler asks of a deployment target:
// the desired state it is given, the state it observes, and the change set
// between the two. Drivers live in subpackages (targets/local).
package targets

import (
	"context"
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

// Opener opens an artifact's bytes by URI. The caller resolves file:// URIs
// inside the inventory and streams https:// URIs; the target checks digests.
type Opener func(ctx context.Context, a Artifact) (io.ReadCloser, error)

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

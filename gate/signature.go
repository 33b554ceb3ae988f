package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/cairnops/cairn/artifact"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/signing"
)

// SignatureStatus is the verdict on one version's signature.
type SignatureStatus string

// Signature statuses.
const (
	// SignatureOK: the bundle signs the pinned digest with a trusted key or
	// identity (and, when asked, the artifact has that digest).
	SignatureOK SignatureStatus = "ok"
	// SignatureInvalid: no bundle where one is required, a bundle that
	// does not verify, or an artifact that does not match its pin.
	SignatureInvalid SignatureStatus = "invalid"
	// SignatureUnverified: a bundle exists but no trust root was given to
	// verify it.
	SignatureUnverified SignatureStatus = "unverified"
)

// Signature is the verdict on the signature of one version.
type Signature struct {
	Model   string `json:"model"`
	Version string `json:"version,omitempty"`
	// Stages are the signing.required stages that pin this version; empty
	// when none does.
	Stages   []string        `json:"stages,omitempty"`
	Status   SignatureStatus `json:"status"`
	Identity string          `json:"identity,omitempty"`
	Digest   string          `json:"digest,omitempty"`
	Bundle   string          `json:"bundle,omitempty"`
	Reason   string          `json:"reason,omitempty"`
}

// Required reports whether a signing.required stage pins the version.
func (s Signature) Required() bool { return len(s.Stages) > 0 }

// String returns "ok model@version identity", "invalid model@version:
// reason" or "unverified model@version: reason".
func (s Signature) String() string {
	ref := s.Model
	if s.Version != "" {
		ref += "@" + s.Version
	}
	if s.Status == SignatureOK {
		return "ok " + ref + " " + s.Identity
	}
	return string(s.Status) + " " + ref + ": " + s.Reason
}

// signatures returns the verdicts Check gives: every version that a
// signing.required stage pins and, with opts.Bundles, every version that
// carries a bundle, limited to opts.Model and opts.Version.
func signatures(ctx context.Context, inv *inventory.Inventory, opts Options) []Signature {
	var out []Signature
	var open *artifact.Opener
	if opts.Artifacts {
		open = opener(inv, opts)
	}
	for _, m := range inv.Models {
		if opts.Model != "" && m.Name != opts.Model {
			continue
		}
		if !m.Valid {
			if opts.Bundles {
				out = append(out, Signature{Model: m.Name, Status: SignatureInvalid, Reason: "the model does not evaluate; run cairn validate"})
			}
			continue
		}
		required := requiredStages(inv, m)
		versions := slices.Sorted(maps.Keys(m.Versions))
		for v := range required {
			if _, ok := m.Versions[v]; !ok {
				versions = append(versions, v)
			}
		}
		slices.Sort(versions)
		versions = slices.Compact(versions)
		for _, v := range versions {
			if opts.Version != "" && v != opts.Version {
				continue
			}
			if ctx.Err() != nil {
				return out
			}
			stages := required[v]
			if len(stages) == 0 {
				if !opts.Bundles {
					continue
				}
				if _, err := fs.Stat(inv.Source.FS, inventory.BundlePath(m.Name, v)); err != nil && opts.Version == "" {
					continue // unsigned and not required: nothing to check
				}
			}
			s := check(ctx, inv, m, v, opts.Trust, open, opts.Progress)
			s.Stages = stages
			if s.Status == SignatureInvalid && len(stages) > 0 {
				s.Reason += fmt.Sprintf(" (stage %s requires a valid signature)", strings.Join(stages, ", "))
			}
			out = append(out, s)
		}
	}
	return out
}

// requiredStages maps each version m pins in a signing.required stage to
// those stages. A retired model pins nothing that deploys.
func requiredStages(inv *inventory.Inventory, m *inventory.Model) map[string][]string {
	out := map[string][]string{}
	if m.Retired {
		return out
	}
	for _, stage := range inv.Settings.Signing.Required {
		if v, ok := m.Stages[stage]; ok {
			out[v] = append(out[v], stage)
		}
	}
	return out
}

// check verifies the bundle of m@version against trust and the pinned
// digest and, when open is set, that the artifact streamed again has that
// digest. Every failure is a verdict, never an error.
func check(ctx context.Context, inv *inventory.Inventory, m *inventory.Model, version string, trust signing.Trust, open *artifact.Opener, progress func(string, io.Reader, int64) io.Reader) Signature {
	s := Signature{Model: m.Name, Version: version, Status: SignatureInvalid, Bundle: inventory.BundlePath(m.Name, version)}
	v, ok := m.Versions[version]
	if !ok {
		s.Reason = "version is not declared in versions"
		return s
	}
	s.Digest = v.Artifact.Digest
	data, err := inv.Source.ReadFile(s.Bundle)
	if errors.Is(err, fs.ErrNotExist) {
		s.Reason = "no signature bundle " + s.Bundle
		return s
	} else if err != nil {
		s.Reason = fmt.Sprintf("reading %s: %v", s.Bundle, err)
		return s
	}
	if !Trusted(trust) {
		s.Status, s.Reason = SignatureUnverified, "no trust root given to verify "+s.Bundle
		return s
	}
	res, err := signing.Verify(ctx, data, v.Artifact.Digest, trust)
	if err != nil {
		s.Reason = oneLine(err.Error())
		if errors.Is(err, signing.ErrDigestMismatch) {
			s.Reason += " (a bundle of another version or artifact?)"
		}
		return s
	}
	s.Identity = res.Identity
	if open != nil {
		var wrap func(io.Reader, int64) io.Reader
		if progress != nil {
			label := m.Name + "@" + version
			wrap = func(r io.Reader, size int64) io.Reader { return progress(label, r, size) }
		}
		if err := open.Check(ctx, v.Artifact.URI, v.Artifact.Digest, wrap); err != nil {
			s.Identity, s.Reason = "", oneLine(err.Error())
			return s
		}
	}
	s.Status = SignatureOK
	return s
}

// oneLine flattens a message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

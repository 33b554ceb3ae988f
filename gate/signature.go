package gate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/cairnops/cairn/artifact"
	"github.com/cairnops/cairn/internal/keys"
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
	open := opener(inv, opts)
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
		versions := keys.Sorted(m.Versions)
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
				if _, err := fs.Stat(inv.Source.FS, inventory.BundlePath(m.Name, v)); err != nil && opts.Version == "" && !isOCI(m, v) {
					continue // unsigned and not required: nothing to check
				}
			}
			s := check(ctx, inv, m, v, opts.Trust, open, opts.Artifacts, opts.Progress)
			if s.unsigned && len(stages) == 0 && opts.Version == "" {
				continue // an oci:// version without a bundle, not required: nothing to check
			}
			s.Stages = stages
			if s.Status == SignatureInvalid && len(stages) > 0 {
				s.Reason += fmt.Sprintf(" (stage %s requires a valid signature)", strings.Join(stages, ", "))
			}
			out = append(out, s.Signature)
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

// isOCI reports whether version of m pins an oci:// artifact, whose
// bundles may also be attached in its registry.
func isOCI(m *inventory.Model, version string) bool {
	v, ok := m.Versions[version]
	return ok && strings.HasPrefix(v.Artifact.URI, inventory.OCIPrefix)
}

// verdict is check's answer: the Signature and whether no bundle was found
// at all.
type verdict struct {
	Signature
	unsigned bool
}

// check verifies the bundle of m@version against trust and the pinned
// digest and, when artifacts is set, that the artifact streamed again has
// that digest. The bundle is the one in git; an oci:// version without
// one there is checked with the bundles attached to its manifest in the
// registry (OCI 1.1 referrers, or the referrers tag), the first that
// verifies giving the verdict. Every failure is a verdict, never an error.
func check(ctx context.Context, inv *inventory.Inventory, m *inventory.Model, version string, trust signing.Trust, open *artifact.Opener, artifacts bool, progress func(string, io.Reader, int64) io.Reader) verdict {
	s := Signature{Model: m.Name, Version: version, Status: SignatureInvalid, Bundle: inventory.BundlePath(m.Name, version)}
	v, ok := m.Versions[version]
	if !ok {
		s.Reason = "version is not declared in versions"
		return verdict{Signature: s}
	}
	s.Digest = v.Artifact.Digest
	var bundles []artifact.Bundle
	data, err := inv.Source.ReadFile(s.Bundle)
	switch {
	case err == nil:
		bundles = []artifact.Bundle{{Ref: s.Bundle, Data: data}}
	case errors.Is(err, fs.ErrNotExist) && isOCI(m, version):
		attached, err := open.Bundles(ctx, v.Artifact.URI)
		if err != nil {
			s.Reason = fmt.Sprintf("no signature bundle %s, and looking for attached ones: %s", s.Bundle, oneLine(err.Error()))
			return verdict{Signature: s}
		}
		if len(attached) == 0 {
			s.Reason = fmt.Sprintf("no signature bundle %s, nor attached to %s", s.Bundle, v.Artifact.URI)
			return verdict{Signature: s, unsigned: true}
		}
		bundles = attached
	case errors.Is(err, fs.ErrNotExist):
		s.Reason = "no signature bundle " + s.Bundle
		return verdict{Signature: s, unsigned: true}
	default:
		s.Reason = fmt.Sprintf("reading %s: %v", s.Bundle, err)
		return verdict{Signature: s}
	}
	s.Bundle = bundles[0].Ref
	if !Trusted(trust) {
		s.Status, s.Reason = SignatureUnverified, "no trust root given to verify "+s.Bundle
		return verdict{Signature: s}
	}
	var res signing.Result
	for _, b := range bundles {
		s.Bundle = b.Ref
		res, err = signing.Verify(ctx, b.Data, v.Artifact.Digest, trust)
		if err == nil {
			break
		}
	}
	if err != nil {
		s.Reason = oneLine(err.Error())
		if len(bundles) > 1 {
			s.Bundle = v.Artifact.URI
			s.Reason = fmt.Sprintf("none of the %d bundles attached verifies; the last: %s", len(bundles), s.Reason)
		}
		if errors.Is(err, signing.ErrDigestMismatch) {
			s.Reason += " (a bundle of another version or artifact?)"
		}
		return verdict{Signature: s}
	}
	s.Identity = res.Identity
	if artifacts {
		var wrap func(io.Reader, int64) io.Reader
		if progress != nil {
			label := m.Name + "@" + version
			wrap = func(r io.Reader, size int64) io.Reader { return progress(label, r, size) }
		}
		if err := open.Check(ctx, v.Artifact.URI, v.Artifact.Digest, wrap); err != nil {
			s.Identity, s.Reason = "", oneLine(err.Error())
			return verdict{Signature: s}
		}
	}
	s.Status = SignatureOK
	return verdict{Signature: s}
}

// oneLine flattens a message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

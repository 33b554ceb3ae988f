package local

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/cairnops/cairn/targets"
)

// ErrInvalid is wrapped by every error Apply and Plan return for a desired
// state that cannot name a path inside the target: a bad model name, version,
// digest or artifact URI.
var ErrInvalid = errors.New("invalid desired state")

var (
	modelRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	versionRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)` +
		`(-(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*)?` +
		`(\+[0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*)?$`)
	digestRE = regexp.MustCompile(`^sha256:[a-f0-9]{64}$`)
)

// maxVersionLen bounds a version so that it stays a valid file name.
const maxVersionLen = 128

// validModel reports whether name is a model name (DESIGN.md §1).
func validModel(name string) bool { return modelRE.MatchString(name) }

// validVersion reports whether v is a semantic version usable as one path
// element: the grammar admits neither "/" nor "..".
func validVersion(v string) bool {
	return len(v) <= maxVersionLen && versionRE.MatchString(v)
}

// artifactFile returns the file name an artifact is deployed under: the last
// segment of its URI path, or "model" when that is empty. A URI with "." or
// ".." segments, or whose last segment is not a clean single name, is an error.
func artifactFile(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("artifact uri %q: %w: %w", uri, ErrInvalid, err)
	}
	p := u.Path
	if u.Opaque != "" {
		p = u.Opaque
	}
	if u.Scheme == "file" {
		// file://dir/model.onnx is relative to the inventory root: the
		// first segment parses as a host.
		p = u.Host + "/" + p
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if s == "." || s == ".." {
			return "", fmt.Errorf("artifact uri %q: %w: dot segment in path", uri, ErrInvalid)
		}
	}
	name := segs[len(segs)-1]
	if name == "" {
		return "model", nil
	}
	if targets.CheckFileName(name) != nil || name == currentLink {
		return "", fmt.Errorf("artifact uri %q: %w: file name %q is not a clean single name", uri, ErrInvalid, name)
	}
	return name, nil
}

// wanted is one validated desired model with the file name it deploys to.
type wanted struct {
	targets.Model
	file  string // the file of a single-file artifact; empty for an OCI artifact
	multi bool   // an OCI artifact: its files and their names come from its manifest
}

// ociPrefix starts the URI of an OCI artifact, whose files are its layers.
const ociPrefix = "oci://"

// validateDesired checks every desired model and returns them with their
// file names. It reports all problems at once.
func validateDesired(desired []targets.Model) ([]wanted, error) {
	var errs []error
	seen := make(map[string]bool, len(desired))
	out := make([]wanted, 0, len(desired))
	for _, m := range desired {
		if !validModel(m.Name) {
			errs = append(errs, fmt.Errorf("model name %q: %w", m.Name, ErrInvalid))
			continue
		}
		if seen[m.Name] {
			errs = append(errs, fmt.Errorf("model %s: %w: listed twice", m.Name, ErrInvalid))
			continue
		}
		seen[m.Name] = true
		if !validVersion(m.Version) {
			errs = append(errs, fmt.Errorf("model %s: version %q: %w: not a semantic version", m.Name, m.Version, ErrInvalid))
			continue
		}
		if !digestRE.MatchString(m.Artifact.Digest) {
			errs = append(errs, fmt.Errorf("model %s@%s: digest %q: %w: want sha256:<64 hex>", m.Name, m.Version, m.Artifact.Digest, ErrInvalid))
			continue
		}
		if m.Artifact.Size < 0 {
			errs = append(errs, fmt.Errorf("model %s@%s: size %d: %w", m.Name, m.Version, m.Artifact.Size, ErrInvalid))
			continue
		}
		if strings.HasPrefix(m.Artifact.URI, ociPrefix) {
			out = append(out, wanted{Model: m, multi: true})
			continue
		}
		file, err := artifactFile(m.Artifact.URI)
		if err != nil {
			errs = append(errs, fmt.Errorf("model %s@%s: %w", m.Name, m.Version, err))
			continue
		}
		out = append(out, wanted{Model: m, file: file})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

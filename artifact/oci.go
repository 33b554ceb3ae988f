package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/signing"
	"github.com/cairnops/cairn/targets"
)

// BundleArtifactType is the artifactType of a Sigstore bundle attached to
// a model manifest as an OCI 1.1 referrer, and the media type of its one
// layer.
const BundleArtifactType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// Media type prefixes of the model artifacts a target deploys file by
// file: KitOps ModelKits and CNCF ModelPack.
const (
	ModelKitPrefix  = "application/vnd.kitops.modelkit."
	ModelPackPrefix = "application/vnd.cncf.model."
)

const (
	// maxManifest bounds a manifest read from a registry.
	maxManifest = 4 << 20
	// maxBundle bounds a signature bundle read from a registry.
	maxBundle = 1 << 20
	// maxBundles bounds how many attached bundles are read for one version.
	maxBundles = 16
)

// ErrRegistry is wrapped by every error of a registry that refused or
// failed a request (an HTTP error status); its message names the registry,
// the status and what to do, never a credential.
var ErrRegistry = errors.New("registry error")

// WithCredentials returns a copy of o that reaches oci:// registries with
// the credentials of store (credentials.NewStoreFromDocker,
// credentials.NewStore); nil means anonymous.
func (o *Opener) WithCredentials(store credentials.Store) *Opener {
	c := *o
	c.creds = store
	c.authCache = auth.NewCache()
	return &c
}

// ociRef is a parsed oci:// pin: the repository and the manifest digest.
type ociRef struct {
	uri    string
	ref    registry.Reference // Reference is the digest
	digest string
}

// parseOCI parses oci://REGISTRY/REPO[:TAG]@sha256:<hex>; a pin without a
// digest is refused, as the inventory refuses it (inventory.ParseOCI).
func parseOCI(uri string) (ociRef, error) {
	ref, err := inventory.ParseOCI(uri)
	if err != nil {
		return ociRef{}, err
	}
	return ociRef{uri: uri, ref: ref, digest: ref.Reference}, nil
}

// repository returns the remote repository of r, reached over HTTPS with
// o's client and credentials.
func (o *Opener) repository(r ociRef) *remote.Repository {
	cache := o.authCache
	if cache == nil {
		cache = auth.NewCache()
	}
	client := &auth.Client{Client: o.client, Cache: cache, Header: http.Header{"User-Agent": {"cairn"}}}
	if o.creds != nil {
		client.Credential = credentials.Credential(o.creds)
	}
	repo := &remote.Repository{Client: client, Reference: r.ref, MaxMetadataBytes: maxManifest,
		ReferrerListMaxPages: 10, TagListMaxPages: 10}
	repo.Reference.Reference = ""
	return repo
}

// registryErr turns a registry client error into one line that names the
// registry and the status, and never a header or credential: a registry
// error response's body is left out, as is the URL's query.
func registryErr(r ociRef, what string, err error) error {
	host := r.ref.Registry
	var resp *errcode.ErrorResponse
	switch {
	case errors.As(err, &resp):
		status := fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %s: registry %s answered %s: check the credentials for %s (docker login %s, or --registry-config FILE)",
				ErrRegistry, what, host, status, host, host)
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s: not found in registry %s (404)", ErrRegistry, what, host)
		}
		return fmt.Errorf("%w: %s: registry %s answered %s", ErrRegistry, what, host, status)
	case errors.Is(err, auth.ErrBasicCredentialNotFound):
		return fmt.Errorf("%w: %s: registry %s asks for credentials and none are configured for it (docker login %s, or --registry-config FILE)",
			ErrRegistry, what, host, host)
	case errors.Is(err, errdef.ErrNotFound):
		return fmt.Errorf("%w: %s: not found in registry %s", ErrRegistry, what, host)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return fmt.Errorf("%s: registry %s: %s", what, host, oneLine(err.Error()))
}

// oneLine flattens a message onto one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// manifest fetches the manifest that r pins, checks that its bytes hash to
// want and decodes it. Its bytes hashing to something else wrap
// ErrDigestMismatch.
func (o *Opener) manifest(ctx context.Context, r ociRef, want string) (*ocispec.Manifest, ocispec.Descriptor, error) {
	if r.digest != want {
		return nil, ocispec.Descriptor{}, &mismatch{uri: r.uri, want: want, got: r.digest}
	}
	repo := o.repository(r)
	desc, rc, err := repo.FetchReference(ctx, r.digest)
	if err != nil {
		return nil, desc, registryErr(r, "manifest "+r.digest, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxManifest+1))
	if err != nil {
		return nil, desc, registryErr(r, "reading manifest "+r.digest, err)
	}
	if len(data) > maxManifest {
		return nil, desc, fmt.Errorf("manifest %s of %s: larger than %d bytes", r.digest, r.uri, maxManifest)
	}
	sum := sha256.Sum256(data)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != want {
		return nil, desc, &mismatch{uri: r.uri + " (manifest)", want: want, got: got}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, desc, fmt.Errorf("manifest of %s: %w", r.uri, err)
	}
	if m.MediaType == "" {
		m.MediaType = desc.MediaType
	}
	if m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != "application/vnd.docker.distribution.manifest.v2+json" {
		return nil, desc, fmt.Errorf("%s: media type %q is not an image manifest (an index names several artifacts: pin one of them)", r.uri, m.MediaType)
	}
	desc = ocispec.Descriptor{MediaType: m.MediaType, Digest: desc.Digest, Size: int64(len(data)), ArtifactType: m.ArtifactType}
	return &m, desc, nil
}

// ociDigest checks the artifact that uri pins: the manifest hashes to
// want, then the config and every layer, streamed, hash to the digests and
// sizes the manifest gives them. It returns want.
func (o *Opener) ociDigest(ctx context.Context, r ociRef, want string, wrap func(r io.Reader, size int64) io.Reader) (string, error) {
	m, _, err := o.manifest(ctx, r, want)
	if err != nil {
		return "", err
	}
	repo := o.repository(r)
	blobs := append([]ocispec.Descriptor{m.Config}, m.Layers...)
	for _, b := range blobs {
		if err := checkBlob(ctx, repo, r, b, wrap); err != nil {
			return "", err
		}
	}
	return want, nil
}

// checkBlob streams blob b through sha256 and compares digest and size.
func checkBlob(ctx context.Context, repo *remote.Repository, r ociRef, b ocispec.Descriptor, wrap func(r io.Reader, size int64) io.Reader) error {
	what := "blob " + b.Digest.String()
	if t := b.Annotations[ocispec.AnnotationTitle]; t != "" {
		what += " (" + t + ")"
	}
	rc, err := repo.Blobs().Fetch(ctx, b)
	if err != nil {
		return registryErr(r, what, err)
	}
	defer rc.Close()
	var in io.Reader = io.LimitReader(rc, b.Size+1)
	if wrap != nil {
		in = wrap(in, b.Size)
	}
	got, n, err := signing.Digest(ctx, in)
	if err != nil {
		return registryErr(r, "reading "+what, err)
	}
	if got != b.Digest.String() || n != b.Size {
		return &mismatch{uri: r.uri + " " + what, want: b.Digest.String(), got: fmt.Sprintf("%s (%d bytes, want %d)", got, n, b.Size)}
	}
	return nil
}

// ModelMediaType reports whether a manifest's config media type or
// artifactType names a ModelKit or a ModelPack artifact.
func ModelMediaType(mediaType string) bool {
	return strings.HasPrefix(mediaType, ModelKitPrefix) || strings.HasPrefix(mediaType, ModelPackPrefix)
}

// ociFiles returns the layers of the model artifact a pins as target
// files, named by their org.opencontainers.image.title annotations. The
// manifest must hash to a.Digest and be a ModelKit or ModelPack; every
// layer needs a safe, unique title (targets.CheckFileName).
func (o *Opener) ociFiles(ctx context.Context, a targets.Artifact) ([]targets.File, error) {
	r, err := parseOCI(a.URI)
	if err != nil {
		return nil, err
	}
	m, _, err := o.manifest(ctx, r, a.Digest)
	if err != nil {
		return nil, err
	}
	if !ModelMediaType(m.Config.MediaType) && !ModelMediaType(m.ArtifactType) {
		return nil, fmt.Errorf("%s: config media type %q is not a ModelKit (%s*) or ModelPack (%s*) artifact", a.URI, m.Config.MediaType, ModelKitPrefix, ModelPackPrefix)
	}
	files := make([]targets.File, 0, len(m.Layers))
	seen := map[string]bool{}
	for _, l := range m.Layers {
		name := l.Annotations[ocispec.AnnotationTitle]
		if name == "" {
			return nil, fmt.Errorf("%s: layer %s has no %s annotation to name its file", a.URI, l.Digest, ocispec.AnnotationTitle)
		}
		if err := targets.CheckFileName(name); err != nil {
			return nil, fmt.Errorf("%s: layer %s: file %w", a.URI, l.Digest, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s: two layers are titled %q", a.URI, name)
		}
		seen[name] = true
		files = append(files, targets.File{Name: name, Digest: l.Digest.String(), Size: l.Size})
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: the manifest has no layers", a.URI)
	}
	return files, nil
}

// ociOpen opens the layer f of the OCI artifact a.
func (o *Opener) ociOpen(ctx context.Context, a targets.Artifact, f targets.File) (io.ReadCloser, error) {
	r, err := parseOCI(a.URI)
	if err != nil {
		return nil, err
	}
	d, err := digest.Parse(f.Digest)
	if err != nil {
		return nil, fmt.Errorf("layer %s of %s: %w", f.Name, a.URI, err)
	}
	desc := ocispec.Descriptor{Digest: d, Size: f.Size, MediaType: "application/octet-stream"}
	rc, err := o.repository(r).Blobs().Fetch(ctx, desc)
	if err != nil {
		return nil, registryErr(r, "layer "+f.Name, err)
	}
	return rc, nil
}

// Bundle is a Sigstore bundle found attached to a manifest.
type Bundle struct {
	// Ref names the referrer manifest that carries it,
	// oci://REGISTRY/REPO@sha256:<hex>.
	Ref  string
	Data []byte
}

// Bundles returns the Sigstore bundles attached to the manifest that uri
// pins as OCI 1.1 referrers (artifactType BundleArtifactType), found
// through the registry's referrers API or, where it has none, the
// sha256-<hex> referrers tag. None is an empty list, not an error. At most
// maxBundles are read.
func (o *Opener) Bundles(ctx context.Context, uri string) ([]Bundle, error) {
	r, err := parseOCI(uri)
	if err != nil {
		return nil, err
	}
	repo := o.repository(r)
	subject, err := repo.Resolve(ctx, r.digest)
	if err != nil {
		return nil, registryErr(r, "manifest "+r.digest, err)
	}
	// All referrers are listed and filtered here: a registry that predates
	// OCI 1.1 artifactType reports the config's media type in its place
	// (the empty descriptor's, for a bundle), and the manifest says.
	var refs []ocispec.Descriptor
	err = repo.Referrers(ctx, subject, "", func(page []ocispec.Descriptor) error {
		for _, d := range page {
			switch d.ArtifactType {
			case BundleArtifactType, ocispec.MediaTypeEmptyJSON, "":
				refs = append(refs, d)
			}
		}
		if len(refs) >= maxBundles {
			return errStop
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return nil, registryErr(r, "referrers of "+r.digest, err)
	}
	if len(refs) > maxBundles {
		refs = refs[:maxBundles]
	}
	var out []Bundle
	for _, d := range refs {
		at := r
		at.digest = d.Digest.String()
		data, err := content(ctx, repo, d, maxManifest)
		if err != nil {
			return nil, registryErr(at, "referrer "+d.Digest.String(), err)
		}
		var m ocispec.Manifest
		if err := json.Unmarshal(data, &m); err != nil || m.ArtifactType != BundleArtifactType ||
			len(m.Layers) != 1 || m.Layers[0].MediaType != BundleArtifactType {
			continue // not a bundle this build writes
		}
		b, err := content(ctx, repo.Blobs(), m.Layers[0], maxBundle)
		if err != nil {
			return nil, registryErr(at, "bundle "+m.Layers[0].Digest.String(), err)
		}
		out = append(out, Bundle{Ref: "oci://" + r.ref.Registry + "/" + r.ref.Repository + "@" + d.Digest.String(), Data: b})
	}
	return out, nil
}

var errStop = errors.New("enough referrers")

// content reads the blob or manifest d of at most limit bytes and checks
// its digest.
func content(ctx context.Context, f interface {
	Fetch(context.Context, ocispec.Descriptor) (io.ReadCloser, error)
}, d ocispec.Descriptor, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", d.Digest, limit)
	}
	rc, err := f.Fetch(ctx, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, d.Size+1))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if got := "sha256:" + hex.EncodeToString(sum[:]); got != d.Digest.String() || int64(len(data)) != d.Size {
		return nil, fmt.Errorf("%s: %w: got %s", d.Digest, ErrDigestMismatch, got)
	}
	return data, nil
}

// Attach pushes bundle as an OCI 1.1 referrer of the manifest that uri
// pins: a manifest of artifactType BundleArtifactType whose subject is that
// manifest and whose one layer is the bundle. A registry without the
// referrers API gets the sha256-<hex> referrers tag updated instead
// (oras-go does it). It returns the referrer's oci:// reference.
func (o *Opener) Attach(ctx context.Context, uri string, bundle []byte) (string, error) {
	r, err := parseOCI(uri)
	if err != nil {
		return "", err
	}
	repo := o.repository(r)
	subject, err := repo.Resolve(ctx, r.digest)
	if err != nil {
		return "", registryErr(r, "manifest "+r.digest, err)
	}
	sum := sha256.Sum256(bundle)
	layer := ocispec.Descriptor{MediaType: BundleArtifactType, Digest: digest.NewDigestFromBytes(digest.SHA256, sum[:]), Size: int64(len(bundle))}
	if err := repo.Push(ctx, layer, bytes.NewReader(bundle)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
		return "", registryErr(r, "pushing the bundle", err)
	}
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, BundleArtifactType,
		oras.PackManifestOptions{Subject: &subject, Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		return "", registryErr(r, "pushing the bundle's manifest", err)
	}
	return "oci://" + r.ref.Registry + "/" + r.ref.Repository + "@" + desc.Digest.String(), nil
}

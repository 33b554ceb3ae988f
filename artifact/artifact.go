// Package artifact opens the artifacts that version pins name, for
// streaming: file:// URIs inside the inventory's repository, https:// URLs
// and oci:// manifests in OCI registries (whose files are their layers).
// It is the one opener that sign, verify and every target driver use, so
// that what is checked is what is deployed.
package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/signing"
	"github.com/cairnops/cairn/targets"
)

// maxRedirects is how many redirects Open follows.
const maxRedirects = 10

// Opener opens artifacts of one inventory source. The zero value is not
// usable; make one with NewOpener.
type Opener struct {
	src       *inventory.Source
	client    *http.Client
	creds     credentials.Store // registry credentials; nil: anonymous
	authCache auth.Cache        // registry tokens, shared by every request of the opener
}

// NewOpener returns the opener for src: file:// URIs name files relative
// to the inventory root, checked to stay inside it; https:// URLs are
// fetched with client (nil means http.DefaultClient) and redirects are
// followed only to https.
func NewOpener(src *inventory.Source, client *http.Client) *Opener {
	if client == nil {
		client = http.DefaultClient
	}
	c := *client
	next := c.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to %s: not https", req.URL.Redacted())
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}
	return &Opener{src: src, client: &c, authCache: auth.NewCache()}
}

// ErrScheme is wrapped by Open's error for a URI whose scheme this build
// cannot open.
var ErrScheme = errors.New("artifact scheme not supported")

// Open opens the single-file artifact at uri and returns it with its size,
// -1 when unknown. The caller closes the reader. Errors wrap ErrScheme for
// a scheme other than file://, https:// and oci://; an oci:// artifact is
// several files and opens through Target, never here.
func (o *Opener) Open(ctx context.Context, uri string) (io.ReadCloser, int64, error) {
	switch {
	case strings.HasPrefix(uri, inventory.FilePrefix):
		p := strings.TrimPrefix(uri, inventory.FilePrefix)
		if err := o.src.CheckPath(p); err != nil {
			return nil, 0, err
		}
		f, err := o.src.OpenFile(path.Clean(p))
		if err != nil {
			return nil, 0, fmt.Errorf("opening %s: %w", p, err)
		}
		size := int64(-1)
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		return f, size, nil
	case strings.HasPrefix(uri, "https://"):
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
		if err != nil {
			return nil, 0, fmt.Errorf("fetching %s: %w", uri, err)
		}
		resp, err := o.client.Do(req)
		if err != nil {
			return nil, 0, fmt.Errorf("fetching artifact: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, 0, fmt.Errorf("fetching %s: %s", uri, resp.Status)
		}
		return resp.Body, resp.ContentLength, nil
	case strings.HasPrefix(uri, inventory.OCIPrefix):
		return nil, 0, fmt.Errorf("artifact uri %q: an oci:// artifact is several files, not one stream", uri)
	default:
		scheme, _, ok := strings.Cut(uri, "://")
		if !ok {
			return nil, 0, fmt.Errorf("artifact uri %q has no scheme: %w (want file://, https:// or oci://)", uri, ErrScheme)
		}
		return nil, 0, fmt.Errorf("artifact uri %q: %w: %s:// (want file://, https:// or oci://)", uri, ErrScheme, scheme)
	}
}

// ErrDigestMismatch is wrapped by Check's error when the artifact's bytes
// do not hash to the pinned digest.
var ErrDigestMismatch = errors.New("artifact does not match the pinned digest")

// Check streams the artifact at uri through sha256 with constant memory and
// returns an error wrapping ErrDigestMismatch unless it hashes to digest.
// For an oci:// artifact digest is the manifest's: the manifest must hash
// to it, and its config and every layer, streamed, to the digests it gives
// them. wrap, when not nil, wraps each stream (for progress) given its
// size, -1 when unknown. A registry's refusal or failure wraps ErrRegistry.
func (o *Opener) Check(ctx context.Context, uri, digest string, wrap func(r io.Reader, size int64) io.Reader) error {
	if strings.HasPrefix(uri, inventory.OCIPrefix) {
		r, err := parseOCI(uri)
		if err != nil {
			return err
		}
		_, err = o.ociDigest(ctx, r, digest, wrap)
		return err
	}
	got, err := o.Digest(ctx, uri, wrap)
	if err != nil {
		return err
	}
	if got != digest {
		return &mismatch{uri: uri, want: digest, got: got}
	}
	return nil
}

// mismatch is Check's error for an artifact that does not hash to its pin.
type mismatch struct{ uri, want, got string }

func (e *mismatch) Error() string {
	return fmt.Sprintf("artifact %s does not match the pinned digest: want %s, got %s", e.uri, e.want, e.got)
}

func (e *mismatch) Is(target error) bool { return target == ErrDigestMismatch }

// Digest streams the artifact at uri through sha256 and returns
// "sha256:<hex>". wrap is as for Check. For an oci:// artifact it is the
// digest the URI pins, once Check passes with it.
func (o *Opener) Digest(ctx context.Context, uri string, wrap func(r io.Reader, size int64) io.Reader) (string, error) {
	if strings.HasPrefix(uri, inventory.OCIPrefix) {
		ref, err := parseOCI(uri)
		if err != nil {
			return "", err
		}
		return o.ociDigest(ctx, ref, ref.digest, wrap)
	}
	r, size, err := o.Open(ctx, uri)
	if err != nil {
		return "", err
	}
	defer r.Close()
	var in io.Reader = r
	if wrap != nil {
		in = wrap(r, size)
	}
	d, _, err := signing.Digest(ctx, in)
	if err != nil {
		return "", fmt.Errorf("reading artifact %s: %w", uri, err)
	}
	return d, nil
}

// Target returns the opener in the form target drivers take: a file:// or
// https:// artifact is one file; an oci:// artifact's files are the layers
// of its ModelKit or ModelPack manifest, named by their titles.
func (o *Opener) Target() targets.Opener { return targetOpener{o} }

type targetOpener struct{ o *Opener }

func (t targetOpener) Files(ctx context.Context, a targets.Artifact) ([]targets.File, error) {
	if strings.HasPrefix(a.URI, inventory.OCIPrefix) {
		return t.o.ociFiles(ctx, a)
	}
	return targets.OpenFunc(nil).Files(ctx, a)
}

func (t targetOpener) Open(ctx context.Context, a targets.Artifact, f targets.File) (io.ReadCloser, error) {
	if strings.HasPrefix(a.URI, inventory.OCIPrefix) {
		return t.o.ociOpen(ctx, a, f)
	}
	r, _, err := t.o.Open(ctx, a.URI)
	return r, err
}

// Package artifact opens the artifacts that version pins name, for
// streaming: file:// URIs inside the inventory's repository and https://
// URLs. It is the one opener that sign, verify and every target driver use,
// so that what is checked is what is deployed.
package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/signing"
	"github.com/cairnops/cairn/targets"
)

// maxRedirects is how many redirects Open follows.
const maxRedirects = 10

// Opener opens artifacts of one inventory source. The zero value is not
// usable; make one with NewOpener.
type Opener struct {
	src    *inventory.Source
	client *http.Client
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
	return &Opener{src: src, client: &c}
}

// ErrScheme is wrapped by Open's error for a URI whose scheme this build
// cannot open.
var ErrScheme = errors.New("artifact scheme not supported")

// Open opens the artifact at uri and returns it with its size, -1 when
// unknown. The caller closes the reader. Errors wrap ErrScheme for a
// scheme other than file:// and https://.
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
	default:
		scheme, _, ok := strings.Cut(uri, "://")
		if !ok {
			return nil, 0, fmt.Errorf("artifact uri %q has no scheme: %w (want file:// or https://)", uri, ErrScheme)
		}
		return nil, 0, fmt.Errorf("artifact uri %q: %w: %s:// (want file:// or https://)", uri, ErrScheme, scheme)
	}
}

// ErrDigestMismatch is wrapped by Check's error when the artifact's bytes
// do not hash to the pinned digest.
var ErrDigestMismatch = errors.New("artifact does not match the pinned digest")

// Check streams the artifact at uri through sha256 with constant memory and
// returns an error wrapping ErrDigestMismatch unless it hashes to digest.
// wrap, when not nil, wraps the stream (for progress) given its size, -1
// when unknown.
func (o *Opener) Check(ctx context.Context, uri, digest string, wrap func(r io.Reader, size int64) io.Reader) error {
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
// "sha256:<hex>". wrap is as for Check.
func (o *Opener) Digest(ctx context.Context, uri string, wrap func(r io.Reader, size int64) io.Reader) (string, error) {
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

// Target returns the opener in the form target drivers take.
func (o *Opener) Target() targets.Opener {
	return func(ctx context.Context, a targets.Artifact) (io.ReadCloser, error) {
		r, _, err := o.Open(ctx, a.URI)
		return r, err
	}
}

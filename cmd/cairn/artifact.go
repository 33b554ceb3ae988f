package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/signing"
)

// openArtifact opens the artifact at uri for streaming and returns it with
// its size (-1 when unknown). A file:// URI names a file of src, relative to
// the inventory root and checked to stay inside it; an https:// URI is
// fetched with client (http.DefaultClient when nil). Other schemes are
// errors. The caller closes the reader.
func openArtifact(ctx context.Context, src *inventory.Source, client *http.Client, uri string) (io.ReadCloser, int64, error) {
	switch {
	case strings.HasPrefix(uri, inventory.FilePrefix):
		p := strings.TrimPrefix(uri, inventory.FilePrefix)
		if err := src.CheckPath(p); err != nil {
			return nil, 0, err
		}
		f, err := src.OpenFile(path.Clean(p))
		if err != nil {
			return nil, 0, fmt.Errorf("opening %s: %w", p, err)
		}
		size := int64(-1)
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		return f, size, nil
	case strings.HasPrefix(uri, "https://"):
		if client == nil {
			client = http.DefaultClient
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
		if err != nil {
			return nil, 0, fmt.Errorf("fetching %s: %w", uri, err)
		}
		resp, err := client.Do(req)
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
			return nil, 0, fmt.Errorf("artifact uri %q has no scheme (want file:// or https://)", uri)
		}
		return nil, 0, fmt.Errorf("artifact uri %q: scheme %s:// is not supported here (want file:// or https://)", uri, scheme)
	}
}

// digestArtifact streams the artifact at uri through sha256 with constant
// memory and returns "sha256:<hex>". When stderr is a terminal and the
// artifact is large, it shows progress there, labelled with label.
func digestArtifact(ctx context.Context, g *globalOptions, src *inventory.Source, client *http.Client, label, uri string) (string, error) {
	r, size, err := openArtifact(ctx, src, client, uri)
	if err != nil {
		return "", err
	}
	defer r.Close()
	var in io.Reader = r
	if p := newProgress(g.stderr, label, size); p != nil {
		defer p.done()
		in = p.wrap(r)
	}
	d, _, err := signing.Digest(ctx, in)
	if err != nil {
		return "", fmt.Errorf("reading artifact %s: %w", uri, err)
	}
	return d, nil
}

// progressMin is the size from which digestArtifact shows progress.
const progressMin = 64 << 20

// progress prints "label: 512 MiB / 1.0 GiB (50%)" on a terminal, at most
// a few times a second, and clears the line when done.
type progress struct {
	w     io.Writer
	label string
	size  int64
	n     int64
	last  time.Time
}

// newProgress returns nil unless w is a terminal and size is large or unknown.
func newProgress(w io.Writer, label string, size int64) *progress {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	if size >= 0 && size < progressMin {
		return nil
	}
	return &progress{w: w, label: label, size: size}
}

func (p *progress) wrap(r io.Reader) io.Reader { return &progressReader{r: r, p: p} }

func (p *progress) add(n int) {
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		if p.size > 0 {
			fmt.Fprintf(p.w, "\r\033[K%s: %s / %s (%d%%)", p.label, human(p.n), human(p.size), p.n*100/p.size)
		} else {
			fmt.Fprintf(p.w, "\r\033[K%s: %s", p.label, human(p.n))
		}
	}
}

func (p *progress) done() {
	if !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

type progressReader struct {
	r io.Reader
	p *progress
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.add(n)
	return n, err
}

// human renders a byte count in binary units.
func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

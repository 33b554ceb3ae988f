package signing

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// digestPrefix is the algorithm prefix of every digest string this package reads or writes.
const digestPrefix = "sha256:"

// chunkSize is the copy buffer of Digest; memory use stays at one chunk whatever the input size.
const chunkSize = 1 << 20

// Digest streams r through sha256 with constant memory and returns "sha256:<64 hex>" and the
// number of bytes read. It stops with ctx.Err() (wrapped) when ctx is cancelled between chunks,
// and wraps any read error. The caller closes r.
func Digest(ctx context.Context, r io.Reader) (digest string, n int64, err error) {
	h := sha256.New()
	buf := make([]byte, chunkSize)
	// ctxReader hides io.WriterTo of r (bytes.Reader, os.File...) so that CopyBuffer really
	// copies through buf and the context is checked before every chunk.
	n, err = io.CopyBuffer(h, &ctxReader{ctx: ctx, r: r}, buf)
	if err != nil {
		return "", n, fmt.Errorf("digesting: %w", err)
	}
	return digestPrefix + hex.EncodeToString(h.Sum(nil)), n, nil
}

// ctxReader is an io.Reader that fails with the context's error once it is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// parseDigest returns the raw bytes of a "sha256:<64 lowercase hex>" digest.
func parseDigest(digest string) ([]byte, error) {
	h, ok := strings.CutPrefix(digest, digestPrefix)
	if !ok || len(h) != 2*sha256.Size || strings.ToLower(h) != h {
		return nil, fmt.Errorf("invalid digest %q: want sha256:<64 lowercase hex>", digest)
	}
	raw, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("invalid digest %q: want sha256:<64 lowercase hex>", digest)
	}
	return raw, nil
}

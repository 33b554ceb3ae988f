package signing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDigest(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 3*chunkSize/16+7) // > 3 chunks, not aligned
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", []byte("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"one chunk exactly", bytes.Repeat([]byte{0xa5}, chunkSize), ""},
		{"several chunks", big, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == "" {
				sum := sha256.Sum256(tt.in)
				want = "sha256:" + hex.EncodeToString(sum[:])
			}
			got, n, err := Digest(t.Context(), bytes.NewReader(tt.in))
			require.NoError(t, err)
			assert.Equal(t, want, got)
			assert.Equal(t, int64(len(tt.in)), n)

			// A reader returning one byte at a time gives the same answer.
			if len(tt.in) < 1<<16 {
				got, n, err = Digest(t.Context(), iotest.OneByteReader(bytes.NewReader(tt.in)))
				require.NoError(t, err)
				assert.Equal(t, want, got)
				assert.Equal(t, int64(len(tt.in)), n)
			}
		})
	}
}

func TestDigestReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, _, err := Digest(t.Context(), io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)))
	require.ErrorIs(t, err, boom)
}

// endless is an infinite reader that cancels its context after limit bytes.
type endless struct {
	n, limit int64
	cancel   context.CancelFunc
}

func (e *endless) Read(p []byte) (int, error) {
	clear(p)
	e.n += int64(len(p))
	if e.n >= e.limit {
		e.cancel()
	}
	return len(p), nil
}

func TestDigestContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := &endless{limit: 3 * chunkSize, cancel: cancel}
	_, n, err := Digest(ctx, r)
	require.ErrorIs(t, err, context.Canceled)
	// Digest stops at the first chunk boundary after the cancel.
	assert.LessOrEqual(t, n, int64(4*chunkSize))

	// An already cancelled context reads nothing.
	_, n, err = Digest(ctx, strings.NewReader("abc"))
	require.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, n)
}

func BenchmarkDigest(b *testing.B) {
	buf := make([]byte, 64<<20)
	for i := range buf {
		buf[i] = byte(i * 31)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	ctx := b.Context()
	for b.Loop() {
		if _, _, err := Digest(ctx, bytes.NewReader(buf)); err != nil {
			b.Fatal(err)
		}
	}
}

package artifact_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/artifact"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/targets"
)

// fixture is an inventory folder with one artifact file, and a TLS server
// that serves "weights" at /model.onnx and redirects /downgrade to http.
func fixture(t *testing.T) (*inventory.Source, *httptest.Server) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/downgrade":
			http.Redirect(w, r, "http://"+r.Host+"/model.onnx", http.StatusFound)
		case "/model.onnx":
			io.WriteString(w, "weights")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "inventory.cue"), []byte("package inventory\n"), 0o644))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "artifacts"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "artifacts", "m.bin"), []byte("local weights"), 0o644))
	src, err := inventory.OpenWorktree(dir)
	require.NoError(t, err)
	return src, srv
}

func TestOpen(t *testing.T) {
	src, srv := fixture(t)
	o := artifact.NewOpener(src, srv.Client())
	tests := []struct {
		uri, want, err string
		size           int64
	}{
		{uri: srv.URL + "/model.onnx", want: "weights", size: 7},
		{uri: srv.URL + "/missing", err: "404"},
		{uri: srv.URL + "/downgrade", err: "not https"},
		{uri: "file://artifacts/m.bin", want: "local weights", size: 13},
		{uri: "file://../etc/passwd", err: "leaves the repository"},
		{uri: "file:///etc/passwd", err: "relative"},
		{uri: "http://example.com/model", err: "scheme not supported: http://"},
		{uri: "oci://registry/model:1", err: "an oci:// artifact is several files, not one stream"},
		{uri: "model.bin", err: "has no scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			rc, size, err := o.Open(context.Background(), tt.uri)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			defer rc.Close()
			b, err := io.ReadAll(rc)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(b))
			assert.Equal(t, tt.size, size)
		})
	}
}

func TestOpenRefusesUnknownSchemes(t *testing.T) {
	src, srv := fixture(t)
	_, _, err := artifact.NewOpener(src, srv.Client()).Open(context.Background(), "s3://bucket/model")
	require.ErrorIs(t, err, artifact.ErrScheme)
}

func TestCheck(t *testing.T) {
	src, srv := fixture(t)
	o := artifact.NewOpener(src, srv.Client())
	ctx := context.Background()
	good := "sha256:67805dc646e60e53467e998bc0b853f0819ff69428fab41100e5e1f143c687fe" // sha256("local weights")
	d, err := o.Digest(ctx, "file://artifacts/m.bin", nil)
	require.NoError(t, err)
	assert.Equal(t, good, d)
	var seen int64 = -2
	require.NoError(t, o.Check(ctx, "file://artifacts/m.bin", good, func(r io.Reader, size int64) io.Reader {
		seen = size
		return r
	}))
	assert.Equal(t, int64(13), seen, "the wrapper sees the size")
	err = o.Check(ctx, "file://artifacts/m.bin", "sha256:"+strings.Repeat("0", 64), nil)
	require.ErrorIs(t, err, artifact.ErrDigestMismatch)
	assert.Equal(t, "artifact file://artifacts/m.bin does not match the pinned digest: want sha256:"+strings.Repeat("0", 64)+", got "+good, err.Error())
}

func TestTarget(t *testing.T) {
	src, srv := fixture(t)
	open := artifact.NewOpener(src, srv.Client()).Target()
	a := targets.Artifact{URI: srv.URL + "/model.onnx", Digest: "sha256:" + strings.Repeat("1", 64), Size: 7}
	files, err := open.Files(context.Background(), a)
	require.NoError(t, err)
	assert.Equal(t, []targets.File{{Digest: a.Digest, Size: 7}}, files)
	rc, err := open.Open(context.Background(), a, files[0])
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	assert.Equal(t, "weights", string(b))
}

// TestOpenServesTheSchemesValidationAllows: what validates can be opened,
// and a scheme validation refuses is refused here too.
func TestOpenServesTheSchemesValidationAllows(t *testing.T) {
	src, srv := fixture(t)
	o := artifact.NewOpener(src, srv.Client())
	for _, scheme := range inventory.ArtifactSchemes {
		err := o.Check(context.Background(), scheme+"missing/model.bin", "sha256:"+strings.Repeat("0", 64), nil)
		assert.NotErrorIs(t, err, artifact.ErrScheme, scheme)
	}
	for _, uri := range []string{"s3://b/m", "gs://b/m", "hf://m", "pvc://m", "http://h/m"} {
		_, ok := inventory.ArtifactScheme(uri)
		require.False(t, ok, uri)
		_, _, err := o.Open(context.Background(), uri)
		assert.ErrorIs(t, err, artifact.ErrScheme, uri)
	}
}

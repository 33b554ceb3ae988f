package artifact_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/cairnops/cairn/artifact"
	"github.com/cairnops/cairn/internal/registrytest"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/targets"
)

var kit = []registrytest.Layer{
	{Title: "model.safetensors", Data: []byte("weights of the fraud model")},
	{Title: "README.md", Data: []byte("# fraud\n"), MediaType: registrytest.ModelKitDocs},
}

func ociOpener(t *testing.T, reg *registrytest.Registry) *artifact.Opener {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "inventory.cue"), []byte("package inventory\n"), 0o644))
	src, err := inventory.OpenWorktree(dir)
	require.NoError(t, err)
	store, err := credentials.NewStore(reg.DockerConfig(t, t.TempDir()), credentials.StoreOptions{})
	require.NoError(t, err)
	return artifact.NewOpener(src, reg.Client).WithCredentials(store)
}

func pin(reg *registrytest.Registry, repo, tag, d string) string {
	if tag != "" {
		tag = ":" + tag
	}
	return "oci://" + reg.Host + "/" + repo + tag + "@" + d
}

// testOCI runs the round trip every registry must support: check, files,
// layer bytes, attach and find the bundle.
func testOCI(t *testing.T, reg *registrytest.Registry) {
	ctx := context.Background()
	d := reg.Push(t, "acme/fraud", "1.0.0", kit...)
	o := ociOpener(t, reg)
	uri := pin(reg, "acme/fraud", "1.0.0", d)

	var streamed []int64
	require.NoError(t, o.Check(ctx, uri, d, func(r io.Reader, size int64) io.Reader {
		streamed = append(streamed, size)
		return r
	}))
	assert.Len(t, streamed, 3, "the config and both layers are streamed")
	got, err := o.Digest(ctx, uri, nil)
	require.NoError(t, err)
	assert.Equal(t, d, got)

	a := targets.Artifact{URI: uri, Digest: d}
	files, err := o.Target().Files(ctx, a)
	require.NoError(t, err)
	require.Len(t, files, 2)
	assert.Equal(t, "model.safetensors", files[0].Name)
	assert.Equal(t, "README.md", files[1].Name)
	rc, err := o.Target().Open(ctx, a, files[0])
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	assert.Equal(t, "weights of the fraud model", string(b))

	none, err := o.Bundles(ctx, uri)
	require.NoError(t, err)
	assert.Empty(t, none)
	ref, err := o.Attach(ctx, uri, []byte(`{"bundle":1}`))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(ref, "oci://"+reg.Host+"/acme/fraud@sha256:"), ref)
	bundles, err := o.Bundles(ctx, uri)
	require.NoError(t, err)
	require.Len(t, bundles, 1)
	assert.Equal(t, ref, bundles[0].Ref)
	assert.Equal(t, `{"bundle":1}`, string(bundles[0].Data))

	// Moving the tag changes nothing the pin names.
	reg.Push(t, "acme/fraud", "1.0.0", registrytest.Layer{Title: "model.safetensors", Data: []byte("other weights")})
	require.NoError(t, o.Check(ctx, uri, d, nil))
}

func TestOCIReferrersAPI(t *testing.T) {
	testOCI(t, registrytest.InProcess(t, nil))
}

// TestOCIReferrersTag runs against distribution 2.8, which has no
// referrers API: the bundle goes under the sha256-<hex> tag.
func TestOCIReferrersTag(t *testing.T) {
	reg := registrytest.Distribution(t, true)
	testOCI(t, reg)
	var tags []string
	require.NoError(t, reg.Repository(t, "acme/fraud").Tags(context.Background(), "", func(page []string) error {
		tags = append(tags, page...)
		return nil
	}))
	found := false
	for _, tag := range tags {
		found = found || strings.HasPrefix(tag, "sha256-")
	}
	assert.True(t, found, "a referrers tag among %v", tags)
}

func TestOCIRefusals(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Distribution(t, true)
	o := ociOpener(t, reg)

	t.Run("corrupted blob", func(t *testing.T) {
		d := reg.Push(t, "acme/corrupt-blob", "1.0.0", kit...)
		m := reg.Manifest(t, "acme/corrupt-blob", d)
		layer := m.Layers[0].Digest.String()
		require.NoError(t, os.WriteFile(reg.BlobPath(layer), []byte("weights of the fraud modeX"), 0o644))
		err := o.Check(ctx, pin(reg, "acme/corrupt-blob", "", d), d, nil)
		require.ErrorIs(t, err, artifact.ErrDigestMismatch)
		assert.Contains(t, err.Error(), "blob "+layer+" (model.safetensors)")
	})
	t.Run("manifest that does not hash to the pin", func(t *testing.T) {
		d := reg.Push(t, "acme/corrupt-manifest", "1.0.0", kit...)
		data, err := os.ReadFile(reg.BlobPath(d))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(reg.BlobPath(d), []byte(strings.Replace(string(data), "1.0.0", "6.6.6", 1)), 0o644))
		err = o.Check(ctx, pin(reg, "acme/corrupt-manifest", "", d), d, nil)
		require.ErrorIs(t, err, artifact.ErrDigestMismatch)
		_, err = o.Target().Files(ctx, targets.Artifact{URI: pin(reg, "acme/corrupt-manifest", "", d), Digest: d})
		require.ErrorIs(t, err, artifact.ErrDigestMismatch)
	})
	t.Run("pin and digest differ", func(t *testing.T) {
		d := reg.Push(t, "acme/fraud", "1.0.0", kit...)
		other := "sha256:" + strings.Repeat("0", 64)
		err := o.Check(ctx, pin(reg, "acme/fraud", "", d), other, nil)
		require.ErrorIs(t, err, artifact.ErrDigestMismatch)
	})
	t.Run("missing manifest", func(t *testing.T) {
		missing := "sha256:" + strings.Repeat("1", 64)
		err := o.Check(ctx, pin(reg, "acme/fraud", "", missing), missing, nil)
		require.ErrorIs(t, err, artifact.ErrRegistry)
		assert.Contains(t, err.Error(), "not found in registry "+reg.Host)
	})
	t.Run("401", func(t *testing.T) {
		d := reg.Push(t, "acme/fraud", "1.0.0", kit...)
		anon := artifact.NewOpener(nil, reg.Client)
		err := anon.Check(ctx, pin(reg, "acme/fraud", "", d), d, nil)
		require.ErrorIs(t, err, artifact.ErrRegistry)
		assert.Contains(t, err.Error(), "asks for credentials and none are configured for it")
		wrong := *reg
		wrong.Password = "not-the-password"
		err = ociOpener(t, &wrong).Check(ctx, pin(reg, "acme/fraud", "", d), d, nil)
		require.ErrorIs(t, err, artifact.ErrRegistry)
		assert.Contains(t, err.Error(), "answered 401 Unauthorized: check the credentials for "+reg.Host)
		assert.NotContains(t, err.Error(), "not-the-password")
		assert.NotContains(t, err.Error(), "\n")
	})
}

func TestOCI5xx(t *testing.T) {
	ctx := context.Background()
	failing := false
	reg := registrytest.InProcess(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if failing && strings.Contains(r.URL.Path, "/blobs/") {
				http.Error(w, `{"errors":[{"code":"UNKNOWN","message":"token=abc123 broke"}]}`, http.StatusServiceUnavailable)
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	d := reg.Push(t, "acme/fraud", "1.0.0", kit...)
	failing = true
	err := ociOpener(t, reg).Check(ctx, pin(reg, "acme/fraud", "", d), d, nil)
	require.ErrorIs(t, err, artifact.ErrRegistry)
	assert.Contains(t, err.Error(), "registry "+reg.Host+" answered 503 Service Unavailable")
	assert.NotContains(t, err.Error(), "abc123", "the registry's error body stays out")
}

func TestOCIFilesRefusesUnsafeTitles(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.InProcess(t, nil)
	o := ociOpener(t, reg)
	for _, title := range []string{"../escape", "dir/file", ".hidden", ""} {
		t.Run(title, func(t *testing.T) {
			d := reg.Push(t, "acme/unsafe", "1.0.0", registrytest.Layer{Title: title, Data: []byte("x")})
			_, err := o.Target().Files(ctx, targets.Artifact{URI: pin(reg, "acme/unsafe", "", d), Digest: d})
			require.Error(t, err)
			// verify still checks the bytes: the name is the target's concern.
			require.NoError(t, o.Check(ctx, pin(reg, "acme/unsafe", "", d), d, nil))
		})
	}
}

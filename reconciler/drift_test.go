package reconciler_test

import (
	"context"
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/treetest"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/signing"
	"github.com/cairnops/cairn/targets"
)

func TestDrift(t *testing.T) {
	ctx := context.Background()
	dir := quickstart(t)
	// prod heals (as shipped), dev only reports.
	edit(t, dir, "inventory.cue", `path: "development"}`, `path: "development", onDrift: "report"}`)
	opts := options(t)
	_, err := reconciler.Apply(ctx, checkAt(t, dir, ""), opts)
	require.NoError(t, err)

	rep, err := reconciler.Drift(ctx, checkAt(t, dir, ""), opts, false)
	require.NoError(t, err)
	assert.Empty(t, rep.Findings)

	// Hand-edit a deployed file in production.
	prodFile := filepath.Join(opts.TargetRoot, "production", "fraud-detector", "2.3.0", "model.onnx")
	require.NoError(t, os.WriteFile(prodFile, []byte("hand edited"), 0o644))
	// Swap development's churn-predictor to another version by hand.
	cdir := filepath.Join(opts.TargetRoot, "development", "churn-predictor")
	require.NoError(t, os.MkdirAll(filepath.Join(cdir, "1.4.0"), 0o755))
	b, err := os.ReadFile(filepath.Join(dir, "artifacts/churn-predictor/1.4.0/model.joblib"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(cdir, "1.4.0", "model.joblib"), b, 0o644))
	require.NoError(t, os.Remove(filepath.Join(cdir, "current")))
	require.NoError(t, os.Symlink("1.4.0", filepath.Join(cdir, "current")))
	// A model nobody asked for in staging, and one removed by hand.
	require.NoError(t, os.MkdirAll(filepath.Join(opts.TargetRoot, "staging", "stray-model"), 0o755))
	require.NoError(t, os.RemoveAll(filepath.Join(opts.TargetRoot, "staging", "churn-predictor")))

	want := []reconciler.Finding{
		{Kind: reconciler.KindTargetDrift, Target: "dev-local", Model: "churn-predictor", Want: "1.5.0", Got: "1.4.0", Message: "deployed 1.4.0, want 1.5.0"},
		{Kind: reconciler.KindArtifactCorrupt, Target: "prod-local", Model: "fraud-detector", Want: "2.3.0", Got: "2.3.0", File: "2.3.0/model.onnx", Message: "2.3.0/model.onnx does not match what was deployed"},
		{Kind: reconciler.KindTargetDrift, Target: "staging-local", Model: "churn-predictor", Want: "1.4.0", Message: "churn-predictor is not deployed, want 1.4.0"},
		{Kind: reconciler.KindTargetDrift, Target: "staging-local", Model: "stray-model", Message: "stray-model is on the target but not desired"},
	}
	rep, err = reconciler.Drift(ctx, checkAt(t, dir, ""), opts, false)
	require.NoError(t, err)
	assert.Equal(t, want, rep.Findings)
	if t.Failed() {
		for _, f := range rep.Findings {
			t.Log(f)
		}
	}

	// Heal: prod and staging are re-applied, dev (report) is left alone.
	devBefore := treetest.Hash(t, filepath.Join(opts.TargetRoot, "development"))
	rep, err = reconciler.Drift(ctx, checkAt(t, dir, ""), opts, true)
	require.NoError(t, err)
	require.Len(t, rep.Findings, 4)
	assert.False(t, rep.Findings[0].Healed, "report-only target healed")
	for _, f := range rep.Findings[1:] {
		assert.True(t, f.Healed, f.String())
	}
	assert.Equal(t, targets.Updated, rep.Healed["prod-local"][0].Action)
	assert.Equal(t, devBefore, treetest.Hash(t, filepath.Join(opts.TargetRoot, "development")))
	assert.Equal(t, fileDigest(t, filepath.Join(dir, "artifacts/fraud-detector/2.3.0/model.onnx")), fileDigest(t, prodFile))

	rep, err = reconciler.Drift(ctx, checkAt(t, dir, ""), opts, true)
	require.NoError(t, err)
	require.Len(t, rep.Findings, 1)
	assert.Equal(t, "dev-local", rep.Findings[0].Target)

	// drift with a target filter sees only that target.
	opts.Target = "prod-local"
	rep, err = reconciler.Drift(ctx, checkAt(t, dir, ""), opts, false)
	require.NoError(t, err)
	assert.Empty(t, rep.Findings)
}

func TestApplyVerifiesSignatures(t *testing.T) {
	ctx := context.Background()
	dir := quickstart(t)
	keyDir := t.TempDir()
	sign := func(name, digest string) crypto.PublicKey {
		priv, pub, err := signing.GenerateKey(nil)
		require.NoError(t, err)
		kp, pp := filepath.Join(keyDir, name+".key"), filepath.Join(keyDir, name+".pub")
		require.NoError(t, os.WriteFile(kp, priv, 0o600))
		require.NoError(t, os.WriteFile(pp, pub, 0o644))
		s, err := signing.LoadSigner(ctx, kp, nil)
		require.NoError(t, err)
		bundle, err := signing.Sign(ctx, s, digest)
		require.NoError(t, err)
		bp := filepath.Join(dir, inventory.BundlePath("fraud-detector", "2.3.0"))
		require.NoError(t, os.MkdirAll(filepath.Dir(bp), 0o755))
		require.NoError(t, os.WriteFile(bp, bundle, 0o644))
		k, err := signing.LoadPublicKey(pp)
		require.NoError(t, err)
		return k
	}
	digest := loadAt(t, dir, "").Model("fraud-detector").Versions["2.3.0"].Artifact.Digest

	t.Run("untrusted key is refused", func(t *testing.T) {
		trusted := sign("trusted", digest)
		sign("other", digest) // overwrites the bundle with another key's signature
		opts := options(t)
		res, err := reconciler.Apply(ctx, checkAt(t, dir, "", signing.Trust{Keys: []crypto.PublicKey{trusted}}), opts)
		require.ErrorIs(t, err, reconciler.ErrRefused)
		assert.Contains(t, refusal(res), "version 2.3.0 has no valid signature")
		assert.NoDirExists(t, opts.TargetRoot)
		audit, err := reconciler.Audit(opts.StateDir)
		require.NoError(t, err)
		require.Len(t, audit, 3)
		assert.Equal(t, "refused", audit[0].Action)
	})
	t.Run("trusted signature is recorded in the audit", func(t *testing.T) {
		trusted := sign("trusted", digest)
		opts := options(t)
		opts.Now = func() time.Time { return now }
		res, err := reconciler.Apply(ctx, checkAt(t, dir, "", signing.Trust{Keys: []crypto.PublicKey{trusted}}), opts)
		require.NoError(t, err)
		id, err := signing.KeyID(trusted)
		require.NoError(t, err)
		require.Len(t, res.Signatures, 1)
		assert.Equal(t, id, res.Signatures[0].Identity)
		audit, err := reconciler.Audit(opts.StateDir)
		require.NoError(t, err)
		var signers []string
		for _, e := range audit {
			if e.Model == "fraud-detector" {
				signers = append(signers, e.Target+" "+e.Signer)
			}
		}
		// The signer is recorded with every change that deploys the verified version.
		assert.Contains(t, signers, "prod-local "+id)
	})
	t.Run("signature over another digest is refused", func(t *testing.T) {
		trusted := sign("trusted", "sha256:"+strings.Repeat("0", 64))
		opts := options(t)
		res, err := reconciler.Apply(ctx, checkAt(t, dir, "", signing.Trust{Keys: []crypto.PublicKey{trusted}}), opts)
		require.ErrorIs(t, err, reconciler.ErrRefused)
		assert.Contains(t, refusal(res), "bundle signs another digest")
	})
}

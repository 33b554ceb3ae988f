package gate_test

import (
	"context"
	"crypto"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
	"github.com/cairnops/cairn/signing"
)

var (
	quickstart = filepath.Join("..", "examples", "quickstart")
	now        = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
)

// copyQuickstart copies examples/quickstart into a temporary folder.
func copyQuickstart(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(quickstart)))
	return dir
}

// edit replaces old with new in dir/file; old must occur.
func edit(t *testing.T, dir, file, old, new string) {
	t.Helper()
	p := filepath.Join(dir, file)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	require.Contains(t, string(b), old, "editing %s", file)
	require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
}

// exampleTrust is the example's public key, as an operator passes it.
func exampleTrust(t testing.TB) signing.Trust {
	t.Helper()
	k, err := signing.LoadPublicKey(filepath.Join(quickstart, "keys", "cairn-example.pub"))
	require.NoError(t, err)
	return signing.Trust{Keys: []crypto.PublicKey{k}}
}

func check(t *testing.T, dir string, opts gate.Options) *gate.Verdict {
	t.Helper()
	src, err := inventory.OpenWorktree(dir)
	require.NoError(t, err)
	if opts.Now.IsZero() {
		opts.Now = now
	}
	v, err := gate.Check(context.Background(), src, opts)
	require.NoError(t, err)
	return v
}

// lines renders the findings as validate prints them.
func lines(v *gate.Verdict) []string {
	var out []string
	for _, f := range v.Report.Findings {
		out = append(out, f.String())
	}
	return out
}

func TestCheckQuickstart(t *testing.T) {
	v := check(t, quickstart, gate.Options{Trust: exampleTrust(t), Deploy: true})
	assert.Empty(t, lines(v))
	require.NoError(t, v.Allow())
	assert.Equal(t, 3, v.Report.Models)
	assert.Len(t, v.Rules, len(policy.Rules())+1, "built-in rules and owners-are-teams")
	require.Len(t, v.Signatures, 1)
	s := v.Signatures[0]
	assert.Equal(t, "fraud-detector", s.Model)
	assert.Equal(t, "2.3.0", s.Version)
	assert.Equal(t, []string{"production"}, s.Stages)
	assert.True(t, s.Required())
	assert.Equal(t, gate.SignatureOK, s.Status)
	assert.True(t, strings.HasPrefix(s.Identity, "key:"), s.Identity)
	assert.Equal(t, s.Identity, v.Signer("fraud-detector", "2.3.0"))
	assert.Empty(t, v.Signer("fraud-detector", "2.2.0"), "not checked: no required stage pins it")
	assert.Empty(t, v.Signer("churn-predictor", "1.5.0"))
	assert.Equal(t, "ok fraud-detector@2.3.0 "+s.Identity, s.String())
}

// TestCheckFindings runs the same inputs through a validation verdict and
// a deployment verdict: the findings are the same, and only the deployment
// verdict refuses for want of trust roots.
func TestCheckFindings(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(t *testing.T, dir string)
		trust bool
		want  []string // findings of both verdicts, as validate prints them
	}{
		{
			name: "an organisation rule denies",
			edit: func(t *testing.T, dir string) {
				edit(t, dir, "models/fraud-detector/model.cue", `"@acme/fraud-ml", `, ``)
			},
			trust: true,
			want:  []string{"models/fraud-detector/model.cue:6:2: card.owners: name at least one team (@org/team) among the owners (owners-are-teams)"},
		},
		{
			name: "a policy that does not compile",
			edit: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "policies", "broken.cue"), []byte("package policy\n\nrules: {\n"), 0o644))
			},
			trust: true,
			want:  []string{"policies/broken.cue:3:10: policy does not compile: expected '}', found 'EOF' (policy)"},
		},
		{
			name: "a rules entry that names no rule",
			edit: func(t *testing.T, dir string) {
				edit(t, dir, "inventory.cue", `rules: "review-due": severity: "warning"`, `rules: "no-such-rule": severity: "warning"`)
			},
			trust: true,
			want:  []string{`inventory.cue:32:8: rules."no-such-rule": no rule has this id (see cairn rules) (schema)`},
		},
		{
			name: "the production bundle deleted",
			edit: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(filepath.Join(dir, "models/fraud-detector/signatures/2.3.0.sigstore.json")))
			},
			trust: true,
			want:  []string{"models/fraud-detector/model.cue:68:2: stages.production: version 2.3.0 has no valid signature: no signature bundle models/fraud-detector/signatures/2.3.0.sigstore.json (stage production requires a valid signature) (signature)"},
		},
		{
			name: "the production bundle deleted, no trust root",
			edit: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(filepath.Join(dir, "models/fraud-detector/signatures/2.3.0.sigstore.json")))
			},
			want: []string{"models/fraud-detector/model.cue:68:2: stages.production: version 2.3.0 has no valid signature: no signature bundle models/fraud-detector/signatures/2.3.0.sigstore.json (stage production requires a valid signature) (signature)"},
		},
		{
			name: "the signature rule cannot be switched off",
			edit: func(t *testing.T, dir string) {
				edit(t, dir, "inventory.cue", `rules: "review-due": severity: "warning"`, `rules: {"review-due": severity: "warning", signature: severity: "off"}`)
				require.NoError(t, os.Remove(filepath.Join(dir, "models/fraud-detector/signatures/2.3.0.sigstore.json")))
			},
			trust: true,
			want: []string{
				`inventory.cue:32:55: rules."signature": the signature rule cannot be softened or switched off; to stop requiring signatures for a stage, remove it from signing.required (schema)`,
				"models/fraud-detector/model.cue:68:2: stages.production: version 2.3.0 has no valid signature: no signature bundle models/fraud-detector/signatures/2.3.0.sigstore.json (stage production requires a valid signature) (signature)",
			},
		},
		{
			name: "signing switched off in git",
			edit: func(t *testing.T, dir string) {
				edit(t, dir, "inventory.cue", `signing: required: ["production"]`, `signing: required: []`)
				require.NoError(t, os.Remove(filepath.Join(dir, "models/fraud-detector/signatures/2.3.0.sigstore.json")))
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyQuickstart(t)
			tt.edit(t, dir)
			var trust signing.Trust
			if tt.trust {
				trust = exampleTrust(t)
			}
			validate := check(t, dir, gate.Options{Trust: trust})
			deploy := check(t, dir, gate.Options{Trust: trust, Deploy: true})
			assert.Equal(t, tt.want, lines(validate))
			got := lines(deploy)
			if !tt.trust && len(tt.want) > 0 {
				require.NotEmpty(t, got)
				assert.Equal(t, "inventory.cue:26:21: signing.required: stage production requires signatures and no trust root was given: pass "+gate.TrustFlags+" (signature)", got[len(got)-1])
				got = got[:len(got)-1]
			}
			assert.Equal(t, tt.want, got)
			err := validate.Allow()
			require.ErrorIs(t, err, gate.ErrRefused, "a validation verdict never deploys")
			if len(tt.want) == 0 {
				require.NoError(t, deploy.Allow())
				return
			}
			err = deploy.Allow()
			require.ErrorIs(t, err, gate.ErrRefused)
			assert.Contains(t, err.Error(), "validation error")
			assert.NotEmpty(t, deploy.Errors())
		})
	}
}

func TestCheckUntrustedDeployment(t *testing.T) {
	v := check(t, quickstart, gate.Options{Deploy: true})
	assert.Equal(t, []string{"inventory.cue:26:21: signing.required: stage production requires signatures and no trust root was given: pass " + gate.TrustFlags + " (signature)"}, lines(v))
	assert.EqualError(t, v.Allow(), "revision refused: the inventory has 1 validation error")
	require.Len(t, v.Signatures, 1)
	assert.Equal(t, gate.SignatureUnverified, v.Signatures[0].Status)
	assert.Equal(t, "unverified fraud-detector@2.3.0: no trust root given to verify models/fraud-detector/signatures/2.3.0.sigstore.json", v.Signatures[0].String())

	// Validation without trust roots checks that bundles exist, and does
	// not refuse on trust: only a deployment needs it.
	v = check(t, quickstart, gate.Options{})
	assert.Empty(t, lines(v))

	// Nothing pinned in a required stage: nothing to trust.
	dir := copyQuickstart(t)
	edit(t, dir, "models/fraud-detector/model.cue", `production: "2.3.0"`, ``)
	v = check(t, dir, gate.Options{Deploy: true})
	assert.Empty(t, lines(v))
	require.NoError(t, v.Allow())
}

func TestCheckOtherKey(t *testing.T) {
	_, pub, err := signing.GenerateKey(nil)
	require.NoError(t, err)
	p := filepath.Join(t.TempDir(), "other.pub")
	require.NoError(t, os.WriteFile(p, pub, 0o644))
	k, err := signing.LoadPublicKey(p)
	require.NoError(t, err)
	v := check(t, quickstart, gate.Options{Trust: signing.Trust{Keys: []crypto.PublicKey{k}}, Deploy: true})
	got := lines(v)
	require.Len(t, got, 1)
	assert.Contains(t, got[0], "models/fraud-detector/model.cue:68:2: stages.production: version 2.3.0 has no valid signature: signature not trusted")
	require.ErrorIs(t, v.Allow(), gate.ErrRefused)
	assert.Equal(t, gate.SignatureInvalid, v.Signatures[0].Status)
	assert.Empty(t, v.Signer("fraud-detector", "2.3.0"))
}

func TestCheckArtifacts(t *testing.T) {
	dir := copyQuickstart(t)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "artifacts/fraud-detector/2.3.0/model.onnx"), []byte("tampered"), 0o644))
	// The bundle still verifies: only streaming the artifact finds it.
	v := check(t, dir, gate.Options{Trust: exampleTrust(t)})
	assert.Equal(t, gate.SignatureOK, v.Signatures[0].Status)
	var labels []string
	v = check(t, dir, gate.Options{Trust: exampleTrust(t), Artifacts: true, Progress: func(label string, r io.Reader, size int64) io.Reader {
		labels = append(labels, label)
		return r
	}})
	assert.Equal(t, []string{"fraud-detector@2.3.0"}, labels)
	s := v.Signatures[0]
	assert.Equal(t, gate.SignatureInvalid, s.Status)
	assert.Contains(t, s.Reason, "artifact file://artifacts/fraud-detector/2.3.0/model.onnx does not match the pinned digest")
	assert.Contains(t, s.Reason, "(stage production requires a valid signature)")
}

func TestCheckBundles(t *testing.T) {
	trust := exampleTrust(t)
	v := check(t, quickstart, gate.Options{Trust: trust, Bundles: true})
	var got []string
	for _, s := range v.Signatures {
		got = append(got, string(s.Status)+" "+s.Model+"@"+s.Version+" "+strings.Join(s.Stages, ","))
	}
	assert.Equal(t, []string{"ok fraud-detector@2.2.0 ", "ok fraud-detector@2.3.0 production"}, got)
	assert.False(t, v.Signatures[0].Required(), "no required stage pins 2.2.0")
	assert.True(t, v.Signatures[1].Required())

	v = check(t, quickstart, gate.Options{Trust: trust, Bundles: true, Model: "fraud-detector", Version: "2.2.0"})
	require.Len(t, v.Signatures, 1)
	assert.Equal(t, "2.2.0", v.Signatures[0].Version)
	assert.Len(t, v.Inventory.Models, 1, "Model limits evaluation")

	// A version asked for by name is checked even without a bundle.
	v = check(t, quickstart, gate.Options{Trust: trust, Bundles: true, Model: "churn-predictor", Version: "1.5.0"})
	require.Len(t, v.Signatures, 1)
	assert.Equal(t, "invalid churn-predictor@1.5.0: no signature bundle models/churn-predictor/signatures/1.5.0.sigstore.json", v.Signatures[0].String())

	dir := copyQuickstart(t)
	edit(t, dir, "models/churn-predictor/model.cue", `staging:     "1.4.0"`, `staging:     1`)
	v = check(t, dir, gate.Options{Trust: trust, Bundles: true, Model: "churn-predictor"})
	require.Len(t, v.Signatures, 1)
	assert.Equal(t, "invalid churn-predictor: the model does not evaluate; run cairn validate", v.Signatures[0].String())
}

// commitAll commits the work tree of repo.
func commitAll(t *testing.T, repo *git.Repository, msg string) {
	t.Helper()
	wt, err := repo.Worktree()
	require.NoError(t, err)
	require.NoError(t, wt.AddWithOptions(&git.AddOptions{All: true}))
	_, err = wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "T", Email: "t@example.com", When: now}})
	require.NoError(t, err)
}

// TestCheckBaseGoverns: with a base, the base's organisation rules and
// severities judge the change, so a pull request cannot switch off the
// rules that review it.
func TestCheckBaseGoverns(t *testing.T) {
	dir := copyQuickstart(t)
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	commitAll(t, repo, "base")
	head, err := repo.Head()
	require.NoError(t, err)

	require.NoError(t, os.Remove(filepath.Join(dir, "policies", "owners.cue")))
	edit(t, dir, "models/fraud-detector/model.cue", `"@acme/fraud-ml", `, ``)
	edit(t, dir, "inventory.cue", `rules: "review-due": severity: "warning"`, `rules: "review-due": severity: "off"`)

	src, err := inventory.OpenWorktree(dir)
	require.NoError(t, err)
	alone, err := gate.Check(context.Background(), src, gate.Options{Now: now.AddDate(5, 0, 0), Trust: exampleTrust(t)})
	require.NoError(t, err)
	assert.Empty(t, lines(alone), "the change judged by its own rules")

	base, err := inventory.Open(context.Background(), dir, head.Hash().String())
	require.NoError(t, err)
	v, err := gate.Check(context.Background(), src, gate.Options{Now: now.AddDate(5, 0, 0), Trust: exampleTrust(t), Base: base})
	require.NoError(t, err)
	require.NotNil(t, v.Base)
	got := strings.Join(lines(v), "\n")
	assert.Contains(t, got, "card.owners: name at least one team (@org/team) among the owners (owners-are-teams)")
	assert.Contains(t, got, "(review-due)", "the base's severity, warning, applies")
	assert.Len(t, v.Rules, len(policy.Rules())+1, "the base's organisation rule judges")
}

func TestCheckErrors(t *testing.T) {
	ctx := context.Background()
	src, err := inventory.OpenWorktree(t.TempDir())
	require.NoError(t, err)
	_, err = gate.Check(ctx, src, gate.Options{})
	require.ErrorIs(t, err, inventory.ErrNoInventory)

	qs, err := inventory.OpenWorktree(quickstart)
	require.NoError(t, err)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = gate.Check(cctx, qs, gate.Options{})
	require.ErrorIs(t, err, context.Canceled)

	// A base without an inventory is an empty one: every model is new.
	v, err := gate.Check(ctx, qs, gate.Options{Now: now, Base: src})
	require.NoError(t, err)
	require.NotNil(t, v.Base)
	assert.Empty(t, v.Base.Models)

	var nilVerdict *gate.Verdict
	require.ErrorIs(t, nilVerdict.Allow(), gate.ErrRefused)
	assert.False(t, errors.Is(nil, gate.ErrRefused))
}

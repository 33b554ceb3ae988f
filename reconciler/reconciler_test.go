package reconciler_test

import (
	"context"
	"os"
	"path/filepath"
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

// deployed lists what the quickstart deploys: target path, model, version, artifact.
var deployed = []struct{ target, model, version, artifact string }{
	{"development", "churn-predictor", "1.5.0", "artifacts/churn-predictor/1.5.0/model.joblib"},
	{"development", "demand-forecast", "0.3.0", "artifacts/demand-forecast/0.3.0/model.json"},
	{"staging", "churn-predictor", "1.4.0", "artifacts/churn-predictor/1.4.0/model.joblib"},
	{"staging", "fraud-detector", "2.3.0", "artifacts/fraud-detector/2.3.0/model.onnx"},
	{"production", "fraud-detector", "2.3.0", "artifacts/fraud-detector/2.3.0/model.onnx"},
}

func TestApplyQuickstart(t *testing.T) {
	ctx := context.Background()
	dir := quickstart(t)
	opts := options(t)
	v := checkAt(t, dir, "")
	inv := v.Inventory

	p, err := reconciler.MakePlan(ctx, inv, opts)
	require.NoError(t, err)
	require.Len(t, p.Targets, 3)
	for _, tp := range p.Targets {
		assert.Equal(t, len(tp.Changes), tp.Changes.Count(targets.Created), tp.Target)
	}

	res, err := reconciler.Apply(ctx, v, opts)
	require.NoError(t, err)
	assert.Empty(t, res.Refused)
	for _, d := range deployed {
		t.Run(d.target+"/"+d.model, func(t *testing.T) {
			mdir := filepath.Join(opts.TargetRoot, d.target, d.model)
			link, err := os.Readlink(filepath.Join(mdir, "current"))
			require.NoError(t, err)
			assert.Equal(t, d.version, link)
			// Re-hash the deployed bytes against the pin in the inventory.
			pin := inv.Model(d.model).Versions[d.version].Artifact.Digest
			assert.Equal(t, pin, fileDigest(t, filepath.Join(mdir, "current", filepath.Base(d.artifact))))
			assert.Equal(t, fileDigest(t, filepath.Join(dir, d.artifact)), pin)
		})
	}
	audit, err := reconciler.Audit(opts.StateDir)
	require.NoError(t, err)
	assert.Len(t, audit, len(deployed))
	for _, e := range audit {
		assert.Equal(t, "applied", e.Result)
		assert.Equal(t, inventory.Worktree, e.Revision)
		assert.Equal(t, now, e.Time)
	}
	states, err := reconciler.States(opts.StateDir)
	require.NoError(t, err)
	assert.Equal(t, reconciler.TargetState{LastAttemptedRevision: "worktree", LastAppliedRevision: "worktree", Result: "applied"}, states["prod-local"])

	// The same revision again changes nothing, on the targets or in the state dir.
	before, stateBefore := treetest.Hash(t, opts.TargetRoot), treetest.Hash(t, opts.StateDir)
	res, err = reconciler.Apply(ctx, checkAt(t, dir, ""), opts)
	require.NoError(t, err)
	for _, tp := range res.Targets {
		assert.Equal(t, len(tp.Changes), tp.Changes.Count(targets.Unchanged), tp.Target)
	}
	assert.Equal(t, before, treetest.Hash(t, opts.TargetRoot))
	assert.Equal(t, stateBefore, treetest.Hash(t, opts.StateDir))
}

func TestPromoteAndRetire(t *testing.T) {
	ctx := context.Background()
	dir := quickstart(t)
	repo := gitInit(t, dir)
	opts := options(t)
	_, err := reconciler.Apply(ctx, checkAt(t, dir, "HEAD"), opts)
	require.NoError(t, err)

	edit(t, dir, "models/churn-predictor/model.cue", `staging:     "1.4.0"`, `staging:     "1.5.0"`)
	rev := commit(t, repo, "Bob Builder", "promote churn-predictor 1.5.0 to staging", now.Add(-48*time.Hour))
	v := checkAt(t, dir, "HEAD")
	inv := v.Inventory
	p, err := reconciler.MakePlan(ctx, inv, opts)
	require.NoError(t, err)
	var updated []string
	for _, tp := range p.Targets {
		for _, c := range tp.Changes {
			if c.Action != targets.Unchanged {
				updated = append(updated, tp.Target+" "+string(c.Action)+" "+c.Model+" "+c.From+"→"+c.To)
			}
		}
	}
	assert.Equal(t, []string{"staging-local updated churn-predictor 1.4.0→1.5.0"}, updated)

	_, err = reconciler.Apply(ctx, v, opts)
	require.NoError(t, err)
	mdir := filepath.Join(opts.TargetRoot, "staging", "churn-predictor")
	link, err := os.Readlink(filepath.Join(mdir, "current"))
	require.NoError(t, err)
	assert.Equal(t, "1.5.0", link)
	assert.NoDirExists(t, filepath.Join(mdir, "1.4.0"))
	states, err := reconciler.States(opts.StateDir)
	require.NoError(t, err)
	assert.Equal(t, rev, states["staging-local"].LastAppliedRevision)

	edit(t, dir, "models/demand-forecast/model.cue", `stages: development: "0.3.0"`, `retired: true`)
	commit(t, repo, "Carol Danvers", "retire demand-forecast", now.Add(-24*time.Hour))
	res, err := reconciler.Apply(ctx, checkAt(t, dir, "HEAD"), opts)
	require.NoError(t, err)
	assert.Equal(t, 1, res.Targets[0].Changes.Count(targets.Deleted))
	assert.NoDirExists(t, filepath.Join(opts.TargetRoot, "development", "demand-forecast"))
	assert.DirExists(t, filepath.Join(opts.TargetRoot, "development", "churn-predictor"))
}

func TestApplyRefusesAndLeavesTargetsUnchanged(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, dir string)
		trust  *signing.Trust // nil: the example's key
		want   error
		reason string
	}{
		{
			name: "validation error",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "models/churn-predictor/model.cue", `staging:     "1.4.0"`, `staging:     "9.9.9"`)
			},
			want:   reconciler.ErrRefused,
			reason: "validation",
		},
		{
			name: "artifact bytes differ from the pin",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "models/churn-predictor/model.cue", `staging:     "1.4.0"`, `staging:     "1.5.0"`)
				require.NoError(t, os.WriteFile(filepath.Join(dir, "artifacts/churn-predictor/1.5.0/model.joblib"), []byte("tampered"), 0o644))
			},
			want: reconciler.ErrTargetFailed,
		},
		{
			name: "unsigned production",
			break_: func(t *testing.T, dir string) {
				require.NoError(t, os.RemoveAll(filepath.Join(dir, "models/fraud-detector/signatures")))
				edit(t, dir, "models/churn-predictor/model.cue", `staging:     "1.4.0"`, `staging:     "1.5.0"`)
			},
			want:   reconciler.ErrRefused,
			reason: "no signature bundle models/fraud-detector/signatures/2.3.0.sigstore.json",
		},
		{
			name: "no trust root for a signing.required stage",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "models/churn-predictor/model.cue", `staging:     "1.4.0"`, `staging:     "1.5.0"`)
			},
			trust:  &signing.Trust{},
			want:   reconciler.ErrRefused,
			reason: "stage production requires signatures and no trust root was given",
		},
		{
			name: "an organisation rule denies",
			break_: func(t *testing.T, dir string) {
				edit(t, dir, "models/fraud-detector/model.cue", `"@acme/fraud-ml"`, `"alice@example.com"`)
				edit(t, dir, "models/churn-predictor/model.cue", `staging:     "1.4.0"`, `staging:     "1.5.0"`)
			},
			want:   reconciler.ErrRefused,
			reason: "(owners-are-teams)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			dir := quickstart(t)
			opts := options(t)
			_, err := reconciler.Apply(ctx, checkAt(t, dir, ""), opts)
			require.NoError(t, err)
			before := treetest.Hash(t, opts.TargetRoot)

			tt.break_(t, dir)
			var trust []signing.Trust
			if tt.trust != nil {
				trust = append(trust, *tt.trust)
			}
			res, err := reconciler.Apply(ctx, checkAt(t, dir, "", trust...), opts)
			require.ErrorIs(t, err, tt.want)
			require.NotNil(t, res)
			assert.Contains(t, refusal(res), tt.reason)
			assert.Equal(t, before, treetest.Hash(t, opts.TargetRoot), "target tree changed")
			states, err := reconciler.States(opts.StateDir)
			require.NoError(t, err)
			assert.NotEqual(t, "applied", states["staging-local"].Result)
			assert.Equal(t, "worktree", states["staging-local"].LastAttemptedRevision)
		})
	}
}

// TestUndrivableTargetFails: a kserve target without Kubernetes
// credentials cannot be driven. Plan skips it with the reason; Apply fails
// it (exit 1), touching nothing there, and still applies the other targets.
func TestUndrivableTargetFails(t *testing.T) {
	ctx := context.Background()
	dir := quickstart(t)
	verdict := checkAt(t, dir, "")
	prod := verdict.Inventory.Settings.Targets["prod-local"]
	prod.Kind, prod.Config = "kserve", map[string]any{"namespace": "models"}
	verdict.Inventory.Settings.Targets["prod-local"] = prod
	opts := options(t)
	plan, err := reconciler.MakePlan(ctx, verdict.Inventory, opts)
	require.NoError(t, err)
	assert.Equal(t, "no Kubernetes credentials: pass --kubeconfig, set KUBECONFIG, or run in a cluster", plan.Targets[1].Skipped)

	res, err := reconciler.Apply(ctx, verdict, opts)
	require.ErrorIs(t, err, reconciler.ErrTargetFailed)
	tp := res.Targets[1]
	require.Equal(t, "prod-local", tp.Target)
	assert.Equal(t, "no Kubernetes credentials: pass --kubeconfig, set KUBECONFIG, or run in a cluster", tp.Error)
	assert.Equal(t, reconciler.ChangeSet{{Model: "fraud-detector", Action: targets.Skipped, To: "2.3.0",
		Digest: "sha256:f0a80c377b52d9fa0a168a90233b2a5c8f8b06e04987e8f4cbbd06f4874b784b"}}, tp.Changes)
	assert.NoDirExists(t, filepath.Join(opts.TargetRoot, "production"))
	assert.Empty(t, res.Targets[0].Error, "the other target is applied")
	assert.DirExists(t, filepath.Join(opts.TargetRoot, "staging"))

	opts.Target = "nope"
	_, err = reconciler.Apply(ctx, checkAt(t, dir, ""), opts)
	assert.ErrorIs(t, err, reconciler.ErrUnknownTarget)
}

// TestLocalPathStaysUnderTargetRoot: inventory.Load refuses these paths
// (schema problems); settings made in Go meet the same refusal here.
func TestLocalPathStaysUnderTargetRoot(t *testing.T) {
	tests := []struct{ path, skip string }{
		{"../escape", `local target path "../escape" leaves the target root`},
		{"/srv/models", `local target path "/srv/models" is absolute: want a path relative to the target root`},
		{"", "local target has no path setting"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			inv := loadAt(t, quickstart(t), "")
			prod := inv.Settings.Targets["prod-local"]
			prod.Config = map[string]any{"path": tt.path}
			inv.Settings.Targets["prod-local"] = prod
			bs, err := reconciler.Bindings(inv, options(t))
			require.NoError(t, err)
			require.Equal(t, "prod-local", bs[1].Name)
			assert.Nil(t, bs[1].Driver)
			assert.Equal(t, tt.skip, bs[1].Skip)
		})
	}
}

func TestChangeSetString(t *testing.T) {
	cs := reconciler.ChangeSet{
		{Model: "churn-predictor", Action: targets.Created, To: "1.5.0"},
		{Model: "fraud-detector", Action: targets.Updated, From: "2.2.0", To: "2.3.0"},
		{Model: "old", Action: targets.Deleted, From: "0.1.0"},
		{Model: "x", Action: targets.Unchanged, From: "1.0.0", To: "1.0.0"},
	}
	assert.Equal(t, ""+
		"created    churn-predictor  -→1.5.0\n"+
		"updated    fraud-detector   2.2.0→2.3.0\n"+
		"deleted    old              0.1.0→-\n"+
		"unchanged  x                1.0.0→1.0.0\n", cs.String())
}

package local_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnops/cairn/internal/treetest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/targets"
	"github.com/cairnops/cairn/targets/local"
)

// source is a directory of artifact files served through an Opener, as the
// reconciler serves file:// URIs from the inventory.
type source struct {
	dir    string
	opened map[string]int
}

func newSource(t testing.TB) *source {
	return &source{dir: t.TempDir(), opened: map[string]int{}}
}

// add writes content as artifact name and returns its model entry.
func (s *source) add(t testing.TB, model, version, name string, content []byte) targets.Model {
	t.Helper()
	rel := filepath.Join(model, version, name)
	require.NoError(t, os.MkdirAll(filepath.Join(s.dir, filepath.Dir(rel)), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(s.dir, rel), content, 0o644))
	return targets.Model{Name: model, Version: version, Artifact: targets.Artifact{
		URI: "file://" + filepath.ToSlash(rel), Digest: digest(content), Size: int64(len(content)),
	}}
}

func (s *source) open(ctx context.Context, a targets.Artifact) (io.ReadCloser, error) {
	s.opened[a.URI]++
	return os.Open(filepath.Join(s.dir, strings.TrimPrefix(a.URI, "file://")))
}

func digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

func fileDigest(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return digest(b)
}

// mtimes records the modification time of every entry under dir.
func mtimes(t testing.TB, dir string) map[string]time.Time {
	t.Helper()
	out := map[string]time.Time{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		out[p] = fi.ModTime()
		return nil
	})
	require.NoError(t, err)
	return out
}

func actions(changes []targets.Change) map[string]targets.Action {
	out := map[string]targets.Action{}
	for _, c := range changes {
		out[c.Model] = c.Action
	}
	return out
}

func newTarget(t testing.TB) (*local.Target, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "models")
	tg, err := local.New(dir)
	require.NoError(t, err)
	return tg, dir
}

// leftovers lists temporary entries anywhere under dir.
func leftovers(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".cairn-tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

func TestNewRequiresAbsolutePath(t *testing.T) {
	for _, p := range []string{"", "models", "./models", "../models"} {
		_, err := local.New(p)
		assert.Error(t, err, p)
	}
}

func TestApplyDeploys(t *testing.T) {
	ctx := context.Background()
	src := newSource(t)
	tg, dir := newTarget(t)
	desired := []targets.Model{
		src.add(t, "fraud-detector", "2.3.0", "model.onnx", []byte("fraud weights")),
		src.add(t, "churn", "1.0.0-rc.1+build.7", "churn.pkl", []byte("churn weights")),
		src.add(t, "a", "0.0.1", "index", []byte("bare")),
	}
	desired[2].Artifact.URI = "file://a/0.0.1/" // URI ends in "/": file "model"

	// The "/" URI opens a directory; give it its own opener entry.
	open := targets.OpenFunc(func(ctx context.Context, a targets.Artifact) (io.ReadCloser, error) {
		if strings.HasSuffix(a.URI, "/") {
			return os.Open(filepath.Join(src.dir, strings.TrimPrefix(a.URI, "file://"), "index"))
		}
		return src.open(ctx, a)
	})

	plan, err := tg.Plan(ctx, desired)
	require.NoError(t, err)
	_, err = os.Stat(dir)
	require.ErrorIs(t, err, fs.ErrNotExist, "Plan must not create the target")

	changes, err := tg.Apply(ctx, "rev1", desired, open)
	require.NoError(t, err)
	assert.Equal(t, plan, changes)
	assert.Equal(t, []targets.Change{
		{Model: "a", Action: targets.Created, To: "0.0.1", Digest: desired[2].Artifact.Digest},
		{Model: "churn", Action: targets.Created, To: "1.0.0-rc.1+build.7", Digest: desired[1].Artifact.Digest},
		{Model: "fraud-detector", Action: targets.Created, To: "2.3.0", Digest: desired[0].Artifact.Digest},
	}, changes)

	files := map[string]string{"fraud-detector": "model.onnx", "churn": "churn.pkl", "a": "model"}
	for _, m := range desired {
		link, err := os.Readlink(filepath.Join(dir, m.Name, "current"))
		require.NoError(t, err)
		assert.Equal(t, m.Version, link)
		assert.Equal(t, m.Artifact.Digest, fileDigest(t, filepath.Join(dir, m.Name, "current", files[m.Name])), m.Name)
		entries, err := os.ReadDir(filepath.Join(dir, m.Name))
		require.NoError(t, err)
		assert.Len(t, entries, 2, "only the version and current in %s", m.Name)
	}
	assert.Empty(t, leftovers(t, dir))

	st, err := tg.State(ctx)
	require.NoError(t, err)
	assert.Equal(t, "rev1", st.LastAttemptedRevision)
	assert.Equal(t, "rev1", st.LastAppliedRevision)
	assert.Equal(t, local.ModelState{Version: "2.3.0", Digest: desired[0].Artifact.Digest, File: "model.onnx"}, st.Models["fraud-detector"])

	obs, err := tg.Observe(ctx)
	require.NoError(t, err)
	assert.Equal(t, []targets.Deployed{
		{Name: "a", Version: "0.0.1", Digest: desired[2].Artifact.Digest},
		{Name: "churn", Version: "1.0.0-rc.1+build.7", Digest: desired[1].Artifact.Digest},
		{Name: "fraud-detector", Version: "2.3.0", Digest: desired[0].Artifact.Digest},
	}, obs)
}

func TestApplyIdempotent(t *testing.T) {
	ctx := context.Background()
	src := newSource(t)
	tg, dir := newTarget(t)
	desired := []targets.Model{
		src.add(t, "fraud-detector", "2.3.0", "model.onnx", []byte("fraud weights")),
		src.add(t, "churn", "1.0.0", "churn.pkl", []byte("churn weights")),
	}
	_, err := tg.Apply(ctx, "rev1", desired, targets.OpenFunc(src.open))
	require.NoError(t, err)
	before := mtimes(t, dir)
	hash := treetest.Hash(t, dir)
	opened := len(src.opened)
	time.Sleep(20 * time.Millisecond) // let a rewrite show in mtimes on coarse clocks

	changes, err := tg.Apply(ctx, "rev1", desired, targets.OpenFunc(src.open))
	require.NoError(t, err)
	for _, c := range changes {
		assert.Equal(t, targets.Unchanged, c.Action, c.Model)
		assert.Equal(t, c.From, c.To)
	}
	assert.Len(t, changes, 2)
	assert.Equal(t, before, mtimes(t, dir), "a no-op apply writes nothing")
	assert.Equal(t, hash, treetest.Hash(t, dir))
	assert.Len(t, src.opened, opened, "a no-op apply fetches nothing")

	// A new revision with the same models only records the revision.
	_, err = tg.Apply(ctx, "rev2", desired, targets.OpenFunc(src.open))
	require.NoError(t, err)
	st, err := tg.State(ctx)
	require.NoError(t, err)
	assert.Equal(t, "rev2", st.LastAppliedRevision)
	after := mtimes(t, dir)
	for p, mt := range before {
		if !strings.Contains(p, ".cairn") {
			assert.Equal(t, mt, after[p], p)
		}
	}
}

func TestApplyPromotion(t *testing.T) {
	ctx := context.Background()
	src := newSource(t)
	tg, dir := newTarget(t)
	churn := src.add(t, "churn", "1.0.0", "churn.pkl", []byte("churn weights"))
	v1 := src.add(t, "fraud-detector", "2.3.0", "model.onnx", []byte("fraud weights v2.3"))
	v2 := src.add(t, "fraud-detector", "2.4.0", "model.onnx", []byte("fraud weights v2.4"))
	_, err := tg.Apply(ctx, "rev1", []targets.Model{churn, v1}, targets.OpenFunc(src.open))
	require.NoError(t, err)

	changes, err := tg.Apply(ctx, "rev2", []targets.Model{v2, churn}, targets.OpenFunc(src.open))
	require.NoError(t, err)
	assert.Equal(t, []targets.Change{
		{Model: "churn", Action: targets.Unchanged, From: "1.0.0", To: "1.0.0", Digest: churn.Artifact.Digest},
		{Model: "fraud-detector", Action: targets.Updated, From: "2.3.0", To: "2.4.0", Digest: v2.Artifact.Digest},
	}, changes)
	link, err := os.Readlink(filepath.Join(dir, "fraud-detector", "current"))
	require.NoError(t, err)
	assert.Equal(t, "2.4.0", link)
	assert.Equal(t, v2.Artifact.Digest, fileDigest(t, filepath.Join(dir, "fraud-detector/current/model.onnx")))
	assert.NoDirExists(t, filepath.Join(dir, "fraud-detector", "2.3.0"))
	assert.Empty(t, leftovers(t, dir))

	// Rolling back is a promotion too.
	changes, err = tg.Apply(ctx, "rev3", []targets.Model{v1, churn}, targets.OpenFunc(src.open))
	require.NoError(t, err)
	assert.Equal(t, map[string]targets.Action{"churn": targets.Unchanged, "fraud-detector": targets.Updated}, actions(changes))
	assert.NoDirExists(t, filepath.Join(dir, "fraud-detector", "2.4.0"))
	assert.Equal(t, v1.Artifact.Digest, fileDigest(t, filepath.Join(dir, "fraud-detector/current/model.onnx")))
}

func TestApplyDeletes(t *testing.T) {
	ctx := context.Background()
	src := newSource(t)
	tg, dir := newTarget(t)
	churn := src.add(t, "churn", "1.0.0", "churn.pkl", []byte("churn weights"))
	fraud := src.add(t, "fraud-detector", "2.3.0", "model.onnx", []byte("fraud weights"))
	_, err := tg.Apply(ctx, "rev1", []targets.Model{churn, fraud}, targets.OpenFunc(src.open))
	require.NoError(t, err)

	changes, err := tg.Apply(ctx, "rev2", []targets.Model{fraud}, targets.OpenFunc(src.open))
	require.NoError(t, err)
	assert.Equal(t, []targets.Change{
		{Model: "churn", Action: targets.Deleted, From: "1.0.0", Digest: churn.Artifact.Digest},
		{Model: "fraud-detector", Action: targets.Unchanged, From: "2.3.0", To: "2.3.0", Digest: fraud.Artifact.Digest},
	}, changes)
	assert.NoDirExists(t, filepath.Join(dir, "churn"))
	st, err := tg.State(ctx)
	require.NoError(t, err)
	assert.NotContains(t, st.Models, "churn")
	assert.Empty(t, leftovers(t, dir))

	// Nothing desired: everything goes, the target stays.
	changes, err = tg.Apply(ctx, "rev3", nil, targets.OpenFunc(src.open))
	require.NoError(t, err)
	assert.Equal(t, map[string]targets.Action{"fraud-detector": targets.Deleted}, actions(changes))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, ".cairn", entries[0].Name())
}

func TestApplyBadArtifactLeavesTargetUnchanged(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		bad   string // which model gets a wrong digest
		check func(t *testing.T, err error, want targets.Model)
	}{
		{name: "first model, promotion", bad: "a-model", check: wantDigestError},
		{name: "last model, new model", bad: "z-model", check: wantDigestError},
		{name: "middle model, same version repair", bad: "m-model", check: wantDigestError},
		{name: "size mismatch", bad: "size", check: func(t *testing.T, err error, want targets.Model) {
			var se *local.SizeError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, "m-model", se.Model)
		}},
		{name: "open error", bad: "open", check: func(t *testing.T, err error, want targets.Model) {
			assert.ErrorIs(t, err, fs.ErrNotExist)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newSource(t)
			tg, dir := newTarget(t)
			a1 := src.add(t, "a-model", "1.0.0", "a.bin", []byte("a1"))
			m1 := src.add(t, "m-model", "1.0.0", "m.bin", []byte("m1"))
			old := src.add(t, "old-model", "1.0.0", "o.bin", []byte("o1"))
			_, err := tg.Apply(ctx, "rev1", []targets.Model{a1, m1, old}, targets.OpenFunc(src.open))
			require.NoError(t, err)
			// Damage m-model so that the next apply must repair it in place.
			require.NoError(t, os.WriteFile(filepath.Join(dir, "m-model/1.0.0/m.bin"), []byte("tampered"), 0o644))

			a2 := src.add(t, "a-model", "1.1.0", "a.bin", []byte("a2"))
			z1 := src.add(t, "z-model", "1.0.0", "z.bin", []byte("z1"))
			desired := []targets.Model{a2, m1, z1} // old-model would be deleted
			var bad targets.Model
			for i := range desired {
				switch {
				case desired[i].Name == tt.bad:
					desired[i].Artifact.Digest = digest([]byte("something else"))
					bad = desired[i]
				case tt.bad == "size" && desired[i].Name == "m-model":
					desired[i].Artifact.Size++
				case tt.bad == "open" && desired[i].Name == "z-model":
					desired[i].Artifact.URI = "file://missing/z.bin"
				}
			}
			before := treetest.Hash(t, dir)
			stBefore, err := tg.State(ctx)
			require.NoError(t, err)

			_, err = tg.Apply(ctx, "rev2", desired, targets.OpenFunc(src.open))
			require.Error(t, err)
			tt.check(t, err, bad)
			assert.Equal(t, before, treetest.Hash(t, dir), "the target tree is byte-identical")
			stAfter, err := tg.State(ctx)
			require.NoError(t, err)
			assert.Equal(t, stBefore, stAfter)
		})
	}
}

func wantDigestError(t *testing.T, err error, want targets.Model) {
	var de *local.DigestError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, want.Name, de.Model)
	assert.Equal(t, want.Version, de.Version)
	assert.Equal(t, want.Artifact.Digest, de.Want)
	assert.NotEqual(t, de.Want, de.Got)
	assert.True(t, strings.HasPrefix(de.Got, "sha256:"))
}

func TestApplyBadArtifactOnNewTargetCreatesNothing(t *testing.T) {
	src := newSource(t)
	tg, dir := newTarget(t)
	m := src.add(t, "churn", "1.0.0", "churn.pkl", []byte("churn weights"))
	m.Artifact.Digest = digest([]byte("other"))
	_, err := tg.Apply(context.Background(), "rev1", []targets.Model{m}, targets.OpenFunc(src.open))
	var de *local.DigestError
	require.ErrorAs(t, err, &de)
	assert.NoDirExists(t, dir)
}

func TestObserveDrift(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		damage  func(t *testing.T, dir string)
		want    targets.Deployed
		action  targets.Action
		repairs bool
	}{
		{
			name: "hand-edited file",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.WriteFile(filepath.Join(dir, "fraud-detector/2.4.0/model.onnx"), []byte("edited"), 0o644))
			},
			want:   targets.Deployed{Name: "fraud-detector", Version: "2.4.0", Corrupt: []string{"2.4.0/model.onnx"}},
			action: targets.Updated,
		},
		{
			name: "file removed, another added",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Rename(filepath.Join(dir, "fraud-detector/2.4.0/model.onnx"), filepath.Join(dir, "fraud-detector/2.4.0/other")))
			},
			want:   targets.Deployed{Name: "fraud-detector", Version: "2.4.0", Corrupt: []string{"2.4.0/model.onnx", "2.4.0/other"}},
			action: targets.Updated,
		},
		{
			name: "hand-swapped current",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "fraud-detector/2.3.0"), 0o755))
				require.NoError(t, os.WriteFile(filepath.Join(dir, "fraud-detector/2.3.0/model.onnx"), []byte("older"), 0o644))
				require.NoError(t, os.Remove(filepath.Join(dir, "fraud-detector/current")))
				require.NoError(t, os.Symlink("2.3.0", filepath.Join(dir, "fraud-detector/current")))
			},
			want:   targets.Deployed{Name: "fraud-detector", Version: "2.3.0", Digest: digest([]byte("older"))},
			action: targets.Updated,
		},
		{
			name: "current points outside the target",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(filepath.Join(dir, "fraud-detector/current")))
				require.NoError(t, os.Symlink("../../../etc", filepath.Join(dir, "fraud-detector/current")))
			},
			want:   targets.Deployed{Name: "fraud-detector", Version: "../../../etc", Corrupt: []string{"current"}},
			action: targets.Updated,
		},
		{
			name: "current replaced by a directory",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.Remove(filepath.Join(dir, "fraud-detector/current")))
				require.NoError(t, os.MkdirAll(filepath.Join(dir, "fraud-detector/current/x"), 0o755))
			},
			want:   targets.Deployed{Name: "fraud-detector", Corrupt: []string{"current"}},
			action: targets.Created,
		},
		{
			name: "model directory removed",
			damage: func(t *testing.T, dir string) {
				require.NoError(t, os.RemoveAll(filepath.Join(dir, "fraud-detector")))
			},
			want:   targets.Deployed{Name: "fraud-detector", Digest: "", Corrupt: []string{"2.4.0/model.onnx"}},
			action: targets.Created,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := newSource(t)
			tg, dir := newTarget(t)
			fraud := src.add(t, "fraud-detector", "2.4.0", "model.onnx", []byte("fraud weights"))
			churn := src.add(t, "churn", "1.0.0", "churn.pkl", []byte("churn weights"))
			desired := []targets.Model{fraud, churn}
			_, err := tg.Apply(ctx, "rev1", desired, targets.OpenFunc(src.open))
			require.NoError(t, err)
			tt.damage(t, dir)

			obs, err := tg.Observe(ctx)
			require.NoError(t, err)
			require.Len(t, obs, 2)
			assert.Equal(t, targets.Deployed{Name: "churn", Version: "1.0.0", Digest: churn.Artifact.Digest}, obs[0])
			want := tt.want
			if want.Digest == "" && want.Version == "2.4.0" || tt.name == "model directory removed" {
				want.Digest = fraud.Artifact.Digest
			}
			assert.Equal(t, want, obs[1])

			plan, err := tg.Plan(ctx, desired)
			require.NoError(t, err)
			assert.Equal(t, map[string]targets.Action{"churn": targets.Unchanged, "fraud-detector": tt.action}, actions(plan))

			changes, err := tg.Apply(ctx, "rev2", desired, targets.OpenFunc(src.open))
			require.NoError(t, err)
			assert.Equal(t, plan, changes)
			obs, err = tg.Observe(ctx)
			require.NoError(t, err)
			assert.Equal(t, []targets.Deployed{
				{Name: "churn", Version: "1.0.0", Digest: churn.Artifact.Digest},
				{Name: "fraud-detector", Version: "2.4.0", Digest: fraud.Artifact.Digest},
			}, obs, "apply repairs the drift")
			assert.Equal(t, fraud.Artifact.Digest, fileDigest(t, filepath.Join(dir, "fraud-detector/current/model.onnx")))
			entries, err := os.ReadDir(filepath.Join(dir, "fraud-detector"))
			require.NoError(t, err)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			assert.Equal(t, []string{"2.4.0", "current"}, names)
		})
	}
}

func TestObserveUntrackedModel(t *testing.T) {
	ctx := context.Background()
	src := newSource(t)
	tg, dir := newTarget(t)
	churn := src.add(t, "churn", "1.0.0", "churn.pkl", []byte("churn weights"))
	_, err := tg.Apply(ctx, "rev1", []targets.Model{churn}, targets.OpenFunc(src.open))
	require.NoError(t, err)

	require.NoError(t, os.MkdirAll(filepath.Join(dir, "stray/3.0.0"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stray/3.0.0/w.bin"), []byte("stray"), 0o644))
	require.NoError(t, os.Symlink("3.0.0", filepath.Join(dir, "stray/current")))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "Not_A_Model"), 0o755)) // never a model

	obs, err := tg.Observe(ctx)
	require.NoError(t, err)
	assert.Equal(t, []targets.Deployed{
		{Name: "churn", Version: "1.0.0", Digest: churn.Artifact.Digest},
		{Name: "stray", Version: "3.0.0", Digest: digest([]byte("stray"))},
	}, obs)

	changes, err := tg.Apply(ctx, "rev2", []targets.Model{churn}, targets.OpenFunc(src.open))
	require.NoError(t, err)
	assert.Equal(t, map[string]targets.Action{"churn": targets.Unchanged, "stray": targets.Deleted}, actions(changes))
	assert.NoDirExists(t, filepath.Join(dir, "stray"))
	assert.DirExists(t, filepath.Join(dir, "Not_A_Model"))
}

func TestApplyAdoptsMatchingUntrackedVersion(t *testing.T) {
	// The state a crash between swapping current and writing state.json
	// leaves: current serves the desired bytes, state.json lags behind.
	ctx := context.Background()
	src := newSource(t)
	tg, dir := newTarget(t)
	v1 := src.add(t, "churn", "1.0.0", "churn.pkl", []byte("v1"))
	v2 := src.add(t, "churn", "2.0.0", "churn.pkl", []byte("v2"))
	_, err := tg.Apply(ctx, "rev1", []targets.Model{v1}, targets.OpenFunc(src.open))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "churn/2.0.0"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "churn/2.0.0/churn.pkl"), []byte("v2"), 0o644))
	require.NoError(t, os.Symlink("2.0.0", filepath.Join(dir, "churn/.cairn-tmp-x")))
	require.NoError(t, os.Rename(filepath.Join(dir, "churn/.cairn-tmp-x"), filepath.Join(dir, "churn/current")))

	changes, err := tg.Apply(ctx, "rev2", []targets.Model{v2}, targets.OpenFunc(src.open))
	require.NoError(t, err)
	assert.Equal(t, map[string]targets.Action{"churn": targets.Unchanged}, actions(changes))
	assert.Zero(t, src.opened[v2.Artifact.URI], "nothing fetched")
	assert.NoDirExists(t, filepath.Join(dir, "churn/1.0.0"))
	st, err := tg.State(ctx)
	require.NoError(t, err)
	assert.Equal(t, "2.0.0", st.Models["churn"].Version)
}

func TestApplyRemovesLeftovers(t *testing.T) {
	ctx := context.Background()
	src := newSource(t)
	tg, dir := newTarget(t)
	churn := src.add(t, "churn", "1.0.0", "churn.pkl", []byte("churn weights"))
	_, err := tg.Apply(ctx, "rev1", []targets.Model{churn}, targets.OpenFunc(src.open))
	require.NoError(t, err)
	for _, p := range []string{".cairn-tmp-1", "churn/.cairn-tmp-2", ".cairn/.cairn-tmp-3"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, p), []byte("partial"), 0o644))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "churn/.cairn-tmp-4/sub"), 0o755))
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "churn/0.9.0"), 0o755)) // renamed in, never served
	require.Len(t, leftovers(t, dir), 4)

	changes, err := tg.Apply(ctx, "rev1", []targets.Model{churn}, targets.OpenFunc(src.open))
	require.NoError(t, err)
	assert.Equal(t, map[string]targets.Action{"churn": targets.Unchanged}, actions(changes))
	assert.Empty(t, leftovers(t, dir))
	assert.NoDirExists(t, filepath.Join(dir, "churn/0.9.0"))
}

func TestPathEscapes(t *testing.T) {
	ctx := context.Background()
	good := targets.Model{Name: "churn", Version: "1.0.0", Artifact: targets.Artifact{
		URI: "file://models/churn/churn.pkl", Digest: digest([]byte("x")),
	}}
	tests := []struct {
		name   string
		mutate func(m *targets.Model)
	}{
		{"model dotdot", func(m *targets.Model) { m.Name = "../x" }},
		{"model slash", func(m *targets.Model) { m.Name = "a/b" }},
		{"model absolute", func(m *targets.Model) { m.Name = "/etc" }},
		{"model dot cairn", func(m *targets.Model) { m.Name = ".cairn" }},
		{"model upper case", func(m *targets.Model) { m.Name = "Churn" }},
		{"model empty", func(m *targets.Model) { m.Name = "" }},
		{"version escape", func(m *targets.Model) { m.Version = "1.0/../../x" }},
		{"version dotdot", func(m *targets.Model) { m.Version = ".." }},
		{"version slash", func(m *targets.Model) { m.Version = "1.0.0/x" }},
		{"version current", func(m *targets.Model) { m.Version = "current" }},
		{"version not semver", func(m *targets.Model) { m.Version = "latest" }},
		{"uri dotdot", func(m *targets.Model) { m.Artifact.URI = "file://../../etc/passwd" }},
		{"uri dotdot middle", func(m *targets.Model) { m.Artifact.URI = "https://example.com/a/../b.onnx" }},
		{"uri dotdot last", func(m *targets.Model) { m.Artifact.URI = "https://example.com/a/.." }},
		{"uri encoded dotdot", func(m *targets.Model) { m.Artifact.URI = "https://example.com/a/%2e%2e/b" }},
		{"uri hidden file", func(m *targets.Model) { m.Artifact.URI = "https://example.com/.cairn-tmp-1" }},
		{"uri encoded slash", func(m *targets.Model) { m.Artifact.URI = "https://example.com/a%5cb" }},
		{"digest", func(m *targets.Model) { m.Artifact.Digest = "sha256:../../x" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg, dir := newTarget(t)
			m := good
			tt.mutate(&m)
			opened := false
			open := targets.OpenFunc(func(context.Context, targets.Artifact) (io.ReadCloser, error) {
				opened = true
				return io.NopCloser(strings.NewReader("x")), nil
			})
			_, err := tg.Plan(ctx, []targets.Model{m})
			assert.ErrorIs(t, err, local.ErrInvalid)
			_, err = tg.Apply(ctx, "rev1", []targets.Model{m}, open)
			assert.ErrorIs(t, err, local.ErrInvalid)
			assert.False(t, opened)
			assert.NoDirExists(t, dir)
		})
	}
	// The unmutated model is fine, so the table tests what it says.
	tg, _ := newTarget(t)
	_, err := tg.Apply(ctx, "rev1", []targets.Model{good}, targets.OpenFunc(func(context.Context, targets.Artifact) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("x")), nil
	}))
	require.NoError(t, err)
}

func TestApplyDuplicateModel(t *testing.T) {
	tg, _ := newTarget(t)
	m := targets.Model{Name: "churn", Version: "1.0.0", Artifact: targets.Artifact{URI: "file://c.pkl", Digest: digest(nil)}}
	_, err := tg.Plan(context.Background(), []targets.Model{m, m})
	assert.ErrorIs(t, err, local.ErrInvalid)
}

func TestApplyCancelledWhileStaging(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	tg, dir := newTarget(t)
	src := newSource(t)
	a := src.add(t, "a", "1.0.0", "a.bin", []byte("a"))
	b := src.add(t, "b", "1.0.0", "b.bin", []byte("b"))
	_, err := tg.Apply(context.Background(), "rev1", []targets.Model{a}, targets.OpenFunc(src.open))
	require.NoError(t, err)
	before := treetest.Hash(t, dir)
	a2 := src.add(t, "a", "2.0.0", "a.bin", []byte("a2"))
	open := targets.OpenFunc(func(ctx context.Context, art targets.Artifact) (io.ReadCloser, error) {
		cancel()
		return src.open(ctx, art)
	})
	_, err = tg.Apply(ctx, "rev2", []targets.Model{a2, b}, open)
	assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	assert.Equal(t, before, treetest.Hash(t, dir))
}

func TestStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	src := newSource(t)
	tg, dir := newTarget(t)
	st, err := tg.State(ctx)
	require.NoError(t, err)
	assert.Equal(t, local.State{}, st)
	churn := src.add(t, "churn", "1.0.0", "churn.pkl", []byte("churn weights"))
	_, err = tg.Apply(ctx, "abc123", []targets.Model{churn}, targets.OpenFunc(src.open))
	require.NoError(t, err)

	again, err := local.New(dir)
	require.NoError(t, err)
	st, err = again.State(ctx)
	require.NoError(t, err)
	assert.Equal(t, local.State{
		LastAttemptedRevision: "abc123", LastAppliedRevision: "abc123",
		Models: map[string]local.ModelState{"churn": {Version: "1.0.0", Digest: churn.Artifact.Digest, File: "churn.pkl"}},
	}, st)
	raw, err := os.ReadFile(filepath.Join(dir, ".cairn/state.json"))
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"lastAppliedRevision": "abc123"`)
}

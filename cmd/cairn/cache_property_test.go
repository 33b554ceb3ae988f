package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/internal/invgen"
	"github.com/cairnops/cairn/inventory"
)

// The states each file of the property test's inventory takes; "" means
// the file is absent.
var (
	propModels = []string{"m1", "m2", "m3"}
	propDigest = "sha256:" + fmt.Sprintf("%064d", 0)

	propModelStates = func(name string) []string {
		valid := invgen.Model(name, propDigest, propDigest)
		return []string{
			"",
			valid,
			valid + "\ncard: description: \"Another description.\"\n",
			"package model\n\ncard: title: 3\n",
			"package model\n\ncard: {\n",
			strReplace(valid, "file://artifacts/v1.bin", "file://artifacts/missing.bin"),
			strReplace(valid, `production: "1.1.0"`, `production: "1.0.0"`),
			strReplace(valid, `"@acme/ml-platform", `, ""),
			"package other\n",
		}
	}
	propDefaults = []string{
		"",
		"package model\n\ncard: license: *\"proprietary\" | string\n",
		"package model\n\ncard: license: *\"MIT\" | string\n",
		"package model\n\ncard: license: \n",
	}
	propPolicies = []string{
		"",
		`package policy

import "strings"

rules: "owners-are-teams": {
	description: "owners must be GitHub teams"
	model:       _
	deny: [for o in model.card.owners if !strings.HasPrefix(o, "@") {"card.owners: \(o) is not a team"}]
}
`,
		`package policy

rules: "short-description": {
	severity: "warning"
	model:    _
	deny: [if len(model.card.description) < 30 {"the description is short"}]
}
`,
		"package policy\n\nrules: broken: {\n",
		"package policy\n\nrules: typo: {\n\tmodel: _\n\tdeny: [if model.card.titel == \"\" {\"no title\"}]\n}\n",
	}
	propSettings = []string{
		"package inventory\n\ntargets: prod: {stage: \"production\", kind: \"local\", path: \"prod\"}\nsigning: required: []\n",
		"package inventory\n\nsigning: required: []\nrules: \"owners-are-teams\": severity: \"warning\"\n",
		"package inventory\n\nstages: [\"staging\", \"production\"]\nsigning: required: []\n",
		"package inventory\n\nstages: 3\n",
	}
)

func strReplace(s, old, new string) string {
	i := bytes.Index([]byte(s), []byte(old))
	if i < 0 {
		panic("no " + old)
	}
	return s[:i] + new + s[i+len(old):]
}

// propState is one state of the property test's inventory.
type propState struct {
	models   map[string]int
	defaults int
	policy   int
	settings int
}

func (s propState) files() map[string]string {
	out := map[string]string{
		"inventory.cue":       propSettings[s.settings],
		"models/defaults.cue": propDefaults[s.defaults],
		"policies/rules.cue":  propPolicies[s.policy],
		"artifacts/v0.bin":    "weights 0\n",
		"artifacts/v1.bin":    "weights 1\n",
	}
	for _, m := range propModels {
		out["models/"+m+"/model.cue"] = propModelStates(m)[s.models[m]]
	}
	return out
}

// edit changes one thing of s at random: a model, the defaults, the
// policy or the settings.
func (s propState) edit(r *rand.Rand) propState {
	n := propState{models: map[string]int{}, defaults: s.defaults, policy: s.policy, settings: s.settings}
	for k, v := range s.models {
		n.models[k] = v
	}
	switch r.IntN(6) {
	case 0, 1, 2:
		m := propModels[r.IntN(len(propModels))]
		n.models[m] = r.IntN(len(propModelStates(m)))
	case 3:
		n.defaults = r.IntN(len(propDefaults))
	case 4:
		n.policy = r.IntN(len(propPolicies))
	case 5:
		n.settings = r.IntN(len(propSettings))
	}
	return n
}

func writeState(t *testing.T, dir string, s propState) {
	t.Helper()
	for name, content := range s.files() {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if content == "" {
			require.NoError(t, os.RemoveAll(p))
			if filepath.Base(filepath.Dir(p)) != "models" && filepath.Base(filepath.Dir(filepath.Dir(p))) == "models" {
				require.NoError(t, os.RemoveAll(filepath.Dir(p)))
			}
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
}

// propHits counts the models validateJSON found in the cache.
var propHits int

// validateJSON is what `cairn validate --format json` prints for src
// (against base, when set), evaluated in-process with cache, or without.
func validateJSON(t *testing.T, src, base *inventory.Source, cache *inventory.Cache) string {
	t.Helper()
	v, err := gate.Check(context.Background(), src, gate.Options{Base: base,
		Now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), Load: inventory.Options{Cache: cache, Workers: 2}})
	require.NoError(t, err)
	propHits += v.Inventory.Cached
	var b bytes.Buffer
	require.NoError(t, writeJSON(&b, v.Report))
	return b.String()
}

// TestCacheProperty: over random sequences of edits (to a model, the
// defaults, a policy, the settings) and changes of cairn's version, the
// report with the cache is the report without it, after every step, in
// the work tree and, for some sequences, at each commit against the one
// before. CAIRN_PROPERTY_SEQUENCES changes the number of sequences
// (default 1000).
func TestCacheProperty(t *testing.T) {
	sequences := 1000
	if s := os.Getenv("CAIRN_PROPERTY_SEQUENCES"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(t, err)
		sequences = n
	}
	if testing.Short() {
		sequences = 50
	}
	const steps = 4
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 16))
	cacheDir := t.TempDir()
	// The uncached report of a state, which the version does not change:
	// computed once per state and place.
	truth := map[string]string{}
	key := func(parts ...any) string {
		h := sha256.Sum256([]byte(fmt.Sprint(parts...)))
		return string(h[:])
	}
	versions := []string{"v1", "v2", "v3"}
	for seq := range sequences {
		dir := t.TempDir()
		state := propState{models: map[string]int{}}
		for _, m := range propModels {
			state.models[m] = 1
		}
		state.defaults, state.settings = 1, 0
		writeState(t, dir, state)
		atRevisions := seq%5 == 0
		var repo *git.Repository
		if atRevisions {
			var err error
			repo, err = git.PlainInit(dir, false)
			require.NoError(t, err)
			propCommit(t, repo)
		}
		for step := range steps {
			if step > 0 {
				state = state.edit(r)
				writeState(t, dir, state)
			}
			cache := &inventory.Cache{Dir: cacheDir, Version: versions[r.IntN(len(versions))]}
			src, err := inventory.OpenWorktree(dir)
			require.NoError(t, err)
			k := key("worktree", state.files())
			want, ok := truth[k]
			if !ok {
				want = validateJSON(t, src, nil, nil)
				truth[k] = want
			}
			got := validateJSON(t, src, nil, cache)
			require.Equal(t, want, got, "sequence %d step %d, work tree, state %+v", seq, step, state)
			if !atRevisions || step == 0 {
				continue
			}
			propCommit(t, repo)
			head, err := inventory.Open(context.Background(), dir, "HEAD")
			require.NoError(t, err)
			base, err := inventory.Open(context.Background(), dir, "HEAD~1")
			require.NoError(t, err)
			// The report names the commit: nothing to share.
			want = validateJSON(t, head, base, nil)
			got = validateJSON(t, head, base, cache)
			require.Equal(t, want, got, "sequence %d step %d, at a revision against the one before, state %+v", seq, step, state)
		}
	}
	entries, err := os.ReadDir(cacheDir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	t.Logf("%d states, %d models served from the cache, cache files %v", len(truth), propHits, names)
	require.NotZero(t, propHits, "the cache served nothing: the test compares nothing")
}

func propCommit(t *testing.T, repo *git.Repository) {
	t.Helper()
	wt, err := repo.Worktree()
	require.NoError(t, err)
	require.NoError(t, wt.AddWithOptions(&git.AddOptions{All: true}))
	sig := &object.Signature{Name: "Ada", Email: "ada@example.com", When: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	_, err = wt.Commit("step", &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true})
	require.NoError(t, err)
}

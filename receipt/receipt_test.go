package receipt_test

import (
	"context"
	"crypto"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/cuecontext"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/forge/githubtest"
	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/internal/gatetest"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/receipt"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/signing"
)

// prHead is the pull request's head commit, which the reviews name; the
// base and merge commits are real commits of the fixture's repository.
const prHead = "1111111111111111111111111111111111111111"

var now = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// carolHigh is the fixture's base approvals for high risk: two of
// @acme/ml-platform or @carol.
const (
	quickstartHigh = `high: {min: 2, from: ["@acme/ml-platform", "@acme/model-risk"]}`
	carolHigh      = `high: {min: 2, from: ["@acme/ml-platform", "@carol"]}`
)

// fixture is a git repository of the quickstart inventory whose production
// approvals for high risk take two of @acme/ml-platform or @carol (the base
// commit), and a merge commit on it; a GitHub stand-in with pull request #1
// merged as the merge commit and approved by bob (through the team) and
// carol; and an operator key.
type fixture struct {
	dir, state  string
	base, merge string // commit hashes
	gh          *githubtest.Server
	pub         crypto.PublicKey
	pubPEM      []byte
	issuer      *receipt.Issuer
}

// fixtureOptions change what the pull request did.
type fixtureOptions struct {
	headHigh string   // the merge commit's approvals for high risk, if it changed them
	approved []string // who approved the head, besides the author
}

func newFixture(t *testing.T) *fixture {
	return newFixtureWith(t, fixtureOptions{approved: []string{"bob", "carol"}})
}

func newFixtureWith(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), state: t.TempDir()}
	files := gatetest.Quickstart(t)
	inv := files["inventory.cue"]
	require.Contains(t, inv, quickstartHigh)
	files["inventory.cue"] = strings.Replace(inv, quickstartHigh, carolHigh, 1)
	gatetest.Write(t, f.dir, files)
	repo, err := git.PlainInit(f.dir, false)
	require.NoError(t, err)
	f.base = commitAll(t, repo, "the base")
	if o.headHigh != "" {
		gatetest.Write(t, f.dir, map[string]string{"inventory.cue": strings.Replace(files["inventory.cue"], carolHigh, o.headHigh, 1)})
	}
	f.merge = commitAll(t, repo, "Merge pull request #1")

	f.gh = githubtest.New(t, githubtest.WithRepository("acme/model-inventory"))
	n := f.gh.OpenPull("promote fraud-detector 2.3.0", "promote", "main", "alice", prHead)
	f.gh.AddTeamMember("acme", "ml-platform", "bob")
	f.gh.AddReview(n, "alice", "APPROVED", prHead) // the author: never counts
	for _, who := range o.approved {
		f.gh.AddReview(n, who, "APPROVED", prHead)
	}
	f.gh.AddReview(n, "dave", "APPROVED", f.base) // an older commit: does not count
	f.gh.MergePull(n, f.base, f.merge)

	priv, pub, err := signing.GenerateKey(nil)
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "operator.key")
	require.NoError(t, os.WriteFile(keyFile, priv, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(filepath.Dir(keyFile), "operator.pub"), pub, 0o644))
	f.pubPEM = pub
	signer, err := signing.LoadSigner(t.Context(), keyFile, nil)
	require.NoError(t, err)
	f.pub, err = signing.LoadPublicKey(filepath.Join(filepath.Dir(keyFile), "operator.pub"))
	require.NoError(t, err)
	f.issuer, err = receipt.New(receipt.Options{Signer: signer, StateDir: f.state, WorktreeRef: f.merge,
		GitHub: func(ctx context.Context, inv *inventory.Inventory) (*forge.Client, error) {
			return forge.New(ctx, forge.Options{APIURL: f.gh.URL, Token: f.gh.Token, Repository: f.gh.FullName()})
		}})
	require.NoError(t, err)
	return f
}

// commitAll commits every file of repo's work tree and returns the hash.
func commitAll(t *testing.T, repo *git.Repository, msg string) string {
	t.Helper()
	wt, err := repo.Worktree()
	require.NoError(t, err)
	require.NoError(t, wt.AddGlob("."))
	h, err := wt.Commit(msg, &git.CommitOptions{AllowEmptyCommits: true,
		Author: &object.Signature{Name: "t", Email: "t@example.com", When: now}})
	require.NoError(t, err)
	return h.String()
}

func (f *fixture) apply(t *testing.T) (*reconciler.Result, error) {
	t.Helper()
	src, err := inventory.OpenWorktree(f.dir)
	require.NoError(t, err)
	k, err := signing.LoadPublicKey(filepath.Join(gatetest.QuickstartDir(), "keys", "cairn-example.pub"))
	require.NoError(t, err)
	v, err := gate.Check(t.Context(), src, gate.Options{Now: now, Trust: signing.Trust{Keys: []crypto.PublicKey{k}}, Deploy: true})
	require.NoError(t, err)
	return reconciler.Apply(t.Context(), v, reconciler.Options{TargetRoot: filepath.Join(f.state, "targets"), StateDir: f.state,
		Now: func() time.Time { return now }, Receipts: f.issuer})
}

// prodEntry returns the audit line of fraud-detector on prod-local.
func prodEntry(t *testing.T, state string) reconciler.AuditEntry {
	t.Helper()
	audit, err := reconciler.Audit(state)
	require.NoError(t, err)
	for _, e := range audit {
		if e.Target == "prod-local" && e.Model == "fraud-detector" {
			return e
		}
	}
	t.Fatal("no audit line of fraud-detector on prod-local")
	return reconciler.AuditEntry{}
}

func TestReceiptNamesTheApprovers(t *testing.T) {
	f := newFixture(t)
	res, err := f.apply(t)
	require.NoError(t, err)
	for _, tp := range res.Targets {
		assert.Empty(t, tp.ReceiptError, tp.Target)
	}
	e := prodEntry(t, f.state)
	assert.Equal(t, []string{"bob", "carol"}, e.Approvers)
	require.NotEmpty(t, e.Receipt)

	vr, err := receipt.Verify(t.Context(), f.state, e, []crypto.PublicKey{f.pub})
	require.NoError(t, err)
	p := vr.Predicate
	assert.Equal(t, "fraud-detector", p.Model)
	assert.Equal(t, "2.3.0", p.Version)
	assert.Equal(t, "production", p.Stage)
	assert.Equal(t, f.merge, p.Revision)
	require.NotNil(t, p.PullRequest)
	assert.Equal(t, 1, p.PullRequest.Number)
	assert.Equal(t, "alice", p.PullRequest.Author)
	assert.Equal(t, prHead, p.PullRequest.HeadSHA)
	require.Len(t, p.Approvers, 2)
	assert.Equal(t, "bob", p.Approvers[0].Login)
	assert.Equal(t, "@acme/ml-platform", p.Approvers[0].For)
	assert.Equal(t, "carol", p.Approvers[1].Login)
	assert.Equal(t, "@carol", p.Approvers[1].For)
	assert.False(t, p.Approvers[0].SubmittedAt.IsZero())
	require.NotNil(t, p.Requirement)
	assert.Equal(t, receipt.Requirement{Min: 2, Eligible: []string{"@acme/ml-platform", "@carol"}, Satisfied: true}, *p.Requirement)
	assert.Equal(t, "ok", p.Signature.Status)
	assert.Equal(t, e.Signer, p.Signature.Identity)
	assert.Equal(t, receipt.Apply{Action: "created", Result: "applied", Time: now}, p.Apply)
	assert.Equal(t, "pull request #1 approved by bob (for @acme/ml-platform), carol (for @carol)", p.Summary())
	var ids []string
	for _, r := range p.Rules {
		ids = append(ids, r.ID)
	}
	assert.Contains(t, ids, "signature")

	// The stand-in was asked for the merge commit's pull request once per
	// revision, however many models the apply changed.
	n := 0
	for _, ev := range f.gh.Events() {
		if strings.Contains(ev.Path, "/commits/"+f.merge+"/pulls") {
			n++
		}
	}
	assert.Equal(t, 1, n)

	t.Run("cue vet", func(t *testing.T) { vetStatement(t, statementOf(t, f.state, e)) })
	t.Run("cosign", func(t *testing.T) { cosignVerifies(t, f, e) })
}

// TestReceiptRequirementIsTheBase's: a pull request that lowered its own
// bar and was merged anyway is "not met" in its receipt, as the
// cairn/approvals status said; one that raised it needs what its base asked.
func TestReceiptRequirementIsTheBases(t *testing.T) {
	for _, tc := range []struct {
		name     string
		headHigh string
		approved []string
		want     receipt.Requirement
	}{
		{"lowered", `high: {min: 1, from: ["@acme/ml-platform"]}`, []string{"bob"},
			receipt.Requirement{Min: 2, Eligible: []string{"@acme/ml-platform", "@carol"}, Satisfied: false}},
		{"raised", `high: {min: 3, from: ["@acme/ml-platform", "@carol"]}`, []string{"bob", "carol"},
			receipt.Requirement{Min: 2, Eligible: []string{"@acme/ml-platform", "@carol"}, Satisfied: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, fixtureOptions{headHigh: tc.headHigh, approved: tc.approved})
			_, err := f.apply(t)
			require.NoError(t, err)
			vr, err := receipt.Verify(t.Context(), f.state, prodEntry(t, f.state), []crypto.PublicKey{f.pub})
			require.NoError(t, err)
			require.NotNil(t, vr.Predicate.Requirement)
			assert.Equal(t, tc.want, *vr.Predicate.Requirement)
			assert.Empty(t, vr.Predicate.PullRequestError)
		})
	}

	// A base that is not in the repository (a shallow clone) is named,
	// and the requirement is not met.
	f := newFixture(t)
	f.gh.MergePull(1, "4444444444444444444444444444444444444444", f.merge)
	_, err := f.apply(t)
	require.NoError(t, err)
	vr, err := receipt.Verify(t.Context(), f.state, prodEntry(t, f.state), []crypto.PublicKey{f.pub})
	require.NoError(t, err)
	require.NotNil(t, vr.Predicate.Requirement)
	assert.False(t, vr.Predicate.Requirement.Satisfied)
	assert.Contains(t, vr.Predicate.PullRequestError, "the pull request's base 444444444444 cannot be read (fetch it)")
}

func TestReceiptTamperedOrOtherKey(t *testing.T) {
	f := newFixture(t)
	_, err := f.apply(t)
	require.NoError(t, err)
	e := prodEntry(t, f.state)
	file := filepath.Join(f.state, filepath.FromSlash(e.Receipt))
	orig, err := os.ReadFile(file)
	require.NoError(t, err)

	_, other, err := signing.GenerateKey(nil)
	require.NoError(t, err)
	otherFile := filepath.Join(t.TempDir(), "other.pub")
	require.NoError(t, os.WriteFile(otherFile, other, 0o644))
	otherKey, err := signing.LoadPublicKey(otherFile)
	require.NoError(t, err)
	_, err = receipt.Verify(t.Context(), f.state, e, []crypto.PublicKey{otherKey})
	require.ErrorIs(t, err, receipt.ErrInvalid)
	assert.NotContains(t, err.Error(), "\n")
	assert.True(t, strings.HasPrefix(err.Error(), e.Receipt+": receipt does not verify: signature not trusted: "), err.Error())

	// One byte of the statement changed.
	i := strings.Index(string(orig), `"payload":"`) + len(`"payload":"`) + 10
	bad := []byte(string(orig))
	bad[i] ^= 0x01
	require.NoError(t, os.WriteFile(file, bad, 0o644))
	_, err = receipt.Verify(t.Context(), f.state, e, []crypto.PublicKey{f.pub})
	require.ErrorIs(t, err, receipt.ErrInvalid)
	assert.NotContains(t, err.Error(), "\n")

	// An audit line that says something else than its receipt.
	require.NoError(t, os.WriteFile(file, orig, 0o644))
	lie := e
	lie.Approvers = []string{"mallory"}
	_, err = receipt.Verify(t.Context(), f.state, lie, []crypto.PublicKey{f.pub})
	require.ErrorIs(t, err, receipt.ErrInvalid)
	assert.Contains(t, err.Error(), "approvers")
}

// TestRefusedRevisionHasNoReceipt is acceptance 5: a refused revision is an
// audit line, and no receipt is written.
func TestRefusedRevisionHasNoReceipt(t *testing.T) {
	f := newFixture(t)
	gatetest.Write(t, f.dir, map[string]string{"models/churn-predictor/model.cue": strings.Replace(
		gatetest.Quickstart(t)["models/churn-predictor/model.cue"], `staging:     "1.4.0"`, `staging:     "9.9.9"`, 1)})
	_, err := f.apply(t)
	require.ErrorIs(t, err, reconciler.ErrRefused)
	_, err = os.Stat(filepath.Join(f.state, receipt.Dir))
	assert.ErrorIs(t, err, os.ErrNotExist, "a refused revision wrote receipts")
	audit, err := reconciler.Audit(f.state)
	require.NoError(t, err)
	require.NotEmpty(t, audit)
	for _, e := range audit {
		assert.Equal(t, "refused", e.Action)
		assert.Empty(t, e.Receipt)
	}
}

// statementOf returns the DSSE payload of e's receipt, unverified.
func statementOf(t *testing.T, state string, e reconciler.AuditEntry) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(state, filepath.FromSlash(e.Receipt)))
	require.NoError(t, err)
	var b struct {
		DSSEEnvelope struct {
			Payload []byte `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	require.NoError(t, json.Unmarshal(data, &b))
	return b.DSSEEnvelope.Payload
}

// vetStatement checks a statement against docs/receipt.cue's #Statement, as
// `cue vet -d '#Statement' docs/receipt.cue statement.json` does.
func vetStatement(t *testing.T, statement []byte) {
	schema, err := os.ReadFile(filepath.Join("..", "docs", "receipt.cue"))
	require.NoError(t, err)
	ctx := cuecontext.New()
	s := ctx.CompileBytes(schema, cue.Filename("docs/receipt.cue"))
	require.NoError(t, s.Err())
	data := ctx.CompileBytes(statement, cue.Filename("statement.json"))
	require.NoError(t, data.Err())
	v := s.LookupPath(cue.ParsePath("#Statement")).Unify(data)
	require.NoError(t, v.Validate(cue.Concrete(true)), "%s", statement)

	// The schema is not a rubber stamp: an approver without a login fails.
	var m map[string]any
	require.NoError(t, json.Unmarshal(statement, &m))
	m["predicate"].(map[string]any)["approvers"] = []any{map[string]any{"submitted_at": "2026-01-01T00:00:00Z"}}
	broken, err := json.Marshal(m)
	require.NoError(t, err)
	v = s.LookupPath(cue.ParsePath("#Statement")).Unify(ctx.CompileBytes(broken))
	assert.Error(t, v.Validate(cue.Concrete(true)))
}

// cosignVerifies runs stock cosign, when it is on PATH, as the README says.
func cosignVerifies(t *testing.T, f *fixture, e reconciler.AuditEntry) {
	cosign, err := exec.LookPath("cosign")
	if err != nil {
		t.Skip("cosign is not on PATH (go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5 puts it there)")
	}
	dir := t.TempDir()
	pubPEM := filepath.Join(dir, "operator.pub")
	require.NoError(t, os.WriteFile(pubPEM, f.pubPEM, 0o644))
	root := filepath.Join(dir, "trusted_root.json")
	run := func(args ...string) (string, error) {
		cmd := exec.Command(cosign, args...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "TUF_ROOT="+filepath.Join(dir, "tuf"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := run("trusted-root", "create", "--out", root)
	require.NoError(t, err, out)
	bundle := filepath.Join(f.state, filepath.FromSlash(e.Receipt))
	artifact := filepath.Join(f.dir, "artifacts", "fraud-detector", "2.3.0", "model.onnx")
	args := []string{"verify-blob-attestation", "--bundle", bundle, "--key", pubPEM, "--type", receipt.PredicateType,
		"--new-bundle-format", "--trusted-root", root, "--insecure-ignore-tlog=true", artifact}
	out, err = run(args...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "Verified OK")

	// Another artifact is not the receipt's subject.
	other := filepath.Join(dir, "other.onnx")
	require.NoError(t, os.WriteFile(other, []byte("not the model"), 0o644))
	args[len(args)-1] = other
	out, err = run(args...)
	assert.Error(t, err, out)
}

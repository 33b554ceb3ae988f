package daemon

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

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/forge/githubtest"
	"github.com/cairnops/cairn/internal/gittest"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/receipt"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/signing"
)

// TestDaemonWritesReceipts is issue 17's acceptance 1 for the daemon: the
// squash merge of a pull request approved by bob (through
// @acme/ml-platform) and carol is applied with a receipt naming both, which
// verifies; the first revision, a direct push, has receipts without a pull
// request.
func TestDaemonWritesReceipts(t *testing.T) {
	files := quickstartFiles(t)
	files["inventory.cue"] = strings.Replace(files["inventory.cue"],
		`high: {min: 2, from: ["@acme/ml-platform", "@acme/model-risk"]}`, `high: {min: 2, from: ["@acme/ml-platform", "@carol"]}`, 1)
	card := files["models/fraud-detector/model.cue"]
	files["models/fraud-detector/model.cue"] = strings.Replace(card, "\tproduction: \"2.3.0\"\n", "", 1)
	require.NotEqual(t, card, files["models/fraud-detector/model.cue"])

	remote := gittest.NewRemote(t)
	first := remote.Seed(t, "main", files, "quick start")
	gh := githubtest.New(t, githubtest.WithRepository("acme/model-inventory"))
	gh.AddTeamMember("acme", "ml-platform", "bob")

	priv, pub, err := signing.GenerateKey(nil)
	require.NoError(t, err)
	keys := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(keys, "op.key"), priv, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(keys, "op.pub"), pub, 0o644))
	signer, err := signing.LoadSigner(t.Context(), filepath.Join(keys, "op.key"), nil)
	require.NoError(t, err)
	pubKey, err := signing.LoadPublicKey(filepath.Join(keys, "op.pub"))
	require.NoError(t, err)

	state := t.TempDir()
	r := start(t, Options{Repo: remote.URL, StateDir: state, Interval: time.Hour, DriftInterval: time.Hour, WebhookSecret: secret,
		Receipts: func() reconciler.Receipts {
			is, err := receipt.New(receipt.Options{Signer: signer, StateDir: state,
				GitHub: func(ctx context.Context, inv *inventory.Inventory) (*forge.Client, error) {
					return forge.New(ctx, forge.Options{APIURL: gh.URL, Token: gh.Token, Repository: gh.FullName()})
				}})
			require.NoError(t, err)
			return is
		}})
	r.waitStatus(t, "the first revision applied", func(s Status) bool { return s.AppliedRevision == first })

	prHead := "4444444444444444444444444444444444444444"
	n := gh.OpenPull("promote fraud-detector 2.3.0 to production", "promote", "main", "alice", prHead)
	gh.AddReview(n, "bob", "APPROVED", prHead)
	gh.AddReview(n, "carol", "APPROVED", prHead)
	merged := remote.Seed(t, "main", map[string]string{"models/fraud-detector/model.cue": card}, "promote fraud-detector 2.3.0 to production (#1)")
	gh.MergePull(n, first, merged)
	body := pushBody("main", merged)
	require.Equal(t, 202, hook(t, r.srv.URL, "push", sign(secret, body), body))
	r.waitStatus(t, "the merge applied", func(s Status) bool { return s.AppliedRevision == merged })

	audit, err := reconciler.Audit(state)
	require.NoError(t, err)
	var prod, direct *reconciler.AuditEntry
	for i, e := range audit {
		switch {
		case e.Revision == merged && e.Target == "prod-local" && e.Model == "fraud-detector":
			prod = &audit[i]
		case e.Revision == first && e.Target == "staging-local" && e.Model == "fraud-detector":
			direct = &audit[i]
		}
	}
	require.NotNil(t, prod, "no audit line of the promotion")
	assert.Equal(t, []string{"bob", "carol"}, prod.Approvers)
	vr, err := receipt.Verify(t.Context(), state, *prod, []crypto.PublicKey{pubKey})
	require.NoError(t, err)
	assert.Equal(t, "pull request #1 approved by bob (for @acme/ml-platform), carol (for @carol)", vr.Predicate.Summary())
	assert.Equal(t, merged, vr.Predicate.Revision)

	require.NotNil(t, direct, "no audit line of the first revision")
	assert.Empty(t, direct.Approvers)
	vr, err = receipt.Verify(t.Context(), state, *direct, []crypto.PublicKey{pubKey})
	require.NoError(t, err)
	assert.Nil(t, vr.Predicate.PullRequest)
	assert.Empty(t, vr.Predicate.PullRequestError)
	assert.Empty(t, vr.Predicate.Approvers)
}

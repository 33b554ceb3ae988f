package forge_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/forge/githubtest"
	"github.com/cairnops/cairn/internal/gittest"
)

const token = "ghs_S3cretT0kenValue0123456789abcdef"

type env struct {
	remote *gittest.Remote
	gh     *githubtest.Server
	client *forge.Client
	repo   *git.Repository
	logs   *githubtest.LogBuffer
	errs   []error // every error a call returned, for the leak check
}

func newEnv(t *testing.T, opts ...githubtest.Option) *env {
	t.Helper()
	remote := gittest.NewRemote(t, gittest.WithBasicAuth("x-access-token", token))
	remote.Seed(t, "main", map[string]string{
		"inventory.cue":               "package inventory\n",
		"models/fraud/model.cue":      "package model\nstages: production: \"1.0.0\"\n",
		"models/fraud/old-notes.txt":  "obsolete\n",
		"models/churn/model.cue":      "package model\n",
		"policies/owners-teams.cue":   "package policy\n",
		"models/fraud/nested/deep.md": "deep\n",
	}, "initial inventory")
	gh := githubtest.New(t, append([]githubtest.Option{
		githubtest.WithToken(token),
		githubtest.WithRepository("acme/models"),
		githubtest.WithBranches(remote.ReadBranches),
	}, opts...)...)
	logs := &githubtest.LogBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := forge.New(context.Background(), forge.Options{
		APIURL: gh.URL, Token: token, Repository: "acme/models", Logger: logger,
		MaxAttempts: 10, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond, MaxWait: 4 * time.Millisecond,
	})
	require.NoError(t, err)
	repo, err := git.Init(memory.NewStorage(), nil)
	require.NoError(t, err)
	_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{remote.URL}})
	require.NoError(t, err)
	return &env{remote: remote, gh: gh, client: c, repo: repo, logs: logs}
}

func (e *env) propose(t *testing.T, p forge.Proposal) (forge.Outcome, error) {
	t.Helper()
	out, err := e.client.Propose(context.Background(), e.repo, p)
	if err != nil {
		e.errs = append(e.errs, err)
	}
	return out, err
}

// assertNoLeak checks that the token appears in no error, log line, pull
// request or comment.
func (e *env) assertNoLeak(t *testing.T) {
	t.Helper()
	for _, err := range e.errs {
		assert.NotContains(t, err.Error(), token)
		assert.NotContains(t, fmt.Sprintf("%+v", err), token)
	}
	assert.NotContains(t, e.logs.String(), token)
	for _, pr := range e.gh.PRs() {
		assert.NotContains(t, pr.Title+pr.Body, token)
	}
	for _, c := range e.gh.Comments() {
		assert.NotContains(t, c.Body, token)
	}
}

func proposal(branch, body string) forge.Proposal {
	return forge.Proposal{
		Branch:  branch,
		Base:    "main",
		Title:   "Roll back fraud to 1.0.0",
		Body:    body,
		Message: "Roll back fraud to 1.0.0",
		Files: map[string][]byte{
			"models/fraud/model.cue":     []byte("package model\nstages: production: \"0.9.0\"\n"),
			"models/fraud/old-notes.txt": nil,
			"models/fraud/evidence.json": []byte(`{"p95":0.91}`),
		},
		Author: object.Signature{Name: "Cairn", Email: "cairn@example.com", When: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)},
	}
}

// remoteFile reads path at branch's tip in the bare remote.
func remoteFile(t *testing.T, r *gittest.Remote, sha, path string) (string, bool) {
	t.Helper()
	repo, err := git.PlainOpen(r.Dir)
	require.NoError(t, err)
	c, err := repo.CommitObject(plumbing.NewHash(sha))
	require.NoError(t, err)
	f, err := c.File(path)
	if errors.Is(err, object.ErrFileNotFound) {
		return "", false
	}
	require.NoError(t, err)
	s, err := f.Contents()
	require.NoError(t, err)
	return s, true
}

func remoteCommit(t *testing.T, r *gittest.Remote, sha string) *object.Commit {
	t.Helper()
	repo, err := git.PlainOpen(r.Dir)
	require.NoError(t, err)
	c, err := repo.CommitObject(plumbing.NewHash(sha))
	require.NoError(t, err)
	return c
}

func TestProposeLifecycle(t *testing.T) {
	e := newEnv(t)
	const branch = "cairn/rollback/fraud"
	mainSHA := e.remote.Branches(t)["main"]

	// 1. created
	out, err := e.propose(t, proposal(branch, "p95 latency above 0.9 for 15m"))
	require.NoError(t, err)
	assert.Equal(t, forge.ActionCreated, out.Action)
	assert.Equal(t, 1, out.Number)
	assert.Contains(t, out.URL, "/acme/models/pull/1")

	branches := e.remote.Branches(t)
	sha, ok := branches[branch]
	require.True(t, ok, "branch pushed to the remote")
	assert.Equal(t, mainSHA, branches["main"], "base untouched")
	got, ok := remoteFile(t, e.remote, sha, "models/fraud/model.cue")
	require.True(t, ok)
	assert.Contains(t, got, `"0.9.0"`)
	_, ok = remoteFile(t, e.remote, sha, "models/fraud/old-notes.txt")
	assert.False(t, ok, "nil content deletes the file")
	got, _ = remoteFile(t, e.remote, sha, "models/fraud/evidence.json")
	assert.Equal(t, `{"p95":0.91}`, got)
	got, _ = remoteFile(t, e.remote, sha, "models/fraud/nested/deep.md")
	assert.Equal(t, "deep\n", got, "untouched files kept")
	got, _ = remoteFile(t, e.remote, sha, "models/churn/model.cue")
	assert.Equal(t, "package model\n", got)
	commit := remoteCommit(t, e.remote, sha)
	assert.Equal(t, []plumbing.Hash{plumbing.NewHash(mainSHA)}, commit.ParentHashes, "one commit on the base tip")
	assert.Contains(t, commit.Message, "Cairn-Finding: sha256:")
	assert.Equal(t, "Cairn", commit.Author.Name)

	prs := e.gh.PRs()
	require.Len(t, prs, 1)
	assert.Equal(t, branch, prs[0].Head)
	assert.Equal(t, "main", prs[0].Base)
	assert.Equal(t, sha, prs[0].HeadSHA)
	assert.Equal(t, []string{"cairn", "drift"}, prs[0].Labels)
	assert.Contains(t, prs[0].Body, "p95 latency above 0.9 for 15m")
	assert.Contains(t, prs[0].Body, "<!-- cairn:finding sha256:")

	// 2. unchanged: no write call, no push
	writes := e.gh.Writes()
	out, err = e.propose(t, proposal(branch, "p95 latency above 0.9 for 15m"))
	require.NoError(t, err)
	assert.Equal(t, forge.Outcome{Number: 1, URL: out.URL, Action: forge.ActionUnchanged}, out)
	assert.Equal(t, writes, e.gh.Writes(), "no write call")
	assert.Equal(t, sha, e.remote.Branches(t)[branch], "no push")

	// 3a. updated evidence only: the pull request is edited, the branch is
	// not force-pushed (its commit would be the same).
	writes = e.gh.Writes()
	out, err = e.propose(t, proposal(branch, "p95 latency above 0.95 for 30m"))
	require.NoError(t, err)
	assert.Equal(t, forge.ActionUpdated, out.Action)
	assert.Equal(t, 1, out.Number)
	prs = e.gh.PRs()
	require.Len(t, prs, 1, "one PR total")
	assert.Contains(t, prs[0].Body, "0.95 for 30m")
	assert.Equal(t, writes+1, e.gh.Writes(), "one edit of the pull request")
	assert.Equal(t, sha, e.remote.Branches(t)[branch], "no push for a body-only change")

	// 3b. updated change: new file content -> force-pushed commit, same PR
	changed := proposal(branch, "p95 latency above 0.95 for 30m")
	changed.Files["models/fraud/evidence.json"] = []byte(`{"p95":0.95}`)
	out, err = e.propose(t, changed)
	require.NoError(t, err)
	assert.Equal(t, forge.ActionUpdated, out.Action)
	require.Len(t, e.gh.PRs(), 1, "one PR total")
	newSHA := e.remote.Branches(t)[branch]
	assert.NotEqual(t, sha, newSHA)
	assert.Equal(t, []plumbing.Hash{plumbing.NewHash(mainSHA)}, remoteCommit(t, e.remote, newSHA).ParentHashes, "regenerated on the base, not stacked")

	// 4. a human commit on the branch: comment, do not overwrite
	human := e.remote.Seed(t, branch, map[string]string{"models/fraud/model.cue": "human edit\n"}, "fix by hand")
	writes = e.gh.Writes()
	out, err = e.propose(t, proposal(branch, "p95 latency above 0.99 for 1h"))
	require.NoError(t, err)
	assert.Equal(t, forge.ActionCommented, out.Action)
	assert.Equal(t, human, e.remote.Branches(t)[branch], "branch not overwritten")
	assert.Equal(t, writes+1, e.gh.Writes(), "one comment")
	comments := e.gh.Comments()
	require.Len(t, comments, 1)
	assert.Contains(t, comments[0].Body, "did not make")
	assert.NotContains(t, e.gh.PRs()[0].Body, "0.99", "PR not edited")

	writes = e.gh.Writes()
	out, err = e.propose(t, proposal(branch, "p95 latency above 0.99 for 1h"))
	require.NoError(t, err)
	assert.Equal(t, forge.ActionCommented, out.Action)
	assert.Equal(t, writes, e.gh.Writes(), "sticky comment already says it")
	assert.Len(t, e.gh.Comments(), 1)

	// 5. resolve closes it with a comment; a second resolve finds nothing
	closed, err := e.client.Resolve(context.Background(), branch, "The finding is resolved: p95 is back under 0.9.")
	require.NoError(t, err)
	assert.True(t, closed)
	prs = e.gh.PRs()
	assert.Equal(t, "closed", prs[0].State)
	comments = e.gh.Comments()
	require.Len(t, comments, 2)
	assert.Contains(t, comments[1].Body, "back under 0.9")
	closed, err = e.client.Resolve(context.Background(), branch, "again")
	require.NoError(t, err)
	assert.False(t, closed)

	e.assertNoLeak(t)
}

func TestProposeRefusesForeignBranchWithoutPR(t *testing.T) {
	e := newEnv(t)
	human := e.remote.Seed(t, "cairn/retrain/fraud", map[string]string{"x": "y"}, "someone's work")
	_, err := e.propose(t, proposal("cairn/retrain/fraud", "body"))
	require.ErrorIs(t, err, forge.ErrForeignBranch)
	assert.Equal(t, human, e.remote.Branches(t)["cairn/retrain/fraud"])
	assert.Empty(t, e.gh.PRs())
	e.assertNoLeak(t)
}

func TestProposeRejectsBadInput(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name string
		edit func(*forge.Proposal)
	}{
		{"no branch", func(p *forge.Proposal) { p.Branch = "" }},
		{"branch is base", func(p *forge.Proposal) { p.Branch = "main" }},
		{"bad branch", func(p *forge.Proposal) { p.Branch = "cairn/../x" }},
		{"escaping path", func(p *forge.Proposal) { p.Files = map[string][]byte{"../etc/passwd": []byte("x")} }},
		{"absolute path", func(p *forge.Proposal) { p.Files = map[string][]byte{"/abs": []byte("x")} }},
		{"git dir", func(p *forge.Proposal) { p.Files = map[string][]byte{".git/config": []byte("x")} }},
		{"no files", func(p *forge.Proposal) { p.Files = nil }},
		{"missing base", func(p *forge.Proposal) { p.Base = "nope" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proposal("cairn/x/y", "b")
			tt.edit(&p)
			_, err := e.propose(t, p)
			require.Error(t, err)
		})
	}
	assert.Empty(t, e.gh.PRs())
	assert.Equal(t, 0, e.gh.Writes())
	e.assertNoLeak(t)
}

func TestProposeUnderFailures(t *testing.T) {
	e := newEnv(t, githubtest.WithFailRate(0.3, 20261123))
	const n = 20
	for i := range n {
		p := proposal(fmt.Sprintf("cairn/rollback/model-%02d", i), fmt.Sprintf("finding %d", i))
		out, err := e.propose(t, p)
		require.NoError(t, err, "proposal %d", i)
		assert.Equal(t, forge.ActionCreated, out.Action, "proposal %d", i)
	}
	prs := e.gh.PRs()
	require.Len(t, prs, n, "exactly one PR per proposal")
	heads := map[string]int{}
	for _, pr := range prs {
		heads[pr.Head]++
		assert.Equal(t, "open", pr.State)
		assert.Equal(t, []string{"cairn", "drift"}, pr.Labels)
	}
	assert.Len(t, heads, n)

	var injected, duplicates int
	for _, ev := range e.gh.Events() {
		if ev.Injected != "" {
			injected++
		}
		if ev.Method == "POST" && strings.HasSuffix(ev.Path, "/pulls") && ev.Status == 422 {
			duplicates++
		}
	}
	assert.Greater(t, injected, 10, "failures were injected")
	assert.Zero(t, duplicates, "never re-created a PR that existed")

	// Everything again: all unchanged, still 20.
	for i := range n {
		out, err := e.propose(t, proposal(fmt.Sprintf("cairn/rollback/model-%02d", i), fmt.Sprintf("finding %d", i)))
		require.NoError(t, err)
		assert.Equal(t, forge.ActionUnchanged, out.Action)
	}
	assert.Len(t, e.gh.PRs(), n)
	e.assertNoLeak(t)
}

func TestOpenPRs(t *testing.T) {
	e := newEnv(t)
	for _, b := range []string{"cairn/rollback/a", "cairn/retrain/b", "feature/c"} {
		e.remote.Seed(t, b, map[string]string{"f": b}, "seed")
	}
	// feature/c is opened by someone else through the API of the fake; Cairn's
	// two through Propose (the seeded branches are foreign, so reset them).
	for _, b := range []string{"cairn/rollback/a", "cairn/retrain/b"} {
		_, err := e.propose(t, proposal(b+"-x", "x"))
		require.NoError(t, err)
	}
	all, err := e.client.OpenPRs(context.Background(), "")
	require.NoError(t, err)
	assert.Len(t, all, 2)
	rb, err := e.client.OpenPRs(context.Background(), "cairn/rollback/")
	require.NoError(t, err)
	require.Len(t, rb, 1)
	assert.Equal(t, "cairn/rollback/a-x", rb[0].Head)
	assert.Equal(t, "open", rb[0].State)
	assert.Equal(t, []string{"cairn", "drift"}, rb[0].Labels)

	pr, err := e.client.PullRequest(context.Background(), rb[0].Number)
	require.NoError(t, err)
	assert.Equal(t, rb[0], pr)
	_, err = e.client.PullRequest(context.Background(), 99)
	require.Error(t, err)
}

func TestUpsertComment(t *testing.T) {
	e := newEnv(t)
	out, err := e.propose(t, proposal("cairn/a/b", "x"))
	require.NoError(t, err)
	ctx := context.Background()
	// Enough other comments that the sticky one is on a later page.
	for i := range 105 {
		require.NoError(t, e.client.UpsertComment(ctx, out.Number, fmt.Sprintf("<!-- other %d -->", i), "noise"))
	}
	const marker = "<!-- cairn -->"
	require.NoError(t, e.client.UpsertComment(ctx, out.Number, marker, "first"))
	require.NoError(t, e.client.UpsertComment(ctx, out.Number, marker, "second"))
	writes := e.gh.Writes()
	require.NoError(t, e.client.UpsertComment(ctx, out.Number, marker, "second"))
	assert.Equal(t, writes, e.gh.Writes(), "same body: no write")

	long := strings.Repeat("é", 70000)
	require.NoError(t, e.client.UpsertComment(ctx, out.Number, marker, long))
	var sticky []githubtest.Comment
	for _, c := range e.gh.Comments() {
		if strings.Contains(c.Body, marker) {
			sticky = append(sticky, c)
		}
	}
	require.Len(t, sticky, 1, "edited in place")
	assert.True(t, strings.HasPrefix(sticky[0].Body, marker+"\néé"), "keeps the start")
	assert.Less(t, len([]rune(sticky[0].Body)), 65536)
	assert.Len(t, e.gh.Comments(), 106)

	require.NoError(t, e.client.UpsertComment(ctx, out.Number, marker, "token is "+token))
	assert.Error(t, e.client.UpsertComment(ctx, 4242, marker, "x"), "no such issue")
	e.assertNoLeak(t)
}

func TestStatusReviewsTeamsDispatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	out, err := e.propose(t, proposal("cairn/a/b", "x"))
	require.NoError(t, err)

	require.NoError(t, e.client.SetStatus(ctx, "abc123", "cairn/approvals", "pending", "waiting for 2 approvals", "https://ci.example/1"))
	require.NoError(t, e.client.SetStatus(ctx, "abc123", "cairn/approvals", "success", strings.Repeat("d", 200), ""))
	assert.Error(t, e.client.SetStatus(ctx, "abc123", "cairn/approvals", "bogus", "", ""))
	sts := e.gh.Statuses()
	require.Len(t, sts, 2)
	assert.Equal(t, githubtest.Status{ID: sts[0].ID, SHA: "abc123", State: "pending", Context: "cairn/approvals",
		Description: "waiting for 2 approvals", TargetURL: "https://ci.example/1"}, sts[0])
	assert.Len(t, []rune(sts[1].Description), 140)

	for i := range 150 {
		state := "APPROVED"
		if i%3 == 0 {
			state = "CHANGES_REQUESTED"
		}
		e.gh.AddReview(out.Number, fmt.Sprintf("user%d", i), state, "abc123")
	}
	revs, err := e.client.Reviews(ctx, out.Number)
	require.NoError(t, err)
	require.Len(t, revs, 150, "all pages")
	assert.Equal(t, "user0", revs[0].User)
	assert.Equal(t, "CHANGES_REQUESTED", revs[0].State)
	assert.Equal(t, "abc123", revs[149].CommitID)
	assert.False(t, revs[149].SubmittedAt.IsZero())

	for i := range 120 {
		e.gh.AddTeamMember("acme", "ml-leads", fmt.Sprintf("lead%d", i))
	}
	members, err := e.client.TeamMembers(ctx, "acme", "ml-leads")
	require.NoError(t, err)
	assert.Len(t, members, 120)
	assert.Equal(t, "lead119", members[119])
	_, err = e.client.TeamMembers(ctx, "acme", "missing")
	require.Error(t, err)

	require.NoError(t, e.client.Dispatch(ctx, "cairn-drift", map[string]any{"model": "fraud", "kind": "rollback"}))
	ds := e.gh.Dispatches()
	require.Len(t, ds, 1)
	assert.Equal(t, "cairn-drift", ds[0].EventType)
	assert.JSONEq(t, `{"model":"fraud","kind":"rollback"}`, string(ds[0].Payload))
	assert.Error(t, e.client.Dispatch(ctx, "", nil))
	e.assertNoLeak(t)
}

func TestTokenNeverLeaks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	// A body that quotes the token is masked before it reaches GitHub.
	p := proposal("cairn/leak/a", "debug: GITHUB_TOKEN="+token)
	p.Title = "title " + token
	_, err := e.propose(t, p)
	require.NoError(t, err)
	assert.Contains(t, e.gh.PRs()[0].Body, "GITHUB_TOKEN=***")

	// An origin URL carrying the credentials, failing: the error is masked.
	repo, err := git.Init(memory.NewStorage(), nil)
	require.NoError(t, err)
	bad := strings.Replace(e.remote.URL, "http://", "http://x-access-token:"+token+"@", 1) + "-missing"
	_, err = repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{bad}})
	require.NoError(t, err)
	_, err = e.client.Propose(ctx, repo, proposal("cairn/leak/b", "x"))
	require.Error(t, err)
	e.errs = append(e.errs, err)

	// A client with the wrong token gets 401 from the API: masked too.
	other, err := forge.New(ctx, forge.Options{APIURL: e.gh.URL + "/", Token: token + "-wrong", Repository: "acme/models",
		Logger: slog.New(slog.NewTextHandler(e.logs, nil)), MaxAttempts: 2, MinBackoff: time.Millisecond, MaxWait: time.Millisecond})
	require.NoError(t, err)
	_, err = other.OpenPRs(ctx, "")
	require.Error(t, err)
	e.errs = append(e.errs, err)
	_, err = other.Propose(ctx, e.repo, proposal("cairn/leak/c", "x"))
	require.Error(t, err)
	e.errs = append(e.errs, err)

	e.assertNoLeak(t)
	assert.NotEmpty(t, e.logs.String())
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		o    forge.Options
		want error // nil: any error
		ok   bool
	}{
		{name: "defaults", o: forge.Options{Token: token, Repository: "acme/models"}, ok: true},
		{name: "no token", o: forge.Options{Repository: "acme/models"}, want: forge.ErrNoToken},
		{name: "no repository", o: forge.Options{Token: token}, want: forge.ErrNoRepository},
		{name: "no slash", o: forge.Options{Token: token, Repository: "acme"}},
		{name: "empty owner", o: forge.Options{Token: token, Repository: "/models"}},
		{name: "too many parts", o: forge.Options{Token: token, Repository: "a/b/c"}},
		{name: "bad url", o: forge.Options{Token: token, Repository: "a/b", APIURL: "ftp://x"}},
		{name: "token in the url", o: forge.Options{Token: token, Repository: "a/b", APIURL: "ftp://u:" + token + "@x"}},
		{name: "token in the repository", o: forge.Options{Token: token, Repository: token}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := forge.New(context.Background(), tt.o)
			if tt.ok {
				require.NoError(t, err)
				assert.Equal(t, tt.o.Repository, c.Repository())
				return
			}
			require.Error(t, err)
			assert.NotContains(t, err.Error(), token)
			if tt.want != nil {
				assert.ErrorIs(t, err, tt.want)
			}
		})
	}
}

func TestGitAuth(t *testing.T) {
	tests := []struct {
		name, url, token string
		auth             bool
	}{
		{"https", "https://github.com/acme/models.git", token, true},
		{"http", "http://127.0.0.1:1/acme/models.git", token, true},
		{"no token", "https://github.com/acme/models.git", "", false},
		{"ssh", "git@github.com:acme/models.git", token, false},
		{"file", "file:///srv/models.git", token, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := forge.GitAuth(tt.url, tt.token)
			if !tt.auth {
				assert.Nil(t, a)
				return
			}
			require.IsType(t, &githttp.BasicAuth{}, a)
			assert.Equal(t, &githttp.BasicAuth{Username: "x-access-token", Password: tt.token}, a)
			assert.NotContains(t, a.String(), tt.token)
		})
	}
}

func TestMaskToken(t *testing.T) {
	tests := []struct{ in, tok, want string }{
		{"push to https://x-access-token:abc123@github.com/o/r.git failed", "abc123", "push to https://***@github.com/o/r.git failed"},
		{"Authorization: Bearer abc123", "abc123", "Authorization: Bearer ***"},
		{"http://user:pw@h/p and http://h/q", "", "http://***@h/p and http://h/q"},
		{"nothing secret", "abc123", "nothing secret"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, forge.MaskToken(tt.in, tt.tok))
	}
}

package githubtest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/forge/githubtest"
)

func client(t *testing.T, s *githubtest.Server, token string) *github.Client {
	t.Helper()
	c, err := github.NewClient(nil).WithAuthToken(token).WithEnterpriseURLs(s.URL+"/", s.URL+"/")
	require.NoError(t, err)
	c.BaseURL.Path = "/"
	return c
}

func TestPullRequestLifecycle(t *testing.T) {
	branches := map[string]string{"main": "aaa", "cairn/x": "bbb"}
	s := githubtest.New(t, githubtest.WithBranches(func() (map[string]string, error) { return branches, nil }))
	gh := client(t, s, s.Token)
	ctx := context.Background()

	pr, _, err := gh.PullRequests.Create(ctx, "acme", "models", &github.NewPullRequest{
		Title: github.String("t"), Head: github.String("acme:cairn/x"), Base: github.String("main"), Body: github.String("b"),
	})
	require.NoError(t, err)
	assert.Equal(t, 1, pr.GetNumber())
	assert.Equal(t, "bbb", pr.GetHead().GetSHA())
	assert.Equal(t, "cairn/x", pr.GetHead().GetRef())

	_, resp, err := gh.PullRequests.Create(ctx, "acme", "models", &github.NewPullRequest{
		Title: github.String("t"), Head: github.String("cairn/x"), Base: github.String("main"),
	})
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "duplicate head")

	_, resp, err = gh.PullRequests.Create(ctx, "acme", "models", &github.NewPullRequest{
		Title: github.String("t"), Head: github.String("acme:missing"), Base: github.String("main"),
	})
	require.Error(t, err)
	assert.Equal(t, http.StatusUnprocessableEntity, resp.StatusCode, "missing head branch")

	list, _, err := gh.PullRequests.List(ctx, "acme", "models", &github.PullRequestListOptions{Head: "acme:cairn/x", State: "open"})
	require.NoError(t, err)
	require.Len(t, list, 1)

	_, _, err = gh.Issues.AddLabelsToIssue(ctx, "acme", "models", 1, []string{"cairn", "drift"})
	require.NoError(t, err)
	c, _, err := gh.Issues.CreateComment(ctx, "acme", "models", 1, &github.IssueComment{Body: github.String("hello")})
	require.NoError(t, err)
	_, _, err = gh.Issues.EditComment(ctx, "acme", "models", c.GetID(), &github.IssueComment{Body: github.String("edited")})
	require.NoError(t, err)
	_, _, err = gh.PullRequests.Edit(ctx, "acme", "models", 1, &github.PullRequest{State: github.String("closed")})
	require.NoError(t, err)
	list, _, err = gh.PullRequests.List(ctx, "acme", "models", &github.PullRequestListOptions{Head: "acme:cairn/x"})
	require.NoError(t, err)
	assert.Empty(t, list)

	prs := s.PRs()
	require.Len(t, prs, 1)
	assert.Equal(t, "closed", prs[0].State)
	assert.Equal(t, []string{"cairn", "drift"}, prs[0].Labels)
	assert.Equal(t, []githubtest.Comment{{ID: c.GetID(), Issue: 1, Body: "edited", Author: "cairn-bot"}}, s.Comments())
}

func TestStatusesReviewsTeamsDispatch(t *testing.T) {
	s := githubtest.New(t)
	gh := client(t, s, s.Token)
	ctx := context.Background()
	_, _, err := gh.PullRequests.Create(ctx, "acme", "models", &github.NewPullRequest{
		Title: github.String("t"), Head: github.String("b"), Base: github.String("main"),
	})
	require.NoError(t, err)

	for _, st := range []string{"pending", "success"} {
		_, _, err := gh.Repositories.CreateStatus(ctx, "acme", "models", "abc", &github.RepoStatus{State: github.String(st), Context: github.String("cairn/approvals")})
		require.NoError(t, err)
	}
	_, _, err = gh.Repositories.CreateStatus(ctx, "acme", "models", "abc", &github.RepoStatus{State: github.String("failure"), Context: github.String("other")})
	require.NoError(t, err)
	comb, _, err := gh.Repositories.GetCombinedStatus(ctx, "acme", "models", "abc", nil)
	require.NoError(t, err)
	assert.Equal(t, "failure", comb.GetState())
	assert.Equal(t, 2, comb.GetTotalCount())

	for i := 0; i < 35; i++ {
		s.AddReview(1, fmt.Sprintf("u%d", i), "APPROVED", "abc")
		s.AddTeamMember("acme", "ml", fmt.Sprintf("m%d", i))
	}
	revs, resp, err := gh.PullRequests.ListReviews(ctx, "acme", "models", 1, nil)
	require.NoError(t, err)
	assert.Len(t, revs, 30)
	assert.Equal(t, 2, resp.NextPage)
	assert.Equal(t, "APPROVED", revs[0].GetState())
	members, _, err := gh.Teams.ListTeamMembersBySlug(ctx, "acme", "ml", &github.TeamListTeamMembersOptions{ListOptions: github.ListOptions{Page: 2}})
	require.NoError(t, err)
	assert.Len(t, members, 5)

	raw := json.RawMessage(`{"model":"m"}`)
	_, _, err = gh.Repositories.Dispatch(ctx, "acme", "models", github.DispatchRequestOptions{EventType: "cairn", ClientPayload: &raw})
	require.NoError(t, err)
	assert.Equal(t, []githubtest.Dispatch{{EventType: "cairn", Payload: raw}}, s.Dispatches())
	repo, _, err := gh.Repositories.Get(ctx, "acme", "models")
	require.NoError(t, err)
	assert.Equal(t, "acme/models", repo.GetFullName())
}

func TestBadCredentials(t *testing.T) {
	s := githubtest.New(t)
	_, resp, err := client(t, s, "wrong").Repositories.Get(context.Background(), "acme", "models")
	require.Error(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestFailureInjectionIsSeeded(t *testing.T) {
	run := func() []githubtest.Event {
		s := githubtest.New(t, githubtest.WithFailRate(0.5, 42))
		for i := 0; i < 20; i++ {
			// A new client each time: go-github remembers a secondary rate limit.
			_, _, _ = client(t, s, s.Token).Repositories.Get(context.Background(), "acme", "models")
		}
		return s.Events()
	}
	a, b := run(), run()
	require.Len(t, a, 20)
	kinds := map[string]int{}
	for i := range a {
		assert.Equal(t, a[i].Injected, b[i].Injected)
		assert.Equal(t, a[i].Status, b[i].Status)
		kinds[a[i].Injected]++
	}
	assert.Greater(t, kinds[""], 0)
	assert.Greater(t, kinds[githubtest.InjectSecondaryRateLimit], 0)
}

// recordingTB records Errorf calls instead of failing the test.
type recordingTB struct {
	testing.TB
	errs []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestUnexpectedRouteFailsTheTest(t *testing.T) {
	rec := &recordingTB{TB: t}
	s := githubtest.New(rec)
	tests := []struct{ method, path string }{
		{http.MethodDelete, "/repos/acme/models/pulls/1"},
		{http.MethodGet, "/user"},
		{http.MethodPut, "/repos/acme/models/pulls/1/merge"},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(tt.method, s.URL+tt.path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+s.Token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	}
	require.Len(t, rec.errs, 3)
	assert.Equal(t, "githubtest: unexpected DELETE /repos/acme/models/pulls/1", rec.errs[0])
	assert.Equal(t, 2, s.Writes(), "DELETE and PUT count as writes")
}

// TestReadOnly: with a read-only token, as for a pull request from a fork,
// writes answer 403 with GitHub's body and change nothing; reads work; and
// forge.IsForbidden recognises the answer.
func TestReadOnly(t *testing.T) {
	s := githubtest.New(t)
	gh := client(t, s, s.Token)
	ctx := context.Background()
	_, _, err := gh.PullRequests.Create(ctx, "acme", "models", &github.NewPullRequest{
		Title: github.String("t"), Head: github.String("fork"), Base: github.String("main"),
	})
	require.NoError(t, err)
	s.SetReadOnly(true)

	_, resp, err := gh.Issues.CreateComment(ctx, "acme", "models", 1, &github.IssueComment{Body: github.String("hello")})
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	var er *github.ErrorResponse
	require.ErrorAs(t, err, &er)
	assert.Equal(t, githubtest.ReadOnlyMessage, er.Message)
	assert.Equal(t, "https://docs.github.com/rest/issues/comments#create-an-issue-comment", er.DocumentationURL)
	assert.True(t, forge.IsForbidden(err))

	_, resp, err = gh.Repositories.CreateStatus(ctx, "acme", "models", "abc", &github.RepoStatus{State: github.String("success"), Context: github.String("cairn/approvals")})
	require.Error(t, err)
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.True(t, forge.IsForbidden(err))

	assert.Empty(t, s.Comments())
	assert.Empty(t, s.Statuses())
	assert.Equal(t, 1, s.Writes(), "only the pull request, made before")
	_, _, err = gh.PullRequests.Get(ctx, "acme", "models", 1)
	assert.NoError(t, err, "reads still work")

	s.SetReadOnly(false)
	_, _, err = gh.Issues.CreateComment(ctx, "acme", "models", 1, &github.IssueComment{Body: github.String("hello")})
	assert.NoError(t, err)
}

// Package forge talks to GitHub for Cairn: it pushes proposal branches with
// go-git and manages pull requests, sticky comments, commit statuses,
// reviews, team membership and repository dispatches through go-github.
//
// Every API call goes through a retrying transport (5xx, secondary and
// primary rate limits) and every error the package returns, like every line
// it logs, has the token and URL credentials masked.
package forge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/go-github/v62/github"
)

// DefaultAPIURL is the GitHub API used when Options.APIURL is empty.
const DefaultAPIURL = "https://api.github.com"

// maxCommentChars is GitHub's limit on the length of a comment or body.
const maxCommentChars = 65536

// ErrNoToken is returned by New when Options.Token is empty: every call
// Cairn makes to GitHub writes or reads a private repository.
var ErrNoToken = errors.New("no GitHub token")

// ErrNoRepository is returned by New when Options.Repository is empty.
var ErrNoRepository = errors.New("no GitHub repository")

// Options configures New.
type Options struct {
	// APIURL is the REST API base, default DefaultAPIURL.
	APIURL string
	// Token authenticates API calls (Bearer) and git pushes (basic auth,
	// user "x-access-token").
	Token string
	// Repository is "owner/name".
	Repository string
	// HTTPClient is the client whose Transport carries the requests
	// (default http.DefaultTransport); it is copied, not changed.
	HTTPClient *http.Client
	// Logger receives diagnostics, with secrets masked; default discards.
	Logger *slog.Logger

	// MaxAttempts bounds the tries of one API request (default 6).
	MaxAttempts int
	// MinBackoff is the first retry delay after a 5xx (default 500ms); it
	// doubles per attempt up to MaxBackoff (default 30s).
	MinBackoff, MaxBackoff time.Duration
	// MaxWait caps waits that GitHub asks for: Retry-After and the primary
	// rate-limit reset (default 60s).
	MaxWait time.Duration
}

// Client is a GitHub client for one repository. It is safe for concurrent
// use, except that concurrent Propose calls for the same branch race.
type Client struct {
	gh     *github.Client
	owner  string
	repo   string
	token  string
	logger *slog.Logger
}

// PR is a pull request as Cairn sees it.
type PR struct {
	Number  int
	Title   string
	Body    string
	State   string // "open" or "closed"
	URL     string // html URL
	Head    string // head branch name
	HeadSHA string
	Base    string
	Labels  []string
	Author  string
	Merged  bool
	// BaseSHA is the base's commit; MergeCommitSHA and MergedAt are set
	// on a merged pull request (the merge or squash commit).
	BaseSHA        string
	MergeCommitSHA string
	MergedAt       time.Time
}

// Review is one submitted pull request review.
type Review struct {
	ID          int64
	User        string
	State       string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
	CommitID    string
	SubmittedAt time.Time
}

// New returns a Client for o.Repository. It is the one place that turns a
// token, an API URL and a repository name into a GitHub client: commands
// only gather the three from their flags, the environment and inventory.cue.
// It makes no request. It returns ErrNoToken or ErrNoRepository when one is
// empty, and an error when the repository name or API URL is malformed; no
// error carries the token.
func New(ctx context.Context, o Options) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if o.Token == "" {
		return nil, ErrNoToken
	}
	if o.Repository == "" {
		return nil, ErrNoRepository
	}
	owner, name, ok := strings.Cut(o.Repository, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, mask(fmt.Errorf("repository %q: want owner/name", o.Repository), o.Token)
	}
	apiURL := o.APIURL
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	base, err := url.Parse(strings.TrimRight(apiURL, "/") + "/")
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, mask(fmt.Errorf("api url %q: not an http(s) URL", apiURL), o.Token)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = slog.New(&maskHandler{next: logger.Handler(), token: o.Token})

	hc := &http.Client{}
	if o.HTTPClient != nil {
		*hc = *o.HTTPClient
	}
	next := hc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	rt := &retryTransport{
		next:        next,
		attempts:    valueOr(o.MaxAttempts, 6),
		baseBackoff: valueOr(o.MinBackoff, 500*time.Millisecond),
		maxBackoff:  valueOr(o.MaxBackoff, 30*time.Second),
		maxWait:     valueOr(o.MaxWait, time.Minute),
		logger:      logger,
	}
	hc.Transport = rt
	gh := github.NewClient(hc).WithAuthToken(o.Token)
	gh.BaseURL = base
	gh.UploadURL = base
	gh.UserAgent = "cairn"
	return &Client{gh: gh, owner: owner, repo: name, token: o.Token, logger: logger}, nil
}

func valueOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Repository returns "owner/name".
func (c *Client) Repository() string { return c.owner + "/" + c.repo }

func (c *Client) mask(err error) error { return mask(err, c.token) }

func toPR(p *github.PullRequest) PR {
	out := PR{
		Number:  p.GetNumber(),
		Title:   p.GetTitle(),
		Body:    p.GetBody(),
		State:   p.GetState(),
		URL:     p.GetHTMLURL(),
		Head:    p.GetHead().GetRef(),
		HeadSHA: p.GetHead().GetSHA(),
		Base:    p.GetBase().GetRef(),
		Author:  p.GetUser().GetLogin(),
		Merged:  p.GetMerged(),

		BaseSHA:        p.GetBase().GetSHA(),
		MergeCommitSHA: p.GetMergeCommitSHA(),
		MergedAt:       p.GetMergedAt().Time,
	}
	for _, l := range p.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	return out
}

// fromPR is the part of a go-github pull request that Propose reads.
func fromPR(p PR) *github.PullRequest {
	out := &github.PullRequest{Number: &p.Number, HTMLURL: &p.URL, Body: &p.Body, Title: &p.Title}
	for _, l := range p.Labels {
		out.Labels = append(out.Labels, &github.Label{Name: github.String(l)})
	}
	return out
}

// IsForbidden reports whether err is, or wraps, GitHub's 403 answer to a
// call the token may not make (not a rate limit, which the client retries):
// a write with the read-only token of a pull request from a fork, say.
func IsForbidden(err error) bool { return statusCode(err) == http.StatusForbidden }

// statusCode returns the HTTP status of a go-github error, 0 when none.
func statusCode(err error) int {
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	var ar *github.AcceptedError
	if errors.As(err, &ar) {
		return http.StatusAccepted
	}
	return 0
}

// openPRForHead returns the open pull request from branch, nil when none.
func (c *Client) openPRForHead(ctx context.Context, branch string) (*github.PullRequest, error) {
	prs, _, err := c.gh.PullRequests.List(ctx, c.owner, c.repo, &github.PullRequestListOptions{
		State: "open", Head: c.owner + ":" + branch, ListOptions: github.ListOptions{PerPage: 100},
	})
	if err != nil {
		return nil, fmt.Errorf("listing pull requests for %s: %w", branch, err)
	}
	for _, p := range prs {
		if p.GetHead().GetRef() == branch {
			return p, nil
		}
	}
	return nil, nil
}

// OpenPRs returns the open pull requests whose head branch starts with
// branchPrefix (all of them for ""), reading every page.
func (c *Client) OpenPRs(ctx context.Context, branchPrefix string) (_ []PR, err error) {
	defer func() { err = c.mask(err) }()
	var out []PR
	opts := &github.PullRequestListOptions{State: "open", ListOptions: github.ListOptions{PerPage: 100}}
	for {
		prs, resp, err := c.gh.PullRequests.List(ctx, c.owner, c.repo, opts)
		if err != nil {
			return nil, fmt.Errorf("listing open pull requests: %w", err)
		}
		for _, p := range prs {
			if strings.HasPrefix(p.GetHead().GetRef(), branchPrefix) {
				out = append(out, toPR(p))
			}
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// PullRequest returns pull request number.
func (c *Client) PullRequest(ctx context.Context, number int) (_ PR, err error) {
	defer func() { err = c.mask(err) }()
	p, _, err := c.gh.PullRequests.Get(ctx, c.owner, c.repo, number)
	if err != nil {
		return PR{}, fmt.Errorf("getting pull request %d: %w", number, err)
	}
	return toPR(p), nil
}

// Reviews returns every submitted review of pull request number, oldest
// first, reading every page.
func (c *Client) Reviews(ctx context.Context, number int) (_ []Review, err error) {
	defer func() { err = c.mask(err) }()
	var out []Review
	opts := &github.ListOptions{PerPage: 100}
	for {
		rs, resp, err := c.gh.PullRequests.ListReviews(ctx, c.owner, c.repo, number, opts)
		if err != nil {
			return nil, fmt.Errorf("listing reviews of pull request %d: %w", number, err)
		}
		for _, r := range rs {
			out = append(out, Review{
				ID: r.GetID(), User: r.GetUser().GetLogin(), State: r.GetState(),
				CommitID: r.GetCommitID(), SubmittedAt: r.GetSubmittedAt().Time,
			})
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// TeamMembers returns the logins of the members of team org/slug, reading
// every page.
func (c *Client) TeamMembers(ctx context.Context, org, slug string) (_ []string, err error) {
	defer func() { err = c.mask(err) }()
	var out []string
	opts := &github.TeamListTeamMembersOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		us, resp, err := c.gh.Teams.ListTeamMembersBySlug(ctx, org, slug, opts)
		if err != nil {
			return nil, fmt.Errorf("listing members of team %s/%s: %w", org, slug, err)
		}
		for _, u := range us {
			out = append(out, u.GetLogin())
		}
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// SetStatus sets the commit status statusContext on sha. state is error,
// failure, pending or success; description is cut to GitHub's 140
// characters.
func (c *Client) SetStatus(ctx context.Context, sha, statusContext, state, description, targetURL string) (err error) {
	defer func() { err = c.mask(err) }()
	if r := []rune(description); len(r) > 140 {
		description = string(r[:139]) + "…"
	}
	st := &github.RepoStatus{State: &state, Context: &statusContext, Description: &description}
	if targetURL != "" {
		st.TargetURL = &targetURL
	}
	// Repeating a status write only re-sets the same context: safe to retry.
	if _, _, err := c.gh.Repositories.CreateStatus(retrySafe(ctx), c.owner, c.repo, sha, st); err != nil {
		return fmt.Errorf("setting status %s on %s: %w", statusContext, sha, err)
	}
	return nil
}

// Dispatch sends a repository_dispatch event of eventType whose
// client_payload is payload encoded as JSON (it must encode to an object,
// or be nil).
func (c *Client) Dispatch(ctx context.Context, eventType string, payload any) (err error) {
	defer func() { err = c.mask(err) }()
	opts := github.DispatchRequestOptions{EventType: eventType}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return fmt.Errorf("encoding dispatch payload: %w", err)
		}
		raw := json.RawMessage(b)
		opts.ClientPayload = &raw
	}
	if _, _, err := c.gh.Repositories.Dispatch(ctx, c.owner, c.repo, opts); err != nil {
		return fmt.Errorf("dispatching %s: %w", eventType, err)
	}
	return nil
}

// trimBody returns body cut to fit under GitHub's 65,536-character limit,
// keeping its start and saying that it was cut.
func trimBody(body string) string {
	const note = "\n\n… (truncated)"
	r := []rune(body)
	if len(r) < maxCommentChars {
		return body
	}
	keep := maxCommentChars - 1 - len([]rune(note))
	return string(r[:keep]) + note
}

// listComments returns every comment on issue number.
func (c *Client) listComments(ctx context.Context, number int) ([]*github.IssueComment, error) {
	var out []*github.IssueComment
	opts := &github.IssueListCommentsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		cs, resp, err := c.gh.Issues.ListComments(ctx, c.owner, c.repo, number, opts)
		if err != nil {
			return nil, fmt.Errorf("listing comments of #%d: %w", number, err)
		}
		out = append(out, cs...)
		if resp.NextPage == 0 {
			return out, nil
		}
		opts.Page = resp.NextPage
	}
}

// UpsertCommentKeyed is UpsertComment for a body that changes with the
// clock: key names the body's substance (e.g. a hash of its evidence) and
// is appended as a hidden line; a comment holding marker and key is left
// as it is, whatever the rest of its body says.
func (c *Client) UpsertCommentKeyed(ctx context.Context, number int, marker, key, body string) (err error) {
	defer func() { err = c.mask(err) }()
	if marker == "" || key == "" {
		return errors.New("upsert comment: empty marker or key")
	}
	keyLine := "<!-- cairn:key " + key + " -->"
	body = MaskToken(body, c.token)
	if !strings.Contains(body, marker) {
		body = marker + "\n" + body
	}
	if r := []rune(body); len(r)+1+len(keyLine) >= maxCommentChars {
		const note = "\n\n… (truncated)"
		body = string(r[:maxCommentChars-2-len(keyLine)-len([]rune(note))]) + note
	}
	body += "\n" + keyLine
	_, err = c.upsertCommentIf(ctx, number, marker, body, func(old string) bool { return strings.Contains(old, keyLine) })
	return err
}

// UpsertComment keeps one comment containing marker on issue or pull
// request number: it edits that comment in place, or creates it. The marker
// is put in front of body when body lacks it, and the body is trimmed under
// 65,536 characters keeping its start. An unchanged body makes no write.
func (c *Client) UpsertComment(ctx context.Context, number int, marker, body string) (err error) {
	defer func() { err = c.mask(err) }()
	if marker == "" {
		return errors.New("upsert comment: empty marker")
	}
	body = MaskToken(body, c.token)
	if !strings.Contains(body, marker) {
		body = marker + "\n" + body
	}
	body = trimBody(body)
	_, err = c.upsertComment(ctx, number, marker, body)
	return err
}

// upsertComment is UpsertComment without masking; it reports whether it
// wrote.
func (c *Client) upsertComment(ctx context.Context, number int, marker, body string) (bool, error) {
	return c.upsertCommentIf(ctx, number, marker, body, func(old string) bool { return old == body })
}

// upsertCommentIf is upsertComment where same decides whether the found
// comment's body needs no write.
func (c *Client) upsertCommentIf(ctx context.Context, number int, marker, body string, same func(old string) bool) (bool, error) {
	const tries = 3
	for try := 1; ; try++ {
		cs, err := c.listComments(ctx, number)
		if err != nil {
			return false, err
		}
		var found *github.IssueComment
		for _, cm := range cs {
			if strings.Contains(cm.GetBody(), marker) {
				found = cm
				break
			}
		}
		if found != nil {
			if same(found.GetBody()) {
				return false, nil
			}
			if _, _, err := c.gh.Issues.EditComment(ctx, c.owner, c.repo, found.GetID(), &github.IssueComment{Body: &body}); err != nil {
				return false, fmt.Errorf("editing comment %d: %w", found.GetID(), err)
			}
			return true, nil
		}
		_, _, err = c.gh.Issues.CreateComment(ctx, c.owner, c.repo, number, &github.IssueComment{Body: &body})
		if err == nil {
			return true, nil
		}
		// A create that failed in transit may still have landed: list again
		// before creating again, so that the comment is never duplicated.
		if try >= tries || !ambiguous(err) {
			return false, fmt.Errorf("commenting on #%d: %w", number, err)
		}
		c.logger.Warn("comment create failed, checking before retry", "number", number, "error", err)
	}
}

// ambiguous reports whether a failed write may have been applied by GitHub
// all the same (a 5xx or a transport error), so that the caller must look
// before writing again.
func ambiguous(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	code := statusCode(err)
	return code == 0 || code >= 500
}

// Resolve closes the open pull request from branch after posting comment
// on it (when comment is not empty). It returns false when no pull request
// from branch is open.
func (c *Client) Resolve(ctx context.Context, branch, comment string) (closed bool, err error) {
	defer func() { err = c.mask(err) }()
	pr, err := c.openPRForHead(ctx, branch)
	if err != nil || pr == nil {
		return false, err
	}
	n := pr.GetNumber()
	if comment != "" {
		marker := fmt.Sprintf("<!-- cairn:resolved %s -->", branch)
		body := MaskToken(comment, c.token)
		if !strings.Contains(body, marker) {
			body = trimBody(body + "\n\n" + marker)
		}
		if _, err := c.upsertComment(ctx, n, marker, body); err != nil {
			return false, err
		}
	}
	state := "closed"
	if _, _, err := c.gh.PullRequests.Edit(ctx, c.owner, c.repo, n, &github.PullRequest{State: &state}); err != nil {
		return false, fmt.Errorf("closing pull request %d: %w", n, err)
	}
	c.logger.Info("closed pull request", "number", n, "branch", branch)
	return true, nil
}

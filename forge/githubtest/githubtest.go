// Package githubtest is an in-memory GitHub REST API for tests.
//
// A Server keeps pull requests, issue comments, labels, commit statuses,
// reviews, team members, repository dispatches and deployments (with their
// statuses) in memory and answers the
// documented REST routes with the documented JSON shapes, so a real go-github
// client can talk to it. Any route it does not know fails the test. It can
// inject failures (502 and secondary rate limits) from a seeded random source
// and records every call for assertions.
package githubtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SecondaryRateLimitMessage is the message GitHub sends with a 403
// secondary rate limit response.
const SecondaryRateLimitMessage = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."

// ReadOnlyMessage is the message GitHub answers, with 403, to a write made
// with a token that may only read, such as the GITHUB_TOKEN of a workflow run
// for a pull request from a fork.
const ReadOnlyMessage = "Resource not accessible by integration"

// SecondaryRateLimitDocs is the documentation_url GitHub sends with a
// secondary rate limit response (go-github recognises it by this suffix).
const SecondaryRateLimitDocs = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"

// Injected failure kinds recorded in Event.Injected.
const (
	// InjectBadGateway answers 502 before the request is handled.
	InjectBadGateway = "502-before"
	// InjectSecondaryRateLimit answers 403 secondary rate limit with
	// Retry-After: 1 before the request is handled.
	InjectSecondaryRateLimit = "403-secondary"
	// InjectLostResponse handles the request (state changes) and then
	// answers 502, as when a proxy loses GitHub's response.
	InjectLostResponse = "502-after"
)

// PullRequest is a snapshot of a pull request held by the server.
type PullRequest struct {
	Number   int
	Title    string
	Body     string
	State    string // "open" or "closed"
	Head     string // branch name
	HeadSHA  string
	Base     string
	Labels   []string
	Author   string
	ClosedAt time.Time
	// BaseSHA is the base branch's commit the pull request was merged onto
	// (MergePull); empty before.
	BaseSHA string
	// MergeSHA is the merge (or squash) commit of a merged pull request
	// (MergePull); empty while it is not merged.
	MergeSHA string
	MergedAt time.Time
}

// Comment is a snapshot of an issue comment.
type Comment struct {
	ID     int64
	Issue  int
	Body   string
	Author string
}

// Status is a commit status as created through the API.
type Status struct {
	ID          int64
	SHA         string
	State       string
	Context     string
	Description string
	TargetURL   string
}

// Review is a pull request review added with AddReview.
type Review struct {
	ID       int64
	Number   int
	User     string
	State    string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
	CommitID string
	Body     string
	At       time.Time
}

// Dispatch is a repository_dispatch event received by the server.
type Dispatch struct {
	EventType string
	Payload   json.RawMessage
}

// Event is one request the server received.
type Event struct {
	Method   string
	Path     string // path with query
	Status   int    // status answered
	Write    bool   // POST, PATCH, PUT or DELETE
	Injected string // one of the Inject* kinds, empty when none
}

// Option configures New.
type Option func(*Server)

// WithToken sets the token that requests must carry as
// "Authorization: Bearer <token>" or "token <token>". Default "test-token".
func WithToken(token string) Option { return func(s *Server) { s.Token = token } }

// WithRepository sets the "owner/name" repository the server hosts.
// Default "acme/models".
func WithRepository(fullName string) Option {
	return func(s *Server) {
		if o, r, ok := strings.Cut(fullName, "/"); ok {
			s.Owner, s.Repo = o, r
		}
	}
}

// WithLogin sets the login of the authenticated user, the author of
// everything created through the API. Default "cairn-bot".
func WithLogin(login string) Option { return func(s *Server) { s.Login = login } }

// WithFailRate makes a fraction rate of the requests fail with an injected
// failure, drawn from a random source seeded with seed.
func WithFailRate(rate float64, seed int64) Option {
	return func(s *Server) { s.failRate, s.rng = rate, rand.New(rand.NewSource(seed)) }
}

// WithBranches sets the callback that lists the git remote's branches
// (name -> sha). Creating a pull request whose head or base is missing from
// it answers 422, and the head's sha becomes the pull request's head sha.
// Without it every branch exists and head shas are empty.
func WithBranches(f func() (map[string]string, error)) Option {
	return func(s *Server) { s.branches = f }
}

// Server is a stateful fake of the GitHub REST API on an httptest server,
// closed when the test ends.
type Server struct {
	// URL is the API base URL (no trailing slash).
	URL string
	// Token is the token requests must carry.
	Token string
	// Owner and Repo name the hosted repository.
	Owner, Repo string
	// Login is the authenticated user's login.
	Login string

	t        testing.TB
	srv      *httptest.Server
	branches func() (map[string]string, error)

	mu sync.Mutex // guards everything below
	// readOnly makes every write to the repository answer 403 (SetReadOnly).
	readOnly bool
	// failRate and rng drive failure injection.
	failRate    float64
	rng         *rand.Rand
	nextID      int64
	pulls       []*pullState // index = number-1
	comments    []*Comment
	statuses    []*Status
	reviews     []*Review
	teams       map[string][]string // "org/slug" -> logins
	dispatches  []Dispatch
	deployments []*Deployment
	events      []Event
	writes      int
}

type pullState struct {
	PullRequest
	id        int64
	createdAt time.Time
	updatedAt time.Time
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// New starts a fake GitHub for the test. It is closed by t.Cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s := &Server{
		Token: "test-token",
		Owner: "acme",
		Repo:  "models",
		Login: "cairn-bot",
		t:     t,
		teams: map[string][]string{},
		rng:   rand.New(rand.NewSource(1)),
	}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	return s
}

// FullName returns "owner/name" of the hosted repository.
func (s *Server) FullName() string { return s.Owner + "/" + s.Repo }

// SetFailRate changes the injected failure rate (0 turns injection off).
func (s *Server) SetFailRate(rate float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRate = rate
}

// Writes returns how many write requests (POST, PATCH, PUT, DELETE) the
// server has received, including ones answered with an injected failure.
func (s *Server) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// Events returns a copy of the request log, oldest first.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// PRs returns snapshots of every pull request, by number.
func (s *Server) PRs() []PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]PullRequest, 0, len(s.pulls))
	for _, p := range s.pulls {
		c := p.PullRequest
		c.Labels = append([]string(nil), p.Labels...)
		out = append(out, c)
	}
	return out
}

// Comments returns every issue comment, oldest first.
func (s *Server) Comments() []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Comment, 0, len(s.comments))
	for _, c := range s.comments {
		out = append(out, *c)
	}
	return out
}

// Statuses returns every commit status created, oldest first.
func (s *Server) Statuses() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.statuses))
	for _, st := range s.statuses {
		out = append(out, *st)
	}
	return out
}

// Dispatches returns every repository_dispatch received, oldest first.
func (s *Server) Dispatches() []Dispatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Dispatch(nil), s.dispatches...)
}

// AddReview records a submitted review on pull request number and returns
// its id. state is APPROVED, CHANGES_REQUESTED, COMMENTED or DISMISSED.
func (s *Server) AddReview(number int, user, state, commitID string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.reviews = append(s.reviews, &Review{
		ID: s.nextID, Number: number, User: user, State: state, CommitID: commitID,
		At: epoch.Add(time.Duration(s.nextID) * time.Minute),
	})
	return s.nextID
}

// AddTeamMember adds login to the team org/slug, creating the team.
func (s *Server) AddTeamMember(org, slug, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := org + "/" + slug
	s.teams[k] = append(s.teams[k], login)
}

// SetHeadSHA sets the head sha of pull request number, as a push to its
// branch would.
func (s *Server) SetHeadSHA(number int, sha string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if number >= 1 && number <= len(s.pulls) {
		s.pulls[number-1].HeadSHA = sha
	}
}

type apiError struct {
	Resource string `json:"resource,omitempty"`
	Field    string `json:"field,omitempty"`
	Code     string `json:"code"`
	Message  string `json:"message,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

func writeError(w http.ResponseWriter, status int, msg string, errs ...apiError) {
	body := map[string]any{"message": msg, "documentation_url": "https://docs.github.com/rest"}
	if len(errs) > 0 {
		body["errors"] = errs
	}
	writeJSON(w, status, body)
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// SetReadOnly makes the token read-only, or writable again: while it is
// read-only, every write to the repository (a comment, a status, a label, a
// pull request, ...) answers 403 with the body GitHub sends for a token that
// may only read (ReadOnlyMessage and the route's documentation URL), changes
// nothing and is not counted by Writes. Reads are answered as before.
func (s *Server) SetReadOnly(readOnly bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readOnly = readOnly
}

// readOnlyDocs returns the documentation_url GitHub sends with a 403 for a
// read-only token on the route of path.
func readOnlyDocs(path string) string {
	switch {
	case strings.Contains(path, "/issues/") && strings.HasSuffix(path, "/comments"):
		return "https://docs.github.com/rest/issues/comments#create-an-issue-comment"
	case strings.Contains(path, "/issues/comments/"):
		return "https://docs.github.com/rest/issues/comments#update-an-issue-comment"
	case strings.Contains(path, "/statuses/"):
		return "https://docs.github.com/rest/commits/statuses#create-a-commit-status"
	}
	return "https://docs.github.com/rest"
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	ev := Event{Method: r.Method, Path: r.URL.RequestURI(), Write: isWrite(r.Method)}
	s.mu.Lock()
	if ev.Write && s.readOnly && strings.HasPrefix(r.URL.Path, "/repos/") {
		ev.Status = http.StatusForbidden
		s.events = append(s.events, ev)
		s.mu.Unlock()
		writeJSON(w, http.StatusForbidden, map[string]any{
			"message": ReadOnlyMessage, "documentation_url": readOnlyDocs(r.URL.Path), "status": "403",
		})
		return
	}
	if ev.Write {
		s.writes++
	}
	if s.failRate > 0 && s.rng.Float64() < s.failRate {
		ev.Injected = []string{InjectBadGateway, InjectSecondaryRateLimit, InjectLostResponse}[s.rng.Intn(3)]
	}
	s.mu.Unlock()

	rec := httptest.NewRecorder()
	switch ev.Injected {
	case InjectBadGateway:
		writeError(rec, http.StatusBadGateway, "Server Error")
	case InjectSecondaryRateLimit:
		rec.Header().Set("Retry-After", "1")
		writeJSON(rec, http.StatusForbidden, map[string]any{
			"message": SecondaryRateLimitMessage, "documentation_url": SecondaryRateLimitDocs,
		})
	default:
		s.handle(rec, r)
		if ev.Injected == InjectLostResponse {
			rec = httptest.NewRecorder()
			writeError(rec, http.StatusBadGateway, "Server Error")
		}
	}
	ev.Status = rec.Code
	s.mu.Lock()
	s.events = append(s.events, ev)
	s.mu.Unlock()

	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

func (s *Server) unexpected(w http.ResponseWriter, r *http.Request) {
	s.t.Errorf("githubtest: unexpected %s %s", r.Method, r.URL.Path)
	writeError(w, http.StatusNotFound, "Not Found")
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(auth, "token ")
	}
	if !ok || tok != s.Token {
		writeError(w, http.StatusUnauthorized, "Bad credentials")
		return
	}
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	m := r.Method
	switch {
	case len(seg) == 5 && seg[0] == "orgs" && seg[2] == "teams" && seg[4] == "members" && m == http.MethodGet:
		s.teamMembers(w, r, seg[1], seg[3])
		return
	case len(seg) >= 3 && seg[0] == "repos":
	default:
		s.unexpected(w, r)
		return
	}
	if seg[1] != s.Owner || seg[2] != s.Repo {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	rest := seg[3:]
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case len(rest) == 0 && m == http.MethodGet:
		writeJSON(w, http.StatusOK, s.repoJSON())
	case len(rest) == 1 && rest[0] == "pulls" && m == http.MethodGet:
		s.listPulls(w, r)
	case len(rest) == 1 && rest[0] == "pulls" && m == http.MethodPost:
		s.createPull(w, r)
	case len(rest) == 2 && rest[0] == "pulls" && m == http.MethodGet:
		if p := s.pull(w, rest[1]); p != nil {
			writeJSON(w, http.StatusOK, s.pullJSON(p))
		}
	case len(rest) == 2 && rest[0] == "pulls" && m == http.MethodPatch:
		if p := s.pull(w, rest[1]); p != nil {
			s.updatePull(w, r, p)
		}
	case len(rest) == 3 && rest[0] == "pulls" && rest[2] == "reviews" && m == http.MethodGet:
		if p := s.pull(w, rest[1]); p != nil {
			s.listReviews(w, r, p.Number)
		}
	case len(rest) == 3 && rest[0] == "issues" && rest[1] == "comments" && m == http.MethodPatch:
		s.updateComment(w, r, rest[2])
	case len(rest) == 3 && rest[0] == "issues" && rest[2] == "comments" && m == http.MethodGet:
		if p := s.pull(w, rest[1]); p != nil {
			s.listComments(w, r, p.Number)
		}
	case len(rest) == 3 && rest[0] == "issues" && rest[2] == "comments" && m == http.MethodPost:
		if p := s.pull(w, rest[1]); p != nil {
			s.createComment(w, r, p)
		}
	case len(rest) == 3 && rest[0] == "issues" && rest[2] == "labels" && m == http.MethodPost:
		if p := s.pull(w, rest[1]); p != nil {
			s.addLabels(w, r, p)
		}
	case len(rest) == 2 && rest[0] == "statuses" && m == http.MethodPost:
		s.createStatus(w, r, rest[1])
	case len(rest) == 3 && rest[0] == "commits" && rest[2] == "status" && m == http.MethodGet:
		s.combinedStatus(w, r, rest[1])
	case len(rest) == 3 && rest[0] == "commits" && rest[2] == "statuses" && m == http.MethodGet:
		s.listStatuses(w, r, rest[1])
	case len(rest) == 3 && rest[0] == "commits" && rest[2] == "pulls" && m == http.MethodGet:
		s.commitPulls(w, r, rest[1])
	case len(rest) == 1 && rest[0] == "deployments" && m == http.MethodPost:
		s.createDeployment(w, r)
	case len(rest) == 3 && rest[0] == "deployments" && rest[2] == "statuses" && m == http.MethodPost:
		s.createDeploymentStatus(w, r, rest[1])
	case len(rest) == 1 && rest[0] == "dispatches" && m == http.MethodPost:
		s.dispatch(w, r)
	default:
		s.unexpected(w, r)
	}
}

// decode reads a JSON body into v, answering 400 like GitHub when it cannot.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(r.Body); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	if err := json.Unmarshal(buf.Bytes(), v); err != nil {
		writeError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

// page slices n items by the per_page and page query parameters and sets
// the Link header GitHub sends.
func (s *Server) page(w http.ResponseWriter, r *http.Request, n int) (lo, hi int) {
	q := r.URL.Query()
	per, err := strconv.Atoi(q.Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	if per > 100 {
		per = 100
	}
	pg, err := strconv.Atoi(q.Get("page"))
	if err != nil || pg <= 0 {
		pg = 1
	}
	last := (n + per - 1) / per
	if last == 0 {
		last = 1
	}
	link := func(p int, rel string) string {
		u := *r.URL
		qq := u.Query()
		qq.Set("page", strconv.Itoa(p))
		qq.Set("per_page", strconv.Itoa(per))
		u.RawQuery = qq.Encode()
		return fmt.Sprintf("<%s%s>; rel=%q", s.URL, u.RequestURI(), rel)
	}
	var links []string
	if pg < last {
		links = append(links, link(pg+1, "next"), link(last, "last"))
	}
	if pg > 1 {
		links = append(links, link(1, "first"), link(pg-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	lo, hi = (pg-1)*per, pg*per
	if lo > n {
		lo = n
	}
	if hi > n {
		hi = n
	}
	return lo, hi
}

func (s *Server) userJSON(login string) map[string]any {
	var id int
	for _, c := range login {
		id = id*31 + int(c)
	}
	if id < 0 {
		id = -id
	}
	return map[string]any{
		"login": login, "id": id, "node_id": "U_" + login, "type": "User", "site_admin": false,
		"url":        s.URL + "/users/" + login,
		"html_url":   s.URL + "/" + login,
		"avatar_url": s.URL + "/avatars/" + login,
	}
}

func (s *Server) repoJSON() map[string]any {
	full := s.FullName()
	return map[string]any{
		"id": 1296269, "node_id": "R_1", "name": s.Repo, "full_name": full,
		"owner": s.userJSON(s.Owner), "private": false, "fork": false,
		"html_url":       s.URL + "/" + full,
		"url":            s.URL + "/repos/" + full,
		"clone_url":      s.URL + "/" + full + ".git",
		"default_branch": "main",
		"visibility":     "public",
		"permissions":    map[string]bool{"admin": false, "push": true, "pull": true},
	}
}

func ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *Server) labelsJSON(names []string) []map[string]any {
	out := make([]map[string]any, 0, len(names))
	for i, n := range names {
		out = append(out, map[string]any{
			"id": 1000 + i, "node_id": "LA_" + n, "name": n, "color": "ededed", "default": false,
			"url": s.URL + "/repos/" + s.FullName() + "/labels/" + n,
		})
	}
	return out
}

func (s *Server) pullJSON(p *pullState) map[string]any {
	full := s.FullName()
	base := s.URL + "/repos/" + full
	ref := func(branch, sha string) map[string]any {
		return map[string]any{
			"label": s.Owner + ":" + branch, "ref": branch, "sha": sha,
			"user": s.userJSON(s.Owner), "repo": s.repoJSON(),
		}
	}
	n := 0
	for _, c := range s.comments {
		if c.Issue == p.Number {
			n++
		}
	}
	return map[string]any{
		"url":                fmt.Sprintf("%s/pulls/%d", base, p.Number),
		"id":                 p.id,
		"node_id":            fmt.Sprintf("PR_%d", p.id),
		"html_url":           fmt.Sprintf("%s/%s/pull/%d", s.URL, full, p.Number),
		"issue_url":          fmt.Sprintf("%s/issues/%d", base, p.Number),
		"comments_url":       fmt.Sprintf("%s/issues/%d/comments", base, p.Number),
		"statuses_url":       fmt.Sprintf("%s/statuses/%s", base, p.HeadSHA),
		"number":             p.Number,
		"state":              p.State,
		"locked":             false,
		"title":              p.Title,
		"body":               p.Body,
		"user":               s.userJSON(p.Author),
		"labels":             s.labelsJSON(p.Labels),
		"created_at":         ts(p.createdAt),
		"updated_at":         ts(p.updatedAt),
		"closed_at":          ts(p.ClosedAt),
		"merged_at":          ts(p.MergedAt),
		"merge_commit_sha":   mergeSHA(p),
		"draft":              false,
		"merged":             p.MergeSHA != "",
		"comments":           n,
		"head":               ref(p.Head, p.HeadSHA),
		"base":               ref(p.Base, p.BaseSHA),
		"author_association": "CONTRIBUTOR",
	}
}

func (s *Server) pull(w http.ResponseWriter, num string) *pullState {
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > len(s.pulls) {
		writeError(w, http.StatusNotFound, "Not Found")
		return nil
	}
	return s.pulls[n-1]
}

func (s *Server) now() time.Time {
	s.nextID++
	return epoch.Add(time.Duration(s.nextID) * time.Second)
}

// headBranch parses "owner:branch" or "branch"; ok is false for a fork.
func (s *Server) headBranch(head string) (string, bool) {
	if o, b, found := strings.Cut(head, ":"); found {
		return b, o == s.Owner
	}
	return head, true
}

func (s *Server) listPulls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state := q.Get("state")
	if state == "" {
		state = "open"
	}
	var head string
	if h := q.Get("head"); h != "" {
		b, ok := s.headBranch(h)
		if !ok {
			writeJSON(w, http.StatusOK, []any{})
			return
		}
		head = b
	}
	var match []*pullState
	for i := len(s.pulls) - 1; i >= 0; i-- { // default sort: created, desc
		p := s.pulls[i]
		if (state != "all" && p.State != state) || (head != "" && p.Head != head) ||
			(q.Get("base") != "" && p.Base != q.Get("base")) {
			continue
		}
		match = append(match, p)
	}
	lo, hi := s.page(w, r, len(match))
	out := make([]any, 0, hi-lo)
	for _, p := range match[lo:hi] {
		out = append(out, s.pullJSON(p))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) branchSHA(branch string) (string, bool, error) {
	if s.branches == nil {
		return "", true, nil
	}
	bs, err := s.branches()
	if err != nil {
		return "", false, err
	}
	sha, ok := bs[branch]
	return sha, ok, nil
}

func (s *Server) createPull(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Title string `json:"title"`
		Head  string `json:"head"`
		Base  string `json:"base"`
		Body  string `json:"body"`
		Draft bool   `json:"draft"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Title == "" || in.Head == "" || in.Base == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			apiError{Resource: "PullRequest", Field: "title", Code: "missing_field"})
		return
	}
	head, same := s.headBranch(in.Head)
	sha, ok, err := s.branchSHA(head)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	if !same || !ok {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			apiError{Resource: "PullRequest", Field: "head", Code: "invalid"})
		return
	}
	if _, ok, _ := s.branchSHA(in.Base); !ok {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			apiError{Resource: "PullRequest", Field: "base", Code: "invalid"})
		return
	}
	for _, p := range s.pulls {
		if p.State == "open" && p.Head == head && p.Base == in.Base {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed", apiError{
				Resource: "PullRequest", Code: "custom",
				Message: fmt.Sprintf("A pull request already exists for %s:%s.", s.Owner, head),
			})
			return
		}
	}
	now := s.now()
	p := &pullState{
		PullRequest: PullRequest{
			Number: len(s.pulls) + 1, Title: in.Title, Body: in.Body, State: "open",
			Head: head, HeadSHA: sha, Base: in.Base, Author: s.Login,
		},
		id: 5000 + s.nextID, createdAt: now, updatedAt: now,
	}
	s.pulls = append(s.pulls, p)
	w.Header().Set("Location", fmt.Sprintf("%s/repos/%s/pulls/%d", s.URL, s.FullName(), p.Number))
	writeJSON(w, http.StatusCreated, s.pullJSON(p))
}

func (s *Server) updatePull(w http.ResponseWriter, r *http.Request, p *pullState) {
	var in struct {
		Title *string `json:"title"`
		Body  *string `json:"body"`
		State *string `json:"state"`
		Base  *string `json:"base"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.State != nil && *in.State != "open" && *in.State != "closed" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			apiError{Resource: "PullRequest", Field: "state", Code: "invalid"})
		return
	}
	if in.State != nil && *in.State == "open" && p.State == "closed" {
		for _, o := range s.pulls {
			if o != p && o.State == "open" && o.Head == p.Head && o.Base == p.Base {
				writeError(w, http.StatusUnprocessableEntity, "Validation Failed", apiError{
					Resource: "PullRequest", Code: "custom",
					Message: fmt.Sprintf("A pull request already exists for %s:%s.", s.Owner, p.Head),
				})
				return
			}
		}
	}
	now := s.now()
	if in.Title != nil {
		p.Title = *in.Title
	}
	if in.Body != nil {
		p.Body = *in.Body
	}
	if in.Base != nil {
		p.Base = *in.Base
	}
	if in.State != nil && *in.State != p.State {
		p.State = *in.State
		if p.State == "closed" {
			p.ClosedAt = now
		} else {
			p.ClosedAt = time.Time{}
		}
	}
	if p.State == "open" {
		if sha, ok, err := s.branchSHA(p.Head); err == nil && ok && sha != "" {
			p.HeadSHA = sha
		}
	}
	p.updatedAt = now
	writeJSON(w, http.StatusOK, s.pullJSON(p))
}

func (s *Server) reviewJSON(rv *Review) map[string]any {
	full := s.FullName()
	return map[string]any{
		"id": rv.ID, "node_id": fmt.Sprintf("PRR_%d", rv.ID),
		"user": s.userJSON(rv.User), "body": rv.Body, "state": rv.State,
		"commit_id":          rv.CommitID,
		"submitted_at":       ts(rv.At),
		"author_association": "MEMBER",
		"html_url":           fmt.Sprintf("%s/%s/pull/%d#pullrequestreview-%d", s.URL, full, rv.Number, rv.ID),
		"pull_request_url":   fmt.Sprintf("%s/repos/%s/pulls/%d", s.URL, full, rv.Number),
	}
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request, number int) {
	var match []*Review
	for _, rv := range s.reviews {
		if rv.Number == number {
			match = append(match, rv)
		}
	}
	lo, hi := s.page(w, r, len(match))
	out := make([]any, 0, hi-lo)
	for _, rv := range match[lo:hi] {
		out = append(out, s.reviewJSON(rv))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) commentJSON(c *Comment) map[string]any {
	full := s.FullName()
	at := ts(epoch.Add(time.Duration(c.ID) * time.Second))
	return map[string]any{
		"id": c.ID, "node_id": fmt.Sprintf("IC_%d", c.ID), "body": c.Body,
		"user":               s.userJSON(c.Author),
		"created_at":         at,
		"updated_at":         at,
		"author_association": "CONTRIBUTOR",
		"url":                fmt.Sprintf("%s/repos/%s/issues/comments/%d", s.URL, full, c.ID),
		"html_url":           fmt.Sprintf("%s/%s/pull/%d#issuecomment-%d", s.URL, full, c.Issue, c.ID),
		"issue_url":          fmt.Sprintf("%s/repos/%s/issues/%d", s.URL, full, c.Issue),
	}
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request, number int) {
	var match []*Comment
	for _, c := range s.comments {
		if c.Issue == number {
			match = append(match, c)
		}
	}
	lo, hi := s.page(w, r, len(match))
	out := make([]any, 0, hi-lo)
	for _, c := range match[lo:hi] {
		out = append(out, s.commentJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

// maxBody is GitHub's limit on the length of a comment or pull request body.
const maxBody = 65536

func (s *Server) createComment(w http.ResponseWriter, r *http.Request, p *pullState) {
	var in struct {
		Body *string `json:"body"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Body == nil || *in.Body == "" {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			apiError{Resource: "IssueComment", Field: "body", Code: "missing_field"})
		return
	}
	if len([]rune(*in.Body)) > maxBody {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			apiError{Resource: "IssueComment", Field: "body", Code: "custom", Message: "body is too long (maximum is 65536 characters)"})
		return
	}
	s.nextID++
	c := &Comment{ID: s.nextID, Issue: p.Number, Body: *in.Body, Author: s.Login}
	s.comments = append(s.comments, c)
	writeJSON(w, http.StatusCreated, s.commentJSON(c))
}

func (s *Server) updateComment(w http.ResponseWriter, r *http.Request, idStr string) {
	id, err := strconv.ParseInt(idStr, 10, 64)
	var c *Comment
	for _, cc := range s.comments {
		if err == nil && cc.ID == id {
			c = cc
		}
	}
	if c == nil {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	var in struct {
		Body *string `json:"body"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Body == nil || *in.Body == "" || len([]rune(*in.Body)) > maxBody {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			apiError{Resource: "IssueComment", Field: "body", Code: "invalid"})
		return
	}
	c.Body = *in.Body
	writeJSON(w, http.StatusOK, s.commentJSON(c))
}

func (s *Server) addLabels(w http.ResponseWriter, r *http.Request, p *pullState) {
	var raw json.RawMessage
	if !decode(w, r, &raw) {
		return
	}
	var names []string
	if err := json.Unmarshal(raw, &names); err != nil {
		var obj struct {
			Labels []string `json:"labels"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			writeError(w, http.StatusBadRequest, "Problems parsing JSON")
			return
		}
		names = obj.Labels
	}
	for _, n := range names {
		if n == "" {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
				apiError{Resource: "Label", Field: "name", Code: "missing_field"})
			return
		}
		found := false
		for _, l := range p.Labels {
			found = found || l == n
		}
		if !found {
			p.Labels = append(p.Labels, n)
		}
	}
	writeJSON(w, http.StatusOK, s.labelsJSON(p.Labels))
}

func (s *Server) statusJSON(st *Status) map[string]any {
	at := ts(epoch.Add(time.Duration(st.ID) * time.Second))
	return map[string]any{
		"id": st.ID, "node_id": fmt.Sprintf("SC_%d", st.ID), "state": st.State,
		"description": st.Description, "target_url": st.TargetURL, "context": st.Context,
		"url":        fmt.Sprintf("%s/repos/%s/statuses/%s", s.URL, s.FullName(), st.SHA),
		"avatar_url": nil, "created_at": at, "updated_at": at,
		"creator": s.userJSON(s.Login),
	}
}

func (s *Server) createStatus(w http.ResponseWriter, r *http.Request, sha string) {
	var in struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}
	if !decode(w, r, &in) {
		return
	}
	switch in.State {
	case "error", "failure", "pending", "success":
	default:
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			apiError{Resource: "Status", Field: "state", Code: "invalid"})
		return
	}
	if in.Context == "" {
		in.Context = "default"
	}
	s.nextID++
	st := &Status{ID: s.nextID, SHA: sha, State: in.State, Context: in.Context,
		Description: in.Description, TargetURL: in.TargetURL}
	s.statuses = append(s.statuses, st)
	writeJSON(w, http.StatusCreated, s.statusJSON(st))
}

// latestStatuses returns the newest status per context for sha, newest first.
func (s *Server) latestStatuses(sha string) []*Status {
	seen := map[string]bool{}
	var out []*Status
	for i := len(s.statuses) - 1; i >= 0; i-- {
		st := s.statuses[i]
		if st.SHA != sha || seen[st.Context] {
			continue
		}
		seen[st.Context] = true
		out = append(out, st)
	}
	return out
}

func (s *Server) combinedStatus(w http.ResponseWriter, r *http.Request, sha string) {
	latest := s.latestStatuses(sha)
	state := "success"
	if len(latest) == 0 {
		state = "pending"
	}
	for _, st := range latest {
		switch st.State {
		case "error", "failure":
			state = "failure"
		case "pending":
			if state != "failure" {
				state = "pending"
			}
		}
	}
	sort.SliceStable(latest, func(i, j int) bool { return latest[i].ID < latest[j].ID })
	sts := make([]any, 0, len(latest))
	for _, st := range latest {
		sts = append(sts, s.statusJSON(st))
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"state": state, "sha": sha, "total_count": len(sts), "statuses": sts,
		"repository": s.repoJSON(),
		"commit_url": fmt.Sprintf("%s/repos/%s/commits/%s", s.URL, s.FullName(), sha),
		"url":        fmt.Sprintf("%s/repos/%s/commits/%s/status", s.URL, s.FullName(), sha),
	})
}

func (s *Server) listStatuses(w http.ResponseWriter, r *http.Request, sha string) {
	var match []*Status
	for i := len(s.statuses) - 1; i >= 0; i-- {
		if s.statuses[i].SHA == sha {
			match = append(match, s.statuses[i])
		}
	}
	lo, hi := s.page(w, r, len(match))
	out := make([]any, 0, hi-lo)
	for _, st := range match[lo:hi] {
		out = append(out, s.statusJSON(st))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) {
	var in struct {
		EventType     string          `json:"event_type"`
		ClientPayload json.RawMessage `json:"client_payload"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.EventType == "" || len(in.EventType) > 100 {
		writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
			apiError{Resource: "Repository", Field: "event_type", Code: "invalid"})
		return
	}
	if len(in.ClientPayload) > 0 {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(in.ClientPayload, &obj); err != nil || len(obj) > 10 {
			writeError(w, http.StatusUnprocessableEntity, "Validation Failed",
				apiError{Resource: "Repository", Field: "client_payload", Code: "invalid"})
			return
		}
	}
	s.dispatches = append(s.dispatches, Dispatch{EventType: in.EventType, Payload: in.ClientPayload})
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) teamMembers(w http.ResponseWriter, r *http.Request, org, slug string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	members, ok := s.teams[org+"/"+slug]
	if !ok {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	lo, hi := s.page(w, r, len(members))
	out := make([]any, 0, hi-lo)
	for _, m := range members[lo:hi] {
		out = append(out, s.userJSON(m))
	}
	writeJSON(w, http.StatusOK, out)
}

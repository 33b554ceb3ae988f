package githubtest

import (
	"net/http"
	"strings"
)

// MergePull merges pull request number as GitHub's merge button does: the
// pull request is closed, merged, with mergeSHA as its merge_commit_sha
// (the merge or squash commit on the base branch) and baseSHA as its
// base's sha. It fails the test for an unknown number.
func (s *Server) MergePull(number int, baseSHA, mergeSHA string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if number < 1 || number > len(s.pulls) {
		s.t.Errorf("githubtest: MergePull: no pull request #%d", number)
		return
	}
	p := s.pulls[number-1]
	now := s.now()
	p.State, p.ClosedAt, p.MergedAt, p.updatedAt = "closed", now, now, now
	p.BaseSHA, p.MergeSHA = baseSHA, mergeSHA
}

// mergeSHA is a pull request's merge_commit_sha: null until it is merged
// (GitHub sets a test merge commit on open pull requests; Cairn reads it
// only from merged ones).
func mergeSHA(p *pullState) any {
	if p.MergeSHA == "" {
		return nil
	}
	return p.MergeSHA
}

// commitPulls answers GET /repos/{o}/{r}/commits/{sha}/pulls: the merged
// pull request that brought sha to the base branch (its merge commit), and
// the open pull requests whose head is sha, as GitHub lists them.
func (s *Server) commitPulls(w http.ResponseWriter, r *http.Request, sha string) {
	var match []*pullState
	for _, p := range s.pulls {
		if strings.EqualFold(p.MergeSHA, sha) || (p.State == "open" && strings.EqualFold(p.HeadSHA, sha)) {
			match = append(match, p)
		}
	}
	lo, hi := s.page(w, r, len(match))
	out := make([]any, 0, hi-lo)
	for _, p := range match[lo:hi] {
		out = append(out, s.pullJSON(p))
	}
	writeJSON(w, http.StatusOK, out)
}

// OpenPull opens a pull request from branch head into base by author, with
// headSHA as its head commit, and returns its number.
func (s *Server) OpenPull(title, head, base, author, headSHA string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	p := &pullState{
		PullRequest: PullRequest{Number: len(s.pulls) + 1, Title: title, State: "open",
			Head: head, HeadSHA: headSHA, Base: base, Author: author},
		id: 5000 + s.nextID, createdAt: now, updatedAt: now,
	}
	s.pulls = append(s.pulls, p)
	return p.Number
}

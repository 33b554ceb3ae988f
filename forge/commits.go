package forge

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-github/v62/github"
)

// MergedPR returns the merged pull request whose merge commit (a merge or
// a squash) is sha, through GET /repos/{o}/{r}/commits/{sha}/pulls; nil
// when none is, as for a direct push. A pull request that merely contains
// sha, or is open with it as its head, is not the one that brought it.
func (c *Client) MergedPR(ctx context.Context, sha string) (_ *PR, err error) {
	defer func() { err = c.mask(err) }()
	opts := &github.ListOptions{PerPage: 100}
	for {
		prs, resp, err := c.gh.PullRequests.ListPullRequestsWithCommit(ctx, c.owner, c.repo, sha, opts)
		if err != nil {
			return nil, fmt.Errorf("listing pull requests of commit %s: %w", sha, err)
		}
		for _, p := range prs {
			if p.GetMergedAt().IsZero() || !strings.EqualFold(p.GetMergeCommitSHA(), sha) {
				continue
			}
			pr := toPR(p)
			pr.Merged = true // the list omits "merged"; merged_at says it
			return &pr, nil
		}
		if resp.NextPage == 0 {
			return nil, nil
		}
		opts.Page = resp.NextPage
	}
}

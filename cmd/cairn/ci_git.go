package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/cairnops/cairn/forge"
)

// ensureCommit makes sure rev (a commit sha, or any revision) can be read
// from repo. A full sha missing from a shallow or single-branch checkout is
// fetched from origin: first by sha at depth 1, then, for servers that do
// not serve unadvertised commits, the branch baseRef at depth 1, 50 and in
// full until the commit is there. token, when
// set, authenticates an http(s) origin as forge.GitAuth does.
func ensureCommit(ctx context.Context, repo *git.Repository, rev, baseRef, token string) error {
	if h, err := repo.ResolveRevision(plumbing.Revision(rev)); err == nil {
		if _, err := repo.CommitObject(*h); err == nil {
			return nil
		}
	}
	if !plumbing.IsHash(rev) {
		return fmt.Errorf("base %s: not in the repository and not a commit sha to fetch", rev)
	}
	var auth transport.AuthMethod
	if origin, err := repo.Remote("origin"); err == nil && len(origin.Config().URLs) > 0 {
		auth = forge.GitAuth(origin.Config().URLs[0], token)
	}
	fetch := func(spec string, depth int) error {
		err := repo.FetchContext(ctx, &git.FetchOptions{
			RemoteName: "origin",
			RefSpecs:   []config.RefSpec{config.RefSpec(spec)},
			Depth:      depth,
			Auth:       auth,
			Tags:       git.NoTags,
		})
		if errors.Is(err, git.NoErrAlreadyUpToDate) {
			return nil
		}
		return err
	}
	have := func() bool {
		_, err := repo.CommitObject(plumbing.NewHash(rev))
		return err == nil
	}
	err := fetch(rev+":refs/cairn/base", 1)
	if err == nil && have() {
		return nil
	}
	if baseRef != "" {
		// The branch's tip is usually the base; deepen when the branch has
		// moved on. A shallow fetch also makes the server send commits that
		// are ancestors of what a shallow clone already holds.
		for _, depth := range []int{1, 50, 0} {
			err2 := fetch("+refs/heads/"+baseRef+":refs/remotes/origin/"+baseRef, depth)
			if err2 == nil && have() {
				return nil
			}
			if err2 != nil {
				err = err2
			}
		}
	}
	if err == nil {
		err = errors.New("not found on origin")
	}
	return fmt.Errorf("fetching base %s from origin: %s", rev, forge.MaskToken(err.Error(), token))
}

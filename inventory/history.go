package inventory

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"path"
	"strings"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// ModelRevision is a model as one commit of its repository has it.
type ModelRevision struct {
	// Commit is the commit the inventory was read at.
	Commit *object.Commit
	// Model is the model evaluated at Commit, valid; nil when the commit
	// has no folder for it (not yet created, or deleted).
	Model *Model
	// Stages is the inventory's stage order at Commit; nil when its
	// inventory.cue has problems.
	Stages []string
}

// ModelHistory returns the commits reachable from src's revision (HEAD for
// the working tree) that changed model's folder or the defaults every model
// unifies with (models/*.cue), newest first by committer time, each with the
// model evaluated there, read with go-git without a checkout. Paths are
// joined to src.Prefix, so an inventory in a subfolder of its repository
// reads its own history. A commit without the inventory (no inventory.cue, no
// prefix folder) or at which the model does not evaluate is passed over. At
// most limit commits are read, passed-over ones included; 0 reads them all.
//
// The sequence yields one non-nil error and ends when the history cannot be
// read or the model cannot be evaluated at a commit; ErrNotRepository
// (wrapped) when src has no repository. Stopping early is cheap: commits
// are evaluated as they are yielded. opts tunes each evaluation (its
// Isolate bounds it); its Only and Workers are set here.
func ModelHistory(ctx context.Context, src *Source, model string, limit int, opts Options) iter.Seq2[ModelRevision, error] {
	return func(yield func(ModelRevision, error) bool) {
		fail := func(err error) { yield(ModelRevision{}, err) }
		if src.Repo == nil {
			fail(fmt.Errorf("history of %s: %s: %w", model, src.Dir, ErrNotRepository))
			return
		}
		repo, closeRepo, err := ownRepository(src.Repo)
		if err != nil {
			fail(fmt.Errorf("history of %s: %w", model, err))
			return
		}
		defer closeRepo()
		from, err := src.head(repo)
		if err != nil {
			fail(err)
			return
		}
		// Its first object read lists the packfiles; the walk then reads
		// nothing newer than what that listing found.
		if _, err := repo.CommitObject(from); reindexed(repo.Storer, err) {
			if _, err := repo.CommitObject(from); err != nil {
				fail(fmt.Errorf("reading history of %s: %w", model, err))
				return
			}
		}
		dir := src.RepoPath(path.Join(ModelsDir, model)) + "/"
		models := src.RepoPath(ModelsDir)
		commits, err := repo.Log(&git.LogOptions{From: from, Order: git.LogOrderCommitterTime, PathFilter: func(p string) bool {
			return strings.HasPrefix(p, dir) || (path.Dir(p) == models && strings.HasSuffix(p, ".cue"))
		}})
		if err != nil {
			fail(fmt.Errorf("reading history of %s: %w", dir, err))
			return
		}
		defer commits.Close()
		n := 0
		var evalErr error
		err = commits.ForEach(func(c *object.Commit) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if n++; limit > 0 && n > limit {
				return storer.ErrStop
			}
			rev, ok, err := src.modelAt(ctx, repo, c, model, opts)
			if err != nil {
				evalErr = err
				return storer.ErrStop
			}
			if ok && !yield(rev, nil) {
				return storer.ErrStop
			}
			return nil
		})
		switch {
		case evalErr != nil:
			fail(evalErr)
		case err != nil:
			fail(fmt.Errorf("reading history of %s: %w", dir, err))
		}
	}
}

// ownRepository returns a repository over repo's objects that no other
// goroutine reads, and the function that closes it. go-git's storages are
// not safe for concurrent use, and a history is read beside other work on
// the same repository: the daemon's pages read one while its loop fetches
// into the clone. What the walk loads into it (the indexes of every
// packfile, decoded objects) goes with it, not with repo. A repository in
// memory is repo itself.
func ownRepository(repo *git.Repository) (*git.Repository, func(), error) {
	st, ok := repo.Storer.(*filesystem.Storage)
	if !ok {
		return repo, func() {}, nil
	}
	var work billy.Filesystem
	if wt, err := repo.Worktree(); err == nil {
		work = wt.Filesystem // OpenCommit finds the inventory's folder from it
	}
	own := filesystem.NewStorageWithOptions(st.Filesystem(), cache.NewObjectLRU(historyCache), filesystem.Options{KeepDescriptors: true})
	r, err := git.Open(own, work)
	if err != nil {
		own.Close()
		return nil, nil, fmt.Errorf("opening the repository: %w", err)
	}
	return r, func() { own.Close() }, nil
}

// historyCache bounds the decoded commits and trees a history walk keeps:
// each commit's trees are compared with its parent's.
const historyCache = 8 * cache.MiByte

// head is the commit src was read at, or repo's HEAD for the working tree.
func (s *Source) head(repo *git.Repository) (plumbing.Hash, error) {
	if s.Commit != nil {
		return s.Commit.Hash, nil
	}
	head, err := repo.Head()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("reading HEAD: %w", err)
	}
	return head.Hash(), nil
}

// modelAt evaluates model at commit c of s's repository; ok is false when
// the inventory is absent there or the model does not evaluate.
func (s *Source) modelAt(ctx context.Context, repo *git.Repository, c *object.Commit, model string, opts Options) (ModelRevision, bool, error) {
	short := c.Hash.String()[:12]
	at, err := OpenCommit(ctx, repo, s.Dir, c.Hash.String())
	if errors.Is(err, ErrNoInventory) {
		return ModelRevision{}, false, nil
	}
	if err != nil {
		return ModelRevision{}, false, fmt.Errorf("reading %s at %s: %w", model, short, err)
	}
	// Its storages go now, not when the garbage collector finds them.
	defer at.Release()
	opts.Only, opts.Workers = []string{model}, 1
	inv, err := Load(ctx, at, opts)
	if errors.Is(err, ErrNoInventory) {
		return ModelRevision{}, false, nil
	}
	if err != nil {
		return ModelRevision{}, false, fmt.Errorf("evaluating %s at %s: %w", model, short, err)
	}
	rev := ModelRevision{Commit: c, Model: inv.Model(model)}
	if rev.Model != nil && !rev.Model.Valid {
		return ModelRevision{}, false, nil
	}
	if inv.SettingsOK {
		rev.Stages = inv.Settings.Stages
	}
	return rev, true, nil
}

package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/inventory"
)

// source is where the daemon reads the inventory from.
type source interface {
	// start prepares the source (clone, watches).
	start(ctx context.Context, log *slog.Logger) error
	// latest fetches and returns the newest revision.
	latest(ctx context.Context) (*inventory.Source, error)
	// events delivers file events to debounce; nil for a remote.
	events() <-chan struct{}
	// polls reports whether the interval ticker should trigger a fetch.
	polls() bool
	// release drops what reading revisions loaded into the source's own
	// storage. Only the daemon's loop calls it, between reconciles.
	release()
	// reading is held by a read beside the loop (a page's model history)
	// while it reads the source's objects: packfiles merged into another
	// meanwhile are deleted only once no such read holds it. It returns
	// the function that lets go.
	reading() (done func())
	close()
}

// newSource returns a local source for an existing directory and a remote
// source for anything else.
func newSource(opts Options) (source, error) {
	if fi, err := os.Stat(opts.Repo); err == nil && fi.IsDir() {
		dir, err := filepath.Abs(opts.Repo)
		if err != nil {
			return nil, err
		}
		return &localSource{dir: dir, ch: make(chan struct{}, 1)}, nil
	}
	if u, err := url.Parse(opts.Repo); err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("repository %q: neither a directory nor a URL", opts.Repo)
	}
	return &remoteSource{url: opts.Repo, branch: opts.Branch, dir: filepath.Join(opts.StateDir, "repo")}, nil
}

// Bounds of the clone's memory and disk, for a daemon that runs for months.
const (
	// objectCache bounds go-git's cache of decoded objects (its default is
	// 96 MiB per repository).
	objectCache = 8 * cache.MiByte
	// maxPacks is how many packfiles the clone may hold before they are
	// merged into one: every fetch adds one, and go-git keeps the index of
	// each in memory.
	maxPacks = 16
)

// remoteSource is a bare clone in <state dir>/repo, fetched on demand. The
// inventory is read from the branch tip's objects: there is no work tree.
type remoteSource struct {
	url, branch, dir string
	repo             *git.Repository
	cache            cache.Object // the repo's object cache

	// reads is held for reading by reads beside the loop, and for writing
	// while merged packfiles are deleted.
	reads sync.RWMutex
	// stale are packfiles merged into another, still on disk because a
	// read held reads when they were merged.
	stale []plumbing.Hash
}

func (r *remoteSource) tracking() plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName("origin", r.branch)
}

// storage returns the clone's object storage with a bounded object cache.
func (r *remoteSource) storage() *filesystem.Storage {
	r.cache = cache.NewObjectLRU(objectCache)
	return filesystem.NewStorageWithOptions(osfs.New(r.dir), r.cache, filesystem.Options{})
}

func (r *remoteSource) start(ctx context.Context, log *slog.Logger) error {
	repo, err := git.Open(r.storage(), nil)
	if errors.Is(err, git.ErrRepositoryNotExists) {
		log.Info("cloning", "repo", maskURL(r.url), "dir", r.dir)
		repo, err = git.CloneContext(ctx, r.storage(), nil, &git.CloneOptions{
			URL: r.url, ReferenceName: plumbing.NewBranchReferenceName(r.branch),
			SingleBranch: true, Tags: git.NoTags,
		})
		if err != nil {
			_ = os.RemoveAll(r.dir)
			return fmt.Errorf("cloning %s: %s", maskURL(r.url), maskURL(err.Error()))
		}
	} else if err != nil {
		return fmt.Errorf("opening %s: %w", r.dir, err)
	}
	// A restart with another --repo follows the new URL.
	if rem, err := repo.Remote("origin"); err != nil || len(rem.Config().URLs) == 0 || rem.Config().URLs[0] != r.url {
		_ = repo.DeleteRemote("origin")
		if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.url}}); err != nil {
			return fmt.Errorf("setting origin of %s: %w", r.dir, err)
		}
	}
	r.repo = repo
	return nil
}

func (r *remoteSource) latest(ctx context.Context) (*inventory.Source, error) {
	spec := config.RefSpec("+" + plumbing.NewBranchReferenceName(r.branch).String() + ":" + r.tracking().String())
	err := r.repo.FetchContext(ctx, &git.FetchOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil, errors.New(maskURL(err.Error()))
	}
	if err == nil {
		if err := r.compact(); err != nil {
			return nil, err
		}
	}
	ref, err := r.repo.Reference(r.tracking(), true)
	if err != nil {
		return nil, fmt.Errorf("branch %s: %w", r.branch, err)
	}
	return inventory.OpenCommit(ctx, r.repo, r.dir, ref.Hash().String())
}

// compact merges the clone's packfiles into one once there are more than
// maxPacks, and opens the clone again, so that the in-memory indexes of
// the packs it replaced are dropped with the old storage. The merged packs
// are deleted at once unless a read beside the loop is reading them (then
// at a later sweep, after the read). The loop's own revisions read before
// load the indexes again once release dropped them; until then a read of
// a deleted pack fails with an error rather than reading a torn object.
func (r *remoteSource) compact() error {
	pos, ok := r.repo.Storer.(storer.PackedObjectStorer)
	if !ok {
		return nil
	}
	if err := r.sweep(); err != nil {
		return err
	}
	packs, err := pos.ObjectPacks()
	if err != nil || len(packs)-len(r.stale) <= maxPacks {
		return err
	}
	// go-git deletes the packs it merged unless they are newer than
	// OnlyDeletePacksOlderThan: at the epoch, it deletes none, and sweep
	// does once no read beside the loop is reading them.
	if err := r.repo.RepackObjects(&git.RepackConfig{OnlyDeletePacksOlderThan: time.Unix(1, 0)}); err != nil {
		return fmt.Errorf("repacking %s: %w", r.dir, err)
	}
	after, err := pos.ObjectPacks()
	if err != nil {
		return err
	}
	// Every pack there was before is merged into the new one. Should the
	// new one be none of after's (the same as an old one), none is stale.
	if slices.ContainsFunc(after, func(h plumbing.Hash) bool { return !slices.Contains(packs, h) }) {
		for _, h := range packs {
			if !slices.Contains(r.stale, h) {
				r.stale = append(r.stale, h)
			}
		}
	}
	repo, err := git.Open(r.storage(), nil)
	if err != nil {
		return fmt.Errorf("opening %s: %w", r.dir, err)
	}
	r.repo = repo
	return r.sweep()
}

// sweep deletes the stale packfiles unless a read beside the loop holds
// reads; then they wait for the next sweep.
func (r *remoteSource) sweep() error {
	if len(r.stale) == 0 || !r.reads.TryLock() {
		return nil
	}
	defer r.reads.Unlock()
	pos, ok := r.repo.Storer.(storer.PackedObjectStorer)
	if !ok {
		return nil
	}
	for len(r.stale) > 0 {
		if err := pos.DeleteOldObjectPackAndIndex(r.stale[0], time.Time{}); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("deleting a merged packfile of %s: %w", r.dir, err)
		}
		r.stale = r.stale[1:]
	}
	return nil
}

func (r *remoteSource) reading() func() {
	r.reads.RLock()
	return r.reads.RUnlock
}

// release drops the indexes of the clone's packfiles, about 80 bytes per
// object of its whole history, and its cached objects: the next fetch
// loads them again. Only the loop reads r.repo (a model's history reads
// through a storage of its own, inventory.ModelHistory), so nothing reads
// them meanwhile.
func (r *remoteSource) release() {
	_ = r.sweep() // what fails now is tried at the next fetch, which reports it
	dropIndexes(r.repo)
	r.cache.Clear()
}

// dropIndexes drops the indexes of the packfiles that repo's storage
// loaded; its next read loads them again.
func dropIndexes(repo *git.Repository) {
	if st, ok := repo.Storer.(*filesystem.Storage); ok {
		st.Reindex()
	}
}

func (r *remoteSource) events() <-chan struct{} { return nil }
func (r *remoteSource) polls() bool             { return true }
func (r *remoteSource) close()                  {}

// localSource is a directory whose work tree is read (uncommitted edits
// included) and watched with fsnotify; every settled change reconciles.
// Its revision is always inventory.Worktree, so each reconcile applies
// (the local target makes that a no-op when nothing changed) and evaluates
// every model. Events under .git and .cairn are ignored; a --state-dir
// elsewhere inside the directory would make every apply trigger the next.
type localSource struct {
	dir     string
	watcher *fsnotify.Watcher
	ch      chan struct{}
	done    chan struct{}
}

func (l *localSource) start(ctx context.Context, log *slog.Logger) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", l.dir, err)
	}
	l.watcher, l.done = w, make(chan struct{})
	if err := l.addTree(l.dir); err != nil {
		w.Close()
		return err
	}
	go l.loop(log)
	return nil
}

// skipDir reports folders that are not the inventory's: git's and Cairn's own.
func skipDir(name string) bool { return name == ".git" || name == ".cairn" }

// addTree watches dir and every folder below it (fsnotify is not recursive).
func (l *localSource) addTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished meanwhile
		}
		if !e.IsDir() {
			return nil
		}
		if p != dir && skipDir(e.Name()) {
			return filepath.SkipDir
		}
		if err := l.watcher.Add(p); err != nil {
			return fmt.Errorf("watching %s: %w", p, err)
		}
		return nil
	})
}

func (l *localSource) loop(log *slog.Logger) {
	defer close(l.done)
	for {
		select {
		case ev, ok := <-l.watcher.Events:
			if !ok {
				return
			}
			rel, err := filepath.Rel(l.dir, ev.Name)
			if err != nil {
				continue
			}
			if first, _, _ := strings.Cut(filepath.ToSlash(rel), "/"); skipDir(first) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					if err := l.addTree(ev.Name); err != nil {
						log.Warn("watch", "error", err.Error())
					}
				}
			}
			select {
			case l.ch <- struct{}{}:
			default:
			}
		case err, ok := <-l.watcher.Errors:
			if !ok {
				return
			}
			log.Warn("watch", "error", err.Error())
		}
	}
}

func (l *localSource) latest(ctx context.Context) (*inventory.Source, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return inventory.OpenWorktree(l.dir)
}

func (l *localSource) events() <-chan struct{} { return l.ch }
func (l *localSource) polls() bool             { return false }
func (l *localSource) release()                {}
func (l *localSource) reading() func()         { return func() {} }

func (l *localSource) close() {
	if l.watcher != nil {
		l.watcher.Close()
		<-l.done
	}
}

// maskURL hides the credentials of every URL in s, as forge masks them: a
// token may be a URL's user as well as its password.
func maskURL(s string) string { return forge.MaskToken(s, "") }

package inventory

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Worktree is the Revision of an inventory read from the working tree.
const Worktree = "worktree"

// ErrNotRepository is returned when a revision is asked of a folder that is
// not inside a git repository.
var ErrNotRepository = errors.New("not a git repository")

// ErrRevision is returned when a revision cannot be resolved.
var ErrRevision = errors.New("unknown revision")

// Source is a read-only view of an inventory at one revision: the working
// tree, or a commit read from git's object storage without a checkout. Every
// path is slash-separated and relative to the repository root, and no path or
// symbolic link can reach outside it.
type Source struct {
	// FS reads the inventory's files.
	FS fs.FS
	// Revision is the commit hash, or Worktree.
	Revision string
	// Dir is the repository root on disk.
	Dir string
	// Commit is the commit read, nil for the working tree.
	Commit *object.Commit
	// Repo is the git repository, nil when Dir is not in one and the
	// working tree is read.
	Repo *git.Repository
	// Prefix is the inventory's folder inside the repository, slash
	// separated, "" when the inventory is the repository root. Paths in
	// FS and in messages are relative to the inventory, paths in git
	// history are relative to the repository: join Prefix to go from one
	// to the other.
	Prefix string
}

// RepoPath returns the repository path of p, a path relative to the inventory.
func (s *Source) RepoPath(p string) string {
	if s.Prefix == "" {
		return p
	}
	return path.Join(s.Prefix, p)
}

// repoPrefix is the slash path of dir inside repo's work tree, "" for its root.
func repoPrefix(repo *git.Repository, dir string) (string, error) {
	wt, err := repo.Worktree()
	if err != nil {
		return "", nil // a bare repository: the inventory is its root
	}
	root, err := filepath.EvalSymlinks(wt.Filesystem.Root())
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is outside the repository at %s", dir, root)
	}
	if rel == "." {
		return "", nil
	}
	return filepath.ToSlash(rel), nil
}

// Open returns the inventory at dir: the working tree when rev is empty,
// else the commit rev names (a hash, branch, tag or expression such as
// "main~1"). It returns ErrNotRepository or ErrRevision (wrapped) when rev
// cannot be read.
func Open(ctx context.Context, dir, rev string) (*Source, error) {
	if rev == "" {
		return OpenWorktree(dir)
	}
	repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		if errors.Is(err, git.ErrRepositoryNotExists) {
			return nil, fmt.Errorf("%s: %w", dir, ErrNotRepository)
		}
		return nil, fmt.Errorf("opening repository %s: %w", dir, err)
	}
	return OpenCommit(ctx, repo, dir, rev)
}

// OpenWorktree returns the working tree at dir.
func OpenWorktree(dir string) (*Source, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening inventory: %w", err)
	}
	src := &Source{FS: root.FS(), Revision: Worktree, Dir: dir}
	if repo, err := git.PlainOpenWithOptions(dir, &git.PlainOpenOptions{DetectDotGit: true}); err == nil {
		src.Repo = repo
		src.Prefix, _ = repoPrefix(repo, dir)
	}
	return src, nil
}

// OpenCommit returns the inventory at rev of repo; dir is the repository root
// on disk, used to resolve relative paths in messages.
func OpenCommit(ctx context.Context, repo *git.Repository, dir, rev string) (*Source, error) {
	h, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rev, ErrRevision)
	}
	c, err := repo.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rev, ErrRevision)
	}
	tree, err := c.Tree()
	if err != nil {
		return nil, fmt.Errorf("reading tree of %s: %w", rev, err)
	}
	prefix, err := repoPrefix(repo, dir)
	if err != nil {
		return nil, err
	}
	if prefix != "" {
		// The inventory is a folder of the repository: read that subtree,
		// which is also the boundary no link may leave.
		if tree, err = tree.Tree(prefix); err != nil {
			return nil, fmt.Errorf("%s at %s: %w", prefix, rev, ErrNoInventory)
		}
	}
	return &Source{FS: &treeFS{tree: tree, when: c.Committer.When}, Revision: c.Hash.String(), Dir: dir, Commit: c, Repo: repo, Prefix: prefix}, nil
}

// ShortRevision is the revision as people read it: 12 hex digits, or Worktree.
func (s *Source) ShortRevision() string {
	if len(s.Revision) > 12 && s.Revision != Worktree {
		return s.Revision[:12]
	}
	return s.Revision
}

// treeFS is an fs.FS over a git tree. Symbolic links are followed while they
// stay inside the tree; one that leaves it is fs.ErrPermission.
type treeFS struct {
	// mu guards tree and the object storage behind it: go-git's trees
	// cache lookups in maps without locks, and Load reads from many workers.
	mu   sync.Mutex
	tree *object.Tree
	when time.Time
}

const maxLinkHops = 40

// resolve walks name through the tree, following symbolic links, and returns
// the entry's clean path and the entry itself.
func (t *treeFS) resolve(name string) (string, *object.TreeEntry, error) {
	if name == "." {
		return ".", nil, nil
	}
	parts := strings.Split(name, "/")
	var done []string
	hops := 0
	for len(parts) > 0 {
		p := parts[0]
		parts = parts[1:]
		cur := path.Join(append(done, p)...)
		e, err := t.tree.FindEntry(cur)
		if err != nil {
			return "", nil, fs.ErrNotExist
		}
		if e.Mode != filemode.Symlink {
			done = append(done, p)
			if len(parts) == 0 {
				return cur, e, nil
			}
			continue
		}
		hops++
		if hops > maxLinkHops {
			return "", nil, fmt.Errorf("too many levels of symbolic links: %w", fs.ErrInvalid)
		}
		target, err := t.readBlob(e)
		if err != nil {
			return "", nil, err
		}
		link := string(target)
		if path.IsAbs(link) {
			return "", nil, fs.ErrPermission
		}
		joined := path.Join(path.Join(done...), link)
		if joined == ".." || strings.HasPrefix(joined, "../") {
			return "", nil, fs.ErrPermission
		}
		rest := strings.Split(joined, "/")
		if joined == "." {
			rest = nil
		}
		parts = append(rest, parts...)
		done = nil
	}
	if len(done) == 0 {
		return ".", nil, nil
	}
	cur := path.Join(done...)
	e, err := t.tree.FindEntry(cur)
	if err != nil {
		return "", nil, fs.ErrNotExist
	}
	return cur, e, nil
}

// readBlob reads the content of the tree entry e (a symbolic link's
// target), as a regular file: go-git wants the entry's name.
func (t *treeFS) readBlob(e *object.TreeEntry) ([]byte, error) {
	f, err := t.tree.TreeEntryFile(&object.TreeEntry{Name: e.Name, Hash: e.Hash, Mode: filemode.Regular})
	if err != nil {
		return nil, err
	}
	r, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func (t *treeFS) Open(name string) (fs.File, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.open(name)
}

func (t *treeFS) open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	clean, e, err := t.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if e == nil || e.Mode == filemode.Dir {
		sub := t.tree
		if e != nil {
			if sub, err = t.tree.Tree(clean); err != nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: err}
			}
		}
		return &treeDir{fs: t, name: clean, tree: sub}, nil
	}
	if e.Mode == filemode.Submodule {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	f, err := t.tree.TreeEntryFile(e)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	r, err := f.Reader()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &treeFile{mu: &t.mu, r: r, info: fileInfo{name: path.Base(clean), size: f.Size, mode: 0o444, mod: t.when}}, nil
}

// ReadDir implements fs.ReadDirFS with entries sorted by name. Symbolic
// links are reported with their target's type when they resolve inside the
// tree, and left out otherwise.
func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	t.mu.Lock()
	f, err := t.open(name)
	if err != nil {
		t.mu.Unlock()
		return nil, err
	}
	d, ok := f.(*treeDir)
	if !ok {
		t.mu.Unlock()
		// A file's Close takes t.mu: close it unlocked.
		f.Close()
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	defer t.mu.Unlock()
	defer f.Close()
	return d.readDir(-1)
}

type treeFile struct {
	mu   *sync.Mutex // the treeFS's: reading a blob reads the object storage
	r    io.ReadCloser
	info fileInfo
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *treeFile) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.r.Read(p)
}

func (f *treeFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.r.Close()
}

type treeDir struct {
	fs   *treeFS
	name string
	tree *object.Tree
	read bool
}

func (d *treeDir) Stat() (fs.FileInfo, error) {
	return fileInfo{name: path.Base(d.name), mode: fs.ModeDir | 0o555, mod: d.fs.when}, nil
}
func (d *treeDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: errors.New("is a directory")}
}
func (d *treeDir) Close() error { return nil }

func (d *treeDir) ReadDir(n int) ([]fs.DirEntry, error) {
	d.fs.mu.Lock()
	defer d.fs.mu.Unlock()
	return d.readDir(n)
}

func (d *treeDir) readDir(n int) ([]fs.DirEntry, error) {
	if d.read {
		if n > 0 {
			return nil, io.EOF
		}
		return nil, nil
	}
	d.read = true
	out := make([]fs.DirEntry, 0, len(d.tree.Entries))
	for _, e := range d.tree.Entries {
		full := path.Join(d.name, e.Name)
		var info fileInfo
		switch e.Mode {
		case filemode.Dir:
			info = fileInfo{name: e.Name, mode: fs.ModeDir | 0o555, mod: d.fs.when}
		case filemode.Symlink:
			_, te, err := d.fs.resolve(full)
			if err != nil {
				// Listed as a link, so that callers can report it.
				info = fileInfo{name: e.Name, mode: fs.ModeSymlink | 0o444, mod: d.fs.when}
				break
			}
			if te == nil || te.Mode == filemode.Dir {
				info = fileInfo{name: e.Name, mode: fs.ModeDir | 0o555, mod: d.fs.when}
			} else {
				info = fileInfo{name: e.Name, mode: 0o444, mod: d.fs.when}
			}
		case filemode.Submodule:
			continue
		default:
			info = fileInfo{name: e.Name, mode: 0o444, mod: d.fs.when}
		}
		out = append(out, fs.FileInfoToDirEntry(info))
	}
	return out, nil
}

type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
	mod  time.Time
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return i.mod }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return nil }

// CheckPath reports whether p, a path named by an inventory file, is a clean
// relative path that stays inside the repository and, if it exists, does not
// reach outside through a symbolic link. It returns a one-line reason.
func (s *Source) CheckPath(p string) error { return checkPath(s.FS, p) }

func checkPath(fsys fs.FS, p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if strings.Contains(p, "\\") {
		return fmt.Errorf("path %q has a backslash", p)
	}
	if path.IsAbs(p) || filepath.IsAbs(p) {
		return fmt.Errorf("path %q must be relative to the repository root", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return fmt.Errorf("path %q leaves the repository", p)
		}
	}
	clean := path.Clean(p)
	if !fs.ValidPath(clean) {
		return fmt.Errorf("path %q is not a valid repository path", p)
	}
	if _, err := fs.Stat(fsys, clean); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("path %q leaves the repository through a symbolic link", p)
	}
	return nil
}

// ReadFile reads a repository file by its slash-separated path.
func (s *Source) ReadFile(p string) ([]byte, error) {
	return fs.ReadFile(s.FS, p)
}

// OpenFile opens a repository file by its slash-separated path for streaming.
// The caller closes it.
func (s *Source) OpenFile(p string) (fs.File, error) {
	return s.FS.Open(p)
}

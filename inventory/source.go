package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/storage/filesystem"
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

	root *os.Root // the work tree, nil at a revision
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
	src := &Source{FS: root.FS(), Revision: Worktree, Dir: dir, root: root}
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
	return &Source{FS: newTreeFS(repo.Storer, tree, c.Committer.When), Revision: c.Hash.String(), Dir: dir, Commit: c, Repo: repo, Prefix: prefix}, nil
}

// Release closes the object storages that reading s opened: each holds
// the indexes of the repository's packfiles in memory, which grow with the
// repository. Reads after it open them again. A holder that keeps a Source
// long after reading it, as the daemon keeps its last good revision, calls
// it when its reads are done. It does nothing for a work tree.
func (s *Source) Release() {
	if t, ok := s.FS.(*treeFS); ok {
		t.stores.release()
	}
}

// ShortRevision is the revision as people read it: 12 hex digits, or Worktree.
func (s *Source) ShortRevision() string { return ShortHash(s.Revision) }

// ShortHash is a commit hash as people read it: its first 12 hex digits.
// Anything shorter, such as Worktree, is returned as it is.
func ShortHash(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

// treeFS is an fs.FS over a git tree. Symbolic links are followed while they
// stay inside the tree; one that leaves it is fs.ErrPermission.
//
// Every tree object is decoded once, on first use, into a dirIndex that
// later lookups share: go-git's own Tree.FindEntry decodes each folder on
// the path again for every lookup, which made reading a revision quadratic
// in the size of models/. Lookups in decoded folders take no lock. Reading
// an object borrows one of the treeFS's own object storages: go-git's keep
// their caches in maps without locks, so readers at once each read through
// a storage of their own.
type treeFS struct {
	stores *storePool
	root   *dirIndex
	when   time.Time

	dirsMu sync.RWMutex
	dirs   map[plumbing.Hash]*dirIndex
}

// dirIndex is one decoded tree object: its entries sorted by name.
type dirIndex struct {
	hash    plumbing.Hash
	entries []object.TreeEntry
}

func (d *dirIndex) find(name string) (object.TreeEntry, bool) {
	i := sort.Search(len(d.entries), func(i int) bool { return d.entries[i].Name >= name })
	if i < len(d.entries) && d.entries[i].Name == name {
		return d.entries[i], true
	}
	return object.TreeEntry{}, false
}

var (
	storageLocksMu sync.Mutex
	storageLocks   = map[storer.EncodedObjectStorer]*sync.Mutex{}
)

// storageLock returns the one lock of the object storage s, shared by every
// treeFS that reads it (other than a repository on disk, which each treeFS
// reads through a storage of its own).
func storageLock(s storer.EncodedObjectStorer) *sync.Mutex {
	storageLocksMu.Lock()
	defer storageLocksMu.Unlock()
	mu, ok := storageLocks[s]
	if !ok {
		mu = &sync.Mutex{}
		storageLocks[s] = mu
	}
	return mu
}

func newTreeFS(s storer.EncodedObjectStorer, tree *object.Tree, when time.Time) *treeFS {
	t := &treeFS{when: when, dirs: map[plumbing.Hash]*dirIndex{}}
	if fsStore, ok := s.(*filesystem.Storage); ok {
		// Storages of its own, one per reader at once, that keep the
		// pack files open: the repository's reopens a pack for every
		// object it reads, and go-git's object storage cannot be read
		// by two goroutines at once. Objects are read once each, so a
		// storage's cache holds little; delta bases are what it saves,
		// and 2 MiB of them read a 10k inventory faster than 8 (189 ms
		// against 224) with 20 MB less at the peak of a cold load.
		t.stores = newStorePool(runtime.GOMAXPROCS(0), func() storer.EncodedObjectStorer {
			return filesystem.NewStorageWithOptions(fsStore.Filesystem(), cache.NewObjectLRU(2*cache.MiByte),
				filesystem.Options{KeepDescriptors: true})
		})
		runtime.AddCleanup(t, (*storePool).close, t.stores)
	} else {
		// Another storage (in memory) is shared: one reader at a time,
		// across every treeFS that reads it.
		mu := storageLock(s)
		t.stores = newStorePool(1, func() storer.EncodedObjectStorer { return s })
		t.stores.lock = mu
	}
	t.root = t.index(tree)
	return t
}

// storePool lends object storages to the readers of a treeFS, making up
// to max of them.
type storePool struct {
	idle  chan storer.EncodedObjectStorer
	made  atomic.Int32
	max   int32
	fresh func() storer.EncodedObjectStorer
	lock  *sync.Mutex // held while a storage shared beyond the pool is lent
}

func newStorePool(max int, fresh func() storer.EncodedObjectStorer) *storePool {
	return &storePool{idle: make(chan storer.EncodedObjectStorer, max), max: int32(max), fresh: fresh}
}

// with runs f with a storage that no other goroutine reads meanwhile.
func (p *storePool) with(f func(s storer.EncodedObjectStorer) error) error {
	var s storer.EncodedObjectStorer
	select {
	case s = <-p.idle:
	default:
		if p.made.Add(1) <= p.max {
			s = p.fresh()
		} else {
			p.made.Add(-1)
			s = <-p.idle
		}
	}
	if s == nil {
		s = p.fresh() // a place whose storage was released
	}
	if p.lock != nil {
		p.lock.Lock()
		defer p.lock.Unlock()
	}
	defer func() { p.idle <- s }()
	err := f(s)
	if reindexed(s, err) {
		err = f(s) // once more, with a new listing
	}
	return err
}

// reindexed reports whether err, from a read of s, may come from an index
// of its packfiles that a failed listing left empty, and if so drops that
// index. A storage indexes the packfiles at its first read. Beside a fetch
// into the same repository the listing can fail: it lstat's every entry
// of the pack folder, and the fetch's temporary pack can be renamed
// between the two. go-git then keeps the empty index it had begun, and
// every later object is "not found".
func reindexed(s storer.EncodedObjectStorer, err error) bool {
	st, ok := s.(*filesystem.Storage)
	if !ok || !(errors.Is(err, plumbing.ErrObjectNotFound) || errors.Is(err, fs.ErrNotExist)) {
		return false
	}
	st.Reindex()
	return true
}

// close closes the storages made, once nothing reads them.
func (p *storePool) close() {
	for range p.made.Load() {
		if c, ok := (<-p.idle).(io.Closer); ok {
			_ = c.Close()
		}
	}
}

// release closes the storages no reader holds, keeping their places in
// the pool: a reader that takes a place makes a storage again. A storage
// shared beyond the pool is not the pool's to close.
func (p *storePool) release() {
	if p.lock != nil {
		return
	}
	for range len(p.idle) {
		var s storer.EncodedObjectStorer
		select {
		case s = <-p.idle:
		default:
			return
		}
		if c, ok := s.(io.Closer); ok {
			_ = c.Close()
		}
		p.idle <- nil
	}
}

// index makes the dirIndex of tree and remembers it.
func (t *treeFS) index(tree *object.Tree) *dirIndex {
	d := &dirIndex{hash: tree.Hash, entries: tree.Entries}
	if !sort.SliceIsSorted(d.entries, func(i, j int) bool { return d.entries[i].Name < d.entries[j].Name }) {
		d.entries = slices.Clone(d.entries)
		sort.Slice(d.entries, func(i, j int) bool { return d.entries[i].Name < d.entries[j].Name })
	}
	t.dirsMu.Lock()
	t.dirs[d.hash] = d
	t.dirsMu.Unlock()
	return d
}

// dir returns the decoded tree object h.
func (t *treeFS) dir(h plumbing.Hash) (*dirIndex, error) {
	t.dirsMu.RLock()
	d, ok := t.dirs[h]
	t.dirsMu.RUnlock()
	if ok {
		return d, nil
	}
	var tree *object.Tree
	err := t.stores.with(func(s storer.EncodedObjectStorer) error {
		var err error
		tree, err = object.GetTree(s, h)
		return err
	})
	if err != nil {
		return nil, err
	}
	return t.index(tree), nil
}

// entry returns the entry at the clean path p, without following links in
// its last element; links in the folders above are not followed either, so
// callers resolve them first (resolve).
func (t *treeFS) entry(p string) (object.TreeEntry, error) {
	d := t.root
	for {
		first, rest, more := strings.Cut(p, "/")
		e, ok := d.find(first)
		if !ok {
			return object.TreeEntry{}, fs.ErrNotExist
		}
		if !more {
			return e, nil
		}
		if e.Mode != filemode.Dir {
			return object.TreeEntry{}, fs.ErrNotExist
		}
		var err error
		if d, err = t.dir(e.Hash); err != nil {
			return object.TreeEntry{}, err
		}
		p = rest
	}
}

const maxLinkHops = 40

// resolve walks name through the tree, following symbolic links, and returns
// the entry's clean path and the entry itself; nil for the root.
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
		e, err := t.entry(cur)
		if err != nil {
			return "", nil, fs.ErrNotExist
		}
		if e.Mode != filemode.Symlink {
			done = append(done, p)
			if len(parts) == 0 {
				return cur, &e, nil
			}
			continue
		}
		hops++
		if hops > maxLinkHops {
			return "", nil, fmt.Errorf("too many levels of symbolic links: %w", fs.ErrInvalid)
		}
		target, err := t.readBlob(e.Hash)
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
	e, err := t.entry(cur)
	if err != nil {
		return "", nil, fs.ErrNotExist
	}
	return cur, &e, nil
}

// readBlob reads the whole content of blob h: inventory files are small,
// and reading them at once holds the storage's lock for the least time.
func (t *treeFS) readBlob(h plumbing.Hash) ([]byte, error) {
	var out []byte
	err := t.stores.with(func(s storer.EncodedObjectStorer) error {
		o, err := s.EncodedObject(plumbing.BlobObject, h)
		if err != nil {
			return err
		}
		r, err := o.Reader()
		if err != nil {
			return err
		}
		defer r.Close()
		w := bytes.NewBuffer(make([]byte, 0, o.Size()))
		_, err = w.ReadFrom(r)
		out = w.Bytes()
		return err
	})
	return out, err
}

// blobSize is the size of blob h, without reading its content.
func (t *treeFS) blobSize(h plumbing.Hash) (int64, error) {
	var size int64
	err := t.stores.with(func(s storer.EncodedObjectStorer) error {
		var err error
		size, err = s.EncodedObjectSize(h)
		return err
	})
	return size, err
}

// DirTree returns the tree hash of the folder at the clean path p when p
// is a folder itself, not a symbolic link, and no folder above it is a
// link: the hash then names all of p's content.
func (t *treeFS) DirTree(p string) (string, bool) {
	e, err := t.entry(p)
	if err != nil || e.Mode != filemode.Dir {
		return "", false
	}
	return e.Hash.String(), true
}

// plainCUE reports whether the .cue entries of the folder tree h are all
// regular files, so that h names the content Load reads from the folder.
func (t *treeFS) plainCUE(h string) bool {
	d, err := t.dir(plumbing.NewHash(h))
	if err != nil {
		return false
	}
	for _, e := range d.entries {
		if strings.HasSuffix(e.Name, ".cue") && e.Mode != filemode.Regular && e.Mode != filemode.Executable {
			return false
		}
	}
	return true
}

func (t *treeFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	clean, e, err := t.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	if e == nil || e.Mode == filemode.Dir {
		d := t.root
		if e != nil {
			if d, err = t.dir(e.Hash); err != nil {
				return nil, &fs.PathError{Op: "open", Path: name, Err: err}
			}
		}
		return &treeDir{fs: t, name: clean, dir: d}, nil
	}
	if e.Mode == filemode.Submodule {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	b, err := t.readBlob(e.Hash)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &treeFile{Reader: bytes.NewReader(b), info: fileInfo{name: path.Base(clean), size: int64(len(b)), mode: 0o444, mod: t.when}}, nil
}

// Stat implements fs.StatFS without reading a file's content.
func (t *treeFS) Stat(name string) (fs.FileInfo, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	clean, e, err := t.resolve(name)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	switch {
	case e == nil || e.Mode == filemode.Dir:
		return fileInfo{name: path.Base(clean), mode: fs.ModeDir | 0o555, mod: t.when}, nil
	case e.Mode == filemode.Submodule:
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	size, err := t.blobSize(e.Hash)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
	}
	return fileInfo{name: path.Base(clean), size: size, mode: 0o444, mod: t.when}, nil
}

// ReadFile implements fs.ReadFileFS.
func (t *treeFS) ReadFile(name string) ([]byte, error) {
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	tf, ok := f.(*treeFile)
	if !ok {
		f.Close()
		return nil, &fs.PathError{Op: "read", Path: name, Err: errors.New("is a directory")}
	}
	b := make([]byte, tf.Len())
	_, _ = tf.Read(b)
	return b, nil
}

// ReadDir implements fs.ReadDirFS with entries sorted by name. Symbolic
// links are reported with their target's type when they resolve inside the
// tree, and left out otherwise.
func (t *treeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	f, err := t.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, ok := f.(*treeDir)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	return d.ReadDir(-1)
}

// treeFile is a file of the tree, read whole when opened.
type treeFile struct {
	*bytes.Reader
	info fileInfo
}

func (f *treeFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *treeFile) Close() error               { return nil }

type treeDir struct {
	fs   *treeFS
	name string
	dir  *dirIndex
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
	if d.read {
		if n > 0 {
			return nil, io.EOF
		}
		return nil, nil
	}
	d.read = true
	out := make([]fs.DirEntry, 0, len(d.dir.entries))
	for _, e := range d.dir.entries {
		var info fileInfo
		switch e.Mode {
		case filemode.Dir:
			info = fileInfo{name: e.Name, mode: fs.ModeDir | 0o555, mod: d.fs.when}
		case filemode.Symlink:
			full := e.Name
			if d.name != "." {
				full = d.name + "/" + e.Name
			}
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

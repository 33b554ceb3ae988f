package inventory

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// commitWhen is the committer time of commitAll's commits.
var commitWhen = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// commitAll stages every change in repo's work tree, links included, and
// commits it; it returns the commit hash.
func commitAll(t *testing.T, repo *git.Repository, msg string) string {
	t.Helper()
	wt, err := repo.Worktree()
	require.NoError(t, err)
	require.NoError(t, wt.AddWithOptions(&git.AddOptions{All: true}))
	sig := &object.Signature{Name: "Ada", Email: "ada@example.com", When: commitWhen}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
	require.NoError(t, err)
	return h.String()
}

// cleanInventory is a valid inventory of one model.
var cleanInventory = map[string]string{
	"inventory.cue":       "package inventory\n",
	"models/defaults.cue": licenseDefault,
	"models/m/model.cue":  validModel,
	"artifacts/v0.bin":    "weights",
}

// TestOpenRevision reads an inventory at a commit without a checkout: what
// the commit holds, not the work tree. A symbolic link that leaves the tree
// is never followed and is reported as at the work tree.
func TestOpenRevision(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "repo")
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	writeFiles(t, dir, cleanInventory)
	first := commitAll(t, repo, "clean")

	// The second commit adds links that leave the tree.
	writeFiles(t, root, map[string]string{"outside/m/model.cue": validModel, "outside/secret.bin": "secret"})
	symlink(t, dir, "../../../outside/secret.bin", "models/m/out.bin")
	symlink(t, dir, "/etc", "models/m/abs")
	symlink(t, dir, "../../outside/m", "models/escape")
	symlink(t, dir, "loop-b", "models/m/loop-a")
	symlink(t, dir, "loop-a", "models/m/loop-b")
	writeFiles(t, dir, map[string]string{"models/n/model.cue": invgenModel("n", "file://models/m/out.bin", "file://artifacts/v0.bin")})
	second := commitAll(t, repo, "links out")
	// The work tree moves on; the revisions do not.
	writeFiles(t, dir, map[string]string{"models/m/model.cue": "package model\n\ncard: {\n", "models/o/model.cue": validModel})

	src, err := Open(ctx, dir, "HEAD~1")
	require.NoError(t, err)
	assert.Equal(t, first, src.Revision)
	assert.Equal(t, first[:12], src.ShortRevision())
	require.NotNil(t, src.Commit)
	assert.Equal(t, "clean", src.Commit.Message)
	assert.NotNil(t, src.Repo)
	assert.Equal(t, "", src.Prefix)
	assert.Equal(t, "models/m/model.cue", src.RepoPath("models/m/model.cue"))
	inv, err := Load(ctx, src, Options{Workers: 1})
	require.NoError(t, err)
	assert.Empty(t, inv.Problems)
	require.Len(t, inv.Models, 1)
	assert.True(t, inv.Models[0].Valid)
	assert.Equal(t, "1.1.0", inv.Models[0].Stages["production"])

	src, err = Open(ctx, dir, second[:8])
	require.NoError(t, err)
	assert.Equal(t, second, src.Revision)
	inv, err = Load(ctx, src, Options{Workers: 1})
	require.NoError(t, err)
	assert.Equal(t, []string{
		`escape | models/escape: symbolic link leaves the repository or does not resolve`,
		`n | models/n/model.cue:18:22: versions."1.0.0".artifact.uri: path "models/m/out.bin" leaves the repository through a symbolic link`,
	}, problemLines(inv.Problems))
	require.Len(t, inv.Models, 2)
	assert.True(t, inv.Models[0].Valid, "m")
	for _, name := range []string{"models/m/out.bin", "models/m/abs/hostname", "models/escape/model.cue", "models/m/loop-a"} {
		b, err := src.ReadFile(name)
		assert.Error(t, err, name)
		assert.Empty(t, b, name)
		assert.ErrorContains(t, src.CheckPath(name), "leaves the repository through a symbolic link", name)
	}
	_, err = src.ReadFile("models/m/missing.bin")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	assert.NoError(t, src.CheckPath("models/m/missing.bin"))
	assert.NoError(t, src.CheckPath("artifacts/v0.bin"))

	// A listing shows links out as links, so that Load can report them.
	entries, err := fs.ReadDir(src.FS, "models/m")
	require.NoError(t, err)
	var listed []string
	for _, e := range entries {
		listed = append(listed, e.Name()+" "+e.Type().String())
	}
	assert.Equal(t, []string{"abs L---------", "loop-a L---------", "loop-b L---------", "model.cue ----------", "out.bin L---------"}, listed)
}

// invgenModel is validModel with its two artifact URIs replaced.
func invgenModel(name, uri0, uri1 string) string {
	return `package model

card: {
	title:       "Model ` + name + `"
	description: "d"
	owners: ["@a/b"]
	risk: tier: "low"
	intendedUse: "x"
	limitations: []
	framework: "onnx"
	data: training: []
	review: lastReviewed: "2026-01-01"
}

stages: development: "1.0.0"

versions: {
	"1.0.0": artifact: {uri: "` + uri0 + `", digest: "` + digest0 + `"}
	"1.1.0": artifact: {uri: "` + uri1 + `", digest: "` + digest0 + `"}
}
`
}

// TestTreeFS reads files and folders of a commit as an fs.FS does.
func TestTreeFS(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	writeFiles(t, dir, cleanInventory)
	commitAll(t, repo, "clean")
	src, err := Open(context.Background(), dir, "HEAD")
	require.NoError(t, err)

	f, err := src.OpenFile("artifacts/v0.bin")
	require.NoError(t, err)
	fi, err := f.Stat()
	require.NoError(t, err)
	assert.Equal(t, "v0.bin", fi.Name())
	assert.Equal(t, int64(len("weights")), fi.Size())
	assert.Equal(t, fs.FileMode(0o444), fi.Mode())
	assert.True(t, fi.ModTime().Equal(commitWhen))
	assert.False(t, fi.IsDir())
	assert.Nil(t, fi.Sys())
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	assert.Equal(t, "weights", string(b))
	require.NoError(t, f.Close())

	d, err := src.OpenFile("models")
	require.NoError(t, err)
	fi, err = d.Stat()
	require.NoError(t, err)
	assert.Equal(t, "models", fi.Name())
	assert.True(t, fi.IsDir())
	assert.True(t, fi.ModTime().Equal(commitWhen))
	_, err = d.Read(make([]byte, 1))
	assert.ErrorContains(t, err, "is a directory")
	rd := d.(fs.ReadDirFile)
	entries, err := rd.ReadDir(-1)
	require.NoError(t, err)
	require.Len(t, entries, 2)
	assert.Equal(t, "defaults.cue", entries[0].Name())
	assert.False(t, entries[0].IsDir())
	assert.Equal(t, "m", entries[1].Name())
	assert.True(t, entries[1].IsDir())
	// The folder is read once: then it is at its end.
	entries, err = rd.ReadDir(-1)
	assert.NoError(t, err)
	assert.Empty(t, entries)
	entries, err = rd.ReadDir(0)
	assert.NoError(t, err)
	assert.Empty(t, entries)
	_, err = rd.ReadDir(1)
	assert.Equal(t, io.EOF, err)
	require.NoError(t, d.Close())

	root, err := src.OpenFile(".")
	require.NoError(t, err)
	fi, err = root.Stat()
	require.NoError(t, err)
	assert.True(t, fi.IsDir())

	_, err = src.OpenFile("/inventory.cue")
	assert.ErrorIs(t, err, fs.ErrInvalid)
	_, err = src.OpenFile("models/../inventory.cue")
	assert.ErrorIs(t, err, fs.ErrInvalid)
	_, err = src.OpenFile("models/nope")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	_, err = fs.ReadDir(src.FS, "nope")
	assert.ErrorIs(t, err, fs.ErrNotExist)
}

// TestOpenErrors names what cannot be opened.
func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	plain := t.TempDir()
	writeFiles(t, plain, cleanInventory)
	_, err := Open(ctx, plain, "HEAD")
	assert.ErrorIs(t, err, ErrNotRepository)

	src, err := Open(ctx, plain, "")
	require.NoError(t, err)
	assert.Equal(t, Worktree, src.Revision)
	assert.Equal(t, Worktree, src.ShortRevision())
	assert.Nil(t, src.Repo)
	assert.Nil(t, src.Commit)

	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	writeFiles(t, dir, cleanInventory)
	commitAll(t, repo, "clean")
	for _, rev := range []string{"nope", "HEAD~3"} {
		_, err = Open(ctx, dir, rev)
		assert.ErrorIs(t, err, ErrRevision, rev)
	}
	_, err = OpenWorktree(filepath.Join(dir, "missing"))
	assert.ErrorContains(t, err, "opening inventory: ")

	require.NoError(t, os.Remove(filepath.Join(dir, "inventory.cue")))
	src, err = OpenWorktree(dir)
	require.NoError(t, err)
	_, err = Load(ctx, src, Options{})
	assert.True(t, errors.Is(err, ErrNoInventory))
}

// TestSubfolderInventory reads an inventory kept in a folder of a
// repository: paths are the inventory's, Prefix joins them to the
// repository's, and at a revision the folder is also the boundary no link
// may leave.
func TestSubfolderInventory(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	repo, err := git.PlainInit(root, false)
	require.NoError(t, err)
	writeFiles(t, root, map[string]string{"README.md": "repo", "shared/secret.bin": "secret"})
	inv := filepath.Join(root, "ml", "inventory")
	writeFiles(t, inv, cleanInventory)
	writeFiles(t, inv, map[string]string{"models/n/model.cue": invgenModel("n", "file://artifacts/v0.bin", "file://../../shared/secret.bin")})
	symlink(t, inv, "../../../../shared/secret.bin", "models/m/up.bin")
	commitAll(t, repo, "inventory in a folder")

	for _, rev := range []string{"", "HEAD"} {
		src, err := Open(ctx, inv, rev)
		require.NoError(t, err, rev)
		assert.Equal(t, "ml/inventory", src.Prefix, rev)
		assert.Equal(t, "ml/inventory/models/m/model.cue", src.RepoPath("models/m/model.cue"), rev)
		assert.Equal(t, inv, src.Dir)
		require.NotNil(t, src.Repo, rev)
		b, err := src.ReadFile("artifacts/v0.bin")
		require.NoError(t, err, rev)
		assert.Equal(t, "weights", string(b))
		_, err = src.ReadFile("README.md")
		assert.Error(t, err, rev)
		b, err = src.ReadFile("models/m/up.bin")
		assert.Error(t, err, rev)
		assert.Empty(t, b, rev)
		assert.ErrorContains(t, src.CheckPath("models/m/up.bin"), "leaves the repository through a symbolic link", rev)
		loaded, err := Load(ctx, src, Options{Workers: 1})
		require.NoError(t, err, rev)
		assert.Equal(t, []string{
			`n | models/n/model.cue:19:22: versions."1.1.0".artifact.uri: path "../../shared/secret.bin" leaves the repository`,
		}, problemLines(loaded.Problems), rev)
	}

	// The repository root is an inventory of its own with no prefix.
	src, err := OpenWorktree(root)
	require.NoError(t, err)
	assert.Equal(t, "", src.Prefix)
	assert.Equal(t, "README.md", src.RepoPath("README.md"))

	// A folder the revision does not have holds no inventory there.
	later := filepath.Join(root, "later")
	writeFiles(t, later, cleanInventory)
	_, err = Open(ctx, later, "HEAD")
	assert.ErrorIs(t, err, ErrNoInventory)
	src, err = Open(ctx, later, "")
	require.NoError(t, err)
	assert.Equal(t, "later", src.Prefix)
}

// TestOpenCommitNotACommit refuses a revision that names a tree, not a
// commit.
func TestOpenCommitNotACommit(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	writeFiles(t, dir, cleanInventory)
	h := commitAll(t, repo, "clean")
	c, err := repo.CommitObject(plumbing.NewHash(h))
	require.NoError(t, err)
	_, err = OpenCommit(context.Background(), repo, dir, c.TreeHash.String())
	assert.ErrorIs(t, err, ErrRevision)
	src, err := OpenCommit(context.Background(), repo, dir, h)
	require.NoError(t, err)
	assert.Equal(t, h, src.Revision)
}

// packedInventory returns a repository whose one commit holds
// cleanInventory, every object in one packfile and none loose: each read
// goes through a pack.
func packedInventory(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	writeFiles(t, dir, cleanInventory)
	commitAll(t, repo, "clean")
	require.NoError(t, repo.RepackObjects(&git.RepackConfig{}))
	loose, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "[0-9a-f][0-9a-f]"))
	require.NoError(t, err)
	for _, d := range loose {
		require.NoError(t, os.RemoveAll(d))
	}
	return dir
}

// TestReleaseClosesStorages reads a revision from packfiles, releases it,
// and reads it again: the storages the reads opened keep the packs open
// until Release closes them, and reads after it open them again.
func TestReleaseClosesStorages(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc/self/fd to see open files")
	}
	dir := packedInventory(t)
	src, err := Open(context.Background(), dir, "HEAD")
	require.NoError(t, err)
	packs, err := filepath.Glob(filepath.Join(dir, ".git", "objects", "pack", "*.pack"))
	require.NoError(t, err)
	require.NotEmpty(t, packs)
	openPacks := func() int {
		t.Helper()
		fds, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		n := 0
		for _, fd := range fds {
			if target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && slices.Contains(packs, target) {
				n++
			}
		}
		return n
	}

	b, err := src.ReadFile("artifacts/v0.bin")
	require.NoError(t, err)
	assert.Equal(t, "weights", string(b))
	assert.Positive(t, openPacks(), "a read keeps its storage's pack open")
	src.Release()
	assert.Zero(t, openPacks(), "open packs after Release")
	b, err = src.ReadFile("models/m/model.cue")
	require.NoError(t, err)
	assert.Equal(t, validModel, string(b))
	assert.Positive(t, openPacks())
	src.Release()
	assert.Zero(t, openPacks())

	// Releasing while others read loses no read and blocks none.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				b, err := src.ReadFile("artifacts/v0.bin")
				assert.NoError(t, err)
				assert.Equal(t, "weights", string(b))
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			src.Release()
		}
	})
	wg.Wait()
	src.Release()
	assert.Zero(t, openPacks())
}

// TestReadAfterAFailedPackListing: a storage whose first read could not
// list the pack folder (beside a fetch, a temporary pack renamed between
// readdir and lstat fails the listing) keeps go-git's empty index; the
// next read lists the folder again instead of finding nothing.
func TestReadAfterAFailedPackListing(t *testing.T) {
	dir := packedInventory(t)
	src, err := Open(context.Background(), dir, "HEAD")
	require.NoError(t, err)

	objects := filepath.Join(dir, ".git", "objects")
	pack, away := filepath.Join(objects, "pack"), filepath.Join(objects, "pack.away")
	require.NoError(t, os.Rename(pack, away))
	_, err = src.ReadFile("models/m/model.cue")
	require.Error(t, err, "read with no pack folder")
	require.NoError(t, os.Rename(away, pack))

	b, err := src.ReadFile("models/m/model.cue")
	require.NoError(t, err, "read once the pack folder is back")
	assert.Equal(t, validModel, string(b))
}

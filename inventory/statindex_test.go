package inventory

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// settleClock makes every file written so far count as changed long
// before the Load that follows, so that the stat index remembers it.
func settleClock(t *testing.T) {
	t.Helper()
	old := statClock
	statClock = func() time.Time { return time.Now().Add(time.Minute) }
	t.Cleanup(func() { statClock = old })
}

func needStatIndex(t *testing.T) {
	t.Helper()
	if !statSupported {
		t.Skipf("no stat index on %s: every folder is read", runtime.GOOS)
	}
}

// statIndexOf opens the index that Loads of the work tree dir keep in cache.
func statIndexOf(t *testing.T, cache, dir string) *statIndex {
	t.Helper()
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	ix := openStatIndex(cache, src, statClock())
	require.NotNil(t, ix)
	t.Cleanup(func() { ix.models.Close() })
	return ix
}

// TestStatIndexRemembersFolders: after a Load, a folder that did not change
// is known by its records, with the hash of the files it holds, and a Load
// of it is served from the cache.
func TestStatIndexRemembersFolders(t *testing.T) {
	needStatIndex(t)
	settleClock(t)
	dir, cache := t.TempDir(), t.TempDir()
	writeFiles(t, dir, cacheFixture)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	c := &Cache{Dir: cache, Version: "t"}
	want := loadSeen(t, src, Options{})
	assert.Equal(t, want, loadSeen(t, src, Options{Cache: c}))

	ix := statIndexOf(t, cache, dir)
	// Folders that evaluate, and folders with problems in their content,
	// are remembered: the hash only names the files.
	for _, m := range []string{"a", "b", "c", "d", "Bad"} {
		sum, ok := ix.lookup("models/" + m)
		require.True(t, ok, m)
		b, err := os.ReadFile(filepath.Join(dir, "models", m, "model.cue"))
		require.NoError(t, err)
		assert.Equal(t, filesHash([]sourceFile{{name: "models/" + m + "/model.cue", src: b}}), sum, m)
	}
	_, ok := ix.lookup("models/nothing")
	assert.False(t, ok)
	_, ok = ix.lookup("inventory.cue")
	assert.False(t, ok, "only model folders")

	assert.Equal(t, want, loadSeen(t, src, Options{Cache: c}))
	assert.Equal(t, 5, lastCached)
}

// TestStatIndexSeesEdits: whatever changes in a folder, a Load with the
// cache gives what a Load without it gives, including the edits that keep
// a file's size and modification time, which only its change time shows.
func TestStatIndexSeesEdits(t *testing.T) {
	needStatIndex(t)
	settleClock(t)
	model := func(dir string) string { return filepath.Join(dir, "models", "a", "model.cue") }
	edits := []struct {
		name string
		edit func(t *testing.T, dir string)
	}{
		{"same size, same modification time", func(t *testing.T, dir string) {
			p := model(dir)
			fi, err := os.Stat(p)
			require.NoError(t, err)
			retitle(t, p, p)
			require.NoError(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
		}},
		{"a second file", func(t *testing.T, dir string) {
			writeFiles(t, dir, map[string]string{"models/a/extra.cue": "package model\n\ncard: task: \"ranking\"\n"})
		}},
		{"a file renamed", func(t *testing.T, dir string) {
			require.NoError(t, os.Rename(model(dir), filepath.Join(dir, "models", "a", "other.cue")))
		}},
		{"the file removed", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(model(dir)))
		}},
		{"the file replaced by a link", func(t *testing.T, dir string) {
			b, err := os.ReadFile(filepath.Join(dir, "models", "b", "model.cue"))
			require.NoError(t, err)
			writeFiles(t, dir, map[string]string{"elsewhere/model.cue": string(b)})
			require.NoError(t, os.Remove(model(dir)))
			require.NoError(t, os.Symlink("../../elsewhere/model.cue", model(dir)))
		}},
		{"the folder replaced by a link", func(t *testing.T, dir string) {
			require.NoError(t, os.Rename(filepath.Join(dir, "models", "a"), filepath.Join(dir, "kept")))
			require.NoError(t, os.Symlink("../kept", filepath.Join(dir, "models", "a")))
			retitle(t, filepath.Join(dir, "kept", "model.cue"), filepath.Join(dir, "kept", "model.cue"))
		}},
		{"the folder replaced by a copy", func(t *testing.T, dir string) {
			a := filepath.Join(dir, "models", "a")
			require.NoError(t, os.Rename(a, filepath.Join(dir, "old")))
			require.NoError(t, os.Mkdir(a, 0o755))
			retitle(t, filepath.Join(dir, "old", "model.cue"), model(dir))
		}},
	}
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			dir, cache := t.TempDir(), t.TempDir()
			writeFiles(t, dir, cacheFixture)
			src, err := OpenWorktree(dir)
			require.NoError(t, err)
			c := &Cache{Dir: cache, Version: "t"}
			before := loadSeen(t, src, Options{Cache: c})
			e.edit(t, dir)
			src, err = OpenWorktree(dir)
			require.NoError(t, err)
			want := loadSeen(t, src, Options{})
			assert.NotEqual(t, before, want, "the edit changes what a Load gives")
			assert.Equal(t, want, loadSeen(t, src, Options{Cache: c}))
			assert.Equal(t, want, loadSeen(t, src, Options{Cache: c}), "and again, from what the first Load remembered")
		})
	}
}

// retitle writes to the file to what the file from holds, with another
// title of the same length.
func retitle(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	require.NoError(t, err)
	b = []byte(replaceOnce(t, string(b), `title:       "Model a"`, `title:       "Model z"`))
	require.NoError(t, os.WriteFile(to, b, 0o644))
}

func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	require.Len(t, old, len(new))
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			return s[:i] + new + s[i+len(old):]
		}
	}
	t.Fatalf("%q not in %q", old, s)
	return ""
}

// TestStatIndexSkipsRacyFolders: a folder changed within statRacy of the
// Load is read, and not remembered, since a second change within the file
// system's time granularity would not show in its records.
func TestStatIndexSkipsRacyFolders(t *testing.T) {
	needStatIndex(t)
	dir, cache := t.TempDir(), t.TempDir()
	writeFiles(t, dir, cacheFixture)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	loadSeen(t, src, Options{Cache: &Cache{Dir: cache, Version: "t"}})
	ix := statIndexOf(t, cache, dir)
	assert.Empty(t, ix.old, "files written just now are not remembered")

	// The same files, as if written a minute earlier: settled.
	ix.cutoff = time.Now().Add(time.Minute).UnixNano()
	own := []sourceFile{{name: "models/a/model.cue", src: []byte(cacheFixture["models/a/model.cue"])}}
	ix.record("models/a", own, filesHash(own))
	assert.Contains(t, ix.next, "a")
	// One changed at the cutoff is not.
	ix.cutoff = time.Now().Add(-time.Minute).UnixNano()
	ix.record("models/b", own, filesHash(own))
	assert.NotContains(t, ix.next, "b")
}

// TestStatIndexRecordsOnlyPlainFolders: a record needs a plain folder of
// plain files, each as long as what was read of it.
func TestStatIndexRecordsOnlyPlainFolders(t *testing.T) {
	needStatIndex(t)
	settleClock(t)
	dir, cache := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inventory.cue":      cacheFixture["inventory.cue"],
		"models/a/model.cue": "package model\n",
		"models/b/model.cue": "package model\n",
		"models/c/model.cue": "package model\n",
		"models/d/model.cue": "package model\n",
		"elsewhere/x.cue":    "package model\n",
	})
	require.NoError(t, os.Symlink("../../elsewhere/x.cue", filepath.Join(dir, "models", "b", "x.cue")))
	require.NoError(t, os.Symlink("a", filepath.Join(dir, "models", "e")))
	ix := statIndexOf(t, cache, dir)
	file := func(name string) []sourceFile {
		return []sourceFile{{name: name, src: []byte("package model\n")}}
	}
	ix.record("models/a", file("models/a/model.cue"), filesHash(file("models/a/model.cue")))
	ix.record("models/b", append(file("models/b/model.cue"), file("models/b/x.cue")...), [32]byte{})
	ix.record("models/c", []sourceFile{{name: "models/c/model.cue", src: []byte("package model")}}, [32]byte{})
	ix.record("models/d", file("models/a/model.cue"), [32]byte{})
	ix.record("models/e", file("models/e/model.cue"), [32]byte{})
	ix.record("models/d/sub", file("models/d/sub/model.cue"), [32]byte{})
	ix.record("models/f", nil, [32]byte{})
	var got []string
	for n := range ix.next {
		got = append(got, n)
	}
	assert.Equal(t, []string{"a"}, got, "b has a link, c was read shorter, d names another folder's file, e is a link, f is empty")
}

// TestStatIndexFile: the index file is read back whole; a damaged one, one
// of another work tree or none is empty and rewritten; a Load of some
// models keeps the others' records; the folder keeps at most statMaxFiles
// indexes.
func TestStatIndexFile(t *testing.T) {
	needStatIndex(t)
	settleClock(t)
	dir, cache := t.TempDir(), t.TempDir()
	writeFiles(t, dir, cacheFixture)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	c := &Cache{Dir: cache, Version: "t"}
	loadSeen(t, src, Options{Cache: c})
	ix := statIndexOf(t, cache, dir)
	require.Len(t, ix.old, 5)
	file := ix.file
	good, err := os.ReadFile(file)
	require.NoError(t, err)

	// Written again as read: the same bytes.
	ix.next = ix.old
	assert.Equal(t, good, ix.encode())

	for i := range good {
		bad := append([]byte(nil), good...)
		bad[i] ^= 0x40
		require.NoError(t, os.WriteFile(file, bad, 0o644))
		assert.Empty(t, statIndexOf(t, cache, dir).old, "byte %d flipped", i)
	}
	for _, n := range []int{0, 1, len(statMagic), len(good) - 1} {
		require.NoError(t, os.WriteFile(file, good[:n], 0o644))
		assert.Empty(t, statIndexOf(t, cache, dir).old, "cut at %d", n)
	}
	require.NoError(t, os.WriteFile(file, good, 0o644))
	other := statIndexOf(t, cache, dir)
	other.tree += "x"
	assert.Empty(t, other.read(), "another work tree's index")

	// A damaged index costs one reading, and is rewritten.
	require.NoError(t, os.WriteFile(file, good[:len(good)/2], 0o644))
	want := loadSeen(t, src, Options{})
	assert.Equal(t, want, loadSeen(t, src, Options{Cache: c}))
	assert.Len(t, statIndexOf(t, cache, dir).old, 5)

	// A Load of one model keeps the records of the others; a folder
	// removed loses its record.
	require.NoError(t, os.RemoveAll(filepath.Join(dir, "models", "d")))
	loadSeen(t, src, Options{Cache: c, Only: []string{"a"}})
	var names []string
	for n := range statIndexOf(t, cache, dir).old {
		names = append(names, n)
	}
	sort.Strings(names)
	assert.Equal(t, []string{"Bad", "a", "b", "c"}, names)

	// Other work trees' indexes: the newest statMaxFiles stay.
	for i := range statMaxFiles + 4 {
		p := filepath.Join(cache, fmt.Sprintf("%s%02d%s", statPrefix, i, statSuffix))
		require.NoError(t, os.WriteFile(p, nil, 0o644))
		when := time.Now().Add(time.Duration(i-100) * time.Minute)
		require.NoError(t, os.Chtimes(p, when, when))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "models", "a", "more.cue"), []byte("package model\n"), 0o644))
	loadSeen(t, src, Options{Cache: c})
	left, err := filepath.Glob(filepath.Join(cache, statPrefix+"*"+statSuffix))
	require.NoError(t, err)
	assert.Len(t, left, statMaxFiles)
	assert.Contains(t, left, file, "the index just written is the newest")
	assert.NotContains(t, left, filepath.Join(cache, statPrefix+"00"+statSuffix), "the oldest went first")
}

// TestStatIndexListsAsReadDir: the index lists models/ as fs.ReadDir does:
// the same names in the same order, of the same types and sizes.
func TestStatIndexListsAsReadDir(t *testing.T) {
	needStatIndex(t)
	dir, cache := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{
		"inventory.cue":       cacheFixture["inventory.cue"],
		"models/defaults.cue": licenseDefault,
		"models/b/model.cue":  "package model\n",
		"models/a/model.cue":  "package model\n",
		"models/notes.txt":    "twelve bytes",
	})
	require.NoError(t, os.Symlink("a", filepath.Join(dir, "models", "c")))
	require.NoError(t, os.Symlink("/nowhere", filepath.Join(dir, "models", "d")))
	ix := statIndexOf(t, cache, dir)
	got, err := ix.list()
	require.NoError(t, err)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	want, err := fs.ReadDir(src.FS, ModelsDir)
	require.NoError(t, err)
	describe := func(es []fs.DirEntry) []string {
		var out []string
		for _, e := range es {
			fi, err := e.Info()
			require.NoError(t, err)
			out = append(out, fmt.Sprintf("%s dir=%v type=%v mode=%v name=%s isdir=%v size=%d", e.Name(), e.IsDir(), e.Type(), fi.Mode(), fi.Name(), fi.IsDir(), fi.Size()))
		}
		return out
	}
	assert.Equal(t, describe(want), describe(got))
	assert.Len(t, got, 6)
}

// TestStatIndexOfALinkedTree: a work tree reached through a link to its
// folder has the index of the folder itself.
func TestStatIndexOfALinkedTree(t *testing.T) {
	needStatIndex(t)
	dir, cache := t.TempDir(), t.TempDir()
	writeFiles(t, dir, cacheFixture)
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(dir, link))
	real, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	a, b := statIndexOf(t, cache, real), statIndexOf(t, cache, link)
	assert.Equal(t, a.file, b.file)
	assert.Equal(t, real, b.tree)
}

// TestStatIndexCutoffIsStrict: a folder or file changed at the cutoff
// itself is racy; one changed a nanosecond before is not. Modification and
// change times count alike.
func TestStatIndexCutoffIsStrict(t *testing.T) {
	needStatIndex(t)
	dir, cache := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"inventory.cue": cacheFixture["inventory.cue"], "models/a/model.cue": "package model\n"})
	own := []sourceFile{{name: "models/a/model.cue", src: []byte("package model\n")}}
	file := filepath.Join(dir, "models", "a", "model.cue")
	ix := statIndexOf(t, cache, dir)
	recorded := func(cutoff int64) bool {
		ix.cutoff = cutoff
		delete(ix.next, "a")
		ix.record("models/a", own, filesHash(own))
		return ix.next["a"] != nil
	}
	latest := func() int64 {
		d, ok := lstatAt(ix.fd, "a")
		require.True(t, ok)
		f, ok := lstatAt(ix.fd, "a/model.cue")
		require.True(t, ok)
		return max(d.mtime, d.ctime, f.mtime, f.ctime)
	}
	// A modification time in the future, after the change time.
	future := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(file, future, future))
	at := latest()
	assert.Equal(t, future.UnixNano(), at)
	assert.False(t, recorded(at), "modified at the cutoff")
	assert.True(t, recorded(at+1))
	// A modification time in the past: the change time is the latest.
	past := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(file, past, past))
	require.NoError(t, os.Chtimes(filepath.Dir(file), past, past))
	at = latest()
	assert.Greater(t, at, past.UnixNano())
	assert.False(t, recorded(at), "changed at the cutoff")
	assert.True(t, recorded(at+1))
}

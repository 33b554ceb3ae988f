package inventory

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cuelang.org/go/cue"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/schema"
)

// titleVisitor is a Visitor that returns each model's card title: what an
// organisation rule would read.
const titleVisitor = "test.title"

func init() {
	RegisterJob("test.upper", func(in []byte) ([]byte, error) {
		if string(in) == "fail" {
			return nil, fmt.Errorf("asked to fail")
		}
		return bytes.ToUpper(in), nil
	})
	RegisterVisitor(titleVisitor, func(config []byte) (VisitFunc, error) {
		return func(m *Model, v cue.Value, note func([]byte)) []byte {
			s, _ := v.LookupPath(cue.ParsePath("card.title")).String()
			return []byte(string(config) + s)
		}, nil
	})
}

// cacheFixture is an inventory of valid and broken models.
var cacheFixture = map[string]string{
	"inventory.cue":        "package inventory\n\ntargets: prod: {stage: \"production\", kind: \"local\", path: \"prod\"}\n",
	"models/defaults.cue":  licenseDefault,
	"models/a/model.cue":   invgenModel("a", "file://artifacts/v0.bin", "file://artifacts/v0.bin"),
	"models/b/model.cue":   invgenModel("b", "file://artifacts/v0.bin", "file://artifacts/missing.bin"),
	"models/c/model.cue":   "package model\n\ncard: title: 3\n",
	"models/d/model.cue":   "package model\n\ncard: {\n",
	"models/Bad/model.cue": invgenModel("Bad", "file://artifacts/v0.bin", "file://artifacts/v0.bin"),
	"artifacts/v0.bin":     "weights",
}

// loaded is what a user sees of a Load: every problem, and every model as
// JSON with its validity and files.
type loaded struct {
	Problems []string
	Models   []string
	Visits   map[string]string
	Settings string
}

// seenOptions are Load's options and whether to leave positions out.
type seenOptions = struct {
	Options
	noPos bool
}

// lastCached is Inventory.Cached of loadSeen's last Load.
var lastCached int

func loadSeen(t *testing.T, src *Source, o Options, noPos ...bool) loaded {
	opts := seenOptions{Options: o, noPos: len(noPos) > 0 && noPos[0]}
	t.Helper()
	var mu sync.Mutex
	out := loaded{Visits: map[string]string{}}
	if opts.Visitor != nil {
		v := *opts.Visitor
		v.Collect = func(model string, result []byte, err error) {
			mu.Lock()
			defer mu.Unlock()
			out.Visits[model] = fmt.Sprintf("%s %v", result, err)
		}
		opts.Visitor = &v
	}
	inv, err := Load(context.Background(), src, opts.Options)
	require.NoError(t, err)
	lastCached = inv.Cached
	out.Problems = problemLines(inv.Problems)
	for _, m := range inv.Models {
		b, err := json.Marshal(m.Model)
		require.NoError(t, err)
		pos := Position{}
		if !opts.noPos {
			pos = m.Pos("versions", "1.1.0", "artifact", "uri")
		}
		out.Models = append(out.Models, fmt.Sprintf("%s valid=%v files=%v pos=%s %s", m.Name, m.Valid, m.Files, pos, b))
	}
	b, err := json.Marshal(inv.Settings)
	require.NoError(t, err)
	out.Settings = fmt.Sprintf("ok=%v %s", inv.SettingsOK, b)
	return out
}

// TestCacheSameResults: a Load served from the cache gives what evaluating
// gives, in the work tree and at a revision, in-process and in workers,
// and the second Load evaluates nothing.
func TestCacheSameResults(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	writeFiles(t, dir, cacheFixture)
	commitAll(t, repo, "fixture")
	iso := testIsolation(t, Budget{Time: time.Minute, Memory: 1 << 30})
	for _, rev := range []string{"", "HEAD"} {
		for _, isolated := range []bool{false, true} {
			t.Run(fmt.Sprintf("rev=%s/isolated=%v", rev, isolated), func(t *testing.T) {
				src, err := Open(context.Background(), dir, rev)
				require.NoError(t, err)
				opts := Options{Workers: 1, Visitor: &Visitor{Name: titleVisitor, Config: []byte("title: ")}}
				if isolated {
					opts.Isolate = iso
				}
				want := loadSeen(t, src, opts)
				require.NotEmpty(t, want.Problems)
				require.Contains(t, want.Visits, "a")

				opts.Cache = &Cache{Dir: t.TempDir()}
				cold := loadSeen(t, src, opts)
				assert.Equal(t, want, cold)
				s := opts.Cache.open()
				assert.NotZero(t, sessionEntries(s), "the cold Load wrote its results")

				assert.Zero(t, lastCached)
				warm := loadSeen(t, src, opts)
				assert.Equal(t, want, warm)
				assert.Equal(t, 5, lastCached, "every model folder is served from the cache")

				// Another visitor config is another key: evaluated again.
				opts.Visitor = &Visitor{Name: titleVisitor, Config: []byte("other: ")}
				other := loadSeen(t, src, opts)
				opts.Cache = nil
				assert.Equal(t, loadSeen(t, src, opts), other)
			})
		}
	}
}

// TestCacheHitsWithoutEvaluating: a warm Load starts no worker, and at a
// revision reads no model file: the files' objects can be gone.
func TestCacheHitsWithoutEvaluating(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	writeFiles(t, dir, cleanInventory)
	commitAll(t, repo, "clean")
	cache := &Cache{Dir: t.TempDir()}
	src, err := Open(context.Background(), dir, "HEAD")
	require.NoError(t, err)
	iso := testIsolation(t, Budget{Time: time.Minute, Memory: 1 << 30})
	first := loadSeen(t, src, Options{Cache: cache, Isolate: iso}, true)
	require.Empty(t, first.Problems)

	// Remove the blob of models/m/model.cue from the object store.
	head, err := repo.Head()
	require.NoError(t, err)
	c, err := repo.CommitObject(head.Hash())
	require.NoError(t, err)
	f, err := c.File("models/m/model.cue")
	require.NoError(t, err)
	h := f.Hash.String()
	require.NoError(t, os.Remove(filepath.Join(dir, ".git", "objects", h[:2], h[2:])))
	_, err = repo.BlobObject(plumbing.NewHash(h))
	require.Error(t, err, "the blob is gone")

	// A worker that cannot start would fail the Load.
	broken := &Isolation{Command: []string{filepath.Join(t.TempDir(), "no-such-binary")}}
	src, err = Open(context.Background(), dir, "HEAD")
	require.NoError(t, err)
	// inventory.cue's result is cached too. Positions are not: they are
	// read from the files when a finding needs them.
	again := loadSeen(t, src, Options{Cache: cache, Isolate: broken}, true)
	assert.Equal(t, 1, lastCached)
	assert.Equal(t, first, again)
}

// TestCacheDamagedPackRewritten: a truncated pack and a foreign file are
// passed over without an error, the results evaluated again, and the
// cache rewritten whole.
func TestCacheDamagedPackRewritten(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, cacheFixture)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	cache := &Cache{Dir: t.TempDir()}
	want := loadSeen(t, src, Options{Workers: 1, Cache: cache})
	packs, err := filepath.Glob(filepath.Join(cache.Dir, "*"+packSuffix))
	require.NoError(t, err)
	require.Len(t, packs, 1)
	b, err := os.ReadFile(packs[0])
	require.NoError(t, err)

	for name, damage := range map[string][]byte{
		"truncated":       b[:len(b)-10],
		"truncated data":  b[:len(packMagic)+10],
		"flipped trailer": flip(b, len(b)-3),
		"flipped entry":   flip(b, len(packMagic)+5),
		"flipped index":   flip(b, len(b)-int(trailerSize)-20),
		"foreign":         []byte("not a cairn cache at all"),
		"empty":           nil,
	} {
		t.Run(name, func(t *testing.T) {
			packs, _ := filepath.Glob(filepath.Join(cache.Dir, "*"+packSuffix))
			for _, p := range packs {
				require.NoError(t, os.Remove(p))
			}
			require.NoError(t, os.WriteFile(filepath.Join(cache.Dir, cache.versionTag()+"-20000101T000000.000000000-00000000"+packSuffix), damage, 0o644))
			require.NoError(t, os.WriteFile(filepath.Join(cache.Dir, "junk"+packSuffix), damage, 0o644))
			got := loadSeen(t, src, Options{Workers: 1, Cache: cache})
			assert.Equal(t, want, got)
			packs, _ = filepath.Glob(filepath.Join(cache.Dir, "*"+packSuffix))
			require.Len(t, packs, 1, "the damaged pack is replaced")
			s := cache.open()
			assert.False(t, s.damaged)
			assert.Equal(t, 5, sessionEntries(s), "every model folder with .cue files")
		})
	}
}

// flip returns b with the byte at i inverted.
func flip(b []byte, i int) []byte {
	out := append([]byte{}, b...)
	out[i] ^= 0xff
	return out
}

// sessionEntries counts the entries of the packs s found.
func sessionEntries(s *cacheSession) int {
	n := 0
	for _, p := range s.packs {
		n += len(p.index) / indexRecord
	}
	return n
}

// TestCacheConcurrentLoads: Loads at once on one cache all succeed and
// agree, whatever packs the others write and merge meanwhile.
func TestCacheConcurrentLoads(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, cacheFixture)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	want := loadSeen(t, src, Options{Workers: 1})
	cache := &Cache{Dir: t.TempDir()}
	var wg sync.WaitGroup
	results := make([]loaded, 2*maxPacks)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each sees other defaults once in a while: new entries.
			c := &Cache{Dir: cache.Dir, Version: fmt.Sprint(i % 3)}
			results[i] = loadSeen(t, src, Options{Workers: 1, Cache: c})
		}()
	}
	wg.Wait()
	for _, r := range results {
		assert.Equal(t, want, r)
	}
	assert.Equal(t, want, loadSeen(t, src, Options{Workers: 1, Cache: cache}))
}

// TestCacheBounded: packs are merged when there are too many, and the
// folder keeps within MaxBytes, dropping what was not used lately.
func TestCacheBounded(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, cleanInventory)
	src, err := OpenWorktree(dir)
	require.NoError(t, err)
	packs := func(cacheDir string) (n int, size int64) {
		names, err := filepath.Glob(filepath.Join(cacheDir, "*"+packSuffix))
		require.NoError(t, err)
		for _, p := range names {
			fi, err := os.Stat(p)
			require.NoError(t, err)
			size += fi.Size()
		}
		return len(names), size
	}

	// One version, a new result each Load: a pack each, merged.
	cacheDir := t.TempDir()
	for i := range 3 * maxPacks {
		writeFiles(t, dir, map[string]string{"models/m/model.cue": strings.Replace(validModel, "Synthetic model m", fmt.Sprintf("Model %d", i), 1)})
		loadSeen(t, src, Options{Cache: &Cache{Dir: cacheDir}})
		n, _ := packs(cacheDir)
		assert.LessOrEqual(t, n, maxPacks)
	}

	// A version each Load, within a small bound: the oldest versions go.
	writeFiles(t, dir, cleanInventory)
	cacheDir = t.TempDir()
	for i := range 3 * maxPacks {
		loadSeen(t, src, Options{Cache: &Cache{Dir: cacheDir, Version: fmt.Sprint(i), MaxBytes: 8 << 10}})
		_, size := packs(cacheDir)
		assert.LessOrEqual(t, size, int64(8<<10))
	}
	own := []sourceFile{{name: "models/m/model.cue", src: []byte(validModel)}}
	defaults := []sourceFile{{name: "models/defaults.cue", src: []byte(licenseDefault)}}
	newest := (&Cache{Dir: cacheDir, Version: fmt.Sprint(3*maxPacks - 1)}).open()
	assert.NotNil(t, newest.get(newKeyer(newest.c, defaults, nil).files(&Model{Name: "m"}, filesHash(own))))
	oldest := (&Cache{Dir: cacheDir, Version: "0"}).open()
	assert.Nil(t, oldest.get(newKeyer(oldest.c, defaults, nil).files(&Model{Name: "m"}, filesHash(own))))
}

// TestCacheLinkedFileNotKeyedByTree: at a revision, a model whose .cue
// file is a symbolic link is keyed by the content read, not the folder's
// tree, which does not name the link's target.
func TestCacheLinkedFileNotKeyedByTree(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	writeFiles(t, dir, map[string]string{
		"inventory.cue":       "package inventory\n",
		"models/defaults.cue": licenseDefault,
		"shared/model.cue":    validModel,
		"artifacts/v0.bin":    "weights",
	})
	symlink(t, dir, "../../shared/model.cue", "models/m/model.cue")
	commitAll(t, repo, "linked")
	cache := &Cache{Dir: t.TempDir()}
	src, err := Open(context.Background(), dir, "HEAD")
	require.NoError(t, err)
	first := loadSeen(t, src, Options{Cache: cache})
	require.Empty(t, first.Problems)

	// The target changes; the folder's tree does not.
	writeFiles(t, dir, map[string]string{"shared/model.cue": "package model\n\ncard: title: 3\n"})
	commitAll(t, repo, "target changed")
	src, err = Open(context.Background(), dir, "HEAD")
	require.NoError(t, err)
	want := loadSeen(t, src, Options{})
	require.NotEmpty(t, want.Problems)
	assert.Equal(t, want, loadSeen(t, src, Options{Cache: cache}))
}

// TestCodecRoundTrip: the cache's form of a model decodes to the same Go
// value, nil and empty apart, and a damaged form is an error.
func TestCodecRoundTrip(t *testing.T) {
	in := schema.Model{
		Card: schema.Card{Title: "t", Owners: []string{}, Limitations: nil, IO: &schema.IO{Inputs: []schema.Field{{Name: "x", Type: "float"}}},
			Review: schema.Review{IntervalDays: -3}, Data: schema.Data{Training: []schema.Dataset{{URI: "s3://b", PII: true}}}},
		Versions: map[string]*schema.Version{"1.0.0": {Artifact: schema.Artifact{URI: "file://a", Size: 1 << 40}, Metrics: map[string]float64{"auc": 0.91, "neg": -0.0}}},
		Stages:   map[string]string{},
		Retired:  true,
	}
	b, err := encodeValue(nil, &in)
	require.NoError(t, err)
	var out schema.Model
	require.NoError(t, decodeValue(b, &out))
	assert.Equal(t, in, out)
	assert.NotNil(t, out.Stages)
	assert.Nil(t, out.Monitors)
	assert.Nil(t, out.Card.Privacy)
	for i := range len(b) {
		var x schema.Model
		assert.Error(t, decodeValue(b[:i], &x), "truncated at %d", i)
	}
	_, err = encodeValue(nil, &struct{ C chan int }{})
	assert.Error(t, err)
}

// TestCacheJobs: with a Cache, Isolation.Run runs each job once per input:
// a second Run needs no worker. Failures are not remembered.
func TestCacheJobs(t *testing.T) {
	cache := &Cache{Dir: t.TempDir()}
	iso := testIsolation(t, Budget{Time: time.Minute, Memory: 1 << 30})
	iso.Cache = cache
	res, err := iso.Run(context.Background(), "test.upper", []byte("a"), []byte("fail"))
	require.NoError(t, err)
	require.Equal(t, "A", string(res[0].Output))
	require.Error(t, res[1].Err)

	broken := &Isolation{Command: []string{filepath.Join(t.TempDir(), "no-such-binary")}, Cache: cache}
	res, err = broken.Run(context.Background(), "test.upper", []byte("a"))
	require.NoError(t, err, "no worker is started")
	assert.Equal(t, "A", string(res[0].Output))
	_, err = broken.Run(context.Background(), "test.upper", []byte("fail"))
	assert.Error(t, err, "a failure is not cached: a worker is needed")
}

// TestCodecKinds: every kind the codec knows comes back as it went in,
// at its full range.
func TestCodecKinds(t *testing.T) {
	type inner struct {
		S string
		P *float32
	}
	type all struct {
		I   int
		I8  int8
		I16 int16
		I32 int32
		I64 int64
		F32 float32
		F64 float64
		B   bool
		S   []inner
		M   map[string]inner
		P   *inner
		N   *inner
		E   []string
	}
	f := float32(-1.5)
	in := all{I: -1 << 40, I8: -128, I16: 32767, I32: -1 << 31, I64: 1<<63 - 1, F32: 3.25, F64: -0.1, B: true,
		S: []inner{{S: "a"}, {P: &f}}, M: map[string]inner{"a": {S: "y", P: &f}, "b": {}, "": {}}, P: &inner{S: "p"}, E: []string{}}
	b, err := encodeValue(nil, &in)
	require.NoError(t, err)
	var out all
	require.NoError(t, decodeValue(b, &out))
	assert.Equal(t, in, out)
	assert.NotNil(t, out.E, "empty stays empty, not nil")
	assert.Nil(t, out.N)

	for n := range len(b) {
		var cut all
		assert.Error(t, decodeValue(b[:n], &cut), "cut at %d", n)
	}
	// The same value is the same bytes, whatever order its maps iterate in.
	many := map[string]int{}
	for i := range 32 {
		many[fmt.Sprint(i)] = i
	}
	first, err := encodeValue(nil, &many)
	require.NoError(t, err)
	for range 20 {
		again, err := encodeValue(nil, &many)
		require.NoError(t, err)
		require.Equal(t, first, again)
	}

	// Values on their own: nothing left over, nothing missing.
	for _, v := range []any{new(int), new(int8), new(int16), new(int32), new(int64), new(float32), new(float64), new(bool), new(string)} {
		b, err := encodeValue(nil, v)
		require.NoError(t, err)
		assert.NoError(t, decodeValue(b, v), "%T", v)
		assert.Error(t, decodeValue(nil, v), "%T from nothing", v)
		assert.Error(t, decodeValue(append(b, 0), v), "%T with a byte left over", v)
	}
	var n int64
	require.NoError(t, decodeValue(binary.AppendVarint(nil, -5), &n))
	assert.Equal(t, int64(-5), n)
	var flag bool
	assert.Error(t, decodeValue([]byte{2}, &flag), "a bool is 0 or 1")
	var p *int
	assert.Error(t, decodeValue([]byte{2}, &p), "a pointer is 0 or 1")

	_, err = encodeValue(nil, &struct{ C chan int }{})
	assert.Error(t, err)
	_, err = encodeValue(nil, &struct{ M map[int]string }{})
	assert.Error(t, err)
	_, err = encodeValue(nil, &struct{ x int }{})
	assert.Error(t, err)
}

// TestBuildVersionIsTheBuildID: the cache's results are of this build, as
// `go tool buildid` names it, not of a module version that every test
// binary and every build of a changed work tree shares.
func TestBuildVersionIsTheBuildID(t *testing.T) {
	exe, err := os.Executable()
	require.NoError(t, err)
	out, err := exec.Command("go", "tool", "buildid", exe).Output()
	if err != nil {
		t.Skipf("go tool buildid: %v", err)
	}
	assert.Equal(t, "buildid:"+strings.TrimSpace(string(out)), BuildVersion())
	assert.Equal(t, strings.TrimSpace(string(out)), buildID(exe))

	// A file with no build ID is known by its content.
	other := filepath.Join(t.TempDir(), "tool")
	require.NoError(t, os.WriteFile(other, []byte("#!/bin/sh\n"), 0o755))
	assert.Empty(t, buildID(other))
	sum := sha256.Sum256([]byte("#!/bin/sh\n"))
	assert.Equal(t, hex.EncodeToString(sum[:]), fileHash(other))
	assert.Empty(t, fileHash(filepath.Join(t.TempDir(), "missing")))
}

// TestELFBuildID: the note the Go linker writes, and what is not one.
func TestELFBuildID(t *testing.T) {
	le := binary.LittleEndian
	note := func(namesz, descsz, typ uint32, name, desc string) []byte {
		b := le.AppendUint32(nil, namesz)
		b = le.AppendUint32(b, descsz)
		b = le.AppendUint32(b, typ)
		return append(append(b, name...), desc...)
	}
	assert.Equal(t, "abc/def", elfBuildID(note(4, 7, 4, "Go\x00\x00", "abc/def"), le))
	assert.Equal(t, "abc", elfBuildID(note(4, 3, 4, "Go\x00\x00", "abc/def"), le), "the descriptor's length counts")
	assert.Empty(t, elfBuildID(note(4, 7, 3, "Go\x00\x00", "abc/def"), le), "another type")
	assert.Empty(t, elfBuildID(note(4, 7, 4, "GNU\x00", "abc/def"), le), "another owner")
	assert.Empty(t, elfBuildID(note(5, 7, 4, "Go\x00\x00", "abc/def"), le), "another name size")
	assert.Empty(t, elfBuildID(note(4, 8, 4, "Go\x00\x00", "abc/def"), le), "longer than the note")
	assert.Empty(t, elfBuildID(note(4, 0, 4, "Go\x00", ""), le), "shorter than a header")
	assert.Equal(t, "x", elfBuildID(note(4, 1, 4, "Go\x00\x00", "x"), le))
}

package inventory

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cairnops/cairn/schema"
)

// Cache remembers the evaluation of model folders (the evaluated model, its
// problems and what the organisation rules gave for it) and of
// inventory.cue, across runs, by the content they depend on. A result is
// found again only when its key matches, and the key covers everything
// the result depends on:
//
//   - the folder's content: its git tree hash at a revision, a hash of its
//     .cue files in the work tree;
//   - the defaults (models/*.cue);
//   - the schema and Version, which names the code that evaluates;
//   - the organisation rules run on each model (the Visitor's config).
//
// Nothing else is evaluated per model: the checks that read the settings,
// other models, a base or other files of the repository run on every Load,
// from the cached values.
//
// The files are packs: each Load that evaluated something writes one, beside
// the others, atomically (a temporary file renamed), and holds no lock while
// it evaluates, so that concurrent runs share the folder. A pack or entry
// that is damaged or of another format is ignored, and its entries are
// rewritten. When there are too many packs, or they pass MaxBytes, a Load
// merges them into one, dropping the entries used least recently first.
type Cache struct {
	// Dir is the folder of the packs; it is created on the first write.
	Dir string
	// Version names the code that evaluates: a cairn release, or a build
	// of it. Results of other versions are never used. Empty means
	// BuildVersion().
	Version string
	// MaxBytes bounds the size of the packs; default 64 MiB.
	MaxBytes int64

	versionOnce sync.Once
	version     string
}

// CacheEnv changes the default folder of the cache (DefaultCacheDir).
const CacheEnv = "CAIRN_CACHE_DIR"

// DefaultCacheDir is $CAIRN_CACHE_DIR, else cairn in the user's cache
// folder ($XDG_CACHE_HOME, ~/.cache on Linux).
func DefaultCacheDir() (string, error) {
	if d := os.Getenv(CacheEnv); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "cairn"), nil
}

// defaultMaxBytes is the default of Cache.MaxBytes.
const defaultMaxBytes = 64 << 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BuildVersion names this build of the program: the Go build ID, which
// changes with any change of the code; where the executable has none that
// can be read, a hash of the executable itself. The module version and VCS
// revision are no name of a build: every test binary is "(devel)", and a
// build of a changed work tree carries the revision it started from.
func BuildVersion() string {
	buildVersionOnce.Do(func() {
		exe, err := os.Executable()
		if err != nil {
			buildVersion = "unknown"
			return
		}
		if id := buildID(exe); id != "" {
			buildVersion = "buildid:" + id
			return
		}
		if sum := fileHash(exe); sum != "" {
			buildVersion = "sha256:" + sum
			return
		}
		buildVersion = "unknown"
	})
	return buildVersion
}

var (
	buildVersionOnce sync.Once
	buildVersion     string
)

// buildID reads the Go build ID of the executable exe: from its ELF note
// (Linux and the BSDs), else from the marker the linker writes at the start
// of the text (macOS, Windows); "" when there is none.
func buildID(exe string) string {
	if f, err := elf.Open(exe); err == nil {
		defer f.Close()
		if sec := f.Section(".note.go.buildid"); sec != nil {
			if note, err := sec.Data(); err == nil {
				return elfBuildID(note, f.ByteOrder)
			}
		}
		return ""
	}
	f, err := os.Open(exe)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	n, _ := io.ReadFull(f, buf)
	buf = buf[:n]
	const marker = "\xff Go build ID: \""
	i := bytes.Index(buf, []byte(marker))
	if i < 0 {
		return ""
	}
	rest := buf[i+len(marker):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return ""
	}
	return string(rest[:j])
}

// elfBuildID is the build ID in an ELF note of name "Go" and type 4, as the
// Go linker writes it; "" when note is not one.
func elfBuildID(note []byte, order binary.ByteOrder) string {
	if len(note) < 16 {
		return ""
	}
	namesz, descsz, typ := order.Uint32(note), order.Uint32(note[4:]), order.Uint32(note[8:])
	if namesz != 4 || typ != 4 || string(note[12:16]) != "Go\x00\x00" || uint64(descsz) > uint64(len(note)-16) {
		return ""
	}
	return string(note[16 : 16+descsz])
}

// fileHash is the hex sha256 of the file at name, "" when it cannot be read.
func fileHash(name string) string {
	f, err := os.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *Cache) codeVersion() string {
	c.versionOnce.Do(func() {
		h := sha256.New()
		v := c.Version
		if v == "" {
			v = BuildVersion()
		}
		writeField(h, v)
		files, _ := schema.Files() // embedded: cannot fail
		names := make([]string, 0, len(files))
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			writeField(h, n)
			writeField(h, string(files[n]))
		}
		c.version = string(h.Sum(nil))
	})
	return c.version
}

// writeField writes s to h with its length, so that fields cannot run into
// one another.
func writeField(h io.Writer, s string) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
	io.WriteString(h, s)
}

func writeBytes(h io.Writer, b []byte) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	h.Write(b)
}

type cacheKey [sha256.Size]byte

// cacheEntry is one cached result: of a model folder, or of inventory.cue.
type cacheEntry struct {
	files    []string
	built    bool
	problems []Problem
	value    []byte // when there are no problems: the model (encodeValue), the settings as JSON
	visited  bool   // visit holds the visitor's result
	visit    []byte
}

const (
	flagBuilt = 1 << iota
	flagVisited
)

func (e *cacheEntry) encode() []byte {
	var b []byte
	var flags byte
	if e.built {
		flags |= flagBuilt
	}
	if e.visited {
		flags |= flagVisited
	}
	b = append(b, flags)
	b = binary.AppendUvarint(b, uint64(len(e.files)))
	for _, f := range e.files {
		b = appendBytes(b, []byte(f))
	}
	var probs []byte
	if len(e.problems) > 0 {
		probs, _ = json.Marshal(e.problems) // strings and ints only
	}
	b = appendBytes(b, probs)
	b = appendBytes(b, e.value)
	return appendBytes(b, e.visit)
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errEntry = errors.New("damaged cache entry")

func decodeEntry(b []byte) (*cacheEntry, error) {
	if len(b) == 0 {
		return nil, errEntry
	}
	e := &cacheEntry{built: b[0]&flagBuilt != 0, visited: b[0]&flagVisited != 0}
	b = b[1:]
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, false
		}
		s := b[k : k+int(n)]
		b = b[k+int(n):]
		return s, true
	}
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, errEntry
	}
	b = b[k:]
	e.files = make([]string, 0, n)
	for range n {
		s, ok := next()
		if !ok {
			return nil, errEntry
		}
		e.files = append(e.files, unsafe.String(unsafe.SliceData(s), len(s))) // b is not written to
	}
	probs, ok1 := next()
	value, ok2 := next()
	visit, ok3 := next()
	if !ok1 || !ok2 || !ok3 || len(b) != 0 {
		return nil, errEntry
	}
	if len(probs) > 0 {
		if err := json.Unmarshal(probs, &e.problems); err != nil {
			return nil, errEntry
		}
	}
	if len(value) > 0 {
		e.value = value
	}
	if len(visit) > 0 {
		e.visit = visit
	}
	return e, nil
}

// keyer makes the keys of one Load's results.
type keyer struct {
	base []byte // the code version, the defaults and the visitor
}

func newKeyer(c *Cache, defaults []sourceFile, vis *Visitor) *keyer {
	h := sha256.New()
	writeField(h, c.codeVersion())
	writeField(h, "defaults")
	for _, d := range defaults {
		writeField(h, d.name)
		writeBytes(h, d.src)
	}
	if vis != nil {
		writeField(h, "visitor")
		writeField(h, vis.Name)
		writeField(h, string(vis.Config))
	}
	return &keyer{base: h.Sum(nil)}
}

// tree is the key of model m whose folder is the git tree hash.
func (k *keyer) tree(m *Model, hash string) cacheKey {
	return k.sum("tree", m.Name, hash)
}

// files is the key of model m whose .cue files hash to sum (filesHash).
func (k *keyer) files(m *Model, sum [sha256.Size]byte) cacheKey {
	return k.sum("files", m.Name, string(sum[:]))
}

// filesHash is the hash of a model folder's .cue files, names and contents.
func filesHash(own []sourceFile) [sha256.Size]byte {
	h := sha256.New()
	for _, f := range own {
		writeField(h, f.name)
		writeBytes(h, f.src)
	}
	var out [sha256.Size]byte
	copy(out[:], h.Sum(nil))
	return out
}

func (k *keyer) sum(fields ...string) cacheKey {
	// The bytes writeField would write, in one buffer: a key per model
	// costs no allocation.
	var buf [256]byte
	b := append(buf[:0], k.base...)
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return sha256.Sum256(b)
}

// jobKey is the key of the output of the job name on input.
func jobKey(c *Cache, name string, input []byte) cacheKey {
	h := sha256.New()
	writeField(h, c.codeVersion())
	writeField(h, "job")
	writeField(h, name)
	writeBytes(h, input)
	var out cacheKey
	copy(out[:], h.Sum(nil))
	return out
}

// settingsKey is the key of inventory.cue's result.
func settingsKey(c *Cache, src []byte) cacheKey {
	h := sha256.New()
	writeField(h, c.codeVersion())
	writeField(h, "settings")
	writeField(h, string(src))
	var out cacheKey
	copy(out[:], h.Sum(nil))
	return out
}

// modelCache is the cache as the evaluation of one Load's models uses it.
type modelCache struct {
	s     *cacheSession
	k     *keyer
	vis   *Visitor   // the visitor whose results entries hold, or nil
	stats *statIndex // the work tree's folders read before, or nil
}

// lookup returns the key of m's result and the entry under it. Before the
// folder is read (own is nil) a folder has a key when its content is known
// without reading it: its tree hash at a revision, when the .cue files Load
// reads are plain files of it; in the work tree, the hash the stat index
// remembers for it, when nothing in it changed since. After, the key is a
// hash of own. keyed is false when m has no key yet.
func (mc *modelCache) lookup(fsys fs.FS, m *Model, own []sourceFile) (k cacheKey, keyed bool, e *cacheEntry) {
	if mc == nil {
		return k, false, nil
	}
	if own == nil {
		if sum, ok := mc.stats.lookup(m.Dir); ok {
			k = mc.k.files(m, sum)
			return k, true, mc.s.get(k)
		}
		if sm, ok := fsys.(*statMemo); ok {
			fsys = sm.FS
		}
		t, ok := fsys.(*treeFS)
		if !ok {
			return k, false, nil
		}
		hash, ok := t.DirTree(m.Dir)
		if !ok {
			return k, false, nil
		}
		k = mc.k.tree(m, hash)
		if e = mc.s.get(k); e == nil && !t.plainCUE(hash) {
			// A linked .cue file: the tree hash does not name its
			// content, so the result is keyed by the files read.
			return k, false, nil
		}
		return k, true, e
	}
	sum := filesHash(own)
	mc.stats.record(m.Dir, own, sum)
	k = mc.k.files(m, sum)
	return k, true, mc.s.get(k)
}

// apply fills m from the cached entry e and returns m's problems, calling
// the visitor's Collect as an evaluation would. It reports false, leaving m
// as it was, when e cannot stand for an evaluation (it lacks the visitor's
// result, or its value does not decode).
func (mc *modelCache) apply(fsys fs.FS, m *Model, e *cacheEntry, visitOff *atomic.Bool) ([]Problem, bool) {
	if len(e.problems) > 0 {
		m.Files = e.files
		if e.built {
			m.fsys = fsys
		}
		mc.s.count(true)
		return e.problems, true
	}
	if mc.vis != nil && !e.visited {
		return nil, false
	}
	if err := decodeValue(e.value, &m.Model); err != nil {
		m.Model = schema.Model{}
		return nil, false
	}
	m.Files = e.files
	if e.built {
		m.fsys = fsys
	}
	mc.s.count(true)
	if problems := pathProblems(fsys, m); len(problems) > 0 {
		return problems, true
	}
	m.Valid = true
	if mc.vis != nil && (visitOff == nil || !visitOff.Load()) {
		mc.vis.Collect(m.Name, e.visit, nil)
	}
	return nil, true
}

// store keeps the result of evaluating m under k.
func (mc *modelCache) store(k cacheKey, e *cacheEntry) {
	if mc == nil {
		return
	}
	mc.s.count(false)
	mc.s.put(k, e)
}

package inventory

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cairnops/cairn/internal/atomicfile"
)

// A pack is one file of the cache:
//
//	packMagic, the entries one after the other,
//	the index: one record per entry, sorted by key (key, offset, length,
//	CRC-32C of the entry),
//	the trailer: entry count, index offset, CRC-32C of the index,
//	packEnd.
//
// The index is at the end so that a Load can write its new entries to the
// pack as they come, holding none of them. A pack whose trailer or index
// does not check out (a truncated or foreign file) is passed over whole;
// an entry whose checksum does not is passed over alone.
const (
	packMagic         = "CAIRNC2\n"
	packEnd           = "CAIRNEND"
	packSuffix        = ".pack"
	trailerSize int64 = 4 + 8 + 4 + int64(len(packEnd))
	// indexRecord is the size of one index record.
	indexRecord = sha256.Size + 8 + 4 + 4
	// maxPacks is how many packs of a version may accumulate before a
	// Load merges them.
	maxPacks = 8
)

// cacheSession is the cache as one Load sees it: the packs of its version
// when it started (their indexes in memory, their entries read when asked
// for), and the pack it writes its new entries to.
type cacheSession struct {
	c *Cache

	mu      sync.Mutex // guards the fields below
	packs   []*pack    // oldest first
	used    map[cacheKey]entryLoc
	damaged bool
	others  []otherPack // packs of other versions
	junk    []string    // files named as packs that are none
	out     *packWriter // the new entries, nil until the first
	hits    int
}

type pack struct {
	name  string
	f     *os.File
	size  int64
	index []byte // the records, sorted by key
}

// otherPack is a pack of another code version.
type otherPack struct {
	name string
	size int64
	time time.Time
}

type entryLoc struct {
	pack     int // index in packs, -1 for the session's own new pack
	off      int64
	len, crc uint32
}

// open finds the packs of the cache; a cache that cannot be read is empty.
func (c *Cache) open() *cacheSession {
	s := &cacheSession{c: c, used: map[cacheKey]entryLoc{}}
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return s
	}
	tag := c.versionTag() + "-"
	var names []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, packSuffix) || e.IsDir() {
			continue
		}
		if strings.HasPrefix(name, tag) {
			names = append(names, name)
			continue
		}
		// Another version's pack is not read: its keys cannot match.
		// Only its size counts, for the bound.
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if t, _, ok := strings.Cut(name, "-"); !ok || len(t) != len(tag)-1 {
			s.junk = append(s.junk, name) // no pack of any version
			s.damaged = true
			continue
		}
		s.others = append(s.others, otherPack{name: name, size: fi.Size(), time: fi.ModTime()})
	}
	sort.Strings(names) // oldest first: names start with the time written
	for _, name := range names {
		p, ok := openPack(filepath.Join(c.Dir, name))
		if p == nil {
			continue // removed by a concurrent merge
		}
		p.name = name
		if !ok {
			s.damaged = true
		}
		s.packs = append(s.packs, p)
	}
	// Sized for a load that uses every entry of the largest pack, which
	// is the common one: the map does not grow entry by entry.
	most := 0
	for _, p := range s.packs {
		most = max(most, len(p.index)/indexRecord)
	}
	s.used = make(map[cacheKey]entryLoc, most)
	return s
}

// openPack opens the pack at path and reads its index. It returns nil when
// the file is gone, and false when the pack is damaged: then its index is
// empty.
func openPack(path string) (*pack, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	p := &pack{f: f}
	fi, err := f.Stat()
	if err != nil {
		return p, false
	}
	p.size = fi.Size()
	if p.size < int64(len(packMagic))+trailerSize {
		return p, false
	}
	var tr [trailerSize]byte
	if _, err := f.ReadAt(tr[:], p.size-trailerSize); err != nil || string(tr[16:]) != packEnd {
		return p, false
	}
	n := int64(binary.LittleEndian.Uint32(tr[:]))
	at := int64(binary.LittleEndian.Uint64(tr[4:]))
	if at < int64(len(packMagic)) || at+n*indexRecord != p.size-trailerSize {
		return p, false
	}
	index := make([]byte, n*indexRecord)
	if _, err := f.ReadAt(index, at); err != nil || crc32.Checksum(index, castagnoli) != binary.LittleEndian.Uint32(tr[12:]) {
		return p, false
	}
	var magic [len(packMagic)]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil || string(magic[:]) != packMagic {
		return p, false
	}
	p.index = index
	return p, true
}

// find returns where k's entry is in p.
func (p *pack) find(k cacheKey, i int) (entryLoc, bool) {
	n := len(p.index) / indexRecord
	j := sort.Search(n, func(j int) bool { return bytes.Compare(p.index[j*indexRecord:j*indexRecord+sha256.Size], k[:]) >= 0 })
	if j == n || !bytes.Equal(p.index[j*indexRecord:j*indexRecord+sha256.Size], k[:]) {
		return entryLoc{}, false
	}
	return recordLoc(p.index[j*indexRecord:], i), true
}

func recordLoc(r []byte, i int) entryLoc {
	r = r[sha256.Size:]
	return entryLoc{pack: i, off: int64(binary.LittleEndian.Uint64(r)), len: binary.LittleEndian.Uint32(r[8:]), crc: binary.LittleEndian.Uint32(r[12:])}
}

// read reads the entry at loc of p and checks it.
func (p *pack) read(loc entryLoc) ([]byte, bool) {
	if loc.off < int64(len(packMagic)) || loc.off+int64(loc.len) > p.size {
		return nil, false
	}
	b := make([]byte, loc.len)
	if _, err := p.f.ReadAt(b, loc.off); err != nil || crc32.Checksum(b, castagnoli) != loc.crc {
		return nil, false
	}
	return b, true
}

// get returns the entry under k, or nil. A damaged entry is nil, and the
// cache is rewritten when the session closes.
func (s *cacheSession) get(k cacheKey) *cacheEntry {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	var p *pack
	var loc entryLoc
	for i := len(s.packs) - 1; i >= 0 && p == nil; i-- {
		if l, ok := s.packs[i].find(k, i); ok {
			p, loc = s.packs[i], l
		}
	}
	s.mu.Unlock()
	if p == nil {
		return nil
	}
	var e *cacheEntry
	b, ok := p.read(loc)
	if ok {
		var err error
		if e, err = decodeEntry(b); err != nil {
			e = nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if e == nil {
		s.damaged = true
		return nil
	}
	s.used[k] = loc
	return e
}

// put adds e under k to the session's new pack. A pack that cannot be
// written is given up: the cache only makes runs faster.
func (s *cacheSession) put(k cacheKey, e *cacheEntry) {
	if s == nil {
		return
	}
	b := e.encode()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		s.out = newPackWriter(s.c.Dir)
	}
	s.out.add(k, b)
}

func (s *cacheSession) count(hit bool) {
	if s == nil || !hit {
		return
	}
	s.mu.Lock()
	s.hits++
	s.mu.Unlock()
}

// close finishes the session's new pack, or merges every pack into one
// within MaxBytes when there are too many, they are too large or one was
// damaged; then it closes the packs read. A cache that cannot be written
// is left as it is.
func (s *cacheSession) close() {
	if s == nil {
		return
	}
	defer func() {
		for _, p := range s.packs {
			p.f.Close()
		}
	}()
	if s.out == nil && !s.damaged {
		return
	}
	limit := s.c.MaxBytes
	if limit <= 0 {
		limit = defaultMaxBytes
	}
	var total, others int64
	for _, p := range s.packs {
		total += p.size
	}
	if s.out != nil {
		total += s.out.size()
	}
	for _, o := range s.others {
		others += o.size
	}
	if !s.damaged && len(s.packs)+1 <= maxPacks && total+others <= limit {
		s.out.finish(s.c.packName())
		return
	}
	// Merge: the entries this session added or used come first, then the
	// others from the newest pack to the oldest, while they fit.
	if err := os.MkdirAll(s.c.Dir, 0o755); err != nil {
		s.out.abandon()
		return
	}
	m := newPackWriter(s.c.Dir)
	size := int64(len(packMagic)) + trailerSize
	copyEntry := func(k cacheKey, b []byte) {
		if _, ok := m.keys[k]; ok || size+int64(len(b))+indexRecord > limit {
			return
		}
		m.add(k, b)
		size += int64(len(b)) + indexRecord
	}
	if s.out != nil {
		s.out.each(copyEntry)
	}
	for k, loc := range s.used {
		if b, ok := s.packs[loc.pack].read(loc); ok {
			copyEntry(k, b)
		}
	}
	for i := len(s.packs) - 1; i >= 0; i-- {
		p := s.packs[i]
		for j := 0; j < len(p.index); j += indexRecord {
			var k cacheKey
			copy(k[:], p.index[j:])
			if b, ok := p.read(recordLoc(p.index[j:], i)); ok {
				copyEntry(k, b)
			}
		}
	}
	s.out.abandon()
	if !m.finish(s.c.packName()) {
		return
	}
	for _, p := range s.packs {
		_ = os.Remove(filepath.Join(s.c.Dir, p.name))
	}
	for _, j := range s.junk {
		_ = os.Remove(filepath.Join(s.c.Dir, j))
	}
	// Other versions' packs go, oldest first, while the folder passes
	// the bound.
	sort.Slice(s.others, func(i, j int) bool { return s.others[i].time.Before(s.others[j].time) })
	for _, o := range s.others {
		if size+others <= limit {
			break
		}
		if os.Remove(filepath.Join(s.c.Dir, o.name)) == nil {
			others -= o.size
		}
	}
	s.sweep()
}

// versionTag starts the names of the packs of this code version.
func (c *Cache) versionTag() string {
	return hex.EncodeToString([]byte(c.codeVersion())[:8])
}

// packName is the name of a new pack: the version tag, the time and a
// random part, so that names sort by age.
func (c *Cache) packName() string {
	var rnd [4]byte
	_, _ = rand.Read(rnd[:]) // never fails on supported platforms
	return c.versionTag() + "-" + time.Now().UTC().Format("20060102T150405.000000000") + "-" + hex.EncodeToString(rnd[:]) + packSuffix
}

// sweep removes temporary files of writes that did not finish, once they
// are an hour old.
func (s *cacheSession) sweep() {
	entries, err := os.ReadDir(s.c.Dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), atomicfile.TempPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
			_ = os.Remove(filepath.Join(s.c.Dir, e.Name()))
		}
	}
}

// packWriter writes a pack to a temporary file beside the others, entry by
// entry, and renames it into place when finished: readers see a whole pack
// or none. A write error makes it give up.
type packWriter struct {
	dir  string
	f    *os.File
	w    *bufio.Writer
	off  int64
	keys map[cacheKey]entryLoc
	err  error
}

func newPackWriter(dir string) *packWriter {
	p := &packWriter{dir: dir, keys: map[cacheKey]entryLoc{}}
	if p.err = os.MkdirAll(dir, 0o755); p.err != nil {
		return p
	}
	if p.f, p.err = os.CreateTemp(dir, atomicfile.TempPrefix+"*"); p.err != nil {
		return p
	}
	p.w = bufio.NewWriterSize(p.f, 256<<10)
	_, p.err = p.w.WriteString(packMagic)
	p.off = int64(len(packMagic))
	return p
}

func (p *packWriter) add(k cacheKey, b []byte) {
	if p.err != nil {
		return
	}
	if _, ok := p.keys[k]; ok {
		return
	}
	if _, p.err = p.w.Write(b); p.err != nil {
		return
	}
	p.keys[k] = entryLoc{pack: -1, off: p.off, len: uint32(len(b)), crc: crc32.Checksum(b, castagnoli)}
	p.off += int64(len(b))
}

// size is the size the pack will have.
func (p *packWriter) size() int64 {
	return p.off + int64(len(p.keys)*indexRecord) + trailerSize
}

// each calls f with every entry written, reading them back.
func (p *packWriter) each(f func(k cacheKey, b []byte)) {
	if p.err != nil || p.w.Flush() != nil {
		return
	}
	for k, loc := range p.keys {
		b := make([]byte, loc.len)
		if _, err := p.f.ReadAt(b, loc.off); err == nil && crc32.Checksum(b, castagnoli) == loc.crc {
			f(k, b)
		}
	}
}

// finish writes the index and the trailer and renames the pack to name;
// it reports whether the pack is in place.
func (p *packWriter) finish(name string) bool {
	if p == nil {
		return false
	}
	if p.err != nil {
		p.abandon()
		return false
	}
	keys := make([]cacheKey, 0, len(p.keys))
	for k := range p.keys {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return bytes.Compare(keys[a][:], keys[b][:]) < 0 })
	index := make([]byte, 0, len(keys)*indexRecord)
	for _, k := range keys {
		loc := p.keys[k]
		index = append(index, k[:]...)
		index = binary.LittleEndian.AppendUint64(index, uint64(loc.off))
		index = binary.LittleEndian.AppendUint32(index, loc.len)
		index = binary.LittleEndian.AppendUint32(index, loc.crc)
	}
	tr := binary.LittleEndian.AppendUint32(nil, uint32(len(keys)))
	tr = binary.LittleEndian.AppendUint64(tr, uint64(p.off))
	tr = binary.LittleEndian.AppendUint32(tr, crc32.Checksum(index, castagnoli))
	tr = append(tr, packEnd...)
	_, err := p.w.Write(index)
	if err == nil {
		_, err = p.w.Write(tr)
	}
	if err == nil {
		err = p.w.Flush()
	}
	// Not synced: a pack torn by a crash fails its checks and is
	// passed over, which costs only time.
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(p.f.Name(), filepath.Join(p.dir, name))
	}
	if err != nil {
		_ = os.Remove(p.f.Name())
		return false
	}
	return true
}

// abandon removes the unfinished pack.
func (p *packWriter) abandon() {
	if p == nil || p.f == nil {
		return
	}
	p.f.Close()
	_ = os.Remove(p.f.Name())
	p.f, p.err = nil, io.ErrClosedPipe
}

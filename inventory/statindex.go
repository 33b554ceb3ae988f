package inventory

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash/crc32"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cairnops/cairn/internal/atomicfile"
)

// A statIndex spares a run served from the cache the reading of the work
// tree's model folders, the way git's index spares `git status` the
// reading of files. For each folder it remembers what the folder's .cue
// files hashed to (filesHash) and the file system's record of the folder
// and of each of those files when they were read: device, inode, mode,
// size, modification and change time. A folder whose records all still
// match was not changed since, and its key is made from the remembered
// hash without reading it: adding, removing or renaming an entry changes
// the folder's times, writing a file changes the file's.
//
// Change times cannot be set by a program, only moved by a change, but
// they have a granularity: a file written twice within one tick keeps its
// times. So a folder is remembered only when the folder and its files last
// changed before the run began by more than statRacy ("racily clean" in
// git's words); a folder changed since is read, as if there were no index.
// Only plain folders of plain .cue files are remembered, never a linked
// one. The index file lives in the cache folder, one per work tree; a
// damaged or foreign one is ignored and rewritten.
type statIndex struct {
	file   string   // the index file
	tree   string   // the work tree's absolute path, kept in the file
	models *os.File // the models folder, opened inside the repository
	fd     int      // its descriptor
	cutoff int64    // records changed at or after this (Unix ns) are racy

	listed map[string]fileStat // the entries of models/, from list

	mu      sync.Mutex
	old     map[string]*statEntry // by folder name under models/
	next    map[string]*statEntry
	visited map[string]bool
	changed bool
}

// statClock is the time a Load begins; tests move it.
var statClock = time.Now

// statRacy is how long before a run a folder must have last changed to be
// remembered: more than the time granularity of any file system we know.
const statRacy = 2 * time.Second

const (
	statMagic     = "cairn stat index 1\n"
	statPrefix    = "stat-"
	statSuffix    = ".idx"
	statMaxFiles  = 16 // index files kept in one cache folder, newest first
	statMaxInFile = 64 << 20
)

// fileStat is the file system's record of a file or folder.
type fileStat struct {
	dev, ino, mode, size uint64
	mtime, ctime         int64
}

type statEntry struct {
	dir   fileStat
	names []string // the .cue files, sorted
	files []fileStat
	sum   [sha256.Size]byte
}

// openStatIndex returns the index of the work tree src in the cache folder
// dir, or nil where there can be none: no work tree, a platform without
// file records, no models folder.
func openStatIndex(dir string, src *Source, start time.Time) *statIndex {
	if src == nil || src.root == nil || !statSupported {
		return nil
	}
	abs, err := filepath.Abs(src.Dir)
	if err != nil {
		return nil
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	models, err := src.root.Open(ModelsDir)
	if err != nil {
		return nil
	}
	sum := sha256.Sum256([]byte(abs))
	ix := &statIndex{
		file:   filepath.Join(dir, statPrefix+hex.EncodeToString(sum[:12])+statSuffix),
		tree:   abs,
		models: models,
		fd:     int(models.Fd()),
		cutoff: start.Add(-statRacy).UnixNano(),
	}
	ix.old = ix.read()
	// Sized for a load of every folder, which is the common one.
	ix.next = make(map[string]*statEntry, len(ix.old))
	ix.visited = make(map[string]bool, len(ix.old))
	return ix
}

// folder is the name under models/ of the model folder dir, or false.
func statFolder(dir string) (string, bool) {
	name, ok := strings.CutPrefix(dir, ModelsDir+"/")
	return name, ok && name != "" && !strings.Contains(name, "/")
}

// lookup returns the remembered hash of the .cue files of the model folder
// dir when its records still match, else false.
func (ix *statIndex) lookup(dir string) ([sha256.Size]byte, bool) {
	var none [sha256.Size]byte
	if ix == nil {
		return none, false
	}
	name, ok := statFolder(dir)
	if !ok {
		return none, false
	}
	ix.mu.Lock()
	e := ix.old[name]
	ix.visited[name] = true
	ix.mu.Unlock()
	if e == nil || !ix.matches(name, e) {
		return none, false
	}
	ix.mu.Lock()
	ix.next[name] = e
	ix.mu.Unlock()
	return e.sum, true
}

func (ix *statIndex) matches(name string, e *statEntry) bool {
	st, ok := ix.listed[name]
	if !ok {
		st, ok = lstatAt(ix.fd, name)
	}
	if !ok || st != e.dir {
		return false
	}
	for i, f := range e.names {
		st, ok := lstatAt(ix.fd, name+"/"+f)
		if !ok || st != e.files[i] {
			return false
		}
	}
	return true
}

// record remembers that the .cue files own of the model folder dir, just
// read, hash to sum, when the folder and the files are plain and were not
// changed since the run began.
func (ix *statIndex) record(dir string, own []sourceFile, sum [sha256.Size]byte) {
	if ix == nil || len(own) == 0 {
		return
	}
	name, ok := statFolder(dir)
	if !ok {
		return
	}
	ix.mu.Lock()
	ix.visited[name] = true
	ix.mu.Unlock()
	e := &statEntry{sum: sum}
	var ok2 bool
	if e.dir, ok2 = lstatAt(ix.fd, name); !ok2 || !ix.settled(e.dir, true) {
		return
	}
	for _, f := range own {
		base, ok := strings.CutPrefix(f.name, dir+"/")
		if !ok || strings.Contains(base, "/") {
			return
		}
		st, ok := lstatAt(ix.fd, name+"/"+base)
		if !ok || !ix.settled(st, false) || st.size != uint64(len(f.src)) {
			return
		}
		e.names = append(e.names, base)
		e.files = append(e.files, st)
	}
	if !sort.StringsAreSorted(e.names) {
		return
	}
	ix.mu.Lock()
	ix.next[name] = e
	ix.changed = true
	ix.mu.Unlock()
}

// settled reports whether st is a plain folder (or file) that last changed
// before the cutoff.
func (ix *statIndex) settled(st fileStat, folder bool) bool {
	want := uint64(statTypeRegular)
	if folder {
		want = statTypeDir
	}
	return st.mode&statTypeMask == want && st.mtime < ix.cutoff && st.ctime < ix.cutoff
}

// list lists the models folder as fs.ReadDir does, sorted by name. It takes
// each entry's type from the listing itself, which ReadDir in an os.Root
// does not (it lstat's every entry), and lstat's only the entries whose
// type the file system leaves unknown, keeping those records for lookup.
func (ix *statIndex) list() ([]fs.DirEntry, error) {
	names, types, err := readDirTypes(ix.fd)
	if err != nil {
		return nil, err
	}
	ix.listed = map[string]fileStat{}
	out := make([]*statDirEntry, 0, len(names))
	for i, n := range names {
		e := &statDirEntry{name: n, typ: types[i], fd: ix.fd}
		if e.typ == statUnknown {
			st, ok := lstatAt(ix.fd, n)
			if !ok {
				continue // gone since it was listed, as ReadDir passes over it
			}
			ix.listed[n] = st
			e.st, e.have = st, true
			e.typ = statFileInfo{name: n, st: st}.Mode().Type()
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	entries := make([]fs.DirEntry, len(out))
	for i, e := range out {
		entries[i] = e
	}
	return entries, nil
}

// statUnknown is the type of an entry whose type the listing did not give.
const statUnknown = ^fs.FileMode(0)

// statDirEntry is an entry of models/ as list read it; its record is read
// when Info asks, unless list had to read it for its type.
type statDirEntry struct {
	name string
	typ  fs.FileMode
	fd   int
	st   fileStat
	have bool
}

func (e *statDirEntry) Name() string      { return e.name }
func (e *statDirEntry) IsDir() bool       { return e.typ.IsDir() }
func (e *statDirEntry) Type() fs.FileMode { return e.typ }
func (e *statDirEntry) Info() (fs.FileInfo, error) {
	if !e.have {
		st, ok := lstatAt(e.fd, e.name)
		if !ok {
			return nil, &fs.PathError{Op: "lstat", Path: path.Join(ModelsDir, e.name), Err: fs.ErrNotExist}
		}
		e.st, e.have = st, true
	}
	return statFileInfo{name: e.name, st: e.st}, nil
}

// statFileInfo is the fs.FileInfo of a record.
type statFileInfo struct {
	name string
	st   fileStat
}

func (i statFileInfo) Name() string       { return i.name }
func (i statFileInfo) Size() int64        { return int64(i.st.size) }
func (i statFileInfo) ModTime() time.Time { return time.Unix(0, i.st.mtime) }
func (i statFileInfo) IsDir() bool        { return i.Mode().IsDir() }
func (i statFileInfo) Sys() any           { return nil }
func (i statFileInfo) Mode() fs.FileMode {
	m := fs.FileMode(i.st.mode & 0o777)
	switch i.st.mode & statTypeMask {
	case statTypeDir:
		m |= fs.ModeDir
	case statTypeLink:
		m |= fs.ModeSymlink
	case statTypeRegular:
	default:
		m |= fs.ModeIrregular
	}
	return m
}

// close writes the index when it changed, keeping the records of folders
// that still exist but were not looked at (a Load of some models only),
// and closes the models folder. present names the folders under models/.
func (ix *statIndex) close(present []string) {
	if ix == nil {
		return
	}
	defer ix.models.Close()
	for _, name := range present {
		if e := ix.old[name]; e != nil && !ix.visited[name] {
			ix.next[name] = e
		}
	}
	if !ix.changed && len(ix.next) == len(ix.old) {
		return
	}
	if err := os.MkdirAll(filepath.Dir(ix.file), 0o755); err != nil {
		return
	}
	_ = atomicfile.Write(ix.file, ix.encode(), 0o644) // an index only saves time
	ix.prune()
}

func (ix *statIndex) encode() []byte {
	names := make([]string, 0, len(ix.next))
	for n := range ix.next {
		names = append(names, n)
	}
	sort.Strings(names)
	b := []byte(statMagic)
	b = appendBytes(b, []byte(ix.tree))
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, n := range names {
		e := ix.next[n]
		b = appendBytes(b, []byte(n))
		b = appendStat(b, e.dir)
		b = binary.AppendUvarint(b, uint64(len(e.names)))
		for i, f := range e.names {
			b = appendBytes(b, []byte(f))
			b = appendStat(b, e.files[i])
		}
		b = append(b, e.sum[:]...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func appendStat(b []byte, s fileStat) []byte {
	for _, u := range [...]uint64{s.dev, s.ino, s.mode, s.size} {
		b = binary.AppendUvarint(b, u)
	}
	b = binary.AppendVarint(b, s.mtime)
	return binary.AppendVarint(b, s.ctime)
}

// read reads the index file; one that is missing, damaged or of another
// work tree is empty.
func (ix *statIndex) read() map[string]*statEntry {
	out := map[string]*statEntry{}
	f, err := os.Open(ix.file)
	if err != nil {
		return out
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < int64(len(statMagic))+4 || fi.Size() > statMaxInFile {
		return out
	}
	b := make([]byte, fi.Size())
	if _, err := f.ReadAt(b, 0); err != nil {
		return out
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return out
	}
	d := &decoder{b: body}
	if !bytes.HasPrefix(d.b, []byte(statMagic)) {
		return out
	}
	d.b = d.b[len(statMagic):]
	if tree, err := d.str(); err != nil || tree != ix.tree {
		return out
	}
	n, err := d.count()
	if err != nil {
		return out
	}
	entries := make(map[string]*statEntry, n)
	for range n {
		name, err := d.str()
		if err != nil {
			return out
		}
		e := &statEntry{}
		var ok bool
		if e.dir, ok = d.stat(); !ok {
			return out
		}
		k, err := d.count()
		if err != nil {
			return out
		}
		for range k {
			f, err := d.str()
			st, ok := d.stat()
			if err != nil || !ok {
				return out
			}
			e.names = append(e.names, f)
			e.files = append(e.files, st)
		}
		if len(d.b) < sha256.Size {
			return out
		}
		copy(e.sum[:], d.b)
		d.b = d.b[sha256.Size:]
		entries[name] = e
	}
	if len(d.b) != 0 {
		return out
	}
	return entries
}

// count reads a number of elements, each of which takes at least a byte.
func (d *decoder) count() (int, error) {
	n, err := d.uvarint()
	if err != nil || n > uint64(len(d.b)) {
		return 0, errCodec
	}
	return int(n), nil
}

func (d *decoder) stat() (fileStat, bool) {
	var s fileStat
	for _, p := range [...]*uint64{&s.dev, &s.ino, &s.mode, &s.size} {
		u, err := d.uvarint()
		if err != nil {
			return s, false
		}
		*p = u
	}
	for _, p := range [...]*int64{&s.mtime, &s.ctime} {
		n, k := binary.Varint(d.b)
		if k <= 0 {
			return s, false
		}
		d.b = d.b[k:]
		*p = n
	}
	return s, true
}

// prune keeps the statMaxFiles newest index files of the cache folder.
func (ix *statIndex) prune() {
	dir := filepath.Dir(ix.file)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type idx struct {
		name string
		mod  time.Time
	}
	var files []idx
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), statPrefix) || !strings.HasSuffix(e.Name(), statSuffix) {
			continue
		}
		if fi, err := e.Info(); err == nil {
			files = append(files, idx{e.Name(), fi.ModTime()})
		}
	}
	if len(files) <= statMaxFiles {
		return
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod.After(files[j].mod) })
	for _, f := range files[statMaxFiles:] {
		_ = os.Remove(filepath.Join(dir, f.name))
	}
}

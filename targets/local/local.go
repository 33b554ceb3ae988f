// Package local implements Cairn's embedded default deployment target: a
// model repository on disk in the layout that model servers poll.
//
//	<path>/<model>/<version>/<artifact file>  (an OCI artifact: one file per layer)
//	<path>/<model>/current -> <version>     (symlink, swapped atomically)
//	<path>/.cairn/state.json               (what Cairn deployed)
//
// Every change is staged under a temporary name, verified, fsync'd and
// renamed into place, so a crash at any moment leaves `current` pointing at
// a complete old or new version.
package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/cairnops/cairn/internal/atomicfile"
	"github.com/cairnops/cairn/targets"
)

const (
	stateDir    = ".cairn"
	stateFile   = ".cairn/state.json"
	currentLink = "current"
)

// Target is a local model repository rooted at an absolute path.
type Target struct {
	path string
	mu   sync.Mutex // serialises Apply within this process; a flock on the directory, between processes
}

var _ interface {
	Observe(context.Context) ([]targets.Deployed, error)
	Plan(context.Context, []targets.Model) ([]targets.Change, error)
	Apply(context.Context, string, []targets.Model, targets.Opener) ([]targets.Change, error)
} = (*Target)(nil)

// New returns the target rooted at path, which must be absolute. The
// directory need not exist: the first Apply creates it.
func New(path string) (*Target, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("local target path %q: not absolute", path)
	}
	return &Target{path: filepath.Clean(path)}, nil
}

// Path returns the target's root directory.
func (t *Target) Path() string { return t.path }

// State is what Cairn recorded in <path>/.cairn/state.json.
type State struct {
	// LastAttemptedRevision is the revision of the last Apply that got past
	// staging and started changing the target.
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	// LastAppliedRevision is the revision of the last Apply that completed.
	LastAppliedRevision string `json:"lastAppliedRevision,omitempty"`
	// Models is what Cairn deployed, by model name.
	Models map[string]ModelState `json:"models,omitempty"`
}

// ModelState is one deployed model as Cairn recorded it.
type ModelState struct {
	Version string `json:"version"` // the version `current` was swapped to
	Digest  string `json:"digest"`  // "sha256:<64 hex>" of the artifact file (an OCI artifact: of its manifest)
	File    string `json:"file"`    // the artifact's file name inside <model>/<version>; empty for an OCI artifact
	// Files are the files of an OCI artifact inside <model>/<version>, one
	// per layer, with their digests; empty for a single-file artifact.
	Files []targets.File `json:"files,omitempty"`
}

// files returns the files ms expects in its version directory.
func (ms ModelState) files() []targets.File {
	if len(ms.Files) > 0 {
		return ms.Files
	}
	return []targets.File{{Name: ms.File, Digest: ms.Digest}}
}

// DigestError is returned by Apply when an artifact's bytes do not hash to
// the pinned digest. The target is left unchanged.
type DigestError struct {
	Model   string
	Version string
	File    string // the file of a multi-file artifact; empty for a single file
	Want    string // the pinned digest
	Got     string // the digest of the bytes streamed
}

// Error returns a one-line description naming the model and both digests.
func (e *DigestError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("artifact of %s@%s: file %s: digest %s, want %s", e.Model, e.Version, e.File, e.Got, e.Want)
	}
	return fmt.Sprintf("artifact of %s@%s: digest %s, want %s", e.Model, e.Version, e.Got, e.Want)
}

// SizeError is returned by Apply when an artifact with a pinned size has a
// different length. The target is left unchanged.
type SizeError struct {
	Model   string
	Version string
	File    string // the file of a multi-file artifact; empty for a single file
	Want    int64  // the pinned size
	Got     int64  // bytes streamed, at most Want+1
}

// Error returns a one-line description naming the model and both sizes.
func (e *SizeError) Error() string {
	if e.File != "" {
		return fmt.Sprintf("artifact of %s@%s: file %s: %d bytes, want %d", e.Model, e.Version, e.File, e.Got, e.Want)
	}
	return fmt.Sprintf("artifact of %s@%s: %d bytes, want %d", e.Model, e.Version, e.Got, e.Want)
}

// openRoot opens the target root; ok is false when it does not exist yet.
func (t *Target) openRoot() (root *os.Root, ok bool, err error) {
	root, err = os.OpenRoot(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("opening target %s: %w", t.path, err)
	}
	return root, true, nil
}

// State returns the recorded state; an empty State when nothing was applied yet.
func (t *Target) State(ctx context.Context) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	root, ok, err := t.openRoot()
	if err != nil || !ok {
		return State{}, err
	}
	defer root.Close()
	return readState(root)
}

// LastAppliedRevision returns the revision of the last Apply that completed,
// as state.json records it; empty when there was none.
func (t *Target) LastAppliedRevision(ctx context.Context) (string, error) {
	st, err := t.State(ctx)
	return st.LastAppliedRevision, err
}

func readState(root *os.Root) (State, error) {
	var st State
	data, err := root.ReadFile(stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("decoding %s: %w", stateFile, err)
	}
	return st, nil
}

func encodeState(st State) []byte {
	if len(st.Models) == 0 {
		st.Models = nil
	}
	data, _ := json.MarshalIndent(st, "", "  ") // State always encodes
	return append(data, '\n')
}

// writeState replaces state.json atomically and durably.
func writeState(root *os.Root, st State) error {
	if err := root.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", stateDir, err)
	}
	if err := atomicfile.WriteRoot(root, stateFile, encodeState(st), 0o644); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	return nil
}

// observed is one model found on disk, with what Plan and Apply need beyond
// targets.Deployed.
type observed struct {
	targets.Deployed
	file    string // artifact file of the served version, when known
	onDisk  bool   // <path>/<model> exists
	tracked bool   // state records the served version
}

// Observe returns the models found on disk, sorted by name. For each it
// reads which version `current` points at and re-hashes the served files
// against the digests in state.json: files that differ, are missing or were
// added are listed in Corrupt (relative to the model directory). A model
// directory not in the state, or a `current` pointing at a version not in
// the state, is reported with the digest of its single file (if it has
// exactly one). A model in the state whose directory is gone is reported
// with an empty Version. A target that does not exist yet observes nothing.
func (t *Target) Observe(ctx context.Context) ([]targets.Deployed, error) {
	root, ok, err := t.openRoot()
	if err != nil || !ok {
		return nil, err
	}
	defer root.Close()
	st, err := readState(root)
	if err != nil {
		return nil, err
	}
	obs, err := observe(ctx, root, st)
	if err != nil {
		return nil, err
	}
	out := make([]targets.Deployed, 0, len(obs))
	for _, o := range sortedObserved(obs) {
		out = append(out, o.Deployed)
	}
	return out, nil
}

func sortedObserved(obs map[string]*observed) []*observed {
	out := make([]*observed, 0, len(obs))
	for _, o := range obs {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func observe(ctx context.Context, root *os.Root, st State) (map[string]*observed, error) {
	entries, err := readDir(root, ".")
	if err != nil {
		return nil, fmt.Errorf("reading target: %w", err)
	}
	obs := make(map[string]*observed)
	for _, e := range entries {
		// Only real directories with model names can be models; a symlink
		// is never followed out of the tree.
		if !e.IsDir() || !validModel(e.Name()) {
			continue
		}
		o, err := observeModel(ctx, root, e.Name(), st)
		if err != nil {
			return nil, err
		}
		obs[e.Name()] = o
	}
	for name, ms := range st.Models {
		if _, ok := obs[name]; !ok {
			obs[name] = &observed{Deployed: targets.Deployed{
				Name: name, Digest: ms.Digest, Corrupt: []string{path.Join(ms.Version, ms.File)},
			}}
		}
	}
	return obs, nil
}

func observeModel(ctx context.Context, root *os.Root, name string, st State) (*observed, error) {
	o := &observed{Deployed: targets.Deployed{Name: name}, onDisk: true}
	link, err := root.Readlink(path.Join(name, currentLink))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return o, nil
	case err != nil:
		// current exists but is not a symlink.
		o.Corrupt = []string{currentLink}
		return o, nil
	}
	o.Version = link
	if !validVersion(link) {
		o.Corrupt = []string{currentLink}
		return o, nil
	}
	vdir := path.Join(name, link)
	fi, err := root.Lstat(vdir)
	if err != nil || !fi.IsDir() {
		o.Corrupt = []string{link}
		return o, nil
	}
	entries, err := readDir(root, vdir)
	if err != nil {
		return nil, err
	}
	ms, ok := st.Models[name]
	if !ok || ms.Version != link {
		// Not what Cairn recorded: describe what is there.
		if len(entries) == 1 && entries[0].Type().IsRegular() {
			d, err := hashFile(ctx, root, path.Join(vdir, entries[0].Name()))
			if err != nil {
				return nil, fmt.Errorf("observing %s: %w", name, err)
			}
			o.Digest, o.file = d, entries[0].Name()
		}
		return o, nil
	}
	o.tracked, o.Digest, o.file = true, ms.Digest, ms.File
	want := make(map[string]string)
	for _, f := range ms.files() {
		want[f.Name] = f.Digest
	}
	for _, e := range entries {
		rel := path.Join(link, e.Name())
		d, ok := want[e.Name()]
		if !ok || !e.Type().IsRegular() {
			o.Corrupt = append(o.Corrupt, rel)
			continue
		}
		delete(want, e.Name())
		got, err := hashFile(ctx, root, path.Join(vdir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("observing %s: %w", name, err)
		}
		if got != d {
			o.Corrupt = append(o.Corrupt, rel)
		}
	}
	for f := range want {
		o.Corrupt = append(o.Corrupt, path.Join(link, f))
	}
	slices.Sort(o.Corrupt)
	return o, nil
}

// Plan returns what Apply would change to reach desired, one change per
// model sorted by name: created, updated (including a corrupt or hand-swapped
// deployment of the desired version), unchanged or deleted. An invalid
// desired state is an error wrapping ErrInvalid.
func (t *Target) Plan(ctx context.Context, desired []targets.Model) ([]targets.Change, error) {
	wants, err := validateDesired(desired)
	if err != nil {
		return nil, err
	}
	root, ok, err := t.openRoot()
	if err != nil {
		return nil, err
	}
	obs := map[string]*observed{}
	if ok {
		defer root.Close()
		st, err := readState(root)
		if err != nil {
			return nil, err
		}
		if obs, err = observe(ctx, root, st); err != nil {
			return nil, err
		}
	}
	return plan(wants, obs), nil
}

func plan(wants []wanted, obs map[string]*observed) []targets.Change {
	changes := make([]targets.Change, 0, len(wants)+len(obs))
	desired := make(map[string]bool, len(wants))
	for _, w := range wants {
		desired[w.Name] = true
		c := targets.Change{Model: w.Name, To: w.Version, Digest: w.Artifact.Digest}
		o := obs[w.Name]
		switch {
		case o == nil || !o.onDisk || o.Version == "":
			c.Action = targets.Created
		case o.Version == w.Version && len(o.Corrupt) == 0 && o.Digest == w.Artifact.Digest && o.file == w.file:
			c.Action, c.From = targets.Unchanged, o.Version
		default:
			c.Action, c.From = targets.Updated, o.Version
		}
		changes = append(changes, c)
	}
	for name, o := range obs {
		if !desired[name] {
			changes = append(changes, targets.Change{Model: name, Action: targets.Deleted, From: o.Version, Digest: o.Digest})
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Model < changes[j].Model })
	return changes
}

// staged is a version directory built under a temporary name.
type staged struct {
	model  string
	dir    string         // temporary directory name inside the model directory
	reused bool           // the version directory already holds the right bytes
	files  []targets.File // the files of a multi-file artifact, to record
}

// Apply makes the target serve desired and records rev. It first fetches
// and verifies every new artifact through open (stage phase), each of its
// files (open.Files) streamed into a temporary version directory: a file
// that does not match its digest (*DigestError) or size (*SizeError), a
// file name that is not safe (targets.CheckFileName), or an open or read
// error, leaves the target byte-for-byte unchanged and records nothing. Then it renames the staged versions into place, swaps each
// `current`, removes replaced versions and deleted models and writes
// state.json; this commit phase runs to the end even when ctx is cancelled.
// Apply is idempotent: applying the same desired state and revision again
// writes nothing. It returns the change set, sorted by model name.
func (t *Target) Apply(ctx context.Context, rev string, desired []targets.Model, open targets.Opener) ([]targets.Change, error) {
	wants, err := validateDesired(desired)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()

	createdRoot := false
	if _, err := os.Lstat(t.path); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(t.path, 0o755); err != nil {
			return nil, fmt.Errorf("creating target %s: %w", t.path, err)
		}
		createdRoot = true
	}
	unlock, err := lockDir(ctx, t.path)
	if err != nil {
		if createdRoot {
			_ = os.Remove(t.path)
		}
		return nil, err
	}
	defer unlock()
	root, err := os.OpenRoot(t.path)
	if err != nil {
		return nil, fmt.Errorf("opening target %s: %w", t.path, err)
	}
	defer root.Close()
	st, err := readState(root)
	if err != nil {
		return nil, err
	}
	obs, err := observe(ctx, root, st)
	if err != nil {
		return nil, err
	}
	changes := plan(wants, obs)
	byName := make(map[string]wanted, len(wants))
	for _, w := range wants {
		byName[w.Name] = w
	}

	// Stage: fetch and verify every new artifact before touching anything served.
	stage := make(map[string]*staged)
	var createdDirs []string
	rollback := func() {
		for _, s := range stage {
			if !s.reused {
				_ = root.RemoveAll(path.Join(s.model, s.dir))
			}
		}
		for _, d := range createdDirs {
			_ = root.Remove(d)
		}
		if createdRoot {
			_ = os.Remove(t.path)
		}
	}
	for _, c := range changes {
		if c.Action != targets.Created && c.Action != targets.Updated {
			continue
		}
		w := byName[c.Model]
		files, err := artifactFiles(ctx, w, open)
		if err != nil {
			rollback()
			return nil, err
		}
		ok, err := holds(ctx, root, w, files)
		if err != nil {
			rollback()
			return nil, err
		}
		if ok {
			stage[w.Name] = &staged{model: w.Name, reused: true, files: recorded(w, files)}
			continue
		}
		if _, err := root.Lstat(w.Name); errors.Is(err, fs.ErrNotExist) {
			if err := root.Mkdir(w.Name, 0o755); err != nil {
				rollback()
				return nil, fmt.Errorf("creating %s: %w", w.Name, err)
			}
			createdDirs = append(createdDirs, w.Name)
		}
		s, err := stageArtifact(ctx, root, w, files, open)
		if err != nil {
			rollback()
			return nil, err
		}
		stage[w.Name] = s
	}

	// Commit. From here on the target changes; ctx is no longer consulted so
	// that an apply in hand finishes.
	next := State{LastAttemptedRevision: rev, LastAppliedRevision: st.LastAppliedRevision, Models: map[string]ModelState{}}
	for k, v := range st.Models {
		next.Models[k] = v
	}
	commitErr := t.commit(root, changes, byName, obs, stage, createdDirs, next.Models)
	if commitErr == nil {
		next.LastAppliedRevision = rev
	}
	if !bytes.Equal(encodeState(next), encodeState(st)) {
		if err := writeState(root, next); err != nil {
			return changes, errors.Join(commitErr, err)
		}
	}
	if commitErr != nil {
		return changes, commitErr
	}
	return changes, nil
}

// commit performs the changes, updating models as each one lands. It stops
// at the first error and removes the staged directories it did not use.
func (t *Target) commit(root *os.Root, changes []targets.Change, byName map[string]wanted,
	obs map[string]*observed, stage map[string]*staged, createdDirs []string, models map[string]ModelState) (err error) {
	defer func() {
		if err != nil {
			for _, s := range stage {
				if !s.reused {
					_ = root.RemoveAll(path.Join(s.model, s.dir))
				}
			}
		}
	}()
	if len(createdDirs) > 0 {
		if err := syncDir(root, "."); err != nil {
			return err
		}
	}
	keep := make(map[string]bool, len(stage))
	for _, s := range stage {
		keep[path.Join(s.model, s.dir)] = true
	}
	if err := removeLeftovers(root, ".", nil); err != nil {
		return err
	}
	if err := removeLeftovers(root, stateDir, nil); err != nil {
		return err
	}
	for _, c := range changes {
		switch c.Action {
		case targets.Created, targets.Updated:
			w := byName[c.Model]
			if err := removeLeftovers(root, c.Model, keep); err != nil {
				return err
			}
			if err := deploy(root, w, stage[c.Model]); err != nil {
				return fmt.Errorf("deploying %s@%s: %w", w.Name, w.Version, err)
			}
			models[c.Model] = ModelState{Version: w.Version, Digest: w.Artifact.Digest, File: w.file, Files: stage[c.Model].files}
			delete(stage, c.Model)
		case targets.Unchanged:
			w := byName[c.Model]
			if err := removeLeftovers(root, c.Model, nil); err != nil {
				return err
			}
			if err := prune(root, c.Model, w.Version); err != nil {
				return err
			}
			if ms := models[c.Model]; ms.Version != w.Version || ms.Digest != w.Artifact.Digest || ms.File != w.file {
				models[c.Model] = ModelState{Version: w.Version, Digest: w.Artifact.Digest, File: w.file}
			}
		case targets.Deleted:
			if o := obs[c.Model]; o != nil && o.onDisk {
				if err := remove(root, c.Model); err != nil {
					return err
				}
			}
			delete(models, c.Model)
		}
	}
	return nil
}

// artifactFiles returns the files w deploys as, named: a single-file
// artifact's one file takes w.file. Every name must be safe and unique.
func artifactFiles(ctx context.Context, w wanted, open targets.Opener) ([]targets.File, error) {
	files, err := open.Files(ctx, w.Artifact)
	if err != nil {
		return nil, fmt.Errorf("opening artifact of %s@%s: %w", w.Name, w.Version, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("artifact of %s@%s: %w: it has no files", w.Name, w.Version, ErrInvalid)
	}
	out := make([]targets.File, len(files))
	seen := make(map[string]bool, len(files))
	for i, f := range files {
		if f.Name == "" {
			if len(files) > 1 || w.multi {
				return nil, fmt.Errorf("artifact of %s@%s: %w: a file without a name", w.Name, w.Version, ErrInvalid)
			}
			f.Name = w.file
		} else if !w.multi {
			return nil, fmt.Errorf("artifact of %s@%s: %w: a single-file artifact names its file", w.Name, w.Version, ErrInvalid)
		}
		if err := targets.CheckFileName(f.Name); err != nil {
			return nil, fmt.Errorf("artifact of %s@%s: file %w", w.Name, w.Version, err)
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("artifact of %s@%s: %w: file %q twice", w.Name, w.Version, ErrInvalid, f.Name)
		}
		if !digestRE.MatchString(f.Digest) || f.Size < 0 {
			return nil, fmt.Errorf("artifact of %s@%s: file %s: %w: digest %q, size %d", w.Name, w.Version, f.Name, ErrInvalid, f.Digest, f.Size)
		}
		seen[f.Name] = true
		out[i] = f
	}
	return out, nil
}

// recorded returns the files state.json records for w: those of a
// multi-file artifact, none for a single file (ModelState.File has it).
func recorded(w wanted, files []targets.File) []targets.File {
	if !w.multi {
		return nil
	}
	return files
}

// holds reports whether <model>/<version> already holds exactly the wanted
// files, so that it can be served without fetching (say after a crash
// between renaming it into place and swapping `current`).
func holds(ctx context.Context, root *os.Root, w wanted, files []targets.File) (bool, error) {
	vdir := path.Join(w.Name, w.Version)
	fi, err := root.Lstat(vdir)
	if err != nil || !fi.IsDir() {
		return false, nil
	}
	entries, err := readDir(root, vdir)
	if err != nil {
		return false, err
	}
	if len(entries) != len(files) {
		return false, nil
	}
	want := make(map[string]string, len(files))
	for _, f := range files {
		want[f.Name] = f.Digest
	}
	for _, e := range entries {
		d, ok := want[e.Name()]
		if !ok || !e.Type().IsRegular() {
			return false, nil
		}
		got, err := hashFile(ctx, root, path.Join(vdir, e.Name()))
		if err != nil {
			return false, fmt.Errorf("checking %s: %w", vdir, err)
		}
		if got != d {
			return false, nil
		}
	}
	return true, nil
}

// stageArtifact streams each of w's files into a temporary version
// directory in the model directory, checking size and digest while
// streaming, and fsyncs them and the directory. On error nothing is left
// behind.
func stageArtifact(ctx context.Context, root *os.Root, w wanted, files []targets.File, open targets.Opener) (_ *staged, err error) {
	dir := tmpName()
	defer func() {
		if err != nil {
			_ = root.RemoveAll(path.Join(w.Name, dir))
		}
	}()
	if err := root.Mkdir(path.Join(w.Name, dir), 0o755); err != nil {
		return nil, fmt.Errorf("staging %s@%s: %w", w.Name, w.Version, err)
	}
	for _, f := range files {
		if err := stageFile(ctx, root, w, f, path.Join(w.Name, dir, f.Name), open); err != nil {
			return nil, err
		}
	}
	if err := syncDir(root, path.Join(w.Name, dir)); err != nil {
		return nil, err
	}
	return &staged{model: w.Name, dir: dir, files: recorded(w, files)}, nil
}

// stageFile streams file f of w's artifact to name, checking its size and
// digest while streaming, and fsyncs it.
func stageFile(ctx context.Context, root *os.Root, w wanted, f targets.File, name string, open targets.Opener) error {
	label := ""
	if w.multi {
		label = f.Name
	}
	rc, err := open.Open(ctx, w.Artifact, f)
	if err != nil {
		return fmt.Errorf("opening artifact of %s@%s: %w", w.Name, w.Version, err)
	}
	defer rc.Close()
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("staging %s@%s: %w", w.Name, w.Version, err)
	}
	h := sha256.New()
	var src io.Reader = ctxReader{ctx, rc}
	if f.Size > 0 {
		src = io.LimitReader(src, f.Size+1)
	}
	n, err := io.Copy(io.MultiWriter(out, h), src)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fetching artifact of %s@%s: %w", w.Name, w.Version, err)
	}
	if f.Size > 0 && n != f.Size {
		return &SizeError{Model: w.Name, Version: w.Version, File: label, Want: f.Size, Got: n}
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != f.Digest {
		return &DigestError{Model: w.Name, Version: w.Version, File: label, Want: f.Digest, Got: got}
	}
	return nil
}

// deploy renames a staged version into place, swaps `current` to it and
// removes the versions it replaces.
func deploy(root *os.Root, w wanted, s *staged) error {
	m := w.Name
	if s != nil && !s.reused {
		vdir := path.Join(m, w.Version)
		if _, err := root.Lstat(vdir); err == nil {
			// The version exists but is damaged (maybe served): swap the
			// good copy in atomically, then drop the damaged one.
			if err := exchange(root, m, s.dir, w.Version); err != nil {
				return err
			}
		} else if err := root.Rename(path.Join(m, s.dir), vdir); err != nil {
			return err
		}
		if err := syncDir(root, m); err != nil {
			return err
		}
	}
	cur := path.Join(m, currentLink)
	if fi, err := root.Lstat(cur); err == nil && fi.Mode()&fs.ModeSymlink == 0 {
		// current is not a symlink: nothing valid is served through it.
		if err := root.RemoveAll(cur); err != nil {
			return fmt.Errorf("replacing current: %w", err)
		}
	}
	if link, err := root.Readlink(cur); err != nil || link != w.Version {
		tmp := path.Join(m, tmpName())
		if err := root.Symlink(w.Version, tmp); err != nil {
			return fmt.Errorf("creating symlink: %w", err)
		}
		if err := root.Rename(tmp, cur); err != nil {
			_ = root.Remove(tmp)
			return fmt.Errorf("swapping current: %w", err)
		}
		if err := syncDir(root, m); err != nil {
			return err
		}
	}
	if s != nil && !s.reused {
		if err := root.RemoveAll(path.Join(m, s.dir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return prune(root, m, w.Version)
}

// prune removes every version directory of model m except keep, and any
// leftover temporary entry.
func prune(root *os.Root, m, keep string) error {
	entries, err := readDir(root, m)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		n := e.Name()
		if n == keep || n == currentLink || !(validVersion(n) || strings.HasPrefix(n, tmpPrefix)) {
			continue
		}
		if err := root.RemoveAll(path.Join(m, n)); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", path.Join(m, n), err))
		}
	}
	return errors.Join(errs...)
}

// remove deletes model m: it is renamed to a temporary name first, so that a
// crash never leaves a half-deleted model that still looks served.
func remove(root *os.Root, m string) error {
	tmp := tmpName()
	if err := root.Rename(m, tmp); err != nil {
		return fmt.Errorf("removing %s: %w", m, err)
	}
	if err := syncDir(root, "."); err != nil {
		return err
	}
	if err := root.RemoveAll(tmp); err != nil {
		return fmt.Errorf("removing %s: %w", m, err)
	}
	return nil
}

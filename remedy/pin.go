package remedy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"strconv"
	"strings"
	"testing/fstest"
	"time"

	"github.com/cairnops/cairn/inventory"
)

// maxHistory bounds how many commits of a model's history PreviousVersion reads.
const maxHistory = 500

// ErrNoPrevious is returned by PreviousVersion when the stage held no other
// version before the current one in the history it can read.
var ErrNoPrevious = errors.New("no previous version in git history")

// Previous is where a stage's pin came from in git history.
type Previous struct {
	// Version is the version the stage held before the current one.
	Version string
	// Commit is the newest commit at which the stage pinned Version.
	Commit string
	// PinnedAt is the committer time of the commit that introduced the
	// current version into the stage.
	PinnedAt time.Time
}

// PreviousVersion walks the git history of model, as
// inventory.ModelHistory reads it, from the commit the inventory was read at
// (HEAD for a working tree), newest first, and returns the version stage
// held before current. Commits where the model is absent or does not
// evaluate are skipped. It returns inventory.ErrNotRepository (wrapped) when
// the inventory has no repository, and ErrNoPrevious (wrapped) when the stage
// had no other version, or was absent, before current.
func PreviousVersion(ctx context.Context, inv *inventory.Inventory, model, stage, current string, load inventory.Options) (Previous, error) {
	src := inv.Source
	if src == nil {
		return Previous{}, fmt.Errorf("previous version of %s: %w", model, inventory.ErrNotRepository)
	}
	var out Previous
	for rev, err := range inventory.ModelHistory(ctx, src, model, maxHistory, load) {
		if err != nil {
			return Previous{}, err
		}
		if rev.Model == nil {
			continue
		}
		v, ok := rev.Model.Stages[stage]
		if ok && v == current {
			out.PinnedAt = rev.Commit.Committer.When
			continue
		}
		if ok && v != "" {
			out.Version, out.Commit = v, rev.Commit.Hash.String()
		}
		break
	}
	if out.Version == "" {
		return out, fmt.Errorf("%s %s before %s: %w", model, stage, current, ErrNoPrevious)
	}
	return out, nil
}

// PinStage returns the model file of inv that sets model's stage, edited so
// that the stage pins version, and its path. The edit is textual — only the
// string literal of the pin changes, comments and layout stay — and it is
// verified by evaluating the model again with the edited file: the model must
// be valid, pin version at stage and keep every other stage as it was.
func PinStage(ctx context.Context, inv *inventory.Inventory, model, stage, version string, load inventory.Options) (file string, content []byte, err error) {
	m := inv.Model(model)
	if m == nil || !m.Valid {
		return "", nil, fmt.Errorf("model %s is not in the inventory or not valid", model)
	}
	current, ok := m.Stages[stage]
	if !ok {
		return "", nil, fmt.Errorf("model %s has no stage %s", model, stage)
	}
	if _, ok := m.Versions[version]; !ok {
		return "", nil, fmt.Errorf("model %s declares no version %s", model, version)
	}
	pos := m.Pos("stages", stage)
	if !strings.HasPrefix(pos.File, m.Dir+"/") || strings.Contains(strings.TrimPrefix(pos.File, m.Dir+"/"), "/") || pos.Line == 0 {
		return "", nil, fmt.Errorf("%s: stage %s of %s is not set in the model's own files", pos, stage, model)
	}
	src, err := inv.Source.ReadFile(pos.File)
	if err != nil {
		return "", nil, fmt.Errorf("reading %s: %w", pos.File, err)
	}
	lo, hi, err := findLiteral(src, pos.Line, pos.Column, current)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", pos, err)
	}
	var b bytes.Buffer
	b.Write(src[:lo])
	b.WriteString(strconv.Quote(version))
	b.Write(src[hi:])
	content = b.Bytes()

	// Verify: the edited model evaluates and pins what was asked, nothing else.
	over := &inventory.Source{
		FS:       overlayFS{base: inv.Source.FS, name: pos.File, data: content},
		Revision: inv.Source.Revision, Dir: inv.Source.Dir, Commit: inv.Source.Commit, Repo: inv.Source.Repo,
	}
	load.Only, load.Workers = []string{model}, 1
	check, err := inventory.Load(ctx, over, load)
	if err != nil {
		return "", nil, fmt.Errorf("re-evaluating %s: %w", model, err)
	}
	nm := check.Model(model)
	if nm == nil || !nm.Valid {
		msg := "it does not evaluate"
		for _, p := range check.Problems {
			if p.Model == model {
				msg = p.String()
				break
			}
		}
		return "", nil, fmt.Errorf("%s: editing the pin breaks the model: %s", pos.File, msg)
	}
	want := maps.Clone(m.Stages)
	want[stage] = version
	if !maps.Equal(nm.Stages, want) {
		return "", nil, fmt.Errorf("%s: edited model pins %v, want %v", pos.File, nm.Stages, want)
	}
	return pos.File, content, nil
}

// findLiteral returns the byte range of the first double-quoted string
// literal at or after line:col (1-based, CUE counts bytes) on that line or
// the next few whose value is want.
func findLiteral(src []byte, line, col int, want string) (lo, hi int, err error) {
	off := 0
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(src[off:], '\n')
		if i < 0 {
			return 0, 0, errors.New("position beyond the end of the file")
		}
		off += i + 1
	}
	off += max(col-1, 0)
	if off > len(src) {
		return 0, 0, errors.New("position beyond the end of the file")
	}
	lines := 0
	for i := off; i < len(src) && lines < 4; i++ {
		switch src[i] {
		case '\n':
			lines++
		case '/':
			if i+1 < len(src) && src[i+1] == '/' { // comment: skip to end of line
				j := bytes.IndexByte(src[i:], '\n')
				if j < 0 {
					i = len(src)
				} else {
					i += j - 1
				}
			}
		case '"':
			if i+2 < len(src) && src[i+1] == '"' && src[i+2] == '"' {
				return 0, 0, errors.New("multi-line string pins are not edited")
			}
			j := i + 1
			for ; j < len(src) && src[j] != '"' && src[j] != '\n'; j++ {
				if src[j] == '\\' {
					j++
				}
			}
			if j >= len(src) || src[j] != '"' {
				return 0, 0, errors.New("unterminated string")
			}
			if s, err := strconv.Unquote(string(src[i : j+1])); err == nil && s == want {
				return i, j + 1, nil
			}
			i = j
		}
	}
	return 0, 0, fmt.Errorf("no string literal %q found at the stage pin", want)
}

// overlayFS is base with one file's content replaced.
type overlayFS struct {
	base fs.FS
	name string
	data []byte
}

func (o overlayFS) Open(name string) (fs.File, error) {
	if name == o.name {
		return fstest.MapFS{name: &fstest.MapFile{Data: o.data, Mode: 0o644}}.Open(name)
	}
	return o.base.Open(name)
}

func (o overlayFS) ReadDir(name string) ([]fs.DirEntry, error) { return fs.ReadDir(o.base, name) }

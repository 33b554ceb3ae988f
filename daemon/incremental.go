package daemon

import (
	"context"
	"fmt"
	"sort"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/cairnops/cairn/inventory"
)

// load evaluates the inventory of src. When prev is the inventory of an
// earlier commit and the two commits differ only inside model folders
// (models/<name>/), only the changed models are evaluated (DESIGN.md §1: a
// one-model change re-evaluates one model) and the rest is taken from
// prev; anything else — inventory.cue, models/*.cue defaults, policies,
// artifacts, symbolic links — is a full load.
func load(ctx context.Context, prev *inventory.Inventory, src *inventory.Source) (*inventory.Inventory, error) {
	if prev == nil || prev.Source.Commit == nil || src.Commit == nil {
		return inventory.Load(ctx, src, inventory.Options{})
	}
	changed, removed, ok, err := modelChanges(prev.Source.Commit, src.Commit)
	if err != nil || !ok {
		return inventory.Load(ctx, src, inventory.Options{})
	}
	var part *inventory.Inventory
	if len(changed) > 0 {
		if part, err = inventory.Load(ctx, src, inventory.Options{Only: changed}); err != nil {
			return nil, err
		}
	}
	return merge(prev, part, src, changed, removed), nil
}

// merge returns prev with the models of part in place of (or beside) its
// own, removed models dropped, and src as the source.
func merge(prev, part *inventory.Inventory, src *inventory.Source, changed, removed []string) *inventory.Inventory {
	inv := *prev // keeps the settings and their positions: inventory.cue did not change
	inv.Source = src
	drop := map[string]bool{}
	for _, n := range changed {
		drop[n] = true
	}
	for _, n := range removed {
		drop[n] = true
	}
	problems := map[string][]inventory.Problem{}
	inv.Problems = nil
	for _, p := range prev.Problems {
		switch {
		case p.Model == "":
			inv.Problems = append(inv.Problems, p)
		case !drop[p.Model]:
			problems[p.Model] = append(problems[p.Model], p)
		}
	}
	inv.Models = make([]*inventory.Model, 0, len(prev.Models)+len(changed))
	for _, m := range prev.Models {
		if !drop[m.Name] {
			inv.Models = append(inv.Models, m)
		}
	}
	if part != nil {
		inv.Models = append(inv.Models, part.Models...)
		for _, p := range part.Problems {
			if p.Model != "" {
				problems[p.Model] = append(problems[p.Model], p)
			}
		}
	}
	sort.Slice(inv.Models, func(i, j int) bool { return inv.Models[i].Name < inv.Models[j].Name })
	for _, m := range inv.Models {
		inv.Problems = append(inv.Problems, problems[m.Name]...)
	}
	return &inv
}

// modelChanges compares two commits' trees. ok is true when they differ
// only in folders under models/ (none of them a symbolic link); changed
// are the model folders added or modified, removed those deleted.
func modelChanges(from, to *object.Commit) (changed, removed []string, ok bool, err error) {
	a, err := from.Tree()
	if err != nil {
		return nil, nil, false, fmt.Errorf("reading tree: %w", err)
	}
	b, err := to.Tree()
	if err != nil {
		return nil, nil, false, fmt.Errorf("reading tree: %w", err)
	}
	if a.Hash == b.Hash {
		return nil, nil, true, nil
	}
	if !sameExcept(a, b, inventory.ModelsDir) {
		return nil, nil, false, nil
	}
	am, aerr := a.Tree(inventory.ModelsDir)
	bm, berr := b.Tree(inventory.ModelsDir)
	if aerr != nil || berr != nil {
		return nil, nil, false, nil
	}
	old := entries(am)
	cur := entries(bm)
	for name, e := range cur {
		if e.Mode != filemode.Dir {
			if o, ok := old[name]; !ok || o != e {
				return nil, nil, false, nil // a defaults file or a link changed
			}
			continue
		}
		if o, ok := old[name]; !ok || o != e {
			changed = append(changed, name)
		}
	}
	for name, e := range old {
		if _, ok := cur[name]; !ok {
			if e.Mode != filemode.Dir {
				return nil, nil, false, nil
			}
			removed = append(removed, name)
		}
	}
	sort.Strings(changed)
	sort.Strings(removed)
	return changed, removed, true, nil
}

// sameExcept reports whether trees a and b have the same entries apart from name.
func sameExcept(a, b *object.Tree, name string) bool {
	ea, eb := entries(a), entries(b)
	if len(ea) != len(eb) {
		return false
	}
	for n, e := range ea {
		if n == name {
			if f, ok := eb[n]; !ok || f.Mode != filemode.Dir || e.Mode != filemode.Dir {
				return false
			}
			continue
		}
		if f, ok := eb[n]; !ok || f != e {
			return false
		}
	}
	return true
}

func entries(t *object.Tree) map[string]object.TreeEntry {
	m := make(map[string]object.TreeEntry, len(t.Entries))
	for _, e := range t.Entries {
		m[e.Name] = e
	}
	return m
}

// Package schema embeds Cairn's CUE schema for a model inventory and the Go
// types an evaluated model and the repository settings decode into.
//
// The CUE files are the single source of truth: Go code decodes values that
// the schema has already checked and never re-validates the same fields.
package schema

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"

	"cuelang.org/go/cue"
	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/build"
	"cuelang.org/go/cue/parser"
)

//go:embed *.cue
var files embed.FS

// FilePrefix starts the file name of every schema file in CUE positions, so
// that callers can tell a position in the schema from one in the inventory.
const FilePrefix = "$cairn/schema/"

// Schema is the compiled schema in one cue.Context.
type Schema struct {
	// Model is #Model, the definition every model folder unifies with.
	Model cue.Value
	// Settings is #Settings, the definition inventory.cue unifies with.
	Settings cue.Value
	// TargetKinds are the target kinds this build implements, the fields
	// of #TargetKinds, sorted.
	TargetKinds []string

	root cue.Value
}

// Definition returns the schema's definition name (e.g. "#Digest"), or a
// value that does not exist.
func (s *Schema) Definition(name string) cue.Value {
	return s.root.LookupPath(cue.ParsePath(name))
}

// Compile builds the embedded schema in ctx. It returns an error only if the
// embedded files are broken, which tests rule out.
func Compile(ctx *cue.Context) (*Schema, error) {
	names, err := fs.Glob(files, "*.cue")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	inst := build.NewContext().NewInstance(FilePrefix, nil)
	for _, name := range names {
		src, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(FilePrefix+name, src, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parsing embedded schema: %w", err)
		}
		if err := inst.AddSyntax(f); err != nil {
			return nil, fmt.Errorf("adding embedded schema: %w", err)
		}
	}
	v := ctx.BuildInstance(inst)
	if err := v.Err(); err != nil {
		return nil, fmt.Errorf("building embedded schema: %w", err)
	}
	var kinds []string
	it, err := v.LookupPath(cue.ParsePath("#TargetKinds")).Fields()
	if err != nil {
		return nil, fmt.Errorf("listing embedded target kinds: %w", err)
	}
	for it.Next() {
		kinds = append(kinds, it.Selector().Unquoted())
	}
	sort.Strings(kinds)
	return &Schema{
		Model:       v.LookupPath(cue.ParsePath("#Model")),
		Settings:    v.LookupPath(cue.ParsePath("#Settings")),
		TargetKinds: kinds,
		root:        v,
	}, nil
}

// ImportPath is the CUE import path of the schema as `cairn init` and
// examples/quickstart place it, in cue.mod/pkg/<ImportPath>/, so that plain
// `cue vet ./...` checks an inventory against it: each model folder's
// schema.cue embeds schema.#Model, and settings.cue embeds schema.#Settings.
const ImportPath = "github.com/cairnops/cairn/schema"

// Files returns the embedded schema's files (model.cue, settings.cue, ...)
// by name: the one source that `cairn init` copies to cue.mod/pkg and that
// examples/quickstart's copy is tested against.
func Files() (map[string][]byte, error) {
	names, err := fs.Glob(files, "*.cue")
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(names))
	for _, name := range names {
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out[name] = b
	}
	return out, nil
}

// DropBinding removes from f what binds it to the schema for plain `cue
// vet`: the import of ImportPath and the declarations that embed one of its
// definitions (`schema.#Model`). Cairn unifies every model and the settings
// with the compiled schema itself, data before schema so that errors name
// the inventory's paths, so the binding would only apply it twice. Other
// uses of the import are left, and fail to resolve as any unknown import.
// It reports whether f imported the schema.
func DropBinding(f *ast.File) bool {
	name, found := "", false
	for _, d := range f.Decls {
		id, ok := d.(*ast.ImportDecl)
		if !ok {
			continue
		}
		specs := id.Specs[:0]
		for _, sp := range id.Specs {
			if p, err := strconv.Unquote(sp.Path.Value); err == nil && p == ImportPath {
				found, name = true, "schema"
				if sp.Name != nil {
					name = sp.Name.Name
				}
				continue
			}
			specs = append(specs, sp)
		}
		id.Specs = specs
	}
	if !found {
		return false
	}
	decls := f.Decls[:0]
	for _, d := range f.Decls {
		if id, ok := d.(*ast.ImportDecl); ok && len(id.Specs) == 0 {
			continue
		}
		if e, ok := d.(*ast.EmbedDecl); ok {
			if sel, ok := e.Expr.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == name {
					continue
				}
			}
		}
		decls = append(decls, d)
	}
	f.Decls = decls
	return true
}

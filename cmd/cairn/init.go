package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/schema"
)

type initOptions struct {
	*globalOptions
	dir string
}

func newInitCmd(g *globalOptions, runF func(context.Context, *initOptions) error) *cobra.Command {
	opts := &initOptions{globalOptions: g}
	return &cobra.Command{
		Use:   "init DIR",
		Short: "Write a working example inventory into DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.dir = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runInit(cmd.Context(), opts)
		},
	}
}

// initArtifact is the example model's artifact: a few bytes, so that the
// example's digest pin is real and `cairn apply` has something to deploy.
const initArtifact = "CAIRN-EXAMPLE-MODEL\nmodel=example-model\nversion=0.1.0\nweights=0.12,-0.53,0.98\n"

var initFiles = map[string]string{
	".gitignore": "# Cairn's local state and targets\n.cairn/\n",
	"cue.mod/module.cue": `module: "example.com/model-inventory"
language: version: "v0.17.0"
`,
	"inventory.cue": `package inventory

stages: ["development", "staging", "production"]

targets: {
	"dev-local": {stage: "development", kind: "local", path: "development"}
	"staging-local": {stage: "staging", kind: "local", path: "staging"}
	"prod-local": {stage: "production", kind: "local", path: "production"}
}

approvals: {
	staging: min: 1
	production: min: 2
}

signing: required: ["production"]
`,
	"settings.cue": bindingComment("inventory.cue") + `package inventory

import "github.com/cairnops/cairn/schema"

schema.#Settings
`,
	"models/example-model/schema.cue": bindingComment("this model") + `package model

import "github.com/cairnops/cairn/schema"

schema.#Model
`,
	"models/example-model/model.cue": `package model

card: {
	title:       "Example model"
	description: "Replace this card with your model's."
	owners: ["@your-org/your-team"]
	risk: tier: "low"
	intendedUse: "Show how a Cairn inventory is laid out."
	limitations: ["Not a real model."]
	license:   "Apache-2.0"
	framework: "sklearn"
	data: training: [{uri: "s3://your-bucket/training.parquet"}]
	review: lastReviewed: "{{today}}"
}

versions: "0.1.0": artifact: {
	uri:    "file://artifacts/example-model/0.1.0/model.txt"
	digest: "{{digest}}"
}

stages: development: "0.1.0"
`,
	"artifacts/example-model/0.1.0/model.txt": initArtifact,
}

// bindingComment heads the files that bind the inventory to Cairn's schema
// for plain `cue vet`.
func bindingComment(what string) string {
	return "// Plain `cue vet ./...` checks " + what + " against Cairn's schema, which\n" +
		"// cue.mod/pkg holds. Cairn applies its own copy of the schema itself.\n"
}

// initSchemaFiles returns the embedded schema's files under
// cue.mod/pkg/<schema.ImportPath>/, where plain `cue vet` finds them.
func initSchemaFiles() (map[string]string, error) {
	files, err := schema.Files()
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(files))
	for name, b := range files {
		out["cue.mod/pkg/"+schema.ImportPath+"/"+name] = string(b)
	}
	return out, nil
}

func runInit(ctx context.Context, opts *initOptions) error {
	if entries, err := os.ReadDir(opts.dir); err == nil && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(opts.dir, "inventory.cue")); err == nil {
			return usageError(fmt.Errorf("%s already has an inventory.cue", opts.dir))
		}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return usageError(err)
	}
	sum := sha256.Sum256([]byte(initArtifact))
	repl := strings.NewReplacer("{{digest}}", "sha256:"+hex.EncodeToString(sum[:]), "{{today}}", today())
	all, err := initSchemaFiles()
	if err != nil {
		return err
	}
	for name, content := range initFiles {
		all[name] = repl.Replace(content)
	}
	for name, content := range all {
		p := filepath.Join(opts.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return usageError(err)
		}
		if _, err := os.Stat(p); err == nil {
			return usageError(fmt.Errorf("%s exists; not overwriting it", p))
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return usageError(err)
		}
	}
	fmt.Fprintf(opts.stdout, "wrote an example inventory to %s; next: cairn --chdir %s validate\n", opts.dir, opts.dir)
	return nil
}

func today() string { return nowFunc().UTC().Format("2006-01-02") }

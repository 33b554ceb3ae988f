package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cairnops/cairn/inventory"
)

func TestMain(m *testing.M) {
	// The evaluation workers that cairn starts re-execute this binary.
	if inventory.IsWorker() {
		os.Exit(run(nil))
	}
	testscript.Main(m, map[string]func(){
		"cairn": func() { os.Exit(run(os.Args[1:])) },
	})
}

// TestScripts runs every testdata/script/*.txtar against the real binary.
// Scripts see $REPO (the repository root, for examples/) and can run git.
func TestScripts(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	repo := filepath.Join(filepath.Dir(file), "..", "..")
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: false,
		Cmds:                githubScriptCmds,
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			env.Setenv("CAIRN_NOW", "2026-11-23T12:00:00Z")
			env.Setenv("GIT_AUTHOR_NAME", "Ada Lovelace")
			env.Setenv("GIT_AUTHOR_EMAIL", "ada@example.com")
			env.Setenv("GIT_COMMITTER_NAME", "Ada Lovelace")
			env.Setenv("GIT_COMMITTER_EMAIL", "ada@example.com")
			env.Setenv("GIT_CONFIG_NOSYSTEM", "1")
			env.Setenv("HOME", env.WorkDir)
			githubScriptSetup(env)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "git":
				_, err := exec.LookPath("git")
				return err == nil, nil
			}
			return false, nil
		},
	})
}

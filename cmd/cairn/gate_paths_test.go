package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/gatetest"
	"github.com/cairnops/cairn/internal/treetest"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

// testCaches holds the evaluation cache folder of each test that runs cairn.
var testCaches sync.Map // *testing.T -> string

// runCairn runs the real binary in dir and returns its stdout and exit code.
func runCairn(t *testing.T, dir string, args ...string) ([]byte, int) {
	t.Helper()
	bin, err := exec.LookPath("cairn") // set up in $PATH by testscript.Main
	require.NoError(t, err)
	var stdout, stderr bytes.Buffer
	c := exec.Command(bin, append([]string{"--chdir", dir}, args...)...)
	c.Stdout, c.Stderr = &stdout, &stderr
	// Each test has an evaluation cache of its own, shared by its runs,
	// never the user's.
	cache, ok := testCaches.Load(t)
	if !ok {
		cache = t.TempDir()
		testCaches.Store(t, cache)
		t.Cleanup(func() { testCaches.Delete(t) })
	}
	c.Env = append(os.Environ(), "CAIRN_NOW=2026-11-23T12:00:00Z", inventory.CacheEnv+"="+cache.(string))
	err = c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return stdout.Bytes(), ee.ExitCode()
	}
	require.NoError(t, err, "%s", stderr.String())
	return stdout.Bytes(), 0
}

// TestValidateAndApplyAgree runs every revision the gate must refuse
// through validate and through apply: both exit 1 with the same findings,
// and apply leaves the targets as they were.
func TestValidateAndApplyAgree(t *testing.T) {
	key := filepath.Join(t.TempDir(), "cairn-example.pub") // outside the inventory
	pub, err := os.ReadFile(filepath.Join(gatetest.QuickstartDir(), "keys", "cairn-example.pub"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(key, pub, 0o644))
	files := gatetest.Quickstart(t)
	for _, b := range gatetest.Breaks {
		t.Run(b.Name, func(t *testing.T) {
			dir := t.TempDir()
			gatetest.Write(t, dir, files)
			state := t.TempDir()
			targets := filepath.Join(state, "targets")
			apply := []string{"apply", "--format", "json", "--trusted-key", key, "--target-root", targets, "--state-dir", state}
			_, code := runCairn(t, dir, apply...)
			require.Equal(t, 0, code, "the quickstart applies")
			before := treetest.Hash(t, targets)

			gatetest.Write(t, dir, gatetest.Merge(b.Edit(files), gatetest.Promote(files)))
			out, code := runCairn(t, dir, "validate", "--format", "json", "--trusted-key", key)
			assert.Equal(t, 1, code)
			var rep policy.Report
			require.NoError(t, json.Unmarshal(out, &rep), "%s", out)
			require.NotEmpty(t, rep.Findings)
			var lines []string
			for _, f := range rep.Findings {
				lines = append(lines, f.String())
			}
			assert.Contains(t, strings.Join(lines, "\n"), b.Want)

			out, code = runCairn(t, dir, apply...)
			assert.Equal(t, 1, code)
			var res struct {
				Refused  string           `json:"refused"`
				Findings []policy.Finding `json:"findings"`
			}
			require.NoError(t, json.Unmarshal(out, &res), "%s", out)
			assert.Contains(t, res.Refused, "validation error")
			assert.Equal(t, rep.Findings, res.Findings, "apply refuses with the findings validate prints")
			assert.Equal(t, before, treetest.Hash(t, targets), "the targets are untouched")
		})
	}
}

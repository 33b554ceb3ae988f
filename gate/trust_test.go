package gate_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/signing"
)

// TestLoadTrust: trust roots come from outside the repository under
// review. A key that a pull request adds, a link to it from outside, and a
// trusted root or config inside are refused.
func TestLoadTrust(t *testing.T) {
	repoDir := t.TempDir()
	_, err := git.PlainInit(repoDir, false)
	require.NoError(t, err)
	invDir := filepath.Join(repoDir, "ml") // an inventory in a subfolder
	require.NoError(t, os.MkdirAll(invDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(invDir, "inventory.cue"), []byte("package inventory\n"), 0o644))
	src, err := inventory.Open(t.Context(), invDir, "")
	require.NoError(t, err)

	_, pub, err := signing.GenerateKey(nil)
	require.NoError(t, err)
	outside := t.TempDir()
	good := filepath.Join(outside, "release.pub")
	require.NoError(t, os.WriteFile(good, pub, 0o644))
	inInv := filepath.Join(invDir, "keys", "attacker.pub")
	require.NoError(t, os.MkdirAll(filepath.Dir(inInv), 0o755))
	require.NoError(t, os.WriteFile(inInv, pub, 0o644))
	inRepo := filepath.Join(repoDir, "attacker.pub") // in the work tree, outside the inventory folder
	require.NoError(t, os.WriteFile(inRepo, pub, 0o644))
	link := filepath.Join(outside, "link.pub")
	require.NoError(t, os.Symlink(inInv, link))
	rootIn := filepath.Join(invDir, "trusted_root.json")
	require.NoError(t, os.WriteFile(rootIn, []byte("{}"), 0o644))
	config := func(dir string, cfg map[string]any) string {
		b, err := json.Marshal(cfg)
		require.NoError(t, err)
		p := filepath.Join(dir, "trust.json")
		require.NoError(t, os.WriteFile(p, b, 0o644))
		return p
	}
	cfgOut := t.TempDir()

	tests := []struct {
		name  string
		files gate.TrustFiles
		err   string // empty: trusted
		in    bool   // the error wraps ErrTrustInRepository
	}{
		{name: "key outside", files: gate.TrustFiles{Keys: []string{good}}},
		{name: "key inside the inventory", files: gate.TrustFiles{Keys: []string{inInv}}, in: true,
			err: "--trusted-key " + inInv + ": trust roots must come from outside the repository under review: keep the file outside it"},
		{name: "key in the work tree", files: gate.TrustFiles{Keys: []string{inRepo}}, in: true, err: "--trusted-key " + inRepo + ": trust roots must come"},
		{name: "link from outside to inside", files: gate.TrustFiles{Keys: []string{good, link}}, in: true, err: "--trusted-key " + link + ": trust roots must come"},
		{name: "trusted root inside", files: gate.TrustFiles{Identities: []string{"https://issuer=me"}, Root: rootIn}, in: true,
			err: "--trusted-root " + rootIn + ": trust roots must come"},
		{name: "config inside", files: gate.TrustFiles{Config: config(invDir, map[string]any{"trustedKeys": []string{good}})}, in: true,
			err: "--trust-config: " + filepath.Join(invDir, "trust.json") + ": trust roots must come"},
		{name: "config naming a key inside", files: gate.TrustFiles{Config: config(cfgOut, map[string]any{"trustedKeys": []string{inInv}})}, in: true,
			err: "--trust-config: " + filepath.Join(cfgOut, "trust.json") + " names " + inInv + ": trust roots must come"},
		{name: "config naming a trusted root inside", files: gate.TrustFiles{Config: config(t.TempDir(), map[string]any{"trustedRoot": rootIn, "keylessIdentities": []string{"https://issuer=me"}})}, in: true,
			err: " names " + rootIn + ": trust roots must come"},
		{name: "keyless without a root", files: gate.TrustFiles{Identities: []string{"https://issuer=me"}},
			err: "--keyless-identity needs --trusted-root FILE (a Sigstore trusted_root.json)"},
		{name: "a bad identity", files: gate.TrustFiles{Identities: []string{"nobody"}},
			err: `--keyless-identity: invalid keyless identity "nobody": want ISSUER=SUBJECT`},
		{name: "missing key", files: gate.TrustFiles{Keys: []string{filepath.Join(outside, "missing.pub")}}, err: "--trusted-key: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.True(t, tt.files.Given())
			tr, err := gate.LoadTrust(src, tt.files)
			if tt.err == "" {
				require.NoError(t, err)
				assert.True(t, gate.Trusted(tr))
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
			assert.Equal(t, tt.in, errors.Is(err, gate.ErrTrustInRepository))
			assert.False(t, gate.Trusted(tr))
		})
	}

	tr, err := gate.LoadTrust(src, gate.TrustFiles{})
	require.NoError(t, err)
	assert.False(t, gate.Trusted(tr), "no trust roots is not an error")
	assert.False(t, gate.TrustFiles{}.Given())
}

func TestInside(t *testing.T) {
	dir := t.TempDir()
	src, err := inventory.OpenWorktree(dir)
	require.NoError(t, err)
	for _, tt := range []struct {
		path string
		in   bool
	}{
		{dir, true},
		{filepath.Join(dir, "a", "b.pub"), false}, // does not exist: not inside; reading it fails later
		{filepath.Dir(dir), false},
		{dir + "-sibling", false},
	} {
		got, err := gate.Inside(src, tt.path)
		require.NoError(t, err)
		assert.Equal(t, tt.in, got, tt.path)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "k.pub"), nil, 0o644))
	got, err := gate.Inside(src, filepath.Join(dir, "k.pub"))
	require.NoError(t, err)
	assert.True(t, got)
}

func TestLoadTrustKeyless(t *testing.T) {
	src, err := inventory.OpenWorktree(t.TempDir())
	require.NoError(t, err)
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "trusted_root.json")
	require.NoError(t, os.WriteFile(rootFile, []byte("{}"), 0o644))
	cfg := filepath.Join(dir, "trust.json")
	require.NoError(t, os.WriteFile(cfg, []byte(`{"trustedRoot": "trusted_root.json", "keylessIdentities": ["https://issuer=me"]}`), 0o644))

	_, err = gate.LoadTrust(src, gate.TrustFiles{Root: rootFile})
	assert.EqualError(t, err, "--trusted-root needs at least one --keyless-identity ISSUER=SUBJECT")
	_, err = gate.LoadTrust(src, gate.TrustFiles{Root: rootFile, Config: cfg})
	assert.EqualError(t, err, "--trusted-root and trustedRoot in --trust-config both given: keep one")
	_, err = gate.LoadTrust(src, gate.TrustFiles{Config: cfg})
	require.Error(t, err, "an empty trusted_root.json is not a trusted root")
	assert.Contains(t, err.Error(), "--trusted-root: reading trusted root "+rootFile)

	vs, err := ca.NewVirtualSigstore()
	require.NoError(t, err)
	assert.False(t, gate.Trusted(signing.Trust{Root: vs}), "a root without identities trusts no one")
	assert.False(t, gate.Trusted(signing.Trust{Identities: []signing.Identity{{Issuer: "i", Subject: "s"}}}), "identities without a root")
	assert.True(t, gate.Trusted(signing.Trust{Root: vs, Identities: []signing.Identity{{Issuer: "i", Subject: "s"}}}))
}

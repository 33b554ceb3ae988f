package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/signing"
)

// trustRootOptions are the operator's trust roots for signature
// verification: flags, or a config file outside the repository. They are
// never read from the inventory, where a pull request could add its own key.
type trustRootOptions struct {
	trustedKeys []string
	identities  []string
	trustedRoot string
	trustConfig string
}

func (o *trustRootOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.trustedKeys, "trusted-key", nil, "trust signatures made by the PEM public key in `FILE` (repeatable)")
	fs.StringArrayVar(&o.identities, "keyless-identity", nil, "trust keyless signatures of certificate identity `ISSUER=SUBJECT` (repeatable; needs --trusted-root)")
	fs.StringVar(&o.trustedRoot, "trusted-root", "", "Sigstore trusted_root.json `FILE` for keyless signatures")
	fs.StringVar(&o.trustConfig, "trust-config", "", "read trust roots from the operator config `FILE` (JSON, outside the repository)")
}

// given reports whether any trust flag was set.
func (o *trustRootOptions) given() bool {
	return len(o.trustedKeys) > 0 || len(o.identities) > 0 || o.trustedRoot != "" || o.trustConfig != ""
}

// trustConfig is the operator config file of --trust-config. Relative paths
// resolve against the file's folder.
//
//	{"trustedKeys": ["release.pub"],
//	 "keylessIdentities": ["https://token.actions.githubusercontent.com=https://github.com/acme/models/.github/workflows/sign.yml@refs/heads/main"],
//	 "trustedRoot": "trusted_root.json"}
type trustConfig struct {
	TrustedKeys       []string `json:"trustedKeys"`
	KeylessIdentities []string `json:"keylessIdentities"`
	TrustedRoot       string   `json:"trustedRoot"`
}

// trust builds the trust roots of the flags and the config file. src is the
// inventory being checked: a config file inside its repository, or one that
// names files inside it, is refused. Unreadable inputs are usage errors; an
// empty result is not an error (callers decide, see signing.ErrNoTrust).
func (o *trustRootOptions) trust(src *inventory.Source) (signing.Trust, error) {
	keys := append([]string(nil), o.trustedKeys...)
	ids := append([]string(nil), o.identities...)
	rootFile := o.trustedRoot
	if o.trustConfig != "" {
		cfg, err := readTrustConfig(src, o.trustConfig)
		if err != nil {
			return signing.Trust{}, usageError(fmt.Errorf("--trust-config: %w", err))
		}
		keys = append(keys, cfg.TrustedKeys...)
		ids = append(ids, cfg.KeylessIdentities...)
		if cfg.TrustedRoot != "" {
			if rootFile != "" {
				return signing.Trust{}, usageError(errors.New("--trusted-root and trustedRoot in --trust-config both given: keep one"))
			}
			rootFile = cfg.TrustedRoot
		}
	}
	var t signing.Trust
	for _, f := range keys {
		k, err := signing.LoadPublicKey(f)
		if err != nil {
			return t, usageError(fmt.Errorf("--trusted-key: %w", err))
		}
		t.Keys = append(t.Keys, k)
	}
	for _, s := range ids {
		id, err := signing.ParseIdentity(s)
		if err != nil {
			return t, usageError(fmt.Errorf("--keyless-identity: %w", err))
		}
		t.Identities = append(t.Identities, id)
	}
	if len(t.Identities) > 0 && rootFile == "" {
		return t, usageError(errors.New("--keyless-identity needs --trusted-root FILE (a Sigstore trusted_root.json)"))
	}
	if rootFile != "" {
		if len(t.Identities) == 0 {
			return t, usageError(errors.New("--trusted-root needs at least one --keyless-identity ISSUER=SUBJECT"))
		}
		tr, err := signing.LoadTrustedRoot(rootFile)
		if err != nil {
			return t, usageError(fmt.Errorf("--trusted-root: %w", err))
		}
		t.Root = tr
	}
	return t, nil
}

// readTrustConfig reads the operator config at path, refusing a file that
// lives in the inventory's repository, and resolves the paths it names.
func readTrustConfig(src *inventory.Source, path string) (*trustConfig, error) {
	if in, err := insideRepository(src, path); err != nil {
		return nil, err
	} else if in {
		return nil, fmt.Errorf("%s is inside the inventory's repository; trust roots must come from outside it", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cfg trustConfig
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	resolve := func(p string) (string, error) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		in, err := insideRepository(src, p)
		if err != nil {
			return "", err
		}
		if in {
			return "", fmt.Errorf("%s names %s, inside the inventory's repository; trust roots must come from outside it", path, p)
		}
		return p, nil
	}
	for i, k := range cfg.TrustedKeys {
		if cfg.TrustedKeys[i], err = resolve(k); err != nil {
			return nil, err
		}
	}
	if cfg.TrustedRoot != "" {
		if cfg.TrustedRoot, err = resolve(cfg.TrustedRoot); err != nil {
			return nil, err
		}
	}
	return &cfg, nil
}

// insideRepository reports whether path is inside the inventory's folder or
// the git work tree that holds it, symbolic links resolved. A path that does
// not exist is not inside: reading it fails later with a clear message.
func insideRepository(src *inventory.Source, path string) (bool, error) {
	p, err := realPath(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	roots := []string{src.Dir}
	if src.Repo != nil {
		if wt, err := src.Repo.Worktree(); err == nil {
			roots = append(roots, wt.Filesystem.Root())
		}
	}
	for _, r := range roots {
		rp, err := realPath(r)
		if err != nil {
			return false, err
		}
		rel, err := filepath.Rel(rp, p)
		if err != nil {
			continue
		}
		if rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))) {
			return true, nil
		}
	}
	return false, nil
}

// realPath is the absolute path of p with symbolic links resolved.
func realPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	r, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", err
	}
	return r, nil
}

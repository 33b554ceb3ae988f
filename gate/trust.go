package gate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/signing"
)

// TrustFiles names the operator's trust roots: files and identities given
// on the command line or in a trust config, never read from the inventory,
// where a pull request could add its own key.
type TrustFiles struct {
	// Keys are PEM public key files (--trusted-key).
	Keys []string
	// Identities are accepted keyless signers, "ISSUER=SUBJECT"
	// (--keyless-identity); they need Root.
	Identities []string
	// Root is a Sigstore trusted_root.json (--trusted-root).
	Root string
	// Config is a JSON trust config file (--trust-config) naming more of
	// the above; relative paths in it resolve against its folder.
	//
	//	{"trustedKeys": ["release.pub"],
	//	 "keylessIdentities": ["https://token.actions.githubusercontent.com=https://github.com/acme/models/.github/workflows/sign.yml@refs/heads/main"],
	//	 "trustedRoot": "trusted_root.json"}
	Config string
}

// Given reports whether any trust root is named.
func (t TrustFiles) Given() bool {
	return len(t.Keys) > 0 || len(t.Identities) > 0 || t.Root != "" || t.Config != ""
}

// ErrTrustInRepository is wrapped by LoadTrust's error when a trust-root
// file resolves, symbolic links followed, inside the repository under
// review: whoever can change the repository could then choose the key that
// verifies it.
var ErrTrustInRepository = errors.New("trust roots must come from outside the repository under review")

// TrustFlags names the flags that give trust roots, for messages that tell
// the user how to pass them.
const TrustFlags = "--trusted-key FILE, --keyless-identity ISSUER=SUBJECT with --trusted-root FILE, or --trust-config FILE"

type trustConfig struct {
	TrustedKeys       []string `json:"trustedKeys"`
	KeylessIdentities []string `json:"keylessIdentities"`
	TrustedRoot       string   `json:"trustedRoot"`
}

// LoadTrust reads the trust roots that files name. src is the inventory
// under review: a file inside its folder or the git work tree that holds it
// is refused with an error wrapping ErrTrustInRepository. Each error names
// the flag at fault. No trust roots at all is not an error: the gate refuses
// what needs them.
func LoadTrust(src *inventory.Source, files TrustFiles) (signing.Trust, error) {
	var t signing.Trust
	keys := append([]string(nil), files.Keys...)
	ids := append([]string(nil), files.Identities...)
	rootFile := files.Root
	for _, k := range keys {
		if err := outside(src, "--trusted-key", k); err != nil {
			return t, err
		}
	}
	if rootFile != "" {
		if err := outside(src, "--trusted-root", rootFile); err != nil {
			return t, err
		}
	}
	if files.Config != "" {
		cfg, err := readTrustConfig(src, files.Config)
		if err != nil {
			return t, fmt.Errorf("--trust-config: %w", err)
		}
		keys = append(keys, cfg.TrustedKeys...)
		ids = append(ids, cfg.KeylessIdentities...)
		if cfg.TrustedRoot != "" {
			if rootFile != "" {
				return t, errors.New("--trusted-root and trustedRoot in --trust-config both given: keep one")
			}
			rootFile = cfg.TrustedRoot
		}
	}
	for _, f := range keys {
		k, err := signing.LoadPublicKey(f)
		if err != nil {
			return t, fmt.Errorf("--trusted-key: %w", err)
		}
		t.Keys = append(t.Keys, k)
	}
	for _, s := range ids {
		id, err := signing.ParseIdentity(s)
		if err != nil {
			return t, fmt.Errorf("--keyless-identity: %w", err)
		}
		t.Identities = append(t.Identities, id)
	}
	if len(t.Identities) > 0 && rootFile == "" {
		return t, errors.New("--keyless-identity needs --trusted-root FILE (a Sigstore trusted_root.json)")
	}
	if rootFile != "" {
		if len(t.Identities) == 0 {
			return t, errors.New("--trusted-root needs at least one --keyless-identity ISSUER=SUBJECT")
		}
		tr, err := signing.LoadTrustedRoot(rootFile)
		if err != nil {
			return t, fmt.Errorf("--trusted-root: %w", err)
		}
		t.Root = tr
	}
	return t, nil
}

// Trusted reports whether t holds a trust root that can verify anything.
func Trusted(t signing.Trust) bool {
	return len(t.Keys) > 0 || (t.Root != nil && len(t.Identities) > 0)
}

// outside refuses a file of flag that lies inside the repository of src.
func outside(src *inventory.Source, flag, path string) error {
	in, err := Inside(src, path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	if in {
		return fmt.Errorf("%s %s: %w: keep the file outside it", flag, path, ErrTrustInRepository)
	}
	return nil
}

// readTrustConfig reads the operator config at path, refusing a file that
// lives in the inventory's repository or names files inside it, and
// resolves the paths it names.
func readTrustConfig(src *inventory.Source, path string) (*trustConfig, error) {
	if in, err := Inside(src, path); err != nil {
		return nil, err
	} else if in {
		return nil, fmt.Errorf("%s: %w", path, ErrTrustInRepository)
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
		in, err := Inside(src, p)
		if err != nil {
			return "", err
		}
		if in {
			return "", fmt.Errorf("%s names %s: %w", path, p, ErrTrustInRepository)
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

// Inside reports whether path is inside the inventory's folder or the git
// work tree that holds it, symbolic links resolved. A path that does not
// exist is not inside: reading it fails later with a clear message.
func Inside(src *inventory.Source, path string) (bool, error) {
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
		if r == "" {
			continue
		}
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
	return filepath.EvalSymlinks(abs)
}

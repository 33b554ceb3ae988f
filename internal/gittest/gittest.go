// Package gittest serves real git repositories over smart HTTP for tests.
//
// A Remote is a bare repository created with go-git and served by the
// system's `git http-backend` (through net/http/cgi) on an httptest server,
// so clients push and fetch with the real protocol.
package gittest

import (
	"context"
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-git/go-billy/v5/memfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

// HTTPBackend is the path of the git-http-backend CGI program the remote runs.
const HTTPBackend = "/usr/lib/git-core/git-http-backend"

// Remote is a bare git repository served over smart HTTP.
type Remote struct {
	// URL is the clone URL of the repository (http://127.0.0.1:PORT/repo.git).
	URL string
	// Dir is the path of the bare repository on disk.
	Dir string
	// User is the basic-auth user name the server requires, empty when
	// authentication is off.
	User string
	// Token is the basic-auth password the server requires, empty when
	// authentication is off.
	Token string

	requests atomic.Int64
}

// Option configures NewRemote.
type Option func(*Remote)

// WithBasicAuth makes the remote answer 401 to any request whose basic-auth
// credentials are not user and token.
func WithBasicAuth(user, token string) Option {
	return func(r *Remote) { r.User, r.Token = user, token }
}

// NewRemote creates an empty bare repository in a temporary directory and
// serves it with git http-backend (GIT_HTTP_EXPORT_ALL, http.receivepack
// enabled) on an httptest server closed at the end of the test. The test is
// skipped when git-http-backend is not installed.
func NewRemote(t testing.TB, opts ...Option) *Remote {
	t.Helper()
	if _, err := os.Stat(HTTPBackend); err != nil {
		t.Skipf("git http-backend not available: %v", err)
	}
	r := &Remote{}
	for _, o := range opts {
		o(r)
	}
	root := t.TempDir()
	r.Dir = filepath.Join(root, "repo.git")
	repo, err := git.PlainInitWithOptions(r.Dir, &git.PlainInitOptions{
		Bare:        true,
		InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName("main")},
	})
	if err != nil {
		t.Fatalf("gittest: init bare repository: %v", err)
	}
	cfg, err := repo.Config()
	if err != nil {
		t.Fatalf("gittest: read config: %v", err)
	}
	cfg.Raw.Section("http").SetOption("receivepack", "true")
	if err := repo.SetConfig(cfg); err != nil {
		t.Fatalf("gittest: write config: %v", err)
	}

	backend := &cgi.Handler{
		Path: HTTPBackend,
		Root: "/",
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"HOME=" + root,
			"GIT_CONFIG_NOSYSTEM=1",
		},
		Stderr: logWriter{t},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		if r.Token != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != r.User || p != r.Token {
				w.Header().Set("WWW-Authenticate", `Basic realm="gittest"`)
				http.Error(w, "authentication required", http.StatusUnauthorized)
				return
			}
		}
		backend.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL + "/repo.git"
	return r
}

// logWriter sends git http-backend's stderr to the test log.
type logWriter struct{ t testing.TB }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Logf("git http-backend: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

// Requests returns how many HTTP requests the remote has received.
func (r *Remote) Requests() int64 { return r.requests.Load() }

func (r *Remote) auth() transport.AuthMethod {
	if r.Token == "" {
		return nil
	}
	return &githttp.BasicAuth{Username: r.User, Password: r.Token}
}

// Signature is the author and committer of commits made by Seed.
var Signature = object.Signature{Name: "Test Human", Email: "human@example.com", When: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}

// Seed pushes one commit to branch in the remote, through go-git over HTTP.
// The commit sits on top of the branch's current tip (or is a root commit
// when the branch does not exist) and writes files (path -> content); an
// empty content still writes an empty file, and the content Deleted removes
// the file. It returns the commit's sha.
func (r *Remote) Seed(t testing.TB, branch string, files map[string]string, msg string) (sha string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	fs := memfs.New()
	repo, err := git.Init(memory.NewStorage(), fs)
	if err != nil {
		t.Fatalf("gittest: init: %v", err)
	}
	rem, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{r.URL}})
	if err != nil {
		t.Fatalf("gittest: create remote: %v", err)
	}
	local := plumbing.NewBranchReferenceName(branch)
	tracking := plumbing.NewRemoteReferenceName("origin", branch)
	err = rem.FetchContext(ctx, &git.FetchOptions{
		Auth:     r.auth(),
		RefSpecs: []config.RefSpec{config.RefSpec("+" + local.String() + ":" + tracking.String())},
	})
	wt, werr := repo.Worktree()
	if werr != nil {
		t.Fatalf("gittest: worktree: %v", werr)
	}
	switch {
	case err == nil || errors.Is(err, git.NoErrAlreadyUpToDate):
		ref, rerr := repo.Reference(tracking, true)
		if rerr != nil {
			t.Fatalf("gittest: tracking ref: %v", rerr)
		}
		if err := wt.Checkout(&git.CheckoutOptions{Hash: ref.Hash(), Branch: local, Create: true}); err != nil {
			t.Fatalf("gittest: checkout %s: %v", branch, err)
		}
	case errors.Is(err, transport.ErrEmptyRemoteRepository) || isNoMatchingRef(err):
		if err := repo.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, local)); err != nil {
			t.Fatalf("gittest: set HEAD: %v", err)
		}
	default:
		t.Fatalf("gittest: fetch %s: %v", branch, err)
	}

	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if files[p] == Deleted {
			if _, err := wt.Remove(p); err != nil {
				t.Fatalf("gittest: remove %s: %v", p, err)
			}
			continue
		}
		if dir := filepath.Dir(p); dir != "." {
			if err := fs.MkdirAll(dir, 0o755); err != nil {
				t.Fatalf("gittest: mkdir %s: %v", dir, err)
			}
		}
		f, err := fs.Create(p)
		if err != nil {
			t.Fatalf("gittest: create %s: %v", p, err)
		}
		if _, err := f.Write([]byte(files[p])); err != nil {
			t.Fatalf("gittest: write %s: %v", p, err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("gittest: close %s: %v", p, err)
		}
		if _, err := wt.Add(p); err != nil {
			t.Fatalf("gittest: add %s: %v", p, err)
		}
	}
	sig := Signature
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &sig, Committer: &sig, AllowEmptyCommits: true})
	if err != nil {
		t.Fatalf("gittest: commit: %v", err)
	}
	err = rem.PushContext(ctx, &git.PushOptions{
		Auth:     r.auth(),
		RefSpecs: []config.RefSpec{config.RefSpec(local.String() + ":" + local.String())},
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		t.Fatalf("gittest: push %s: %v", branch, err)
	}
	return h.String()
}

// Deleted is the content that makes Seed remove a file.
const Deleted = "\x00cairn-gittest-deleted\x00"

func isNoMatchingRef(err error) bool {
	var nm git.NoMatchingRefSpecError
	return errors.As(err, &nm)
}

// Branches returns every branch of the bare repository with the sha it
// points at, read from disk (not over HTTP).
func (r *Remote) Branches(t testing.TB) map[string]string {
	t.Helper()
	out, err := r.ReadBranches()
	if err != nil {
		t.Fatalf("gittest: %v", err)
	}
	return out
}

// ReadBranches is Branches for callers without a testing.TB (for example an
// HTTP handler goroutine): it returns the branches or the error.
func (r *Remote) ReadBranches() (map[string]string, error) {
	repo, err := git.PlainOpen(r.Dir)
	if err != nil {
		return nil, err
	}
	refs, err := repo.References()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		if ref.Name().IsBranch() && ref.Type() == plumbing.HashReference {
			out[ref.Name().Short()] = ref.Hash().String()
		}
		return nil
	})
	return out, err
}

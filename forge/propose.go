package forge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/google/go-github/v62/github"
)

// Actions reported in Outcome.Action.
const (
	ActionCreated   = "created"   // a new pull request was opened
	ActionUpdated   = "updated"   // the branch was force-pushed and the PR edited
	ActionUnchanged = "unchanged" // nothing was written
	ActionCommented = "commented" // the branch has foreign commits: a comment instead of a push
)

// TrailerKey is the commit trailer that marks a commit made by Cairn; its
// value is the proposal's content hash.
const TrailerKey = "Cairn-Finding"

// DefaultLabels are added to a new pull request when Proposal.Labels is nil.
var DefaultLabels = []string{"cairn", "drift"}

// ErrForeignBranch is returned by Propose when the branch exists on origin
// with a tip that Cairn did not make and no pull request is open from it:
// Cairn does not overwrite other people's work.
var ErrForeignBranch = errors.New("branch has commits not made by cairn")

// Proposal is a change to propose as a pull request: one commit on top of
// Base that writes Files, pushed to Branch.
type Proposal struct {
	Branch string // head branch, e.g. "cairn/rollback/fraud-detector"
	Base   string // base branch, e.g. "main"
	Title  string
	Body   string
	// Labels are added when the pull request is created; nil means
	// DefaultLabels.
	Labels []string
	// Message is the commit message (default: Title). The trailer
	// "Cairn-Finding: sha256:..." (the CommitHash) is appended.
	Message string
	// Files maps a slash-separated path to its new content; a nil value
	// deletes the path.
	Files map[string][]byte
	// Author is the commit author and committer; an empty name or e-mail
	// gets Cairn's, a zero time gets the current time.
	Author object.Signature
}

// Outcome says what Propose did.
type Outcome struct {
	Number int
	URL    string
	Action string // one of the Action* constants
}

var (
	bodyMarkerRE = regexp.MustCompile(`<!-- cairn:finding (sha256:[0-9a-f]{64}) -->`)
	trailerRE    = regexp.MustCompile(`(?m)^` + TrailerKey + `: (sha256:[0-9a-f]{64})\s*$`)
)

// ContentHash returns the hash that identifies the proposal's content
// ("sha256:<hex>"): title, body, message and files. Base, labels and
// author are not part of it.
func (p Proposal) ContentHash() string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s\n", len(s), s) }
	field(p.CommitHash())
	field(p.Title)
	field(p.Body)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// CommitHash returns the hash of what the proposal's commit carries: its
// branch, message and files. It goes into the commit's trailer; when only
// the title or body change (fresh evidence for the same fix), the branch is
// left alone and only the pull request is edited, so reviewers see no
// force-push.
func (p Proposal) CommitHash() string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s\n", len(s), s) }
	field(p.Branch)
	field(p.Message)
	paths := make([]string, 0, len(p.Files))
	for k := range p.Files {
		paths = append(paths, k)
	}
	sort.Strings(paths)
	for _, k := range paths {
		field(k)
		if v := p.Files[k]; v == nil {
			field("deleted")
		} else {
			field("content")
			field(string(v))
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func (p Proposal) validate() error {
	if p.Branch == "" || p.Base == "" || p.Title == "" {
		return errors.New("proposal needs a branch, a base and a title")
	}
	if p.Branch == p.Base {
		return fmt.Errorf("proposal branch %q is its base", p.Branch)
	}
	for _, b := range []string{p.Branch, p.Base} {
		if !plumbing.NewBranchReferenceName(b).IsBranch() || strings.ContainsAny(b, " ~^:?*[\\") || strings.Contains(b, "..") {
			return fmt.Errorf("invalid branch name %q", b)
		}
	}
	if len(p.Files) == 0 {
		return errors.New("proposal changes no file")
	}
	for f := range p.Files {
		if err := checkPath(f); err != nil {
			return err
		}
	}
	return nil
}

func checkPath(f string) error {
	if f == "" || strings.HasPrefix(f, "/") || path.Clean(f) != f || strings.Contains(f, "\\") {
		return fmt.Errorf("invalid path %q", f)
	}
	for _, part := range strings.Split(f, "/") {
		if part == ".." || part == "." || part == ".git" {
			return fmt.Errorf("invalid path %q", f)
		}
	}
	return nil
}

// prBody returns the pull request body: the proposal's body, trimmed to
// fit, then the hidden content-hash marker.
func prBody(body, hash string) string {
	marker := "<!-- cairn:finding " + hash + " -->"
	limit := maxCommentChars - len(marker) - 2
	if r := []rune(body); len(r) >= limit {
		const note = "\n\n… (truncated)"
		body = string(r[:limit-1-len([]rune(note))]) + note
	}
	return body + "\n\n" + marker
}

// GitAuth returns how token authenticates git over HTTP(S) to url on
// GitHub: basic auth as the x-access-token user. It returns nil for an
// empty token or a URL of another scheme (ssh, file), whose credentials
// come from elsewhere.
func GitAuth(url, token string) transport.AuthMethod {
	if token == "" || !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
		return nil
	}
	return &githttp.BasicAuth{Username: "x-access-token", Password: token}
}

// Propose makes the proposal a pull request from p.Branch into p.Base,
// idempotently. It reads origin's branches, then:
//   - no open pull request from the branch: builds one commit on the base
//     tip (in repo's object store; the work tree and HEAD are not touched),
//     pushes it to origin as refs/heads/<Branch> and opens the pull request
//     with the labels ("created"). A branch tip Cairn did not make is not
//     overwritten: ErrForeignBranch.
//   - an open pull request whose branch tip Cairn did not make: no push, a
//     sticky comment saying so ("commented").
//   - an open pull request of the same content hash (body marker and commit
//     trailer): no write at all ("unchanged").
//   - otherwise: a fresh commit force-pushed over Cairn's own, and the pull
//     request's title and body edited ("updated").
func (c *Client) Propose(ctx context.Context, repo *git.Repository, p Proposal) (_ Outcome, err error) {
	defer func() { err = c.mask(err) }()
	if err := p.validate(); err != nil {
		return Outcome{}, err
	}
	if p.Message == "" {
		p.Message = p.Title
	}
	if p.Labels == nil {
		p.Labels = DefaultLabels
	}
	// What goes to GitHub never carries the token, whatever the caller wrote.
	p.Title, p.Body = MaskToken(p.Title, c.token), MaskToken(p.Body, c.token)
	hash, commitHash := p.ContentHash(), p.CommitHash()
	log := c.logger.With("branch", p.Branch)

	rem, err := repo.Remote("origin")
	if err != nil {
		return Outcome{}, fmt.Errorf("remote origin: %w", err)
	}
	url := ""
	if urls := rem.Config().URLs; len(urls) > 0 {
		url = urls[0]
	}
	auth := GitAuth(url, c.token)
	baseRef := plumbing.NewBranchReferenceName(p.Base)
	headRef := plumbing.NewBranchReferenceName(p.Branch)
	refs, err := rem.ListContext(ctx, &git.ListOptions{Auth: auth})
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return Outcome{}, fmt.Errorf("listing origin branches: %w", err)
	}
	var baseTip, headTip plumbing.Hash
	for _, r := range refs {
		switch r.Name() {
		case baseRef:
			baseTip = r.Hash()
		case headRef:
			headTip = r.Hash()
		}
	}
	if baseTip.IsZero() {
		return Outcome{}, fmt.Errorf("base branch %s not found on origin", p.Base)
	}
	if err := fetchMissing(ctx, repo, rem, auth, map[plumbing.ReferenceName]plumbing.Hash{baseRef: baseTip, headRef: headTip}); err != nil {
		return Outcome{}, err
	}

	var tipHash string // content hash in the branch tip's trailer, "" if not Cairn's
	if !headTip.IsZero() {
		tip, err := repo.CommitObject(headTip)
		if err != nil {
			return Outcome{}, fmt.Errorf("reading branch tip %s: %w", headTip, err)
		}
		if m := trailerRE.FindStringSubmatch(tip.Message); m != nil {
			tipHash = m[1]
		}
	}
	ours := headTip.IsZero() || tipHash != ""

	pr, err := c.openPRForHead(ctx, p.Branch)
	if err != nil {
		return Outcome{}, err
	}

	if pr != nil {
		out := Outcome{Number: pr.GetNumber(), URL: pr.GetHTMLURL()}
		if !ours {
			body := fmt.Sprintf("%s\nCairn did not update this pull request: branch `%s` has commits that Cairn did not make (tip `%s`), and Cairn does not overwrite them. The latest finding (`%s`) is not pushed. Close this pull request or reset the branch to let Cairn update it.",
				foreignMarker, p.Branch, headTip.String()[:12], hash)
			wrote, err := c.upsertComment(ctx, out.Number, foreignMarker, body)
			if err != nil {
				return out, err
			}
			log.Info("branch has foreign commits, commented", "number", out.Number, "wrote", wrote)
			out.Action = ActionCommented
			return out, nil
		}
		var markerHash string
		if m := bodyMarkerRE.FindStringSubmatch(pr.GetBody()); m != nil {
			markerHash = m[1]
		}
		if tipHash == commitHash && markerHash == hash {
			if err := c.ensureLabels(ctx, pr, p.Labels); err != nil {
				return out, err
			}
			log.Debug("proposal unchanged", "number", out.Number)
			out.Action = ActionUnchanged
			return out, nil
		}
		if tipHash != commitHash {
			if err := c.commitAndPush(ctx, repo, rem, auth, p, commitHash, baseTip, headTip); err != nil {
				return out, err
			}
		}
		body := prBody(p.Body, hash)
		edited, _, err := c.gh.PullRequests.Edit(ctx, c.owner, c.repo, out.Number, &github.PullRequest{Title: &p.Title, Body: &body})
		if err != nil {
			return out, fmt.Errorf("updating pull request %d: %w", out.Number, err)
		}
		if err := c.ensureLabels(ctx, edited, p.Labels); err != nil {
			return out, err
		}
		log.Info("updated pull request", "number", out.Number)
		out.Action = ActionUpdated
		return out, nil
	}

	if !ours {
		return Outcome{}, fmt.Errorf("proposing on %s (tip %s): %w", p.Branch, headTip, ErrForeignBranch)
	}
	if tipHash != commitHash {
		if err := c.commitAndPush(ctx, repo, rem, auth, p, commitHash, baseTip, headTip); err != nil {
			return Outcome{}, err
		}
	}
	created, err := c.createPR(ctx, p, prBody(p.Body, hash))
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Number: created.GetNumber(), URL: created.GetHTMLURL(), Action: ActionCreated}
	if err := c.ensureLabels(ctx, created, p.Labels); err != nil {
		return out, err
	}
	log.Info("created pull request", "number", out.Number)
	return out, nil
}

const foreignMarker = "<!-- cairn:foreign-commits -->"

// createPR opens the pull request. A create that failed in a way GitHub may
// still have applied (5xx, lost response, "already exists") is followed by a
// look for an open pull request from the head before creating again, so the
// pull request is never opened twice.
func (c *Client) createPR(ctx context.Context, p Proposal, body string) (*github.PullRequest, error) {
	const tries = 4
	for try := 1; ; try++ {
		pr, _, err := c.gh.PullRequests.Create(ctx, c.owner, c.repo, &github.NewPullRequest{
			Title: &p.Title, Head: &p.Branch, Base: &p.Base, Body: &body,
		})
		if err == nil {
			return pr, nil
		}
		code := statusCode(err)
		if !ambiguous(err) && code != 422 {
			return nil, fmt.Errorf("creating pull request from %s: %w", p.Branch, err)
		}
		existing, lerr := c.openPRForHead(ctx, p.Branch)
		if lerr != nil {
			return nil, fmt.Errorf("creating pull request from %s: %w (then %w)", p.Branch, err, lerr)
		}
		if existing != nil {
			c.logger.Info("pull request create failed but it exists", "number", existing.GetNumber(), "error", err)
			return existing, nil
		}
		if code == 422 || try >= tries {
			return nil, fmt.Errorf("creating pull request from %s: %w", p.Branch, err)
		}
		c.logger.Warn("pull request create failed, retrying", "branch", p.Branch, "attempt", try, "error", err)
	}
}

// ensureLabels adds the labels pr lacks; it writes nothing when it has them.
func (c *Client) ensureLabels(ctx context.Context, pr *github.PullRequest, labels []string) error {
	var missing []string
	for _, l := range labels {
		if !slices.ContainsFunc(pr.Labels, func(x *github.Label) bool { return x.GetName() == l }) {
			missing = append(missing, l)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	// Adding labels is idempotent: safe to retry after a 5xx.
	if _, _, err := c.gh.Issues.AddLabelsToIssue(retrySafe(ctx), c.owner, c.repo, pr.GetNumber(), missing); err != nil {
		return fmt.Errorf("labelling pull request %d: %w", pr.GetNumber(), err)
	}
	return nil
}

// fetchMissing fetches the given origin branches whose tips are not in
// repo's object store yet.
func fetchMissing(ctx context.Context, repo *git.Repository, rem *git.Remote, auth transport.AuthMethod, tips map[plumbing.ReferenceName]plumbing.Hash) error {
	var specs []config.RefSpec
	for name, h := range tips {
		if h.IsZero() {
			continue
		}
		if _, err := repo.CommitObject(h); err == nil {
			continue
		}
		specs = append(specs, config.RefSpec(fmt.Sprintf("+%s:refs/remotes/origin/%s", name, name.Short())))
	}
	if len(specs) == 0 {
		return nil
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i] < specs[j] })
	err := rem.FetchContext(ctx, &git.FetchOptions{Auth: auth, RefSpecs: specs, Tags: git.NoTags})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("fetching from origin: %w", err)
	}
	return nil
}

// commitAndPush writes the proposal's commit on baseTip and pushes it to
// origin's branch: forced over oldTip (when the branch exists, and only if
// it still points there), or as a new branch.
func (c *Client) commitAndPush(ctx context.Context, repo *git.Repository, rem *git.Remote, auth transport.AuthMethod, p Proposal, hash string, baseTip, oldTip plumbing.Hash) error {
	base, err := repo.CommitObject(baseTip)
	if err != nil {
		return fmt.Errorf("reading base %s: %w", baseTip, err)
	}
	sig := p.Author
	if sig.Name == "" {
		sig.Name = "Cairn"
	}
	if sig.Email == "" {
		sig.Email = "cairn@users.noreply.github.com"
	}
	if sig.When.IsZero() {
		sig.When = time.Now().UTC().Truncate(time.Second)
	}
	msg := strings.TrimRight(p.Message, "\n") + "\n\n" + TrailerKey + ": " + hash + "\n"
	commit, err := writeCommit(repo.Storer, base, p.Files, msg, sig)
	if err != nil {
		return fmt.Errorf("committing proposal: %w", err)
	}
	dst := plumbing.NewBranchReferenceName(p.Branch)
	opts := &git.PushOptions{RemoteName: "origin", Auth: auth}
	if oldTip.IsZero() {
		opts.RefSpecs = []config.RefSpec{config.RefSpec(commit.String() + ":" + dst.String())}
	} else {
		opts.RefSpecs = []config.RefSpec{config.RefSpec("+" + commit.String() + ":" + dst.String())}
		opts.RequireRemoteRefs = []config.RefSpec{config.RefSpec(oldTip.String() + ":" + dst.String())}
	}
	if err := rem.PushContext(ctx, opts); err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("pushing %s: %w", p.Branch, err)
	}
	c.logger.Info("pushed branch", "branch", p.Branch, "commit", commit.String())
	return nil
}

type treeEntry struct {
	mode filemode.FileMode
	hash plumbing.Hash
}

// writeCommit stores blobs, trees and one commit (parent: base) that
// applies files to base's tree, and returns the commit's hash.
func writeCommit(s storer.EncodedObjectStorer, base *object.Commit, files map[string][]byte, msg string, sig object.Signature) (plumbing.Hash, error) {
	tree, err := base.Tree()
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("reading base tree: %w", err)
	}
	flat := map[string]treeEntry{}
	if err := flatten(tree, "", flat); err != nil {
		return plumbing.ZeroHash, err
	}
	paths := make([]string, 0, len(files))
	for f := range files {
		paths = append(paths, f)
	}
	sort.Strings(paths)
	for _, f := range paths {
		content := files[f]
		// Whatever sits at f, below f or at a parent of f goes away.
		for k := range flat {
			if k == f || strings.HasPrefix(k, f+"/") || strings.HasPrefix(f, k+"/") {
				if content == nil && k != f && strings.HasPrefix(f, k+"/") {
					continue // deleting a/b must not delete file a
				}
				delete(flat, k)
			}
		}
		if content == nil {
			continue
		}
		h, err := writeObject(s, plumbing.BlobObject, func(o plumbing.EncodedObject) error {
			w, err := o.Writer()
			if err != nil {
				return err
			}
			if _, err := w.Write(content); err != nil {
				return err
			}
			return w.Close()
		})
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("writing blob %s: %w", f, err)
		}
		mode := filemode.Regular
		if old, err := tree.FindEntry(f); err == nil && old.Mode == filemode.Executable {
			mode = filemode.Executable
		}
		flat[f] = treeEntry{mode: mode, hash: h}
	}
	root, err := writeTrees(s, flat)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: root, ParentHashes: []plumbing.Hash{base.Hash}}
	return writeObject(s, plumbing.CommitObject, c.Encode)
}

func writeObject(s storer.EncodedObjectStorer, t plumbing.ObjectType, encode func(plumbing.EncodedObject) error) (plumbing.Hash, error) {
	o := s.NewEncodedObject()
	o.SetType(t)
	if err := encode(o); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(o)
}

// flatten records every non-tree entry of t under prefix.
func flatten(t *object.Tree, prefix string, out map[string]treeEntry) error {
	for _, e := range t.Entries {
		p := prefix + e.Name
		if e.Mode == filemode.Dir {
			sub, err := t.Tree(e.Name)
			if err != nil {
				return fmt.Errorf("reading tree %s: %w", p, err)
			}
			if err := flatten(sub, p+"/", out); err != nil {
				return err
			}
			continue
		}
		out[p] = treeEntry{mode: e.Mode, hash: e.Hash}
	}
	return nil
}

// writeTrees stores the trees for a flat path -> entry map and returns the
// root tree's hash. Entries are sorted in git's order (a tree sorts as if
// its name ended with "/").
func writeTrees(s storer.EncodedObjectStorer, flat map[string]treeEntry) (plumbing.Hash, error) {
	files := map[string]treeEntry{}
	dirs := map[string]map[string]treeEntry{}
	for p, e := range flat {
		if dir, rest, ok := strings.Cut(p, "/"); ok {
			if dirs[dir] == nil {
				dirs[dir] = map[string]treeEntry{}
			}
			dirs[dir][rest] = e
		} else {
			files[p] = e
		}
	}
	var entries []object.TreeEntry
	for name, e := range files {
		entries = append(entries, object.TreeEntry{Name: name, Mode: e.mode, Hash: e.hash})
	}
	for name, sub := range dirs {
		h, err := writeTrees(s, sub)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entries = append(entries, object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h})
	}
	sortKey := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(entries, func(i, j int) bool { return sortKey(entries[i]) < sortKey(entries[j]) })
	t := &object.Tree{Entries: entries}
	return writeObject(s, plumbing.TreeObject, t.Encode)
}

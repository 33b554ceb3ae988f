// Package receipt issues and verifies signed approval receipts: for each
// model that an apply gives a target, an in-toto Statement v1 whose subject
// is the artifact's digest and whose predicate (PredicateType) says which
// revision reached which target, through which pull request, approved by
// whom, under which approvals requirement, with the rules' verdicts, the
// artifact's signature identity and the apply's result. A receipt is signed
// with the operator's key as a Sigstore bundle over DSSE (signing.
// SignStatement) and stored in <state dir>/receipts/; its audit line names
// it. Verify checks one offline against trusted keys.
package receipt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	ita1 "github.com/in-toto/attestation/go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/cairnops/cairn/approval"
	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/internal/atomicfile"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/signing"
)

// PredicateType is the in-toto predicate type of a receipt; its schema is
// docs/receipt.cue.
const PredicateType = "https://cairn.dev/receipt/v1"

// Dir is the folder of the receipts in the state directory.
const Dir = "receipts"

// Predicate is a receipt's predicate. Field names are snake_case, like the
// GitHub API shapes they come from.
type Predicate struct {
	Model    string `json:"model"`
	Version  string `json:"version"`
	Stage    string `json:"stage"`
	Target   string `json:"target"`
	Revision string `json:"revision"`
	// PullRequest is the merged pull request whose merge (or squash)
	// commit is Revision; nil for a direct push, or when it could not be
	// looked up (PullRequestError says why).
	PullRequest *PullRequest `json:"pull_request"`
	// PullRequestError is why the pull request could not be looked up
	// (no GitHub connection, GitHub out of reach, a work tree); empty when
	// it was.
	PullRequestError string `json:"pull_request_error,omitempty"`
	// Approvers are the approvals of the pull request that count (each
	// reviewer's latest decisive review, APPROVED on its head, not the
	// author's), sorted by login; empty without a pull request.
	Approvers []Approver `json:"approvers"`
	// Requirement is what inventory.cue's approvals asked of this stage
	// change; nil when the stage needs none.
	Requirement *Requirement `json:"requirement"`
	// Rules are the verdicts of the rules that judged the revision, as
	// they concern this model.
	Rules []Rule `json:"rules"`
	// Signature is the gate's verdict on the artifact's signature.
	Signature Signature `json:"signature"`
	// Apply is what the target's driver did.
	Apply Apply `json:"apply"`
}

// PullRequest is the pull request that brought the revision.
type PullRequest struct {
	Number         int       `json:"number"`
	URL            string    `json:"url"`
	Title          string    `json:"title"`
	Author         string    `json:"author"`
	HeadSHA        string    `json:"head_sha"`
	BaseSHA        string    `json:"base_sha,omitempty"`
	MergeCommitSHA string    `json:"merge_commit_sha"`
	MergedAt       time.Time `json:"merged_at"`
}

// Approver is one approval that counts.
type Approver struct {
	Login       string    `json:"login"`
	SubmittedAt time.Time `json:"submitted_at"`
	// For is the requirement's entry ("@org/team" or "@user") through
	// which the approval counts; empty when it does not count towards the
	// requirement, or the requirement takes any reviewer.
	For string `json:"for,omitempty"`
}

// Requirement is the approvals requirement of the stage change, counted
// as the cairn/approvals status counts it (package approval).
type Requirement struct {
	Min       int      `json:"min"`
	Eligible  []string `json:"eligible"`
	Satisfied bool     `json:"satisfied"`
}

// Rule is one rule's verdict on the model.
type Rule struct {
	ID       string   `json:"id"`
	Severity string   `json:"severity"`
	Result   string   `json:"result"` // pass, warning or off
	Messages []string `json:"messages,omitempty"`
}

// Signature is the artifact's signature verdict.
type Signature struct {
	// Status is ok, invalid or unverified (gate.SignatureStatus), or
	// not-required when no signing.required stage pins the version.
	Status   string `json:"status"`
	Identity string `json:"identity,omitempty"`
}

// Apply is what the driver did to the target.
type Apply struct {
	Action string    `json:"action"` // created or updated
	From   string    `json:"from,omitempty"`
	Result string    `json:"result"` // applied, or failed: <why>
	Time   time.Time `json:"time"`
}

// Options configure an Issuer.
type Options struct {
	// Signer signs the receipts (signing.LoadSigner).
	Signer signature.SignerVerifier
	// StateDir is the absolute state directory; receipts go to
	// <StateDir>/receipts.
	StateDir string
	// WorktreeRef is the commit a work-tree revision stands for (cairn ci:
	// the pushed sha); empty leaves it "worktree".
	WorktreeRef string
	// GitHub connects to the repository whose pull requests brought the
	// revisions; nil, or an error, records no pull request and says why.
	GitHub func(ctx context.Context, inv *inventory.Inventory) (*forge.Client, error)
	// Load evaluates the pull request's base, whose settings govern what
	// the change needed (approval.Governing), as the status counted it.
	Load inventory.Options
}

// Issuer issues receipts; it implements reconciler.Receipts. It looks up
// each revision's pull request and reviews once. It is safe for concurrent
// use.
type Issuer struct {
	opts Options

	mu      sync.Mutex // guards reviews
	reviews map[string]*prReviews
}

var _ reconciler.Receipts = (*Issuer)(nil)

// prReviews is what GitHub said of one revision.
type prReviews struct {
	pr      *forge.PR
	reviews []approval.Review
	gh      *forge.Client
	err     string // why the lookup failed
	teams   map[string][]string
}

// New returns an Issuer; it makes no request.
func New(opts Options) (*Issuer, error) {
	if opts.Signer == nil {
		return nil, errors.New("receipts: no signing key")
	}
	if !filepath.IsAbs(opts.StateDir) {
		return nil, fmt.Errorf("receipts: state directory %q: not absolute", opts.StateDir)
	}
	return &Issuer{opts: opts, reviews: map[string]*prReviews{}}, nil
}

// Issue builds, signs and stores the receipt of r and returns its path
// (relative to the state directory) and approvers. GitHub's failures are
// recorded in the receipt (pull_request_error), not returned; the errors are
// signing and I/O.
func (is *Issuer) Issue(ctx context.Context, r reconciler.ReceiptRequest) (reconciler.Issued, error) {
	pred, err := is.predicate(ctx, r)
	if err != nil {
		return reconciler.Issued{}, err
	}
	st, err := Statement(r.Change.Model, r.Change.To, r.Change.Digest, pred)
	if err != nil {
		return reconciler.Issued{}, err
	}
	bundle, err := signing.SignStatement(ctx, is.opts.Signer, st)
	if err != nil {
		return reconciler.Issued{}, err
	}
	sum := sha256.Sum256(bundle)
	rel := path.Join(Dir, r.Change.Model, fmt.Sprintf("%s-%s.sigstore.json", pred.Version, hex.EncodeToString(sum[:8])))
	abs := filepath.Join(is.opts.StateDir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return reconciler.Issued{}, fmt.Errorf("creating receipts directory: %w", err)
	}
	if err := atomicfile.Write(abs, append(bundle, '\n'), 0o644); err != nil {
		return reconciler.Issued{}, fmt.Errorf("writing receipt: %w", err)
	}
	logins := make([]string, 0, len(pred.Approvers))
	for _, a := range pred.Approvers {
		logins = append(logins, a.Login)
	}
	return reconciler.Issued{Path: rel, Approvers: logins}, nil
}

// predicate gathers the receipt's predicate.
func (is *Issuer) predicate(ctx context.Context, r reconciler.ReceiptRequest) (*Predicate, error) {
	v := r.Verdict
	if v == nil || v.Inventory == nil {
		return nil, errors.New("receipt: no verdict")
	}
	inv := v.Inventory
	c := r.Change
	if err := checkName(c.To); err != nil {
		return nil, err
	}
	rev := inv.Source.Revision
	if rev == inventory.Worktree && is.opts.WorktreeRef != "" {
		rev = is.opts.WorktreeRef
	}
	p := &Predicate{
		Model: c.Model, Version: c.To, Stage: r.Stage, Target: r.Target, Revision: rev,
		Approvers: []Approver{}, Rules: rules(v, c.Model), Signature: signatureOf(v, c.Model, c.To),
		Apply: Apply{Action: string(c.Action), From: c.From, Result: r.Result, Time: r.Time.UTC()},
	}
	change := approval.Change{Model: c.Model, Stage: r.Stage, From: c.From, To: c.To}
	if m := inv.Model(c.Model); m != nil {
		change.Tier = m.Card.Risk.Tier
	}
	lk := is.lookup(ctx, inv, rev)
	p.PullRequestError = lk.err
	if lk.pr == nil {
		// A direct push approves nothing: a requirement stays unmet.
		if reqs := approval.Requirements(inv.Settings, []approval.Change{change}); len(reqs) > 0 {
			p.Requirement = requirementOf(reqs[0])
		}
		return p, nil
	}
	pr := lk.pr
	// What the change needed is what the pull request's base asked, as
	// the cairn/approvals status counted it: a pull request that lowered
	// its own bar does not make its receipt read "met".
	settings := inv.Settings
	base, err := is.base(ctx, inv, pr.BaseSHA, c.Model)
	if err != nil {
		p.PullRequestError = oneLine(err.Error())
	} else {
		settings = approval.Governing(base, inv)
		if bm := base.Model(c.Model); bm != nil && bm.Valid && bm.Card.Risk.Tier != change.Tier {
			change.BaseTier = bm.Card.Risk.Tier
		}
	}
	reqs := approval.Requirements(settings, []approval.Change{change})
	if len(reqs) > 0 {
		p.Requirement = requirementOf(reqs[0])
	}
	p.PullRequest = &PullRequest{Number: pr.Number, URL: pr.URL, Title: pr.Title, Author: pr.Author,
		HeadSHA: pr.HeadSHA, BaseSHA: pr.BaseSHA, MergeCommitSHA: pr.MergeCommitSHA, MergedAt: pr.MergedAt.UTC()}
	counted := map[string]approval.Approval{}
	if len(reqs) > 0 && err == nil {
		// The same count as the cairn/approvals status. Where the change
		// has more than one requirement (its risk tier changed), the
		// receipt names the first one not met, and is met when all are.
		results, err := approval.Evaluate(ctx, reqs, lk.reviews, pr.Author, pr.HeadSHA, lk.members)
		if err != nil {
			p.PullRequestError = oneLine(err.Error())
		} else {
			met := true
			for i, res := range results {
				if !res.Satisfied() && met {
					met = false
					p.Requirement = requirementOf(reqs[i])
				}
				for _, a := range res.Approvals {
					counted[strings.ToLower(a.Login)] = a
				}
			}
			p.Requirement.Satisfied = met
		}
	}
	for _, a := range approval.Approved(lk.reviews, pr.Author, pr.HeadSHA) {
		ap := Approver{Login: a.Login, SubmittedAt: a.SubmittedAt.UTC()}
		if ca, ok := counted[strings.ToLower(a.Login)]; ok {
			ap.For = ca.For
		}
		p.Approvers = append(p.Approvers, ap)
	}
	return p, nil
}

// base evaluates model at the pull request's base revision sha, in the
// repository of head.
func (is *Issuer) base(ctx context.Context, head *inventory.Inventory, sha, model string) (*inventory.Inventory, error) {
	src := head.Source
	if sha == "" || src == nil || src.Repo == nil {
		return nil, errors.New("the pull request's base cannot be read: no base commit or no repository")
	}
	bsrc, err := inventory.OpenCommit(ctx, src.Repo, src.Dir, sha)
	if err != nil {
		return nil, fmt.Errorf("the pull request's base %s cannot be read (fetch it): %w", inventory.ShortHash(sha), err)
	}
	opts := is.opts.Load
	opts.Only = []string{model}
	base, err := inventory.Load(ctx, bsrc, opts)
	if err != nil {
		return nil, fmt.Errorf("the pull request's base %s: %w", inventory.ShortHash(sha), err)
	}
	return base, nil
}

// requirementOf is r as a receipt records it, not yet met.
func requirementOf(r approval.Requirement) *Requirement {
	eligible := r.Eligible
	if eligible == nil {
		eligible = []string{}
	}
	return &Requirement{Min: r.Min, Eligible: eligible}
}

// lookup returns what GitHub says of rev, asking once per revision.
func (is *Issuer) lookup(ctx context.Context, inv *inventory.Inventory, rev string) *prReviews {
	is.mu.Lock()
	defer is.mu.Unlock()
	if lk, ok := is.reviews[rev]; ok {
		return lk
	}
	lk := &prReviews{teams: map[string][]string{}}
	is.reviews[rev] = lk
	switch {
	case rev == inventory.Worktree:
		lk.err = "the work tree is no commit"
		return lk
	case is.opts.GitHub == nil:
		lk.err = "no GitHub connection"
		return lk
	}
	gh, err := is.opts.GitHub(ctx, inv)
	if err != nil {
		lk.err = "github: " + oneLine(err.Error())
		return lk
	}
	pr, err := gh.MergedPR(ctx, rev)
	if err != nil {
		lk.err = "github: " + oneLine(err.Error())
		return lk
	}
	if pr == nil {
		return lk // a direct push
	}
	revs, err := gh.Reviews(ctx, pr.Number)
	if err != nil {
		lk.err = "github: " + oneLine(err.Error())
		return lk
	}
	lk.pr, lk.gh = pr, gh
	for _, r := range revs {
		lk.reviews = append(lk.reviews, approval.Review{User: r.User, State: r.State, CommitID: r.CommitID, SubmittedAt: r.SubmittedAt})
	}
	return lk
}

// members resolves a team through GitHub, once per team and revision.
func (lk *prReviews) members(ctx context.Context, org, slug string) ([]string, error) {
	k := strings.ToLower(org + "/" + slug)
	if m, ok := lk.teams[k]; ok {
		return m, nil
	}
	m, err := lk.gh.TeamMembers(ctx, org, slug)
	if err != nil {
		return nil, err
	}
	lk.teams[k] = m
	return m, nil
}

// rules returns every rule's verdict on model: the findings of the
// revision's report that concern it (or no model), by rule.
func rules(v *gate.Verdict, model string) []Rule {
	msgs := map[string][]string{}
	worst := map[string]policy.Severity{}
	if v.Report != nil {
		for _, f := range v.Report.Findings {
			if f.Model != "" && f.Model != model {
				continue
			}
			msgs[f.Rule] = append(msgs[f.Rule], f.Message)
			if f.Severity == policy.Error || worst[f.Rule] == "" {
				worst[f.Rule] = f.Severity
			}
		}
	}
	out := make([]Rule, 0, len(v.Rules))
	for _, r := range v.Rules {
		rr := Rule{ID: r.ID, Severity: string(r.Severity), Result: "pass", Messages: msgs[r.ID]}
		switch {
		case r.Severity == policy.Off:
			rr.Result = "off"
		case len(rr.Messages) > 0:
			rr.Result = string(worst[r.ID])
		}
		out = append(out, rr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// signatureOf returns the gate's signature verdict on model@version.
func signatureOf(v *gate.Verdict, model, version string) Signature {
	for _, s := range v.Signatures {
		if s.Model == model && s.Version == version {
			return Signature{Status: string(s.Status), Identity: s.Identity}
		}
	}
	return Signature{Status: "not-required"}
}

// Statement returns the in-toto Statement v1 of a receipt as JSON: subject
// model@version with the artifact's sha256 digest, predicate p.
func Statement(model, version, digest string, p *Predicate) ([]byte, error) {
	hexDigest, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || len(hexDigest) != 64 {
		return nil, fmt.Errorf("receipt: digest %q: want sha256:<64 hex>", digest)
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding receipt: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("encoding receipt: %w", err)
	}
	pred, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("encoding receipt: %w", err)
	}
	st := &ita1.Statement{
		Type:          ita1.StatementTypeUri,
		Subject:       []*ita1.ResourceDescriptor{{Name: model + "@" + version, Digest: map[string]string{"sha256": hexDigest}}},
		PredicateType: PredicateType,
		Predicate:     pred,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("receipt statement: %w", err)
	}
	out, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encoding receipt: %w", err)
	}
	return out, nil
}

// checkName refuses a version that cannot be part of a file name.
func checkName(version string) error {
	if version == "" || !filepath.IsLocal(version) || strings.ContainsAny(version, `/\`) {
		return fmt.Errorf("receipt: version %q cannot name a file", version)
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

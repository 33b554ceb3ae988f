package receipt

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/signing"
)

// ErrInvalid is wrapped by Verify's error when a receipt does not verify:
// unreadable, not signed by a trusted key, not a receipt, or not the one
// its audit line describes.
var ErrInvalid = errors.New("receipt does not verify")

// Verified is a receipt that verified.
type Verified struct {
	Predicate *Predicate
	// Signer is who signed it, "key:<hex sha256 of the PKIX DER public key>".
	Signer string
}

// Verify checks the receipt that audit entry e names, in stateDir, offline:
// a Sigstore DSSE bundle signed by one of keys, of an in-toto Statement v1
// of PredicateType whose subject is e's model, version and digest, and whose
// predicate agrees with e (target, action, result, revision, approvers).
// The error wraps ErrInvalid, or signing.ErrNoTrust without keys; its text
// is one line that starts with the receipt's path.
func Verify(ctx context.Context, stateDir string, e reconciler.AuditEntry, keys []crypto.PublicKey) (*Verified, error) {
	rel := e.Receipt
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", rel, ErrInvalid, fmt.Sprintf(format, args...))
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s: %w", rel, signing.ErrNoTrust)
	}
	if rel == "" {
		return nil, fmt.Errorf("%s %s@%s on %s: %w: the audit line names no receipt", e.Time.Format("2006-01-02T15:04:05Z07:00"), e.Model, e.To, e.Target, ErrInvalid)
	}
	if !filepath.IsLocal(filepath.FromSlash(rel)) || !strings.HasPrefix(path.Clean(rel), Dir+"/") {
		return nil, fail("not a file under %s/", Dir)
	}
	data, err := os.ReadFile(filepath.Join(stateDir, filepath.FromSlash(rel)))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fail("no such file")
		}
		return nil, fail("%s", oneLine(err.Error()))
	}
	payload, res, err := signing.VerifyStatement(ctx, data, e.Digest, keys)
	if err != nil {
		return nil, fail("%s", oneLine(err.Error()))
	}
	p, err := parse(payload, e.Model, e.To)
	if err != nil {
		return nil, fail("%s", err.Error())
	}
	if err := agrees(p, e); err != nil {
		return nil, fail("%s", err.Error())
	}
	return &Verified{Predicate: p, Signer: res.Identity}, nil
}

// parse reads a verified statement: in-toto Statement v1 of PredicateType
// about model@version.
func parse(payload []byte, model, version string) (*Predicate, error) {
	st := &ita1.Statement{}
	if err := protojson.Unmarshal(payload, st); err != nil {
		return nil, fmt.Errorf("not an in-toto statement: %s", oneLine(err.Error()))
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("not an in-toto statement: %s", err)
	}
	if st.GetPredicateType() != PredicateType {
		return nil, fmt.Errorf("predicate type %q, want %q", st.GetPredicateType(), PredicateType)
	}
	if n := len(st.GetSubject()); n != 1 || st.GetSubject()[0].GetName() != model+"@"+version {
		return nil, fmt.Errorf("the statement is not about %s@%s", model, version)
	}
	raw, err := json.Marshal(st.GetPredicate().AsMap())
	if err != nil {
		return nil, fmt.Errorf("reading the predicate: %s", err)
	}
	p := &Predicate{}
	if err := json.Unmarshal(raw, p); err != nil {
		return nil, fmt.Errorf("reading the predicate: %s", oneLine(err.Error()))
	}
	return p, nil
}

// agrees checks that the predicate says what the audit line says.
func agrees(p *Predicate, e reconciler.AuditEntry) error {
	var logins []string
	for _, a := range p.Approvers {
		logins = append(logins, a.Login)
	}
	approvers := e.Approvers
	if len(approvers) == 0 {
		approvers = nil
	}
	switch {
	case p.Model != e.Model || p.Version != e.To:
		return fmt.Errorf("it is about %s@%s, the audit line about %s@%s", p.Model, p.Version, e.Model, e.To)
	case p.Target != e.Target:
		return fmt.Errorf("it names target %s, the audit line %s", p.Target, e.Target)
	case e.Revision != inventory.Worktree && p.Revision != e.Revision:
		return fmt.Errorf("it names revision %s, the audit line %s", p.Revision, e.Revision)
	case p.Apply.Action != e.Action || p.Apply.Result != e.Result:
		return fmt.Errorf("it says %s (%s), the audit line %s (%s)", p.Apply.Action, p.Apply.Result, e.Action, e.Result)
	case !slices.Equal(logins, approvers):
		return fmt.Errorf("its approvers %v differ from the audit line's %v", logins, approvers)
	}
	return nil
}

// Read returns the predicate of the receipt that e names without verifying
// its signature, for showing it; Verify is what trusts it. Errors are one
// line starting with the receipt's path.
func Read(stateDir string, e reconciler.AuditEntry) (*Predicate, error) {
	rel := e.Receipt
	if !filepath.IsLocal(filepath.FromSlash(rel)) || !strings.HasPrefix(path.Clean(rel), Dir+"/") {
		return nil, fmt.Errorf("%s: not a file under %s/", rel, Dir)
	}
	data, err := os.ReadFile(filepath.Join(stateDir, filepath.FromSlash(rel)))
	if err != nil {
		return nil, fmt.Errorf("%s: %s", rel, oneLine(err.Error()))
	}
	var b struct {
		DSSEEnvelope struct {
			Payload []byte `json:"payload"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s: not a Sigstore bundle: %s", rel, oneLine(err.Error()))
	}
	p, err := parse(b.DSSEEnvelope.Payload, e.Model, e.To)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", rel, err)
	}
	return p, nil
}

// Summary returns one line on who approved: "pull request #12 approved by
// bob (for @acme/ml-platform), carol (for @acme/model-risk)", "pull request
// #12, no approvals", "direct push: no pull request, no approvers" or
// "pull request unknown: <why>". An unmet requirement adds "; needs N".
func (p *Predicate) Summary() string {
	unmet := ""
	if r := p.Requirement; r != nil && !r.Satisfied {
		unmet = fmt.Sprintf("; requirement not met (needs %d)", r.Min)
	}
	if p.PullRequest == nil {
		if p.PullRequestError != "" {
			return "pull request unknown: " + p.PullRequestError + unmet
		}
		return "direct push: no pull request, no approvers" + unmet
	}
	var who []string
	for _, a := range p.Approvers {
		s := a.Login
		if a.For != "" {
			s += " (for " + a.For + ")"
		}
		who = append(who, s)
	}
	out := fmt.Sprintf("pull request #%d", p.PullRequest.Number)
	if len(who) == 0 {
		out += ", no approvals"
	} else {
		out += " approved by " + strings.Join(who, ", ")
	}
	out += unmet
	if p.PullRequestError != "" {
		out += "; " + p.PullRequestError
	}
	return out
}

// Package approval works out which approvals a pull request needs and
// whether its reviews give them.
//
// A pull request that changes a model's stage pin (promotes, rolls back,
// removes) needs the approvals inventory.cue asks for that stage:
// approvals[stage], or its byRisk[tier] override for the model's risk tier.
// Reviews count when they are the reviewer's latest decisive review, are
// APPROVED, were submitted on the pull request's head commit and are not by
// the pull request's author. Teams ("@org/team") are resolved through a
// function the caller passes, so the package itself makes no request.
package approval

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/schema"
)

// Change is one stage pin that differs between the base and the head.
type Change struct {
	Model string `json:"model"`
	Stage string `json:"stage"`
	// From is the version pinned at base, empty when the stage was unset.
	From string `json:"from,omitempty"`
	// To is the version pinned at head, empty when the stage is removed.
	To string `json:"to,omitempty"`
	// Tier is the model's risk tier at head (at base for a removed model).
	Tier string `json:"tier,omitempty"`
	// BaseTier is the model's risk tier at base when head changes it: a
	// pull request cannot lower its own bar by lowering the tier, so the
	// change needs what either tier asks.
	BaseTier string `json:"baseTier,omitempty"`
}

// String returns "model stage from→to", "-" for an absent version.
func (c Change) String() string {
	return fmt.Sprintf("%s %s %s→%s", c.Model, c.Stage, orDash(c.From), orDash(c.To))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Changes returns every stage pin that differs between base and head, sorted
// by model name and then by the stage order of head's settings (stages it
// does not list last, by name). A nil base counts as an empty inventory.
// Models that did not evaluate (Valid false) on either side are skipped: the
// schema rule reports them.
func Changes(base, head *inventory.Inventory) []Change {
	pins := func(inv *inventory.Inventory) map[string]*inventory.Model {
		out := map[string]*inventory.Model{}
		if inv == nil {
			return out
		}
		for _, m := range inv.Models {
			out[m.Name] = m
		}
		return out
	}
	b, h := pins(base), pins(head)
	names := map[string]bool{}
	for n := range b {
		names[n] = true
	}
	for n := range h {
		names[n] = true
	}
	order := map[string]int{}
	for i, s := range head.Settings.Stages {
		order[s] = i
	}
	var out []Change
	for _, name := range slices.Sorted(maps.Keys(names)) {
		bm, hm := b[name], h[name]
		if (bm != nil && !bm.Valid) || (hm != nil && !hm.Valid) {
			continue
		}
		var from, to map[string]string
		tier, baseTier := "", ""
		if bm != nil {
			from, tier = bm.Stages, bm.Card.Risk.Tier
		}
		if hm != nil {
			to = hm.Stages
			if t := hm.Card.Risk.Tier; t != tier {
				baseTier, tier = tier, t
			}
		}
		stages := map[string]bool{}
		for s := range from {
			stages[s] = true
		}
		for s := range to {
			stages[s] = true
		}
		var cs []Change
		for s := range stages {
			if from[s] != to[s] {
				cs = append(cs, Change{Model: name, Stage: s, From: from[s], To: to[s], Tier: tier, BaseTier: baseTier})
			}
		}
		sort.Slice(cs, func(i, j int) bool {
			oi, iok := order[cs[i].Stage]
			oj, jok := order[cs[j].Stage]
			if iok != jok {
				return iok
			}
			if oi != oj {
				return oi < oj
			}
			return cs[i].Stage < cs[j].Stage
		})
		out = append(out, cs...)
	}
	return out
}

// Requirement is the approvals one change needs.
type Requirement struct {
	Change
	// Min is how many distinct approvers are needed.
	Min int `json:"min"`
	// Eligible lists who may approve (the setting's from): "@user" or
	// "@org/team"; empty means any reviewer but the author.
	Eligible []string `json:"eligible,omitempty"`
}

// Requirements returns the requirement of every change that settings'
// approvals cover with a positive min: approvals[stage], replaced by
// approvals[stage].byRisk[tier] when the change's tier has an entry.
// Changes of stages without approvals need none and are left out.
//
// Callers should pass the base revision's settings: a pull request must not
// be able to lower the bar it is measured against.
func Requirements(settings schema.Settings, changes []Change) []Requirement {
	var out []Requirement
	for _, c := range changes {
		a, ok := settings.Approvals[c.Stage]
		if !ok {
			continue
		}
		of := func(tier string) Requirement {
			r := Requirement{Change: c, Min: a.Min, Eligible: a.From}
			if o, ok := a.ByRisk[tier]; ok && tier != "" {
				r.Min, r.Eligible = o.Min, o.From
			}
			return r
		}
		r := of(c.Tier)
		if r.Min > 0 {
			out = append(out, r)
		}
		if c.BaseTier == "" {
			continue
		}
		// The tier changed: what the base's tier asks is needed too,
		// unless it asks the same.
		if b := of(c.BaseTier); b.Min > 0 && (b.Min != r.Min || !slices.Equal(b.Eligible, r.Eligible)) {
			out = append(out, b)
		}
	}
	return out
}

// Review is one submitted pull request review.
type Review struct {
	User        string
	State       string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
	CommitID    string
	SubmittedAt time.Time
}

// MembersFunc returns the logins of the members of team org/slug.
type MembersFunc func(ctx context.Context, org, slug string) ([]string, error)

// Result is a requirement with the approvals that count towards it.
type Result struct {
	Requirement
	// Approvers are the logins whose approvals count, sorted.
	Approvers []string `json:"approvers"`
	// Approvals are the approvals that count, in the order of Approvers,
	// with when each was submitted and what made the reviewer eligible.
	Approvals []Approval `json:"-"`
}

// Approval is one reviewer's approval that counts.
type Approval struct {
	// Login is the reviewer's login.
	Login string
	// SubmittedAt is when the counting review was submitted.
	SubmittedAt time.Time
	// For is the entry of the requirement's eligible list ("@org/team" or
	// "@user") through which the approval counts; empty when any reviewer
	// may approve.
	For string
}

// Satisfied reports whether enough approvers approved.
func (r Result) Satisfied() bool { return len(r.Approvers) >= r.Min }

// Missing returns how many more approvals are needed.
func (r Result) Missing() int { return max(r.Min-len(r.Approvers), 0) }

// Evaluate returns, for every requirement, the approvers that count: each
// reviewer's latest decisive review (APPROVED, CHANGES_REQUESTED or
// DISMISSED, by SubmittedAt, ties in list order; COMMENTED and PENDING
// reviews change nothing, as on GitHub) must be APPROVED with CommitID equal
// to headSHA; author never counts; logins compare case-insensitively. Teams
// in From are resolved with members, once each. The error is members'.
func Evaluate(ctx context.Context, reqs []Requirement, reviews []Review, author, headSHA string, members MembersFunc) ([]Result, error) {
	approved := Approved(reviews, author, headSHA)
	teams := map[string]map[string]bool{}
	allowed := func(login, who string) (bool, error) {
		who = strings.TrimPrefix(strings.TrimSpace(who), "@")
		org, slug, isTeam := strings.Cut(who, "/")
		if !isTeam {
			return strings.EqualFold(who, login), nil
		}
		key := strings.ToLower(who)
		set, ok := teams[key]
		if !ok {
			if members == nil {
				return false, fmt.Errorf("resolving team @%s: no team lookup", who)
			}
			logins, err := members(ctx, org, slug)
			if err != nil {
				return false, fmt.Errorf("resolving team @%s: %w", who, err)
			}
			set = map[string]bool{}
			for _, l := range logins {
				set[strings.ToLower(l)] = true
			}
			teams[key] = set
		}
		return set[strings.ToLower(login)], nil
	}
	out := make([]Result, 0, len(reqs))
	for _, r := range reqs {
		res := Result{Requirement: r, Approvers: []string{}, Approvals: []Approval{}}
		for _, a := range approved {
			ok := len(r.Eligible) == 0
			for _, who := range r.Eligible {
				if ok {
					break
				}
				var err error
				if ok, err = allowed(a.Login, who); err != nil {
					return nil, err
				}
				if ok {
					a.For = who
				}
			}
			if ok {
				res.Approvers = append(res.Approvers, a.Login)
				res.Approvals = append(res.Approvals, a)
			}
		}
		out = append(out, res)
	}
	return out, nil
}

// Approved returns the approvals that count before eligibility, sorted by
// login: each reviewer's latest decisive review (as Evaluate reads them)
// that is APPROVED on headSHA, without author's. For is empty.
func Approved(reviews []Review, author, headSHA string) []Approval {
	sorted := append([]Review(nil), reviews...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].SubmittedAt.Before(sorted[j].SubmittedAt) })
	latest := map[string]Review{}
	for _, rv := range sorted {
		switch strings.ToUpper(rv.State) {
		case "APPROVED", "CHANGES_REQUESTED", "DISMISSED":
			latest[strings.ToLower(rv.User)] = rv
		}
	}
	var out []Approval
	for login, rv := range latest {
		if login == "" || strings.EqualFold(login, author) {
			continue
		}
		if strings.ToUpper(rv.State) == "APPROVED" && rv.CommitID == headSHA && headSHA != "" {
			out = append(out, Approval{Login: rv.User, SubmittedAt: rv.SubmittedAt})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Login < out[j].Login })
	return out
}

// Satisfied reports whether every result is satisfied.
func Satisfied(results []Result) bool {
	for _, r := range results {
		if !r.Satisfied() {
			return false
		}
	}
	return true
}

// Describe returns a one-line summary for a commit status: what is missing,
// or that every required approval is present.
func Describe(results []Result) string {
	if len(results) == 0 {
		return "no approvals required"
	}
	var missing []string
	for _, r := range results {
		if r.Satisfied() {
			continue
		}
		who := "any reviewer"
		if len(r.Eligible) > 0 {
			who = strings.Join(r.Eligible, " or ")
		}
		missing = append(missing, fmt.Sprintf("%s %s: %d more from %s", r.Model, r.Stage, r.Missing(), who))
	}
	if len(missing) == 0 {
		// A change whose tier changed has more than one requirement.
		changes := map[Change]bool{}
		for _, r := range results {
			changes[r.Change] = true
		}
		return fmt.Sprintf("all required approvals present (%d %s)", len(changes), pluralWord(len(changes), "change"))
	}
	return "waiting for " + strings.Join(missing, "; ")
}

func pluralWord(n int, w string) string {
	if n == 1 {
		return w
	}
	return w + "s"
}

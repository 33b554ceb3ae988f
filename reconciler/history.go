package reconciler

import (
	"context"
	"errors"
	"maps"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/cairnops/cairn/inventory"
)

// ErrNoHistory is returned by History when the inventory is not in a git repository.
var ErrNoHistory = errors.New("no git history")

// StageChange is one stage's pin changing in a commit.
type StageChange struct {
	Stage string `json:"stage"`
	From  string `json:"from,omitempty"` // empty: the stage was not pinned
	To    string `json:"to,omitempty"`   // empty: the pin was removed
}

// String returns "<stage> <from>→<to>" with "-" for an absent version.
func (c StageChange) String() string { return c.Stage + " " + orDash(c.From) + "→" + orDash(c.To) }

// HistoryEntry is one commit that changed a model's lifecycle.
type HistoryEntry struct {
	Commit  string    `json:"commit"`
	Author  string    `json:"author"`
	Email   string    `json:"email"`
	Date    time.Time `json:"date"`
	Subject string    `json:"subject"`
	// PR is the pull request the commit came from, when its message says
	// so the way GitHub writes merges ("Merge pull request #12 from ...")
	// and squash merges ("Subject (#12)"); 0 otherwise.
	PR int `json:"pr,omitempty"`
	// Changes are the stage pins the commit changed, in stage order.
	Changes []StageChange `json:"changes"`
	// Retired is set when the commit retired (true) or un-retired (false) the model.
	Retired *bool `json:"retired,omitempty"`
}

// lifecycle is what History compares between commits.
type lifecycle struct {
	stages  map[string]string
	retired bool
}

// History returns, oldest first, every commit reachable from src's revision
// (HEAD for the working tree) that changed the stage pins or the retirement
// of model, as inventory.ModelHistory reads them. A commit at which the model
// does not evaluate is passed over; the next one that does is compared with
// the last good one. It returns ErrNoHistory when src has no repository.
func History(ctx context.Context, src *inventory.Source, model string, load inventory.Options) ([]HistoryEntry, error) {
	if src.Repo == nil {
		return nil, ErrNoHistory
	}
	type revision struct {
		commit *object.Commit
		life   lifecycle
		order  []string
	}
	var revs []revision
	for rev, err := range inventory.ModelHistory(ctx, src, model, 0, load) {
		if err != nil {
			return nil, err
		}
		revs = append(revs, revision{commit: rev.Commit, life: lifecycleOf(rev.Model), order: rev.Stages})
	}
	var stageOrder []string
	prev := lifecycle{stages: map[string]string{}}
	var out []HistoryEntry
	for i := len(revs) - 1; i >= 0; i-- { // oldest first
		c, cur := revs[i].commit, revs[i].life
		if revs[i].order != nil {
			stageOrder = revs[i].order
		}
		e := HistoryEntry{Commit: c.Hash.String(), Author: c.Author.Name, Email: c.Author.Email,
			Date: c.Author.When, Subject: subject(c.Message), PR: pullRequest(c.Message), Changes: diffStages(prev.stages, cur.stages, stageOrder)}
		if cur.retired != prev.retired {
			r := cur.retired
			e.Retired = &r
		}
		prev = cur
		if len(e.Changes) == 0 && e.Retired == nil {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// lifecycleOf returns the lifecycle of m; a nil m (deleted) pins nothing.
func lifecycleOf(m *inventory.Model) lifecycle {
	if m == nil {
		return lifecycle{stages: map[string]string{}}
	}
	return lifecycle{stages: maps.Clone(m.Stages), retired: m.Retired}
}

// diffStages returns the changed stages, in the inventory's stage order and
// then by name for stages it does not list.
func diffStages(old, cur map[string]string, order []string) []StageChange {
	rank := make(map[string]int, len(order))
	for i, s := range order {
		rank[s] = i
	}
	var out []StageChange
	seen := map[string]bool{}
	for _, m := range []map[string]string{old, cur} {
		for s := range m {
			if seen[s] {
				continue
			}
			seen[s] = true
			if old[s] != cur[s] {
				out = append(out, StageChange{Stage: s, From: old[s], To: cur[s]})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		ri, iok := rank[out[i].Stage]
		rj, jok := rank[out[j].Stage]
		if iok != jok {
			return iok
		}
		if iok && ri != rj {
			return ri < rj
		}
		return out[i].Stage < out[j].Stage
	})
	return out
}

func subject(msg string) string {
	s, _, _ := strings.Cut(strings.TrimSpace(msg), "\n")
	return strings.TrimSpace(s)
}

// prRE finds the pull request number GitHub writes into merge and squash
// commit subjects.
var prRE = regexp.MustCompile(`^Merge pull request #([0-9]+) |\(#([0-9]+)\)\s*$`)

// pullRequest returns the pull request number of a commit message's
// subject, or 0.
func pullRequest(msg string) int {
	m := prRE.FindStringSubmatch(subject(msg))
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1] + m[2])
	return n
}

package remedy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/monitor"
)

// Branch kinds: the <kind> of `cairn/<kind>/<model>`.
const (
	BranchRollback = "rollback"
	BranchRetrain  = "retrain"
	BranchPin      = "pin"
)

// BranchPrefix starts every branch that remedy proposes from.
const BranchPrefix = "cairn/"

// DispatchEvent is the repository_dispatch event type of a retrain request.
const DispatchEvent = "cairn-retrain"

// Outcome actions besides forge's created, updated, unchanged and commented.
const (
	ActionClosed  = "closed"  // the finding no longer holds: PR closed with a comment
	ActionSkipped = "skipped" // nothing to propose (see Outcome.Message)
	ActionFailed  = "failed"  // see Outcome.Err
)

// TargetDrift is a target finding on a target whose onDrift is "pr": the
// target runs Got where git pins Want for the target's Stage.
type TargetDrift struct {
	Target, Model, Stage string
	Want, Got            string
	Message              string
}

// Input is what Remediate answers.
type Input struct {
	// Findings are monitor findings from Evaluate.
	Findings []Finding
	// Targets are target findings of targets whose onDrift is "pr".
	Targets []TargetDrift
	// TargetsObserved says that every "pr" target was observed, so that pin
	// pull requests without a finding may be closed.
	TargetsObserved bool
}

// Options configure Remediate.
type Options struct {
	// Repo is the inventory's git repository, with an `origin` remote that
	// proposal branches are pushed to.
	Repo *git.Repository
	// Base is the pull requests' base branch; default the inventory's
	// github.base, else "main".
	Base string
	// Logger receives diagnostics; default discards.
	Logger *slog.Logger
	// Load tunes the evaluations of the model at earlier commits and of
	// the edited model (its Isolate bounds them).
	Load inventory.Options
}

// Outcome is what Remediate did for one branch.
type Outcome struct {
	Branch  string `json:"branch"`
	Model   string `json:"model"`
	Action  string `json:"action"`
	Number  int    `json:"number,omitempty"`
	URL     string `json:"url,omitempty"`
	Message string `json:"message,omitempty"`
	// Dispatched is true when a cairn-retrain repository_dispatch was sent.
	Dispatched bool `json:"dispatched,omitempty"`
	// Error is Err's text, for JSON.
	Error string `json:"error,omitempty"`
	Err   error  `json:"-"`
}

// String returns "<branch>: <action>[ #n][: message]".
func (o Outcome) String() string {
	s := o.Branch + ": " + o.Action
	if o.Number != 0 {
		s += " #" + strconv.Itoa(o.Number)
	}
	if o.Dispatched {
		s += " (dispatched " + DispatchEvent + ")"
	}
	switch {
	case o.Err != nil:
		s += ": " + o.Err.Error()
	case o.Message != "":
		s += ": " + o.Message
	}
	return s
}

// Branch returns "cairn/<kind>/<model>".
func Branch(kind, model string) string { return BranchPrefix + kind + "/" + model }

// Remediate answers in with pull requests through fc, one per branch, in
// branch order, then closes the open pull requests from cairn/rollback/*,
// cairn/retrain/* (and cairn/pin/* when in.TargetsObserved) whose finding no
// longer holds. A model with a monitor-error or a monitor-pending keeps
// its pull requests open, since nothing is decided. A finding whose
// evidence (monitor.Evidence, the decision, the target observations) is
// unchanged writes nothing, however much later it is seen; the pull
// requests are listed once per call. Per-branch failures are in the outcomes (Err);
// the error is for a failure before any branch is handled (listing the open
// pull requests, a cancelled ctx).
func Remediate(ctx context.Context, inv *inventory.Inventory, fc *forge.Client, in Input, opts Options) ([]Outcome, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	base := opts.Base
	if base == "" && inv.Settings.GitHub != nil {
		base = inv.Settings.GitHub.Base
	}
	if base == "" {
		base = "main"
	}
	open, err := fc.OpenPRs(ctx, BranchPrefix)
	if err != nil {
		return nil, err
	}
	openBy := map[string]forge.PR{}
	for _, p := range open {
		openBy[p.Head] = p
	}
	r := &run{inv: inv, fc: fc, repo: opts.Repo, base: base, logger: logger, open: openBy, load: opts.Load}

	// Group the findings by branch: several breached monitors of one model
	// with the same action make one pull request.
	byBranch := map[string][]Finding{}
	unknown := map[string]bool{} // models with a monitor-error
	var notify []Finding
	for _, f := range in.Findings {
		switch {
		case f.Kind == KindMonitorError, f.Kind == KindMonitorPending:
			// Nothing is decided: the model's pull requests stay as they are.
			unknown[f.Model] = true
		case f.Kind != KindMonitorBreach:
		case f.Action == BranchRollback || f.Action == BranchRetrain:
			b := Branch(f.Action, f.Model)
			byBranch[b] = append(byBranch[b], f)
		default:
			notify = append(notify, f)
		}
	}
	pins := map[string][]TargetDrift{}
	for _, t := range in.Targets {
		if t.Got == "" {
			continue // nothing runs: no pin to propose
		}
		b := Branch(BranchPin, t.Model)
		pins[b] = append(pins[b], t)
	}

	var out []Outcome
	for _, b := range slices.Sorted(maps.Keys(byBranch)) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		fs := byBranch[b]
		if fs[0].Action == BranchRollback {
			out = append(out, r.rollback(ctx, b, fs))
		} else {
			out = append(out, r.retrain(ctx, b, fs))
		}
	}
	for _, b := range slices.Sorted(maps.Keys(pins)) {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		out = append(out, r.pin(ctx, b, pins[b]))
	}
	for _, f := range notify {
		if o, ok := r.notify(ctx, f); ok {
			out = append(out, o)
		}
	}

	// Close what no longer holds.
	for _, head := range slices.Sorted(maps.Keys(openBy)) {
		kind, model, ok := strings.Cut(strings.TrimPrefix(head, BranchPrefix), "/")
		if !ok || strings.Contains(model, "/") {
			continue
		}
		switch kind {
		case BranchRollback, BranchRetrain:
			if unknown[model] || byBranch[head] != nil {
				continue
			}
		case BranchPin:
			if !in.TargetsObserved || pins[head] != nil {
				continue
			}
		default:
			continue
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		out = append(out, r.resolve(ctx, head, model, kind))
	}
	for i := range out {
		if out[i].Err != nil {
			out[i].Error = out[i].Err.Error()
		}
	}
	return out, nil
}

type run struct {
	inv    *inventory.Inventory
	fc     *forge.Client
	repo   *git.Repository
	base   string
	logger *slog.Logger
	open   map[string]forge.PR
	load   inventory.Options
}

func (r *run) propose(ctx context.Context, o Outcome, p forge.Proposal) Outcome {
	p.Base = r.base
	open, ok := r.open[p.Branch]
	p.Listed = true
	if ok {
		p.Open = &open
	}
	if r.repo == nil {
		o.Action, o.Err = ActionFailed, errors.New("no git repository to push from")
		return o
	}
	// Files are named relative to the inventory, the branch's relative
	// to the repository, of which the inventory may be a subfolder.
	if src := r.inv.Source; src != nil && src.Prefix != "" {
		files := make(map[string][]byte, len(p.Files))
		for f, content := range p.Files {
			files[src.RepoPath(f)] = content
		}
		p.Files = files
	}
	res, err := r.fc.Propose(ctx, r.repo, p)
	o.Number, o.URL = res.Number, res.URL
	if err != nil {
		o.Action, o.Err = ActionFailed, err
		r.logger.Warn("proposal failed", "branch", p.Branch, "error", err)
		return o
	}
	o.Action = res.Action
	r.logger.Info("proposal", "branch", p.Branch, "action", res.Action, "number", res.Number)
	return o
}

// rollback proposes to pin the stage of fs back to its previous version.
func (r *run) rollback(ctx context.Context, branch string, fs []Finding) Outcome {
	f := fs[0]
	o := Outcome{Branch: branch, Model: f.Model}
	skip := func(msg string) Outcome {
		o.Action, o.Message = ActionSkipped, msg
		return o
	}
	if f.Version == "" {
		return skip(fmt.Sprintf("stage %s pins no version", f.Stage))
	}
	for _, g := range fs[1:] {
		if g.Stage != f.Stage {
			return skip(fmt.Sprintf("monitors ask to roll back both %s and %s", f.Stage, g.Stage))
		}
	}
	prev, err := PreviousVersion(ctx, r.inv, f.Model, f.Stage, f.Version, r.load)
	if err != nil {
		if errors.Is(err, ErrNoPrevious) {
			return skip(err.Error())
		}
		o.Action, o.Err = ActionFailed, err
		return o
	}
	// Evidence from before the current pin does not judge the current version.
	if !prev.PinnedAt.IsZero() && prev.PinnedAt.After(f.Window[0]) {
		return skip(fmt.Sprintf("%s entered %s at %s, after the window started; waiting for a full window",
			f.Version, f.Stage, prev.PinnedAt.UTC().Format(time.RFC3339)))
	}
	file, content, err := PinStage(ctx, r.inv, f.Model, f.Stage, prev.Version, r.load)
	if err != nil {
		o.Action, o.Err = ActionFailed, err
		return o
	}
	title := fmt.Sprintf("Roll back %s %s to %s", f.Model, f.Stage, prev.Version)
	var body strings.Builder
	fmt.Fprintf(&body, "Cairn proposes to roll back **%s** in **%s** from `%s` to `%s`, the version it held before (commit `%s`), because %s.\n\n",
		f.Model, f.Stage, f.Version, prev.Version, inventory.ShortHash(prev.Commit), monitorsBreached(fs))
	evidence(&body, fs)
	return r.propose(ctx, o, forge.Proposal{
		Branch:   branch,
		Title:    title,
		Body:     body.String(),
		Evidence: evidenceKey(fmt.Sprintf("rollback %s %s from %s to %s at %s", f.Model, f.Stage, f.Version, prev.Version, prev.Commit), fs),
		Message:  title + "\n\n" + monitorsBreached(fs) + ".",
		Files:    map[string][]byte{file: content},
	})
}

// RetrainFile is the path, inside a model folder, of the retraining
// request. It is a subfolder, which inventory.Load does not evaluate as part
// of the model, in its own CUE package.
const RetrainFile = "requests/retrain.cue"

// retrain sends one repository_dispatch (when no retrain PR is open) and
// proposes the request file.
func (r *run) retrain(ctx context.Context, branch string, fs []Finding) Outcome {
	f := fs[0]
	o := Outcome{Branch: branch, Model: f.Model}
	if _, ok := r.open[branch]; !ok {
		payload := map[string]any{
			"model":   f.Model,
			"version": f.Version,
			"finding": map[string]any{
				"kind": f.Kind, "monitor": f.Monitor, "stage": f.Stage, "query": f.Query,
				"bound": f.Bound, "observed": f.Observed,
				"window": []string{stamp(f.Window[0]), stamp(f.Window[1])},
			},
		}
		if err := r.fc.Dispatch(ctx, DispatchEvent, payload); err != nil {
			// No PR without the dispatch: the next run sends both.
			o.Action, o.Err = ActionFailed, err
			return o
		}
		o.Dispatched = true
	}
	title := fmt.Sprintf("Retrain %s (%s %s)", f.Model, f.Stage, orDash(f.Version))
	var body strings.Builder
	fmt.Fprintf(&body, "Cairn requested retraining of **%s** (`%s` in %s; `%s` event) because %s. This pull request records the request in `%s`.\n\n",
		f.Model, orDash(f.Version), f.Stage, DispatchEvent, monitorsBreached(fs), inventory.ModelsDir+"/"+f.Model+"/"+RetrainFile)
	evidence(&body, fs)
	return r.propose(ctx, o, forge.Proposal{
		Branch:   branch,
		Title:    title,
		Body:     body.String(),
		Evidence: evidenceKey(fmt.Sprintf("retrain %s %s %s", f.Model, f.Stage, f.Version), fs),
		Message:  title + "\n\n" + monitorsBreached(fs) + ".",
		Files:    map[string][]byte{inventory.ModelsDir + "/" + f.Model + "/" + RetrainFile: retrainCUE(fs)},
	})
}

// retrainCUE renders the request file: a CUE file of package request.
func retrainCUE(fs []Finding) []byte {
	f := fs[0]
	var b strings.Builder
	b.WriteString("// Retraining request written by Cairn (cairn drift --open-prs).\n")
	b.WriteString("// It is not part of the model: model files are the .cue files directly in the model folder.\n")
	b.WriteString("package request\n\n")
	fmt.Fprintf(&b, "model:   %s\n", strconv.Quote(f.Model))
	fmt.Fprintf(&b, "stage:   %s\n", strconv.Quote(f.Stage))
	fmt.Fprintf(&b, "version: %s\n", strconv.Quote(f.Version))
	fmt.Fprintf(&b, "event:   %s\n", strconv.Quote(DispatchEvent))
	b.WriteString("findings: [\n")
	// The request names what breached, not the values seen: those change
	// with every evaluation and live in the pull request's body, so a new
	// evaluation of the same breach edits the body and leaves the commit.
	for _, g := range fs {
		fmt.Fprintf(&b, "\t{\n\t\tmonitor: %s\n\t\tquery:   %s\n\t\tbound:   %s\n\t},\n",
			strconv.Quote(g.Monitor), strconv.Quote(g.Query), strconv.Quote(g.Bound))
	}
	b.WriteString("]\n")
	return []byte(b.String())
}

// pin proposes to pin git to what a target runs.
func (r *run) pin(ctx context.Context, branch string, ts []TargetDrift) Outcome {
	t := ts[0]
	o := Outcome{Branch: branch, Model: t.Model}
	for _, u := range ts[1:] {
		if u.Stage != t.Stage || u.Got != t.Got {
			o.Action, o.Message = ActionSkipped, fmt.Sprintf("targets disagree: %s runs %s in %s, %s runs %s in %s", t.Target, t.Got, t.Stage, u.Target, u.Got, u.Stage)
			return o
		}
	}
	file, content, err := PinStage(ctx, r.inv, t.Model, t.Stage, t.Got, r.load)
	if err != nil {
		o.Action, o.Err = ActionFailed, err
		return o
	}
	title := fmt.Sprintf("Pin %s %s to %s, as deployed", t.Model, t.Stage, t.Got)
	var body strings.Builder
	fmt.Fprintf(&body, "Cairn found targets running a version of **%s** that git does not pin. This pull request pins **%s** to what they run, for review; close it to keep git's pin (then heal the target).\n\n", t.Model, t.Stage)
	body.WriteString("| Target | Stage | Git pins | Target runs | Observation |\n|---|---|---|---|---|\n")
	for _, u := range ts {
		fmt.Fprintf(&body, "| `%s` | %s | `%s` | `%s` | %s |\n", u.Target, u.Stage, orDash(u.Want), u.Got, strings.ReplaceAll(u.Message, "|", `\|`))
	}
	return r.propose(ctx, o, forge.Proposal{
		Branch:  branch,
		Title:   title,
		Body:    body.String(),
		Message: title,
		Files:   map[string][]byte{file: content},
	})
}

// notifyMarker marks the sticky comment of a notify monitor.
func notifyMarker(f Finding) string {
	return fmt.Sprintf("<!-- cairn:notify %s/%s -->", f.Model, f.Monitor)
}

// notify comments on the open Cairn PR of the model, if there is one.
func (r *run) notify(ctx context.Context, f Finding) (Outcome, bool) {
	for _, kind := range []string{BranchRollback, BranchRetrain, BranchPin} {
		b := Branch(kind, f.Model)
		p, ok := r.open[b]
		if !ok {
			continue
		}
		o := Outcome{Branch: b, Model: f.Model, Number: p.Number, URL: p.URL, Action: "commented", Message: "notify " + f.Monitor}
		var body strings.Builder
		fmt.Fprintf(&body, "%s\nMonitor `%s` of **%s** is out of bounds (action notify).\n\n", notifyMarker(f), f.Monitor, f.Model)
		body.WriteString(monitor.Markdown(f.Result))
		key := sha256.Sum256([]byte(monitor.Evidence(f.Result)))
		if err := r.fc.UpsertCommentKeyed(ctx, p.Number, notifyMarker(f), "sha256:"+hex.EncodeToString(key[:]), body.String()); err != nil {
			o.Action, o.Err = ActionFailed, err
		}
		return o, true
	}
	return Outcome{}, false
}

func (r *run) resolve(ctx context.Context, branch, model, kind string) Outcome {
	o := Outcome{Branch: branch, Model: model, Number: r.open[branch].Number, URL: r.open[branch].URL}
	what := "the monitors that asked for it are back within bounds"
	if kind == BranchPin {
		what = "no target runs a version that git does not pin any more"
	}
	comment := fmt.Sprintf("Cairn closes this pull request: %s, so the finding no longer holds.", what)
	closed, err := r.fc.Resolve(ctx, branch, comment)
	switch {
	case err != nil:
		o.Action, o.Err = ActionFailed, err
	case closed:
		o.Action, o.Message = ActionClosed, "finding resolved"
	default:
		o.Action, o.Message = ActionSkipped, "already closed"
	}
	return o
}

func monitorsBreached(fs []Finding) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = "`" + f.Monitor + "`"
	}
	if len(names) == 1 {
		return "monitor " + names[0] + " was out of bounds for its whole window"
	}
	return "monitors " + strings.Join(names, ", ") + " were out of bounds for their whole windows"
}

// evidenceKey is what a drift pull request's hash covers instead of its
// body: the decision and, per finding, monitor.Evidence — no clock.
func evidenceKey(decision string, fs []Finding) string {
	var b strings.Builder
	b.WriteString(decision + "\n")
	for _, f := range fs {
		b.WriteString(monitor.Evidence(f.Result))
	}
	return b.String()
}

func evidence(b *strings.Builder, fs []Finding) {
	b.WriteString("### Evidence\n\n")
	for _, f := range fs {
		b.WriteString(monitor.Markdown(f.Result))
		b.WriteString("\n")
	}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

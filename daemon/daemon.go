// Package daemon is Cairn's long-running reconciler (DESIGN.md §5): it
// follows a branch of the inventory repository (polling a remote, a signed
// GitHub push webhook, or file events of a local work tree), applies every
// new good revision with the reconciler, observes drift on an interval, and
// serves health, metrics, a JSON status and a web page over HTTP.
//
// One reconcile runs at a time. Triggers go through a one-slot channel, so a
// burst of pushes collapses into one fetch of the newest tip. A revision
// that is refused (validation or signatures) or cannot be loaded is never
// applied: the targets keep the last good revision and the failure shows in
// the status, the metrics and the log.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/monitor"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/remedy"
	"github.com/cairnops/cairn/signing"
	"github.com/cairnops/cairn/targets"
)

// Options configure a Daemon.
type Options struct {
	// Repo is the inventory: a remote URL (cloned bare into
	// <StateDir>/repo and fetched) or a local directory (its work tree is
	// read and watched).
	Repo string
	// Branch is the branch followed for a remote; default "main".
	Branch string
	// StateDir is the directory of the reconciler state (targets.json,
	// audit.jsonl), the clone and the targets (<StateDir>/targets).
	StateDir string
	// Interval is how often a remote is fetched; default one minute.
	Interval time.Duration
	// DriftInterval is how often targets and monitors are observed;
	// default five minutes.
	DriftInterval time.Duration
	// Debounce is how long file events of a local path settle before a
	// reconcile; default 300ms.
	Debounce time.Duration
	// WebhookSecret verifies X-Hub-Signature-256 of POST /hooks/github;
	// empty refuses every webhook.
	WebhookSecret []byte
	// Trust are the operator's trust roots, for the gate (gate.Check) that
	// every revision passes before it is applied.
	Trust signing.Trust
	// Load tunes the evaluation of each revision (workers, isolation).
	Load inventory.Options
	// PrometheusURL, when set, replaces the default metric source of the
	// monitors evaluated by the drift tick.
	PrometheusURL string
	// Forge, when set, connects to GitHub so that the drift tick answers
	// findings with pull requests (remedy.Remediate).
	Forge func(ctx context.Context, inv *inventory.Inventory) (*forge.Client, error)
	// Receipts, when set, returns the issuer of the approval receipts of
	// one apply (receipt.New); nil issues none.
	Receipts func() reconciler.Receipts
	// HTTPClient fetches https:// artifacts and metrics; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Kube loads the cluster credentials of kserve targets
	// (reconciler.Options.Kube); nil skips kserve targets.
	Kube func(context string) (*rest.Config, error)
	// Registry holds the credentials for oci:// registries, from outside
	// the inventory; nil means anonymous.
	Registry credentials.Store
	// Logger receives the daemon's log; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TargetRoot is the directory local target paths resolve under;
	// default <StateDir>/targets. Replicas that share local targets share it.
	TargetRoot string
	// Audit, when set, receives every audit entry as a JSON line besides
	// <StateDir>/audit.jsonl: the cairn command passes its stdout, so that
	// a cluster's log collection keeps the audit of a replica whose state
	// directory goes with its pod.
	Audit io.Writer
	// LeaderElection, when set, makes the daemon one replica of several:
	// it works only while it holds the lease (see LeaderElection).
	LeaderElection *LeaderElection
	// Events, when set, is told of every apply, heal and refusal that
	// concerns a kserve target's models (kubeevents.Recorder records them
	// as Kubernetes Events).
	Events Events
}

// Daemon follows an inventory and keeps its targets applied. Create it
// with New, serve Handler and call Run.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	src     source
	trigger chan struct{}
	metrics *metrics

	mu      sync.Mutex // guards st, leading and leader
	st      state
	leading bool   // this replica leads: it fetches, applies, heals
	leader  string // the identity the lease names; empty without election

	pages pages
}

// state is what the daemon knows, shown by /api/v1/status and /.
type state struct {
	ready       bool
	revision    string // the last revision loaded
	applied     string // the last revision applied without error
	lastError   string
	lastTime    time.Time
	inv         *inventory.Inventory // the inventory of the last good revision
	verdict     *gate.Verdict        // the gate's verdict on the last good revision
	loaded      *inventory.Inventory // the last inventory loaded, good or not
	result      *reconciler.Result   // the last apply's result
	drift       *reconciler.DriftReport
	monitors    []remedy.Finding
	monitorsAt  time.Time // when monitors were evaluated
	prs         []remedy.Outcome
	lastChecked string // the last revision reconciled (applied, refused or failed)
}

// New checks opts and returns a daemon; nothing is fetched until Run.
func New(opts Options) (*Daemon, error) {
	if opts.Repo == "" {
		return nil, errors.New("no repository given")
	}
	if opts.StateDir == "" {
		return nil, errors.New("no state directory given")
	}
	abs, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	opts.StateDir = abs
	if opts.Branch == "" {
		opts.Branch = "main"
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.DriftInterval <= 0 {
		opts.DriftInterval = 5 * time.Minute
	}
	if opts.Debounce <= 0 {
		opts.Debounce = 300 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TargetRoot == "" {
		opts.TargetRoot = filepath.Join(opts.StateDir, "targets")
	} else if opts.TargetRoot, err = filepath.Abs(opts.TargetRoot); err != nil {
		return nil, fmt.Errorf("target root: %w", err)
	}
	if opts.LeaderElection != nil {
		le := *opts.LeaderElection
		if err := checkLeaderElection(&le); err != nil {
			return nil, err
		}
		opts.LeaderElection = &le
	}
	d := &Daemon{opts: opts, log: opts.Logger, trigger: make(chan struct{}, 1), metrics: newMetrics()}
	if d.src, err = newSource(opts); err != nil {
		return nil, err
	}
	return d, nil
}

// Registry returns the Prometheus registry /metrics serves.
func (d *Daemon) Registry() *prometheus.Registry { return d.metrics.reg }

// Trigger asks for a fetch and reconcile as soon as the one in hand is
// done; triggers that arrive meanwhile collapse into one.
func (d *Daemon) Trigger() {
	select {
	case d.trigger <- struct{}{}:
	default:
	}
}

// reconcilerOptions are the options of every Apply and Drift.
func (d *Daemon) reconcilerOptions() reconciler.Options {
	return reconciler.Options{
		TargetRoot: d.opts.TargetRoot,
		StateDir:   d.opts.StateDir,
		Audit:      d.opts.Audit,
		HTTPClient: d.opts.HTTPClient,
		Registry:   d.opts.Registry,
		Now:        d.opts.Now,
		Kube:       d.opts.Kube,
	}
}

// Run follows the source until ctx is done: a reconcile at start, then on
// every trigger (interval, webhook, file event), and a drift run every
// DriftInterval. Work in hand when ctx is cancelled is finished — an apply
// is never interrupted — and nothing new starts; Run then returns nil. The
// error is for a source that cannot be set up (clone, watch).
//
// With LeaderElection, Run campaigns for the lease and does all of this
// only while this replica leads (runElected).
func (d *Daemon) Run(ctx context.Context) error {
	if d.opts.LeaderElection != nil {
		return d.runElected(ctx)
	}
	d.setLeading(true)
	return d.work(ctx)
}

// work is Run's loop, for as long as ctx lasts.
func (d *Daemon) work(ctx context.Context) error {
	if err := d.src.start(ctx, d.log); err != nil {
		return err
	}
	defer d.src.close()
	d.log.Info("daemon started", "repo", maskURL(d.opts.Repo), "branch", d.opts.Branch, "stateDir", d.opts.StateDir)

	d.Trigger()
	poll := time.NewTicker(d.opts.Interval)
	defer poll.Stop()
	drift := time.NewTicker(d.opts.DriftInterval)
	defer drift.Stop()
	events := d.src.events()
	var debounce <-chan time.Time
	var timer *time.Timer
	for {
		select {
		case <-ctx.Done():
			d.log.Info("daemon stopping")
			return nil
		case <-d.trigger:
			if ctx.Err() != nil {
				continue
			}
			d.reconcile(ctx)
		case <-poll.C:
			if d.src.polls() {
				d.Trigger()
			}
		case <-events:
			if timer == nil {
				timer = time.NewTimer(d.opts.Debounce)
			} else {
				timer.Reset(d.opts.Debounce)
			}
			debounce = timer.C
		case <-debounce:
			debounce = nil
			d.Trigger()
		case <-drift.C:
			if ctx.Err() != nil {
				continue
			}
			d.driftTick(ctx)
		}
	}
}

// reconcile loads the source's newest revision and applies it unless it
// was already handled.
func (d *Daemon) reconcile(ctx context.Context) {
	start := time.Now()
	result := d.reconcileOnce(ctx)
	d.releaseSources()
	d.metrics.reconciles.WithLabelValues(result).Inc()
	d.metrics.duration.Observe(time.Since(start).Seconds())
	if len(d.trigger) == 0 {
		// What the reconcile read (pack indexes, objects, the evaluated
		// inventory it replaced) is garbage now, and grows with the
		// clone's history. It goes back to the system before the daemon
		// waits, not as the runtime's scavenger gets to it, so that an
		// idle daemon holds what it keeps and no more. One collection of
		// a small heap, once per reconcile that nothing follows at once.
		debug.FreeOSMemory()
	}
}

// releaseSources drops what reading revisions loaded and the daemon does
// not need between reconciles: the object storages of the revisions it
// keeps (the last good and the last loaded), the pack indexes of their
// repositories, and those of the source's own storage. Each index holds
// every object of the clone's history, so it grows with it. A later read
// loads them again. It runs on the loop, which alone reads through them.
func (d *Daemon) releaseSources() {
	d.mu.Lock()
	kept := []*inventory.Inventory{d.st.inv, d.st.loaded}
	d.mu.Unlock()
	for _, inv := range kept {
		if inv != nil && inv.Source != nil {
			inv.Source.Release()
			if inv.Source.Repo != nil {
				dropIndexes(inv.Source.Repo)
			}
		}
	}
	d.src.release()
}

// Results of one reconcile, the label of cairn_reconcile_total.
const (
	ResultApplied   = "applied"   // a revision was applied to every target
	ResultUnchanged = "unchanged" // the revision was handled before
	ResultRefused   = "refused"   // validation or signatures refused it
	ResultFailed    = "failed"    // a target failed to apply
	ResultError     = "error"     // fetch, load or state I/O failed
)

func (d *Daemon) reconcileOnce(ctx context.Context) string {
	src, err := d.src.latest(ctx)
	if ctx.Err() != nil {
		return ResultError // stopping: nothing new starts
	}
	if err != nil {
		return d.fail(ResultError, "", fmt.Errorf("fetching: %w", err))
	}
	rev := src.Revision
	d.mu.Lock()
	seen := rev != inventory.Worktree && rev == d.st.lastChecked
	d.mu.Unlock()
	if seen {
		return ResultUnchanged
	}
	log := d.log.With("revision", src.ShortRevision())
	v, err := gate.Check(ctx, src, gate.Options{Now: d.opts.Now(), Trust: d.opts.Trust, Deploy: true,
		HTTPClient: d.opts.HTTPClient, Registry: d.opts.Registry, Load: d.opts.Load})
	if err != nil {
		return d.fail(ResultError, rev, fmt.Errorf("loading %s: %w", src.ShortRevision(), err))
	}
	inv := v.Inventory
	d.mu.Lock()
	d.st.ready, d.st.revision, d.st.loaded = true, rev, inv
	if d.st.inv == nil {
		d.st.inv = inv
	}
	d.mu.Unlock()

	ropts := d.reconcilerOptions()
	// Recording what an interrupted apply completed, and the apply in hand,
	// are finished even when ctx is cancelled: SIGTERM waits for them.
	actx := context.WithoutCancel(ctx)
	if err := v.Allow(); err != nil {
		// Refused before anything is recorded as in hand: the targets keep
		// the last good revision.
		res, aerr := reconciler.Apply(actx, v, ropts)
		d.mu.Lock()
		d.st.result = res
		d.mu.Unlock()
		if res != nil {
			d.tellRefused(actx, v, res.Refused)
		}
		for _, f := range v.Errors() {
			log.Warn("refused", "finding", f.String())
		}
		return d.fail(ResultRefused, rev, aerr)
	}
	if err := d.recover(actx, inv, ropts); err != nil {
		return d.fail(ResultError, rev, fmt.Errorf("recovering the interrupted apply: %w", err))
	}
	if rev != inventory.Worktree {
		// A new leader's state directory may be empty: what the targets
		// record they applied is what was applied.
		names, err := reconciler.ReadBack(actx, inv, ropts)
		if err != nil {
			return d.fail(ResultError, rev, err)
		}
		if len(names) > 0 {
			log.Info("read the applied revision back from the targets", "targets", strings.Join(names, ","))
		}
		done, err := d.alreadyApplied(inv, ropts)
		if err != nil {
			return d.fail(ResultError, rev, err)
		}
		if done {
			log.Info("revision already applied")
			d.succeed(v, rev, nil)
			return ResultUnchanged
		}
	}

	if err := d.journal(actx, inv, ropts); err != nil {
		return d.fail(ResultError, rev, err)
	}
	log.Info("applying")
	ropts.Deployments = d.deployments(ctx, inv)
	if d.opts.Receipts != nil {
		ropts.Receipts = d.opts.Receipts()
	}
	res, err := reconciler.Apply(actx, v, ropts)
	if err == nil || errors.Is(err, reconciler.ErrRefused) || errors.Is(err, reconciler.ErrTargetFailed) {
		// Apply recorded its audit entries; an I/O error on the state
		// directory keeps the journal for the next attempt's recovery.
		if jerr := clearJournal(d.opts.StateDir); jerr != nil {
			err = errors.Join(err, jerr)
		}
	}
	d.mu.Lock()
	d.st.result = res
	d.mu.Unlock()
	if res != nil {
		d.tellApplied(actx, inv, res.Targets, false)
		for _, tp := range res.Targets {
			if tp.DeploymentError != "" {
				log.Warn("github deployment", "target", tp.Target, "error", maskURL(tp.DeploymentError))
			}
			if tp.ReceiptError != "" {
				log.Warn("receipt", "target", tp.Target, "error", maskURL(tp.ReceiptError))
			}
		}
	}
	switch {
	case err == nil:
		for _, tp := range res.Targets {
			if tp.Skipped != "" {
				log.Warn("target skipped", "target", tp.Target, "reason", tp.Skipped)
				continue
			}
			log.Info("applied", "target", tp.Target, "created", tp.Changes.Count(targets.Created),
				"updated", tp.Changes.Count(targets.Updated), "deleted", tp.Changes.Count(targets.Deleted),
				"unchanged", tp.Changes.Count(targets.Unchanged))
		}
		d.succeed(v, rev, res)
		return ResultApplied
	case errors.Is(err, reconciler.ErrRefused):
		return d.fail(ResultRefused, rev, err)
	case errors.Is(err, reconciler.ErrTargetFailed):
		return d.fail(ResultFailed, rev, err)
	default:
		return d.fail(ResultError, rev, err)
	}
}

// alreadyApplied reports whether every drivable target recorded rev as its
// last applied revision, so that a restarted daemon leaves them alone.
func (d *Daemon) alreadyApplied(inv *inventory.Inventory, ropts reconciler.Options) (bool, error) {
	if pending, err := readJournal(d.opts.StateDir); err != nil || pending != nil {
		return false, err
	}
	bs, err := reconciler.Bindings(inv, ropts)
	if err != nil {
		return false, err
	}
	st, err := reconciler.States(d.opts.StateDir)
	if err != nil {
		return false, err
	}
	n := 0
	for _, b := range bs {
		if b.Driver == nil {
			continue
		}
		n++
		if st[b.Name].LastAppliedRevision != inv.Source.Revision {
			return false, nil
		}
	}
	return n > 0, nil
}

// succeed records a good revision.
func (d *Daemon) succeed(v *gate.Verdict, rev string, res *reconciler.Result) {
	inv := v.Inventory
	d.mu.Lock()
	d.st.applied, d.st.lastChecked, d.st.lastError = rev, rev, ""
	d.st.inv, d.st.verdict = inv, v
	d.st.lastTime = d.opts.Now()
	d.mu.Unlock()
	d.refreshMetrics(inv)
	// Built here, not by the first request that asks.
	d.builtPages()
	_, _, _ = d.auditLog()
}

// fail records a revision that was not applied; the last good one stays.
func (d *Daemon) fail(result, rev string, err error) string {
	msg := maskURL(err.Error())
	d.log.Error("reconcile "+result, "revision", inventory.ShortHash(rev), "error", msg)
	d.mu.Lock()
	if result == ResultRefused {
		// Stalled: only a new revision can succeed. Failed targets and
		// errors are retried on the next trigger.
		d.st.lastChecked = rev
	}
	d.st.lastError = msg
	d.st.lastTime = d.opts.Now()
	inv := d.st.inv
	d.mu.Unlock()
	d.refreshMetrics(inv)
	return result
}

// driftTick observes the targets against the last good revision (healing
// targets whose onDrift is heal), evaluates monitors, and, with Forge,
// answers the findings with pull requests.
func (d *Daemon) driftTick(ctx context.Context) {
	d.mu.Lock()
	v, applied := d.st.verdict, d.st.applied
	d.mu.Unlock()
	if v == nil || applied == "" {
		return
	}
	inv := v.Inventory
	rep, err := reconciler.Drift(context.WithoutCancel(ctx), v, d.reconcilerOptions(), true)
	if err != nil {
		d.log.Error("drift", "error", err.Error())
		return
	}
	for _, f := range rep.Findings {
		d.log.Warn("drift finding", "kind", f.Kind, "target", f.Target, "model", f.Model, "message", f.Message, "healed", f.Healed)
	}
	for name, e := range rep.Errors {
		d.log.Error("drift", "target", name, "error", e)
	}
	healed := make([]reconciler.TargetPlan, 0, len(rep.Healed))
	for name, cs := range rep.Healed {
		healed = append(healed, reconciler.TargetPlan{Target: name, Changes: cs})
	}
	d.tellApplied(ctx, inv, healed, true)
	sources := remedy.Sources(inv.Settings, d.opts.PrometheusURL, d.opts.HTTPClient)
	mons, err := remedy.Evaluate(ctx, inv, sources, d.opts.Now(), d.opts.Load)
	if err != nil {
		d.log.Error("monitors", "error", err.Error())
	}
	d.logMonitors(mons)
	var outs []remedy.Outcome
	if d.opts.Forge != nil && inv.Source.Repo != nil {
		outs = d.remediate(ctx, inv, rep, mons)
	}
	d.mu.Lock()
	d.st.drift, d.st.monitors, d.st.prs = rep, mons, outs
	d.st.monitorsAt = d.opts.Now()
	d.mu.Unlock()
	d.refreshMetrics(inv)
	d.builtPages()
	d.releaseSources()
}

// deployments returns the hook that records applies as GitHub deployments
// when the inventory asks for them (github: deployments: true) and Forge
// is set; nil otherwise, or when GitHub cannot be reached (logged).
func (d *Daemon) deployments(ctx context.Context, inv *inventory.Inventory) reconciler.Deployments {
	if g := inv.Settings.GitHub; g == nil || !g.Deployments || d.opts.Forge == nil {
		return nil
	}
	fc, err := d.opts.Forge(ctx, inv)
	if err != nil {
		d.log.Warn("github deployments", "error", maskURL(err.Error()))
		return nil
	}
	// A local path's work tree is no commit: its applies are not recorded.
	return reconciler.GitHubDeployments(fc, "")
}

// remediate answers drift and monitor findings with pull requests.
func (d *Daemon) remediate(ctx context.Context, inv *inventory.Inventory, rep *reconciler.DriftReport, mons []remedy.Finding) []remedy.Outcome {
	fc, err := d.opts.Forge(ctx, inv)
	if err != nil {
		d.log.Error("github", "error", maskURL(err.Error()))
		return nil
	}
	in := remedy.Input{Findings: mons}
	in.Targets, in.TargetsObserved = remedy.PinTargets(inv, rep)
	outs, err := remedy.Remediate(ctx, inv, fc, in, remedy.Options{Repo: inv.Source.Repo, Base: d.opts.Branch, Logger: d.log, Load: d.opts.Load})
	if err != nil {
		d.log.Error("pull requests", "error", maskURL(err.Error()))
	}
	for _, o := range outs {
		d.log.Info("pull request", "branch", o.Branch, "action", o.Action, "number", o.Number)
	}
	return outs
}

// logMonitors logs the monitor findings of a drift run: one line per
// finding, except that the monitors of a metric source that could not be
// reached at all make one line per source, not one per monitor.
func (d *Daemon) logMonitors(mons []remedy.Finding) {
	type down struct {
		monitors int
		err      string
	}
	unreachable := map[string]*down{}
	var sources []string
	for _, f := range mons {
		if src, cause, ok := unreachableSource(f); ok {
			u := unreachable[src]
			if u == nil {
				u = &down{err: cause.Error()}
				unreachable[src] = u
				sources = append(sources, src)
			}
			u.monitors++
			continue
		}
		d.log.Warn("monitor finding", "kind", f.Kind, "model", f.Model, "monitor", f.Monitor, "message", f.Message)
	}
	for _, src := range sources {
		u := unreachable[src]
		d.log.Warn("metric source unreachable", "source", src, "monitors", u.monitors, "error", maskURL(u.err))
	}
}

// unreachableSource returns the source of a monitor-error whose source did
// not answer (a transport error, not an error answer or no data) and why.
func unreachableSource(f remedy.Finding) (string, error, bool) {
	var se *monitor.SourceError
	if f.Kind != remedy.KindMonitorError || !errors.As(f.Err, &se) {
		return "", nil, false
	}
	var api *monitor.APIError
	if errors.As(se.Err, &api) || errors.Is(se.Err, monitor.ErrNoData) {
		return "", nil, false
	}
	return se.Source, se.Err, true
}

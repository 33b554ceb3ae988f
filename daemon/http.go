package daemon

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/remedy"
)

// maxWebhookBody bounds a webhook's body; GitHub caps payloads at 25 MB.
const maxWebhookBody = 25 << 20

// Status is the JSON document of GET /api/v1/status.
type Status struct {
	// Revision is the last revision loaded from the source.
	Revision string `json:"revision"`
	// AppliedRevision is the last revision applied without error.
	AppliedRevision string `json:"appliedRevision,omitempty"`
	// Ready is true once a revision was loaded.
	Ready   bool           `json:"ready"`
	Targets []TargetStatus `json:"targets"`
	// Findings are the validation errors of the last revision, the target
	// drift and the monitor findings of the last drift run.
	Findings []Finding `json:"findings"`
	// LastError is why the last reconcile did not apply; empty after a good one.
	LastError     string     `json:"lastError,omitempty"`
	LastReconcile *time.Time `json:"lastReconcile,omitempty"`
	// PullRequests are what the last drift run did with pull requests.
	PullRequests []remedy.Outcome `json:"pullRequests,omitempty"`
	// Role is "leader" or "follower" with leader election, empty without.
	Role string `json:"role,omitempty"`
	// Identity is this replica's identity in the lease; Leader the
	// identity of the replica that holds it (empty while nobody does).
	Identity string `json:"identity,omitempty"`
	Leader   string `json:"leader,omitempty"`
}

// TargetStatus is one target as the reconciler's state records it.
type TargetStatus struct {
	Name                  string `json:"name"`
	Stage                 string `json:"stage"`
	Kind                  string `json:"kind"`
	LastAppliedRevision   string `json:"lastAppliedRevision,omitempty"`
	LastAttemptedRevision string `json:"lastAttemptedRevision,omitempty"`
	Result                string `json:"result,omitempty"`
	// Served is what the serving platform said of each model at the last
	// drift run, for targets that report it (kserve).
	Served []ServedModel `json:"served,omitempty"`
}

// ServedModel is one model as its serving platform reports it.
type ServedModel struct {
	Model  string `json:"model"`
	Ready  bool   `json:"ready"`
	Reason string `json:"reason,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Finding is one open finding: Kind is "validation" (Rule set), a drift
// kind (target-drift, artifact-corrupt) or a monitor kind.
type Finding struct {
	Kind    string `json:"kind"`
	Rule    string `json:"rule,omitempty"`
	Target  string `json:"target,omitempty"`
	Model   string `json:"model,omitempty"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
	// DecideAt is, for a monitor-pending, when its window will be full.
	DecideAt *time.Time `json:"decideAt,omitempty"`
}

// Status returns what the daemon knows now.
func (d *Daemon) Status() Status {
	d.mu.Lock()
	st, leading, leader := d.st, d.leading, d.leader
	d.mu.Unlock()
	s := Status{Revision: st.revision, AppliedRevision: st.applied, Ready: st.ready, LastError: st.lastError,
		Targets: []TargetStatus{}, Findings: []Finding{}, PullRequests: st.prs}
	if le := d.opts.LeaderElection; le != nil {
		s.Role, s.Identity, s.Leader = "follower", le.Identity, leader
		if leading {
			s.Role = "leader"
		}
		// A follower is ready once it knows who leads: it serves the page
		// and the status, and the Deployment's rollout waits for it.
		s.Ready = s.Ready || leader != ""
	}
	if !st.lastTime.IsZero() {
		t := st.lastTime.UTC()
		s.LastReconcile = &t
	}
	recorded, _ := reconciler.States(d.opts.StateDir)
	if st.inv != nil {
		names := make([]string, 0, len(st.inv.Settings.Targets))
		for n := range st.inv.Settings.Targets {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			t := st.inv.Settings.Targets[n]
			r := recorded[n]
			ts := TargetStatus{Name: n, Stage: t.Stage, Kind: t.Kind,
				LastAppliedRevision: r.LastAppliedRevision, LastAttemptedRevision: r.LastAttemptedRevision, Result: r.Result}
			if st.drift != nil {
				served := st.drift.Served[n]
				for _, m := range slices.Sorted(maps.Keys(served)) {
					ts.Served = append(ts.Served, ServedModel{Model: m, Ready: served[m].Ready, Reason: served[m].Reason, URL: served[m].URL})
				}
			}
			s.Targets = append(s.Targets, ts)
		}
	}
	if st.result != nil && st.result.Revision == st.revision {
		for _, f := range st.result.Findings {
			s.Findings = append(s.Findings, Finding{Kind: "validation", Rule: f.Rule, Model: f.Model,
				File: f.File, Line: f.Line, Message: f.Message})
		}
	}
	if st.drift != nil {
		for _, f := range st.drift.Findings {
			if !f.Healed {
				s.Findings = append(s.Findings, Finding{Kind: f.Kind, Target: f.Target, Model: f.Model, Message: f.Message})
			}
		}
	}
	for _, f := range st.monitors {
		s.Findings = append(s.Findings, Finding{Kind: f.Kind, Model: f.Model, Message: f.Monitor + ": " + f.Message, DecideAt: f.DecideAt})
	}
	return s
}

// Handler returns the daemon's HTTP API: /healthz, /readyz, /metrics,
// /api/v1/status, POST /hooks/github, the inventory's index at / and a
// page per model at /models/{name} (package page renders both).
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !d.Status().Ready {
			http.Error(w, "no revision loaded yet", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{Registry: d.metrics.reg}))
	mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(d.Status())
	})
	mux.HandleFunc("POST /hooks/github", d.webhook)
	mux.HandleFunc("GET /{$}", d.index)
	mux.HandleFunc("GET /models/{name}", d.model)
	return mux
}

// ValidSignature reports whether header, an X-Hub-Signature-256 value
// ("sha256=<hex>"), is the HMAC-SHA256 of body under secret. An empty
// secret never validates. The comparison is constant-time.
func ValidSignature(secret, body []byte, header string) bool {
	if len(secret) == 0 {
		return false
	}
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// webhook answers GitHub: 401 for a bad or missing signature; a push to
// the followed branch triggers a fetch (202); anything else is 204.
func (d *Daemon) webhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	if len(body) > maxWebhookBody {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if !ValidSignature(d.opts.WebhookSecret, body, r.Header.Get("X-Hub-Signature-256")) {
		d.log.Warn("webhook refused: bad signature", "remote", r.RemoteAddr, "delivery", r.Header.Get("X-GitHub-Delivery"))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	event := r.Header.Get("X-GitHub-Event")
	if event != "push" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var push struct {
		Ref   string `json:"ref"`
		After string `json:"after"`
	}
	if err := json.Unmarshal(body, &push); err != nil {
		http.Error(w, "push event: "+err.Error(), http.StatusBadRequest)
		return
	}
	if push.Ref != "refs/heads/"+d.opts.Branch {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !d.isLeading() {
		// Only the leader fetches. The Service spreads webhooks over every
		// replica; a push that reaches a follower is taken up by the
		// leader's next poll (--interval), so the delivery is accepted.
		d.mu.Lock()
		leader := d.leader
		d.mu.Unlock()
		d.log.Info("push webhook on a follower: the leader's next poll fetches it", "leader", leader, "delivery", r.Header.Get("X-GitHub-Delivery"))
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "this replica follows; "+leader+" leads and fetches the push on its next poll\n")
		return
	}
	d.log.Info("push webhook", "after", inventory.ShortHash(push.After), "delivery", r.Header.Get("X-GitHub-Delivery"))
	d.Trigger()
	w.WriteHeader(http.StatusAccepted)
}

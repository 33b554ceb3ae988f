// Package reconciler turns an evaluated inventory into running reality: it
// computes the desired state of every deployment target, plans and applies
// the changes through the target drivers, verifies signatures, detects
// drift, records state and audit, and reads a model's lifecycle from git.
package reconciler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"time"

	"k8s.io/client-go/rest"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/schema"
	"github.com/cairnops/cairn/targets"
	"github.com/cairnops/cairn/targets/kserve"
	"github.com/cairnops/cairn/targets/local"
)

// Target is what the reconciler needs of a deployment target driver:
// observe what is deployed (given the desired state, so that a driver that
// can tell which fields drifted says so), plan the changes to a desired
// state, and apply them idempotently, recording rev.
type Target interface {
	Observe(ctx context.Context, desired []targets.Model) ([]targets.Deployed, error)
	Plan(ctx context.Context, desired []targets.Model) ([]targets.Change, error)
	Apply(ctx context.Context, rev string, desired []targets.Model, open targets.Opener) ([]targets.Change, error)
}

// Waiter is a target whose platform loads what Apply wrote in its own time
// (kserve): Wait waits until each model the last Apply wrote is served,
// and returns by model nil or why it is not.
type Waiter interface {
	Wait(ctx context.Context) map[string]error
}

var (
	_ Target        = localTarget{}
	_ AppliedReader = localTarget{}
	_ Target        = (*kserve.Target)(nil)
	_ Waiter        = (*kserve.Target)(nil)
)

// localTarget is the local driver, which observes without the desired state.
type localTarget struct{ *local.Target }

func (t localTarget) Observe(ctx context.Context, _ []targets.Model) ([]targets.Deployed, error) {
	return t.Target.Observe(ctx)
}

// Options configure Plan, Apply and Drift.
type Options struct {
	// TargetRoot is the absolute directory relative local target paths
	// resolve under.
	TargetRoot string
	// StateDir is the absolute directory of targets.json and audit.jsonl;
	// Plan does not use it.
	StateDir string
	// Target limits the run to the target of this name; empty means all.
	Target string
	// HTTPClient fetches https:// artifacts and reaches oci:// registries;
	// nil means http.DefaultClient.
	HTTPClient *http.Client
	// Registry holds the credentials for oci:// registries; nil means
	// anonymous.
	Registry credentials.Store
	// Now is the clock for the audit log; nil means time.Now.
	Now func() time.Time
	// Audit, when set, receives every audit entry as a JSON line besides
	// <StateDir>/audit.jsonl (AppendAudit).
	Audit io.Writer
	// Deployments, when set, is told of every apply of a new revision to a
	// target (GitHubDeployments records them on GitHub); its failures are
	// reported per target and never stop or undo an apply.
	Deployments Deployments
	// Receipts, when set, issues a signed receipt of every model a target
	// gets (package receipt); its failures are reported per target and
	// never stop or undo an apply.
	Receipts Receipts
	// Progress, when set, wraps each artifact stream that Apply copies to
	// a target, given a label and the size (-1 when unknown), to show
	// progress; it returns the reader to use.
	Progress func(label string, r io.Reader, size int64) io.Reader
	// Kube returns the client configuration of a kubeconfig context (""
	// for the current one) for kserve targets; nil means no credentials,
	// and kserve targets are skipped with the reason.
	Kube func(context string) (*rest.Config, error)
	// Wait, when positive, is how long Apply waits for each model it wrote
	// to a target that loads models in its own time (kserve) to be served.
	Wait time.Duration

	// heal makes cluster drivers take over fields another manager changed.
	heal bool
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// ErrUnknownTarget is returned when Options.Target names no target of the inventory.
var ErrUnknownTarget = errors.New("unknown target")

// Binding is one target of the inventory with its driver.
type Binding struct {
	// Name is the target's name in inventory.cue.
	Name string
	// Stage is the stage the target serves.
	Stage string
	// Kind is the driver kind, e.g. "local".
	Kind string
	// OnDrift is what drift does: "heal", "pr" or "report".
	OnDrift string
	// Path is the resolved root of a local target, the namespace of a
	// kserve target.
	Path string
	// Driver is nil when the target cannot be driven; Skip says why.
	Driver Target
	// Skip is a one-line reason the target is skipped.
	Skip string
}

// Bindings returns the inventory's targets sorted by name, each with its
// driver, limited to opts.Target when set. A target whose kind has no
// driver or whose settings are unusable comes back with Skip set. It
// returns ErrUnknownTarget (wrapped) for an opts.Target the inventory lacks.
func Bindings(inv *inventory.Inventory, opts Options) ([]Binding, error) {
	names := make([]string, 0, len(inv.Settings.Targets))
	for n := range inv.Settings.Targets {
		if opts.Target == "" || n == opts.Target {
			names = append(names, n)
		}
	}
	if opts.Target != "" && len(names) == 0 {
		return nil, fmt.Errorf("%w %q", ErrUnknownTarget, opts.Target)
	}
	sort.Strings(names)
	out := make([]Binding, 0, len(names))
	for _, n := range names {
		t := inv.Settings.Targets[n]
		b := Binding{Name: n, Stage: t.Stage, Kind: t.Kind, OnDrift: t.OnDrift}
		if b.OnDrift == "" {
			b.OnDrift = "heal"
		}
		switch t.Kind {
		case "local":
			p, err := localPath(t.Config, opts.TargetRoot)
			if err != nil {
				b.Skip = err.Error()
				break
			}
			d, err := local.New(p)
			if err != nil {
				b.Skip = err.Error()
				break
			}
			b.Path, b.Driver = p, localTarget{d}
		case "kserve":
			ns, _ := t.Config["namespace"].(string)
			kctx, _ := t.Config["context"].(string)
			b.Path = ns
			if opts.Kube == nil {
				b.Skip = "no Kubernetes credentials: pass --kubeconfig, set KUBECONFIG, or run in a cluster"
				break
			}
			cfg, err := opts.Kube(kctx)
			if err != nil {
				b.Skip = err.Error()
				break
			}
			d, err := kserve.New(cfg, n, ns, kserve.Options{Force: opts.heal})
			if err != nil {
				b.Skip = err.Error()
				break
			}
			b.Driver = d
		default:
			b.Skip = fmt.Sprintf("target kind %q is not supported by this version of cairn", t.Kind)
		}
		out = append(out, b)
	}
	return out, nil
}

// localPath resolves a local target's `path` setting under root: relative,
// and never outside root (inventory.Load refuses other paths already).
func localPath(cfg map[string]any, root string) (string, error) {
	p, _ := cfg["path"].(string)
	if p == "" {
		return "", errors.New("local target has no path setting")
	}
	if filepath.IsAbs(p) {
		return "", fmt.Errorf("local target path %q is absolute: want a path relative to the target root", p)
	}
	if !filepath.IsLocal(p) {
		return "", fmt.Errorf("local target path %q leaves the target root", p)
	}
	if !filepath.IsAbs(root) {
		return "", fmt.Errorf("target root %q: not absolute", root)
	}
	return filepath.Join(root, p), nil
}

// Desired returns the desired state of a target serving stage: for each
// valid, non-retired model, the version pinned for stage, sorted by name.
func Desired(inv *inventory.Inventory, stage string) []targets.Model {
	var out []targets.Model
	for _, m := range inv.Models {
		if !m.Valid || m.Retired {
			continue
		}
		v, ok := m.Stages[stage]
		if !ok {
			continue
		}
		ver, ok := m.Versions[v]
		if !ok {
			continue
		}
		out = append(out, targets.Model{Name: m.Name, Version: v, Artifact: targets.Artifact{
			URI: ver.Artifact.URI, Digest: ver.Artifact.Digest, Size: ver.Artifact.Size,
		}, Serving: serving(m.Card.Framework, ver.Serving)})
	}
	return out
}

// serving is how a serving platform runs a version: its serving fields,
// the format defaulting to the card's framework.
func serving(framework string, s *schema.Serving) targets.Serving {
	out := targets.Serving{Format: framework}
	if s == nil {
		return out
	}
	if s.Format != "" {
		out.Format = s.Format
	}
	out.Runtime, out.ProtocolVersion = s.Runtime, s.ProtocolVersion
	if s.Resources != nil {
		out.Requests, out.Limits = s.Resources.Requests, s.Resources.Limits
	}
	return out
}

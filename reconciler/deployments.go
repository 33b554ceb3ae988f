package reconciler

import (
	"context"
	"fmt"
	"strings"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/targets"
)

// Deployments is told of each apply to a target, to record it elsewhere
// (GitHub deployments). Apply calls Begin before a target's driver applies
// a revision the target has not applied yet, and the returned end (when
// not nil) after, with the driver's error. An error of either is reported in
// TargetPlan.DeploymentError and never changes the apply: it is neither
// undone nor counted as the target's failure.
type Deployments interface {
	Begin(ctx context.Context, d Deployment) (end func(ctx context.Context, applyErr error) error, err error)
}

// Deployment is one apply of a revision to a target.
type Deployment struct {
	Target, Stage, Revision string
	// URL is where the target serves its models (its `url` setting), if set.
	URL string
	// Models are the target's desired models at Revision.
	Models []targets.Model
}

// GitHubDeployments records applies as GitHub deployments through fc: a
// deployment per apply (environment: the target's name, ref: the
// revision, payload: its models, versions and digests), then the statuses
// in_progress and success or failure, with the target's URL as
// environment_url. worktreeRef is the commit a work-tree revision stands
// for (cairn ci: the pushed sha); when it is empty an apply of the work
// tree is not recorded, since GitHub can only deploy a commit.
func GitHubDeployments(fc *forge.Client, worktreeRef string) Deployments {
	return githubDeployments{fc: fc, worktreeRef: worktreeRef}
}

type githubDeployments struct {
	fc          *forge.Client
	worktreeRef string
}

type payloadModel struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Digest  string `json:"digest,omitempty"`
}

func (g githubDeployments) Begin(ctx context.Context, d Deployment) (func(context.Context, error) error, error) {
	ref := d.Revision
	if ref == inventory.Worktree {
		if ref = g.worktreeRef; ref == "" {
			return nil, nil
		}
	}
	models := make([]payloadModel, 0, len(d.Models))
	for _, m := range d.Models {
		models = append(models, payloadModel{Name: m.Name, Version: m.Version, Digest: m.Artifact.Digest})
	}
	id, err := g.fc.CreateDeployment(ctx, forge.DeploymentRequest{
		Environment: d.Target, Ref: ref,
		Description: fmt.Sprintf("cairn apply of %s to %s (%s)", inventory.ShortHash(ref), d.Target, d.Stage),
		Payload:     map[string]any{"target": d.Target, "stage": d.Stage, "models": models},
	})
	if err != nil {
		return nil, err
	}
	if err := g.fc.SetDeploymentStatus(ctx, id, forge.DeploymentInProgress, "applying", d.URL); err != nil {
		return nil, err
	}
	return func(ctx context.Context, applyErr error) error {
		state, desc := forge.DeploymentSuccess, fmt.Sprintf("applied %d models", len(models))
		if len(models) == 1 {
			desc = "applied 1 model"
		}
		if applyErr != nil {
			state, desc = forge.DeploymentFailure, "apply failed: "+oneLine(applyErr.Error())
		}
		return g.fc.SetDeploymentStatus(ctx, id, state, desc, d.URL)
	}, nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

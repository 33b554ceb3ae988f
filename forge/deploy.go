package forge

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/go-github/v62/github"
)

// Deployment states that Cairn sets through SetDeploymentStatus.
const (
	DeploymentInProgress = "in_progress"
	DeploymentSuccess    = "success"
	DeploymentFailure    = "failure"
)

// DeploymentRequest is one deployment of a revision to an environment.
type DeploymentRequest struct {
	// Environment is the deployment environment: Cairn uses the target's name.
	Environment string
	// Ref is the deployed commit's full sha.
	Ref string
	// Description is a short summary, cut to 140 characters.
	Description string
	// Payload is extra JSON for whoever reads the deployment (models,
	// versions, digests); it must encode to a JSON object.
	Payload any
}

// CreateDeployment creates a GitHub deployment of d.Ref to d.Environment
// and returns its id. It asks for no merge (auto_merge false) and no
// commit-status check (required_contexts []): the ref is a sha that was
// already deployed, so GitHub must neither merge the default branch into
// it nor refuse it for the statuses of other checks. A create is not
// repeated after a 5xx: it could make a second deployment.
func (c *Client) CreateDeployment(ctx context.Context, d DeploymentRequest) (id int64, err error) {
	defer func() { err = c.mask(err) }()
	if d.Environment == "" || d.Ref == "" {
		return 0, errors.New("deployment needs an environment and a ref")
	}
	task, noMerge, contexts := "deploy", false, []string{}
	desc := cut140(MaskToken(d.Description, c.token))
	req := &github.DeploymentRequest{
		Ref: &d.Ref, Task: &task, AutoMerge: &noMerge, RequiredContexts: &contexts,
		Environment: &d.Environment, Description: &desc, Payload: d.Payload,
	}
	dep, _, err := c.gh.Repositories.CreateDeployment(ctx, c.owner, c.repo, req)
	if err != nil {
		return 0, fmt.Errorf("creating deployment to %s: %w", d.Environment, err)
	}
	return dep.GetID(), nil
}

// SetDeploymentStatus adds a status to deployment id: state is one of the
// Deployment* constants; environmentURL, when not empty, is where the
// environment serves. Adding the same status again is harmless, so it is
// retried after a 5xx.
func (c *Client) SetDeploymentStatus(ctx context.Context, id int64, state, description, environmentURL string) (err error) {
	defer func() { err = c.mask(err) }()
	desc := cut140(MaskToken(description, c.token))
	req := &github.DeploymentStatusRequest{State: &state, Description: &desc}
	if environmentURL != "" {
		req.EnvironmentURL = &environmentURL
	}
	if _, _, err := c.gh.Repositories.CreateDeploymentStatus(retrySafe(ctx), c.owner, c.repo, id, req); err != nil {
		return fmt.Errorf("setting deployment %d to %s: %w", id, state, err)
	}
	return nil
}

// cut140 cuts s to GitHub's 140 characters for descriptions.
func cut140(s string) string {
	if r := []rune(s); len(r) > 140 {
		return string(r[:139]) + "…"
	}
	return s
}

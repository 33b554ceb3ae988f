package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
)

// githubConn is how a command reaches GitHub: API base, token and
// owner/name, each empty when not known.
type githubConn struct {
	apiURL, token, repository string
}

// envGitHub returns the connection from GITHUB_API_URL, GITHUB_TOKEN and
// the inventory's github.repository, else GITHUB_REPOSITORY.
func envGitHub(inv *inventory.Inventory) githubConn {
	c := githubConn{apiURL: os.Getenv("GITHUB_API_URL"), token: os.Getenv("GITHUB_TOKEN")}
	if g := inv.Settings.GitHub; g != nil {
		c.repository = g.Repository
	}
	if c.repository == "" {
		c.repository = os.Getenv("GITHUB_REPOSITORY")
	}
	return c
}

// deployments returns the hook that records every apply as a GitHub
// deployment when inventory.cue asks for it (github: deployments: true),
// nil otherwise. worktreeRef is the commit a work-tree revision stands for
// (empty: a work tree is not recorded, which one line on stderr says).
// When no client can be made from conn, one line on stderr says so and the
// apply goes on without deployments.
func deployments(ctx context.Context, inv *inventory.Inventory, conn githubConn, worktreeRef string, stderr io.Writer) reconciler.Deployments {
	if g := inv.Settings.GitHub; g == nil || !g.Deployments {
		return nil
	}
	if inv.Source.Revision == inventory.Worktree && worktreeRef == "" {
		fmt.Fprintln(stderr, "cairn: github deployments: the work tree is not a commit: pass --rev to record the apply of a revision; applying without them")
		return nil
	}
	fc, err := forge.New(ctx, forge.Options{APIURL: conn.apiURL, Token: conn.token, Repository: conn.repository})
	if err != nil {
		fmt.Fprintf(stderr, "cairn: github deployments: %s; applying without them\n", strings.Join(strings.Fields(err.Error()), " "))
		return nil
	}
	return reconciler.GitHubDeployments(fc, worktreeRef)
}

// printDeploymentErrors reports, one line per target, the applies that
// could not be recorded as deployments.
func printDeploymentErrors(stderr io.Writer, tps []reconciler.TargetPlan) {
	for _, tp := range tps {
		if tp.DeploymentError != "" {
			fmt.Fprintf(stderr, "cairn: target %s: github deployment: %s\n", tp.Target, tp.DeploymentError)
		}
	}
}

package main

// The monitor half of `cairn drift` and `--open-prs` (DESIGN.md §4): drift.go
// calls runDriftPRs after it has observed the targets.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/remedy"
)

// promTimeout bounds one Prometheus query.
const promTimeout = 30 * time.Second

// driftPRsOptions are the flags of `cairn drift` for monitors and pull requests.
type driftPRsOptions struct {
	openPRs         bool
	prometheusURL   string
	githubAPIURL    string
	githubTokenFile string
}

func (o *driftPRsOptions) AddFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.openPRs, "open-prs", false, "evaluate monitors and answer findings with pull requests (rollback, retrain, pin) and close resolved ones")
	fs.StringVar(&o.prometheusURL, "prometheus-url", "", "evaluate monitors, with `URL` as the default metric source")
	fs.StringVar(&o.githubAPIURL, "github-api-url", "", "GitHub API base `URL` (default $GITHUB_API_URL or https://api.github.com)")
	fs.StringVar(&o.githubTokenFile, "github-token-file", "", "read the GitHub token from `FILE` (default $GITHUB_TOKEN)")
}

// monitors reports whether monitors are evaluated: with --open-prs or
// --prometheus-url, so that a plain `cairn drift` needs no metric source.
func (o *driftPRsOptions) monitors() bool { return o.openPRs || o.prometheusURL != "" }

// driftPRsReport is the monitor part of the drift report.
type driftPRsReport struct {
	Monitors     []remedy.Finding `json:"monitors"`
	PullRequests []remedy.Outcome `json:"pullRequests,omitempty"`
	// failed counts pull requests that could not be proposed or closed.
	failed int
	// err is why no pull request was handled at all (GitHub unreachable).
	err error
}

// driftJSON is the JSON document of `cairn drift --format json`: the target
// report with the monitor findings and pull requests beside it.
func driftJSON(rep *reconciler.DriftReport, mr *driftPRsReport) any {
	if mr == nil {
		return rep
	}
	return struct {
		*reconciler.DriftReport
		*driftPRsReport
	}{rep, mr}
}

// conn returns the GitHub connection of the flags and the environment
// (the repository from GITHUB_REPOSITORY; the inventory's
// github.repository comes first when set, see githubConn.client).
func (o *driftPRsOptions) conn() (githubConn, error) {
	c := githubConn{apiURL: o.githubAPIURL, token: os.Getenv("GITHUB_TOKEN")}
	if o.githubTokenFile != "" {
		b, err := os.ReadFile(o.githubTokenFile)
		if err != nil {
			return c, usageError(fmt.Errorf("--github-token-file: %w", err))
		}
		c.token = strings.TrimSpace(string(b))
	}
	if c.apiURL == "" {
		c.apiURL = os.Getenv("GITHUB_API_URL")
	}
	return c, nil
}

// githubClient connects to GitHub from the flags, the environment and the
// inventory's github settings; forge.New decides whether they are enough.
func (o *driftPRsOptions) githubClient(ctx context.Context, inv *inventory.Inventory, stderr io.Writer) (*forge.Client, error) {
	tok := os.Getenv("GITHUB_TOKEN")
	if o.githubTokenFile != "" {
		b, err := os.ReadFile(o.githubTokenFile)
		if err != nil {
			return nil, usageError(fmt.Errorf("--github-token-file: %w", err))
		}
		tok = strings.TrimSpace(string(b))
	}
	apiURL := o.githubAPIURL
	if apiURL == "" {
		apiURL = os.Getenv("GITHUB_API_URL")
	}
	repo := ""
	if inv.Settings.GitHub != nil {
		repo = inv.Settings.GitHub.Repository
	}
	if repo == "" {
		repo = os.Getenv("GITHUB_REPOSITORY")
	}
	fc, err := forge.New(ctx, forge.Options{
		APIURL: apiURL, Token: tok, Repository: repo,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	switch {
	case errors.Is(err, forge.ErrNoToken):
		return nil, usageError(errors.New("--open-prs needs a GitHub token: set GITHUB_TOKEN or --github-token-file"))
	case errors.Is(err, forge.ErrNoRepository):
		return nil, usageError(errors.New("--open-prs needs a repository: set github.repository in inventory.cue or GITHUB_REPOSITORY"))
	case err != nil:
		return nil, usageError(err)
	}
	return fc, nil
}

// runDriftPRs evaluates the monitors of inv at CAIRN_NOW (or now) and, with
// --open-prs, answers them and rep's pr-target findings with pull requests.
// Failures to propose go to stderr at once; results are printed by
// printDriftPRs or driftJSON. It returns nil when monitors are not evaluated.
func runDriftPRs(ctx context.Context, o *driftPRsOptions, stderr io.Writer, src *inventory.Source, inv *inventory.Inventory, rep *reconciler.DriftReport, load inventory.Options) (*driftPRsReport, error) {
	if !o.monitors() {
		return nil, nil
	}
	var fc *forge.Client
	if o.openPRs {
		var err error
		if fc, err = o.githubClient(ctx, inv, stderr); err != nil {
			return nil, err
		}
		if src.Repo == nil {
			return nil, usageError(fmt.Errorf("--open-prs: %s is not a git repository", src.Dir))
		}
	}
	sources := remedy.Sources(inv.Settings, o.prometheusURL, &http.Client{Timeout: promTimeout})
	findings, err := remedy.Evaluate(ctx, inv, sources, nowFunc(), load)
	if err != nil {
		return nil, err
	}
	mr := &driftPRsReport{Monitors: findings}
	if fc == nil {
		return mr, nil
	}
	targets, observed := remedy.PinTargets(inv, rep)
	outs, err := remedy.Remediate(ctx, inv, fc, remedy.Input{Findings: findings, Targets: targets, TargetsObserved: observed},
		remedy.Options{Repo: src.Repo, Load: load, Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		// The findings still go out; the run fails with exit 1.
		mr.err = err
		mr.failed++
	}
	mr.PullRequests = outs
	for _, out := range outs {
		if out.Err != nil {
			mr.failed++
			fmt.Fprintf(stderr, "cairn: %s\n", out)
		}
	}
	if mr.err != nil {
		fmt.Fprintf(stderr, "cairn: pull requests: %v\n", mr.err)
	}
	return mr, nil
}

// printDriftPRs prints the monitor findings and the pull requests handled
// as text to stdout (failures went to stderr in runDriftPRs).
func printDriftPRs(stdout, _ io.Writer, mr *driftPRsReport) {
	if mr == nil {
		return
	}
	for _, f := range mr.Monitors {
		fmt.Fprintln(stdout, f)
	}
	for _, out := range mr.PullRequests {
		if out.Err == nil {
			fmt.Fprintf(stdout, "pull request %s\n", out)
		}
	}
}

// findings reports whether the monitor part found anything that makes
// drift exit 1: findings other than monitor-pending, or failed pull
// requests.
func (mr *driftPRsReport) findings() bool {
	if mr == nil {
		return false
	}
	for _, f := range mr.Monitors {
		if f.Kind != remedy.KindMonitorPending {
			return true
		}
	}
	return mr.failed > 0
}

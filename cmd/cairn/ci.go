package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/approval"
	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/targets"
)

// ciMarker marks Cairn's sticky pull request comment.
const ciMarker = "<!-- cairn -->"

// ciStatusContext is the commit status that carries the approvals.
const ciStatusContext = "cairn/approvals"

// ciOptions are the inputs of `cairn ci`, all read from the GitHub Actions
// environment by fromEnv.
type ciOptions struct {
	*globalOptions

	eventName   string // GITHUB_EVENT_NAME
	eventPath   string // GITHUB_EVENT_PATH
	repository  string // GITHUB_REPOSITORY, owner/name
	sha         string // GITHUB_SHA
	apiURL      string // GITHUB_API_URL
	token       string // INPUT_GITHUB-TOKEN, else GITHUB_TOKEN
	outputPath  string // GITHUB_OUTPUT
	summaryPath string // GITHUB_STEP_SUMMARY
	runURL      string // GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID

	command     string   // INPUT_COMMAND: auto, validate, plan or apply
	path        string   // INPUT_PATH: the inventory folder
	base        string   // INPUT_BASE: base revision or branch override
	apply       bool     // INPUT_APPLY: apply on push to the base branch
	trustedKeys []string // INPUT_TRUSTED-KEYS: newline- or comma-separated files
	sarifPath   string   // INPUT_SARIF-FILE: where the SARIF log goes
	receiptKey  string   // INPUT_RECEIPT-KEY: signs approval receipts on apply
	cacheDir    string   // INPUT_CACHE-DIR: the evaluation cache's folder
}

var ciCommands = []string{"auto", "validate", "plan", "apply"}

// input reads the action input name as the runner passes it: INPUT_ and the
// name upper-cased with spaces as underscores (hyphens stay). The
// underscore spelling of a hyphenated name is accepted too, for shells that
// cannot set the former.
func input(getenv func(string) string, name string) string {
	key := "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
	if v := getenv(key); v != "" {
		return strings.TrimSpace(v)
	}
	return strings.TrimSpace(getenv(strings.ReplaceAll(key, "-", "_")))
}

// fromEnv maps the GitHub Actions environment onto o. It is the one place
// `cairn ci` reads the environment.
func (o *ciOptions) fromEnv(getenv func(string) string) error {
	o.eventName = getenv("GITHUB_EVENT_NAME")
	o.eventPath = getenv("GITHUB_EVENT_PATH")
	o.repository = getenv("GITHUB_REPOSITORY")
	o.sha = getenv("GITHUB_SHA")
	o.apiURL = getenv("GITHUB_API_URL")
	o.outputPath = getenv("GITHUB_OUTPUT")
	o.summaryPath = getenv("GITHUB_STEP_SUMMARY")
	if s, r, id := getenv("GITHUB_SERVER_URL"), o.repository, getenv("GITHUB_RUN_ID"); s != "" && r != "" && id != "" {
		o.runURL = strings.TrimRight(s, "/") + "/" + r + "/actions/runs/" + id
	}
	o.token = input(getenv, "github-token")
	if o.token == "" {
		o.token = getenv("GITHUB_TOKEN")
	}
	o.command = input(getenv, "command")
	if o.command == "" {
		o.command = "auto"
	}
	if !contains(ciCommands, o.command) {
		return usageError(fmt.Errorf("input command %q: want one of %v", o.command, ciCommands))
	}
	o.path = input(getenv, "path")
	if o.path == "" {
		o.path = "."
	}
	o.base = input(getenv, "base")
	switch a := strings.ToLower(input(getenv, "apply")); a {
	case "", "false":
	case "true":
		o.apply = true
	default:
		return usageError(fmt.Errorf("input apply %q: want true or false", a))
	}
	for _, k := range strings.FieldsFunc(input(getenv, "trusted-keys"), func(r rune) bool { return r == '\n' || r == ',' }) {
		if k = strings.TrimSpace(k); k != "" {
			o.trustedKeys = append(o.trustedKeys, k)
		}
	}
	o.receiptKey = input(getenv, "receipt-key")
	o.sarifPath = input(getenv, "sarif-file")
	if o.sarifPath == "" {
		o.sarifPath = "cairn.sarif"
	}
	o.cacheDir = input(getenv, "cache-dir")
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func newCICmd(g *globalOptions, runF func(context.Context, *ciOptions) error) *cobra.Command {
	opts := &ciOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "ci",
		Short: "Run as the GitHub Action: check pull requests, track approvals, plan and apply on push",
		Long: `Ci is the GitHub Action's entry point. It reads the Actions environment
(GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_SHA,
GITHUB_API_URL, GITHUB_TOKEN, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and the
INPUT_* variables of action.yml) and, by event:

  pull_request         validates the checkout against the pull request's base
                       commit (fetched from origin when a shallow checkout lacks
                       it), writes annotations, the step summary, a SARIF file
                       and outputs, keeps one sticky comment with findings, plan
                       and approvals, and sets the commit status
                       cairn/approvals on the head commit;
  pull_request_review  recomputes the approvals status and the comment;
  push                 plans, and applies with input apply: true.

Any other event only validates. It exits 1 when validation finds errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.fromEnv(os.Getenv); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runCI(cmd.Context(), opts)
		},
	}
	return cmd
}

// ghEvent is the part of a webhook payload Cairn reads.
type ghEvent struct {
	Action      string `json:"action"`
	Ref         string `json:"ref"`
	After       string `json:"after"`
	PullRequest *struct {
		Number int `json:"number"`
		Head   struct {
			SHA string `json:"sha"`
			Ref string `json:"ref"`
		} `json:"head"`
		Base struct {
			SHA string `json:"sha"`
			Ref string `json:"ref"`
		} `json:"base"`
		User struct {
			Login string `json:"login"`
		} `json:"user"`
	} `json:"pull_request"`
}

func readEvent(path string) (*ghEvent, error) {
	ev := &ghEvent{}
	if path == "" {
		return ev, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError(fmt.Errorf("reading event: %w", err))
	}
	if err := json.Unmarshal(b, ev); err != nil {
		return nil, usageError(fmt.Errorf("reading event %s: %w", path, err))
	}
	return ev, nil
}

func runCI(ctx context.Context, opts *ciOptions) error {
	if opts.cacheDir != "" && !opts.eval.noCache {
		opts.eval.cacheDir = opts.cacheDir
	}
	ev, err := readEvent(opts.eventPath)
	if err != nil {
		return err
	}
	mode := opts.command
	if mode == "auto" {
		switch opts.eventName {
		case "pull_request", "pull_request_target", "pull_request_review":
			mode = opts.eventName
		case "push":
			mode = "plan"
			if opts.apply {
				mode = "apply"
			}
		default:
			mode = "validate"
		}
	}
	if strings.HasPrefix(mode, "pull_request") && (ev.PullRequest == nil || ev.PullRequest.Number == 0) {
		return usageError(fmt.Errorf("event %s: no pull_request in %s", opts.eventName, opts.eventPath))
	}
	switch mode {
	case "pull_request", "pull_request_target":
		return runCIPullRequest(ctx, opts, ev, false)
	case "pull_request_review":
		return runCIPullRequest(ctx, opts, ev, true)
	case "plan", "apply":
		return runCIPush(ctx, opts, ev, mode == "apply")
	}
	return runCIValidate(ctx, opts)
}

// ciCheck is one validation of the checkout, with the base when there is one.
type ciCheck struct {
	src    *inventory.Source
	head   *inventory.Inventory
	base   *inventory.Inventory
	rules  []policy.Rule
	report *policy.Report
	prefix string
}

// validateCheckout asks the gate for its verdict on the working tree at
// opts.path, against baseRev (none when empty), fetching baseRev from
// origin when absent. The trusted-keys input verifies signatures; a key
// inside the repository is refused, since a pull request could replace it.
func (opts *ciOptions) validateCheckout(ctx context.Context, baseRev, baseRef string) (*ciCheck, error) {
	src, err := openSource(ctx, opts.path, "")
	if err != nil {
		return nil, err
	}
	c := &ciCheck{src: src, prefix: src.Prefix}
	var gopts gate.Options
	if baseRev != "" {
		if src.Repo == nil {
			return nil, usageError(fmt.Errorf("%s: %w: cannot read base %s", opts.path, inventory.ErrNotRepository, baseRev))
		}
		if err := ensureCommit(ctx, src.Repo, baseRev, baseRef, opts.token); err != nil {
			return nil, usageError(err)
		}
		if gopts.Base, err = inventory.OpenCommit(ctx, src.Repo, src.Dir, baseRev); err != nil {
			return nil, usageError(err)
		}
	}
	keys := trustRootOptions{trustedKeys: opts.trustedKeys}
	if gopts.Trust, err = keys.trust(src); err != nil {
		return nil, err
	}
	v, err := opts.check(ctx, src, gopts)
	if err != nil {
		return nil, err
	}
	c.head, c.base, c.rules, c.report = v.Inventory, v.Base, v.Rules, v.Report
	return c, nil
}

// publish writes the annotations to stdout, the SARIF file and the step
// summary.
func (opts *ciOptions) publish(c *ciCheck, summary string) error {
	writeGitHub(opts.stdout, c.report, c.prefix)
	f, err := os.Create(opts.sarifPath)
	if err != nil {
		return usageError(fmt.Errorf("writing sarif: %w", err))
	}
	if err := writeSARIF(f, c.report, c.rules, c.prefix); err != nil {
		f.Close()
		return usageError(fmt.Errorf("writing sarif: %w", err))
	}
	if err := f.Close(); err != nil {
		return usageError(fmt.Errorf("writing sarif: %w", err))
	}
	return appendFile(opts.summaryPath, summary)
}

// setOutputs appends name=value lines to $GITHUB_OUTPUT.
func (opts *ciOptions) setOutputs(kv ...string) error {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, "%s=%s\n", kv[i], kv[i+1])
	}
	return appendFile(opts.outputPath, b.String())
}

// appendFile appends s to the file at path; an empty path discards s.
func appendFile(path, s string) error {
	if path == "" || s == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return usageError(fmt.Errorf("writing %s: %w", filepath.Base(path), err))
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return usageError(fmt.Errorf("writing %s: %w", filepath.Base(path), err))
	}
	if err := f.Close(); err != nil {
		return usageError(fmt.Errorf("writing %s: %w", filepath.Base(path), err))
	}
	return nil
}

func (opts *ciOptions) client(ctx context.Context, settingsRepo string) (*forge.Client, error) {
	repo := opts.repository
	if repo == "" {
		repo = settingsRepo
	}
	c, err := forge.New(ctx, forge.Options{APIURL: opts.apiURL, Token: opts.token, Repository: repo})
	if errors.Is(err, forge.ErrNoToken) {
		return nil, usageError(errors.New("no GitHub token: set input github-token or GITHUB_TOKEN"))
	}
	if err != nil {
		return nil, usageError(err)
	}
	return c, nil
}

func runCIPullRequest(ctx context.Context, opts *ciOptions, ev *ghEvent, review bool) error {
	pr := ev.PullRequest
	baseRev := pr.Base.SHA
	if opts.base != "" {
		baseRev = opts.base
	}
	if baseRev == "" {
		return usageError(fmt.Errorf("event %s: no pull_request.base.sha", opts.eventName))
	}
	c, err := opts.validateCheckout(ctx, baseRev, pr.Base.Ref)
	if err != nil {
		// The required status must not stay absent or keep an older
		// verdict: say on the head commit that the check could not run.
		if gh, cerr := opts.client(ctx, ""); cerr == nil {
			if serr := gh.SetStatus(ctx, pr.Head.SHA, ciStatusContext, "error", "cairn could not check this revision; see the run's log", opts.runURL); serr != nil {
				return errors.Join(err, serr)
			}
		}
		return err
	}
	changes := approval.Changes(c.base, c.head)
	settings := approval.Governing(c.base, c.head)
	reqs := approval.Requirements(settings, changes)

	var repoSetting string
	if settings.GitHub != nil {
		repoSetting = settings.GitHub.Repository
	}
	gh, err := opts.client(ctx, repoSetting)
	if err != nil {
		return err
	}
	revs, err := gh.Reviews(ctx, pr.Number)
	if err != nil {
		return err
	}
	reviews := make([]approval.Review, 0, len(revs))
	for _, r := range revs {
		reviews = append(reviews, approval.Review{User: r.User, State: r.State, CommitID: r.CommitID, SubmittedAt: r.SubmittedAt})
	}
	results, err := approval.Evaluate(ctx, reqs, reviews, pr.User.Login, pr.Head.SHA, gh.TeamMembers)
	if err != nil {
		// Say so on the pull request rather than leave an old status: a
		// token without read:org cannot list team members.
		if serr := gh.SetStatus(ctx, pr.Head.SHA, ciStatusContext, "error", err.Error(), opts.runURL); serr != nil {
			return errors.Join(err, serr)
		}
		return err
	}
	c.report.Add(approval.Findings(c.head, c.base, results)...)

	rep := &ciReport{
		Report: c.report, Changes: changes, Results: results, Targets: c.head.Settings.Targets,
		Stages: c.head.Settings.Stages, HeadSHA: pr.Head.SHA, BaseSHA: baseRev, RunURL: opts.runURL,
	}
	if !review {
		if err := opts.publish(c, rep.markdown(maxSummaryChars)); err != nil {
			return err
		}
	}
	// A read-only token (a pull request from a fork) may not comment or
	// set the status: the outputs, summary, annotations and SARIF file
	// still go out, one warning says what could not, and the exit follows
	// the findings.
	var denied []string
	if err := gh.UpsertComment(ctx, pr.Number, ciMarker, ciMarker+"\n"+rep.markdown(maxCommentChars)); forge.IsForbidden(err) {
		denied = append(denied, "comment on the pull request")
	} else if err != nil {
		return err
	}
	state, desc := "pending", approval.Describe(results)
	if err := approval.Evaluable(c.base, c.head); err != nil {
		// Requirements of a change that does not evaluate are unknown:
		// never success.
		state, desc = "failure", err.Error()
	} else if approval.Satisfied(results) {
		state = "success"
	}
	if err := gh.SetStatus(ctx, pr.Head.SHA, ciStatusContext, state, desc, opts.runURL); forge.IsForbidden(err) {
		denied = append(denied, "set the status "+ciStatusContext)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(opts.stderr, "cairn: %s: %s: %s\n", ciStatusContext, state, desc)
	if len(denied) > 0 {
		// A workflow command, on stdout with the annotations.
		fmt.Fprintf(opts.stdout, "::warning::could not %s: the token is read-only (a pull request from a fork?); the outputs, step summary, annotations and SARIF file are written\n",
			strings.Join(denied, " or "))
	}
	outs := []string{
		"errors", fmt.Sprint(c.report.Summary.Errors),
		"warnings", fmt.Sprint(c.report.Summary.Warnings),
		"changes", fmt.Sprint(len(changes)),
		"approved", fmt.Sprint(state == "success"),
	}
	if !review {
		outs = append(outs, "sarif", opts.sarifPath)
	}
	if err := opts.setOutputs(outs...); err != nil {
		return err
	}
	fmt.Fprintf(opts.stderr, "checked %s at %s against %s: %s\n", plural(c.report.Models, "model"),
		c.src.ShortRevision(), inventory.ShortHash(baseRev), summaryText(c.report.Summary))
	if !review && c.report.Summary.Errors > 0 {
		return findingsExit
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runCIValidate validates the checkout and publishes the results, without
// GitHub.
func runCIValidate(ctx context.Context, opts *ciOptions) error {
	c, err := opts.validateCheckout(ctx, opts.base, "")
	if err != nil {
		return err
	}
	rep := &ciReport{Report: c.report, Stages: c.head.Settings.Stages, Targets: c.head.Settings.Targets, NoApprovals: true, RunURL: opts.runURL}
	if c.base != nil {
		rep.Changes = approval.Changes(c.base, c.head)
	}
	if err := opts.publish(c, rep.markdown(maxSummaryChars)); err != nil {
		return err
	}
	if err := opts.setOutputs("errors", fmt.Sprint(c.report.Summary.Errors), "warnings", fmt.Sprint(c.report.Summary.Warnings),
		"changes", fmt.Sprint(len(rep.Changes)), "sarif", opts.sarifPath); err != nil {
		return err
	}
	fmt.Fprintf(opts.stderr, "checked %s at %s: %s\n", plural(c.report.Models, "model"), c.src.ShortRevision(), summaryText(c.report.Summary))
	if c.report.Summary.Errors > 0 {
		return findingsExit
	}
	return nil
}

// runCIPush plans the checkout, and applies it when doApply, on a push to
// the base branch; a push elsewhere only validates.
func runCIPush(ctx context.Context, opts *ciOptions, ev *ghEvent, doApply bool) error {
	src, err := openSource(ctx, opts.path, "")
	if err != nil {
		return err
	}
	keys := trustRootOptions{trustedKeys: opts.trustedKeys}
	trust, err := keys.trust(src)
	if err != nil {
		return err
	}
	v, err := opts.check(ctx, src, gate.Options{Trust: trust, Deploy: doApply})
	if err != nil {
		return err
	}
	inv := v.Inventory
	baseBranch := "main"
	if g := inv.Settings.GitHub; g != nil && g.Base != "" {
		baseBranch = g.Base
	}
	if opts.base != "" {
		baseBranch = opts.base
	}
	if opts.eventName == "push" && ev.Ref != "" && ev.Ref != "refs/heads/"+baseBranch {
		fmt.Fprintf(opts.stderr, "cairn: %s is not the base branch %s: validating only\n", ev.Ref, baseBranch)
		return runCIValidate(ctx, opts)
	}
	tOpts := targetOptions{}
	ropts, err := tOpts.reconcilerOptions(src)
	if err != nil {
		return err
	}
	if ropts.Registry, err = opts.registry.credentials(src); err != nil {
		return err
	}
	var out fmt.Stringer
	var changed int
	count := func(tps []reconciler.TargetPlan) {
		for _, tp := range tps {
			for _, ch := range tp.Changes {
				if ch.Action != targets.Unchanged && ch.Action != targets.Skipped {
					changed++
				}
			}
		}
	}
	var runErr error
	if doApply {
		conn := githubConn{apiURL: opts.apiURL, token: opts.token, repository: opts.repository}
		if g := inv.Settings.GitHub; conn.repository == "" && g != nil {
			conn.repository = g.Repository
		}
		// The checkout is the pushed commit: the event's after, else GITHUB_SHA.
		ref := ev.After
		if ref == "" {
			ref = opts.sha
		}
		is, err := receiptIssuer(ctx, opts.globalOptions, opts.receiptKey, src, ropts.StateDir, ref, conn)
		if err != nil {
			return err
		}
		setReceipts(&ropts, is)
		ropts.Deployments = deployments(ctx, inv, conn, ref, opts.stderr)
		res, err := reconciler.Apply(ctx, v, ropts)
		if res == nil {
			return targetErr(err)
		}
		printDeploymentErrors(opts.stderr, res.Targets)
		printReceiptErrors(opts.stderr, res.Targets)
		for _, f := range res.Findings {
			fmt.Fprintln(opts.stderr, f)
		}
		out, runErr = res, applyExit(err)
		count(res.Targets)
	} else {
		p, err := reconciler.MakePlan(ctx, inv, ropts)
		if err != nil {
			return targetErr(err)
		}
		out = p
		count(p.Targets)
		switch {
		case p.Failed():
			runErr = &exitError{code: exitUsage}
		case v.Report.Summary.Errors > 0:
			opts.printFindings(v.Report)
			fmt.Fprintf(opts.stderr, "cairn: the inventory has %s: apply would refuse this revision\n", plural(v.Report.Summary.Errors, "validation error"))
			runErr = findingsExit
		}
	}
	fmt.Fprint(opts.stdout, out.String())
	title := "Plan"
	if doApply {
		title = "Apply"
	}
	md := fmt.Sprintf("## Cairn %s at %s\n\n```\n%s```\n", strings.ToLower(title), src.ShortRevision(), out.String())
	if err := appendFile(opts.summaryPath, md); err != nil {
		return err
	}
	if err := opts.setOutputs("changes", fmt.Sprint(changed)); err != nil {
		return err
	}
	return runErr
}

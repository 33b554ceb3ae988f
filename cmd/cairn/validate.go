package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

type validateOptions struct {
	*globalOptions
	inventoryOptions
	base string
	now  string

	// trustRoots verify the bundles of signing.required stages.
	trustRoots trustRootOptions
}

var validateFormats = []string{"text", "json", "sarif", "github"}

func newValidateCmd(g *globalOptions, runF func(context.Context, *validateOptions) error) *cobra.Command {
	opts := &validateOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "validate",
		Short: "Check the inventory against the schema and the governance rules",
		Long: `Validate evaluates every model and inventory.cue against Cairn's schema,
the built-in governance rules and the organisation's rules in policies/*.cue,
and prints each finding at file:line:col. With --base it also runs the
diff-aware rules (promotion-path, version-immutable) against that revision,
whose organisation rules and severities then judge the change. A version
that a signing.required stage pins must carry a signature bundle; given
trust roots, the bundle must verify. It exits 1 when any finding is an
error: such a revision is refused by apply, the daemon and cairn ci.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.checkFormat(validateFormats...); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runValidate(cmd.Context(), opts)
		},
	}
	opts.inventoryOptions.AddFlags(cmd.Flags(), validateFormats...)
	cmd.Flags().StringVar(&opts.base, "base", "", "compare with git revision `REV` for the diff-aware rules")
	cmd.Flags().StringVar(&opts.now, "now", "", "the `TIME` (RFC 3339) review-due compares with; default $CAIRN_NOW or the clock")
	opts.trustRoots.AddFlags(cmd.Flags())
	return cmd
}

// clock returns --now, or the default clock.
func (o *validateOptions) clock() (time.Time, error) {
	if o.now == "" {
		return nowFunc(), nil
	}
	t, err := time.Parse(time.RFC3339, o.now)
	if err != nil {
		return time.Time{}, usageError(fmt.Errorf("--now %q: want an RFC 3339 time such as 2026-11-23T12:00:00Z", o.now))
	}
	return t, nil
}

func runValidate(ctx context.Context, opts *validateOptions) error {
	now, err := opts.clock()
	if err != nil {
		return err
	}
	src, err := opts.open(ctx)
	if err != nil {
		return err
	}
	trust, err := opts.trustRoots.trust(src)
	if err != nil {
		return err
	}
	gopts := gate.Options{Now: now, Trust: trust}
	if opts.base != "" {
		if gopts.Base, err = openSource(ctx, ".", opts.base); err != nil {
			return err
		}
	}
	v, err := opts.check(ctx, src, gopts)
	if err != nil {
		return err
	}
	rep := v.Report
	switch opts.format {
	case "json":
		if err := writeJSON(opts.stdout, rep); err != nil {
			return err
		}
	case "sarif":
		if err := writeSARIF(opts.stdout, rep, v.Rules, src.Prefix); err != nil {
			return err
		}
	case "github":
		writeGitHub(opts.stdout, rep, src.Prefix)
		fmt.Fprintf(opts.stderr, "checked %s at %s: %s\n", plural(rep.Models, "model"), src.ShortRevision(), summaryText(rep.Summary))
	default:
		opts.printFindings(rep)
		fmt.Fprintf(opts.stdout, "checked %s at %s: %s\n", plural(rep.Models, "model"), src.ShortRevision(), summaryText(rep.Summary))
	}
	if rep.Summary.Errors > 0 {
		return findingsExit
	}
	return nil
}

// SARIF 2.1.0, the subset GitHub code scanning reads.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string       `json:"id"`
	ShortDescription     sarifMessage `json:"shortDescription"`
	DefaultConfiguration struct {
		Level string `json:"level"`
	} `json:"defaultConfiguration"`
}

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	RuleIndex int             `json:"ruleIndex"`
	Level     string          `json:"level"`
	Message   sarifMessage    `json:"message"`
	Locations []sarifLocation `json:"locations"`
}

type sarifLocation struct {
	PhysicalLocation struct {
		ArtifactLocation struct {
			URI string `json:"uri"`
		} `json:"artifactLocation"`
		Region struct {
			StartLine   int `json:"startLine"`
			StartColumn int `json:"startColumn,omitempty"`
		} `json:"region"`
	} `json:"physicalLocation"`
}

const (
	sarifSchema = "https://json.schemastore.org/sarif-2.1.0.json"
	cairnInfo   = "https://github.com/cairnops/cairn"
)

// sarifLevel maps a severity to a SARIF level.
func sarifLevel(s policy.Severity) string {
	switch s {
	case policy.Warning:
		return "warning"
	case policy.Off:
		return "none"
	}
	return "error"
}

// writeSARIF writes rep as a SARIF 2.1.0 log with one run; prefix is the
// inventory's folder in the repository, joined to every file.
func writeSARIF(w io.Writer, rep *policy.Report, rules []policy.Rule, prefix string) error {
	drv := sarifDriver{Name: "cairn", InformationURI: cairnInfo, Rules: []sarifRule{}}
	index := map[string]int{}
	for _, r := range rules {
		sr := sarifRule{ID: r.ID, ShortDescription: sarifMessage{Text: r.Description}}
		if sr.ShortDescription.Text == "" {
			sr.ShortDescription.Text = r.ID
		}
		sr.DefaultConfiguration.Level = sarifLevel(r.Severity)
		index[r.ID] = len(drv.Rules)
		drv.Rules = append(drv.Rules, sr)
	}
	run := sarifRun{Tool: sarifTool{Driver: drv}, Results: []sarifResult{}}
	for _, f := range rep.Findings {
		i, ok := index[f.Rule]
		if !ok {
			i = len(run.Tool.Driver.Rules)
			index[f.Rule] = i
			sr := sarifRule{ID: f.Rule, ShortDescription: sarifMessage{Text: f.Rule}}
			sr.DefaultConfiguration.Level = sarifLevel(f.Severity)
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, sr)
		}
		res := sarifResult{RuleID: f.Rule, RuleIndex: i, Level: sarifLevel(f.Severity), Message: sarifMessage{Text: f.Message}}
		var loc sarifLocation
		loc.PhysicalLocation.ArtifactLocation.URI = repoPath(prefix, f.File)
		loc.PhysicalLocation.Region.StartLine = max(f.Line, 1)
		loc.PhysicalLocation.Region.StartColumn = f.Column
		res.Locations = []sarifLocation{loc}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: "2.1.0", Runs: []sarifRun{run}})
}

func repoPath(prefix, file string) string {
	if file == "" {
		file = inventory.SettingsFile
	}
	if prefix == "" {
		return file
	}
	return path.Join(prefix, file)
}

// writeGitHub writes one workflow command per finding:
// ::error file=F,line=L,col=C,title=RULE::message.
func writeGitHub(w io.Writer, rep *policy.Report, prefix string) {
	for _, f := range rep.Findings {
		cmd := "error"
		if f.Severity == policy.Warning {
			cmd = "warning"
		}
		props := []string{"file=" + ghProperty(repoPath(prefix, f.File))}
		if f.Line > 0 {
			props = append(props, fmt.Sprintf("line=%d", f.Line))
		}
		if f.Column > 0 {
			props = append(props, fmt.Sprintf("col=%d", f.Column))
		}
		props = append(props, "title="+ghProperty(f.Rule))
		fmt.Fprintf(w, "::%s %s::%s\n", cmd, strings.Join(props, ","), ghData(f.Message))
	}
}

// ghData escapes a workflow command's message.
func ghData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// ghProperty escapes a workflow command's property value.
func ghProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

func summaryText(s policy.Summary) string {
	if s.Errors == 0 && s.Warnings == 0 {
		return "no problems"
	}
	return plural(s.Errors, "error") + ", " + plural(s.Warnings, "warning")
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

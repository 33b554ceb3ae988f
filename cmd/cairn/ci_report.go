package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cairnops/cairn/approval"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
	"github.com/cairnops/cairn/schema"
)

const (
	// maxCommentChars keeps the sticky comment, marker included, under
	// GitHub's 65,536-character limit on comment bodies.
	maxCommentChars = 65000
	// maxSummaryChars keeps the step summary under GitHub's 1 MiB limit.
	maxSummaryChars = 1000000
)

// ciReport is what a pull request run found, rendered as Markdown for the
// sticky comment and the step summary.
type ciReport struct {
	Report  *policy.Report
	Changes []approval.Change
	Results []approval.Result
	// NoApprovals leaves the approvals section out (no pull request).
	NoApprovals bool
	Targets     map[string]schema.Target
	Stages      []string
	HeadSHA     string
	BaseSHA     string
	RunURL      string
}

type mdSection struct {
	title  string
	header []string
	rows   []string
	empty  string // said when there are no rows
}

// markdown renders the report in at most limit bytes (so at most limit
// characters). The summary comes first and is always kept; the approvals,
// plan and findings sections follow in that order and lose rows from their
// end, with a note saying how many, when the whole does not fit.
func (r *ciReport) markdown(limit int) string {
	var b strings.Builder
	b.WriteString(r.summary())
	sections := []mdSection{}
	if !r.NoApprovals {
		sections = append(sections, r.approvalsSection())
	}
	sections = append(sections, r.planSection(), r.findingsSection())
	const reserve = 200 // room for the notes of cut sections
	budget := limit - b.Len() - reserve
	for _, s := range sections {
		head := "\n### " + s.title + "\n\n"
		if len(s.rows) == 0 {
			if s.empty != "" && len(head)+len(s.empty)+1 <= budget {
				b.WriteString(head + s.empty + "\n")
				budget -= len(head) + len(s.empty) + 1
			}
			continue
		}
		for _, h := range s.header {
			head += h + "\n"
		}
		if len(head) > budget {
			fmt.Fprintf(&b, "\n_%s: %d not shown._\n", s.title, len(s.rows))
			budget = 0
			continue
		}
		b.WriteString(head)
		budget -= len(head)
		shown := 0
		for _, row := range s.rows {
			if len(row)+1 > budget {
				break
			}
			b.WriteString(row + "\n")
			budget -= len(row) + 1
			shown++
		}
		if shown < len(s.rows) {
			fmt.Fprintf(&b, "\n_… %d more not shown: see the step summary and the SARIF results._\n", len(s.rows)-shown)
			budget = 0
		}
	}
	return b.String()
}

// summary is the first lines: the verdict on validation and approvals.
func (r *ciReport) summary() string {
	s := r.Report.Summary
	valid := "✅ no problems"
	if s.Errors > 0 {
		valid = "❌ " + summaryText(s)
	} else if s.Warnings > 0 {
		valid = "⚠️ " + summaryText(s)
	}
	line := "## Cairn: " + valid
	if !r.NoApprovals {
		if approval.Satisfied(r.Results) {
			line += " · ✅ approvals complete"
		} else {
			line += " · ⏳ approvals pending"
		}
	}
	var b strings.Builder
	b.WriteString(line + "\n\n")
	fmt.Fprintf(&b, "Checked %s", plural(r.Report.Models, "model"))
	if r.HeadSHA != "" {
		fmt.Fprintf(&b, " at `%s`", inventory.ShortHash(r.HeadSHA))
	}
	if r.BaseSHA != "" {
		fmt.Fprintf(&b, " against base `%s`", inventory.ShortHash(r.BaseSHA))
	}
	fmt.Fprintf(&b, ": %s, %s.", plural(len(r.Changes), "stage change"), summaryText(s))
	if !r.NoApprovals {
		fmt.Fprintf(&b, " Approvals: %s.", mdCell(approval.Describe(r.Results)))
	}
	if r.RunURL != "" {
		fmt.Fprintf(&b, " [Run](%s)", r.RunURL)
	}
	b.WriteString("\n")
	return b.String()
}

func (r *ciReport) approvalsSection() mdSection {
	s := mdSection{
		title:  "Approvals",
		header: []string{"| Model | Stage | Change | Needs | From | Approved by | Status |", "|---|---|---|---|---|---|---|"},
		empty:  "No stage change needs approval.",
	}
	for _, res := range r.Results {
		from := "any reviewer"
		if len(res.Eligible) > 0 {
			from = strings.Join(res.Eligible, ", ")
		}
		by := "—"
		if len(res.Approvers) > 0 {
			by = "@" + strings.Join(res.Approvers, ", @")
		}
		status := "✅ approved"
		if !res.Satisfied() {
			status = fmt.Sprintf("⏳ %d more", res.Missing())
		}
		s.rows = append(s.rows, fmt.Sprintf("| %s | %s | %s → %s | %d | %s | %s | %s |",
			mdCell(res.Model), mdCell(res.Stage), mdCell(orDash(res.From)), mdCell(orDash(res.To)), res.Min, mdCell(from), mdCell(by), status))
	}
	return s
}

// planSection lists, per target, the stage pins that change for the stage
// the target serves.
func (r *ciReport) planSection() mdSection {
	s := mdSection{
		title:  "Plan",
		header: []string{"| Target | Stage | Model | Change |", "|---|---|---|---|"},
		empty:  "No target changes.",
	}
	names := make([]string, 0, len(r.Targets))
	for n := range r.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := r.Targets[n]
		for _, c := range r.Changes {
			if c.Stage != t.Stage {
				continue
			}
			s.rows = append(s.rows, fmt.Sprintf("| %s | %s | %s | %s → %s |",
				mdCell(n), mdCell(t.Stage), mdCell(c.Model), mdCell(orDash(c.From)), mdCell(orDash(c.To))))
		}
	}
	return s
}

func (r *ciReport) findingsSection() mdSection {
	s := mdSection{title: "Findings", empty: "No findings."}
	for _, f := range r.Report.Findings {
		icon := "❌"
		if f.Severity == policy.Warning {
			icon = "⚠️"
		}
		where := ""
		if f.File != "" {
			where = " `" + f.Pos().String() + "`"
		}
		s.rows = append(s.rows, fmt.Sprintf("- %s **%s**%s %s", icon, f.Rule, where, mdCell(f.Message)))
	}
	return s
}

// mdCell makes s safe in a Markdown table cell or list item on one line.
func mdCell(s string) string {
	return strings.NewReplacer("|", `\|`, "\r", " ", "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/approval"
	"github.com/cairnops/cairn/forge"
	"github.com/cairnops/cairn/forge/githubtest"
	"github.com/cairnops/cairn/policy"
	"github.com/cairnops/cairn/schema"
)

func TestCIOptionsFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		check   func(t *testing.T, o *ciOptions)
		wantErr string
	}{
		{
			name: "defaults",
			env:  map[string]string{"GITHUB_TOKEN": "t0"},
			check: func(t *testing.T, o *ciOptions) {
				assert.Equal(t, "auto", o.command)
				assert.Equal(t, ".", o.path)
				assert.Equal(t, "t0", o.token)
				assert.Equal(t, "cairn.sarif", o.sarifPath)
				assert.False(t, o.apply)
				assert.Empty(t, o.runURL)
			},
		},
		{
			name: "every variable",
			env: map[string]string{
				"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": "/e.json", "GITHUB_REPOSITORY": "acme/models",
				"GITHUB_SHA": "abc", "GITHUB_API_URL": "https://ghe.example/api/v3", "GITHUB_TOKEN": "env-token",
				"GITHUB_OUTPUT": "/o", "GITHUB_STEP_SUMMARY": "/s", "GITHUB_SERVER_URL": "https://ghe.example/", "GITHUB_RUN_ID": "7",
				"INPUT_COMMAND": "plan", "INPUT_PATH": "inventory", "INPUT_GITHUB-TOKEN": "input-token", "INPUT_BASE": "release",
				"INPUT_APPLY": "TRUE", "INPUT_TRUSTED-KEYS": "a.pub\n b.pub ,c.pub\n", "INPUT_SARIF-FILE": "out.sarif",
			},
			check: func(t *testing.T, o *ciOptions) {
				assert.Equal(t, "pull_request", o.eventName)
				assert.Equal(t, "/e.json", o.eventPath)
				assert.Equal(t, "acme/models", o.repository)
				assert.Equal(t, "abc", o.sha)
				assert.Equal(t, "https://ghe.example/api/v3", o.apiURL)
				assert.Equal(t, "input-token", o.token, "the input wins over GITHUB_TOKEN")
				assert.Equal(t, "/o", o.outputPath)
				assert.Equal(t, "/s", o.summaryPath)
				assert.Equal(t, "https://ghe.example/acme/models/actions/runs/7", o.runURL)
				assert.Equal(t, "plan", o.command)
				assert.Equal(t, "inventory", o.path)
				assert.Equal(t, "release", o.base)
				assert.True(t, o.apply)
				assert.Equal(t, []string{"a.pub", "b.pub", "c.pub"}, o.trustedKeys)
				assert.Equal(t, "out.sarif", o.sarifPath)
			},
		},
		{
			name:  "underscore spelling of hyphenated inputs",
			env:   map[string]string{"INPUT_GITHUB_TOKEN": "u"},
			check: func(t *testing.T, o *ciOptions) { assert.Equal(t, "u", o.token) },
		},
		{name: "bad command", env: map[string]string{"INPUT_COMMAND": "deploy"}, wantErr: `input command "deploy": want one of`},
		{name: "bad apply", env: map[string]string{"INPUT_APPLY": "yes"}, wantErr: `input apply "yes": want true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &ciOptions{}
			err := o.fromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Equal(t, exitUsage, exitCode(err))
				return
			}
			require.NoError(t, err)
			tt.check(t, o)
		})
	}
}

// bigReport returns a report whose Markdown is about n characters of
// findings, with one unsatisfied approval and one plan row.
func bigReport(n int) *ciReport {
	rep := &policy.Report{Models: 500}
	msg := strings.Repeat("é", 60) // multi-byte, so bytes and characters differ
	for i := 0; rep.Summary.Errors*utf8.RuneCountInString(msg) < n; i++ {
		rep.Findings = append(rep.Findings, policy.Finding{Rule: "pin-digest", Severity: policy.Error,
			File: fmt.Sprintf("models/m-%04d/model.cue", i), Line: 14, Column: 5, Message: msg})
		rep.Summary.Errors++
	}
	ch := approval.Change{Model: "fraud-detector", Stage: "production", From: "2.2.0", To: "2.3.0", Tier: "high"}
	return &ciReport{
		Report:  rep,
		Changes: []approval.Change{ch},
		Results: []approval.Result{{Requirement: approval.Requirement{Change: ch, Min: 2, Eligible: []string{"@acme/risk"}}, Approvers: []string{"bob"}}},
		Targets: map[string]schema.Target{"prod": {Stage: "production", Kind: "local"}},
		HeadSHA: strings.Repeat("b", 40), BaseSHA: strings.Repeat("a", 40),
	}
}

func TestCICommentTrimmed(t *testing.T) {
	rep := bigReport(70000)
	full := rep.markdown(maxSummaryChars)
	require.Greater(t, utf8.RuneCountInString(full), 70000, "the untrimmed report is over the limit")
	assert.NotContains(t, full, "not shown")

	body := ciMarker + "\n" + rep.markdown(maxCommentChars)
	assert.LessOrEqual(t, utf8.RuneCountInString(body), 65536)
	assert.LessOrEqual(t, len(body), maxCommentChars+len(ciMarker)+1)
	summary := fmt.Sprintf("## Cairn: ❌ %d errors, 0 warnings · ⏳ approvals pending\n", rep.Report.Summary.Errors)
	assert.True(t, strings.HasPrefix(body, ciMarker+"\n"+summary), "the summary comes first")
	assert.Contains(t, body, "| fraud-detector | production | 2.2.0 → 2.3.0 | 2 | @acme/risk | @bob | ⏳ 1 more |")
	assert.Contains(t, body, "| prod | production | fraud-detector | 2.2.0 → 2.3.0 |")
	assert.Regexp(t, `_… \d+ more not shown: see the step summary and the SARIF results._\n$`, body)
	shown := strings.Count(body, "- ❌ **pin-digest**")
	assert.Greater(t, shown, 100)
	assert.Less(t, shown, len(rep.Report.Findings))
	assert.Contains(t, body, fmt.Sprintf("_… %d more not shown", len(rep.Report.Findings)-shown))

	// GitHub (the fake enforces its 65,536-character limit) takes it, and a
	// second run edits the one comment.
	gh := githubtest.New(t)
	pr := createPR(t, gh)
	c, err := forge.New(context.Background(), forge.Options{APIURL: gh.URL, Token: gh.Token, Repository: gh.FullName()})
	require.NoError(t, err)
	require.NoError(t, c.UpsertComment(context.Background(), pr, ciMarker, body))
	body2 := ciMarker + "\n" + bigReport(80000).markdown(maxCommentChars)
	require.NoError(t, c.UpsertComment(context.Background(), pr, ciMarker, body2))
	cs := gh.Comments()
	require.Len(t, cs, 1)
	assert.Equal(t, body2, cs[0].Body)
}

func TestCIMarkdownSmall(t *testing.T) {
	rep := &ciReport{Report: &policy.Report{Models: 1, Findings: []policy.Finding{}}, NoApprovals: true}
	assert.Equal(t, "## Cairn: ✅ no problems\n\nChecked 1 model: 0 stage changes, no problems.\n"+
		"\n### Plan\n\nNo target changes.\n\n### Findings\n\nNo findings.\n", rep.markdown(maxCommentChars))
	// Cells cannot break the table.
	assert.Equal(t, `a\|b c &lt;!-- x --&gt;`, mdCell("a|b\nc <!-- x -->"))
}

// createPR opens pull request #1 on the fake through its REST API.
func createPR(t *testing.T, gh *githubtest.Server) int {
	t.Helper()
	require.NoError(t, openFakePR(gh, "cairn/x", "main"))
	return 1
}

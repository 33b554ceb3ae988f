package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/policy"
)

// ruleCase is one inventory (its files over the default inventory.cue and
// card of model m) and the findings validate reports for it.
type ruleCase struct {
	name  string
	files map[string]string
	base  map[string]string // nil: no base revision
	want  []string
}

func runRuleCases(t *testing.T, tests []ruleCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := withFiles(defaultFiles, tt.files)
			var base map[string]string
			if tt.base != nil {
				base = withFiles(defaultFiles, tt.base)
			}
			assert.Equal(t, tt.want, validate(t, files, base))
		})
	}
}

var defaultFiles = map[string]string{
	"inventory.cue":     "package inventory\n",
	"models/m/card.cue": lowCard,
}

// versions12 declares versions 1.0.0 (digestA) and 2.0.0 (digestB) on
// lines 3 and 4 of a model.cue that starts with it.
const versions12 = `package model

versions: "1.0.0": artifact: {uri: "https://models.example/m/1.0.0.onnx", digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
versions: "2.0.0": artifact: {uri: "https://models.example/m/2.0.0.onnx", digest: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}
`

// monitored is a performance and a drift monitor of production.
const monitored = `monitors: {
	auc: {query: "auc", min: 0.8, action: "rollback", kind: "performance"}
	psi: {query: "psi", max: 0.2, action: "notify", kind: "drift"}
}
`

func TestPinDigest(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "immutable", files: map[string]string{"models/m/model.cue": versions12 + `stages: development: "1.0.0"` + "\n"}},
		{name: "every version", files: map[string]string{"models/m/model.cue": `package model

versions: "2.0.0": artifact: {digest: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", uri: "https://huggingface.co/acme/m/resolve/main/model.onnx"}
versions: "1.0.0": artifact: {digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", uri: "https://github.com/acme/m/raw/refs/heads/release/model.onnx"}
stages: development: "1.0.0"
`},
			want: []string{
				`m | models/m/model.cue:3:114: versions."2.0.0".artifact.uri: "https://huggingface.co/acme/m/resolve/main/model.onnx" names the moving reference "main" (a branch or latest); pin a tag, a commit or a release asset (pin-digest)`,
				`m | models/m/model.cue:4:114: versions."1.0.0".artifact.uri: "https://github.com/acme/m/raw/refs/heads/release/model.onnx" names a branch (refs/heads/), which moves; pin a tag, a commit or a release asset (pin-digest)`,
			}},
		{name: "invalid model is left to schema", files: map[string]string{"models/m/model.cue": `package model

versions: "1.0.0": artifact: {uri: "oci://ghcr.io/acme/m:latest", digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
stages: development: 1
`},
			want: []string{
				`m | models/m/model.cue:4:22: stages.development: conflicting values 1 and string (mismatched types int and string) (schema)`,
			}},
	})
}

func TestStageVersion(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "declared", files: map[string]string{"models/m/model.cue": versions12 + `stages: {development: "2.0.0", staging: "1.0.0"}` + "\n"}},
		{name: "undeclared stage and version", files: map[string]string{"models/m/model.cue": versions12 + `stages: {development: "3.0.0", canary: "1.0.0"}` + "\n"},
			want: []string{
				`m | models/m/model.cue:5:10: stages.development: version "3.0.0" is not declared in versions (have: 1.0.0, 2.0.0) (stage-version)`,
				`m | models/m/model.cue:5:32: stages.canary: "canary" is not a stage of inventory.cue (stages: development, staging, production) (stage-version)`,
			}},
		{name: "both at one place, in the order found", files: map[string]string{"models/m/model.cue": versions12 + `stages: canary: "3.0.0"` + "\n"},
			want: []string{
				`m | models/m/model.cue:5:9: stages.canary: "canary" is not a stage of inventory.cue (stages: development, staging, production) (stage-version)`,
				`m | models/m/model.cue:5:9: stages.canary: version "3.0.0" is not declared in versions (have: 1.0.0, 2.0.0) (stage-version)`,
			}},
		{name: "no stages declared", files: map[string]string{
			"inventory.cue":      "package inventory\n\nstages: []\n",
			"models/m/model.cue": versions12 + `stages: production: "1.0.0"` + "\n",
		},
			want: []string{
				`m | models/m/model.cue:5:9: monitors: the model runs in production without a performance or drift monitor; add a monitor with kind: "performance" and a monitor with kind: "drift" (stage "production") (monitors)`,
				`m | models/m/model.cue:5:9: stages.production: "production" is not a stage of inventory.cue (stages: ) (stage-version)`,
			}},
		{name: "settings with problems judge no stage", files: map[string]string{
			"inventory.cue":      "package inventory\n\nstages: 3\n",
			"models/m/model.cue": versions12 + `stages: {development: "3.0.0", canary: "1.0.0"}` + "\n",
		},
			want: []string{
				` | inventory.cue:3:9: stages: 3 is not allowed, want ["development","staging","production"] | [...string] (schema)`,
				`m | models/m/model.cue:5:10: stages.development: version "3.0.0" is not declared in versions (have: 1.0.0, 2.0.0) (stage-version)`,
			}},
		{name: "invalid model is left to schema", files: map[string]string{"models/m/model.cue": versions12 + `stages: {canary: "3.0.0"}` + "\nretired: 1\n"},
			want: []string{
				`m | models/m/model.cue:6:10: retired: conflicting values 1 and bool (mismatched types int and bool) (schema)`,
			}},
	})
}

// stagesAt returns a model.cue of versions12 whose stages are the line
// given, on line 5, and monitored from line 6.
func stagesAt(stages string) map[string]string {
	return map[string]string{"models/m/model.cue": versions12 + "stages: " + stages + "\n" + monitored}
}

// qaLive is stagesAt for the promotion path qa, live, with monitors of qa
// only.
func qaLive(stages string) map[string]string {
	return map[string]string{"models/m/model.cue": versions12 + "stages: " + stages + "\n" + strings.ReplaceAll(monitored, `kind: "`, `stage: "qa", kind: "`)}
}

func TestPromotionPath(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "no base revision", files: stagesAt(`{production: "2.0.0"}`)},
		{name: "through staging", base: stagesAt(`{staging: "2.0.0"}`), files: stagesAt(`{staging: "2.0.0", production: "2.0.0"}`)},
		{name: "development is the entry", base: stagesAt(`{}`), files: stagesAt(`{development: "2.0.0"}`)},
		{name: "unchanged", base: stagesAt(`{production: "1.0.0"}`), files: stagesAt(`{production: "1.0.0"}`)},
		{name: "rollback from a later stage", base: stagesAt(`{staging: "2.0.0", production: "1.0.0"}`), files: stagesAt(`{staging: "1.0.0", production: "1.0.0"}`)},
		{name: "skips staging", base: stagesAt(`{staging: "1.0.0", production: "1.0.0"}`), files: stagesAt(`{staging: "1.0.0", production: "2.0.0"}`),
			want: []string{
				`m | models/m/model.cue:5:28: stages.production: version "2.0.0" enters production without passing staging (at base staging ran "1.0.0"); promote it to staging first (promotion-path)`,
			}},
		{name: "new model straight to staging", base: map[string]string{"models/m/card.cue": ""}, files: stagesAt(`{staging: "2.0.0"}`),
			want: []string{
				`m | models/m/model.cue:5:10: stages.staging: version "2.0.0" enters staging without passing development (at base development ran no version); promote it to development first (promotion-path)`,
			}},
		{name: "custom promotion path", files: withFiles(qaLive(`{qa: "2.0.0", live: "2.0.0"}`), map[string]string{"inventory.cue": "package inventory\n\nstages: [\"qa\", \"live\"]\n"}),
			base: withFiles(qaLive(`{qa: "1.0.0", live: "1.0.0"}`), map[string]string{"inventory.cue": "package inventory\n\nstages: [\"qa\", \"live\"]\n"}),
			want: []string{
				`m | models/m/model.cue:5:23: stages.live: version "2.0.0" enters live without passing qa (at base qa ran "1.0.0"); promote it to qa first (promotion-path)`,
				`m | models/m/model.cue:6:1: monitors: the model runs in live without a performance or drift monitor; add a monitor with kind: "performance" and a monitor with kind: "drift" (stage "live") (monitors)`,
			}},
		{name: "base model with problems", base: stagesAt(`{production: 1}`), files: stagesAt(`{production: "2.0.0"}`)},
		{name: "model with problems", base: stagesAt(`{}`), files: stagesAt(`{production: 2}`),
			want: []string{
				`m | models/m/model.cue:5:22: stages.production: conflicting values 2 and string (mismatched types int and string) (schema)`,
			}},
	})
}

func TestVersionImmutable(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "unchanged", base: stagesAt(`{development: "1.0.0"}`), files: stagesAt(`{development: "2.0.0"}`)},
		{name: "digest and uri changed", base: stagesAt(`{development: "1.0.0"}`), files: map[string]string{"models/m/model.cue": `package model

versions: "1.0.0": artifact: {uri: "https://models.example/m/1.0.0-fixed.onnx", digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
versions: "2.0.0": artifact: {uri: "https://models.example/m/2.0.0.onnx", digest: "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"}
stages: development: "1.0.0"
`},
			want: []string{
				`m | models/m/model.cue:3:31: versions."1.0.0".artifact.uri: the artifact URI of version 1.0.0 changed from "https://models.example/m/1.0.0.onnx"; a published version never changes, add a new version instead (version-immutable)`,
				`m | models/m/model.cue:4:75: versions."2.0.0".artifact.digest: the digest of version 2.0.0 changed from sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb; a published version never changes, add a new version instead (version-immutable)`,
			}},
		{name: "deleted version a stage ran", base: stagesAt(`{staging: "1.0.0", production: "1.0.0", development: "2.0.0"}`), files: map[string]string{"models/m/model.cue": `package model

versions: "2.0.0": artifact: {uri: "https://models.example/m/2.0.0.onnx", digest: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}
stages: development: "2.0.0"
`},
			want: []string{
				`m | models/m/model.cue:3:1: versions: version "1.0.0" is deleted but staging, production ran it at base; keep the version so its deployments stay traceable and can be rolled back to (version-immutable)`,
			}},
		{name: "deleted version no stage ran", base: stagesAt(`{development: "2.0.0"}`), files: map[string]string{"models/m/model.cue": `package model

versions: "2.0.0": artifact: {uri: "https://models.example/m/2.0.0.onnx", digest: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}
stages: development: "2.0.0"
`}},
		{name: "base model with problems", base: withFiles(stagesAt(`{development: "1.0.0"}`), map[string]string{"models/m/extra.cue": "package model\n\nretired: 1\n"}),
			files: map[string]string{"models/m/model.cue": `package model

versions: "1.0.0": artifact: {uri: "https://models.example/m/other.onnx", digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
stages: development: "1.0.0"
`}},
		{name: "new model", base: map[string]string{"models/m/card.cue": ""}, files: stagesAt(`{development: "1.0.0"}`)},
	})
}

// inDevelopment is a model.cue that runs 1.0.0 in development only.
var inDevelopment = stagesAt(`{development: "1.0.0"}`)

func TestReviewDue(t *testing.T) {
	card := func(lastReviewed string, extra ...string) map[string]string {
		return withFiles(inDevelopment, map[string]string{"models/m/card.cue": cardCUE("low", lastReviewed, extra...)})
	}
	runRuleCases(t, []ruleCase{
		{name: "reviewed", files: card("2026-01-01")},
		{name: "due this very moment", files: card("2025-11-23T12:00:00Z")},
		{name: "overdue", files: card("2025-11-23T11:59:59Z"),
			want: []string{
				`m | models/m/card.cue:13:10: warning: card.review.lastReviewed: the review was due on 2026-11-23 (0 days ago; interval 365 days); review the card and set lastReviewed to the review date (review-due)`,
			}},
		{name: "interval", files: card("2026-10-01", "review: intervalDays: 30"),
			want: []string{
				`m | models/m/card.cue:13:10: warning: card.review.lastReviewed: the review was due on 2026-10-31 (23 days ago; interval 30 days); review the card and set lastReviewed to the review date (review-due)`,
			}},
		{name: "not a date", files: card("2026-13-45"),
			want: []string{
				`m | models/m/card.cue:13:10: warning: card.review.lastReviewed: "2026-13-45" is not an RFC 3339 date; write it as YYYY-MM-DD (review-due)`,
			}},
		{name: "retired", files: withFiles(card("2020-01-01"), map[string]string{"models/m/model.cue": versions12 + "retired: true\n"})},
	})
}

// TestReviewDueDefaultInterval reads a zero interval, which an inventory
// built in Go may hold, as the schema's default of 365 days.
func TestReviewDueDefaultInterval(t *testing.T) {
	inv, _ := loadTree(t, withFiles(defaultFiles, withFiles(inDevelopment, map[string]string{"models/m/card.cue": cardCUE("low", "2025-11-01")})))
	m := inv.Model("m")
	require.NotNil(t, m)
	m.Card.Review.IntervalDays = 0
	rep, err := policy.Evaluate(context.Background(), inv, policy.Options{Now: reviewNow})
	require.NoError(t, err)
	assert.Equal(t, []string{
		`m | models/m/card.cue:13:10: warning: card.review.lastReviewed: the review was due on 2026-11-01 (22 days ago; interval 365 days); review the card and set lastReviewed to the review date (review-due)`,
	}, lines(rep.Findings))
	assert.Equal(t, policy.Summary{Warnings: 1}, rep.Summary)
}

// inProduction is a monitored model.cue that runs 1.0.0 in production.
var inProduction = stagesAt(`{production: "1.0.0"}`)

func TestRiskAssessment(t *testing.T) {
	card := func(tier string, extra ...string) map[string]string {
		return withFiles(inProduction, map[string]string{"models/m/card.cue": cardCUE(tier, "2026-10-01", extra...)})
	}
	const validated = `validation: report: "https://wiki.example/validation"`
	const assessed = `risk: assessment: "https://wiki.example/risk"`
	runRuleCases(t, []ruleCase{
		{name: "low risk", files: card("low")},
		{name: "medium risk", files: card("medium")},
		{name: "high risk, assessed and validated", files: card("high", assessed, validated)},
		{name: "high risk, neither", files: card("high"),
			want: []string{
				`m | models/m/card.cue:3:1: card: a high-risk model in production needs validation; add card.validation: {report: "<path or URL>", by: "<validator>"} (risk-assessment)`,
				`m | models/m/card.cue:7:8: card.risk: a high-risk model in production needs risk.assessment; link its risk assessment document (risk-assessment)`,
			}},
		{name: "critical risk, not validated", files: card("critical", assessed, `validation: report: ""`),
			want: []string{
				`m | models/m/card.cue:15:2: card: a critical-risk model in production needs validation; add card.validation: {report: "<path or URL>", by: "<validator>"} (risk-assessment)`,
			}},
		{name: "critical risk, not assessed", files: card("critical", validated),
			want: []string{
				`m | models/m/card.cue:7:8: card.risk: a critical-risk model in production needs risk.assessment; link its risk assessment document (risk-assessment)`,
			}},
		{name: "high risk, not in production", files: withFiles(card("high"), inDevelopment)},
		{name: "the last stage is production", files: withFiles(card("high", assessed), map[string]string{
			"inventory.cue":      "package inventory\n\nstages: [\"qa\", \"live\"]\n",
			"models/m/model.cue": versions12 + `stages: {qa: "1.0.0", live: "1.0.0"}` + "\nmonitors: {\n\tauc: {query: \"auc\", min: 0.8, action: \"rollback\", kind: \"performance\", stage: \"live\"}\n\tpsi: {query: \"psi\", max: 0.2, action: \"notify\", kind: \"drift\", stage: \"live\"}\n}\n",
		}),
			want: []string{
				`m | models/m/card.cue:3:1: card: a high-risk model in live needs validation; add card.validation: {report: "<path or URL>", by: "<validator>"} (risk-assessment)`,
			}},
	})
}

func TestPIIDPIA(t *testing.T) {
	card := func(extra ...string) map[string]string {
		return withFiles(inDevelopment, map[string]string{"models/m/card.cue": cardCUE("low", "2026-10-01", extra...)})
	}
	const evalPII = `data: evaluation: [{uri: "s3://bucket/eval-a.parquet"}, {uri: "s3://bucket/eval-b.parquet", pii: true}]`
	runRuleCases(t, []ruleCase{
		{name: "no personal data", files: card(`data: evaluation: [{uri: "s3://bucket/eval.parquet", pii: false}]`)},
		{name: "training", files: card(`data: training: [{pii: true}]`),
			want: []string{
				`m | models/m/card.cue:14:20: card.data.training.0.pii: dataset s3://bucket/train.parquet holds personal data; add card.privacy.dpia with the path or URL of the data protection impact assessment (pii-dpia)`,
			}},
		{name: "evaluation", files: card(evalPII),
			want: []string{
				`m | models/m/card.cue:14:94: card.data.evaluation.1.pii: dataset s3://bucket/eval-b.parquet holds personal data; add card.privacy.dpia with the path or URL of the data protection impact assessment (pii-dpia)`,
			}},
		{name: "one finding per model", files: card(`data: training: [{pii: true}]`, evalPII),
			want: []string{
				`m | models/m/card.cue:14:20: card.data.training.0.pii: dataset s3://bucket/train.parquet holds personal data; add card.privacy.dpia with the path or URL of the data protection impact assessment (pii-dpia)`,
			}},
		{name: "privacy without dpia", files: card(evalPII, `privacy: {}`),
			want: []string{
				`m | models/m/card.cue:14:94: card.data.evaluation.1.pii: dataset s3://bucket/eval-b.parquet holds personal data; add card.privacy.dpia with the path or URL of the data protection impact assessment (pii-dpia)`,
			}},
		{name: "dpia", files: card(evalPII, `privacy: dpia: "https://wiki.example/dpia"`)},
	})
}

func TestMonitors(t *testing.T) {
	model := func(monitors string) map[string]string {
		return map[string]string{"models/m/model.cue": versions12 + `stages: production: "1.0.0"` + "\n" + monitors}
	}
	runRuleCases(t, []ruleCase{
		{name: "performance and drift", files: inProduction},
		{name: "not in production", files: map[string]string{"models/m/model.cue": versions12 + `stages: staging: "1.0.0"` + "\n"}},
		{name: "none", files: model(""),
			want: []string{
				`m | models/m/model.cue:5:9: monitors: the model runs in production without a performance or drift monitor; add a monitor with kind: "performance" and a monitor with kind: "drift" (stage "production") (monitors)`,
			}},
		{name: "no drift", files: model(`monitors: auc: {query: "auc", min: 0.8, action: "rollback", kind: "performance"}` + "\n"),
			want: []string{
				`m | models/m/model.cue:6:1: monitors: the model runs in production without a drift monitor; add a monitor with kind: "drift" (stage "production") (monitors)`,
			}},
		{name: "no kind", files: model(`monitors: auc: {query: "auc", min: 0.8, action: "rollback"}` + "\n" + `monitors: psi: {query: "psi", max: 0.2, action: "notify", kind: "drift"}` + "\n"),
			want: []string{
				`m | models/m/model.cue:6:1: monitors: the model runs in production without a performance monitor; add a monitor with kind: "performance" (stage "production") (monitors)`,
			}},
		{name: "monitors of another stage", files: model(`monitors: {
	auc: {query: "auc", min: 0.8, action: "rollback", kind: "performance", stage: "staging"}
	psi: {query: "psi", max: 0.2, action: "notify", kind: "drift", stage: "staging"}
}
`),
			want: []string{
				`m | models/m/model.cue:6:1: monitors: the model runs in production without a performance or drift monitor; add a monitor with kind: "performance" and a monitor with kind: "drift" (stage "production") (monitors)`,
			}},
	})
}

func TestRetired(t *testing.T) {
	runRuleCases(t, []ruleCase{
		{name: "retired without stages", files: map[string]string{"models/m/model.cue": versions12 + "retired: true\n"}},
		{name: "not retired", files: map[string]string{"models/m/model.cue": versions12 + "retired: false\nstages: development: \"1.0.0\"\n"}},
		{name: "still running", files: map[string]string{"models/m/model.cue": versions12 + "retired: true\nstages: {staging: \"1.0.0\", development: \"1.0.0\", canary: \"1.0.0\"}\n"},
			want: []string{
				`m | models/m/model.cue:5:1: retired: the model is retired but still runs in development, staging, canary; remove its stages so the reconciler removes it from every target (retired)`,
				`m | models/m/model.cue:6:50: stages.canary: "canary" is not a stage of inventory.cue (stages: development, staging, production) (stage-version)`,
			}},
	})
}

func TestTargetArtifact(t *testing.T) {
	kserve := "package inventory\n\ntargets: {\n\tdev: {stage: \"development\", kind: \"local\", path: \"dev\"}\n\tstg: {stage: \"staging\", kind: \"kserve\", namespace: \"models\"}\n}\n"
	fileVersion := `package model

versions: "1.0.0": artifact: {uri: "file://artifacts/m-1.0.0.onnx", digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}
versions: "2.0.0": artifact: {uri: "https://models.example/m/2.0.0.onnx", digest: "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}
`
	runRuleCases(t, []ruleCase{
		{name: "local target serves file://", files: map[string]string{"inventory.cue": kserve,
			"models/m/model.cue": fileVersion + "stages: development: \"1.0.0\"\n"}},
		{name: "kserve target serves https://", files: map[string]string{"inventory.cue": kserve,
			"models/m/model.cue": fileVersion + "stages: {development: \"1.0.0\", staging: \"2.0.0\"}\n"}},
		{name: "kserve target cannot fetch file://", files: map[string]string{"inventory.cue": kserve,
			"models/m/model.cue": fileVersion + "stages: {development: \"1.0.0\", staging: \"1.0.0\"}\n"},
			want: []string{
				`m | models/m/model.cue:3:31: versions."1.0.0".artifact.uri: kserve target stg (stage staging) cannot fetch "file://artifacts/m-1.0.0.onnx": want https:// or oci:// (target-artifact)`,
			}},
		{name: "retired model is left to retired", files: map[string]string{"inventory.cue": kserve,
			"models/m/model.cue": fileVersion + "retired: true\nstages: staging: \"1.0.0\"\n"},
			want: []string{
				`m | models/m/model.cue:5:1: retired: the model is retired but still runs in staging; remove its stages so the reconciler removes it from every target (retired)`,
			}},
	})
}

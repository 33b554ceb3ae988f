package inventory

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestModelProblemMessages: every problem of a model is placed in the
// model's own file, or at the shared defaults with the model's name, and
// says what is allowed in a user's words.
func TestModelProblemMessages(t *testing.T) {
	const churn = "models/churn-predictor/model.cue"
	const fraud = "models/fraud-detector/model.cue"
	const defaults = "models/defaults.cue"
	digits400 := strings.Repeat("9", 400)
	tests := []struct {
		name    string
		changes []change
		want    []string
	}{{
		name:    "a missing required field is placed in the model's file",
		changes: []change{{churn, "\ttitle:       \"Subscriber churn predictor\"\n", ""}},
		want:    []string{`models/churn-predictor/model.cue:3:1: card.title: missing required field`},
	}, {
		name:    "an integer too large",
		changes: []change{{churn, `digest: "sha256:af49e0bd417674a54b1c90da6470e1af93262bc57a7c2299f74e4283a9919af2"`, `digest: "sha256:af49e0bd417674a54b1c90da6470e1af93262bc57a7c2299f74e4283a9919af2", size: ` + digits400}},
		want:    []string{`models/churn-predictor/model.cue:23:92: versions."1.5.0".artifact.size: 99999999999999999999…99999999 (400 characters) is too large: want at most 9223372036854775807`},
	}, {
		name:    "a number too large",
		changes: []change{{fraud, `auc: 0.941`, `auc: 1e400`}},
		want:    []string{`models/fraud-detector/model.cue:49:18: versions."2.2.0".metrics.auc: 1e+400 is too large: want at most 1.7976931348623157E+308`},
	}, {
		name:    "a value that refers to itself",
		changes: []change{{churn, `title:       "Subscriber churn predictor"`, `title:       card.title + "!"`}},
		want:    []string{`models/churn-predictor/model.cue:4:15: card.title: refers to itself: a value cannot be computed from its own value`},
	}, {
		name: "a value that refers to itself beside another error",
		changes: []change{
			{churn, `title:       "Subscriber churn predictor"`, `title:       card.title + "!"`},
			{churn, `owners: ["@acme/growth-ml"]`, `owners: []`},
		},
		want: []string{
			`models/churn-predictor/model.cue:6:2: card.owners: name at least one owner`,
			`models/churn-predictor/model.cue:4:15: card.title: refers to itself: a value cannot be computed from its own value`,
		},
	}, {
		name:    "a value that contains itself",
		changes: []change{{churn, `risk: tier: "medium"`, `risk: card`}},
		want:    []string{`models/churn-predictor/model.cue:7:2: card.risk: contains itself (a structural cycle): a value cannot include itself`},
	}, {
		name:    "a version that is not a semantic version",
		changes: []change{{churn, `"1.5.0": artifact`, `"v1.0": artifact`}},
		want:    []string{`models/churn-predictor/model.cue:21:2: versions: "v1.0" is not a semantic version like "1.0.0"`},
	}, {
		name:    "a duration that is not one",
		changes: []change{{fraud, `for:    "30m"`, `for:    "1 hour"`}},
		want:    []string{`models/fraud-detector/model.cue:75:11: monitors.auc.for: "1 hour" is not a duration like "15m" or "1h30m"`},
	}, {
		name:    "no owners",
		changes: []change{{churn, `owners: ["@acme/growth-ml"]`, `owners: []`}},
		want:    []string{`models/churn-predictor/model.cue:6:2: card.owners: name at least one owner`},
	}, {
		name:    "a digest and a date that are not",
		changes: []change{{churn, `digest: "sha256:f4f9`, `digest: "sha1:f4f9`}, {churn, `lastReviewed: "2026-08-20"`, `lastReviewed: "20 August 2026"`}},
		want: []string{
			`models/churn-predictor/model.cue:13:24: card.review.lastReviewed: "20 August 2026" is not a date like "2026-01-31" or "2026-01-31T12:00:00Z"`,
			`models/churn-predictor/model.cue:19:11: versions."1.4.0".artifact.digest: "sha1:f4f912ad279e37928dffb27ff43e5e8754ac87f88f0343f34de592f435e84eb0" is not a digest like "sha256:" and 64 lower-case hex digits`,
		},
	}, {
		name:    "a bound",
		changes: []change{{churn, `review: lastReviewed: "2026-08-20"`, `review: {lastReviewed: "2026-08-20", intervalDays: 0}`}},
		want:    []string{`models/churn-predictor/model.cue:13:53: card.review.intervalDays: 0 is too small: want more than 0`},
	}, {
		name:    "a conflict in the defaults names each model",
		changes: []change{{defaults, `card: license: *"proprietary" | string`, "card: license: *\"proprietary\" | string\ncard: io: inputs: 3"}},
		want: []string{
			`models/defaults.cue:5:19: model churn-predictor: card.io.inputs: conflicting values 3 and [...#Field] (mismatched types int and list)`,
			`models/defaults.cue:5:19: model demand-forecast: card.io.inputs: conflicting values 3 and [...#Field] (mismatched types int and list)`,
			`models/fraud-detector/model.cue:30:11: card.io.inputs: conflicting values [{name:"amount_eur",type:"float32"},{name:"merchant_category",type:"string"},{name:"device_risk",type:"float32",description:"score from the device-fingerprint service"}] and 3 (mismatched types list and int)`,
		},
	}, {
		name:    "an incomplete default names each model it leaves incomplete",
		changes: []change{{defaults, `card: license: *"proprietary" | string`, "card: license: *\"proprietary\" | string\ncard: review: reviewer: string"}},
		want: []string{
			`models/defaults.cue:5:15: model churn-predictor: card.review.reviewer: incomplete value string`,
			`models/defaults.cue:5:15: model demand-forecast: card.review.reviewer: incomplete value string`,
		},
	}, {
		name:    "a missing field set nowhere in a model but in the defaults",
		changes: []change{{defaults, `card: license: *"proprietary" | string`, "card: license: *\"proprietary\" | string\ncard: validation: by: \"@acme/model-risk\""}},
		want: []string{
			`models/churn-predictor/model.cue:3:1: card.validation.report: missing required field`,
			`models/demand-forecast/model.cue:3:1: card.validation.report: missing required field`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, quickstartProblems(t, tt.changes...))
		})
	}
}

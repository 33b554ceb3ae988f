package policy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/policy"
)

// TestSignatureRule asks Options.Signatures once per version in a
// signing.required stage and reports its errors at the stage.
func TestSignatureRule(t *testing.T) {
	ctx := context.Background()
	src, err := inventory.OpenWorktree(quickstart)
	require.NoError(t, err)
	inv, err := inventory.Load(ctx, src, inventory.Options{})
	require.NoError(t, err)

	tests := []struct {
		name     string
		required []string
		result   error // what Signatures returns; nil Signatures when errSkip
		calls    []string
		want     []string // finding strings of rule signature
	}{
		{"no trust roots", []string{"production"}, errSkip, nil, nil},
		{"valid", []string{"production"}, nil, []string{"fraud-detector@2.3.0"}, nil},
		{"invalid", []string{"production"}, errors.New("no signature bundle"), []string{"fraud-detector@2.3.0"},
			[]string{"models/fraud-detector/model.cue:68:2: stages.production: version 2.3.0 has no valid signature: no signature bundle (signature)"}},
		{"one check per version", []string{"staging", "production"}, errors.New("untrusted"), []string{"churn-predictor@1.4.0", "fraud-detector@2.3.0"},
			[]string{
				"models/churn-predictor/model.cue:29:2: stages.staging: version 1.4.0 has no valid signature: untrusted (signature)",
				"models/fraud-detector/model.cue:67:2: stages.staging: version 2.3.0 has no valid signature: untrusted (signature)",
			}},
		{"no required stages", nil, errors.New("untrusted"), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv.Settings.Signing.Required = tt.required
			var calls []string
			opts := policy.Options{Now: reviewNow}
			if tt.result != errSkip {
				opts.Signatures = func(model, version string) error {
					calls = append(calls, model+"@"+version)
					return tt.result
				}
			}
			rep, err := policy.Evaluate(ctx, inv, opts)
			require.NoError(t, err)
			var got []string
			for _, f := range rep.Findings {
				if f.Rule == policy.SignatureRule {
					assert.Equal(t, policy.Error, f.Severity)
					got = append(got, f.String())
				}
			}
			assert.Equal(t, tt.calls, calls)
			assert.Equal(t, tt.want, got)
		})
	}
}

var errSkip = errors.New("skip")

// TestSignatureRuleOrder keeps DESIGN.md's order: signature follows
// version-immutable.
func TestSignatureRuleOrder(t *testing.T) {
	var ids []string
	for _, r := range policy.Rules() {
		ids = append(ids, r.ID)
	}
	i := indexOf(ids, "version-immutable")
	require.GreaterOrEqual(t, i, 0)
	require.Less(t, i+1, len(ids))
	assert.Equal(t, policy.SignatureRule, ids[i+1])
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

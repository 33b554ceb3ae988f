package policy_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cairnops/cairn/policy"
)

// TestReportAdd appends findings and counts errors and warnings; a finding
// of another severity is listed but not counted.
func TestReportAdd(t *testing.T) {
	r := &policy.Report{Summary: policy.Summary{Errors: 1}}
	e := policy.Finding{Rule: "gate", Severity: policy.Error, Message: "refused"}
	w := policy.Finding{Rule: "review-due", Severity: policy.Warning, Message: "late"}
	o := policy.Finding{Rule: "x", Severity: policy.Off, Message: "quiet"}
	r.Add(e, w, w, o)
	assert.Equal(t, []policy.Finding{e, w, w, o}, r.Findings)
	assert.Equal(t, policy.Summary{Errors: 2, Warnings: 2}, r.Summary)
	r.Add()
	assert.Len(t, r.Findings, 4)
}

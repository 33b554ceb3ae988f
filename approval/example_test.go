package approval_test

import (
	"context"
	"fmt"
	"time"

	"github.com/cairnops/cairn/approval"
	"github.com/cairnops/cairn/schema"
)

func ExampleEvaluate() {
	settings := schema.Settings{Approvals: map[string]schema.Approval{
		"production": {Min: 1, ByRisk: map[string]schema.RiskApproval{
			"high": {Min: 2, From: []string{"@acme/model-risk", "@carol"}},
		}},
	}}
	changes := []approval.Change{{Model: "fraud-detector", Stage: "production", From: "2.2.0", To: "2.3.0", Tier: "high"}}
	reqs := approval.Requirements(settings, changes)

	head := "9f2c1e7"
	at := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	reviews := []approval.Review{
		{User: "alice", State: "APPROVED", CommitID: head, SubmittedAt: at},                      // the author
		{User: "bob", State: "APPROVED", CommitID: "1a2b3c4", SubmittedAt: at},                   // an older commit
		{User: "dave", State: "APPROVED", CommitID: head, SubmittedAt: at.Add(time.Minute)},      // in @acme/model-risk
		{User: "carol", State: "APPROVED", CommitID: head, SubmittedAt: at.Add(2 * time.Minute)}, // named
	}
	members := func(ctx context.Context, org, slug string) ([]string, error) {
		return []string{"bob", "dave"}, nil
	}
	results, err := approval.Evaluate(context.Background(), reqs, reviews, "alice", head, members)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(results[0].Approvers, approval.Satisfied(results))
	fmt.Println(approval.Describe(results))
	// Output:
	// [carol dave] true
	// all required approvals present (1 change)
}

package reconciler

import (
	"context"
	"time"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/targets"
)

// Receipts issues a signed record of each change Apply makes to a target
// (package receipt). Apply calls Issue after a target's driver ran, once per
// created or updated model, never for a refused revision; the returned
// Issued goes into the change's audit line. An error is reported in
// TargetPlan.ReceiptError and never changes the apply.
type Receipts interface {
	Issue(ctx context.Context, r ReceiptRequest) (Issued, error)
}

// ReceiptRequest is one change to one target, as Apply made it.
type ReceiptRequest struct {
	// Verdict is the gate's verdict on the applied revision.
	Verdict *gate.Verdict
	// Target and Stage name the target and the stage it serves.
	Target, Stage string
	// Change is what the driver did to the model (created or updated).
	Change targets.Change
	// Result is the audit line's result: "applied" or "failed: <why>".
	Result string
	// Time is the audit line's time.
	Time time.Time
}

// Issued is what a receipt adds to its audit line.
type Issued struct {
	// Path is the receipt's file, relative to the state directory.
	Path string
	// Approvers are the logins whose approvals of the pull request that
	// brought the revision count, sorted; empty for a direct push.
	Approvers []string
}

// receiptable reports whether a change gets a receipt: a model created or
// updated on the target.
func receiptable(c targets.Change) bool {
	return c.Action == targets.Created || c.Action == targets.Updated
}

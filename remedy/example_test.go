package remedy_test

import (
	"fmt"

	"github.com/cairnops/cairn/remedy"
)

// Each finding has its own branch; an outcome prints as one line of
// `cairn drift --open-prs`.
func ExampleBranch() {
	b := remedy.Branch(remedy.BranchRollback, "fraud-detector")
	fmt.Println(b)
	fmt.Println(remedy.Outcome{Branch: b, Action: "created", Number: 7})
	fmt.Println(remedy.Outcome{Branch: remedy.Branch(remedy.BranchRetrain, "churn"), Action: "unchanged", Number: 8})
	// Output:
	// cairn/rollback/fraud-detector
	// cairn/rollback/fraud-detector: created #7
	// cairn/retrain/churn: unchanged #8
}

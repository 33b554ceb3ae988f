package reconciler_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
)

func ExampleApply() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "cairn-reconciler")
	defer os.RemoveAll(tmp)

	src, err := inventory.OpenWorktree(filepath.Join("..", "examples", "quickstart"))
	if err != nil {
		fmt.Println(err)
		return
	}
	inv, err := inventory.Load(ctx, src, inventory.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	opts := reconciler.Options{
		TargetRoot: filepath.Join(tmp, "targets"),
		StateDir:   filepath.Join(tmp, "state"),
		Target:     "prod-local",
		Now:        func() time.Time { return time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC) },
	}
	plan, err := reconciler.MakePlan(ctx, inv, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(plan)
	res, err := reconciler.Apply(ctx, inv, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(res)
	res, _ = reconciler.Apply(ctx, inv, opts)
	fmt.Print(res)
	// Output:
	// target prod-local (production, local)
	//   created  fraud-detector  -→2.3.0
	// target prod-local (production, local)
	//   created  fraud-detector  -→2.3.0
	// target prod-local (production, local)
	//   unchanged  fraud-detector  2.3.0→2.3.0
}

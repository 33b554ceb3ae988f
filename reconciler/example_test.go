package reconciler_test

import (
	"context"
	"crypto"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cairnops/cairn/gate"
	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
	"github.com/cairnops/cairn/signing"
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
	key, err := signing.LoadPublicKey(filepath.Join("..", "examples", "quickstart", "keys", "cairn-example.pub"))
	if err != nil {
		fmt.Println(err)
		return
	}
	v, err := gate.Check(ctx, src, gate.Options{Trust: signing.Trust{Keys: []crypto.PublicKey{key}}, Deploy: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	inv := v.Inventory
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
	res, err := reconciler.Apply(ctx, v, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(res)
	// Applied again, nothing changes; Text(true) also lists the unchanged.
	res, _ = reconciler.Apply(ctx, v, opts)
	fmt.Print(res)
	fmt.Print(res.Text(true))
	// Output:
	// target prod-local (production, local)
	//   create  fraud-detector  -→2.3.0
	//   1 to create, 0 to update, 0 to delete, 0 unchanged
	// Plan: 1 to create, 0 to update, 0 to delete, 0 unchanged
	// target prod-local (production, local)
	//   created  fraud-detector  -→2.3.0
	//   1 created, 0 updated, 0 deleted, 0 unchanged
	// Applied: 1 created, 0 updated, 0 deleted, 0 unchanged
	// target prod-local (production, local)
	//   0 created, 0 updated, 0 deleted, 1 unchanged
	// Applied: 0 created, 0 updated, 0 deleted, 1 unchanged
	// target prod-local (production, local)
	//   unchanged  fraud-detector  2.3.0→2.3.0
	//   0 created, 0 updated, 0 deleted, 1 unchanged
	// Applied: 0 created, 0 updated, 0 deleted, 1 unchanged
}

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
	res, _ = reconciler.Apply(ctx, v, opts)
	fmt.Print(res)
	// Output:
	// target prod-local (production, local)
	//   created  fraud-detector  -→2.3.0
	// target prod-local (production, local)
	//   created  fraud-detector  -→2.3.0
	// target prod-local (production, local)
	//   unchanged  fraud-detector  2.3.0→2.3.0
}

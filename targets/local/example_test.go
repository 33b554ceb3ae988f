package local_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/cairnops/cairn/targets"
	"github.com/cairnops/cairn/targets/local"
)

func ExampleTarget_Apply() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cairn-local")
	defer os.RemoveAll(dir)

	weights := "model weights"
	open := targets.OpenFunc(func(ctx context.Context, a targets.Artifact) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(weights)), nil
	})
	m := targets.Model{Name: "fraud-detector", Version: "2.3.0", Artifact: targets.Artifact{
		URI:    "file://artifacts/model.onnx",
		Digest: digest([]byte(weights)), // "sha256:<64 hex>", pinned in the inventory
	}}

	tg, _ := local.New(filepath.Join(dir, "models"))
	for range 2 {
		changes, err := tg.Apply(ctx, "rev1", []targets.Model{m}, open)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(changes[0].Model, changes[0].Action, changes[0].To)
	}
	link, _ := os.Readlink(filepath.Join(dir, "models", "fraud-detector", "current"))
	fmt.Println("current ->", link)
	// Output:
	// fraud-detector created 2.3.0
	// fraud-detector unchanged 2.3.0
	// current -> 2.3.0
}

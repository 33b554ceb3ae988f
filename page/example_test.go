package page_test

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/page"
)

// Build the quick start's pages with no live evidence, as the static
// export does, and find its high-risk models.
func ExampleBuild() {
	ctx := context.Background()
	src, err := inventory.Open(ctx, "../examples/quickstart", "")
	if err != nil {
		fmt.Println(err)
		return
	}
	inv, err := inventory.Load(ctx, src, inventory.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	p := page.Build(inv, page.Evidence{})
	r := p.Find(page.Query{Risk: "high"})
	for _, m := range r.Models {
		fmt.Println(m.Name, m.State, m.Pins)
	}
	fmt.Println(r.Matched, "of", r.Total)
	err = p.RenderModel(io.Discard, "no-such-model", page.History{}, page.Live{Static: true})
	fmt.Println(errors.Is(err, page.ErrNotFound))
	// Output:
	// fraud-detector ok [{staging 2.3.0 } {production 2.3.0 }]
	// 1 of 3
	// true
}

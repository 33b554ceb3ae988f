package forge_test

import (
	"errors"
	"fmt"

	"github.com/cairnops/cairn/forge"
)

func ExampleMaskToken() {
	err := errors.New("pushing cairn/rollback/fraud: https://x-access-token:ghs_abc@github.com/acme/models.git: ghs_abc rejected")
	fmt.Println(forge.MaskToken(err.Error(), "ghs_abc"))
	// Output: pushing cairn/rollback/fraud: https://***@github.com/acme/models.git: *** rejected
}

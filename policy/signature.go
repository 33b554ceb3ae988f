package policy

import (
	"fmt"
	"slices"
)

// SignatureRule is the ID of the rule that versions in signing.required
// stages carry a valid signature.
const SignatureRule = "signature"

// The signature rule sits after version-immutable, in DESIGN.md's order. It
// lives in its own file so that policy needs no signing code: the caller
// passes Options.Signatures.
func init() {
	r := Rule{ID: SignatureRule, Severity: Error, Description: "versions in signing.required stages carry a bundle that verifies against a trusted root", check: checkSignature}
	at := len(builtin)
	for i, b := range builtin {
		if b.ID == "version-immutable" {
			at = i + 1
		}
	}
	builtin = slices.Insert(builtin, at, r)
}

// checkSignature asks opts.Signatures about every version a model pins in a
// signing.required stage, once per version, and reports at the first such
// stage. Without Signatures (no trust roots given) it checks nothing.
func checkSignature(c *checkContext) []Finding {
	check := c.opts.Signatures
	if check == nil {
		return nil
	}
	var out []Finding
	for _, m := range c.inv.Models {
		if !m.Valid {
			continue
		}
		seen := map[string]bool{}
		for _, stage := range c.inv.Settings.Signing.Required {
			v, ok := m.Stages[stage]
			if !ok || seen[v] {
				continue
			}
			seen[v] = true
			if _, ok := m.Versions[v]; !ok {
				continue // stage-version reports it
			}
			if err := check(m.Name, v); err != nil {
				out = append(out, finding(SignatureRule, m.Name, m.Pos("stages", stage),
					fmt.Sprintf("stages.%s: version %s has no valid signature: %v", stage, v, err)))
			}
		}
	}
	return out
}

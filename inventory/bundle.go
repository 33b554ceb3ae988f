package inventory

import "path"

// BundlePath returns where the Sigstore bundle of model@version lives,
// slash-separated and relative to the inventory root:
// models/<model>/signatures/<version>.sigstore.json.
func BundlePath(model, version string) string {
	return path.Join(ModelsDir, model, "signatures", version+".sigstore.json")
}

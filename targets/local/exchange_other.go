//go:build !linux

package local

import "os"

// exchange swaps the entries a and b of directory dir inside root. Without
// renameat2 there is a short window in which b is missing.
func exchange(root *os.Root, dir, a, b string) error {
	return exchangeFallback(root, dir, a, b)
}

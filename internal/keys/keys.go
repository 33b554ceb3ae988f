// Package keys lists the keys of a map in order.
package keys

import "sort"

// Sorted returns the keys of m in increasing order. It allocates once, where
// slices.Sorted(maps.Keys(m)) grows its slice key by key: the rules call it
// for every model of an inventory.
func Sorted[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

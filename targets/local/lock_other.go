//go:build !unix

package local

import "context"

// lockDir serialises applies between processes where flock exists; here
// only the in-process mutex does.
func lockDir(context.Context, string) (func(), error) { return func() {}, nil }

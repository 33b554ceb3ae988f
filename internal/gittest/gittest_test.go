package gittest_test

import (
	"context"
	"testing"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/gittest"
)

func TestSeedAndBranches(t *testing.T) {
	tests := []struct {
		name string
		opts []gittest.Option
		auth transport.AuthMethod
	}{
		{name: "anonymous"},
		{name: "basic auth", opts: []gittest.Option{gittest.WithBasicAuth("x-access-token", "s3cret")},
			auth: &githttp.BasicAuth{Username: "x-access-token", Password: "s3cret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := gittest.NewRemote(t, tt.opts...)
			assert.Empty(t, r.Branches(t))

			first := r.Seed(t, "main", map[string]string{"a.txt": "one", "dir/b.txt": "two"}, "first")
			second := r.Seed(t, "main", map[string]string{"a.txt": "changed"}, "second")
			other := r.Seed(t, "feature", map[string]string{"c.txt": "three"}, "other")
			assert.NotEqual(t, first, second)
			assert.Equal(t, map[string]string{"main": second, "feature": other}, r.Branches(t))

			ctx := context.Background()
			clone, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{
				URL: r.URL, Auth: tt.auth, ReferenceName: plumbing.NewBranchReferenceName("main"),
			})
			require.NoError(t, err)
			head, err := clone.Head()
			require.NoError(t, err)
			assert.Equal(t, second, head.Hash().String())
			c, err := clone.CommitObject(head.Hash())
			require.NoError(t, err)
			require.Len(t, c.ParentHashes, 1)
			assert.Equal(t, first, c.ParentHashes[0].String())
			f, err := c.File("dir/b.txt")
			require.NoError(t, err)
			content, err := f.Contents()
			require.NoError(t, err)
			assert.Equal(t, "two", content)
			f, err = c.File("a.txt")
			require.NoError(t, err)
			content, err = f.Contents()
			require.NoError(t, err)
			assert.Equal(t, "changed", content)
		})
	}
}

func TestBasicAuthRejectsWrongToken(t *testing.T) {
	r := gittest.NewRemote(t, gittest.WithBasicAuth("x-access-token", "right"))
	r.Seed(t, "main", map[string]string{"a": "b"}, "seed")
	_, err := git.CloneContext(context.Background(), memory.NewStorage(), nil, &git.CloneOptions{
		URL: r.URL, Auth: &githttp.BasicAuth{Username: "x-access-token", Password: "wrong"},
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, transport.ErrAuthenticationRequired)
}

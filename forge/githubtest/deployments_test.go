package githubtest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v62/github"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/forge/githubtest"
)

// TestDeploymentsRejectWhatGitHubRejects: the deployment endpoints answer
// as GitHub documents, refusals included.
func TestDeploymentsRejectWhatGitHubRejects(t *testing.T) {
	tip := strings.Repeat("a", 40)
	old := strings.Repeat("b", 40)
	s := githubtest.New(t, githubtest.WithBranches(func() (map[string]string, error) {
		return map[string]string{"main": tip}, nil
	}))
	gh := client(t, s, s.Token)
	ctx := context.Background()
	no, none := false, []string{}
	code := func(err error) int {
		var er *github.ErrorResponse
		if assertErr := assert.ErrorAs(t, err, &er); !assertErr {
			return 0
		}
		return er.Response.StatusCode
	}

	tests := []struct {
		name string
		req  github.DeploymentRequest
		want int
	}{
		{"no ref", github.DeploymentRequest{AutoMerge: &no, RequiredContexts: &none}, http.StatusUnprocessableEntity},
		{"unknown ref", github.DeploymentRequest{Ref: github.String("nope"), AutoMerge: &no, RequiredContexts: &none}, http.StatusUnprocessableEntity},
		{"auto_merge into a sha", github.DeploymentRequest{Ref: &old, RequiredContexts: &none}, http.StatusConflict},
		{"required contexts not success", github.DeploymentRequest{Ref: &old, AutoMerge: &no, RequiredContexts: &[]string{"ci"}}, http.StatusConflict},
		{"every context checked by default", github.DeploymentRequest{Ref: &old, AutoMerge: &no}, http.StatusConflict},
	}
	_, _, err := gh.Repositories.CreateStatus(ctx, "acme", "models", old, &github.RepoStatus{State: github.String("failure"), Context: github.String("ci")})
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := gh.Repositories.CreateDeployment(ctx, "acme", "models", &tt.req)
			assert.Equal(t, tt.want, code(err))
		})
	}
	assert.Empty(t, s.Deployments())

	// A sha with auto_merge false and no required contexts is deployed.
	d, resp, err := gh.Repositories.CreateDeployment(ctx, "acme", "models", &github.DeploymentRequest{
		Ref: &old, AutoMerge: &no, RequiredContexts: &none, Environment: github.String("prod"),
		Payload: map[string]any{"models": []string{"m"}},
	})
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, old, d.GetSHA())
	assert.Equal(t, "prod", d.GetEnvironment())
	// A branch that is the default branch may auto-merge (nothing to merge).
	_, _, err = gh.Repositories.CreateDeployment(ctx, "acme", "models", &github.DeploymentRequest{Ref: github.String("main"), RequiredContexts: &none})
	require.NoError(t, err)

	_, _, err = gh.Repositories.CreateDeploymentStatus(ctx, "acme", "models", d.GetID(), &github.DeploymentStatusRequest{State: github.String("done")})
	assert.Equal(t, http.StatusUnprocessableEntity, code(err))
	_, _, err = gh.Repositories.CreateDeploymentStatus(ctx, "acme", "models", d.GetID(), &github.DeploymentStatusRequest{State: github.String("success"), Description: github.String(strings.Repeat("x", 141))})
	assert.Equal(t, http.StatusUnprocessableEntity, code(err))
	_, _, err = gh.Repositories.CreateDeploymentStatus(ctx, "acme", "models", 999999, &github.DeploymentStatusRequest{State: github.String("success")})
	assert.Equal(t, http.StatusNotFound, code(err))
	for _, st := range []string{"in_progress", "success"} {
		_, _, err = gh.Repositories.CreateDeploymentStatus(ctx, "acme", "models", d.GetID(), &github.DeploymentStatusRequest{State: github.String(st), EnvironmentURL: github.String("https://prod.example")})
		require.NoError(t, err)
	}
	ds := s.Deployments()
	require.Len(t, ds, 2)
	require.Len(t, ds[0].Statuses, 2)
	assert.Equal(t, "in_progress", ds[0].Statuses[0].State)
	assert.Equal(t, "success", ds[0].Statuses[1].State)
	assert.Equal(t, "https://prod.example", ds[0].Statuses[1].EnvironmentURL)
	assert.JSONEq(t, `{"models":["m"]}`, string(ds[0].Payload))
}

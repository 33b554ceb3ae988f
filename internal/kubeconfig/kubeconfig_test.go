package kubeconfig_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/internal/kubeconfig"
)

const twoContexts = `apiVersion: v1
kind: Config
clusters:
- name: a
  cluster: {server: "https://127.0.0.1:6443"}
- name: b
  cluster: {server: "https://127.0.0.1:7443"}
users:
- name: u
  user: {token: secret-token}
contexts:
- name: first
  context: {cluster: a, user: u}
- name: second
  context: {cluster: b, user: u}
current-context: first
`

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	require.NoError(t, os.WriteFile(path, []byte(twoContexts), 0o600))
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", dir)

	cfg, err := kubeconfig.Load(path, "")
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:6443", cfg.Host)
	assert.Equal(t, "secret-token", cfg.BearerToken)

	cfg, err = kubeconfig.Load(path, "second")
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:7443", cfg.Host)

	_, err = kubeconfig.Load(path, "third")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"third"`)

	_, err = kubeconfig.Load(filepath.Join(dir, "absent"), "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "absent")

	// KUBECONFIG lists the files when no path is given.
	t.Setenv("KUBECONFIG", path)
	assert.Equal(t, []string{path}, kubeconfig.Files(""))
	cfg, err = kubeconfig.Load("", "second")
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.1:7443", cfg.Host)
}

func TestNoCredentials(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	assert.Empty(t, kubeconfig.Files(""))
	_, err := kubeconfig.Load("", "")
	assert.ErrorIs(t, err, kubeconfig.ErrNoCredentials)
}

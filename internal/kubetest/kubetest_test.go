package kubetest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/cairnops/cairn/internal/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// TestCluster starts the real apiserver, installs both of KServe's CRDs in
// turn and checks that RBAC is on: the admin may, nobody may not.
func TestCluster(t *testing.T) {
	c := kubetest.Get(t)
	ctx := context.Background()
	ns := c.Namespace(t)
	for _, crd := range []string{kubetest.FullCRD, kubetest.MinimalCRD} {
		require.NoError(t, c.InstallCRD(ctx, crd), crd)
		dyn, err := dynamic.NewForConfig(c.Admin())
		require.NoError(t, err)
		_, err = dyn.Resource(kubetest.InferenceServices).Namespace(ns).List(ctx, metav1.ListOptions{})
		require.NoError(t, err)
	}
	cs, err := kubernetes.NewForConfig(c.Config(kubetest.NobodyToken))
	require.NoError(t, err)
	_, err = cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	assert.True(t, apierrors.IsForbidden(err), "nobody lists secrets: %v", err)
}

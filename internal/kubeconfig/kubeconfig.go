// Package kubeconfig loads the operator's Kubernetes credentials: a
// kubeconfig file given by flag, the files KUBECONFIG lists, ~/.kube/config,
// or the in-cluster service account, in that order, as kubectl does.
package kubeconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrNoCredentials is returned when no kubeconfig is found and cairn does
// not run in a cluster.
var ErrNoCredentials = errors.New("no Kubernetes credentials: pass --kubeconfig, set KUBECONFIG, or run in a cluster")

// Files returns the kubeconfig files Load would read for path: path
// itself when set, else the files KUBECONFIG lists, else ~/.kube/config
// when it exists. Callers check them against the repository under review.
func Files(path string) []string {
	if path != "" {
		return []string{path}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	var out []string
	for _, f := range rules.Precedence {
		if _, err := os.Stat(f); err == nil {
			out = append(out, f)
		}
	}
	return out
}

// Load returns the client configuration of context (the current context
// when empty) from path or the default kubeconfig files, or the in-cluster
// configuration when there are none and context is empty.
func Load(path, context string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", path, err)
		}
		rules.ExplicitPath = abs
	}
	if path == "" && len(Files("")) == 0 {
		if context != "" {
			return nil, fmt.Errorf("kubeconfig context %q: %w", context, ErrNoCredentials)
		}
		cfg, err := rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, ErrNoCredentials
		}
		return cfg, err
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: context}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

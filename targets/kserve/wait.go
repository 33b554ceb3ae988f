package kserve

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ErrNotReady is wrapped by Wait's error for a model that failed to load or
// was not ready in time.
var ErrNotReady = errors.New("not ready")

// pollInterval is how often Wait reads an InferenceService.
const pollInterval = 250 * time.Millisecond

// Wait waits until every InferenceService the last Apply wrote is ready:
// condition Ready, and where KServe reports them, transitionStatus
// UpToDate and activeModelState Loaded. A status is trusted only once the
// object changed after the write (status.observedGeneration proves nothing
// for KServe, which copies it from the child Deployment). It returns, by
// model, nil for a ready one and an error wrapping ErrNotReady for one that
// failed to load (with KServe's lastFailureInfo) or was not ready by the
// time ctx ended.
func (t *Target) Wait(ctx context.Context) map[string]error {
	out := map[string]error{}
	pending := maps.Clone(t.written)
	last := map[string]string{}
	for len(pending) > 0 {
		for _, name := range slices.Sorted(maps.Keys(pending)) {
			o, err := t.client.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				if ctx.Err() != nil {
					break
				}
				last[name] = t.apiError("get "+t.Object(name), err).Error()
				continue
			}
			if o.GetResourceVersion() == pending[name] {
				last[name] = "no status since the apply"
				continue
			}
			st := status(o)
			switch {
			case st.Ready:
				out[name] = nil
				delete(pending, name)
			case isFailure(o):
				out[name] = fmt.Errorf("%s %w: %s", t.Object(name), ErrNotReady, st.Reason)
				delete(pending, name)
			default:
				last[name] = st.Reason
			}
		}
		if len(pending) == 0 {
			break
		}
		select {
		case <-ctx.Done():
			for name := range pending {
				out[name] = fmt.Errorf("%s %w in time: %s", t.Object(name), ErrNotReady, last[name])
			}
			return out
		case <-time.After(pollInterval):
		}
	}
	return out
}

// isFailure reports whether KServe says the model failed to load.
func isFailure(o *unstructured.Unstructured) bool {
	st, ok := o.Object["status"].(map[string]any)
	return ok && failure(st) != ""
}

package reconciler_test

import (
	"context"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cairnops/cairn/reconciler"
)

// TestApplyProgress: every artifact Apply copies goes through
// Options.Progress, labelled with its URI, and arrives whole.
func TestApplyProgress(t *testing.T) {
	dir := quickstart(t)
	opts := options(t)
	var mu sync.Mutex
	var labels []string
	opts.Progress = func(label string, r io.Reader, size int64) io.Reader {
		mu.Lock()
		defer mu.Unlock()
		labels = append(labels, label)
		return r
	}
	res, err := reconciler.Apply(context.Background(), checkAt(t, dir, ""), opts)
	require.NoError(t, err)
	require.Equal(t, "Applied: 5 created, 0 updated, 0 deleted, 0 unchanged", lastLine(res.String()))
	sort.Strings(labels)
	assert.Contains(t, labels, "copying file://artifacts/fraud-detector/2.3.0/model.onnx")
	assert.Contains(t, labels, "copying file://artifacts/churn-predictor/1.5.0/model.joblib")
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	return lines[len(lines)-1]
}

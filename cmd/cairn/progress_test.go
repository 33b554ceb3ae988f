package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestShowProgress: progress only on a terminal, and never with --quiet.
func TestShowProgress(t *testing.T) {
	for _, tc := range []struct {
		terminal, quiet, want bool
	}{
		{terminal: true, quiet: false, want: true},
		{terminal: true, quiet: true, want: false},
		{terminal: false, quiet: false, want: false},
		{terminal: false, quiet: true, want: false},
	} {
		assert.Equal(t, tc.want, showProgress(tc.terminal, tc.quiet), "terminal=%v quiet=%v", tc.terminal, tc.quiet)
	}
}

// TestProgressOffWhenNotATerminal: a buffer (as a pipe) gets no progress
// functions at all, quiet or not.
func TestProgressOffWhenNotATerminal(t *testing.T) {
	var b bytes.Buffer
	g := &globalOptions{stdout: io.Discard, stderr: &b}
	assert.Nil(t, g.modelProgress())
	r := strings.NewReader("x")
	assert.Same(t, r, g.progress("copying", r, -1))
	assert.Empty(t, b.String())
}

// TestCountProgress: the first count shows at once, and the line is
// cleared when all are done. (Later counts are throttled by time, which
// this test does not assert on.)
func TestCountProgress(t *testing.T) {
	var b bytes.Buffer
	p := countProgress(&b, "evaluating models")
	p(1, 3)
	assert.Equal(t, "\r\033[Kevaluating models: 1/3", b.String())
	p(3, 3)
	assert.True(t, strings.HasSuffix(b.String(), "\r\033[K"), "%q", b.String())

	b.Reset()
	q := countProgress(&b, "evaluating models")
	q(1, 1)
	assert.Empty(t, b.String(), "nothing to clear when nothing was shown")
}

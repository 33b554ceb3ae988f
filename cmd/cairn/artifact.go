package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/term"
)

// progressMin is the size from which progress is shown.
const progressMin = 64 << 20

// showProgress decides whether progress goes to stderr: only on a
// terminal, and never with --quiet, as cosign and gh do. Piped or
// redirected, stderr carries diagnostics and nothing more.
func showProgress(isTerminal, quiet bool) bool { return isTerminal && !quiet }

// progressOn reports whether g shows progress (showProgress for its stderr).
func (g *globalOptions) progressOn() bool {
	f, ok := g.stderr.(*os.File)
	return showProgress(ok && term.IsTerminal(int(f.Fd())), g.quiet)
}

// progress wraps r to show "label: 512 MiB / 1.0 GiB (50%)" on stderr when
// progressOn and the stream is large or of unknown size; r comes back as it
// is otherwise. It has the shape of gate.Options.Progress and
// reconciler.Options.Progress.
func (g *globalOptions) progress(label string, r io.Reader, size int64) io.Reader {
	if !g.progressOn() {
		return r
	}
	if size >= 0 && size < progressMin {
		return r
	}
	return &progressReader{r: r, p: &progressLine{w: g.stderr, label: label, size: size}}
}

// progressLine prints a progress line at most a few times a second and
// clears it at the end of the stream.
type progressLine struct {
	w     io.Writer
	label string
	size  int64
	n     int64
	last  time.Time
}

func (p *progressLine) add(n int) {
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		if p.size > 0 {
			fmt.Fprintf(p.w, "\r\033[K%s: %s / %s (%d%%)", p.label, human(p.n), human(p.size), p.n*100/p.size)
		} else {
			fmt.Fprintf(p.w, "\r\033[K%s: %s", p.label, human(p.n))
		}
	}
}

func (p *progressLine) done() {
	if !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// modelProgress returns an inventory.Options.Progress that shows
// "evaluating models: 1234/10000" on stderr while progressOn, nil otherwise.
func (g *globalOptions) modelProgress() func(done, total int) {
	if !g.progressOn() {
		return nil
	}
	return countProgress(g.stderr, "evaluating models")
}

// countProgress returns a progress function that writes "label: done/total"
// to w at most a few times a second and clears the line when done == total.
func countProgress(w io.Writer, label string) func(done, total int) {
	var last time.Time
	shown := false
	return func(done, total int) {
		if done >= total {
			if shown {
				fmt.Fprint(w, "\r\033[K")
			}
			return
		}
		if now := time.Now(); now.Sub(last) >= 200*time.Millisecond {
			last, shown = now, true
			fmt.Fprintf(w, "\r\033[K%s: %d/%d", label, done, total)
		}
	}
}

type progressReader struct {
	r io.Reader
	p *progressLine
}

func (r *progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.add(n)
	if err != nil {
		r.p.done()
	}
	return n, err
}

// human renders a byte count in binary units.
func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d KiB", n>>10)
	}
}

package monitor

import (
	"fmt"
	"strings"
	"time"
)

// maxRows is how many samples Markdown lists before it elides the middle.
const maxRows = 24

// Markdown renders the evidence of r for a pull-request body: the monitor,
// its query, bounds, window, the reported series and a table of its values.
// Values out of bounds are marked. Long series keep their first and last
// samples. The text is GitHub-flavoured Markdown.
func Markdown(r Result) string {
	m := r.Monitor
	var b strings.Builder
	state := "not breached"
	switch {
	case r.Breached:
		state = "breached"
	case !r.Covered:
		state = "not breached (window not covered)"
	}
	fmt.Fprintf(&b, "#### Monitor %s of %s: %s\n\n", code(m.Name), code(m.Model), state)
	fence := strings.Repeat("`", max(3, longestRun(m.Query, '`')+1))
	fmt.Fprintf(&b, "%spromql\n%s\n%s\n\n", fence, strings.TrimSpace(m.Query), fence)

	b.WriteString("| | |\n|---|---|\n")
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "| %s | %s |\n", k, v)
		}
	}
	row("Source", code(m.Source))
	bnd := r.Bound
	if bnd == "" {
		bnd = bound(m)
	}
	row("Bound", cell(bnd)+" for "+duration(m.For))
	row("Window", fmt.Sprintf("%s – %s (step %s)", stamp(r.Window[0]), stamp(r.Window[1]), duration(r.Step)))
	series := code(r.Series)
	if r.SeriesCount > 1 {
		series += fmt.Sprintf(" (%d of %d series breaching)", len(r.Breaching), r.SeriesCount)
	}
	row("Series", series)
	row("Observed", cell(r.Observed))
	var action []string
	if m.Action != "" {
		action = append(action, m.Action)
	}
	for _, kv := range [][2]string{{"stage", m.Stage}, {"kind", m.Kind}} {
		if kv[1] != "" {
			action = append(action, kv[0]+" "+kv[1])
		}
	}
	row("Action", cell(strings.Join(action, ", ")))

	if len(r.Samples) > 0 {
		b.WriteString("\n| Time (UTC) | Value | |\n|---|--:|---|\n")
		for i, s := range r.Samples {
			if len(r.Samples) > maxRows && i == maxRows/4 {
				fmt.Fprintf(&b, "| … | | %d more |\n", len(r.Samples)-maxRows)
			}
			if len(r.Samples) > maxRows && i >= maxRows/4 && i < len(r.Samples)-maxRows*3/4 {
				continue
			}
			mark := ""
			switch {
			case m.Min != nil && s.Value < *m.Min:
				mark = "below min"
			case m.Max != nil && s.Value > *m.Max:
				mark = "above max"
			}
			if mark != "" {
				mark += " "
			}
			fmt.Fprintf(&b, "| %s | %s | %s|\n", stamp(s.Time), num(s.Value), mark)
		}
	}
	return b.String()
}

// Evidence returns the evidence of r as a reviewer reads it, without the
// clock: the monitor (model, name, query, source, stage, action, kind), its
// bound and duration, the decision (breached, pending or not), the
// reported series, the breaching series, and the window's extreme values
// nearest the bound (the margin of a breach). Window times, sample
// timestamps and the last value are left out, so the same breach evaluated
// a minute later gives the same text; values that move the margin, or
// another series breaching, change it.
func Evidence(r Result) string {
	m := r.Monitor
	state := "not breached"
	switch {
	case r.Breached:
		state = "breached"
	case r.Pending:
		state = "pending"
	}
	bnd := r.Bound
	if bnd == "" {
		bnd = bound(m)
	}
	lines := []string{
		"monitor " + m.Model + "/" + m.Name,
		"query " + strings.TrimSpace(m.Query),
		"source " + m.Source, "stage " + m.Stage, "action " + m.Action, "kind " + m.Kind,
		"bound " + bnd + " for " + duration(m.For),
		"state " + state,
		"series " + r.Series,
		fmt.Sprintf("series count %d", r.SeriesCount),
		"breaching " + strings.Join(r.Breaching, " "),
	}
	if len(r.Samples) > 0 {
		lo, hi := r.Samples[0].Value, r.Samples[0].Value
		for _, s := range r.Samples {
			lo, hi = min(lo, s.Value), max(hi, s.Value)
		}
		if m.Max != nil {
			lines = append(lines, "min "+num(lo))
		}
		if m.Min != nil {
			lines = append(lines, "max "+num(hi))
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// code renders s as an inline code span that survives a table cell.
func code(s string) string {
	if s == "" {
		return ""
	}
	ticks := strings.Repeat("`", longestRun(s, '`')+1)
	pad := ""
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		pad = " "
	}
	return ticks + pad + cell(s) + pad + ticks
}

// cell escapes text for one GitHub table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.Join(strings.Fields(s), " ")
}

func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

package monitor_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/cairnops/cairn/monitor"
)

func ExampleMarkdown() {
	floor := 0.9
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	r := monitor.Result{
		Monitor: monitor.Monitor{Model: "fraud-detector", Name: "accuracy", Query: `avg(model_accuracy{model="fraud-detector"})`,
			Source: "default", Stage: "production", Action: "rollback", Kind: "performance", Min: &floor, For: 3 * time.Minute},
		Breached: true, Covered: true,
		Window: [2]time.Time{now.Add(-3 * time.Minute), now}, Step: time.Minute,
		Samples: []monitor.Sample{
			{Time: now.Add(-3 * time.Minute), Value: 0.85}, {Time: now.Add(-2 * time.Minute), Value: 0.84},
			{Time: now.Add(-time.Minute), Value: 0.83}, {Time: now, Value: 0.82},
		},
		Series: `{model="fraud-detector"}`, Breaching: []string{`{model="fraud-detector"}`}, SeriesCount: 1,
		Bound: "min 0.9", Observed: "last 0.82, max 0.85 over 3m",
	}
	fmt.Print(monitor.Markdown(r))
	// Output:
	// #### Monitor `accuracy` of `fraud-detector`: breached
	//
	// ```promql
	// avg(model_accuracy{model="fraud-detector"})
	// ```
	//
	// | | |
	// |---|---|
	// | Source | `default` |
	// | Bound | min 0.9 for 3m |
	// | Window | 2026-11-23T01:57:00Z – 2026-11-23T02:00:00Z (step 1m) |
	// | Series | `{model="fraud-detector"}` |
	// | Observed | last 0.82, max 0.85 over 3m |
	// | Action | rollback, stage production, kind performance |
	//
	// | Time (UTC) | Value | |
	// |---|--:|---|
	// | 2026-11-23T01:57:00Z | 0.85 | below min |
	// | 2026-11-23T01:58:00Z | 0.84 | below min |
	// | 2026-11-23T01:59:00Z | 0.83 | below min |
	// | 2026-11-23T02:00:00Z | 0.82 | below min |
}

func TestMarkdown(t *testing.T) {
	ceiling := 0.2
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	samples := make([]monitor.Sample, 100)
	for i := range samples {
		samples[i] = monitor.Sample{Time: now.Add(time.Duration(i-99) * time.Minute), Value: float64(i) / 100}
	}
	r := monitor.Result{
		Monitor: monitor.Monitor{Model: "m", Name: "drift", Query: "label_replace(x, \"a\", \"|\", \"b\", \"`(.*)```\")",
			Max: &ceiling, For: 99 * time.Minute},
		Window: [2]time.Time{now.Add(-99 * time.Minute), now}, Step: time.Minute,
		Samples: samples, Series: "x{a=\"p|q`\"}", SeriesCount: 3, Bound: "max 0.2",
	}
	md := monitor.Markdown(r)

	assert.Contains(t, md, ": not breached (window not covered)\n")
	// The query's backticks need a longer fence.
	assert.Contains(t, md, "````promql\nlabel_replace(x, \"a\", \"|\", \"b\", \"`(.*)```\")\n````\n")
	// Pipes are escaped in table cells, code spans outlast the backticks inside.
	assert.Contains(t, md, "| Series | ``x{a=\"p\\|q`\"}`` (0 of 3 series breaching) |\n")
	assert.Contains(t, md, "| Bound | max 0.2 for 1h39m |\n")
	assert.NotContains(t, md, "| Source |", "empty rows are left out")
	// 100 samples: the first 6 and last 18 are listed around an elision.
	rows := strings.Count(md, "\n| 2026-")
	assert.Equal(t, 24, rows)
	assert.Contains(t, md, "| 2026-11-23T00:26:00Z | 0.05 | |\n| … | | 76 more |\n| 2026-11-23T01:43:00Z | 0.82 | above max |\n")
	assert.True(t, strings.HasSuffix(md, "| 2026-11-23T02:00:00Z | 0.99 | above max |\n"))
}

func ExampleEvidence() {
	floor := 0.9
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	r := monitor.Result{
		Monitor: monitor.Monitor{Model: "fraud-detector", Name: "accuracy", Query: `avg(model_accuracy{model="fraud-detector"})`,
			Source: "default", Stage: "production", Action: "rollback", Kind: "performance", Min: &floor, For: 3 * time.Minute},
		Breached: true, Covered: true,
		Window: [2]time.Time{now.Add(-3 * time.Minute), now}, Step: time.Minute,
		Samples: []monitor.Sample{{Time: now.Add(-time.Minute), Value: 0.85}, {Time: now, Value: 0.82}},
		Series:  `{model="fraud-detector"}`, Breaching: []string{`{model="fraud-detector"}`}, SeriesCount: 1,
		Bound: "min 0.9", Observed: "last 0.82, max 0.85 over 3m",
	}
	fmt.Print(monitor.Evidence(r))
	// Output:
	// monitor fraud-detector/accuracy
	// query avg(model_accuracy{model="fraud-detector"})
	// source default
	// stage production
	// action rollback
	// kind performance
	// bound min 0.9 for 3m
	// state breached
	// series {model="fraud-detector"}
	// series count 1
	// breaching {model="fraud-detector"}
	// max 0.85
}

// TestEvidenceLeavesOutTheClock: a later window with the same values and
// margin gives the same evidence; a deeper breach does not.
func TestEvidenceLeavesOutTheClock(t *testing.T) {
	floor := 0.9
	at := func(now time.Time, vals ...float64) monitor.Result {
		r := monitor.Result{
			Monitor:  monitor.Monitor{Model: "m", Name: "acc", Query: "q", Min: &floor, For: 2 * time.Minute},
			Breached: true, Covered: true, Window: [2]time.Time{now.Add(-2 * time.Minute), now}, Step: time.Minute,
			Series: "q{}", Breaching: []string{"q{}"}, SeriesCount: 1, Bound: "min 0.9",
		}
		for i, v := range vals {
			r.Samples = append(r.Samples, monitor.Sample{Time: now.Add(time.Duration(i-len(vals)+1) * time.Minute), Value: v})
		}
		return r
	}
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	first := monitor.Evidence(at(now, 0.8, 0.85, 0.82))
	assert.Equal(t, first, monitor.Evidence(at(now.Add(time.Minute), 0.85, 0.82, 0.81)), "same margin, later")
	assert.NotEqual(t, first, monitor.Evidence(at(now.Add(3*time.Minute), 0.7, 0.7, 0.7)), "worse")
	assert.NotContains(t, first, "2026")
}

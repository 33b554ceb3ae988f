package kserve_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/cairnops/cairn/internal/kubetest"
	"github.com/cairnops/cairn/targets"
	"github.com/cairnops/cairn/targets/kserve"
)

// countingTransport counts the API calls, and the writes among them.
type countingTransport struct {
	next          http.RoundTripper
	calls, writes atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.calls.Add(1)
	if r.Method != http.MethodGet {
		c.writes.Add(1)
	}
	return c.next.RoundTrip(r)
}

// BenchmarkKServe200 measures 200 models on one kserve target against the
// real API server: the cold apply (the namespace empty), a no-op re-apply
// and a drift observation, with the API calls of each.
//
//	go test ./targets/kserve -run '^$' -bench KServe200 -benchtime 5x
func BenchmarkKServe200(b *testing.B) {
	ctx := context.Background()
	c := kubetest.Get(b)
	if err := c.InstallCRD(ctx, kubetest.FullCRD); err != nil {
		b.Fatal(err)
	}
	a := artifacts{}
	desired := make([]targets.Model, 200)
	for i := range desired {
		desired[i] = a.model(fmt.Sprintf("model-%03d", i), "1.0.0")
	}
	open := targets.OpenFunc(a.open)
	counter := &countingTransport{}
	cfg := rest.CopyConfig(c.Admin())
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter }
	newTarget := func(ns string) *kserve.Target {
		tg, err := kserve.New(cfg, "prod", ns, kserve.Options{})
		if err != nil {
			b.Fatal(err)
		}
		return tg
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(counter.calls.Load())/float64(b.N), "calls/op")
		b.ReportMetric(float64(counter.writes.Load())/float64(b.N), "writes/op")
	}

	b.Run("cold-apply", func(b *testing.B) {
		namespaces := make([]string, b.N)
		for i := range namespaces {
			namespaces[i] = c.Namespace(b)
		}
		counter.calls.Store(0)
		counter.writes.Store(0)
		b.ResetTimer()
		for i := range b.N {
			if _, err := newTarget(namespaces[i]).Apply(ctx, "rev1", desired, open); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	ns := c.Namespace(b)
	tg := newTarget(ns)
	if _, err := tg.Apply(ctx, "rev1", desired, open); err != nil {
		b.Fatal(err)
	}
	b.Run("noop-apply", func(b *testing.B) {
		counter.calls.Store(0)
		counter.writes.Store(0)
		for range b.N {
			if _, err := tg.Apply(ctx, "rev2", desired, open); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("drift", func(b *testing.B) {
		counter.calls.Store(0)
		counter.writes.Store(0)
		for range b.N {
			obs, err := tg.Observe(ctx, desired)
			if err != nil {
				b.Fatal(err)
			}
			if len(obs) != len(desired) {
				b.Fatalf("observed %d, want %d", len(obs), len(desired))
			}
		}
		report(b)
	})
}

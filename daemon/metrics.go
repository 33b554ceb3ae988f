package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/cairnops/cairn/inventory"
	"github.com/cairnops/cairn/reconciler"
)

// metrics are the daemon's Prometheus metrics (DESIGN.md §5).
type metrics struct {
	reg        *prometheus.Registry
	reconciles *prometheus.CounterVec
	duration   prometheus.Histogram
	applied    *prometheus.GaugeVec
	models     *prometheus.GaugeVec
	findings   *prometheus.GaugeVec
	leader     prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_reconcile_total", Help: "Reconciles by result: applied, unchanged, refused, failed, error.",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cairn_reconcile_duration_seconds", Help: "How long a reconcile (fetch, load, validate, verify, apply) took.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}),
		applied: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cairn_applied_revision_info", Help: "1 for the revision last applied to each target.",
		}, []string{"target", "revision"}),
		models: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cairn_models", Help: "Models of the last good revision pinned at each stage.",
		}, []string{"stage"}),
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cairn_findings", Help: "Open findings by kind: validation, target drift, monitors.",
		}, []string{"kind"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cairn_leader", Help: "1 while this replica leads (always, without --leader-elect), 0 while it follows.",
		}),
	}
	for _, r := range []string{ResultApplied, ResultUnchanged, ResultRefused, ResultFailed, ResultError} {
		m.reconciles.WithLabelValues(r)
	}
	m.reg.MustRegister(m.reconciles, m.duration, m.applied, m.models, m.findings, m.leader,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// refreshMetrics sets the gauges from the state files and d's state.
func (d *Daemon) refreshMetrics(inv *inventory.Inventory) {
	m := d.metrics
	if st, err := reconciler.States(d.opts.StateDir); err == nil {
		m.applied.Reset()
		for name, ts := range st {
			if ts.LastAppliedRevision != "" {
				m.applied.WithLabelValues(name, ts.LastAppliedRevision).Set(1)
			}
		}
	}
	if inv != nil {
		m.models.Reset()
		for _, s := range inv.Settings.Stages {
			m.models.WithLabelValues(s)
		}
		for _, mod := range inv.Models {
			if !mod.Valid || mod.Retired {
				continue
			}
			for s := range mod.Stages {
				m.models.WithLabelValues(s).Inc()
			}
		}
	}
	m.findings.Reset()
	for _, f := range d.Status().Findings {
		m.findings.WithLabelValues(f.Kind).Inc()
	}
}

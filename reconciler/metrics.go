package reconciler

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the reconciler's Prometheus metrics. A nil *Metrics records nothing.
type Metrics struct {
	syncDuration *prometheus.HistogramVec
	syncs        *prometheus.CounterVec
	queue        prometheus.Gauge
	drifts       *prometheus.CounterVec
	targets      *prometheus.GaugeVec
	revisions    prometheus.Counter

	mu       sync.Mutex
	healthOf map[string]Health
}

// NewMetrics registers the reconciler's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		syncDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "slipway_sync_duration_seconds",
			Help:    "Time to apply one target, by result.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 14),
		}, []string{"result"}),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_syncs_total",
			Help: "Syncs that applied something, by result.",
		}, []string{"result"}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slipway_queue_depth",
			Help: "Targets waiting to be reconciled.",
		}),
		drifts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_drift_detected_total",
			Help: "Live changes to fields Slipway manages, by drift policy.",
		}, []string{"policy"}),
		targets: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "slipway_targets",
			Help: "Targets by health.",
		}, []string{"health"}),
		revisions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slipway_config_revisions_total",
			Help: "New config repo revisions seen.",
		}),
		healthOf: map[string]Health{},
	}
	reg.MustRegister(m.syncDuration, m.syncs, m.queue, m.drifts, m.targets, m.revisions)
	return m
}

func (m *Metrics) sync(d time.Duration, ok bool) {
	if m == nil {
		return
	}
	result := "succeeded"
	if !ok {
		result = "failed"
	}
	m.syncDuration.WithLabelValues(result).Observe(d.Seconds())
	m.syncs.WithLabelValues(result).Inc()
}

func (m *Metrics) queueDepth(n int) {
	if m != nil {
		m.queue.Set(float64(n))
	}
}

func (m *Metrics) drift(policy string) {
	if m != nil {
		m.drifts.WithLabelValues(policy).Inc()
	}
}

func (m *Metrics) revision(string) {
	if m != nil {
		m.revisions.Inc()
	}
}

// health moves a target between the per-health gauges each time its health is judged.
func (m *Metrics) health(key string, h Health) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.healthOf[key]; ok {
		if old == h {
			return
		}
		m.targets.WithLabelValues(string(old)).Dec()
	}
	m.healthOf[key] = h
	m.targets.WithLabelValues(string(h)).Inc()
}

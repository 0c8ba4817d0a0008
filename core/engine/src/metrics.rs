//! Live run metrics, rendered in the Prometheus text format (served by
//! `tributary run --metrics-addr`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tributary_cxone::SourceMetrics;

use crate::graph::Stats;

/// Metrics of the run in progress; cheap to read while it goes.
#[derive(Default)]
pub struct LiveMetrics {
    inner: Mutex<Inner>,
    /// Windows landed everywhere so far.
    pub windows_done: AtomicU64,
    /// Windows in the plan.
    pub windows_planned: AtomicU64,
}

#[derive(Default)]
struct Inner {
    pipeline: String,
    components: Vec<(String, String, Arc<Stats>)>,
    source: Option<(String, Arc<SourceMetrics>)>,
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl LiveMetrics {
    /// Starts a run's metrics.
    pub fn begin(&self, pipeline: &str, source: &str, metrics: Arc<SourceMetrics>) {
        if let Ok(mut g) = self.inner.lock() {
            g.pipeline = pipeline.to_string();
            g.source = Some((source.to_string(), metrics));
            g.components.clear();
        }
    }

    /// Registers a component's counters.
    pub fn component(&self, component: &str, type_name: &str, stats: Arc<Stats>) {
        if let Ok(mut g) = self.inner.lock() {
            g.components
                .push((component.to_string(), type_name.to_string(), stats));
        }
    }

    /// The Prometheus text exposition of everything known so far.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(g) = self.inner.lock() else { return out };
        let p = esc(&g.pipeline);
        let _ = writeln!(
            out,
            "# HELP tributary_windows_planned Export windows in this run's plan.\n# TYPE tributary_windows_planned gauge"
        );
        let _ = writeln!(
            out,
            "tributary_windows_planned{{pipeline=\"{p}\"}} {}",
            self.windows_planned.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP tributary_windows_done Export windows landed in every sink.\n# TYPE tributary_windows_done gauge"
        );
        let _ = writeln!(
            out,
            "tributary_windows_done{{pipeline=\"{p}\"}} {}",
            self.windows_done.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP tributary_records_in_total Records received by a component.\n# TYPE tributary_records_in_total counter"
        );
        for (c, t, s) in &g.components {
            let _ = writeln!(
                out,
                "tributary_records_in_total{{pipeline=\"{p}\",component=\"{}\",type=\"{}\"}} {}",
                esc(c),
                esc(t),
                s.records_in.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP tributary_records_out_total Records emitted (sources, transforms) or made durable (sinks).\n# TYPE tributary_records_out_total counter"
        );
        for (c, t, s) in &g.components {
            let _ = writeln!(
                out,
                "tributary_records_out_total{{pipeline=\"{p}\",component=\"{}\",type=\"{}\"}} {}",
                esc(c),
                esc(t),
                s.records_out.load(Ordering::Relaxed)
            );
        }
        if let Some((name, m)) = &g.source {
            let s = m.snapshot();
            let src = esc(name);
            let _ = writeln!(
                out,
                "# HELP tributary_source_requests_total HTTP answers by endpoint and status.\n# TYPE tributary_source_requests_total counter"
            );
            for (endpoint, statuses) in &s.requests {
                for (status, n) in statuses {
                    let _ = writeln!(
                        out,
                        "tributary_source_requests_total{{pipeline=\"{p}\",source=\"{src}\",endpoint=\"{}\",status=\"{}\"}} {n}",
                        esc(endpoint),
                        esc(status)
                    );
                }
            }
            for (metric, help, v) in [
                ("retries", "Requests retried.", s.retries),
                ("throttled", "429 answers.", s.throttled),
                ("server_errors", "5xx answers.", s.server_errors),
                ("timeouts", "Timeouts and transport errors.", s.timeouts),
                ("token_refreshes", "Tokens fetched.", s.token_refreshes),
                ("exports_created", "Export jobs created.", s.exports_created),
                ("window_splits", "Windows split after a 504.", s.splits),
                ("pages", "Pages decoded.", s.pages),
                ("records", "Records decoded.", s.records),
                (
                    "extra_fields",
                    "Unknown fields seen in records.",
                    s.extra_fields,
                ),
                ("bytes", "Response bytes received.", s.bytes),
            ] {
                let _ = writeln!(
                    out,
                    "# HELP tributary_source_{metric}_total {help}\n# TYPE tributary_source_{metric}_total counter"
                );
                let _ = writeln!(
                    out,
                    "tributary_source_{metric}_total{{pipeline=\"{p}\",source=\"{src}\"}} {v}"
                );
            }
            let _ = writeln!(
                out,
                "# HELP tributary_source_request_latency_ms Request latency by endpoint.\n# TYPE tributary_source_request_latency_ms summary"
            );
            for (endpoint, l) in &s.latency_ms {
                let e = esc(endpoint);
                for (q, v) in [("0.5", l.p50_ms), ("0.95", l.p95_ms), ("0.99", l.p99_ms)] {
                    let _ = writeln!(
                        out,
                        "tributary_source_request_latency_ms{{pipeline=\"{p}\",source=\"{src}\",endpoint=\"{e}\",quantile=\"{q}\"}} {v}"
                    );
                }
                let _ = writeln!(
                    out,
                    "tributary_source_request_latency_ms_sum{{pipeline=\"{p}\",source=\"{src}\",endpoint=\"{e}\"}} {}",
                    l.mean_ms * l.count as f64
                );
                let _ = writeln!(
                    out,
                    "tributary_source_request_latency_ms_count{{pipeline=\"{p}\",source=\"{src}\",endpoint=\"{e}\"}} {}",
                    l.count
                );
            }
            let l = &s.export_job_latency_ms;
            let _ = writeln!(
                out,
                "# HELP tributary_source_export_job_latency_ms Export job latency, create to completed.\n# TYPE tributary_source_export_job_latency_ms summary"
            );
            for (q, v) in [("0.5", l.p50_ms), ("0.95", l.p95_ms), ("0.99", l.p99_ms)] {
                let _ = writeln!(
                    out,
                    "tributary_source_export_job_latency_ms{{pipeline=\"{p}\",source=\"{src}\",quantile=\"{q}\"}} {v}"
                );
            }
            let _ = writeln!(
                out,
                "tributary_source_export_job_latency_ms_count{{pipeline=\"{p}\",source=\"{src}\"}} {}",
                l.count
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_components_and_source() {
        let m = LiveMetrics::default();
        m.begin("p1", "cxone", Arc::new(SourceMetrics::default()));
        let st = Arc::new(Stats::default());
        st.records_in.store(5, Ordering::Relaxed);
        st.records_out.store(4, Ordering::Relaxed);
        m.component("sinks.lake", "parquet", st);
        m.windows_planned.store(3, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("tributary_records_in_total{pipeline=\"p1\",component=\"sinks.lake\",type=\"parquet\"} 5"), "{text}");
        assert!(text.contains("tributary_records_out_total{pipeline=\"p1\",component=\"sinks.lake\",type=\"parquet\"} 4"));
        assert!(text.contains("tributary_windows_planned{pipeline=\"p1\"} 3"));
        assert!(text.contains("# TYPE tributary_source_retries_total counter"));
    }
}

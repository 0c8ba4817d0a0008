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
    /// True once the run has planned its windows and created every component (sinks
    /// reachable: their health checks passed): what `/ready` answers.
    pub ready: std::sync::atomic::AtomicBool,
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

/// The `# HELP` and `# TYPE` lines of a metric family.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

impl LiveMetrics {
    /// What the source waits for right now (a 429's Retry-After, a backoff, an export or
    /// Data Extraction job to finish, the call spacing), and until when.
    pub fn waiting(&self) -> Option<tributary_cxone::Waiting> {
        let g = self.inner.lock().ok()?;
        g.source.as_ref().and_then(|(_, m)| m.current_wait())
    }

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
        for (name, help, value) in [
            (
                "tributary_windows_planned",
                "Export windows in this run's plan.",
                &self.windows_planned,
            ),
            (
                "tributary_windows_done",
                "Export windows landed in every sink.",
                &self.windows_done,
            ),
        ] {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(
                out,
                "{name}{{pipeline=\"{p}\"}} {}",
                value.load(Ordering::Relaxed)
            );
        }
        for (name, help, emitted) in [
            (
                "tributary_records_in_total",
                "Records received by a component.",
                false,
            ),
            (
                "tributary_records_out_total",
                "Records emitted (sources, transforms) or made durable (sinks).",
                true,
            ),
        ] {
            header(&mut out, name, "counter", help);
            for (c, t, s) in &g.components {
                let counter = if emitted {
                    &s.records_out
                } else {
                    &s.records_in
                };
                let _ = writeln!(
                    out,
                    "{name}{{pipeline=\"{p}\",component=\"{}\",type=\"{}\"}} {}",
                    esc(c),
                    esc(t),
                    counter.load(Ordering::Relaxed)
                );
            }
        }
        if let Some((name, m)) = &g.source {
            let s = m.snapshot();
            let src = esc(name);
            header(
                &mut out,
                "tributary_source_requests_total",
                "counter",
                "HTTP answers by endpoint and status.",
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
                (
                    "spacing_refusals",
                    "Data Extraction 403 answers: calls closer than the tenant's spacing.",
                    s.spacing_refusals,
                ),
                (
                    "bad_values",
                    "Values their column's type cannot hold (landed as null).",
                    s.bad_values,
                ),
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
                let name = format!("tributary_source_{metric}_total");
                header(&mut out, &name, "counter", help);
                let _ = writeln!(out, "{name}{{pipeline=\"{p}\",source=\"{src}\"}} {v}");
            }
            header(
                &mut out,
                "tributary_source_request_latency_ms",
                "summary",
                "Request latency by endpoint.",
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
            header(
                &mut out,
                "tributary_source_export_job_latency_ms",
                "summary",
                "Export job latency, create to completed.",
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

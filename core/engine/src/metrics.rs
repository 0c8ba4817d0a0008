//! Live run metrics, rendered in the Prometheus text format (served by
//! `tributary run --metrics-addr`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tributary_source::{SourceMetrics, Waiting};

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
    source: Option<(String, Arc<dyn SourceMetrics>)>,
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
    pub fn waiting(&self) -> Option<Waiting> {
        let g = self.inner.lock().ok()?;
        g.source.as_ref().and_then(|(_, m)| m.waiting())
    }

    /// Starts a run's metrics.
    pub fn begin(&self, pipeline: &str, source: &str, metrics: Arc<dyn SourceMetrics>) {
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
            m.write_prometheus(
                &mut out,
                &format!("pipeline=\"{p}\",source=\"{}\"", esc(name)),
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
        struct Fake;
        impl SourceMetrics for Fake {
            fn snapshot(&self) -> serde_json::Value {
                serde_json::Value::Null
            }
            fn write_prometheus(&self, out: &mut String, labels: &str) {
                out.push_str(&format!(
                    "# TYPE source_pages_total counter\nsource_pages_total{{{labels}}} 7\n"
                ));
            }
        }
        m.begin("p1", "src", Arc::new(Fake));
        let st = Arc::new(Stats::default());
        st.records_in.store(5, Ordering::Relaxed);
        st.records_out.store(4, Ordering::Relaxed);
        m.component("sinks.lake", "parquet", st);
        m.windows_planned.store(3, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("tributary_records_in_total{pipeline=\"p1\",component=\"sinks.lake\",type=\"parquet\"} 5"), "{text}");
        assert!(text.contains("tributary_records_out_total{pipeline=\"p1\",component=\"sinks.lake\",type=\"parquet\"} 4"));
        assert!(text.contains("tributary_windows_planned{pipeline=\"p1\"} 3"));
        assert!(
            text.contains("source_pages_total{pipeline=\"p1\",source=\"src\"} 7"),
            "{text}"
        );
    }
}

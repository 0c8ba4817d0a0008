//! Live run metrics, rendered in the OpenMetrics text format by `prometheus-client`
//! (served by `tributary run --metrics-addr`, pushed by `--metrics-push`).

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tributary_source::{Labels, SourceMetrics, Waiting};

use crate::graph::Stats;

/// The media type of [`LiveMetrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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

    /// The OpenMetrics text exposition of everything known so far (through
    /// `prometheus-client`; counters end in `_total`, histograms have `_bucket`, `_sum` and
    /// `_count`, times are in seconds).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let Ok(g) = self.inner.lock() else { return out };
        let mut registry = Registry::with_prefix("tributary");
        let pipeline = || ("pipeline".to_string(), g.pipeline.clone());
        for (name, help, value) in [
            (
                "windows_planned",
                "Windows in this run's plan",
                &self.windows_planned,
            ),
            (
                "windows_done",
                "Windows landed in every sink",
                &self.windows_done,
            ),
        ] {
            let family = Family::<Labels, Gauge>::default();
            family
                .get_or_create(&vec![pipeline()])
                .set(i64::try_from(value.load(Ordering::Relaxed)).unwrap_or(i64::MAX));
            registry.register(name, help, family);
        }
        let records_in = Family::<Labels, Counter>::default();
        let records_out = Family::<Labels, Counter>::default();
        for (component, type_name, stats) in &g.components {
            let labels = vec![
                pipeline(),
                ("component".to_string(), component.clone()),
                ("type".to_string(), type_name.clone()),
            ];
            records_in
                .get_or_create(&labels)
                .inc_by(stats.records_in.load(Ordering::Relaxed));
            records_out
                .get_or_create(&labels)
                .inc_by(stats.records_out.load(Ordering::Relaxed));
        }
        registry.register("records_in", "Records received by a component", records_in);
        registry.register(
            "records_out",
            "Records emitted (sources, transforms) or made durable (sinks)",
            records_out,
        );
        if let Some((name, source)) = &g.source {
            let labels = [
                (Cow::Borrowed("pipeline"), Cow::Owned(g.pipeline.clone())),
                (Cow::Borrowed("source"), Cow::Owned(name.clone())),
            ];
            let sub = registry
                .sub_registry_with_prefix("source")
                .sub_registry_with_labels(labels.into_iter());
            source.register(sub);
        }
        if encode(&mut out, &registry).is_err() {
            out.clear();
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
            fn register(&self, registry: &mut Registry) {
                let pages: Counter = Counter::default();
                pages.inc_by(7);
                registry.register("pages", "Pages read", pages);
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
            text.contains("tributary_source_pages_total{pipeline=\"p1\",source=\"src\"} 7"),
            "{text}"
        );
    }
}

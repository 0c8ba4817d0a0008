//! The CXone source's live figures as the engine reads them
//! ([`tributary_source::SourceMetrics`]): the snapshot for summaries and the audit log,
//! the wait in progress, and its metric families for `prometheus-client`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tributary_source::Labels;

use crate::metrics::SourceMetrics;

impl tributary_source::SourceMetrics for SourceMetrics {
    fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(SourceMetrics::snapshot(self)).unwrap_or_default()
    }

    fn waiting(&self) -> Option<tributary_source::Waiting> {
        self.current_wait()
    }

    fn register(&self, registry: &mut Registry) {
        let s = SourceMetrics::snapshot(self);
        let requests = Family::<Labels, Counter>::default();
        for (endpoint, statuses) in &s.requests {
            for (status, n) in statuses {
                requests
                    .get_or_create(&vec![
                        ("endpoint".to_string(), endpoint.clone()),
                        ("status".to_string(), status.clone()),
                    ])
                    .inc_by(*n);
            }
        }
        registry.register("requests", "HTTP answers by endpoint and status", requests);
        for (metric, help, v) in [
            ("retries", "Requests retried", s.retries),
            ("throttled", "429 answers", s.throttled),
            (
                "spacing_refusals",
                "Data Extraction 403 answers: calls closer than the tenant's spacing",
                s.spacing_refusals,
            ),
            (
                "bad_values",
                "Values their column's type cannot hold (landed as null)",
                s.bad_values,
            ),
            ("server_errors", "5xx answers", s.server_errors),
            ("timeouts", "Timeouts and transport errors", s.timeouts),
            ("token_refreshes", "Tokens fetched", s.token_refreshes),
            ("exports_created", "Export jobs created", s.exports_created),
            ("window_splits", "Windows split after a 504", s.splits),
            ("pages", "Pages decoded", s.pages),
            ("records", "Records decoded", s.records),
            (
                "extra_fields",
                "Unknown fields seen in records",
                s.extra_fields,
            ),
            ("bytes", "Response bytes received", s.bytes),
        ] {
            let counter: Counter = Counter::default();
            counter.inc_by(v);
            registry.register(metric, help, counter);
        }
        registry.register(
            "request_latency_seconds",
            "Request latency by endpoint, in seconds",
            self.exposed.requests.clone(),
        );
        registry.register(
            "export_job_latency_seconds",
            "Export job latency, create to completed, in seconds",
            self.exposed.export_jobs.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tributary_source::SourceMetrics as _;

    #[test]
    fn families_are_counters_and_second_histograms() {
        let m = SourceMetrics::default();
        m.record_request(crate::Endpoint::Token, 200, Duration::from_millis(30));
        m.record_request(crate::Endpoint::Token, 200, Duration::from_millis(3));
        let mut registry = Registry::with_prefix("tributary_source");
        m.register(&mut registry);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(
            out.contains("# TYPE tributary_source_retries counter"),
            "{out}"
        );
        assert!(
            out.contains("tributary_source_requests_total{endpoint=\"token\",status=\"200\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("tributary_source_request_latency_seconds_count{endpoint=\"token\"} 2"),
            "{out}"
        );
        // 3 ms falls in the first bucket (5 ms), 30 ms by 40 ms; the sum is in seconds.
        assert!(
            out.contains(
                "tributary_source_request_latency_seconds_bucket{le=\"0.005\",endpoint=\"token\"} 1"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "tributary_source_request_latency_seconds_bucket{le=\"0.04\",endpoint=\"token\"} 2"
            ),
            "{out}"
        );
        assert!(
            out.contains("tributary_source_request_latency_seconds_sum{endpoint=\"token\"} 0.033"),
            "{out}"
        );
    }
}

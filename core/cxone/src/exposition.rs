//! The CXone source's live figures as the engine reads them
//! ([`tributary_source::SourceMetrics`]): the snapshot for summaries and the audit log,
//! the wait in progress, and its Prometheus metric families.

use std::fmt::Write;

use crate::metrics::SourceMetrics;

/// The `# HELP` and `# TYPE` lines of a metric family.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl tributary_source::SourceMetrics for SourceMetrics {
    fn snapshot(&self) -> serde_json::Value {
        serde_json::to_value(SourceMetrics::snapshot(self)).unwrap_or_default()
    }

    fn waiting(&self) -> Option<tributary_source::Waiting> {
        self.current_wait()
    }

    fn write_prometheus(&self, out: &mut String, labels: &str) {
        let s = SourceMetrics::snapshot(self);
        header(
            out,
            "tributary_source_requests_total",
            "counter",
            "HTTP answers by endpoint and status.",
        );
        for (endpoint, statuses) in &s.requests {
            for (status, n) in statuses {
                let _ = writeln!(
                    out,
                    "tributary_source_requests_total{{{labels},endpoint=\"{}\",status=\"{}\"}} {n}",
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
            header(out, &name, "counter", help);
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
        header(
            out,
            "tributary_source_request_latency_ms",
            "summary",
            "Request latency by endpoint.",
        );
        for (endpoint, l) in &s.latency_ms {
            let e = esc(endpoint);
            for (q, v) in [("0.5", l.p50_ms), ("0.95", l.p95_ms), ("0.99", l.p99_ms)] {
                let _ = writeln!(
                    out,
                    "tributary_source_request_latency_ms{{{labels},endpoint=\"{e}\",quantile=\"{q}\"}} {v}"
                );
            }
            let _ = writeln!(
                out,
                "tributary_source_request_latency_ms_sum{{{labels},endpoint=\"{e}\"}} {}",
                l.mean_ms * l.count as f64
            );
            let _ = writeln!(
                out,
                "tributary_source_request_latency_ms_count{{{labels},endpoint=\"{e}\"}} {}",
                l.count
            );
        }
        let l = &s.export_job_latency_ms;
        header(
            out,
            "tributary_source_export_job_latency_ms",
            "summary",
            "Export job latency, create to completed.",
        );
        for (q, v) in [("0.5", l.p50_ms), ("0.95", l.p95_ms), ("0.99", l.p99_ms)] {
            let _ = writeln!(
                out,
                "tributary_source_export_job_latency_ms{{{labels},quantile=\"{q}\"}} {v}"
            );
        }
        let _ = writeln!(
            out,
            "tributary_source_export_job_latency_ms_count{{{labels}}} {}",
            l.count
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tributary_source::SourceMetrics as _;

    #[test]
    fn families_carry_the_labels() {
        let m = SourceMetrics::default();
        m.record_request(crate::Endpoint::Token, 200, Duration::from_millis(3));
        let mut out = String::new();
        m.write_prometheus(&mut out, "pipeline=\"p\",source=\"s\"");
        assert!(
            out.contains("# TYPE tributary_source_retries_total counter"),
            "{out}"
        );
        assert!(
            out.contains("tributary_source_requests_total{pipeline=\"p\",source=\"s\",endpoint=\"token\",status=\"200\"} 1"),
            "{out}"
        );
    }
}

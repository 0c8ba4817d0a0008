//! Source metrics: lock-free counters and fixed-size latency histograms (bounded
//! memory however long the run), read as a serialisable [`MetricsSnapshot`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use serde::Serialize;

/// The four endpoints of the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /oauth/token`.
    Token,
    /// `POST /api/v2/analytics/data-exports`.
    Create,
    /// `GET /api/v2/analytics/data-exports/{id}`.
    Poll,
    /// `GET /api/v2/analytics/data-exports/{id}/data`.
    Data,
}

impl Endpoint {
    /// All endpoints.
    pub const ALL: [Endpoint; 4] = [
        Endpoint::Token,
        Endpoint::Create,
        Endpoint::Poll,
        Endpoint::Data,
    ];

    /// Name used in snapshots and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::Create => "create",
            Endpoint::Poll => "poll",
            Endpoint::Data => "data",
        }
    }

    fn index(self) -> usize {
        match self {
            Endpoint::Token => 0,
            Endpoint::Create => 1,
            Endpoint::Poll => 2,
            Endpoint::Data => 3,
        }
    }
}

/// Log-scale buckets: bucket `i` holds values up to `GROWTH^i` ms (about 5 % apart).
const BUCKETS: usize = 400;
const GROWTH: f64 = 1.05;

/// A fixed-size latency histogram in milliseconds.
#[derive(Debug)]
pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum_ms: AtomicU64,
    max_ms: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_ms: AtomicU64::new(0),
            max_ms: AtomicU64::new(0),
        }
    }
}

fn bucket_of(ms: f64) -> usize {
    if ms <= 1.0 {
        return 0;
    }
    let i = (ms.ln() / GROWTH.ln()).ceil();
    if i.is_finite() && i >= 0.0 {
        (i as usize).min(BUCKETS - 1)
    } else {
        BUCKETS - 1
    }
}

impl Histogram {
    /// Records one duration.
    pub fn record(&self, d: Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        if let Some(b) = self.buckets.get(bucket_of(ms)) {
            b.fetch_add(1, Relaxed);
        }
        let whole = d.as_millis().min(u128::from(u64::MAX)) as u64;
        self.count.fetch_add(1, Relaxed);
        self.sum_ms.fetch_add(whole, Relaxed);
        self.max_ms.fetch_max(whole, Relaxed);
    }

    /// The `q` quantile (0..=1) in ms, as the upper bound of its bucket (<= 5 % high).
    pub fn quantile(&self, q: f64) -> f64 {
        let total = self.count.load(Relaxed);
        if total == 0 {
            return 0.0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Relaxed);
            if seen >= rank {
                let upper = GROWTH.powi(i as i32);
                return upper.min(self.max_ms.load(Relaxed) as f64 + 1.0);
            }
        }
        self.max_ms.load(Relaxed) as f64
    }

    /// Summary for a snapshot.
    pub fn summary(&self) -> LatencySummary {
        let count = self.count.load(Relaxed);
        LatencySummary {
            count,
            mean_ms: if count == 0 {
                0.0
            } else {
                self.sum_ms.load(Relaxed) as f64 / count as f64
            },
            p50_ms: round1(self.quantile(0.50)),
            p95_ms: round1(self.quantile(0.95)),
            p99_ms: round1(self.quantile(0.99)),
            max_ms: self.max_ms.load(Relaxed),
        }
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Latency percentiles of one endpoint (or of export jobs).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Samples.
    pub count: u64,
    /// Mean, ms.
    pub mean_ms: f64,
    /// Median, ms (bucket upper bound).
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: u64,
}

/// Bucket upper bounds of the exposed latency histograms, in seconds: 5 ms to ~82 s.
fn latency_buckets() -> PromHistogram {
    PromHistogram::new(prometheus_client::metrics::histogram::exponential_buckets(
        0.005, 2.0, 15,
    ))
}

type PromHistogram = prometheus_client::metrics::histogram::Histogram;

/// The latencies as exposed to Prometheus: real histograms in seconds (the summaries of
/// [`Histogram`] keep the finer percentiles for reports).
#[derive(Debug)]
pub(crate) struct Exposed {
    /// Request latency by endpoint.
    pub(crate) requests: prometheus_client::metrics::family::Family<
        tributary_source::Labels,
        PromHistogram,
        fn() -> PromHistogram,
    >,
    /// Create-to-completed latency of export jobs.
    pub(crate) export_jobs: PromHistogram,
}

impl Default for Exposed {
    fn default() -> Self {
        Exposed {
            requests: prometheus_client::metrics::family::Family::new_with_constructor(
                latency_buckets,
            ),
            export_jobs: latency_buckets(),
        }
    }
}

/// Live metrics of one source; shared by every request.
#[derive(Debug, Default)]
pub struct SourceMetrics {
    statuses: Mutex<BTreeMap<(Endpoint, u16), u64>>,
    latency: [Histogram; 4],
    export_latency: Histogram,
    pub(crate) exposed: Exposed,
    /// Retries of any request (429, 5xx, timeouts, 401 refresh).
    pub retries: AtomicU64,
    /// 429 answers.
    pub throttled: AtomicU64,
    /// Data Extraction `403` answers: calls closer than the tenant's spacing (retried).
    pub spacing_refusals: AtomicU64,
    /// 5xx answers.
    pub server_errors: AtomicU64,
    /// Requests that timed out or failed in transport.
    pub timeouts: AtomicU64,
    /// Tokens fetched.
    pub token_refreshes: AtomicU64,
    /// Export jobs created.
    pub exports_created: AtomicU64,
    /// Windows split after a 504.
    pub splits: AtomicU64,
    /// Pages decoded.
    pub pages: AtomicU64,
    /// Records decoded.
    pub records: AtomicU64,
    /// Fields outside the configured columns.
    pub extra_fields: AtomicU64,
    /// Real dialects: values their column's type cannot hold (landed as null).
    pub bad_values: AtomicU64,
    /// Reporting: bookmarks (`lastUpdateTime`) in the future, clamped to now.
    pub future_bookmarks: AtomicU64,
    /// Response body bytes.
    pub bytes: AtomicU64,
    /// Windows finished.
    pub windows: AtomicU64,
    /// What the source is waiting for and until when (see [`SourceMetrics::note_wait`]).
    wait: Mutex<Option<Waiting>>,
    /// What the waits are about (`Data Extraction job … is RUNNING`), added to their notes.
    wait_context: Mutex<Option<String>>,
}

pub use tributary_source::Waiting;

/// Waits this long or longer are also logged (at info), for runs without progress bars.
const LOGGED_WAIT: Duration = Duration::from_secs(5);

impl SourceMetrics {
    /// Notes that the source waits `wait` for `what`; the note lapses by itself when the wait
    /// is over. Progress displays show it; waits of 5 s or more are logged too.
    pub fn note_wait(&self, what: impl Into<String>, wait: Duration) {
        let mut what = what.into();
        if let Some(ctx) = self.wait_context.lock().ok().and_then(|g| g.clone()) {
            what = format!("{what}; {ctx}");
        }
        let until = chrono::Utc::now()
            + chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::days(1));
        if wait >= LOGGED_WAIT {
            tracing::info!(
                until = %until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "waiting: {what}"
            );
        }
        if let Ok(mut g) = self.wait.lock() {
            *g = Some(Waiting { what, until });
        }
    }

    /// Sets (or with `None` clears) what the next waits are about.
    pub fn set_wait_context(&self, context: Option<String>) {
        if let Ok(mut g) = self.wait_context.lock() {
            *g = context;
        }
    }

    /// The wait in progress, if any.
    pub fn current_wait(&self) -> Option<Waiting> {
        let g = self.wait.lock().ok()?;
        g.clone().filter(|w| w.until > chrono::Utc::now())
    }

    /// Records one HTTP answer (status 0 = no answer: timeout/transport error).
    pub fn record_request(&self, ep: Endpoint, status: u16, latency: Duration) {
        if let Ok(mut m) = self.statuses.lock() {
            *m.entry((ep, status)).or_insert(0) += 1;
        }
        if let Some(h) = self.latency.get(ep.index()) {
            h.record(latency);
        }
        self.exposed
            .requests
            .get_or_create(&vec![("endpoint".to_string(), ep.as_str().to_string())])
            .observe(latency.as_secs_f64());
    }

    /// Records the time from create to completed of one export job.
    pub fn record_export_latency(&self, d: Duration) {
        self.export_latency.record(d);
        self.exposed.export_jobs.observe(d.as_secs_f64());
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    /// A consistent-enough copy for reports.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let mut requests: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        if let Ok(m) = self.statuses.lock() {
            for ((ep, status), n) in m.iter() {
                let key = if *status == 0 {
                    "timeout".to_string()
                } else {
                    status.to_string()
                };
                *requests
                    .entry(ep.as_str().to_string())
                    .or_default()
                    .entry(key)
                    .or_insert(0) += n;
            }
        }
        let latency_ms = Endpoint::ALL
            .iter()
            .filter_map(|ep| {
                self.latency
                    .get(ep.index())
                    .map(|h| (ep.as_str().to_string(), h.summary()))
            })
            .collect();
        MetricsSnapshot {
            requests,
            retries: self.retries.load(Relaxed),
            throttled: self.throttled.load(Relaxed),
            spacing_refusals: self.spacing_refusals.load(Relaxed),
            server_errors: self.server_errors.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            token_refreshes: self.token_refreshes.load(Relaxed),
            exports_created: self.exports_created.load(Relaxed),
            splits: self.splits.load(Relaxed),
            pages: self.pages.load(Relaxed),
            records: self.records.load(Relaxed),
            extra_fields: self.extra_fields.load(Relaxed),
            bad_values: self.bad_values.load(Relaxed),
            future_bookmarks: self.future_bookmarks.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            windows: self.windows.load(Relaxed),
            latency_ms,
            export_job_latency_ms: self.export_latency.summary(),
        }
    }
}

/// A point-in-time copy of [`SourceMetrics`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MetricsSnapshot {
    /// Answers per endpoint and status (`"timeout"` when none came).
    pub requests: BTreeMap<String, BTreeMap<String, u64>>,
    /// Retries of any request.
    pub retries: u64,
    /// 429 answers.
    pub throttled: u64,
    /// Data Extraction `403` answers: calls closer than the tenant's spacing.
    pub spacing_refusals: u64,
    /// 5xx answers.
    pub server_errors: u64,
    /// Timeouts and transport errors.
    pub timeouts: u64,
    /// Tokens fetched.
    pub token_refreshes: u64,
    /// Export jobs created.
    pub exports_created: u64,
    /// Window splits after 504.
    pub splits: u64,
    /// Pages decoded.
    pub pages: u64,
    /// Records decoded.
    pub records: u64,
    /// Extra (unknown) fields seen.
    pub extra_fields: u64,
    /// Values their column's type cannot hold (landed as null).
    pub bad_values: u64,
    /// Reporting bookmarks in the future, clamped to now.
    pub future_bookmarks: u64,
    /// Response bytes.
    pub bytes: u64,
    /// Windows finished.
    pub windows: u64,
    /// Latency per endpoint.
    pub latency_ms: BTreeMap<String, LatencySummary>,
    /// Create-to-completed latency of export jobs.
    pub export_job_latency_ms: LatencySummary,
}

impl MetricsSnapshot {
    /// Answers of one endpoint with one status.
    pub fn requests_with(&self, endpoint: Endpoint, status: &str) -> u64 {
        self.requests
            .get(endpoint.as_str())
            .and_then(|m| m.get(status))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_wait_names_its_reason_its_context_and_lapses() {
        let m = super::SourceMetrics::default();
        assert!(m.current_wait().is_none());
        m.set_wait_context(Some("Data Extraction job j1 of window w is RUNNING".into()));
        m.note_wait("spacing calls", std::time::Duration::from_secs(30));
        let w = m.current_wait().unwrap_or_else(|| panic!("a wait"));
        assert_eq!(
            w.what,
            "spacing calls; Data Extraction job j1 of window w is RUNNING"
        );
        let left = (w.until - chrono::Utc::now()).num_seconds();
        assert!((28..=30).contains(&left), "{left}");
        m.set_wait_context(None);
        m.note_wait("backing off", std::time::Duration::ZERO);
        assert!(
            m.current_wait().is_none(),
            "a wait that is over is not shown"
        );
    }

    use super::*;

    #[test]
    fn percentiles_within_five_percent() {
        let h = Histogram::default();
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 500.0).abs() <= 26.0, "{s:?}");
        assert!((s.p95_ms - 950.0).abs() <= 48.0, "{s:?}");
        assert!(s.p99_ms <= 1001.0 && s.p99_ms >= 980.0, "{s:?}");
        assert_eq!(s.max_ms, 1000);
        assert_eq!(Histogram::default().summary().p99_ms, 0.0);
    }

    #[test]
    fn snapshot_counts_statuses() {
        let m = SourceMetrics::default();
        m.record_request(Endpoint::Data, 200, Duration::from_millis(3));
        m.record_request(Endpoint::Data, 429, Duration::from_millis(1));
        m.record_request(Endpoint::Data, 0, Duration::from_millis(1));
        let s = m.snapshot();
        assert_eq!(s.requests_with(Endpoint::Data, "200"), 1);
        assert_eq!(s.requests_with(Endpoint::Data, "429"), 1);
        assert_eq!(s.requests_with(Endpoint::Data, "timeout"), 1);
        assert!(serde_json::to_string(&s).unwrap().contains("\"data\""));
    }
}

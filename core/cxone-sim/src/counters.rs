//! Counters a test can read: requests by endpoint and status, faults served, work done.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::server::lock;

/// The endpoint a request hit, as named in [`Counters::requests`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Endpoint {
    Token,
    CreateExport,
    PollExport,
    ExportData,
    Discovery,
    TenantConfig,
    AuthToken,
    ContactsCompleted,
    CreateJob,
    PollJob,
    Download,
    Unknown,
}

impl Endpoint {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::CreateExport => "create_export",
            Endpoint::PollExport => "poll_export",
            Endpoint::ExportData => "export_data",
            Endpoint::Discovery => "openid_configuration",
            Endpoint::TenantConfig => "cxone_configuration",
            Endpoint::AuthToken => "auth_token",
            Endpoint::ContactsCompleted => "contacts_completed",
            Endpoint::CreateJob => "create_job",
            Endpoint::PollJob => "poll_job",
            Endpoint::Download => "download",
            Endpoint::Unknown => "unknown",
        }
    }
}

/// A snapshot of a simulator's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Requests answered, by endpoint (`token`, `create_export`, `poll_export`,
    /// `export_data`, `unknown`) then HTTP status.
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Access tokens issued.
    pub tokens_issued: u64,
    /// Responses with status 429.
    pub rate_limited_429: u64,
    /// Responses with a status of 500 or more (injected 5xx and 504s).
    pub server_errors_5xx: u64,
    /// Responses with status 504 (window too long).
    pub gateway_timeouts_504: u64,
    /// Responses delayed by the `p_slow` knob.
    pub slow_responses: u64,
    /// Most requests in flight at the same time.
    pub peak_concurrent_requests: u64,
    /// Exports created (201).
    pub exports_created: u64,
    /// Polls that reported an export `failed`.
    pub exports_failed: u64,
    /// Data pages served (200).
    pub pages_served: u64,
    /// Records in the data pages served (retries count again).
    pub records_served: u64,
    /// Pages served from the page cache.
    pub page_cache_hits: u64,
    /// Access tokens issued by the password grant (access key id + secret).
    pub password_grants: u64,
    /// Access tokens issued by the refresh-token grant.
    pub refresh_grants: u64,
    /// Refresh-token grants refused (unknown or too old refresh token).
    pub refresh_refused: u64,
    /// Access-key token requests whose client authenticated with HTTP Basic
    /// (`client_secret_basic`), successfully.
    pub client_auth_basic: u64,
    /// Access-key token requests whose client authenticated with `client_id` and
    /// `client_secret` in the form body (`client_secret_post`), successfully.
    pub client_auth_post: u64,
    /// Reporting API pages answered 200 (with records).
    pub completed_pages_served: u64,
    /// Records in those pages.
    pub completed_records_served: u64,
    /// Data Extraction jobs created (202).
    pub jobs_created: u64,
    /// Data Extraction calls refused with 403 for coming too soon after the last one.
    pub extraction_throttled_403: u64,
    /// Downloads refused because the link had expired.
    pub downloads_expired: u64,
    /// Downloads served (200).
    pub downloads_served: u64,
}

impl Counters {
    /// Requests to `endpoint` answered with `status`.
    pub fn requests_for(&self, endpoint: &str, status: u16) -> u64 {
        self.requests
            .get(endpoint)
            .and_then(|m| m.get(&status))
            .copied()
            .unwrap_or(0)
    }

    /// Requests to `endpoint`, whatever their status.
    pub fn requests_total(&self, endpoint: &str) -> u64 {
        self.requests
            .get(endpoint)
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }
}

/// The live counters.
#[derive(Debug, Default)]
pub(crate) struct CounterSet {
    requests: Mutex<BTreeMap<(Endpoint, u16), u64>>,
    pub(crate) tokens_issued: AtomicU64,
    rate_limited_429: AtomicU64,
    server_errors_5xx: AtomicU64,
    gateway_timeouts_504: AtomicU64,
    pub(crate) slow_responses: AtomicU64,
    in_flight: AtomicU64,
    peak_concurrent_requests: AtomicU64,
    pub(crate) exports_created: AtomicU64,
    pub(crate) exports_failed: AtomicU64,
    pub(crate) pages_served: AtomicU64,
    pub(crate) records_served: AtomicU64,
    pub(crate) page_cache_hits: AtomicU64,
    pub(crate) password_grants: AtomicU64,
    pub(crate) refresh_grants: AtomicU64,
    pub(crate) refresh_refused: AtomicU64,
    pub(crate) client_auth_basic: AtomicU64,
    pub(crate) client_auth_post: AtomicU64,
    pub(crate) completed_pages_served: AtomicU64,
    pub(crate) completed_records_served: AtomicU64,
    pub(crate) jobs_created: AtomicU64,
    pub(crate) extraction_throttled_403: AtomicU64,
    pub(crate) downloads_expired: AtomicU64,
    pub(crate) downloads_served: AtomicU64,
}

/// Decrements the in-flight gauge when a request ends, even if it is cancelled.
pub(crate) struct InFlight<'a>(&'a CounterSet);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl CounterSet {
    pub(crate) fn enter(&self) -> InFlight<'_> {
        let now = self.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_concurrent_requests
            .fetch_max(now, Ordering::Relaxed);
        InFlight(self)
    }

    pub(crate) fn record_status(&self, endpoint: Endpoint, status: u16) {
        *lock(&self.requests).entry((endpoint, status)).or_insert(0) += 1;
        if status == 429 {
            self.rate_limited_429.fetch_add(1, Ordering::Relaxed);
        }
        if status >= 500 {
            self.server_errors_5xx.fetch_add(1, Ordering::Relaxed);
        }
        if status == 504 {
            self.gateway_timeouts_504.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Counters {
        let mut requests: BTreeMap<String, BTreeMap<u16, u64>> = BTreeMap::new();
        for ((endpoint, status), n) in lock(&self.requests).iter() {
            *requests
                .entry(endpoint.name().to_owned())
                .or_default()
                .entry(*status)
                .or_insert(0) += n;
        }
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Counters {
            requests,
            tokens_issued: get(&self.tokens_issued),
            rate_limited_429: get(&self.rate_limited_429),
            server_errors_5xx: get(&self.server_errors_5xx),
            gateway_timeouts_504: get(&self.gateway_timeouts_504),
            slow_responses: get(&self.slow_responses),
            peak_concurrent_requests: get(&self.peak_concurrent_requests),
            exports_created: get(&self.exports_created),
            exports_failed: get(&self.exports_failed),
            pages_served: get(&self.pages_served),
            records_served: get(&self.records_served),
            page_cache_hits: get(&self.page_cache_hits),
            password_grants: get(&self.password_grants),
            refresh_grants: get(&self.refresh_grants),
            refresh_refused: get(&self.refresh_refused),
            client_auth_basic: get(&self.client_auth_basic),
            client_auth_post: get(&self.client_auth_post),
            completed_pages_served: get(&self.completed_pages_served),
            completed_records_served: get(&self.completed_records_served),
            jobs_created: get(&self.jobs_created),
            extraction_throttled_403: get(&self.extraction_throttled_403),
            downloads_expired: get(&self.downloads_expired),
            downloads_served: get(&self.downloads_served),
        }
    }
}

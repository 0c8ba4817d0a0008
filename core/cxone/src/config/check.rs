//! Validation of a [`CxoneConfig`]: every problem at once, each with its key path.

use std::collections::HashSet;

use chrono::{NaiveDate, Utc};

use super::*;
use crate::payload::{self, MAX_COLUMNS, MAX_PAGE_SIZE};
use crate::window;

impl CxoneConfig {
    /// Checks every field; returns all problems at once, each with its key path.
    ///
    /// Credentials count as present when set here or in `CXONE_API_KEY` /
    /// `CXONE_API_SECRET`.
    ///
    /// # Errors
    /// The list of problems, when there is at least one.
    pub fn validate(&self) -> Result<(), Vec<ConfigProblem>> {
        let mut p = Vec::new();
        self.validate_urls(&mut p);
        self.validate_credentials(&mut p);
        if self.scope.trim().is_empty() {
            p.push(ConfigProblem::new(
                "scope",
                format!("must not be empty; the export API needs `{DEFAULT_SCOPE}`"),
            ));
        }
        if self.api == ApiDialect::AnalyticsExport && self.report_id.trim().is_empty() {
            p.push(ConfigProblem::new(
                "report_id",
                "must not be empty: set the id of the CXone report to export",
            ));
        }
        let today = Utc::now().date_naive();
        validate_date_range(&self.date_range, today, &mut p);
        self.validate_columns(&mut p);
        payload::validate_filters(&self.filters, "filters", &mut p);
        if self.format == ExportFormat::Xlsx {
            p.push(ConfigProblem::new(
                "format",
                "xlsx cannot be streamed into Arrow page by page; use json or csv",
            ));
        }
        if !(1..=MAX_PAGE_SIZE).contains(&self.page_size) {
            p.push(ConfigProblem::new(
                "page_size",
                format!("{} is outside 1..={MAX_PAGE_SIZE}", self.page_size),
            ));
        }
        if !(1..=MAX_EXPORT_DAYS).contains(&self.window_days()) {
            p.push(ConfigProblem::new(
                "max_window_days",
                format!(
                    "{} is outside 1..={MAX_EXPORT_DAYS} (the API's MAX_EXPORT_DAYS)",
                    self.window_days()
                ),
            ));
        }
        if self.poll_interval_ms == 0 {
            p.push(ConfigProblem::new("poll_interval_ms", "must be at least 1"));
        }
        if self.max_poll_interval_ms < self.poll_interval_ms {
            p.push(ConfigProblem::new(
                "max_poll_interval_ms",
                format!(
                    "{} is below poll_interval_ms ({})",
                    self.max_poll_interval_ms, self.poll_interval_ms
                ),
            ));
        }
        if self.poll_timeout_secs == 0 {
            p.push(ConfigProblem::new(
                "poll_timeout_secs",
                "must be at least 1",
            ));
        }
        if self.concurrency == 0 || self.concurrency > 64 {
            p.push(ConfigProblem::new(
                "concurrency",
                format!("{} is outside 1..=64", self.concurrency),
            ));
        }
        if self.initial_backoff_ms == 0 {
            p.push(ConfigProblem::new(
                "initial_backoff_ms",
                "must be at least 1",
            ));
        }
        if self.max_backoff_ms < self.initial_backoff_ms {
            p.push(ConfigProblem::new(
                "max_backoff_ms",
                format!(
                    "{} is below initial_backoff_ms ({})",
                    self.max_backoff_ms, self.initial_backoff_ms
                ),
            ));
        }
        if self.request_timeout_secs == 0 {
            p.push(ConfigProblem::new(
                "request_timeout_secs",
                "must be at least 1",
            ));
        }
        if let Some(rps) = self.max_requests_per_second
            && !(rps.is_finite() && rps > 0.0)
        {
            p.push(ConfigProblem::new(
                "max_requests_per_second",
                format!("{rps} must be a positive number"),
            ));
        }
        self.validate_bounds(&mut p);
        self.validate_real(&mut p);
        if let Some(sim) = &self.simulator
            && let Err(e) = sim.validate()
        {
            p.push(ConfigProblem::new("simulator", e.to_string()));
        }
        if p.is_empty() { Ok(()) } else { Err(p) }
    }

    /// Durations are bounded (an hour for waits, a day for timeouts) so that no
    /// configured value can overflow a clock.
    fn validate_bounds(&self, p: &mut Vec<ConfigProblem>) {
        const HOUR_MS: u64 = 3_600_000;
        for (key, v, max) in [
            ("poll_interval_ms", self.poll_interval_ms, HOUR_MS),
            ("max_poll_interval_ms", self.max_poll_interval_ms, HOUR_MS),
            ("initial_backoff_ms", self.initial_backoff_ms, HOUR_MS),
            ("max_backoff_ms", self.max_backoff_ms, HOUR_MS),
            (
                "data_extraction.min_call_interval_ms",
                self.data_extraction.min_call_interval_ms,
                HOUR_MS,
            ),
            ("request_timeout_secs", self.request_timeout_secs, 86_400),
            ("poll_timeout_secs", self.poll_timeout_secs, 7 * 86_400),
        ] {
            if v > max {
                p.push(ConfigProblem::new(
                    key,
                    format!("{v} is above the limit {max}"),
                ));
            }
        }
    }

    fn validate_real(&self, p: &mut Vec<ConfigProblem>) {
        let r = &self.reporting;
        if !(1..=MAX_PAGE_SIZE).contains(&r.top) {
            p.push(ConfigProblem::new(
                "reporting.top",
                format!("{} is outside 1..={MAX_PAGE_SIZE}", r.top),
            ));
        }
        let v = r
            .api_version
            .strip_prefix('v')
            .and_then(|v| v.strip_suffix(".0"));
        if v.is_none_or(|v| v.parse::<u32>().is_err()) {
            p.push(ConfigProblem::new(
                "reporting.api_version",
                format!("`{}` is not a version like `v26.0`", r.api_version),
            ));
        }
        if let Some(u) = &r.updated_since
            && chrono::DateTime::parse_from_rfc3339(u).is_err()
        {
            p.push(ConfigProblem::new(
                "reporting.updated_since",
                format!("`{u}` is not an RFC 3339 timestamp (2024-05-01T12:00:00Z)"),
            ));
        }
        if self.data_extraction.entity.trim().is_empty() {
            p.push(ConfigProblem::new(
                "data_extraction.entity",
                "must not be empty",
            ));
        }
        if self.data_extraction.min_call_interval_ms == 0 {
            p.push(ConfigProblem::new(
                "data_extraction.min_call_interval_ms",
                "must be at least 1 (the tenant allows one call per 30000 ms)",
            ));
        }
        let a = &self.access_key;
        for (key, u) in [
            ("access_key.discovery_url", &a.discovery_url),
            ("access_key.token_endpoint", &a.token_endpoint),
            ("access_key.tenant_config_url", &a.tenant_config_url),
            ("access_key.api_endpoint", &a.api_endpoint),
        ] {
            if let Some(u) = u {
                check_credential_url(key, u, self.allow_http, p);
            }
        }
        if let Some(m) = &self.mapping {
            crate::mapping::validate(m, p);
        }
        self.validate_extraction(p);
    }

    fn validate_extraction(&self, p: &mut Vec<ConfigProblem>) {
        if self.api != ApiDialect::DataExtraction {
            return;
        }
        let entity = self.data_extraction.entity.as_str();
        let built_in = crate::mapping::native::extraction(entity).is_some();
        if self.mapping.is_none() && !built_in && !entity.trim().is_empty() {
            p.push(ConfigProblem::new(
                "mapping",
                format!(
                    "entity `{entity}` has no built-in schema: declare `mapping:` (CSV header → \
                     column, e.g. `- {{from: [\"Start Date\"], to: startDate, type: timestamp}}`)"
                ),
            ));
        }
        if self.schema == RecordShape::Interaction && !built_in {
            p.push(ConfigProblem::new(
                "schema",
                format!(
                    "`interaction` is defined for `{}` only; use `native` with entity `{entity}`",
                    crate::mapping::native::RECORDING_METADATA_ENTITY
                ),
            ));
        }
        if self.data_extraction.dates == ExtractionDates::Date {
            let today = Utc::now().date_naive();
            for (key, b, bound) in [
                (
                    "date_range.start",
                    &self.date_range.start,
                    window::Bound::Start,
                ),
                ("date_range.end", &self.date_range.end, window::Bound::End),
            ] {
                if let Ok(t) = window::parse_bound(b, today, bound)
                    && t.timestamp_millis() % 86_400_000 != 0
                {
                    p.push(ConfigProblem::new(
                        key,
                        format!(
                            "`{b}` is not a whole day, but data_extraction.dates is `date` \
                             (YYYY-MM-DD): give days, or set dates: date-time"
                        ),
                    ));
                }
            }
        }
    }

    fn validate_urls(&self, p: &mut Vec<ConfigProblem>) {
        match &self.base_url {
            Some(u) => check_credential_url("base_url", u, self.allow_http, p),
            None if self.simulator.is_none() && self.auth == AuthMode::ClientCredentials => p.push(ConfigProblem::new(
                "base_url",
                "missing: set the tenant URL, e.g. https://{siteId}.api.cxone.com (or `simulator`)",
            )),
            None => {}
        }
        if let Some(u) = &self.token_url {
            check_credential_url("token_url", u, self.allow_http, p);
        }
        if self.max_response_bytes < 1024 {
            p.push(ConfigProblem::new(
                "max_response_bytes",
                format!("{} is below 1024 bytes", self.max_response_bytes),
            ));
        }
    }

    fn validate_credentials(&self, p: &mut Vec<ConfigProblem>) {
        if self.simulator.is_some() {
            // The built-in simulator gets default credentials when none are given.
            return;
        }
        if self.auth == AuthMode::AccessKey {
            let a = &self.access_key;
            if resolve_secret(&a.access_key_id, ENV_ACCESS_KEY_ID).is_none() {
                p.push(ConfigProblem::new(
                    "access_key.access_key_id",
                    format!("missing: set it or the {ENV_ACCESS_KEY_ID} environment variable"),
                ));
            }
            if resolve_secret(&a.access_key_secret, ENV_ACCESS_KEY_SECRET).is_none() {
                p.push(ConfigProblem::new(
                    "access_key.access_key_secret",
                    format!("missing: set it or the {ENV_ACCESS_KEY_SECRET} environment variable"),
                ));
            }
        }
        let (id, secret) = self.client_credentials();
        for ((key, env), present) in self
            .client_credential_sources()
            .into_iter()
            .zip([id.is_some(), secret.is_some()])
        {
            if !present {
                p.push(ConfigProblem::new(
                    key,
                    format!("missing: set it or the {env} environment variable"),
                ));
            }
        }
    }

    fn validate_columns(&self, p: &mut Vec<ConfigProblem>) {
        for (i, c) in self.columns_as_strings.iter().enumerate() {
            if !crate::decode::TIME_COLUMNS.contains(&c.as_str()) {
                p.push(ConfigProblem::new(
                    format!("columns_as_strings[{i}]"),
                    format!(
                        "`{c}` is not a time column; only {} can be kept as text",
                        crate::decode::TIME_COLUMNS.join(", ")
                    ),
                ));
            }
        }
        let n = self.columns.len();
        if n == 0 || n > MAX_COLUMNS {
            p.push(ConfigProblem::new(
                "columns",
                format!("{n} columns; the export API accepts 1 to {MAX_COLUMNS}"),
            ));
        }
        let mut seen = HashSet::new();
        for (i, c) in self.columns.iter().enumerate() {
            if c.trim().is_empty() {
                p.push(ConfigProblem::new(
                    format!("columns[{i}]"),
                    "empty column name",
                ));
            } else if !seen.insert(c.as_str()) {
                p.push(ConfigProblem::new(
                    format!("columns[{i}]"),
                    format!("column `{c}` is listed twice"),
                ));
            } else if self.keep_extra_fields && c == EXTRA_COLUMN {
                p.push(ConfigProblem::new(
                    format!("columns[{i}]"),
                    format!("`{EXTRA_COLUMN}` is reserved for extra fields when keep_extra_fields is true"),
                ));
            }
        }
    }
}

/// A URL that will carry credentials: https, or http with `allow_http` or on loopback.
pub(crate) fn check_credential_url(
    key: &str,
    u: &str,
    allow_http: bool,
    p: &mut Vec<ConfigProblem>,
) {
    let before = p.len();
    check_url(key, u, p);
    if p.len() > before {
        return;
    }
    if let Ok(url) = reqwest::Url::parse(u)
        && url.scheme() == "http"
        && !allow_http
        && !is_loopback(&url)
    {
        p.push(ConfigProblem::new(
            key,
            format!(
                "`{}` is plain http and would carry credentials: use https, or set allow_http: true",
                redact_url(&url)
            ),
        ));
    }
}

/// True for `localhost`, `127.0.0.0/8` and `::1`.
fn is_loopback(url: &reqwest::Url) -> bool {
    url.host_str().is_some_and(|h| {
        h.eq_ignore_ascii_case("localhost")
            || h == "[::1]"
            || h.parse::<std::net::Ipv4Addr>()
                .is_ok_and(|a| a.is_loopback())
    })
}

/// A URL without user info, query or fragment (which can hold secrets).
fn redact_url(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

fn check_url(key: &str, u: &str, p: &mut Vec<ConfigProblem>) {
    match reqwest::Url::parse(u) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {}
        Ok(url) => p.push(ConfigProblem::new(
            key,
            format!("`{u}` has scheme `{}`; use http or https", url.scheme()),
        )),
        Err(e) => p.push(ConfigProblem::new(key, format!("`{u}` is not a URL: {e}"))),
    }
}

/// The configured value, else a non-empty environment variable.
pub(crate) fn resolve_secret(value: &Option<Secret>, env: &str) -> Option<Secret> {
    match value {
        Some(s) if !s.is_empty() => Some(s.clone()),
        _ => std::env::var(env)
            .ok()
            .filter(|v| !v.is_empty())
            .map(Secret::new),
    }
}

fn validate_date_range(r: &DateRangeConfig, today: NaiveDate, p: &mut Vec<ConfigProblem>) {
    let start = window::parse_bound(&r.start, today, window::Bound::Start);
    let end = window::parse_bound(&r.end, today, window::Bound::End);
    if let Err(e) = &start {
        p.push(ConfigProblem::new("date_range.start", e.clone()));
    }
    if let Err(e) = &end {
        p.push(ConfigProblem::new("date_range.end", e.clone()));
    }
    if let (Ok(s), Ok(e)) = (start, end)
        && e <= s
    {
        p.push(ConfigProblem::new(
            "date_range.end",
            format!(
                "`{}` ({}) is not after date_range.start `{}` ({}); the end day is inclusive",
                r.end,
                e.to_rfc3339(),
                r.start,
                s.to_rfc3339()
            ),
        ));
    }
}

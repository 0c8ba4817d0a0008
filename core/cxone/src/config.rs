//! The source's configuration: raw serde struct, documented field by field, and its
//! validation (every problem reported with its key path).

use std::collections::HashSet;

use chrono::{NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::payload::{self, MAX_COLUMNS, MAX_PAGE_SIZE};
use crate::secret::Secret;
use crate::window::{self, MAX_EXPORT_DAYS};

/// Environment variable read when `client_id` is absent.
pub const ENV_API_KEY: &str = "CXONE_API_KEY";
/// Environment variable read when `client_secret` is absent.
pub const ENV_API_SECRET: &str = "CXONE_API_SECRET";
/// The scopes the export API needs.
pub const DEFAULT_SCOPE: &str = "analytics:export:read analytics:export:write reports:read";
/// The column name of the extra-fields column (`keep_extra_fields: true`).
pub const EXTRA_COLUMN: &str = "_extra";

/// The interaction record fields of the contract (`INTERACTION_SCHEMA_FIELDS`).
pub const INTERACTION_FIELDS: [&str; 10] = [
    "id",
    "direction",
    "medium",
    "startTime",
    "endTime",
    "agentId",
    "queueId",
    "holdTime",
    "wrapTime",
    "talkTime",
];

/// One problem in a configuration, with the key path at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigProblem {
    /// Key path, e.g. `date_range.start`.
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl ConfigProblem {
    /// Builds a problem.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Export file format requested from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// JSON pages `{"data": [...], "nextPageToken": ...}` (default).
    Json,
    /// CSV pages with a header row; the next token in `X-Next-Page-Token`.
    Csv,
    /// Excel workbooks: accepted by the API, refused by this source (cannot be streamed
    /// into Arrow page by page).
    Xlsx,
}

impl ExportFormat {
    /// The wire value.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
        }
    }
}

/// The date range to export.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct DateRangeConfig {
    /// First instant exported. A day (`2023-01-01`, from its midnight UTC), an RFC 3339
    /// timestamp (`2023-01-01T06:00:00Z`), or relative: `today`, `yesterday`, `today-7d`.
    /// Example: `2023-01-01`.
    pub start: String,
    /// Last day exported, inclusive (`2023-12-31` covers the whole day), or an RFC 3339
    /// timestamp (exclusive), or relative (`yesterday`, `today-1d`, `today`).
    /// Example: `2023-12-31`.
    pub end: String,
}

/// Configuration of the CXone analytics export source.
///
/// Example:
/// ```yaml
/// base_url: https://c7.api.cxone.com
/// report_id: 3a2b1c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6
/// date_range: { start: 2023-01-01, end: 2023-12-31 }
/// columns: [id, direction, medium, startTime, endTime, agentId, queueId]
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct CxoneConfig {
    /// Base URL of the tenant's API, e.g. `https://{siteId}.api.cxone.com`. No default;
    /// required unless `simulator` is set.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Token endpoint. Default: `{base_url}/oauth/token`.
    #[serde(default)]
    pub token_url: Option<String>,
    /// OAuth client id (the API key). Default: the `CXONE_API_KEY` environment variable.
    #[serde(default)]
    pub client_id: Option<Secret>,
    /// OAuth client secret (the API secret). Default: the `CXONE_API_SECRET` environment
    /// variable.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Space-separated OAuth scopes requested.
    /// Default: `analytics:export:read analytics:export:write reports:read`.
    #[serde(default = "default_scope")]
    pub scope: String,
    /// The report to export. Example: `3a2b1c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6`.
    pub report_id: String,
    /// Date range to export; split into windows of at most `max_window_days`.
    pub date_range: DateRangeConfig,
    /// Columns requested (1 to 150, unique); they define the Arrow schema, in order.
    /// Default: the ten interaction fields `id, direction, medium, startTime, endTime,
    /// agentId, queueId, holdTime, wrapTime, talkTime`.
    #[serde(default = "default_columns")]
    pub columns: Vec<String>,
    /// Filters: column -> one condition `{equals: v}`, `{greaterThan: v}`,
    /// `{lessThan: v}` or `{in: [v, ...]}`; `or: [{...}, ...]` across at most three
    /// fields. Default: `{}`. Example: `{direction: {equals: inbound}}`.
    #[serde(default)]
    pub filters: serde_json::Map<String, serde_json::Value>,
    /// Export format: `json` (default) or `csv`; `xlsx` is refused (not streamable).
    #[serde(default = "default_format")]
    pub format: ExportFormat,
    /// Records per data page, 1 to 10000. Default: 5000.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Longest window (days) of one export job, 1 to 90. Default: 90.
    #[serde(default = "default_max_window_days")]
    pub max_window_days: u32,
    /// First wait before polling an export, in ms. Default: 10000 (the tutorial's 10 s).
    #[serde(default = "default_poll_interval_ms")]
    pub poll_interval_ms: u64,
    /// The poll interval grows x1.5 per poll up to this, in ms. Default: 60000.
    #[serde(default = "default_max_poll_interval_ms")]
    pub max_poll_interval_ms: u64,
    /// Longest wait for one export to complete, in seconds. Default: 3600.
    #[serde(default = "default_poll_timeout_secs")]
    pub poll_timeout_secs: u64,
    /// Export jobs (windows) created and polled ahead at once. Default: 4.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Retries of one request on 429, 5xx and timeouts. Default: 8.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// First backoff in ms (doubles per retry, with jitter). Default: 500.
    #[serde(default = "default_initial_backoff_ms")]
    pub initial_backoff_ms: u64,
    /// Longest backoff in ms. Default: 30000.
    #[serde(default = "default_max_backoff_ms")]
    pub max_backoff_ms: u64,
    /// Timeout of one HTTP request (including its body), in seconds. Default: 60.
    #[serde(default = "default_request_timeout_secs")]
    pub request_timeout_secs: u64,
    /// Optional cap on requests per second for the whole source (token bucket).
    /// Default: none.
    #[serde(default)]
    pub max_requests_per_second: Option<f64>,
    /// Keep fields the schema does not know as a Utf8 column `_extra` holding a JSON
    /// object (null when a record has none). Default: false (they are only counted).
    #[serde(default)]
    pub keep_extra_fields: bool,
    /// How many times an export that ends `failed` is created again before the run
    /// fails with its `errorMessage`. Default: 1.
    #[serde(default = "default_export_retries")]
    pub export_retries: u32,
    /// Fail a window when its pages hold a different number of records than the
    /// export's `totalRecords`. Default: true.
    #[serde(default = "default_true")]
    pub verify_record_count: bool,
    /// Incremental runs: start where the last successful run ended (the engine keeps the
    /// cursor in the state store) instead of at `date_range.start`. Default: false.
    #[serde(default)]
    pub incremental: bool,
    /// Start the built-in simulator with these knobs and use it as `base_url` (the engine
    /// does this and passes its URL as the override). Default: none.
    #[serde(default)]
    pub simulator: Option<tributary_cxone_sim::SimConfig>,
}

fn default_scope() -> String {
    DEFAULT_SCOPE.to_string()
}
fn default_columns() -> Vec<String> {
    INTERACTION_FIELDS.iter().map(|s| s.to_string()).collect()
}
fn default_format() -> ExportFormat {
    ExportFormat::Json
}
fn default_page_size() -> u32 {
    5000
}
fn default_max_window_days() -> u32 {
    MAX_EXPORT_DAYS
}
fn default_poll_interval_ms() -> u64 {
    10_000
}
fn default_max_poll_interval_ms() -> u64 {
    60_000
}
fn default_poll_timeout_secs() -> u64 {
    3600
}
fn default_concurrency() -> usize {
    4
}
fn default_max_retries() -> u32 {
    8
}
fn default_initial_backoff_ms() -> u64 {
    500
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_request_timeout_secs() -> u64 {
    60
}
fn default_export_retries() -> u32 {
    1
}
fn default_true() -> bool {
    true
}

impl CxoneConfig {
    /// A configuration with every default, for the given report and date range.
    pub fn new(report_id: impl Into<String>, start: &str, end: &str) -> Self {
        Self {
            base_url: None,
            token_url: None,
            client_id: None,
            client_secret: None,
            scope: default_scope(),
            report_id: report_id.into(),
            date_range: DateRangeConfig {
                start: start.to_string(),
                end: end.to_string(),
            },
            columns: default_columns(),
            filters: serde_json::Map::new(),
            format: default_format(),
            page_size: default_page_size(),
            max_window_days: default_max_window_days(),
            poll_interval_ms: default_poll_interval_ms(),
            max_poll_interval_ms: default_max_poll_interval_ms(),
            poll_timeout_secs: default_poll_timeout_secs(),
            concurrency: default_concurrency(),
            max_retries: default_max_retries(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            request_timeout_secs: default_request_timeout_secs(),
            max_requests_per_second: None,
            keep_extra_fields: false,
            export_retries: default_export_retries(),
            verify_record_count: true,
            incremental: false,
            simulator: None,
        }
    }

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
        if self.report_id.trim().is_empty() {
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
        if !(1..=MAX_EXPORT_DAYS).contains(&self.max_window_days) {
            p.push(ConfigProblem::new(
                "max_window_days",
                format!(
                    "{} is outside 1..={MAX_EXPORT_DAYS} (the API's MAX_EXPORT_DAYS)",
                    self.max_window_days
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
        if let Some(sim) = &self.simulator
            && let Err(e) = sim.validate()
        {
            p.push(ConfigProblem::new("simulator", e.to_string()));
        }
        if p.is_empty() { Ok(()) } else { Err(p) }
    }

    fn validate_urls(&self, p: &mut Vec<ConfigProblem>) {
        match &self.base_url {
            Some(u) => check_url("base_url", u, p),
            None if self.simulator.is_none() => p.push(ConfigProblem::new(
                "base_url",
                "missing: set the tenant URL, e.g. https://{siteId}.api.cxone.com (or `simulator`)",
            )),
            None => {}
        }
        if let Some(u) = &self.token_url {
            check_url("token_url", u, p);
        }
    }

    fn validate_credentials(&self, p: &mut Vec<ConfigProblem>) {
        if self.simulator.is_some() {
            // The built-in simulator gets default credentials when none are given.
            return;
        }
        if resolve_secret(&self.client_id, ENV_API_KEY).is_none() {
            p.push(ConfigProblem::new(
                "client_id",
                format!("missing: set client_id or the {ENV_API_KEY} environment variable"),
            ));
        }
        if resolve_secret(&self.client_secret, ENV_API_SECRET).is_none() {
            p.push(ConfigProblem::new(
                "client_secret",
                format!("missing: set client_secret or the {ENV_API_SECRET} environment variable"),
            ));
        }
    }

    fn validate_columns(&self, p: &mut Vec<ConfigProblem>) {
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

    /// The effective base URL (override first), without a trailing slash.
    pub(crate) fn effective_base_url(&self, override_url: Option<&str>) -> Option<String> {
        override_url
            .map(str::to_string)
            .or_else(|| self.base_url.clone())
            .map(|u| u.trim_end_matches('/').to_string())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> CxoneConfig {
        let mut c = CxoneConfig::new("r1", "2023-01-01", "2023-12-31");
        c.base_url = Some("http://127.0.0.1:1".into());
        c.client_id = Some(Secret::new("k"));
        c.client_secret = Some(Secret::new("s"));
        c
    }

    fn keys(c: &CxoneConfig) -> Vec<String> {
        c.validate()
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.key)
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(base().validate(), Ok(()));
    }

    #[test]
    fn yaml_with_unknown_key_is_refused() {
        let y = r#"{"report_id": "r", "date_range": {"start": "2023-01-01", "end": "2023-01-02"}, "bogus": 1}"#;
        let e = serde_json::from_str::<CxoneConfig>(y)
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn every_problem_named_by_key() {
        let mut c = base();
        c.date_range.start = "2023-13-01".into();
        c.page_size = 0;
        c.max_window_days = 91;
        c.columns = vec![];
        c.format = ExportFormat::Xlsx;
        c.base_url = Some("ftp://x".into());
        let k = keys(&c);
        for want in [
            "date_range.start",
            "page_size",
            "max_window_days",
            "columns",
            "format",
            "base_url",
        ] {
            assert!(k.iter().any(|x| x == want), "{want} missing in {k:?}");
        }
    }

    #[test]
    fn end_before_start_is_refused() {
        let mut c = base();
        c.date_range.start = "2023-02-01".into();
        c.date_range.end = "2023-01-01".into();
        assert_eq!(keys(&c), vec!["date_range.end"]);
    }

    #[test]
    fn duplicate_and_too_many_columns() {
        let mut c = base();
        c.columns = vec!["id".into(), "id".into()];
        assert_eq!(keys(&c), vec!["columns[1]"]);
        c.columns = (0..151).map(|i| format!("c{i}")).collect();
        assert_eq!(keys(&c), vec!["columns"]);
    }

    #[test]
    fn debug_does_not_leak_credentials() {
        let c = base();
        let d = format!("{c:?}");
        assert!(d.contains("**REDACTED**"));
        let json = serde_json::to_string(&c).unwrap();
        assert!(!json.contains("\"k\""));
    }
}

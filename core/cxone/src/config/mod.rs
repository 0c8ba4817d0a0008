//! The source's configuration: raw serde struct, documented field by field ([`CxoneConfig`]),
//! the settings of the real dialects (module `dialects`), and its validation (module `check`: every
//! problem reported with its key path).

mod check;
mod dialects;
#[cfg(test)]
mod tests;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::window::MAX_EXPORT_DAYS;

pub(crate) use check::{check_credential_url, resolve_secret};
pub use dialects::*;

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
    /// The report to export (analytics-export only; ignored by the real APIs).
    /// Example: `3a2b1c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6`.
    #[serde(default)]
    pub report_id: String,
    /// Date range to export; split into windows of at most `max_window_days`.
    pub date_range: DateRangeConfig,
    /// Columns requested (1 to 150, unique); they define the Arrow schema, in order.
    /// Default: the ten interaction fields `id, direction, medium, startTime, endTime,
    /// agentId, queueId, holdTime, wrapTime, talkTime`.
    #[serde(default = "default_columns")]
    pub columns: Vec<String>,
    /// Time columns kept as the server's text instead of `Timestamp(ms, UTC)` (for a lake
    /// that must hold exactly what was sent). Example: `[startTime, endTime]`. Default: `[]`
    /// (`startTime` and `endTime` are timestamps).
    #[serde(default)]
    pub columns_as_strings: Vec<String>,
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
    /// Longest window (days) of one export job or query, 1 to 90. Default: 90, and 14 for
    /// `api: data-extraction` (one extraction job per window; large jobs take long and
    /// the tenant runs one at a time).
    #[serde(default)]
    pub max_window_days: Option<u32>,
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
    /// Largest successful response body read, in bytes (a page, a token, a CSV download
    /// is streamed and not capped): a larger one fails the window instead of exhausting
    /// memory. Checked against Content-Length and while reading. Default: 268435456
    /// (256 MiB). Error bodies are read to 64 KiB.
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: u64,
    /// Accept `http://` for URLs that get credentials (`base_url`, `token_url`, the
    /// access-key endpoints, and the endpoints a discovery document names). Default:
    /// false: such URLs must be https, except on loopback (`127.0.0.1`, `::1`,
    /// `localhost`), where traffic never leaves the machine.
    #[serde(default)]
    pub allow_http: bool,
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
    /// Which CXone API to read: `analytics-export` (the tutorial's contract, default),
    /// `reporting` (completed contacts, paged JSON) or `data-extraction` (jobs → CSV).
    #[serde(default)]
    pub api: ApiDialect,
    /// How to authenticate: `client-credentials` (the tutorial's, default) or
    /// `access-key` (the real flow: discovery, password grant, refresh tokens).
    #[serde(default)]
    pub auth: AuthMode,
    /// Settings of `auth: access-key`.
    #[serde(default)]
    pub access_key: AccessKeyConfig,
    /// Settings of `api: reporting`.
    #[serde(default)]
    pub reporting: ReportingConfig,
    /// Settings of `api: data-extraction`.
    #[serde(default)]
    pub data_extraction: DataExtractionConfig,
    /// Field mapping from the API's records to Arrow columns (real APIs only): wire names
    /// (JSON fields, CSV headers) → typed columns. Default: the native schema of the
    /// dialect (`docs/cxone.md`: every published field, old API versions' names folded
    /// in). Set it for an extraction entity without a built-in schema, or to rename.
    #[serde(default)]
    pub mapping: Option<Vec<crate::mapping::FieldMapping>>,
    /// Shape of the records of the real APIs: `native` (default: the API's own record,
    /// every published field, typed) or `interaction` (projected onto the tutorial's
    /// 10-column interaction schema plus `lastUpdateTime`; see `docs/cxone.md` for how
    /// each column is derived). The analytics export always has its `columns`.
    #[serde(default)]
    pub schema: RecordShape,
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
/// Default window of `api: data-extraction`, in days.
pub const DEFAULT_EXTRACTION_WINDOW_DAYS: u32 = 14;
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
fn default_max_response_bytes() -> u64 {
    256 * 1024 * 1024
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
            columns_as_strings: Vec::new(),
            filters: serde_json::Map::new(),
            format: default_format(),
            page_size: default_page_size(),
            max_window_days: None,
            poll_interval_ms: default_poll_interval_ms(),
            max_poll_interval_ms: default_max_poll_interval_ms(),
            poll_timeout_secs: default_poll_timeout_secs(),
            concurrency: default_concurrency(),
            max_retries: default_max_retries(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            request_timeout_secs: default_request_timeout_secs(),
            max_requests_per_second: None,
            max_response_bytes: default_max_response_bytes(),
            allow_http: false,
            keep_extra_fields: false,
            export_retries: default_export_retries(),
            verify_record_count: true,
            incremental: false,
            simulator: None,
            api: ApiDialect::default(),
            auth: AuthMode::default(),
            access_key: AccessKeyConfig::default(),
            reporting: ReportingConfig::default(),
            data_extraction: DataExtractionConfig::default(),
            mapping: None,
            schema: RecordShape::default(),
        }
    }

    /// Where the OAuth client's id and secret are set, for messages: `[(key, environment
    /// variable)]` of the id, then of the secret, as [`CxoneConfig::client_credentials`]
    /// reads them.
    pub(crate) fn client_credential_sources(&self) -> [(&'static str, &'static str); 2] {
        match self.auth {
            AuthMode::AccessKey => [
                ("access_key.client_id", ENV_CLIENT_ID),
                ("access_key.client_secret", ENV_CLIENT_SECRET),
            ],
            AuthMode::ClientCredentials => [
                ("client_id", ENV_API_KEY),
                ("client_secret", ENV_API_SECRET),
            ],
        }
    }

    /// The OAuth client's id and secret, as the auth mode resolves them: for
    /// `client-credentials` `client_id`/`client_secret` (or `CXONE_API_KEY`/
    /// `CXONE_API_SECRET`); for `access-key` the application's `access_key.client_id`/
    /// `client_secret` (or `CXONE_CLIENT_ID`/`CXONE_CLIENT_SECRET`), falling back to the
    /// former.
    pub fn client_credentials(&self) -> (Option<Secret>, Option<Secret>) {
        let top = (
            resolve_secret(&self.client_id, ENV_API_KEY),
            resolve_secret(&self.client_secret, ENV_API_SECRET),
        );
        match self.auth {
            AuthMode::ClientCredentials => top,
            AuthMode::AccessKey => (
                resolve_secret(&self.access_key.client_id, ENV_CLIENT_ID).or(top.0),
                resolve_secret(&self.access_key.client_secret, ENV_CLIENT_SECRET).or(top.1),
            ),
        }
    }

    /// The longest window in days: `max_window_days`, else the dialect's default.
    pub fn window_days(&self) -> u32 {
        self.max_window_days.unwrap_or(match self.api {
            ApiDialect::DataExtraction => DEFAULT_EXTRACTION_WINDOW_DAYS,
            _ => MAX_EXPORT_DAYS,
        })
    }

    /// The effective base URL (override first), without a trailing slash.
    pub(crate) fn effective_base_url(&self, override_url: Option<&str>) -> Option<String> {
        override_url
            .map(str::to_string)
            .or_else(|| self.base_url.clone())
            .map(|u| u.trim_end_matches('/').to_string())
    }
}

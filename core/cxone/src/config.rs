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

/// The shape of the records the real dialects emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RecordShape {
    /// The API's own record, every published field, typed.
    #[default]
    Native,
    /// The interaction projection (`id, direction, medium, startTime, endTime, agentId,
    /// queueId, holdTime, wrapTime, talkTime, lastUpdateTime`).
    Interaction,
}

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// From the discovery document's `token_endpoint_auth_methods_supported`:
    /// `client_secret_basic` when listed (or when the list is absent), else
    /// `client_secret_post`.
    #[default]
    Auto,
    /// HTTP Basic with the form-urlencoded client id and secret.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// Date format of Data Extraction job requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ExtractionDates {
    /// `YYYY-MM-DD`, end exclusive (what public callers send); windows must be whole days.
    #[default]
    Date,
    /// RFC 3339 UTC date-times (`2023-01-01T00:00:00.000Z`), end exclusive.
    DateTime,
}

/// Which CXone API the source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ApiDialect {
    /// The tutorial's analytics export jobs (`/api/v2/analytics/data-exports`).
    #[default]
    AnalyticsExport,
    /// The Reporting API's completed contacts (`/inContactAPI/services/vNN.0/contacts/completed`).
    Reporting,
    /// The Data Extraction API (`/data-extraction/v1/jobs`, CSV downloads).
    DataExtraction,
}

/// How the source authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// OAuth client credentials at `token_url` (the tutorial's).
    #[default]
    ClientCredentials,
    /// Access key id + secret (password grant, HTTP Basic client auth, refresh tokens),
    /// token endpoint from OpenID discovery, API base from the tenant's configuration.
    AccessKey,
}

/// Environment variable read when `access_key.access_key_id` is absent.
pub const ENV_ACCESS_KEY_ID: &str = "CXONE_ACCESS_KEY_ID";
/// Environment variable read when `access_key.access_key_secret` is absent.
pub const ENV_ACCESS_KEY_SECRET: &str = "CXONE_ACCESS_KEY_SECRET";
/// Environment variable read when `access_key.client_id` is absent.
pub const ENV_CLIENT_ID: &str = "CXONE_CLIENT_ID";
/// Environment variable read when `access_key.client_secret` is absent.
pub const ENV_CLIENT_SECRET: &str = "CXONE_CLIENT_SECRET";
/// The discovery host of commercial tenants.
pub const DEFAULT_DISCOVERY_URL: &str = "https://cxone.niceincontact.com";

/// `auth: access-key` settings. With the built-in simulator every endpoint is
/// discovered from the simulator's URL and the configured ones are ignored.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct AccessKeyConfig {
    /// Base of the OpenID discovery document (`{discovery_url}/.well-known/openid-configuration`).
    /// Default: `https://cxone.niceincontact.com` (FedRAMP: `https://cxone-gov.niceincontact.com`).
    #[serde(default)]
    pub discovery_url: Option<String>,
    /// Token endpoint; skips the OpenID discovery. Example: `https://cxone.niceincontact.com/auth/token`.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// The API user's access key id. Default: the `CXONE_ACCESS_KEY_ID` environment variable.
    #[serde(default)]
    pub access_key_id: Option<Secret>,
    /// The access key secret. Default: the `CXONE_ACCESS_KEY_SECRET` environment variable.
    #[serde(default)]
    pub access_key_secret: Option<Secret>,
    /// The registered application's client id. Default: the `CXONE_CLIENT_ID`
    /// environment variable, else the top-level `client_id` (or `CXONE_API_KEY`).
    #[serde(default)]
    pub client_id: Option<Secret>,
    /// The registered application's client secret. Default: the `CXONE_CLIENT_SECRET`
    /// environment variable, else the top-level `client_secret` (or `CXONE_API_SECRET`).
    #[serde(default)]
    pub client_secret: Option<Secret>,
    /// Client authentication at the token endpoint: `auto` (default: as the discovery
    /// document advertises, Basic when it says nothing), `client_secret_basic` or
    /// `client_secret_post`. The refresh grant always carries `client_id` too.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// The tenant configuration document. Default:
    /// `{discovery_url}/.well-known/cxone-configuration` (queried with `?tenantId=`).
    #[serde(default)]
    pub tenant_config_url: Option<String>,
    /// The API base; skips the tenant discovery. Example: `https://api-na1.niceincontact.com`.
    #[serde(default)]
    pub api_endpoint: Option<String>,
}

/// `api: reporting` settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ReportingConfig {
    /// API version in the path. Default: `v26.0`. Example: `v12.0` (old field names).
    #[serde(default = "default_api_version")]
    pub api_version: String,
    /// Fields requested (`fields=`); empty asks for all. Example: `[contactId, lastUpdateTime]`.
    #[serde(default)]
    pub fields: Vec<String>,
    /// Query filters sent as they are: `mediaTypeId`, `skillId`, `agentId`, `teamId`, ...
    /// Example: `{mediaTypeId: "4"}`.
    #[serde(default)]
    pub filters: std::collections::BTreeMap<String, String>,
    /// Rows per page (`top`), 1 to 10000. Default: 10000.
    #[serde(default = "default_top")]
    pub top: u32,
    /// Incremental bookmark: only rows with `lastUpdateTime` after this (RFC 3339) are
    /// read, ordered by `lastUpdateTime asc`. The engine sets it from the state store
    /// when `incremental: true`. Default: none (a full read).
    #[serde(default)]
    pub updated_since: Option<String>,
    /// The record field whose maximum is the window's bookmark. Default: `lastUpdateTime`.
    #[serde(default = "default_bookmark_field")]
    pub bookmark_field: String,
}

impl Default for ReportingConfig {
    fn default() -> Self {
        Self {
            api_version: default_api_version(),
            fields: Vec::new(),
            filters: Default::default(),
            top: default_top(),
            updated_since: None,
            bookmark_field: default_bookmark_field(),
        }
    }
}

/// `api: data-extraction` settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct DataExtractionConfig {
    /// Entity extracted. Default: `recording-interaction-metadata`.
    #[serde(default = "default_entity")]
    pub entity: String,
    /// Entity version. Default: `7` (what public callers of
    /// `recording-interaction-metadata` send; `10` is also seen).
    #[serde(default = "default_entity_version")]
    pub version: String,
    /// Format of the job's `startDate`/`endDate`: `date` (default, `YYYY-MM-DD`, as
    /// public callers send) or `date-time` (RFC 3339 UTC).
    #[serde(default)]
    pub dates: ExtractionDates,
    /// Shortest interval between two calls to the extraction API (create, poll), in ms:
    /// the tenant allows one call per 30 s and answers 403 otherwise. Default: 30000.
    #[serde(default = "default_min_call_interval_ms")]
    pub min_call_interval_ms: u64,
    /// Fresh download links asked for after an expired one, per job. Default: 3.
    #[serde(default = "default_link_retries")]
    pub link_retries: u32,
}

impl Default for DataExtractionConfig {
    fn default() -> Self {
        Self {
            entity: default_entity(),
            version: default_entity_version(),
            dates: ExtractionDates::default(),
            min_call_interval_ms: default_min_call_interval_ms(),
            link_retries: default_link_retries(),
        }
    }
}

fn default_api_version() -> String {
    "v26.0".into()
}
fn default_top() -> u32 {
    10_000
}
fn default_bookmark_field() -> String {
    "lastUpdateTime".into()
}
fn default_entity() -> String {
    "recording-interaction-metadata".into()
}
fn default_entity_version() -> String {
    "7".into()
}
fn default_min_call_interval_ms() -> u64 {
    30_000
}
fn default_link_retries() -> u32 {
    3
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
        let (id_key, secret_key, id_env, secret_env) = match self.auth {
            AuthMode::AccessKey => (
                "access_key.client_id",
                "access_key.client_secret",
                ENV_CLIENT_ID,
                ENV_CLIENT_SECRET,
            ),
            AuthMode::ClientCredentials => {
                ("client_id", "client_secret", ENV_API_KEY, ENV_API_SECRET)
            }
        };
        if id.is_none() {
            p.push(ConfigProblem::new(
                id_key,
                format!("missing: set it or the {id_env} environment variable"),
            ));
        }
        if secret.is_none() {
            p.push(ConfigProblem::new(
                secret_key,
                format!("missing: set it or the {secret_env} environment variable"),
            ));
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
        c.max_window_days = Some(91);
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
    fn durations_are_bounded_and_credential_urls_must_be_https() {
        let mut c = base();
        c.max_backoff_ms = u64::MAX;
        c.data_extraction.min_call_interval_ms = u64::MAX;
        c.request_timeout_secs = u64::MAX;
        assert_eq!(
            keys(&c),
            vec![
                "max_backoff_ms",
                "data_extraction.min_call_interval_ms",
                "request_timeout_secs"
            ]
        );
        let mut c = base();
        c.base_url = Some("http://cxone.example.com".into());
        c.token_url = Some("https://user:pw@cxone.example.com/t?secret=x".into());
        assert_eq!(keys(&c), vec!["base_url"]);
        let msg = c.validate().unwrap_err()[0].message.clone();
        assert!(msg.contains("allow_http"), "{msg}");
        for ok in [
            "http://127.0.0.1:8080",
            "http://localhost:1",
            "http://[::1]:9",
        ] {
            c.base_url = Some(ok.into());
            assert_eq!(c.validate(), Ok(()), "{ok}");
        }
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

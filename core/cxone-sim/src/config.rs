//! The simulator's knobs: one struct usable from Rust, from YAML (serde) and from
//! `tributary sim` flags (clap).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::SimError;

/// The scope that creating an export requires.
pub const SCOPE_EXPORT_WRITE: &str = "analytics:export:write";
/// The scope that polling an export and reading its pages requires.
pub const SCOPE_EXPORT_READ: &str = "analytics:export:read";
/// The third scope the tutorial asks for.
pub const SCOPE_REPORTS_READ: &str = "reports:read";

/// Largest `records_per_day` the simulator accepts (record ids carry a 7-digit index).
pub const MAX_RECORDS_PER_DAY: u32 = 10_000_000;

/// Every knob of one simulator instance.
///
/// `SimConfig::default()` is a clean simulator: seed 42, 2740 records per day (about a
/// million a year), one "pending" poll before an export completes, no faults, tokens
/// living 3600 s, client `sim-client` / `sim-secret`, all three scopes granted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, clap::Args)]
#[serde(deny_unknown_fields, default, rename_all = "snake_case")]
pub struct SimConfig {
    /// Seed of all generated data and of every fault decision. Same seed, same bytes.
    /// Example: `42`.
    #[arg(long, default_value_t = default_seed())]
    pub seed: u64,

    /// Interactions generated per UTC day (exactly this many each day from 1970 on).
    /// Example: `2740` (about one million a year). At most 10,000,000.
    #[arg(long, default_value_t = default_records_per_day())]
    pub records_per_day: u32,

    /// How many polls of an export answer `pending`/`processing` before one answers
    /// `completed` (or `failed`). `0` completes the export at creation. Example: `1`.
    #[arg(long, default_value_t = default_polls_before_complete())]
    pub polls_before_complete: u32,

    /// Probability that a request answers `429 Too Many Requests` with `Retry-After`.
    /// Example: `0.05`.
    #[arg(long, default_value_t = 0.0)]
    pub p429: f64,

    /// Form of the `Retry-After` header on a 429: `seconds` or `http-date`.
    #[arg(long, value_enum, default_value_t = RetryAfterMode::Seconds)]
    pub retry_after: RetryAfterMode,

    /// Seconds the `Retry-After` header asks a client to wait. Example: `1`.
    #[arg(long, default_value_t = default_retry_after_secs())]
    pub retry_after_secs: u64,

    /// Probability that a create/poll/data request answers `500 Internal Server Error`.
    #[arg(long, default_value_t = 0.0)]
    pub p500: f64,

    /// Probability that a create/poll/data request answers `502 Bad Gateway`.
    #[arg(long, default_value_t = 0.0)]
    pub p502: f64,

    /// Probability that a create/poll/data request answers `503 Service Unavailable`.
    #[arg(long, default_value_t = 0.0)]
    pub p503: f64,

    /// Probability that a request is slow: answered after an extra `slow_ms`.
    #[arg(long, default_value_t = 0.0)]
    pub p_slow: f64,

    /// Extra delay of a slow response, in milliseconds. Example: `2000`.
    #[arg(long, default_value_t = default_slow_ms())]
    pub slow_ms: u64,

    /// Endpoints the transient faults (429, 5xx, slow) apply to: any of `token`,
    /// `create`, `poll`, `data`. The token endpoint only ever gets 429 (as the contract
    /// says), never 5xx. Example: `[data]`.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = FaultEndpoint::all())]
    pub fault_endpoints: Vec<FaultEndpoint>,

    /// When set, creating an export whose window is longer than this many days answers
    /// `504 Gateway Timeout` (the client should split the window). Example: `30`.
    #[arg(long)]
    pub max_window_days_before_504: Option<u32>,

    /// Probability that an export ends `failed` with an `errorMessage`. Decided per
    /// (date range, submission number), so resubmitting the same range may succeed.
    #[arg(long, default_value_t = 0.0)]
    pub p_export_fail: f64,

    /// Exports fail (every time) when any day they cover, written `YYYY-MM-DD`,
    /// contains one of these substrings. Example: `["2023-02-14", "2023-03-"]`.
    #[arg(long, value_delimiter = ',')]
    pub fail_dates: Vec<String>,

    /// When set, a `nextPageToken` older than this many seconds is refused with
    /// `400 expired_page_token` (restart the pagination). `0` expires them at once.
    #[arg(long)]
    pub page_token_ttl_secs: Option<u64>,

    /// Fraction of records that lack one field (never `id`). Example: `0.01`.
    #[arg(long, default_value_t = 0.0)]
    pub missing_field_fraction: f64,

    /// Fraction of records that carry `null` in one field (never `id`). Example: `0.01`.
    #[arg(long, default_value_t = 0.0)]
    pub null_field_fraction: f64,

    /// Fraction of records that carry a field the schema does not know
    /// (`customerSentiment`). Example: `0.01`.
    #[arg(long, default_value_t = 0.0)]
    pub extra_field_fraction: f64,

    /// Delay added to every request, in milliseconds. Example: `20`.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,

    /// Lifetime of an access token in seconds (`expires_in`); after it, the token gets
    /// `401`. `0` issues tokens that are already expired. Example: `3600`.
    #[arg(long, default_value_t = default_token_ttl_secs())]
    pub token_ttl_secs: u64,

    /// The client id the token endpoint accepts. Example: `sim-client`.
    #[arg(long, default_value_t = default_client_id())]
    pub client_id: String,

    /// The client secret the token endpoint accepts. Example: `sim-secret`.
    #[arg(
        long,
        env = "TRIBUTARY_SIM_CLIENT_SECRET",
        default_value = "sim-secret",
        hide_default_value = true
    )]
    #[schemars(extend("writeOnly" = true))]
    pub client_secret: SimSecret,

    /// Scopes granted to tokens (a token gets the requested scopes that are in this
    /// list). Example: `["analytics:export:read", "analytics:export:write", "reports:read"]`.
    #[arg(long, value_delimiter = ',', default_values_t = default_scopes())]
    pub scopes: Vec<String>,

    /// Upper bound on the bytes of serialized pages kept in memory for retries (a page is
    /// generated again on a miss, identically: the cache saves CPU, not correctness).
    /// Example: `8388608` (8 MiB, about seven 5,000-record pages).
    #[arg(long, default_value_t = default_page_cache_bytes())]
    pub page_cache_bytes: u64,
    /// The tenant id carried in the `tenantId` claim of access-key tokens and answered
    /// by `/.well-known/cxone-configuration?tenantId=`. Example: `11ee0000-sim-tenant`.
    #[arg(long, default_value_t = default_tenant_id())]
    pub tenant_id: String,
    /// The access key id the password grant (`POST /auth/token`) accepts as `username`.
    /// Example: `sim-access-key`.
    #[arg(long, default_value_t = default_access_key_id())]
    pub access_key_id: String,
    /// The access key secret the password grant accepts as `password`.
    #[arg(
        long,
        env = "TRIBUTARY_SIM_ACCESS_KEY_SECRET",
        default_value = "sim-access-secret",
        hide_default_value = true
    )]
    #[schemars(extend("writeOnly" = true))]
    pub access_key_secret: SimSecret,
    /// Lifetime of a refresh token in seconds; an older one is refused with
    /// `400 invalid_grant` (the client must fall back to a new password grant). `0`
    /// refuses every refresh. Example: `86400`.
    #[arg(long, default_value_t = default_refresh_token_ttl_secs())]
    pub refresh_token_ttl_secs: u64,
    /// Reporting API: answer with the field names of old API versions (`contactStart`,
    /// `ACWSeconds`, `fromAddr`, ...) whatever the version in the path (versions below
    /// v13 always get them).
    #[arg(long, default_value_t = false)]
    pub legacy_field_names: bool,
    /// Reporting API: carry numbers and booleans as JSON strings (`"42"`, `"true"`), as
    /// some old responses do.
    #[arg(long, default_value_t = false)]
    pub string_numbers: bool,
    /// Fraction of records whose `lastUpdateTime` is moved to `updated_at` (they were
    /// "updated later"; for incremental tests). Example: `0.05`.
    #[arg(long, default_value_t = 0.0)]
    pub updated_fraction: f64,
    /// The `lastUpdateTime` (RFC 3339) of the records picked by `updated_fraction`; a
    /// record keeps its own when that is later. Example: `2024-05-01T12:00:00Z`.
    #[arg(long)]
    pub updated_at: Option<String>,
    /// Data Extraction API: the shortest interval between two calls of the tenant to
    /// `/data-extraction/v1/jobs*`, in ms; a call sooner answers `403` ("wait and try
    /// again later"). Example: `30000` (the real limit).
    #[arg(long, default_value_t = default_extraction_min_interval_ms())]
    pub extraction_min_interval_ms: u64,
    /// Data Extraction API: lifetime of a `result.url` download link, in ms (the real
    /// links live about 30 s). Example: `30000`.
    #[arg(long, default_value_t = default_download_link_ttl_ms())]
    pub download_link_ttl_ms: u64,
    /// Data Extraction API: the first N download links issued for each job are already
    /// expired (the client must poll again for a fresh one). Example: `1`.
    #[arg(long, default_value_t = 0)]
    pub expire_first_downloads: u32,
    /// Reporting API and Data Extraction API: names removed from every completed-contact
    /// record (matched against the name served, e.g. `contactStart` when legacy names
    /// are on) and header names whose column is removed from every extraction CSV, to
    /// test a client against a tenant that does not send them.
    /// Example: `["endReason", "tags", "Agent 1 Team"]`.
    #[arg(long, value_delimiter = ',')]
    pub omit_fields: Vec<String>,
    /// Access-key token endpoint: the client authentication methods announced by the
    /// OpenID discovery document (`token_endpoint_auth_methods_supported`) and accepted
    /// by `POST /auth/token`: `client_secret_basic` (HTTP Basic) and/or
    /// `client_secret_post` (`client_id`/`client_secret` in the form body). NICE's
    /// published discovery document announces `client_secret_basic` only.
    /// Example: `["client_secret_basic", "client_secret_post"]`.
    #[arg(long, value_delimiter = ',', default_values_t = default_client_auth_methods())]
    pub client_auth_methods: Vec<String>,
    /// Data Extraction API: the terminal status of a job that hits `fail_dates`:
    /// `FAILED`, `CANCELLED` or `EXPIRED`. Example: `CANCELLED`.
    #[arg(long, value_enum, default_value_t = ExtractionFailureStatus::Failed)]
    pub extraction_failure_status: ExtractionFailureStatus,
}

/// The client authentication methods the access-key token endpoint knows.
pub const CLIENT_AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

fn default_client_auth_methods() -> Vec<String> {
    vec!["client_secret_basic".to_owned()]
}

fn default_tenant_id() -> String {
    "11ee0000-sim-tenant".to_owned()
}
fn default_access_key_id() -> String {
    "sim-access-key".to_owned()
}
fn default_access_key_secret() -> SimSecret {
    SimSecret::from("sim-access-secret")
}
fn default_refresh_token_ttl_secs() -> u64 {
    86_400
}
fn default_extraction_min_interval_ms() -> u64 {
    30_000
}
fn default_download_link_ttl_ms() -> u64 {
    30_000
}

fn default_seed() -> u64 {
    42
}
fn default_records_per_day() -> u32 {
    2740
}
fn default_polls_before_complete() -> u32 {
    1
}
fn default_retry_after_secs() -> u64 {
    1
}
fn default_slow_ms() -> u64 {
    2000
}
fn default_token_ttl_secs() -> u64 {
    3600
}
fn default_client_id() -> String {
    "sim-client".to_owned()
}
fn default_client_secret() -> SimSecret {
    SimSecret::from("sim-secret")
}
fn default_scopes() -> Vec<String> {
    vec![
        SCOPE_EXPORT_READ.to_owned(),
        SCOPE_EXPORT_WRITE.to_owned(),
        SCOPE_REPORTS_READ.to_owned(),
    ]
}
fn default_page_cache_bytes() -> u64 {
    // 8 MiB: a run reads each page once, so a larger cache only held memory (64 MiB, the
    // old default, was a quarter of a 10M-record run's peak RSS with the built-in simulator).
    8 * 1024 * 1024
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: default_seed(),
            records_per_day: default_records_per_day(),
            polls_before_complete: default_polls_before_complete(),
            p429: 0.0,
            retry_after: RetryAfterMode::Seconds,
            retry_after_secs: default_retry_after_secs(),
            p500: 0.0,
            p502: 0.0,
            p503: 0.0,
            p_slow: 0.0,
            slow_ms: default_slow_ms(),
            fault_endpoints: FaultEndpoint::all(),
            max_window_days_before_504: None,
            p_export_fail: 0.0,
            fail_dates: Vec::new(),
            page_token_ttl_secs: None,
            missing_field_fraction: 0.0,
            null_field_fraction: 0.0,
            extra_field_fraction: 0.0,
            latency_ms: 0,
            token_ttl_secs: default_token_ttl_secs(),
            client_id: default_client_id(),
            client_secret: default_client_secret(),
            scopes: default_scopes(),
            page_cache_bytes: default_page_cache_bytes(),
            tenant_id: default_tenant_id(),
            access_key_id: default_access_key_id(),
            access_key_secret: default_access_key_secret(),
            refresh_token_ttl_secs: default_refresh_token_ttl_secs(),
            legacy_field_names: false,
            string_numbers: false,
            updated_fraction: 0.0,
            updated_at: None,
            extraction_min_interval_ms: default_extraction_min_interval_ms(),
            download_link_ttl_ms: default_download_link_ttl_ms(),
            expire_first_downloads: 0,
            omit_fields: Vec::new(),
            client_auth_methods: default_client_auth_methods(),
            extraction_failure_status: ExtractionFailureStatus::Failed,
        }
    }
}

impl SimConfig {
    /// Checks every knob; the error names the key at fault.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] for a probability outside `[0, 1]`, probabilities of
    /// 429 and 5xx that add up to more than 1, `records_per_day` above 10,000,000, an
    /// empty name in `omit_fields`, or `client_auth_methods` empty or naming a method
    /// other than `client_secret_basic` and `client_secret_post`.
    pub fn validate(&self) -> Result<(), SimError> {
        let probabilities = [
            ("p429", self.p429),
            ("p500", self.p500),
            ("p502", self.p502),
            ("p503", self.p503),
            ("p_slow", self.p_slow),
            ("p_export_fail", self.p_export_fail),
            ("missing_field_fraction", self.missing_field_fraction),
            ("null_field_fraction", self.null_field_fraction),
            ("extra_field_fraction", self.extra_field_fraction),
            ("updated_fraction", self.updated_fraction),
        ];
        for (key, p) in probabilities {
            if !(0.0..=1.0).contains(&p) {
                return Err(SimError::InvalidConfig {
                    key,
                    message: format!("{p} is not a probability; use a number from 0 to 1"),
                });
            }
        }
        let transient = self.p429 + self.p500 + self.p502 + self.p503;
        if transient > 1.0 + 1e-9 {
            return Err(SimError::InvalidConfig {
                key: "p429",
                message: format!(
                    "p429 + p500 + p502 + p503 = {transient} exceeds 1; lower some of them"
                ),
            });
        }
        if self.records_per_day > MAX_RECORDS_PER_DAY {
            return Err(SimError::InvalidConfig {
                key: "records_per_day",
                message: format!(
                    "{} exceeds the maximum of {MAX_RECORDS_PER_DAY}",
                    self.records_per_day
                ),
            });
        }
        if let Some(at) = &self.updated_at
            && chrono::DateTime::parse_from_rfc3339(at).is_err()
        {
            return Err(SimError::InvalidConfig {
                key: "updated_at",
                message: format!("`{at}` is not an RFC 3339 timestamp (2024-05-01T12:00:00Z)"),
            });
        }
        if self.updated_fraction > 0.0 && self.updated_at.is_none() {
            return Err(SimError::InvalidConfig {
                key: "updated_at",
                message: "updated_fraction is set but updated_at is not; set both".into(),
            });
        }
        self.validate_real()
    }

    /// The knobs of the real dialects.
    fn validate_real(&self) -> Result<(), SimError> {
        if self.omit_fields.iter().any(|f| f.trim().is_empty()) {
            return Err(SimError::InvalidConfig {
                key: "omit_fields",
                message: "an empty name; list field or header names, e.g. [endReason]".into(),
            });
        }
        if self.client_auth_methods.is_empty() {
            return Err(SimError::InvalidConfig {
                key: "client_auth_methods",
                message: format!(
                    "no method: the token endpoint would refuse every client; use some of {}",
                    CLIENT_AUTH_METHODS.join(", ")
                ),
            });
        }
        if let Some(bad) = self
            .client_auth_methods
            .iter()
            .find(|m| !CLIENT_AUTH_METHODS.contains(&m.as_str()))
        {
            return Err(SimError::InvalidConfig {
                key: "client_auth_methods",
                message: format!(
                    "unknown method `{bad}`; use {}",
                    CLIENT_AUTH_METHODS.join(" or ")
                ),
            });
        }
        Ok(())
    }

    /// True when the token endpoint accepts client authentication `method`.
    #[cfg(feature = "server")]
    pub(crate) fn accepts_client_auth(&self, method: &str) -> bool {
        self.client_auth_methods.iter().any(|m| m == method)
    }

    /// The `lastUpdateTime` of `updated_at`, in epoch ms.
    pub(crate) fn updated_at_ms(&self) -> Option<i64> {
        self.updated_at
            .as_deref()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.timestamp_millis())
    }

    /// True when transient faults apply to `endpoint`.
    #[cfg(feature = "server")]
    pub(crate) fn faults_apply_to(&self, endpoint: FaultEndpoint) -> bool {
        self.fault_endpoints.contains(&endpoint)
    }
}

/// How a 429 writes its `Retry-After` header.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
#[value(rename_all = "kebab-case")]
pub enum RetryAfterMode {
    /// `Retry-After: 2` (delay in seconds).
    #[default]
    Seconds,
    /// `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` (an HTTP date).
    #[serde(alias = "http_date")]
    HttpDate,
}

/// The terminal status of a Data Extraction job that fails (`fail_dates`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
pub enum ExtractionFailureStatus {
    /// `FAILED`, with an `errorMessage`.
    #[default]
    #[serde(rename = "FAILED", alias = "failed")]
    #[value(name = "FAILED", alias = "failed")]
    Failed,
    /// `CANCELLED`.
    #[serde(rename = "CANCELLED", alias = "cancelled")]
    #[value(name = "CANCELLED", alias = "cancelled")]
    Cancelled,
    /// `EXPIRED`.
    #[serde(rename = "EXPIRED", alias = "expired")]
    #[value(name = "EXPIRED", alias = "expired")]
    Expired,
}

impl ExtractionFailureStatus {
    /// The status as the job poll writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::Expired => "EXPIRED",
        }
    }
}

impl fmt::Display for ExtractionFailureStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An endpoint transient faults may be injected into.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum FaultEndpoint {
    /// `POST /oauth/token` (429 only).
    Token,
    /// `POST /api/v2/analytics/data-exports`.
    Create,
    /// `GET /api/v2/analytics/data-exports/{id}`.
    Poll,
    /// `GET /api/v2/analytics/data-exports/{id}/data`.
    Data,
}

impl FaultEndpoint {
    /// All four endpoints.
    pub fn all() -> Vec<FaultEndpoint> {
        vec![Self::Token, Self::Create, Self::Poll, Self::Data]
    }
}

impl fmt::Display for FaultEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Token => "token",
            Self::Create => "create",
            Self::Poll => "poll",
            Self::Data => "data",
        })
    }
}

/// The simulator's credentials use the one secret type of every crate (the SDK's):
/// `Debug`, `Display` and `Serialize` print `**REDACTED**`.
pub use tributary_plugin_sdk::Secret as SimSecret;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        sim: SimConfig,
    }

    #[test]
    fn clap_defaults_equal_serde_defaults() {
        let cli = Cli::try_parse_from(["sim"]).unwrap();
        assert_eq!(cli.sim, SimConfig::default());
        let yaml: SimConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(yaml, SimConfig::default());
    }

    #[test]
    fn clap_flags_set_knobs() {
        let cli = Cli::try_parse_from([
            "sim",
            "--records-per-day",
            "10",
            "--p429",
            "0.5",
            "--retry-after",
            "http-date",
            "--fault-endpoints",
            "data,poll",
            "--max-window-days-before-504",
            "7",
            "--fail-dates",
            "2023-01-02,2023-02",
            "--client-secret",
            "s3cret",
            "--omit-fields",
            "endReason,Agent 1 Team",
            "--client-auth-methods",
            "client_secret_basic,client_secret_post",
            "--extraction-failure-status",
            "EXPIRED",
        ])
        .unwrap();
        assert_eq!(cli.sim.omit_fields, vec!["endReason", "Agent 1 Team"]);
        assert_eq!(
            cli.sim.client_auth_methods,
            vec!["client_secret_basic", "client_secret_post"]
        );
        assert_eq!(
            cli.sim.extraction_failure_status,
            ExtractionFailureStatus::Expired
        );
        assert_eq!(cli.sim.records_per_day, 10);
        assert_eq!(cli.sim.p429, 0.5);
        assert_eq!(cli.sim.retry_after, RetryAfterMode::HttpDate);
        assert_eq!(
            cli.sim.fault_endpoints,
            vec![FaultEndpoint::Data, FaultEndpoint::Poll]
        );
        assert_eq!(cli.sim.max_window_days_before_504, Some(7));
        assert_eq!(cli.sim.fail_dates, vec!["2023-01-02", "2023-02"]);
        assert_eq!(cli.sim.client_secret.expose(), "s3cret");
    }

    #[test]
    fn yaml_like_json_rejects_unknown_keys_and_reads_retry_after() {
        let cfg: SimConfig =
            serde_json::from_str(r#"{"retry_after": "http-date", "p503": 0.1}"#).unwrap();
        assert_eq!(cfg.retry_after, RetryAfterMode::HttpDate);
        assert_eq!(cfg.p503, 0.1);
        let err = serde_json::from_str::<SimConfig>(r#"{"p430": 1}"#).unwrap_err();
        assert!(err.to_string().contains("p430"), "{err}");
    }

    #[test]
    fn secret_is_redacted_in_debug_and_schema_marks_it() {
        let cfg = SimConfig::default();
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("sim-secret"), "{dbg}");
        assert!(dbg.contains("**REDACTED**"));
        let schema = serde_json::to_value(schemars::schema_for!(SimConfig)).unwrap();
        assert_eq!(
            schema["properties"]["client_secret"]["writeOnly"],
            serde_json::Value::Bool(true)
        );
        assert_eq!(
            schema["additionalProperties"],
            serde_json::Value::Bool(false)
        );
    }

    #[test]
    fn validate_names_the_key() {
        let cfg = SimConfig {
            p502: 1.5,
            ..SimConfig::default()
        };
        assert!(cfg.validate().unwrap_err().to_string().contains("p502"));
        let cfg = SimConfig {
            p429: 0.6,
            p500: 0.6,
            ..SimConfig::default()
        };
        assert!(cfg.validate().is_err());
        assert!(SimConfig::default().validate().is_ok());
        let cfg = SimConfig {
            omit_fields: vec![String::new()],
            ..SimConfig::default()
        };
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("omit_fields")
        );
        let cfg = SimConfig {
            client_auth_methods: vec!["client_secret_jwt".into()],
            ..SimConfig::default()
        };
        assert!(
            cfg.validate()
                .unwrap_err()
                .to_string()
                .contains("client_auth_methods")
        );
    }

    #[test]
    fn failure_status_reads_upper_or_lower_case() {
        for (text, want) in [
            ("\"CANCELLED\"", ExtractionFailureStatus::Cancelled),
            ("\"expired\"", ExtractionFailureStatus::Expired),
        ] {
            let got: ExtractionFailureStatus = serde_json::from_str(text).unwrap();
            assert_eq!(got, want);
        }
        assert_eq!(
            serde_json::to_string(&ExtractionFailureStatus::Failed).unwrap(),
            "\"FAILED\""
        );
        let cli = Cli::try_parse_from(["sim", "--extraction-failure-status", "cancelled"]).unwrap();
        assert_eq!(
            cli.sim.extraction_failure_status,
            ExtractionFailureStatus::Cancelled
        );
    }
}

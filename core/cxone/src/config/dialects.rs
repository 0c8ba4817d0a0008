//! The settings of the real dialects and auth flows: `api`, `auth`, `schema`,
//! `access_key`, `reporting`, `data_extraction`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::secret::Secret;

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

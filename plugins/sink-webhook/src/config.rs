//! The `webhook` configuration: raw [`WebhookConfig`], secrets, and the checked
//! [`ValidatedConfig`].

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use tributary_plugin_sdk::secret::REDACTED;

pub use tributary_plugin_sdk::secret::Secret;

/// Extra request headers. Values may be credentials, so the whole map prints as
/// `**REDACTED**` (`Debug`, `Serialize`).
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SensitiveHeaders(BTreeMap<String, String>);

impl SensitiveHeaders {
    /// Builds from pairs.
    pub fn new<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        SensitiveHeaders(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}
impl std::fmt::Debug for SensitiveHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(REDACTED)
    }
}
impl Serialize for SensitiveHeaders {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}
impl JsonSchema for SensitiveHeaders {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SensitiveHeaders".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut s = BTreeMap::<String, String>::json_schema(generator);
        s.insert("writeOnly".into(), true.into());
        s.insert("x-sensitive".into(), true.into());
        s
    }
}

/// Configuration of the `webhook` sink.
///
/// ```yaml
/// sinks:
///   notify:
///     type: webhook
///     inputs: [checked]
///     url: https://data-lake.example.com/api/v1/ingest/cxone-interactions
///     secret: ${WEBHOOK_SECRET}
///     gzip: true
///     headers: { Authorization: "Bearer ${LAKE_TOKEN}" }
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct WebhookConfig {
    /// Where batches are POSTed (`http` or `https`).
    /// Example: `https://data-lake.example.com/api/v1/ingest/cxone-interactions`.
    pub url: String,
    /// Records per request. Example: `500` (the default).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Compress request bodies with gzip (`Content-Encoding: gzip`). The signature covers the
    /// uncompressed body. Example: `true`. Default `false`.
    #[serde(default)]
    pub gzip: bool,
    /// Key for the HMAC-SHA256 signature (`X-Tributary-Signature: v1=<hex>` over
    /// `<X-Tributary-Timestamp>.<body>`). Example: `${WEBHOOK_SECRET}`. Default: unsigned.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Extra headers sent with every request; values may hold credentials.
    /// Example: `{ Authorization: "Bearer ${LAKE_TOKEN}" }`.
    #[serde(default)]
    pub headers: SensitiveHeaders,
    /// Accept a plain `http://` url when requests carry credentials (`secret` or
    /// `headers`). Default: false: such a url must be https, except on loopback
    /// (`127.0.0.1`, `::1`, `localhost`). Redirects are never followed.
    #[serde(default)]
    pub allow_http: bool,
    /// Requests in flight at once. Example: `4` (the default).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Retries of one request after the first attempt (on 408, 429, 5xx, timeouts and
    /// connection errors). Example: `5` (the default).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// First backoff delay in milliseconds, doubled on each retry. Example: `500` (the default).
    #[serde(default = "default_initial_backoff_ms")]
    #[schemars(range(max = 3_600_000))]
    pub initial_backoff_ms: u64,
    /// Largest backoff delay in milliseconds. Example: `30000` (the default).
    #[serde(default = "default_max_backoff_ms")]
    #[schemars(range(max = 3_600_000))]
    pub max_backoff_ms: u64,
    /// Randomise each backoff delay to between half and all of it, so retries spread out.
    /// Example: `true` (the default).
    #[serde(default = "default_true")]
    pub jitter: bool,
    /// Longest wait a `Retry-After` answer may impose, in seconds. Example: `300` (the default).
    #[serde(default = "default_max_retry_after_secs")]
    #[schemars(range(max = 86_400))]
    pub max_retry_after_secs: u64,
    /// Per-request timeout in seconds (connect + send + answer). Example: `30` (the default).
    #[serde(default = "default_timeout_secs")]
    #[schemars(range(min = 1, max = 86_400))]
    pub timeout_secs: u64,
}

fn default_batch_size() -> usize {
    500
}
fn default_concurrency() -> usize {
    4
}
fn default_max_retries() -> u32 {
    5
}
fn default_initial_backoff_ms() -> u64 {
    500
}
fn default_max_backoff_ms() -> u64 {
    30_000
}
fn default_true() -> bool {
    true
}
fn default_max_retry_after_secs() -> u64 {
    300
}
fn default_timeout_secs() -> u64 {
    30
}

impl WebhookConfig {
    /// A configuration with defaults for everything but the URL.
    pub fn new(url: impl Into<String>) -> Self {
        WebhookConfig {
            url: url.into(),
            batch_size: default_batch_size(),
            gzip: false,
            secret: None,
            headers: SensitiveHeaders::default(),
            allow_http: false,
            concurrency: default_concurrency(),
            max_retries: default_max_retries(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_ms: default_max_backoff_ms(),
            jitter: true,
            max_retry_after_secs: default_max_retry_after_secs(),
            timeout_secs: default_timeout_secs(),
        }
    }
}

/// Headers the sink sets itself; `headers` may not override them.
pub const RESERVED_HEADERS: [&str; 6] = [
    "content-type",
    "content-encoding",
    "content-length",
    "idempotency-key",
    "x-tributary-signature",
    "x-tributary-timestamp",
];

/// A configuration that passed [`WebhookConfig::validate`]. Its `Debug` shows the URL
/// without query string or user info, and no header values.
#[derive(Clone)]
pub struct ValidatedConfig {
    /// Where to POST.
    pub url: Url,
    /// The URL as it may be printed: no user info, query or fragment.
    pub display_url: String,
    /// Records per request.
    pub batch_size: usize,
    /// Gzip bodies.
    pub gzip: bool,
    /// Signing key.
    pub secret: Option<Secret>,
    /// Extra headers (values are sensitive; `HeaderValue`s are marked so).
    pub headers: HeaderMap,
    /// Requests in flight.
    pub concurrency: usize,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff.
    pub initial_backoff: Duration,
    /// Largest backoff.
    pub max_backoff: Duration,
    /// Randomise backoffs.
    pub jitter: bool,
    /// Cap on `Retry-After`.
    pub max_retry_after: Duration,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl std::fmt::Debug for ValidatedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.keys().map(|k| k.as_str()).collect();
        f.debug_struct("ValidatedConfig")
            .field("url", &self.display_url)
            .field("batch_size", &self.batch_size)
            .field("gzip", &self.gzip)
            .field("secret", &self.secret)
            .field("headers", &header_names)
            .field("concurrency", &self.concurrency)
            .field("max_retries", &self.max_retries)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("jitter", &self.jitter)
            .field("max_retry_after", &self.max_retry_after)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// The URL without user info, query string or fragment (which may carry tokens).
pub fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

impl WebhookConfig {
    /// Checks the configuration.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key at fault; never echoing a secret.
    pub fn validate(self) -> Result<ValidatedConfig> {
        let cfg = |key: &str, message: String| Error::Config {
            key: key.to_string(),
            message,
        };
        let url = Url::parse(&self.url).map_err(|e| {
            cfg(
                "url",
                format!("not a URL ({e}); write e.g. https://data-lake.example.com/api/v1/ingest"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(cfg(
                "url",
                format!(
                    "scheme `{}` is not supported; use http or https",
                    url.scheme()
                ),
            ));
        }
        let credentials = self.secret.is_some() || !self.headers.0.is_empty();
        let loopback = url.host_str().is_some_and(|h| {
            h.eq_ignore_ascii_case("localhost")
                || h == "[::1]"
                || h.parse::<std::net::Ipv4Addr>()
                    .is_ok_and(|a| a.is_loopback())
        });
        if url.scheme() == "http" && credentials && !self.allow_http && !loopback {
            return Err(cfg(
                "url",
                "plain http with a `secret` or `headers` would send credentials in clear: use \
                 https, or set allow_http: true"
                    .into(),
            ));
        }
        if self.batch_size == 0 {
            return Err(cfg("batch_size", "must be at least 1 (default 500)".into()));
        }
        for (key, v, max) in [
            ("initial_backoff_ms", self.initial_backoff_ms, 3_600_000),
            ("max_backoff_ms", self.max_backoff_ms, 3_600_000),
            ("max_retry_after_secs", self.max_retry_after_secs, 86_400),
            ("timeout_secs", self.timeout_secs, 86_400),
        ] {
            if v > max {
                return Err(cfg(key, format!("{v} is above the limit {max}")));
            }
        }
        if self.concurrency == 0 {
            return Err(cfg("concurrency", "must be at least 1 (default 4)".into()));
        }
        if self.timeout_secs == 0 {
            return Err(cfg(
                "timeout_secs",
                "must be at least 1 (default 30)".into(),
            ));
        }
        if self.initial_backoff_ms > self.max_backoff_ms {
            return Err(cfg(
                "initial_backoff_ms",
                format!(
                    "{} is above max_backoff_ms {}",
                    self.initial_backoff_ms, self.max_backoff_ms
                ),
            ));
        }
        if let Some(s) = &self.secret {
            if s.expose().is_empty() {
                return Err(cfg(
                    "secret",
                    "is empty; is the environment variable it refers to set?".into(),
                ));
            }
        }
        let mut headers = HeaderMap::new();
        for (k, v) in &self.headers.0 {
            let key = format!("headers.{k}");
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| cfg(&key, "is not a valid HTTP header name".into()))?;
            if RESERVED_HEADERS.contains(&name.as_str()) {
                return Err(cfg(
                    &key,
                    "is set by the sink itself and cannot be overridden".into(),
                ));
            }
            let mut value = HeaderValue::from_str(v).map_err(|_| {
                cfg(
                    &key,
                    "has a value that is not a valid HTTP header value (value not shown)".into(),
                )
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(ValidatedConfig {
            display_url: display_url(&url),
            url,
            batch_size: self.batch_size,
            gzip: self.gzip,
            secret: self.secret,
            headers,
            concurrency: self.concurrency,
            max_retries: self.max_retries,
            initial_backoff: Duration::from_millis(self.initial_backoff_ms),
            max_backoff: Duration::from_millis(self.max_backoff_ms),
            jitter: self.jitter,
            max_retry_after: Duration::from_secs(self.max_retry_after_secs),
            timeout: Duration::from_secs(self.timeout_secs),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let json = r#"{"url": "https://u:pw@h.example/x?token=QUERYSECRET", "secret": "HMACSECRET",
                        "headers": {"Authorization": "Bearer HEADERSECRET"}}"#;
        let c: WebhookConfig = serde_json::from_str(json).unwrap();
        let shown = format!(
            "{c:?} {} {}",
            serde_json::to_string(&c).unwrap(),
            c.secret.as_ref().unwrap()
        );
        for s in ["HMACSECRET", "HEADERSECRET"] {
            assert!(!shown.contains(s), "{s} leaked: {shown}");
        }
        let v = c.validate().unwrap();
        let shown = format!("{v:?}");
        for s in ["HMACSECRET", "HEADERSECRET", "QUERYSECRET", "pw@"] {
            assert!(!shown.contains(s), "{s} leaked: {shown}");
        }
        assert_eq!(v.display_url, "https://h.example/x");
        assert!(!format!("{:?}", v.secret).contains("HMACSECRET"));
        assert!(!format!("{:?}", v.headers).contains("HEADERSECRET"));
    }

    #[test]
    fn bad_values_are_refused_with_their_key() {
        let mut c = WebhookConfig::new("ftp://x");
        assert!(
            c.clone()
                .validate()
                .unwrap_err()
                .to_string()
                .contains("sinks.<name>.url")
        );
        c.url = "http://127.0.0.1:1/".into();
        c.headers = SensitiveHeaders::new([("Idempotency-Key", "x")]);
        assert!(
            c.clone()
                .validate()
                .unwrap_err()
                .to_string()
                .contains("headers.Idempotency-Key")
        );
        c.headers = SensitiveHeaders::new([("X-Token", "bad\nSECRETVALUE")]);
        let e = c.clone().validate().unwrap_err().to_string();
        assert!(
            e.contains("headers.X-Token") && !e.contains("SECRETVALUE"),
            "{e}"
        );
        c.headers = SensitiveHeaders::default();
        c.batch_size = 0;
        assert!(c.validate().unwrap_err().to_string().contains("batch_size"));
        assert!(
            serde_json::from_str::<WebhookConfig>(r#"{"url": "http://x", "bogus": 1}"#).is_err()
        );
    }
}

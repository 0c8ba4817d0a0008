//! Building requests (JSON body, idempotency key, signature, gzip) and delivering them with
//! retries.

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow_array::RecordBatch;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::{
    CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use sha2::{Digest, Sha256};
use tributary_plugin_sdk::retry::{Backoff, parse_retry_after};

use crate::config::{Secret, ValidatedConfig};
use crate::error::{Error, Result};

/// Header carrying the idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Header carrying the signature, `v1=<hex>`.
pub const SIGNATURE: &str = "x-tributary-signature";
/// Header carrying the Unix time (seconds) the signature was made at.
pub const TIMESTAMP: &str = "x-tributary-timestamp";

/// One request's worth of records, ready to send (and to spool).
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Idempotency key: the same for every retry and every later redelivery.
    pub key: String,
    /// The uncompressed JSON body (`{"timestamp": ..., "records": [...]}`).
    pub body: Arc<Vec<u8>>,
    /// Records in the body.
    pub records: u64,
    /// Its position among the requests of its window (0, 1, ...).
    pub seq: u64,
}

/// The idempotency key of a request: SHA-256 (hex) over a format tag, the pipeline, the
/// component, the key of the request before it in the same window (empty for the first)
/// and the request's records as JSON (the body without its `timestamp`), NUL-separated.
///
/// Chaining makes the key depend on everything the window sent before, so two requests of
/// one window never share a key, even with equal records; and since it depends on nothing
/// but the window's records, the same window sent again (a retry, a `--resume`, a spool
/// redelivery) yields the same keys, which is what lets a receiver drop repeats. The
/// engine names a window only when it ends, so a key that needed the window's name would
/// force the sink to hold the whole window in memory; this one does not.
pub fn idempotency_key(pipeline: &str, component: &str, previous: &str, records: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [
        b"tributary-webhook-v2".as_slice(),
        pipeline.as_bytes(),
        component.as_bytes(),
        previous.as_bytes(),
        records,
    ] {
        h.update(part);
        h.update([0u8]);
    }
    hex::encode(h.finalize())
}

/// The records part of a body made by [`encode_body`]: the JSON array after `"records":`.
pub fn records_of(body: &[u8]) -> &[u8] {
    const MARK: &[u8] = b"\",\"records\":";
    body.windows(MARK.len())
        .position(|w| w == MARK)
        .and_then(|i| body.get(i + MARK.len()..body.len().saturating_sub(1)))
        .unwrap_or(body)
}

/// Encodes batches as `{"timestamp": "<now, RFC 3339>", "records": [...]}` with arrow-json
/// (nulls written as `null`, so every record carries every column).
///
/// # Errors
/// [`Error::Encode`] when a column cannot be written as JSON.
pub fn encode_body(batches: &[RecordBatch]) -> Result<Vec<u8>> {
    let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut out =
        Vec::with_capacity(256 * batches.iter().map(|b| b.num_rows()).sum::<usize>() + 64);
    out.extend_from_slice(b"{\"timestamp\":\"");
    out.extend_from_slice(ts.as_bytes());
    out.extend_from_slice(b"\",\"records\":");
    // Times as ISO-8601 text, as the API sent them (every source timestamp is UTC).
    let mut w = arrow_json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.3fZ".to_string())
        .with_timestamp_format("%Y-%m-%dT%H:%M:%S%.3f".to_string())
        .build::<_, arrow_json::writer::JsonArray>(out);
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    w.write_batches(&refs)
        .map_err(|source| Error::Encode { source })?;
    w.finish().map_err(|source| Error::Encode { source })?;
    let mut out = w.into_inner();
    if batches.iter().all(|b| b.num_rows() == 0) {
        // The array writer writes nothing for no rows.
        out.extend_from_slice(b"[]");
    }
    out.push(b'}');
    Ok(out)
}

/// `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &Secret, timestamp: u64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn gzip(body: &[u8]) -> Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(body)
        .and_then(|_| enc.finish())
        .map_err(|e| Error::Setup {
            reason: format!("gzip: {e}"),
        })
}

/// The result of delivering one [`Delivery`].
#[derive(Debug)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered {
        /// Retries it took.
        retries: u32,
    },
    /// Still failing after every retry (5xx, 429, 408, timeouts, connection errors).
    GaveUp {
        /// Retries made.
        retries: u32,
        /// The error.
        error: Error,
    },
    /// A status not worth retrying (4xx other than 408 and 429, or an unexpected 1xx/3xx).
    Rejected {
        /// Retries made before it.
        retries: u32,
        /// The status.
        status: u16,
    },
}

/// Shared by every request of a sink: the client, the config, and the time until which a
/// 429's `Retry-After` holds back every request (not just the one that got it).
#[derive(Debug)]
pub struct Deliverer {
    client: reqwest::Client,
    cfg: ValidatedConfig,
    pause_until: Mutex<Option<tokio::time::Instant>>,
}

enum Attempt {
    Done,
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Reject(u16),
}

impl Deliverer {
    /// Builds the HTTP client.
    ///
    /// # Errors
    /// [`Error::Setup`] when the client cannot be built.
    pub fn new(cfg: ValidatedConfig) -> Result<Self> {
        // No redirects: the body and the headers (credentials) go to the configured url only.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .pool_max_idle_per_host(cfg.concurrency)
            .build()
            .map_err(|e| Error::Setup {
                reason: e.without_url().to_string(),
            })?;
        Ok(Deliverer {
            client,
            cfg,
            pause_until: Mutex::new(None),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ValidatedConfig {
        &self.cfg
    }

    /// Sends a HEAD request; any HTTP answer means the receiver is reachable.
    ///
    /// # Errors
    /// [`Error::Unreachable`] when no answer came.
    pub async fn healthcheck(&self) -> Result<()> {
        match self
            .client
            .head(self.cfg.url.clone())
            .headers(self.cfg.headers.clone())
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => Err(Error::Unreachable {
                url: self.cfg.display_url.clone(),
                reason: describe(&e),
            }),
        }
    }

    /// Delivers one batch, retrying as configured.
    pub async fn deliver(&self, d: &Delivery) -> Outcome {
        let compressed = if self.cfg.gzip {
            match gzip(&d.body) {
                Ok(b) => Some(b),
                Err(error) => return Outcome::GaveUp { retries: 0, error },
            }
        } else {
            None
        };
        let mut attempt: u32 = 0;
        loop {
            self.wait_for_pause().await;
            let result = self.attempt(d, compressed.as_deref()).await;
            let (reason, after) = match result {
                Attempt::Done => return Outcome::Delivered { retries: attempt },
                Attempt::Reject(status) => {
                    return Outcome::Rejected {
                        retries: attempt,
                        status,
                    };
                }
                Attempt::Retry { reason, after } => (reason, after),
            };
            if attempt >= self.cfg.max_retries {
                let error = Error::Delivery {
                    url: self.cfg.display_url.clone(),
                    attempts: attempt + 1,
                    reason,
                };
                return Outcome::GaveUp {
                    retries: attempt,
                    error,
                };
            }
            let backoff = self.backoff(attempt);
            let wait = match after {
                Some(a) => {
                    let a = a.min(self.cfg.max_retry_after);
                    self.pause_all(a);
                    a
                }
                None => backoff,
            };
            tracing::debug!(url = %self.cfg.display_url, key = %d.key, attempt, reason = %reason, wait_ms = wait.as_millis() as u64, "retrying webhook request");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, d: &Delivery, compressed: Option<&[u8]>) -> Attempt {
        let mut headers = self.cfg.headers.clone();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(v) = HeaderValue::from_str(&d.key) {
            headers.insert(HeaderName::from_static(IDEMPOTENCY_KEY), v);
        }
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        headers.insert(HeaderName::from_static(TIMESTAMP), HeaderValue::from(ts));
        if let Some(secret) = &self.cfg.secret {
            if let Ok(mut v) = HeaderValue::from_str(&sign(secret, ts, &d.body)) {
                v.set_sensitive(true);
                headers.insert(HeaderName::from_static(SIGNATURE), v);
            }
        }
        let body = match compressed {
            Some(c) => {
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                c.to_vec()
            }
            None => d.body.as_ref().clone(),
        };
        match self
            .client
            .post(self.cfg.url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await
        {
            Ok(resp) => {
                let status = resp.status();
                let after = retry_after(resp.headers());
                drain(resp).await;
                classify(status, after)
            }
            Err(e) => Attempt::Retry {
                reason: describe(&e),
                after: None,
            },
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let b = Backoff {
            initial: self.cfg.initial_backoff,
            max: self.cfg.max_backoff,
        };
        // With jitter: between half and all of the delay.
        if self.cfg.jitter {
            b.delay(attempt)
        } else {
            b.base(attempt)
        }
    }

    fn pause_all(&self, d: Duration) {
        if let Ok(mut p) = self.pause_until.lock() {
            let until = tokio::time::Instant::now() + d;
            if p.is_none_or(|cur| cur < until) {
                *p = Some(until);
            }
        }
    }

    async fn wait_for_pause(&self) {
        let until = self.pause_until.lock().ok().and_then(|p| *p);
        if let Some(until) = until {
            tokio::time::sleep_until(until).await;
        }
    }
}

/// Largest reply read: a receiver's answer is not used, only drained so the connection
/// can be reused; a longer one is dropped with its connection.
const MAX_REPLY_BYTES: usize = 64 * 1024;

async fn drain(mut resp: reqwest::Response) {
    let mut read = 0usize;
    while read <= MAX_REPLY_BYTES {
        match resp.chunk().await {
            Ok(Some(c)) => read += c.len(),
            _ => return,
        }
    }
}

fn classify(status: StatusCode, after: Option<Duration>) -> Attempt {
    if status.is_success() {
        Attempt::Done
    } else if status == StatusCode::TOO_MANY_REQUESTS {
        Attempt::Retry {
            reason: format!("answered {status}"),
            after,
        }
    } else if status == StatusCode::REQUEST_TIMEOUT || status.is_server_error() {
        // A 503 may carry Retry-After too.
        Attempt::Retry {
            reason: format!("answered {status}"),
            after,
        }
    } else {
        Attempt::Reject(status.as_u16())
    }
}

/// `Retry-After` as seconds or an HTTP date
/// ([`tributary_plugin_sdk::retry::parse_retry_after`]; capped by the caller).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?;
    parse_retry_after(v, SystemTime::now())
}

/// A transport error's description, without the URL (which may carry a query-string token).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
    // The innermost cause says the most (`Connection refused`).
    let mut last = None;
    while let Some(s) = src {
        last = Some(s.to_string());
        src = s.source();
    }
    if let Some(l) = last {
        msg.push_str(": ");
        msg.push_str(&l);
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray};

    #[test]
    fn timestamps_are_sent_as_iso_8601_text() {
        let t = arrow_array::TimestampMillisecondArray::from(vec![Some(1_672_531_201_000), None])
            .with_timezone("UTC");
        let b = RecordBatch::try_from_iter([("startTime", Arc::new(t) as ArrayRef)]).unwrap();
        let body = String::from_utf8(encode_body(&[b]).unwrap()).unwrap();
        assert!(
            body.contains(r#"[{"startTime":"2023-01-01T00:00:01.000Z"},{"startTime":null}]"#),
            "{body}"
        );
    }

    #[test]
    fn keys_are_deterministic_and_distinct() {
        let a = idempotency_key("p", "c", "", b"[1]");
        assert_eq!(a, idempotency_key("p", "c", "", b"[1]"));
        assert_eq!(a.len(), 64);
        assert_ne!(a, idempotency_key("p", "c", "", b"[2]"));
        assert_ne!(a, idempotency_key("p", "c", &a, b"[1]"), "chained");
        assert_ne!(a, idempotency_key("q", "c", "", b"[1]"));
        assert_ne!(
            idempotency_key("pc", "", "", b"[1]"),
            idempotency_key("p", "c", "", b"[1]")
        );
    }

    #[test]
    fn the_key_ignores_the_timestamp_of_the_body() {
        let b = RecordBatch::try_from_iter([(
            "id",
            Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
        )])
        .unwrap();
        let one = encode_body(std::slice::from_ref(&b)).unwrap();
        let mut two = one.clone();
        // Another send time, same records.
        let at = two.iter().position(|c| c.is_ascii_digit()).unwrap();
        two[at] = if two[at] == b'1' { b'2' } else { b'1' };
        assert_ne!(one, two);
        assert_eq!(records_of(&one), br#"[{"id":"a"},{"id":"b"}]"#);
        assert_eq!(records_of(&one), records_of(&two));
    }

    #[test]
    fn body_is_the_tutorial_shape() {
        let b = RecordBatch::try_from_iter([
            (
                "id",
                std::sync::Arc::new(StringArray::from(vec![Some("a"), Some("b")])) as ArrayRef,
            ),
            (
                "holdTime",
                std::sync::Arc::new(Int64Array::from(vec![Some(1), None])) as ArrayRef,
            ),
        ])
        .unwrap();
        let body = encode_body(&[b.clone(), b.slice(0, 1)]).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            v["records"],
            serde_json::json!([{"id":"a","holdTime":1},{"id":"b","holdTime":null},{"id":"a","holdTime":1}])
        );
    }

    #[test]
    fn signature_is_hmac_of_timestamp_dot_body() {
        // Computed independently with Python's hmac module, as the README's receiver does:
        // hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
        let s = sign(&Secret::new("k"), 1_700_000_000, b"{}");
        assert_eq!(
            s,
            "v1=c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146"
        );
    }

    #[test]
    fn retry_after_both_forms() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        let later = SystemTime::now() + Duration::from_secs(120);
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(later)).unwrap(),
        );
        let d = retry_after(&h).unwrap();
        assert!(
            d > Duration::from_secs(100) && d <= Duration::from_secs(120),
            "{d:?}"
        );
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn statuses_are_classified() {
        assert!(matches!(classify(StatusCode::OK, None), Attempt::Done));
        assert!(matches!(
            classify(StatusCode::ACCEPTED, None),
            Attempt::Done
        ));
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    classify(StatusCode::from_u16(s).unwrap(), None),
                    Attempt::Retry { .. }
                ),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 413, 422] {
            assert!(
                matches!(classify(StatusCode::from_u16(s).unwrap(), None), Attempt::Reject(x) if x == s),
                "{s}"
            );
        }
    }
}

//! An in-process webhook receiver on 127.0.0.1 for tests and the benchmark: it can fail,
//! throttle, answer slowly, check signatures, and dedupes deliveries by idempotency key.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What the receiver does, and what it saw.
#[derive(Default)]
pub struct Knobs {
    /// Answer this many requests with 500 / 503 (alternating) first.
    pub fail_first: AtomicUsize,
    /// Then answer this many with 429 and `Retry-After`.
    pub throttle_first: AtomicUsize,
    /// `Retry-After` as an HTTP date (else seconds).
    pub retry_after_as_date: AtomicBool,
    /// Seconds in `Retry-After`.
    pub retry_after_secs: AtomicUsize,
    /// Accept this many requests, but answer them only after `slow_ms` (longer than the client waits).
    pub slow_first: AtomicUsize,
    /// How slow.
    pub slow_ms: AtomicUsize,
    /// Answer every request with `307 Temporary Redirect` to this URL when set.
    pub redirect_to: Mutex<Option<String>>,
    /// Refuse bad or missing signatures with 401 when set.
    pub secret: Mutex<Option<String>>,
    /// Requests received.
    pub requests: AtomicUsize,
    /// Requests whose signature did not verify.
    pub bad_signatures: AtomicUsize,
    /// Requests with a gzip body.
    pub gzip_requests: AtomicUsize,
    /// Accepted deliveries whose key had already been accepted.
    pub duplicates: AtomicUsize,
    /// Accepted record ids per idempotency key (the first delivery of each key).
    pub by_key: Mutex<HashMap<String, Vec<String>>>,
    /// Every Idempotency-Key value seen, in arrival order, retries included.
    pub keys_seen: Mutex<Vec<String>>,
}

impl Knobs {
    /// Distinct records accepted (over distinct keys).
    pub fn records(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .by_key
            .lock()
            .unwrap()
            .values()
            .flatten()
            .cloned()
            .collect();
        v.sort();
        v
    }
    /// Distinct keys accepted.
    pub fn keys(&self) -> Vec<String> {
        let mut v: Vec<String> = self.by_key.lock().unwrap().keys().cloned().collect();
        v.sort();
        v
    }
}

fn take(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

async fn ingest(State(k): State<Arc<Knobs>>, headers: HeaderMap, body: Bytes) -> Response {
    let n = k.requests.fetch_add(1, Ordering::SeqCst);
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    k.keys_seen.lock().unwrap().push(key.clone());
    if let Some(to) = k.redirect_to.lock().unwrap().clone() {
        let mut r = StatusCode::TEMPORARY_REDIRECT.into_response();
        r.headers_mut()
            .insert("location", HeaderValue::from_str(&to).unwrap());
        return r;
    }
    if take(&k.fail_first) {
        let s = if n % 2 == 0 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return s.into_response();
    }
    if take(&k.throttle_first) {
        let secs = k.retry_after_secs.load(Ordering::SeqCst) as u64;
        let value = if k.retry_after_as_date.load(Ordering::SeqCst) {
            httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(secs))
        } else {
            secs.to_string()
        };
        let mut r = StatusCode::TOO_MANY_REQUESTS.into_response();
        r.headers_mut()
            .insert("retry-after", HeaderValue::from_str(&value).unwrap());
        return r;
    }
    let gz = headers.get("content-encoding").is_some_and(|v| v == "gzip");
    let body: Vec<u8> = if gz {
        k.gzip_requests.fetch_add(1, Ordering::SeqCst);
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .is_err()
        {
            return StatusCode::BAD_REQUEST.into_response();
        }
        out
    } else {
        body.to_vec()
    };
    let secret = k.secret.lock().unwrap().clone();
    if let Some(secret) = secret {
        let ts = headers
            .get("x-tributary-timestamp")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let sig = headers
            .get("x-tributary-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(&body);
        let want = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let fresh = ts.parse::<u64>().is_ok_and(|t| t.abs_diff(now) <= 300);
        if sig != want || !fresh {
            k.bad_signatures.fetch_add(1, Ordering::SeqCst);
            return StatusCode::UNAUTHORIZED.into_response();
        }
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if v["timestamp"].as_str().is_none() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let ids: Vec<String> = v["records"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| r["id"].as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default();
    {
        let mut by_key = k.by_key.lock().unwrap();
        match by_key.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => {
                k.duplicates.fetch_add(1, Ordering::SeqCst);
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(ids);
            }
        }
    }
    if take(&k.slow_first) {
        tokio::time::sleep(Duration::from_millis(
            k.slow_ms.load(Ordering::SeqCst) as u64
        ))
        .await;
    }
    StatusCode::OK.into_response()
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:<port>/ingest`.
    pub url: String,
    /// The port.
    pub port: u16,
    /// Knobs and observations.
    pub knobs: Arc<Knobs>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Receiver {
    /// Starts on a free port.
    pub fn start() -> Receiver {
        Self::start_on(0)
    }

    /// Starts on a given port (0 = any free one).
    pub fn start_on(port: u16) -> Receiver {
        let knobs = Arc::new(Knobs::default());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let port = std_listener.local_addr().unwrap().port();
        let app = Router::new()
            .route("/ingest", post(ingest))
            .with_state(Arc::clone(&knobs));
        runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/ingest"),
            port,
            knobs,
            runtime: Some(runtime),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A port that nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

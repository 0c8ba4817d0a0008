//! The source against a scripted fake API on loopback, for behaviours the simulator
//! does not time or script: the shared 429 slowdown, a 401 on a data page, bad pages.

// Test helpers (outside #[test] fns) may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::NaiveDate;
use tributary_cxone::{CxoneConfig, CxoneError, CxoneSource, Secret, SourceEvent, plan};

#[derive(Clone, Copy, Default)]
struct Script {
    /// The third poll answers 429 with `Retry-After: 1`.
    throttle_third_poll: bool,
    /// Polls an export answers `processing` before `completed`.
    polls_needed: u32,
    /// The first data request answers 401.
    unauthorized_first_data: bool,
    /// Page 2 of every export is this body (with this content type).
    bad_page2: Option<(&'static str, &'static str)>,
}

#[derive(Default)]
struct Fake {
    script: Script,
    log: Mutex<Vec<(Instant, &'static str, u16)>>,
    tokens: AtomicU32,
    exports: AtomicU32,
    polls: AtomicU32,
    data: AtomicU32,
    data_auth: Mutex<Vec<String>>,
    polls_of: Mutex<std::collections::HashMap<String, u32>>,
}

impl Fake {
    fn log(&self, ep: &'static str, status: u16) {
        self.log.lock().unwrap().push((Instant::now(), ep, status));
    }
}

type S = State<Arc<Fake>>;

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn token(State(f): S) -> Response {
    let n = f.tokens.fetch_add(1, Ordering::SeqCst) + 1;
    f.log("token", 200);
    json(
        StatusCode::OK,
        format!(r#"{{"access_token":"tok-{n}","token_type":"Bearer","expires_in":3600}}"#),
    )
}

async fn create(State(f): S) -> Response {
    let n = f.exports.fetch_add(1, Ordering::SeqCst) + 1;
    f.log("create", 201);
    json(
        StatusCode::CREATED,
        format!(r#"{{"id":"exp-{n}","status":"pending"}}"#),
    )
}

async fn poll(State(f): S, Path(id): Path<String>) -> Response {
    let n = f.polls.fetch_add(1, Ordering::SeqCst);
    if f.script.throttle_third_poll && n == 2 {
        f.log("poll", 429);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            r#"{"error":"rate_limited"}"#,
        )
            .into_response();
    }
    f.log("poll", 200);
    let seen = {
        let mut m = f.polls_of.lock().unwrap();
        let c = m.entry(id.clone()).or_insert(0);
        *c += 1;
        *c
    };
    if seen < f.script.polls_needed {
        return json(
            StatusCode::OK,
            format!(r#"{{"id":"{id}","status":"processing"}}"#),
        );
    }
    json(
        StatusCode::OK,
        format!(r#"{{"id":"{id}","status":"completed","totalRecords":4}}"#),
    )
}

async fn data(
    State(f): S,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let n = f.data.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    f.data_auth.lock().unwrap().push(auth);
    if f.script.unauthorized_first_data && n == 0 {
        f.log("data", 401);
        return json(
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_token"}"#.into(),
        );
    }
    f.log("data", 200);
    let second = q.iter().any(|(k, v)| k == "nextPageToken" && v == "p2");
    if second {
        if let Some((ctype, body)) = f.script.bad_page2 {
            return (StatusCode::OK, [(header::CONTENT_TYPE, ctype)], body).into_response();
        }
        return json(
            StatusCode::OK,
            format!(r#"{{"data":[{{"id":"{id}-3"}},{{"id":"{id}-4"}}],"nextPageToken":null}}"#),
        );
    }
    json(
        StatusCode::OK,
        format!(r#"{{"data":[{{"id":"{id}-1"}},{{"id":"{id}-2"}}],"nextPageToken":"p2"}}"#),
    )
}

async fn serve(script: Script) -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake {
        script,
        ..Fake::default()
    });
    let app = Router::new()
        .route("/oauth/token", post(token))
        .route("/api/v2/analytics/data-exports", post(create))
        .route("/api/v2/analytics/data-exports/{id}", get(poll))
        .route("/api/v2/analytics/data-exports/{id}/data", get(data))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (fake, format!("http://{addr}"))
}

fn config(base: &str, start: &str, end: &str) -> CxoneConfig {
    let mut c = CxoneConfig::new("r1", start, end);
    c.base_url = Some(base.to_string());
    c.client_id = Some(Secret::new("id"));
    c.client_secret = Some(Secret::new("secret"));
    c.poll_interval_ms = 5;
    c.max_poll_interval_ms = 5;
    c.initial_backoff_ms = 5;
    c.max_backoff_ms = 20;
    c.columns = vec!["id".into()];
    c
}

async fn run(cfg: CxoneConfig) -> (Result<(), CxoneError>, u64) {
    let today = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    let windows = plan(&cfg, today, None).unwrap();
    let source = CxoneSource::new(cfg, None).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);
    let task = tokio::spawn(async move { source.run(windows, tx).await });
    let mut rows = 0u64;
    while let Some(ev) = rx.recv().await {
        if let SourceEvent::Batch(b) = ev {
            rows += b.num_rows() as u64;
        }
    }
    (task.await.unwrap(), rows)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_holds_back_every_request_of_the_source() {
    let (fake, base) = serve(Script {
        throttle_third_poll: true,
        polls_needed: 40,
        ..Script::default()
    })
    .await;
    // Eight one-day windows, four export jobs in flight: without the shared limiter the
    // other jobs would keep polling every 5 ms during the Retry-After second.
    let mut cfg = config(&base, "2023-01-01", "2023-01-08");
    cfg.max_window_days = Some(1);
    cfg.concurrency = 4;
    let (res, rows) = run(cfg).await;
    res.unwrap();
    assert_eq!(rows, 8 * 4);
    let log = fake.log.lock().unwrap().clone();
    let (t429, _, _) = *log.iter().find(|(_, _, s)| *s == 429).unwrap();
    // Requests already on the wire when the 429 was sent may land just after it;
    // nothing else may arrive until Retry-After (1 s) has passed.
    let early: Vec<_> = log
        .iter()
        .filter(|(t, _, _)| {
            *t > t429 + Duration::from_millis(150) && *t < t429 + Duration::from_millis(950)
        })
        .collect();
    assert!(
        early.is_empty(),
        "{} requests inside Retry-After, first: {:?}",
        early.len(),
        early.first()
    );
    assert!(
        log.iter()
            .any(|(t, _, _)| *t >= t429 + Duration::from_secs(1))
    );
}

#[tokio::test]
async fn a_401_on_a_data_page_refreshes_once_and_retries() {
    let (fake, base) = serve(Script {
        unauthorized_first_data: true,
        ..Script::default()
    })
    .await;
    let (res, rows) = run(config(&base, "2023-01-01", "2023-01-01")).await;
    res.unwrap();
    assert_eq!(rows, 4);
    assert_eq!(fake.tokens.load(Ordering::SeqCst), 2);
    let auth = fake.data_auth.lock().unwrap().clone();
    assert_eq!(auth[0], "Bearer tok-1");
    assert_eq!(auth[1], "Bearer tok-2");
}

#[tokio::test]
async fn bad_pages_name_export_and_page() {
    for (ctype, body, want) in [
        (
            "application/json",
            r#"{"data": {"id": "x"}}"#,
            "not a JSON array",
        ),
        ("application/json", r#"{"data": [{"id": "x"}"#, "truncated"),
        ("application/json", r#"{"data": [{"id": 5}]}"#, "bad record"),
        (
            "text/html",
            "<html>login</html>",
            "wrong content type `text/html`",
        ),
    ] {
        let (_fake, base) = serve(Script {
            bad_page2: Some((ctype, body)),
            ..Script::default()
        })
        .await;
        let (res, rows) = run(config(&base, "2023-01-01", "2023-01-01")).await;
        let e = res.unwrap_err();
        let s = e.to_string();
        assert!(matches!(e, CxoneError::Decode { page: 2, .. }), "{s}");
        assert!(s.starts_with("export exp-1, page 2: "), "{s}");
        assert!(s.contains(want), "{s}");
        assert_eq!(rows, 2, "page 1 was delivered before the failure");
    }
}

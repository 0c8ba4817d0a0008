//! The source against hostile servers on loopback: redirects towards another host, token
//! replies that must not be quoted, bodies that never end, page tokens that cycle.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use chrono::NaiveDate;
use tributary_cxone::{ApiDialect, AuthMode, CxoneConfig, CxoneError, CxoneSource, Secret, plan};

/// Serves `app` on a free loopback port; returns its base URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A host that counts every request it gets, whatever the path.
async fn bystander() -> (String, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let app = Router::new().fallback(any(move || {
        let h = h.clone();
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            StatusCode::OK
        }
    }));
    (serve(app).await, hits)
}

fn config(base: &str) -> CxoneConfig {
    let mut c = CxoneConfig::new("r1", "2023-01-01", "2023-01-01");
    c.base_url = Some(base.to_string());
    c.client_id = Some(Secret::new("CLIENT-ID-VALUE"));
    c.client_secret = Some(Secret::new("CLIENT-SECRET-VALUE"));
    c.max_retries = 1;
    c.initial_backoff_ms = 1;
    c.max_backoff_ms = 2;
    c.poll_interval_ms = 1;
    c.max_poll_interval_ms = 1;
    c
}

/// The Reporting API with access-key auth, discovery at `base`.
fn access_key_config(base: &str) -> CxoneConfig {
    let mut cfg = config(base);
    cfg.api = ApiDialect::Reporting;
    cfg.auth = AuthMode::AccessKey;
    cfg.access_key.discovery_url = Some(base.to_string());
    cfg.access_key.access_key_id = Some(Secret::new("KEY-ID"));
    cfg.access_key.access_key_secret = Some(Secret::new("KEY-SECRET-VALUE"));
    cfg
}

async fn run(cfg: CxoneConfig) -> Result<(), CxoneError> {
    let windows = plan(&cfg, NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(), None).unwrap();
    let source = CxoneSource::new(cfg, None).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(async move { source.run(windows, tx).await });
    while rx.recv().await.is_some() {}
    task.await.unwrap()
}

fn redirect_to(to: String) -> Response {
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)]).into_response()
}

/// Both flows: a token endpoint answering `307` to another host sends that host nothing.
#[tokio::test]
async fn a_redirecting_token_endpoint_steers_no_credential_elsewhere() {
    let (other, hits) = bystander().await;
    let to = format!("{other}/steal");
    let app = Router::new().route(
        "/oauth/token",
        post(move || {
            let to = to.clone();
            async move { redirect_to(to) }
        }),
    );
    let base = serve(app).await;
    let e = run(config(&base)).await.unwrap_err().to_string();
    assert!(e.contains("307"), "{e}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the other host was reached");

    // The access-key flow: discovery names a token endpoint that redirects.
    let to = format!("{other}/steal");
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(base): State<Arc<String>>| async move {
                axum::Json(serde_json::json!({"token_endpoint": format!("{base}/auth/token")}))
            }),
        )
        .route(
            "/auth/token",
            post(move || {
                let to = to.clone();
                async move { redirect_to(to) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = app.with_state(Arc::new(base.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let e = run(access_key_config(&base)).await.unwrap_err().to_string();
    assert!(e.contains("307"), "{e}");
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the other host was reached");
}

/// A token reply with a wrong-typed field: the error does not quote the body.
#[tokio::test]
async fn a_malformed_token_reply_is_not_quoted() {
    let app = Router::new().route(
        "/oauth/token",
        post(|| async {
            (
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"access_token":"ACCESS-TOKEN-VALUE","token_type":"Bearer","expires_in":"3600"}"#,
            )
        }),
    );
    let e = run(config(&serve(app).await)).await.unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("token response"), "{shown}");
    assert!(!shown.contains("ACCESS-TOKEN-VALUE"), "{shown}");
    assert!(!shown.contains("3600"), "{shown}");
}

/// The export API's token, create and poll, with `data` as the page handler.
fn export_api(data: Router) -> Router {
    Router::new()
        .route(
            "/oauth/token",
            post(|| async {
                axum::Json(serde_json::json!({"access_token": "t", "expires_in": 3600}))
            }),
        )
        .route(
            "/api/v2/analytics/data-exports",
            post(|| async {
                (
                    StatusCode::CREATED,
                    axum::Json(serde_json::json!({"id": "e1", "status": "pending"})),
                )
            }),
        )
        .route(
            "/api/v2/analytics/data-exports/e1",
            get(|| async { axum::Json(serde_json::json!({"id": "e1", "status": "completed"})) }),
        )
        .merge(data)
}

/// VmHWM of this process, in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        / 1024
}

/// A data page that never ends (announced or not) fails with a clear error after
/// `max_response_bytes`, and memory stays bounded.
#[tokio::test]
async fn an_endless_page_fails_with_bounded_memory() {
    let chunk = bytes::Bytes::from(vec![b' '; 1 << 20]);
    let page = move || {
        let chunk = chunk.clone();
        async move {
            // 3 GiB of whitespace after the opening brace, streamed.
            let head = futures::stream::once(async {
                Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"data\":["))
            });
            let body = futures::stream::iter((0..3072).map(move |_| Ok(chunk.clone())));
            Response::new(Body::from_stream(futures::StreamExt::chain(head, body)))
        }
    };
    let app = export_api(Router::new().route("/api/v2/analytics/data-exports/e1/data", get(page)));
    let mut cfg = config(&serve(app).await);
    cfg.max_response_bytes = 64 << 20;
    let e = run(cfg).await.unwrap_err().to_string();
    assert!(e.contains("max_response_bytes"), "{e}");
    assert!(peak_rss_mib() < 512, "peak RSS {} MiB", peak_rss_mib());

    // Announced by Content-Length: refused before reading.
    let app = export_api(Router::new().route(
        "/api/v2/analytics/data-exports/e1/data",
        get(|| async {
            let mut r = Response::new(Body::from_stream(futures::stream::pending::<
                Result<bytes::Bytes, std::io::Error>,
            >()));
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, (3u64 << 30).into());
            r
        }),
    ));
    let mut cfg = config(&serve(app).await);
    cfg.max_response_bytes = 64 << 20;
    let e = run(cfg).await.unwrap_err().to_string();
    assert!(e.contains("max_response_bytes"), "{e}");
}

/// Page tokens that cycle (A, B, A) stop the read with an error instead of looping.
#[tokio::test]
async fn cycling_page_tokens_stop_with_an_error() {
    let app = export_api(Router::new().route(
        "/api/v2/analytics/data-exports/e1/data",
        get(
            |q: axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                let next = match q.get("nextPageToken").map(String::as_str) {
                    None | Some("B") => "A",
                    _ => "B",
                };
                axum::Json(serde_json::json!({"data": [], "nextPageToken": next}))
            },
        ),
    ));
    let mut cfg = config(&serve(app).await);
    cfg.verify_record_count = false;
    let e = run(cfg).await.unwrap_err().to_string();
    assert!(e.contains("cycle"), "{e}");

    // Empty pages with ever-fresh tokens stop too.
    let n = Arc::new(AtomicU32::new(0));
    let app = export_api(Router::new().route(
        "/api/v2/analytics/data-exports/e1/data",
        get(move || {
            let n = n.clone();
            async move {
                let t = n.fetch_add(1, Ordering::SeqCst);
                axum::Json(serde_json::json!({"data": [], "nextPageToken": format!("t{t}")}))
            }
        }),
    ));
    let mut cfg = config(&serve(app).await);
    cfg.verify_record_count = false;
    let e = run(cfg).await.unwrap_err().to_string();
    assert!(e.contains("without a record"), "{e}");
}

/// URLs that get credentials must be https (or loopback, or `allow_http`), including
/// the ones a discovery document names.
#[tokio::test]
async fn credentials_go_over_https_only() {
    let mut c = config("http://cxone.example.com");
    let e = c.validate().unwrap_err();
    assert!(
        e.iter()
            .any(|p| p.key == "base_url" && p.message.contains("allow_http")),
        "{e:?}"
    );
    c.allow_http = true;
    assert!(c.validate().is_ok());

    // A discovery document pointing the token endpoint at plain http elsewhere.
    let (other, hits) = bystander().await;
    let to = other.replace("127.0.0.1", "cxone-steal.example.com");
    let app =
        Router::new().route(
            "/.well-known/openid-configuration",
            get(move || {
                let to = to.clone();
                async move {
                    axum::Json(serde_json::json!({"token_endpoint": format!("{to}/auth/token")}))
                }
            }),
        );
    let base = serve(app).await;
    let e = run(access_key_config(&base)).await.unwrap_err().to_string();
    assert!(e.contains("token_endpoint") && e.contains("https"), "{e}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
}

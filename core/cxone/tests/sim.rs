//! The source against the simulator over loopback.

// Test helpers (outside #[test] fns) may unwrap: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use chrono::{DateTime, NaiveDate, Utc};
use tributary_cxone::{
    CxoneConfig, CxoneError, CxoneSource, ExportFormat, Secret, SourceEvent, Window, WindowReport,
    plan,
};
use tributary_cxone_sim::{
    RetryAfterMode, SimConfig, SimHandle, Simulator, id_digest, injected_defects, records_in_range,
};

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 6, 1).unwrap()
}

async fn start(sim: SimConfig) -> SimHandle {
    Simulator::start(sim, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn config(sim: &SimHandle, start: &str, end: &str) -> CxoneConfig {
    let mut c = CxoneConfig::new("3a2b1c4d-5e6f-4a8b-9c0d-e1f2a3b4c5d6", start, end);
    c.base_url = Some(sim.base_url());
    c.client_id = Some(Secret::new(sim.config().client_id.clone()));
    c.client_secret = Some(Secret::new(sim.config().client_secret.expose()));
    c.poll_interval_ms = 10;
    c.max_poll_interval_ms = 40;
    c.initial_backoff_ms = 10;
    c.max_backoff_ms = 100;
    c.page_size = 1000;
    c.request_timeout_secs = 10;
    c
}

struct Outcome {
    result: Result<(), CxoneError>,
    batches: Vec<RecordBatch>,
    reports: Vec<WindowReport>,
    starts: Vec<Window>,
}

impl Outcome {
    fn ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        for b in &self.batches {
            let col = b.column_by_name("id").unwrap().as_string::<i32>();
            ids.extend(col.iter().map(|v| v.unwrap().to_string()));
        }
        ids
    }
}

async fn run(cfg: CxoneConfig, source: &CxoneSource) -> Outcome {
    run_slow(cfg, source, None).await
}

/// Runs the source; `pause` makes the consumer stall once after its first batch.
async fn run_slow(cfg: CxoneConfig, source: &CxoneSource, pause: Option<Duration>) -> Outcome {
    let windows = plan(&cfg, today(), None).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let src = source.clone();
    let task = tokio::spawn(async move { src.run(windows, tx).await });
    let mut out = Outcome {
        result: Ok(()),
        batches: Vec::new(),
        reports: Vec::new(),
        starts: Vec::new(),
    };
    let mut paused = pause.is_none();
    while let Some(ev) = rx.recv().await {
        match ev {
            SourceEvent::WindowStart(w) => out.starts.push(w),
            SourceEvent::Batch(b) => {
                assert_eq!(b.schema(), tributary_cxone::output_schema(&cfg));
                out.batches.push(b);
                if !paused {
                    paused = true;
                    // A slow sink: longer than the page-token lifetime.
                    tokio::time::sleep(pause.unwrap_or_default()).await;
                }
            }
            SourceEvent::WindowEnd(r) => out.reports.push(r),
        }
    }
    out.result = task.await.unwrap();
    out
}

fn expected_ids(sim: &SimConfig, start: &str, end_incl: &str) -> Vec<String> {
    records_in_range(sim, ts(start), ts(end_incl))
        .map(|r| r.id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_year_with_429_and_5xx_lands_exactly_the_simulators_records() {
    let simcfg = SimConfig {
        records_per_day: 200,
        p429: 0.05,
        p500: 0.02,
        p502: 0.015,
        p503: 0.015,
        retry_after_secs: 1,
        ..SimConfig::default()
    };
    let sim = start(simcfg.clone()).await;
    let cfg = config(&sim, "2023-01-01", "2023-12-31");
    let source = CxoneSource::new(cfg.clone(), None).unwrap();
    let out = run(cfg.clone(), &source).await;
    out.result.as_ref().unwrap();

    let expected = expected_ids(&simcfg, "2023-01-01T00:00:00Z", "2023-12-31T23:59:59.999Z");
    assert_eq!(expected.len(), 365 * 200);
    let got = out.ids();
    assert_eq!(got.len(), expected.len());
    assert_eq!(id_digest(&got), id_digest(&expected));

    // Windows streamed in plan order, each started and ended.
    let planned = plan(&cfg, today(), None).unwrap();
    assert_eq!(out.starts, planned);
    assert_eq!(
        out.reports.iter().map(|r| r.window).collect::<Vec<_>>(),
        planned
    );
    assert_eq!(out.reports.iter().map(|r| r.records).sum::<u64>(), 73_000);

    let m = source.metrics().snapshot();
    let c = sim.counters();
    assert!(c.rate_limited_429 > 0 && c.server_errors_5xx > 0, "{c:?}");
    assert_eq!(m.throttled, c.rate_limited_429);
    assert_eq!(m.server_errors, c.server_errors_5xx);
    assert!(m.retries >= c.rate_limited_429 + c.server_errors_5xx);
    assert_eq!(m.records, 73_000);
    assert_eq!(m.pages, c.pages_served);
    // Export jobs run ahead, but never more than `concurrency` (+1 page stream) at once.
    assert!(
        c.peak_concurrent_requests <= cfg.concurrency as u64 + 1,
        "peak {}",
        c.peak_concurrent_requests
    );
    assert!(m.latency_ms["data"].count > 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_expiring_mid_run_is_refreshed_ahead() {
    let simcfg = SimConfig {
        records_per_day: 200,
        token_ttl_secs: 1,
        latency_ms: 12,
        ..SimConfig::default()
    };
    let sim = start(simcfg.clone()).await;
    let mut cfg = config(&sim, "2023-01-01", "2023-01-31");
    cfg.page_size = 50;
    cfg.max_window_days = Some(10);
    let source = CxoneSource::new(cfg.clone(), None).unwrap();
    let t0 = std::time::Instant::now();
    let out = run(cfg, &source).await;
    out.result.as_ref().unwrap();
    assert!(
        t0.elapsed() > Duration::from_secs(1),
        "the run must outlive one token"
    );
    let expected = expected_ids(&simcfg, "2023-01-01T00:00:00Z", "2023-01-31T23:59:59.999Z");
    assert_eq!(id_digest(out.ids()), id_digest(&expected));
    let c = sim.counters();
    let m = source.metrics().snapshot();
    assert!(c.tokens_issued >= 2, "{c:?}");
    assert_eq!(m.token_refreshes, c.tokens_issued);
    sim.shutdown().await;
}

#[tokio::test]
async fn already_expired_tokens_fail_after_one_refresh() {
    let sim = start(SimConfig {
        token_ttl_secs: 0,
        ..SimConfig::default()
    })
    .await;
    let cfg = config(&sim, "2023-01-01", "2023-01-02");
    let source = CxoneSource::new(cfg.clone(), None).unwrap();
    let out = run(cfg, &source).await;
    let e = out.result.unwrap_err();
    assert!(matches!(e, CxoneError::Unauthorized { .. }), "{e}");
    assert!(
        e.to_string().contains("401 again after a token refresh"),
        "{e}"
    );
    // One token, one 401, one refresh, one retry, one 401: no loop.
    assert_eq!(sim.counters().tokens_issued, 2);
    assert_eq!(sim.counters().requests_for("create_export", 401), 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn gateway_timeout_splits_the_window() {
    let simcfg = SimConfig {
        records_per_day: 50,
        max_window_days_before_504: Some(20),
        ..SimConfig::default()
    };
    let sim = start(simcfg.clone()).await;
    let cfg = config(&sim, "2023-01-01", "2023-03-31");
    let source = CxoneSource::new(cfg.clone(), None).unwrap();
    let out = run(cfg, &source).await;
    out.result.as_ref().unwrap();
    assert_eq!(out.reports.len(), 1);
    let r = &out.reports[0];
    // 90 days -> 45 -> 22/23 -> 11/12: eight exports of at most 20 days, in order.
    assert_eq!(r.export_ids.len(), 8, "{r:?}");
    assert_eq!(r.splits, 7);
    let expected = expected_ids(&simcfg, "2023-01-01T00:00:00Z", "2023-03-31T23:59:59.999Z");
    let got = out.ids();
    assert_eq!(got.len(), expected.len());
    assert_eq!(id_digest(&got), id_digest(&expected));
    assert_eq!(sim.counters().gateway_timeouts_504, 7);
    assert_eq!(source.metrics().snapshot().splits, 7);
    sim.shutdown().await;
}

#[tokio::test]
async fn gateway_timeout_at_one_day_fails_clearly() {
    let sim = start(SimConfig {
        max_window_days_before_504: Some(0),
        ..SimConfig::default()
    })
    .await;
    let cfg = config(&sim, "2023-01-01", "2023-01-04");
    let source = CxoneSource::new(cfg.clone(), None).unwrap();
    let e = run(cfg, &source).await.result.unwrap_err();
    assert!(matches!(e, CxoneError::SplitFloor { .. }), "{e}");
    let s = e.to_string();
    assert!(s.contains("20230101T000000Z-20230102T000000Z"), "{s}");
    assert!(s.contains("one day"), "{s}");
    sim.shutdown().await;
}

#[tokio::test]
async fn failed_export_names_window_and_message() {
    let sim = start(SimConfig {
        records_per_day: 20,
        fail_dates: vec!["2023-02-14".into()],
        ..SimConfig::default()
    })
    .await;
    let mut cfg = config(&sim, "2023-01-01", "2023-03-31");
    cfg.max_window_days = Some(30);
    let source = CxoneSource::new(cfg.clone(), None).unwrap();
    let out = run(cfg, &source).await;
    let e = out.result.unwrap_err();
    let CxoneError::ExportFailed {
        window, message, ..
    } = &e
    else {
        panic!("{e}")
    };
    assert_eq!(window, "20230131T000000Z-20230302T000000Z");
    assert!(!message.is_empty());
    assert!(e.to_string().contains(window.as_str()));
    // The window before it was delivered in full; the failing one resubmitted once.
    assert_eq!(out.reports.len(), 1);
    assert_eq!(sim.counters().exports_failed, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn missing_scope_fails_naming_the_scopes() {
    let sim = start(SimConfig {
        scopes: vec!["analytics:export:read".into(), "reports:read".into()],
        ..SimConfig::default()
    })
    .await;
    let cfg = config(&sim, "2023-01-01", "2023-01-02");
    let source = CxoneSource::new(cfg.clone(), None).unwrap();
    let e = run(cfg, &source).await.result.unwrap_err();
    assert!(matches!(e, CxoneError::Forbidden { .. }), "{e}");
    let s = e.to_string();
    assert!(
        s.contains("analytics:export:read analytics:export:write reports:read"),
        "{s}"
    );
    assert_eq!(
        sim.counters().requests_for("create_export", 403),
        1,
        "403 is never retried"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_fail_without_leaking_them() {
    let sim = start(SimConfig::default()).await;
    let mut cfg = config(&sim, "2023-01-01", "2023-01-02");
    cfg.client_secret = Some(Secret::new("wrong-secret-value"));
    let source = CxoneSource::new(cfg.clone(), None).unwrap();
    let e = run(cfg, &source).await.result.unwrap_err();
    assert!(matches!(e, CxoneError::Auth { .. }), "{e}");
    let s = format!("{e} {e:?} {source:?}");
    assert!(!s.contains("wrong-secret-value"), "{s}");
    assert!(s.contains("CXONE_API_SECRET"), "{s}");
    sim.shutdown().await;
}

#[tokio::test]
async fn csv_with_dirty_records_counts_and_keeps_extra_fields() {
    let simcfg = SimConfig {
        records_per_day: 300,
        missing_field_fraction: 0.05,
        null_field_fraction: 0.05,
        extra_field_fraction: 0.05,
        ..SimConfig::default()
    };
    let sim = start(simcfg.clone()).await;
    for format in [ExportFormat::Csv, ExportFormat::Json] {
        let mut cfg = config(&sim, "2023-01-01", "2023-01-10");
        cfg.format = format;
        cfg.keep_extra_fields = true;
        let source = CxoneSource::new(cfg.clone(), None).unwrap();
        let out = run(cfg, &source).await;
        out.result.as_ref().unwrap();
        let records: Vec<_> = records_in_range(
            &simcfg,
            ts("2023-01-01T00:00:00Z"),
            ts("2023-01-10T23:59:59.999Z"),
        )
        .collect();
        let extras = records
            .iter()
            .filter(|r| injected_defects(&simcfg, r).extra)
            .count() as u64;
        assert!(extras > 0);
        assert_eq!(
            id_digest(out.ids()),
            id_digest(records.iter().map(|r| &r.id))
        );
        assert_eq!(out.reports[0].extra_fields, extras, "{format:?}");
        let kept: usize = out
            .batches
            .iter()
            .map(|b| b.column_by_name("_extra").unwrap())
            .map(|c| c.len() - c.null_count())
            .sum();
        assert_eq!(kept as u64, extras, "{format:?}");
        let nulls: usize = out
            .batches
            .iter()
            .map(|b| b.column_by_name("agentId").unwrap().null_count())
            .sum();
        assert!(nulls > 0, "missing and null fields arrive as nulls");
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_page_token_restarts_without_duplicates() {
    let simcfg = SimConfig {
        records_per_day: 500,
        page_token_ttl_secs: Some(1),
        ..SimConfig::default()
    };
    let sim = start(simcfg.clone()).await;
    let mut cfg = config(&sim, "2023-01-01", "2023-01-02");
    cfg.page_size = 200;
    let source = CxoneSource::new(cfg.clone(), None).unwrap();
    let out = run_slow(cfg, &source, Some(Duration::from_millis(1200))).await;
    out.result.as_ref().unwrap();
    let expected = expected_ids(&simcfg, "2023-01-01T00:00:00Z", "2023-01-02T23:59:59.999Z");
    let got = out.ids();
    assert_eq!(got.len(), expected.len(), "no record doubled or lost");
    assert_eq!(id_digest(&got), id_digest(&expected));
    assert_eq!(sim.counters().requests_for("export_data", 400), 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn http_date_retry_after_and_resume() {
    let simcfg = SimConfig {
        records_per_day: 20,
        p429: 0.2,
        retry_after: RetryAfterMode::HttpDate,
        retry_after_secs: 1,
        ..SimConfig::default()
    };
    let sim = start(simcfg.clone()).await;
    let cfg = config(&sim, "2023-01-01", "2023-01-20");
    let windows = plan(&cfg, today(), Some(ts("2023-01-11T00:00:00Z"))).unwrap();
    assert_eq!(windows[0].start, ts("2023-01-11T00:00:00Z"));
    let source = CxoneSource::new(cfg, None).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let src = source.clone();
    let task = tokio::spawn(async move { src.run(windows, tx).await });
    let mut ids = Vec::new();
    while let Some(ev) = rx.recv().await {
        if let SourceEvent::Batch(b) = ev {
            let col = b.column_by_name("id").unwrap().as_string::<i32>();
            ids.extend(col.iter().map(|v| v.unwrap().to_string()));
        }
    }
    task.await.unwrap().unwrap();
    let expected = expected_ids(&simcfg, "2023-01-11T00:00:00Z", "2023-01-20T23:59:59.999Z");
    assert_eq!(id_digest(&ids), id_digest(&expected));
    assert!(sim.counters().rate_limited_429 > 0);
    sim.shutdown().await;
}

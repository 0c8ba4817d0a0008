//! The real dialects and the access-key flow against the simulator over loopback.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use chrono::{DateTime, NaiveDate, Utc};
use tributary_cxone::{
    ApiDialect, AuthMode, CxoneConfig, CxoneSource, RecordShape, SourceEvent, WindowReport, plan,
};
use tributary_cxone_sim::{
    SimConfig, SimHandle, Simulator, contact_id_of, extraction_segments, last_update_time,
    records_in_range,
};

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

async fn start(sim: SimConfig) -> SimHandle {
    Simulator::start(sim, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn config(sim: &SimHandle, api: ApiDialect, auth: AuthMode) -> CxoneConfig {
    let mut c = CxoneConfig::new("", "2023-01-01", "2023-01-04");
    c.api = api;
    c.auth = auth;
    // The interaction projection (its `id` is the contact id as text); the native shape
    // has tests of its own below.
    c.schema = RecordShape::Interaction;
    c.simulator = Some(sim.config().clone());
    c.max_window_days = Some(2);
    c.reporting.top = 100;
    // Five times the simulator's limit below: transit delays on a loaded machine must not
    // bring two calls closer than the server's window.
    c.data_extraction.min_call_interval_ms = 100;
    c.initial_backoff_ms = 5;
    c.max_backoff_ms = 50;
    c.request_timeout_secs = 10;
    c
}

/// Every batch and window report of a run.
async fn run_all(cfg: CxoneConfig, url: String) -> (Vec<RecordBatch>, Vec<WindowReport>) {
    let (batches, reports, _) = run_measured(cfg, url).await;
    (batches, reports)
}

/// [`run_all`], with the source's metrics at the end.
async fn run_measured(
    cfg: CxoneConfig,
    url: String,
) -> (
    Vec<RecordBatch>,
    Vec<WindowReport>,
    tributary_cxone::MetricsSnapshot,
) {
    let windows = plan(&cfg, NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(), None).unwrap();
    let source = CxoneSource::new(cfg, Some(url)).unwrap();
    let metrics = source.metrics();
    let schema = source.schema();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let task = tokio::spawn(async move { source.run(windows, tx).await });
    let mut batches = Vec::new();
    let mut reports = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            SourceEvent::Batch(b) => {
                assert_eq!(b.schema(), schema, "every batch has the announced schema");
                batches.push(b);
            }
            SourceEvent::WindowEnd(r) => reports.push(r),
            SourceEvent::WindowStart(_) => {}
        }
    }
    task.await.unwrap().unwrap();
    (batches, reports, metrics.snapshot())
}

/// Interaction-shaped runs: the ids, each once, with a valid direction.
async fn run(cfg: CxoneConfig, url: String) -> (BTreeSet<String>, Vec<WindowReport>) {
    let (batches, reports) = run_all(cfg, url).await;
    let mut ids = BTreeSet::new();
    for b in batches {
        {
            {
                let col = b.column_by_name("id").unwrap().as_string::<i32>();
                for v in col.iter() {
                    assert!(ids.insert(v.unwrap().to_string()), "duplicate row");
                }
                assert!(
                    b.column_by_name("direction")
                        .unwrap()
                        .as_string::<i32>()
                        .iter()
                        .all(|d| matches!(d, Some("inbound" | "outbound")))
                );
            }
        }
    }
    (ids, reports)
}

/// The Int64 values of a column over batches.
fn ints(batches: &[RecordBatch], col: &str) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|b| {
            b.column_by_name(col)
                .unwrap_or_else(|| panic!("no column {col}"))
                .as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.unwrap_or_else(|| panic!("null {col}")))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn truth(sim: &SimConfig) -> BTreeSet<String> {
    records_in_range(
        sim,
        ts("2023-01-01T00:00:00Z"),
        ts("2023-01-04T23:59:59.999Z"),
    )
    .map(|r| r.id)
    .collect()
}

#[tokio::test]
async fn reporting_with_access_key_refreshes_tokens_mid_run() {
    let simc = SimConfig {
        records_per_day: 300,
        token_ttl_secs: 1,
        latency_ms: 60,
        ..SimConfig::default()
    };
    let sim = start(simc.clone()).await;
    let cfg = config(&sim, ApiDialect::Reporting, AuthMode::AccessKey);
    let (ids, reports) = run(cfg, sim.base_url()).await;
    assert_eq!(ids, truth(&simc));
    let c = sim.counters();
    assert_eq!(c.password_grants, 1, "{c:?}");
    assert!(
        c.refresh_grants >= 1,
        "the refresh token was used mid-run: {c:?}"
    );
    assert_eq!(c.requests_total("openid_configuration"), 1);
    assert_eq!(c.requests_total("cxone_configuration"), 1);
    // The last page of each window says so (`_links.next: null`): no extra request.
    assert_eq!(c.requests_for("contacts_completed", 204), 0, "{c:?}");
    assert_eq!(
        c.requests_for("contacts_completed", 200),
        reports.iter().map(|r| r.pages).sum::<u64>()
    );
    assert!(reports.iter().all(|r| r.bookmark.is_some()));
}

#[tokio::test]
async fn refused_refresh_falls_back_to_a_new_grant_and_old_versions_map() {
    let simc = SimConfig {
        records_per_day: 200,
        token_ttl_secs: 1,
        latency_ms: 150,
        refresh_token_ttl_secs: 0,
        string_numbers: true,
        ..SimConfig::default()
    };
    let sim = start(simc.clone()).await;
    let mut cfg = config(&sim, ApiDialect::Reporting, AuthMode::AccessKey);
    cfg.reporting.api_version = "v12.0".into();
    let (ids, _) = run(cfg, sim.base_url()).await;
    assert_eq!(ids, truth(&simc));
    let c = sim.counters();
    assert!(c.refresh_refused >= 1 && c.password_grants >= 2, "{c:?}");
}

#[tokio::test]
async fn incremental_reporting_reads_exactly_the_updated_rows() {
    let first = SimConfig {
        records_per_day: 300,
        ..SimConfig::default()
    };
    let sim = start(first.clone()).await;
    let (ids, reports) = run(
        config(&sim, ApiDialect::Reporting, AuthMode::ClientCredentials),
        sim.base_url(),
    )
    .await;
    assert_eq!(ids, truth(&first));
    let bookmark = reports
        .iter()
        .filter_map(|r| r.bookmark.clone())
        .max()
        .unwrap();
    // Later, some rows are updated.
    let second = SimConfig {
        updated_fraction: 0.1,
        updated_at: Some("2024-05-01T12:00:00Z".into()),
        ..first
    };
    let sim2 = start(second.clone()).await;
    let mut cfg = config(&sim2, ApiDialect::Reporting, AuthMode::ClientCredentials);
    cfg.incremental = true;
    cfg.reporting.updated_since = Some(bookmark.clone());
    let (ids2, reports2) = run(cfg, sim2.base_url()).await;
    let b = ts(&bookmark);
    let want: BTreeSet<String> = records_in_range(
        &second,
        ts("2023-01-01T00:00:00Z"),
        ts("2023-01-04T23:59:59.999Z"),
    )
    .filter(|r| last_update_time(&second, r) > b)
    .map(|r| r.id)
    .collect();
    assert!(!want.is_empty());
    assert_eq!(ids2, want);
    assert_eq!(
        reports2
            .iter()
            .filter_map(|r| r.bookmark.clone())
            .max()
            .unwrap(),
        "2024-05-01T12:00:00.000Z"
    );
}

fn truth_contacts(sim: &SimConfig) -> BTreeSet<i64> {
    records_in_range(
        sim,
        ts("2023-01-01T00:00:00Z"),
        ts("2023-01-04T23:59:59.999Z"),
    )
    .map(|r| contact_id_of(&r))
    .collect()
}

/// The native shape: every published field, typed, each contact once; the end time is
/// derivable as contactStartDate + totalDurationSeconds.
#[tokio::test]
async fn reporting_native_lands_every_published_field_typed() {
    let simc = SimConfig {
        records_per_day: 300,
        ..SimConfig::default()
    };
    let sim = start(simc.clone()).await;
    let mut cfg = config(&sim, ApiDialect::Reporting, AuthMode::AccessKey);
    cfg.schema = RecordShape::Native;
    let (batches, reports) = run_all(cfg, sim.base_url()).await;
    let ids = ints(&batches, "contactId");
    let unique: BTreeSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a contact landed twice");
    assert_eq!(unique, truth_contacts(&simc));
    let schema = batches[0].schema();
    assert_eq!(schema.fields().len(), 58);
    let ts_type =
        arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, Some("UTC".into()));
    for (name, dt) in [
        ("contactStartDate", ts_type.clone()),
        ("lastUpdateTime", ts_type.clone()),
        ("dateContactWarehoused", ts_type),
        ("totalDurationSeconds", arrow_schema::DataType::Int64),
        ("isOutbound", arrow_schema::DataType::Boolean),
        ("mediaTypeName", arrow_schema::DataType::Utf8),
    ] {
        assert_eq!(
            schema.field_with_name(name).unwrap().data_type(),
            &dt,
            "{name}"
        );
    }
    // No field of the published record went unmapped.
    assert_eq!(
        reports
            .iter()
            .map(|r| r.extra_fields + r.bad_values)
            .sum::<u64>(),
        0
    );
    let truth: std::collections::BTreeMap<i64, (i64, i64)> = records_in_range(
        &simc,
        ts("2023-01-01T00:00:00Z"),
        ts("2023-01-04T23:59:59.999Z"),
    )
    .map(|r| {
        (
            contact_id_of(&r),
            (
                r.start_time.timestamp_millis(),
                r.end_time.timestamp_millis(),
            ),
        )
    })
    .collect();
    for b in &batches {
        let id = b
            .column_by_name("contactId")
            .unwrap()
            .as_primitive::<Int64Type>();
        let start = b
            .column_by_name("contactStartDate")
            .unwrap()
            .as_primitive::<TimestampMillisecondType>();
        let total = b
            .column_by_name("totalDurationSeconds")
            .unwrap()
            .as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let (s, e) = truth[&id.value(i)];
            assert_eq!(
                (start.value(i), start.value(i) + total.value(i) * 1000),
                (s, e)
            );
        }
    }
}

/// More contacts updated in one millisecond than a page holds: the keyset read still
/// delivers each exactly once (ties by contactId, then skip inside the cursor).
#[tokio::test]
async fn keyset_paging_survives_ties_larger_than_a_page() {
    let simc = SimConfig {
        records_per_day: 200,
        updated_fraction: 1.0,
        updated_at: Some("2024-05-01T12:00:00Z".into()),
        ..SimConfig::default()
    };
    let sim = start(simc.clone()).await;
    let mut cfg = config(&sim, ApiDialect::Reporting, AuthMode::AccessKey);
    cfg.schema = RecordShape::Native;
    cfg.reporting.top = 50;
    let (batches, _) = run_all(cfg, sim.base_url()).await;
    let ids = ints(&batches, "contactId");
    assert_eq!(
        ids.iter().copied().collect::<BTreeSet<_>>().len(),
        ids.len()
    );
    assert_eq!(
        ids.iter().copied().collect::<BTreeSet<_>>(),
        truth_contacts(&simc)
    );
}

/// A tenant whose discovery document advertises only `client_secret_post` gets the
/// client credentials in the body (chosen automatically).
#[tokio::test]
async fn client_authentication_follows_the_discovery_document() {
    for (methods, basic, post) in [
        (vec!["client_secret_basic"], true, false),
        (vec!["client_secret_post"], false, true),
    ] {
        let simc = SimConfig {
            records_per_day: 100,
            token_ttl_secs: 1,
            latency_ms: 250,
            client_auth_methods: methods.iter().map(|s| s.to_string()).collect(),
            ..SimConfig::default()
        };
        let sim = start(simc.clone()).await;
        let mut cfg = config(&sim, ApiDialect::Reporting, AuthMode::AccessKey);
        cfg.reporting.top = 40;
        let (ids, _) = run(cfg, sim.base_url()).await;
        assert_eq!(ids, truth(&simc));
        let c = sim.counters();
        assert_eq!(
            (c.client_auth_basic > 0, c.client_auth_post > 0),
            (basic, post),
            "{c:?}"
        );
        assert!(c.refresh_grants >= 1, "refresh carried client_id: {c:?}");
    }
}

/// The native extraction rows: one per segment, typed, every contact present.
#[tokio::test]
async fn data_extraction_native_rows_are_segments_with_published_headers() {
    let simc = SimConfig {
        records_per_day: 300,
        extraction_min_interval_ms: 20,
        ..SimConfig::default()
    };
    let sim = start(simc.clone()).await;
    let mut cfg = config(&sim, ApiDialect::DataExtraction, AuthMode::AccessKey);
    cfg.schema = RecordShape::Native;
    cfg.keep_extra_fields = true;
    let (batches, reports) = run_all(cfg, sim.base_url()).await;
    let calls = ints(&batches, "acdCallId");
    let recs: Vec<_> = records_in_range(
        &simc,
        ts("2023-01-01T00:00:00Z"),
        ts("2023-01-04T23:59:59.999Z"),
    )
    .collect();
    let segments: u64 = recs
        .iter()
        .map(|r| u64::from(extraction_segments(&simc, r)))
        .sum();
    assert!(
        segments > recs.len() as u64,
        "some contacts have two segments"
    );
    assert_eq!(calls.len() as u64, segments);
    assert_eq!(
        calls.into_iter().collect::<BTreeSet<_>>(),
        truth_contacts(&simc)
    );
    assert_eq!(
        reports
            .iter()
            .map(|r| r.extra_fields + r.bad_values)
            .sum::<u64>(),
        0
    );
    let schema = batches[0].schema();
    assert!(matches!(
        schema.field_with_name("startDate").unwrap().data_type(),
        arrow_schema::DataType::Timestamp(_, _)
    ));
}

/// A job that ends CANCELLED is created again, and fails the run with its status when
/// it keeps ending so.
#[tokio::test]
async fn cancelled_extraction_jobs_are_failures() {
    let simc = SimConfig {
        records_per_day: 10,
        extraction_min_interval_ms: 20,
        fail_dates: vec!["2023-01-03".into()],
        extraction_failure_status: tributary_cxone_sim::ExtractionFailureStatus::Cancelled,
        ..SimConfig::default()
    };
    let sim = start(simc.clone()).await;
    let cfg = config(&sim, ApiDialect::DataExtraction, AuthMode::AccessKey);
    let windows = plan(&cfg, NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(), None).unwrap();
    let source = CxoneSource::new(cfg, Some(sim.base_url())).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(async move { source.run(windows, tx).await });
    while rx.recv().await.is_some() {}
    let e = task.await.unwrap().unwrap_err().to_string();
    assert!(e.contains("CANCELLED"), "{e}");
    assert_eq!(
        sim.counters().jobs_created,
        3,
        "window 1, then window 2 twice"
    );
}

#[tokio::test]
async fn data_extraction_survives_expired_links_and_respects_the_call_spacing() {
    let simc = SimConfig {
        records_per_day: 300,
        extraction_min_interval_ms: 20,
        expire_first_downloads: 2,
        ..SimConfig::default()
    };
    let sim = start(simc.clone()).await;
    let mut cfg = config(&sim, ApiDialect::DataExtraction, AuthMode::AccessKey);
    cfg.schema = RecordShape::Native;
    let (batches, reports) = run_all(cfg, sim.base_url()).await;
    let calls: BTreeSet<i64> = ints(&batches, "acdCallId").into_iter().collect();
    assert_eq!(calls, truth_contacts(&simc));
    let c = sim.counters();
    assert_eq!(c.jobs_created, reports.len() as u64);
    assert_eq!(c.downloads_expired, reports.len() as u64, "{c:?}");
    assert_eq!(
        c.extraction_throttled_403, 0,
        "the spacing kept every call apart: {c:?}"
    );
}

#[tokio::test]
async fn data_extraction_403_is_rate_limiting_not_a_failure() {
    let simc = SimConfig {
        records_per_day: 100,
        extraction_min_interval_ms: 150,
        ..SimConfig::default()
    };
    let sim = start(simc.clone()).await;
    let mut cfg = config(
        &sim,
        ApiDialect::DataExtraction,
        AuthMode::ClientCredentials,
    );
    cfg.data_extraction.min_call_interval_ms = 1;
    cfg.max_retries = 50;
    cfg.schema = RecordShape::Native;
    let (batches, _, m) = run_measured(cfg, sim.base_url()).await;
    let calls: BTreeSet<i64> = ints(&batches, "acdCallId").into_iter().collect();
    assert_eq!(calls, truth_contacts(&simc));
    let refused = sim.counters().extraction_throttled_403;
    assert!(refused >= 1);
    // Counted as what they are, not as 429s.
    assert_eq!((m.spacing_refusals, m.throttled), (refused, 0));
}

#[tokio::test]
async fn reporting_requires_accept_json_and_reports_ic_status() {
    let sim = start(SimConfig::default()).await;
    let http = reqwest::Client::new();
    let tok: serde_json::Value = http
        .post(format!("{}/oauth/token", sim.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-client"),
            ("client_secret", "sim-secret"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let bearer = format!("Bearer {}", tok["access_token"].as_str().unwrap());
    let url = format!(
        "{}/inContactAPI/services/v26.0/contacts/completed",
        sim.base_url()
    );
    let r = http
        .get(&url)
        .header("Authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "No known way to render data");
    let r = http
        .get(&url)
        .header("Authorization", &bearer)
        .header("Accept", "application/json")
        .query(&[("startDate", "2023-01-01T00:00:00+01:00")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.headers()["icStatusDescription"]
            .to_str()
            .unwrap()
            .contains("Z")
    );
}

/// A `lastUpdateTime` in the future (a server clock ahead, a bad value) does not become
/// the bookmark: it is clamped to now and counted, so the next run cannot skip updates.
#[tokio::test]
async fn future_update_times_do_not_push_the_bookmark_ahead() {
    let simc = SimConfig {
        records_per_day: 20,
        updated_fraction: 0.5,
        updated_at: Some("2999-01-01T00:00:00Z".into()),
        ..SimConfig::default()
    };
    let sim = start(simc.clone()).await;
    let cfg = config(&sim, ApiDialect::Reporting, AuthMode::AccessKey);
    let windows = plan(&cfg, NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(), None).unwrap();
    let source = CxoneSource::new(cfg, Some(sim.base_url())).unwrap();
    let metrics = source.metrics();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(async move { source.run(windows, tx).await });
    let mut bookmarks = Vec::new();
    while let Some(ev) = rx.recv().await {
        if let SourceEvent::WindowEnd(r) = ev {
            bookmarks.push(ts(&r.bookmark.unwrap()));
        }
    }
    task.await.unwrap().unwrap();
    let now = Utc::now();
    assert!(bookmarks.iter().all(|b| *b <= now), "{bookmarks:?}");
    assert!(
        metrics
            .future_bookmarks
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 1
    );
}

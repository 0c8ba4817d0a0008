//! The real dialects and the access-key flow against the simulator over loopback.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;

use arrow_array::cast::AsArray;
use chrono::{DateTime, NaiveDate, Utc};
use tributary_cxone::{
    ApiDialect, AuthMode, CxoneConfig, CxoneSource, SourceEvent, WindowReport, plan,
};
use tributary_cxone_sim::{SimConfig, SimHandle, Simulator, last_update_time, records_in_range};

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
    c.simulator = Some(sim.config().clone());
    c.max_window_days = 2;
    c.reporting.top = 100;
    // Five times the simulator's limit below: transit delays on a loaded machine must not
    // bring two calls closer than the server's window.
    c.data_extraction.min_call_interval_ms = 100;
    c.initial_backoff_ms = 5;
    c.max_backoff_ms = 50;
    c.request_timeout_secs = 10;
    c
}

async fn run(cfg: CxoneConfig, url: String) -> (BTreeSet<String>, Vec<WindowReport>) {
    let windows = plan(&cfg, NaiveDate::from_ymd_opt(2024, 6, 1).unwrap(), None).unwrap();
    let source = CxoneSource::new(cfg, Some(url)).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let task = tokio::spawn(async move { source.run(windows, tx).await });
    let mut ids = BTreeSet::new();
    let mut reports = Vec::new();
    while let Some(ev) = rx.recv().await {
        match ev {
            SourceEvent::Batch(b) => {
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
            SourceEvent::WindowEnd(r) => reports.push(r),
            SourceEvent::WindowStart(_) => {}
        }
    }
    task.await.unwrap().unwrap();
    (ids, reports)
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
    assert_eq!(
        c.requests_for("contacts_completed", 204),
        reports.len() as u64
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

#[tokio::test]
async fn data_extraction_survives_expired_links_and_respects_the_call_spacing() {
    let simc = SimConfig {
        records_per_day: 300,
        extraction_min_interval_ms: 20,
        expire_first_downloads: 2,
        ..SimConfig::default()
    };
    let sim = start(simc.clone()).await;
    let (ids, reports) = run(
        config(&sim, ApiDialect::DataExtraction, AuthMode::AccessKey),
        sim.base_url(),
    )
    .await;
    assert_eq!(ids, truth(&simc));
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
    let (ids, _) = run(cfg, sim.base_url()).await;
    assert_eq!(ids, truth(&simc));
    assert!(sim.counters().extraction_throttled_403 >= 1);
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

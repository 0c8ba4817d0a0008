//! Each knob does what it says; counters count.

use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use tributary_cxone_sim::{
    EXTRA_FIELD, FaultEndpoint, RetryAfterMode, SimConfig, injected_defects, records_in_range,
};

use crate::util::{Client, body, start};

const S: &str = "2023-01-01T00:00:00.000Z";
const E1: &str = "2023-01-01T23:59:59.999Z";

fn data_only(cfg: SimConfig) -> SimConfig {
    SimConfig {
        fault_endpoints: vec![FaultEndpoint::Data],
        ..cfg
    }
}

#[tokio::test]
async fn p429_with_retry_after_seconds() {
    let sim = start(data_only(SimConfig {
        p429: 1.0,
        retry_after_secs: 7,
        ..SimConfig::default()
    }))
    .await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let (id, _) = c.run_export(&t, &body(S, E1, "json")).await;
    for _ in 0..3 {
        let r = c.data(&t, &id, 10, None).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()["retry-after"], "7");
    }
    let k = sim.counters();
    assert_eq!(k.rate_limited_429, 3);
    assert_eq!(k.requests_for("export_data", 429), 3);
    assert_eq!(k.pages_served, 0);
}

#[tokio::test]
async fn p429_with_retry_after_http_date() {
    let sim = start(SimConfig {
        p429: 1.0,
        retry_after: RetryAfterMode::HttpDate,
        retry_after_secs: 30,
        fault_endpoints: vec![FaultEndpoint::Token],
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let r = c.token_with("sim-client", "sim-secret", None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let date = httpdate_parse(r.headers()["retry-after"].to_str().unwrap());
    let wait = date.duration_since(SystemTime::now()).unwrap_or_default();
    assert!(
        wait > Duration::from_secs(25) && wait <= Duration::from_secs(31),
        "{wait:?}"
    );
}

fn httpdate_parse(s: &str) -> SystemTime {
    let t = DateTime::parse_from_rfc2822(&s.replace("GMT", "+0000")).unwrap();
    SystemTime::UNIX_EPOCH + Duration::from_secs(t.timestamp() as u64)
}

#[tokio::test]
async fn p5xx_each_status() {
    for (status, cfg) in [
        (
            500,
            SimConfig {
                p500: 1.0,
                ..SimConfig::default()
            },
        ),
        (
            502,
            SimConfig {
                p502: 1.0,
                ..SimConfig::default()
            },
        ),
        (
            503,
            SimConfig {
                p503: 1.0,
                ..SimConfig::default()
            },
        ),
    ] {
        let sim = start(SimConfig {
            fault_endpoints: vec![FaultEndpoint::Poll],
            ..cfg
        })
        .await;
        let c = Client::new(&sim);
        let t = c.token().await;
        let r = c.create(&t, &body(S, E1, "json")).await;
        let id = r.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let r = c.poll(&t, &id).await;
        assert_eq!(r.status().as_u16(), status);
        assert_eq!(r.json::<Value>().await.unwrap()["error"], "server_error");
        assert_eq!(sim.counters().server_errors_5xx, 1);
    }
}

#[tokio::test]
async fn transient_faults_are_reproducible_and_retries_get_through() {
    async fn statuses() -> (Vec<u16>, usize) {
        let sim = start(data_only(SimConfig {
            p429: 0.3,
            p503: 0.2,
            records_per_day: 1000,
            ..SimConfig::default()
        }))
        .await;
        let c = Client::new(&sim);
        let t = c.token().await;
        let (id, _) = c.run_export(&t, &body(S, E1, "json")).await;
        let mut seen = Vec::new();
        let mut next: Option<String> = None;
        let mut records = 0;
        for _ in 0..1000 {
            let r = c.data(&t, &id, 100, next.as_deref()).await;
            seen.push(r.status().as_u16());
            if r.status() != StatusCode::OK {
                continue; // retry the same page
            }
            let v: Value = r.json().await.unwrap();
            records += v["data"].as_array().unwrap().len();
            next = v["nextPageToken"].as_str().map(str::to_owned);
            if next.is_none() {
                break;
            }
        }
        (seen, records)
    }
    let (a, n) = statuses().await;
    let (b, _) = statuses().await;
    assert_eq!(a, b, "same seed, same faults");
    assert_eq!(n, 1000, "retrying each page gets every record");
    assert!(a.contains(&429) && a.contains(&503));
}

#[tokio::test]
async fn slow_responses_and_latency() {
    let sim = start(SimConfig {
        p_slow: 1.0,
        slow_ms: 300,
        fault_endpoints: vec![FaultEndpoint::Token],
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let t0 = Instant::now();
    c.token().await;
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(sim.counters().slow_responses, 1);

    let sim = start(SimConfig {
        latency_ms: 150,
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let t0 = Instant::now();
    let t = c.token().await;
    c.poll(&t, "x").await;
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(sim.counters().slow_responses, 0);
}

#[tokio::test]
async fn windows_longer_than_n_days_get_504() {
    let sim = start(SimConfig {
        max_window_days_before_504: Some(7),
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let r = c
        .create(&t, &body(S, "2023-01-08T23:59:59.999Z", "json"))
        .await;
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    let v: Value = r.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("split"));
    let r = c
        .create(&t, &body(S, "2023-01-07T23:59:59.999Z", "json"))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let k = sim.counters();
    assert_eq!(k.gateway_timeouts_504, 1);
    assert_eq!(k.server_errors_5xx, 1);
    assert_eq!(k.exports_created, 1);
}

#[tokio::test]
async fn exports_fail_by_date_or_probability() {
    let sim = start(SimConfig {
        fail_dates: vec!["2023-02-14".to_owned()],
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let (_, p) = c
        .run_export(
            &t,
            &body(
                "2023-02-10T00:00:00.000Z",
                "2023-02-19T23:59:59.999Z",
                "json",
            ),
        )
        .await;
    assert_eq!(p["status"], "failed");
    assert!(p["errorMessage"].as_str().unwrap().contains("2023-02-14"));
    assert!(p.get("totalRecords").is_none());
    let (id, p) = c
        .run_export(&t, &body(S, "2023-01-31T23:59:59.999Z", "json"))
        .await;
    assert_eq!(p["status"], "completed");
    assert!(p.get("errorMessage").is_none());
    assert_eq!(c.data(&t, &id, 1, None).await.status(), StatusCode::OK);
    assert_eq!(sim.counters().exports_failed, 1);

    let sim = start(SimConfig {
        p_export_fail: 1.0,
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let (id, p) = c.run_export(&t, &body(S, E1, "json")).await;
    assert_eq!(p["status"], "failed");
    assert!(!p["errorMessage"].as_str().unwrap().is_empty());
    let r = c.data(&t, &id, 10, None).await;
    assert_eq!(r.json::<Value>().await.unwrap()["error"], "export_failed");
}

#[tokio::test]
async fn page_tokens_expire() {
    let sim = start(SimConfig {
        page_token_ttl_secs: Some(0),
        records_per_day: 100,
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let (id, _) = c.run_export(&t, &body(S, E1, "json")).await;
    let v: Value = c.data(&t, &id, 10, None).await.json().await.unwrap();
    let r = c.data(&t, &id, 10, v["nextPageToken"].as_str()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "expired_page_token");
    assert!(v["message"].as_str().unwrap().contains("restart"));
    // Restarting from the first page works.
    assert_eq!(c.data(&t, &id, 10, None).await.status(), StatusCode::OK);

    let sim = start(SimConfig {
        page_token_ttl_secs: Some(60),
        records_per_day: 100,
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let (id, _) = c.run_export(&t, &body(S, E1, "json")).await;
    let (recs, _) = c.fetch_json(&t, &id, 10).await;
    assert_eq!(recs.len(), 100);
}

#[tokio::test]
async fn defects_match_the_public_defect_function_exactly() {
    let cfg = SimConfig {
        records_per_day: 2000,
        missing_field_fraction: 0.05,
        null_field_fraction: 0.03,
        extra_field_fraction: 0.02,
        ..SimConfig::default()
    };
    let (s, e) = ("2023-03-01T00:00:00.000Z", "2023-03-05T23:59:59.999Z");
    let ts = |x: &str| DateTime::parse_from_rfc3339(x).unwrap().with_timezone(&Utc);
    let want: Vec<_> = records_in_range(&cfg, ts(s), ts(e))
        .map(|r| (r.clone(), injected_defects(&cfg, &r)))
        .collect();
    let sim = start(cfg).await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let (id, _) = c.run_export(&t, &body(s, e, "json")).await;
    let (got, _) = c.fetch_json(&t, &id, 5000).await;
    assert_eq!(got.len(), want.len());
    let (mut missing, mut null, mut extra) = (0, 0, 0);
    for (g, (rec, d)) in got.iter().zip(&want) {
        let obj = g.as_object().unwrap();
        assert_eq!(obj["id"], rec.id.as_str());
        let absent = [
            "direction",
            "medium",
            "startTime",
            "endTime",
            "agentId",
            "queueId",
            "holdTime",
            "wrapTime",
            "talkTime",
        ]
        .iter()
        .filter(|f| !obj.contains_key(**f))
        .count();
        let nulls = obj.values().filter(|v| v.is_null()).count();
        let has_extra = obj.contains_key(EXTRA_FIELD);
        assert_eq!(absent, usize::from(d.missing.is_some()));
        assert_eq!(nulls, usize::from(d.null.is_some()));
        assert_eq!(has_extra, d.extra);
        if let Some(f) = d.missing {
            assert!(!obj.contains_key(f.name()));
        }
        if let Some(f) = d.null {
            assert!(obj[f.name()].is_null());
        }
        missing += absent;
        null += nulls;
        extra += usize::from(has_extra);
    }
    let n = want.len() as f64; // 10,000 records
    assert!((missing as f64 / n - 0.05).abs() < 0.015, "{missing}");
    assert!((null as f64 / n - 0.03).abs() < 0.01, "{null}");
    assert!((extra as f64 / n - 0.02).abs() < 0.01, "{extra}");
}

#[tokio::test]
async fn counters_count_a_whole_run_and_peak_concurrency() {
    let sim = start(SimConfig {
        records_per_day: 1000,
        latency_ms: 400,
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let (id, _) = c.run_export(&t, &body(S, E1, "json")).await;
    // Five concurrent requests, each held 400 ms by the latency knob.
    let polls = (0..5).map(|_| c.poll(&t, &id));
    let results = futures_join(polls).await;
    assert!(results.iter().all(|r| r.status() == StatusCode::OK));
    let (recs, pages) = c.fetch_json(&t, &id, 300).await;
    assert_eq!(recs.len(), 1000);
    let k = sim.counters();
    assert_eq!(k.tokens_issued, 1);
    assert_eq!(k.exports_created, 1);
    assert_eq!(k.pages_served as usize, pages);
    assert_eq!(k.records_served, 1000);
    assert_eq!(k.requests_for("token", 200), 1);
    assert_eq!(k.requests_for("create_export", 201), 1);
    assert_eq!(k.requests_for("poll_export", 200), 2 + 5);
    assert_eq!(k.requests_total("export_data"), pages as u64);
    assert_eq!(k.peak_concurrent_requests, 5);
    let json = serde_json::to_value(&k).unwrap();
    assert_eq!(json["requests"]["export_data"]["200"], pages);
}

async fn futures_join<F: std::future::Future<Output = reqwest::Response>>(
    futs: impl Iterator<Item = F>,
) -> Vec<reqwest::Response> {
    // Drive all futures at once on this task (no extra dependency).
    let mut pinned: Vec<_> = futs.map(Box::pin).collect();
    let mut out: Vec<Option<reqwest::Response>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (k, f) in pinned.iter_mut().enumerate() {
            if out[k].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => out[k] = Some(r),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(Option::unwrap).collect()
}

#[tokio::test]
async fn fault_endpoints_limit_where_faults_land() {
    let sim = start(SimConfig {
        p429: 1.0,
        fault_endpoints: vec![FaultEndpoint::Create],
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let t = c.token().await;
    assert_eq!(
        c.create(&t, &body(S, E1, "json")).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(c.poll(&t, "x").await.status(), StatusCode::NOT_FOUND);
}

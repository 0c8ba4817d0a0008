//! The Data Extraction API: date-only ranges, the two-week limit, the CSV (BOM, header
//! row, one row per segment), `omit_fields` and the failure status knob.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tributary_cxone_sim::{
    DE_HEADERS, ExtractionFailureStatus, SimConfig, contact_id_of, extraction_segments,
    records_in_range,
};

use crate::util::{Client, parse_csv, start};

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn cfg() -> SimConfig {
    SimConfig {
        records_per_day: 400,
        extraction_min_interval_ms: 0,
        ..SimConfig::default()
    }
}

async fn token(c: &Client) -> String {
    c.access_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_date_only_day_gives_bom_header_and_one_row_per_segment() {
    let cfg = cfg();
    let sim = start(cfg.clone()).await;
    let c = Client::new(&sim);
    let t = token(&c).await;
    let status = c.run_job(&t, "2023-01-02", "2023-01-03").await;
    assert_eq!(status["status"], "SUCCEEDED", "{status}");
    let text = c.download(&status).await;
    let body = text
        .strip_prefix('\u{feff}')
        .expect("the CSV starts with a BOM");
    let rows = parse_csv(body);
    let header: Vec<&str> = rows[0].iter().map(String::as_str).collect();
    assert_eq!(
        header,
        [
            "ACD Call ID",
            "Segment ID",
            "Start Date",
            "Agent 1 ACD ID",
            "Agent 1 Name",
            "Agent 1 Skills",
            "Agent 1 Team",
            "Agent 1 Contact Number",
            "ANI",
            "DNIS",
            "Disposition",
            "Voice Recording Status",
        ]
    );
    assert_eq!(header, DE_HEADERS);
    // Truth: the contacts that started on 2023-01-02, each with its segment count.
    let truth: BTreeMap<i64, (u32, &str, DateTime<Utc>)> = records_in_range(
        &cfg,
        ts("2023-01-02T00:00:00Z"),
        ts("2023-01-02T23:59:59.999Z"),
    )
    .map(|r| {
        (
            contact_id_of(&r),
            (extraction_segments(&cfg, &r), r.medium, r.start_time),
        )
    })
    .collect();
    let data = &rows[1..];
    let total: u32 = truth.values().map(|(n, _, _)| n).sum();
    assert_eq!(data.len(), total as usize);
    let doubles = truth.values().filter(|(n, _, _)| *n == 2).count();
    assert!((20..=70).contains(&doubles), "about 10 % of 400: {doubles}");
    assert!(truth.values().all(|(n, _, _)| (1..=2).contains(n)));
    let mut per_contact: BTreeMap<i64, u32> = BTreeMap::new();
    let mut segment_ids = BTreeSet::new();
    let mut contact_numbers = BTreeSet::new();
    for row in data {
        assert_eq!(row.len(), 12, "{row:?}");
        let id: i64 = row[0].parse().unwrap();
        let (_, medium, start) = truth[&id];
        *per_contact.entry(id).or_default() += 1;
        assert!(segment_ids.insert(row[1].clone()), "segment ids are unique");
        let seg_start = ts(&row[2]);
        assert!(seg_start >= start);
        assert_eq!(row[2].len(), 24);
        assert!(row[3].parse::<u32>().is_ok());
        assert_eq!(
            row[4],
            format!("Agent {:04}", row[3].parse::<u32>().unwrap())
        );
        assert!(!row[5].is_empty() && !row[6].is_empty());
        assert!(contact_numbers.insert(row[7].parse::<i64>().unwrap()));
        assert!(!row[8].is_empty() && !row[9].is_empty() && !row[10].is_empty());
        let want = if medium == "voice" { "Success" } else { "" };
        assert_eq!(row[11], want);
    }
    let want: BTreeMap<i64, u32> = truth.iter().map(|(k, (n, _, _))| (*k, *n)).collect();
    assert_eq!(per_contact, want);
    // The disposition with a comma survives quoting.
    assert!(data.iter().any(|r| r[10].contains(',')));
}

#[tokio::test]
async fn ranges_are_date_only_or_utc_and_at_most_two_weeks() {
    let sim = start(cfg()).await;
    let c = Client::new(&sim);
    let t = token(&c).await;
    let job = |s: &str, e: &str, v: &str| {
        json!({"entityName": "recording-interaction-metadata", "version": v,
               "startDate": s, "endDate": e})
    };
    let cases = [
        (job("2023-01-01", "2023-01-15", "7"), StatusCode::ACCEPTED),
        (
            job("2023-01-01", "2023-01-16", "7"),
            StatusCode::BAD_REQUEST,
        ),
        (
            job("2023-01-01", "2023-01-01", "7"),
            StatusCode::BAD_REQUEST,
        ),
        (
            job("2023-01-01T00:00:00Z", "2023-01-01T06:00:00.000Z", "10"),
            StatusCode::ACCEPTED,
        ),
        (
            job("2023-01-01T00:00:00+00:00", "2023-01-02", "7"),
            StatusCode::BAD_REQUEST,
        ),
        (job("2023-01-01", "2023-01-02", "12"), StatusCode::ACCEPTED),
        (job("2023-01-01", "2023-01-02", ""), StatusCode::BAD_REQUEST),
    ];
    for (body, want) in cases {
        let r = c.create_job(&t, &body).await;
        assert_eq!(r.status(), want, "{body}");
        if want == StatusCode::ACCEPTED {
            assert!(r.json::<Value>().await.unwrap().is_string());
        }
    }
    assert_eq!(sim.counters().jobs_created, 3);
}

#[tokio::test]
async fn a_utc_range_is_half_open() {
    let cfg = cfg();
    let sim = start(cfg.clone()).await;
    let c = Client::new(&sim);
    let t = token(&c).await;
    let status = c
        .run_job(&t, "2023-01-02T06:00:00Z", "2023-01-02T12:00:00Z")
        .await;
    let rows = parse_csv(c.download(&status).await.trim_start_matches('\u{feff}'));
    let ids: BTreeSet<i64> = rows[1..].iter().map(|r| r[0].parse().unwrap()).collect();
    let want: BTreeSet<i64> = records_in_range(
        &cfg,
        ts("2023-01-02T06:00:00Z"),
        ts("2023-01-02T11:59:59.999Z"),
    )
    .map(|r| contact_id_of(&r))
    .collect();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn omit_fields_drops_csv_columns() {
    let cfg = SimConfig {
        omit_fields: vec!["Agent 1 Team".into(), "Disposition".into()],
        ..cfg()
    };
    let sim = start(cfg).await;
    let c = Client::new(&sim);
    let t = token(&c).await;
    let status = c.run_job(&t, "2023-01-02", "2023-01-03").await;
    let rows = parse_csv(c.download(&status).await.trim_start_matches('\u{feff}'));
    assert!(!rows[0].contains(&"Agent 1 Team".to_owned()));
    assert!(!rows[0].contains(&"Disposition".to_owned()));
    assert!(rows.iter().all(|r| r.len() == 10));
}

#[tokio::test]
async fn failing_dates_end_in_the_configured_terminal_status() {
    for (knob, want) in [
        (ExtractionFailureStatus::Failed, "FAILED"),
        (ExtractionFailureStatus::Cancelled, "CANCELLED"),
        (ExtractionFailureStatus::Expired, "EXPIRED"),
    ] {
        let cfg = SimConfig {
            fail_dates: vec!["2023-01-03".into()],
            extraction_failure_status: knob,
            ..cfg()
        };
        let sim = start(cfg).await;
        let c = Client::new(&sim);
        let t = token(&c).await;
        let status = c.run_job(&t, "2023-01-01", "2023-01-05").await;
        assert_eq!(status["status"], want);
        assert_eq!(status["result"]["url"], Value::Null);
        assert!(status["result"]["errorMessage"].is_string());
        let ok = c.run_job(&t, "2023-01-01", "2023-01-03").await;
        assert_eq!(ok["status"], "SUCCEEDED", "the end date is exclusive");
    }
    let yaml: SimConfig =
        serde_json::from_str(r#"{"extraction_failure_status": "CANCELLED"}"#).unwrap();
    assert_eq!(
        yaml.extraction_failure_status,
        ExtractionFailureStatus::Cancelled
    );
}

//! Pagination covers exactly `records_in_range`, in json and csv; determinism.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tributary_cxone_sim::{Record, SimConfig, id_digest, records_in_range};

use crate::util::{Client, body, start};

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

const S: &str = "2023-01-15T08:30:00.000Z";
const E: &str = "2023-01-20T12:00:00.000Z";

fn expected(cfg: &SimConfig) -> Vec<Record> {
    records_in_range(cfg, ts(S), ts(E)).collect()
}

#[tokio::test]
async fn json_pages_cover_exactly_the_range_in_order() {
    let cfg = SimConfig {
        records_per_day: 1000,
        ..SimConfig::default()
    };
    let want = expected(&cfg);
    assert!(want.len() > 5000);
    let sim = start(cfg).await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let (id, done) = c.run_export(&t, &body(S, E, "json")).await;
    assert_eq!(done["totalRecords"], want.len());
    let (got, pages) = c.fetch_json(&t, &id, 997).await;
    assert_eq!(pages, want.len().div_ceil(997));
    assert_eq!(got.len(), want.len());
    let got_ids: Vec<&str> = got.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let want_ids: Vec<&str> = want.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(got_ids, want_ids, "same records, same (startTime) order");
    assert_eq!(id_digest(&got_ids), id_digest(&want_ids));
    // Values equal the clean records field by field, timestamps with milliseconds.
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, &w.to_json());
    }
    let st = got[0]["startTime"].as_str().unwrap();
    assert_eq!(st.len(), 24);
    assert!(st.ends_with('Z') && &st[19..20] == ".");
    assert!(st.as_bytes() >= S.as_bytes());
    let c2 = sim.counters();
    assert_eq!(c2.pages_served as usize, pages);
    assert_eq!(c2.records_served as usize, want.len());
}

#[tokio::test]
async fn csv_pages_cover_exactly_the_range_with_header_and_token_header() {
    let cfg = SimConfig {
        records_per_day: 1000,
        ..SimConfig::default()
    };
    let want = expected(&cfg);
    let sim = start(cfg).await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let mut b = body(S, E, "csv");
    b["columns"] = json!(["id", "startTime", "talkTime"]);
    let (id, _) = c.run_export(&t, &b).await;
    let (header, rows) = c.fetch_csv(&t, &id, 2500).await;
    assert_eq!(header, ["id", "startTime", "talkTime"]);
    assert_eq!(rows.len(), want.len());
    for (row, w) in rows.iter().zip(&want) {
        assert_eq!(row[0], w.id);
        assert_eq!(
            row[1],
            w.start_time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
        );
        assert_eq!(row[2], w.talk_time.to_string());
    }
    assert_eq!(
        id_digest(rows.iter().map(|r| r[0].as_str())),
        id_digest(want.iter().map(|r| r.id.as_str()))
    );
}

#[tokio::test]
async fn inclusive_end_and_default_page_size() {
    let cfg = SimConfig {
        records_per_day: 2740,
        ..SimConfig::default()
    };
    let sim = start(cfg.clone()).await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let (s, e) = ("2023-01-01T00:00:00.000Z", "2023-01-03T23:59:59.999Z");
    let (id, done) = c.run_export(&t, &body(s, e, "json")).await;
    assert_eq!(done["totalRecords"], 3 * 2740);
    // No pageSize in the query: the export's pageSize (5000) applies.
    let r = c
        .http
        .get(format!(
            "{}/api/v2/analytics/data-exports/{id}/data",
            c.base
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"].as_array().unwrap().len(), 5000);
    let n = records_in_range(&cfg, ts(s), ts(e)).count();
    assert_eq!(n, 3 * 2740);
}

#[tokio::test]
async fn same_seed_same_bytes_other_seed_other_bytes() {
    async fn bytes_of(cfg: SimConfig) -> Vec<Vec<u8>> {
        let sim = start(cfg).await;
        let c = Client::new(&sim);
        let t = c.token().await;
        let mut out = Vec::new();
        for format in ["json", "csv"] {
            let (id, _) = c
                .run_export(
                    &t,
                    &body(
                        "2023-06-01T00:00:00.000Z",
                        "2023-06-02T23:59:59.999Z",
                        format,
                    ),
                )
                .await;
            let mut next: Option<String> = None;
            for _ in 0..100 {
                let r = c.data(&t, &id, 300, next.as_deref()).await;
                let header = r
                    .headers()
                    .get("x-next-page-token")
                    .map(|v| v.to_str().unwrap().to_owned());
                let b = r.bytes().await.unwrap().to_vec();
                next = if format == "csv" {
                    header
                } else {
                    serde_json::from_slice::<Value>(&b).unwrap()["nextPageToken"]
                        .as_str()
                        .map(str::to_owned)
                };
                out.push(b);
                if next.is_none() {
                    break;
                }
            }
        }
        out
    }
    let cfg = SimConfig {
        records_per_day: 500,
        missing_field_fraction: 0.1,
        null_field_fraction: 0.1,
        extra_field_fraction: 0.1,
        ..SimConfig::default()
    };
    let a = bytes_of(cfg.clone()).await;
    let b = bytes_of(cfg.clone()).await;
    assert!(a.len() > 4);
    assert_eq!(a, b);
    let c = bytes_of(SimConfig { seed: 43, ..cfg }).await;
    assert_ne!(a, c);
}

#[tokio::test]
async fn filters_select_exactly_records_matching() {
    let cfg = SimConfig {
        records_per_day: 1000,
        ..SimConfig::default()
    };
    let filters = json!({
        "medium": {"in": ["voice", "sms"]},
        "or": [{"holdTime": {"greaterThan": 30}}, {"direction": {"equals": "outbound"}}]
    });
    let want: Vec<Record> =
        tributary_cxone_sim::records_matching(&cfg, ts(S), ts(E), &filters).collect();
    assert!(!want.is_empty() && want.len() < expected(&cfg).len());
    assert!(
        want.iter()
            .all(|r| (r.medium == "voice" || r.medium == "sms")
                && (r.hold_time > 30 || r.direction == "outbound"))
    );
    let sim = start(cfg).await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let mut b = body(S, E, "json");
    b["filters"] = filters;
    let (id, done) = c.run_export(&t, &b).await;
    assert_eq!(done["totalRecords"], want.len());
    let (got, _) = c.fetch_json(&t, &id, 333).await;
    let got_ids: Vec<&str> = got.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let want_ids: Vec<&str> = want.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(got_ids, want_ids);
}

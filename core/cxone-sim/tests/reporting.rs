//! The Reporting API's completed contacts: NICE's published record (58 fields, typed),
//! old names, strings for numbers, `omit_fields`, inclusive `endDate`/`updatedSince`,
//! ordering and offset paging.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::Value;
use tributary_cxone_sim::{
    COMPLETED_CONTACT_FIELDS, Record, SimConfig, contact_id_of, last_update_time, records_in_range,
};

use crate::util::{Client, start};

const S: &str = "2023-01-02T00:00:00.000Z";
const E: &str = "2023-01-02T23:59:59.999Z";

fn ts(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn small() -> SimConfig {
    SimConfig {
        records_per_day: 200,
        ..SimConfig::default()
    }
}

/// The records of [S, E], by contactId.
fn truth(cfg: &SimConfig) -> BTreeMap<i64, Record> {
    records_in_range(cfg, ts(S), ts(E))
        .map(|r| (contact_id_of(&r), r))
        .collect()
}

const INTS: [&str; 30] = [
    "contactId",
    "masterContactId",
    "agentId",
    "skillId",
    "teamId",
    "campaignId",
    "mediaTypeId",
    "mediaSubTypeId",
    "pointOfContactId",
    "primaryDispositionId",
    "secondaryDispositionId",
    "transferIndicatorId",
    "routingAttribute",
    "serviceLevelFlag",
    "highProficiency",
    "lowProficiency",
    "holdCount",
    "divisionNo",
    "abandonSeconds",
    "acwSeconds",
    "agentSeconds",
    "conferenceSeconds",
    "holdSeconds",
    "inQueueSeconds",
    "postQueueSeconds",
    "preQueueSeconds",
    "releaseSeconds",
    "totalDurationSeconds",
    "callbackTime",
    "routingTime",
];
const BOOLS: [&str; 7] = [
    "abandoned",
    "isAnalyticsProcessed",
    "isLogged",
    "isOutbound",
    "isRefused",
    "isShortAbandon",
    "isTakeover",
];
const TIMESTAMPS: [&str; 5] = [
    "contactStartDate",
    "lastUpdateTime",
    "dateContactWarehoused",
    "dateACWWarehoused",
    "analyticsProcessedDate",
];
const STRINGS: [&str; 15] = [
    "campaignName",
    "dispositionNotes",
    "endReason",
    "firstName",
    "lastName",
    "fromAddress",
    "toAddress",
    "mediaSubTypeName",
    "mediaTypeName",
    "pointOfContactName",
    "refuseReason",
    "refuseTime",
    "skillName",
    "teamName",
    "transferIndicatorName",
];

fn is_utc_ms(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == 24 && s.ends_with('Z') && DateTime::parse_from_rfc3339(s).is_ok()
    })
}

async fn day(cfg: SimConfig, version: &str, extra: &[(&str, &str)]) -> Vec<Value> {
    let sim = start(cfg).await;
    let c = Client::new(&sim);
    let token = c.access_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut q = vec![("startDate", S), ("endDate", E)];
    q.extend_from_slice(extra);
    c.completed_all(&token, version, &q, 70).await
}

#[tokio::test]
async fn records_carry_the_58_published_fields_typed_and_no_end_time() {
    let cfg = small();
    let want = truth(&cfg);
    let got = day(cfg.clone(), "v27.0", &[]).await;
    assert_eq!(got.len(), want.len());
    let mut expected_keys: Vec<&str> = INTS
        .iter()
        .chain(&BOOLS)
        .chain(&TIMESTAMPS)
        .chain(&STRINGS)
        .copied()
        .chain(["tags"])
        .collect();
    expected_keys.sort_unstable();
    let mut published = COMPLETED_CONTACT_FIELDS.to_vec();
    published.sort_unstable();
    assert_eq!(expected_keys, published);
    let mut tagged = 0;
    for rec in &got {
        let obj = rec.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, expected_keys);
        assert!(obj.get("contactEndDate").is_none() && obj.get("contactEnd").is_none());
        for k in INTS {
            assert!(rec[k].is_i64(), "{k} = {}", rec[k]);
        }
        for k in BOOLS {
            assert!(rec[k].is_boolean(), "{k} = {}", rec[k]);
        }
        for k in TIMESTAMPS {
            assert!(is_utc_ms(&rec[k]), "{k} = {}", rec[k]);
        }
        for k in STRINGS {
            assert!(rec[k].is_string(), "{k} = {}", rec[k]);
        }
        for t in rec["tags"].as_array().unwrap() {
            assert!(t["tagId"].is_i64() && t["tagName"].is_string(), "{t}");
            tagged += 1;
        }
        // The values tie to the public record: end = start + totalDurationSeconds.
        let id = rec["contactId"].as_i64().unwrap();
        assert_eq!(rec["masterContactId"], id);
        let r = &want[&id];
        let start = ts(rec["contactStartDate"].as_str().unwrap());
        assert_eq!(start, r.start_time);
        let total = rec["totalDurationSeconds"].as_i64().unwrap();
        assert_eq!(start + chrono::Duration::seconds(total), r.end_time);
        assert_eq!(rec["holdSeconds"], r.hold_time);
        assert_eq!(rec["acwSeconds"], r.wrap_time);
        assert_eq!(rec["agentSeconds"], r.talk_time);
        assert_eq!(rec["isOutbound"], r.direction == "outbound");
        let (media_id, media_name) = tributary_cxone_sim::media_type_of(r.medium);
        assert_eq!(rec["mediaTypeId"], media_id);
        assert_eq!(rec["mediaTypeName"], media_name);
        assert_eq!(rec["transferIndicatorName"], "None");
        assert_eq!(rec["refuseTime"], "");
        assert_eq!(
            ts(rec["lastUpdateTime"].as_str().unwrap()),
            last_update_time(&cfg, r)
        );
        let agent = rec["agentId"].as_i64().unwrap();
        assert_eq!(r.agent_id, format!("agent-{agent:04}"));
        assert_eq!(rec["teamId"], agent / 25 + 1);
        assert_eq!(rec["holdCount"], i64::from(r.hold_time > 0));
        assert!(ts(rec["dateContactWarehoused"].as_str().unwrap()) > last_update_time(&cfg, r));
    }
    assert!(tagged > 0, "a few records carry tags");
}

#[tokio::test]
async fn old_versions_and_the_knob_serve_legacy_names() {
    let legacy = [
        ("contactStart", "contactStartDate"),
        ("ACWSeconds", "acwSeconds"),
        ("confSeconds", "conferenceSeconds"),
        ("fromAddr", "fromAddress"),
        ("toAddr", "toAddress"),
        ("mediaType", "mediaTypeId"),
    ];
    let knob = SimConfig {
        legacy_field_names: true,
        ..small()
    };
    for recs in [
        day(small(), "v12.0", &[]).await,
        day(knob, "v27.0", &[]).await,
    ] {
        assert!(!recs.is_empty());
        for rec in &recs {
            for (old, new) in legacy {
                assert!(rec.get(old).is_some(), "{old} missing");
                assert!(rec.get(new).is_none(), "{new} present");
            }
            assert_eq!(rec.as_object().unwrap().len(), 58);
            assert!(rec["mediaType"].is_i64());
        }
    }
}

#[tokio::test]
async fn string_numbers_writes_numbers_and_capitalised_booleans_as_strings() {
    let cfg = SimConfig {
        string_numbers: true,
        ..small()
    };
    let recs = day(cfg, "v27.0", &[]).await;
    for rec in &recs {
        for k in INTS {
            let s = rec[k]
                .as_str()
                .unwrap_or_else(|| panic!("{k} = {}", rec[k]));
            assert!(s.parse::<i64>().is_ok(), "{k} = {s}");
        }
        for k in BOOLS {
            assert!(rec[k] == "True" || rec[k] == "False", "{k} = {}", rec[k]);
        }
        for t in rec["tags"].as_array().unwrap() {
            assert!(t["tagId"].is_string(), "{t}");
        }
    }
    assert!(recs.iter().any(|r| r["isOutbound"] == "True"));
    assert!(recs.iter().all(|r| r["abandoned"] == "False"));
}

#[tokio::test]
async fn omit_fields_and_the_fields_filter_drop_fields_by_served_name() {
    let cfg = SimConfig {
        omit_fields: vec!["endReason".into(), "tags".into(), "ACWSeconds".into()],
        ..small()
    };
    let recs = day(cfg.clone(), "v27.0", &[]).await;
    for rec in &recs {
        assert!(rec.get("endReason").is_none() && rec.get("tags").is_none());
        // `ACWSeconds` is the legacy name: the modern one stays.
        assert!(rec.get("acwSeconds").is_some());
        assert_eq!(rec.as_object().unwrap().len(), 56);
    }
    let legacy = day(cfg.clone(), "v12.0", &[]).await;
    assert!(legacy.iter().all(|r| r.get("ACWSeconds").is_none()));
    let picked = day(cfg, "v27.0", &[("fields", "contactId,endReason,skillName")]).await;
    for rec in &picked {
        let keys: Vec<&str> = rec
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, ["contactId", "skillName"]);
    }
    let bad = SimConfig {
        omit_fields: vec![" ".into()],
        ..small()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("omit_fields")
    );
}

#[tokio::test]
async fn end_date_and_updated_since_are_inclusive() {
    let cfg = small();
    let all: Vec<Record> = truth(&cfg).into_values().collect();
    let sim = start(cfg.clone()).await;
    let c = Client::new(&sim);
    let token = c.access_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let (a, b) = (&all[10], &all[20]);
    let ids = |recs: Vec<Value>| -> Vec<i64> {
        recs.iter()
            .map(|r| r["contactId"].as_i64().unwrap())
            .collect()
    };
    // [a.start, b.start] holds both ends.
    let (sa, sb) = (fmt(a.start_time), fmt(b.start_time));
    let got = ids(c
        .completed_all(&token, "v27.0", &[("startDate", &sa), ("endDate", &sb)], 5)
        .await);
    assert_eq!(got.first(), Some(&contact_id_of(a)));
    assert_eq!(got.last(), Some(&contact_id_of(b)));
    assert_eq!(got.len(), 11);
    // One instant: start == end is a valid query.
    let one = ids(c
        .completed_all(&token, "v27.0", &[("startDate", &sa), ("endDate", &sa)], 5)
        .await);
    assert_eq!(one, [contact_id_of(a)]);
    // end < start is refused.
    let before = fmt(a.start_time - chrono::Duration::milliseconds(1));
    let r = c
        .completed(&token, "v27.0", &[("startDate", &sa), ("endDate", &before)])
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().contains_key("icStatusDescription"));
    // updatedSince = a record's lastUpdateTime keeps it; one ms later drops it.
    let lut = last_update_time(&cfg, a);
    let newer: Vec<i64> = all
        .iter()
        .filter(|r| last_update_time(&cfg, r) >= lut)
        .map(contact_id_of)
        .collect();
    let since = fmt(lut);
    let q = [
        ("startDate", S),
        ("endDate", E),
        ("updatedSince", since.as_str()),
    ];
    let mut got = ids(c.completed_all(&token, "v27.0", &q, 50).await);
    got.sort_unstable();
    assert!(got.contains(&contact_id_of(a)));
    assert_eq!(got, newer);
    let since = fmt(lut + chrono::Duration::milliseconds(1));
    let q = [
        ("startDate", S),
        ("endDate", E),
        ("updatedSince", since.as_str()),
    ];
    let got = ids(c.completed_all(&token, "v27.0", &q, 50).await);
    assert!(!got.contains(&contact_id_of(a)));
}

#[tokio::test]
async fn order_by_last_update_or_start_and_offset_paging() {
    let cfg = SimConfig {
        updated_fraction: 0.2,
        updated_at: Some("2024-05-01T12:00:00Z".into()),
        ..small()
    };
    let by_update = day(cfg.clone(), "v27.0", &[("orderBy", "lastUpdateTime asc")]).await;
    let keys: Vec<(String, i64)> = by_update
        .iter()
        .map(|r| {
            (
                r["lastUpdateTime"].as_str().unwrap().to_owned(),
                r["contactId"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "lastUpdateTime asc, ties by contactId");
    assert!(
        keys.windows(2).any(|w| w[0].0 == w[1].0),
        "some ties to order"
    );
    let by_start = day(cfg.clone(), "v27.0", &[("orderBy", "contactStartDate asc")]).await;
    let starts: Vec<(String, i64)> = by_start
        .iter()
        .map(|r| {
            (
                r["contactStartDate"].as_str().unwrap().to_owned(),
                r["contactId"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
    assert_eq!(starts.len(), truth(&cfg).len());

    // The envelope of one page, and 204 past the last row.
    let sim = start(cfg.clone()).await;
    let c = Client::new(&sim);
    let token = c.access_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let q = [
        ("startDate", S),
        ("endDate", E),
        ("top", "50"),
        ("skip", "50"),
    ];
    let r = c.completed(&token, "v27.0", &q).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["totalRecords"], 200);
    assert_eq!(v["completedContacts"].as_array().unwrap().len(), 50);
    assert!(v["businessUnitId"].is_i64());
    assert!(is_utc_ms(&v["lastPollTime"]));
    for (link, skip) in [("self", 50), ("next", 100), ("previous", 0)] {
        let url = v["_links"][link].as_str().unwrap();
        assert!(
            url.contains(&format!("skip={skip}&top=50")),
            "{link}: {url}"
        );
        assert!(url.contains("startDate="), "{link}: {url}");
    }
    let q = [("startDate", S), ("endDate", E), ("skip", "200")];
    let r = c.completed(&token, "v27.0", &q).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = c
        .completed(
            &token,
            "v27.0",
            &[("startDate", S), ("endDate", E), ("orderBy", "agentId")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

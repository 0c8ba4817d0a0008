//! Every rule of the wire contract: tokens, scopes, validation 400s, polling, 404s.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tributary_cxone_sim::SimConfig;

use crate::util::{Client, body, start};

const S: &str = "2023-01-01T00:00:00.000Z";
const E: &str = "2023-01-31T23:59:59.999Z";

#[tokio::test]
async fn token_answers_exactly_the_contract_fields() {
    let sim = start(SimConfig::default()).await;
    let c = Client::new(&sim);
    let r = c.token_with("sim-client", "sim-secret", None).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["access_token", "expires_in", "token_type"]);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(sim.counters().tokens_issued, 1);
}

#[tokio::test]
async fn bad_credentials_get_401_invalid_client() {
    let sim = start(SimConfig::default()).await;
    let c = Client::new(&sim);
    for (id, secret) in [("sim-client", "wrong"), ("other", "sim-secret"), ("", "")] {
        let r = c.token_with(id, secret, None).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v, json!({"error": "invalid_client"}));
    }
    assert_eq!(sim.counters().tokens_issued, 0);
    assert_eq!(sim.counters().requests_for("token", 401), 3);
}

#[tokio::test]
async fn token_request_must_be_form_encoded_client_credentials() {
    let sim = start(SimConfig::default()).await;
    let c = Client::new(&sim);
    let r = c
        .http
        .post(format!("{}/oauth/token", c.base))
        .json(
            &json!({"grant_type": "client_credentials", "client_id": "sim-client",
                      "client_secret": "sim-secret"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_request");
    assert!(v["message"].as_str().unwrap().contains("form-encoded"));

    let r = c
        .http
        .post(format!("{}/oauth/token", c.base))
        .form(&[
            ("grant_type", "password"),
            ("client_id", "sim-client"),
            ("client_secret", "sim-secret"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn every_create_rule_answers_400_naming_it() {
    let sim = start(SimConfig::default()).await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let base = body(S, E, "json");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = base.clone();
        f(&mut b);
        b
    };
    let many_columns: Vec<&str> = std::iter::repeat_n("id", 151).collect();
    let cases: Vec<(Value, &str, &str)> = vec![
        (with(&|b| b["extra"] = json!(1)), "unknown_field", "extra"),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("dateRange");
            }),
            "missing_field",
            "dateRange",
        ),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("reportId");
            }),
            "missing_field",
            "reportId",
        ),
        (
            with(&|b| b["reportId"] = json!(5)),
            "invalid_report_id",
            "reportId",
        ),
        (
            with(&|b| b["format"] = json!("parquet")),
            "invalid_format",
            "json, csv, xlsx",
        ),
        (
            with(&|b| b["columns"] = json!([])),
            "too_few_columns",
            "at least one",
        ),
        (
            with(&|b| b["columns"] = json!(many_columns)),
            "too_many_columns",
            "150",
        ),
        (
            with(&|b| b["columns"] = json!("id")),
            "invalid_columns",
            "array",
        ),
        (
            with(&|b| b["columns"] = json!(["id", "skill"])),
            "unknown_column",
            "skill",
        ),
        (
            with(&|b| b["dateRange"]["start"] = json!("2023-01-01T00:00:00Z")),
            "invalid_date",
            "milliseconds",
        ),
        (
            with(&|b| b["dateRange"]["end"] = json!("2023-01-31")),
            "invalid_date",
            "dateRange.end",
        ),
        (
            with(&|b| b["dateRange"]["tz"] = json!("UTC")),
            "invalid_date_range",
            "tz",
        ),
        (
            with(&|b| b["dateRange"]["end"] = json!(S)),
            "date_range_order",
            "strictly after",
        ),
        (
            with(&|b| b["dateRange"]["end"] = json!("2022-12-31T00:00:00.000Z")),
            "date_range_order",
            "strictly after",
        ),
        (
            with(&|b| b["dateRange"]["end"] = json!("2023-04-01T00:00:00.001Z")),
            "date_range_too_long",
            "90 days",
        ),
        (
            with(&|b| b["pageSize"] = json!(0)),
            "invalid_page_size",
            "1 to 10000",
        ),
        (
            with(&|b| b["pageSize"] = json!(10_001)),
            "invalid_page_size",
            "1 to 10000",
        ),
        (
            with(&|b| b["pageSize"] = json!("5000")),
            "invalid_page_size",
            "pageSize",
        ),
        (
            with(&|b| b["filters"] = json!([])),
            "invalid_filters",
            "object",
        ),
        (
            with(&|b| b["filters"] = json!({"queueId": {"like": "q%"}})),
            "invalid_filters",
            "equals",
        ),
        (
            with(&|b| b["filters"] = json!({"skill": {"equals": 1}})),
            "invalid_filters",
            "skill",
        ),
        (
            with(&|b| b["filters"] = json!({"medium": {"in": "voice"}})),
            "invalid_filters",
            "in",
        ),
        (
            with(&|b| {
                b["filters"] = json!({"or": [
                    {"medium": {"equals": "voice"}},
                    {"or": [{"queueId": {"in": ["queue-001"]}}, {"agentId": {"equals": "agent-0001"}}]},
                    {"direction": {"equals": "inbound"}}
                ]})
            }),
            "filter_too_complex",
            "4 fields",
        ),
    ];
    for (b, code, needle) in cases {
        let r = c.create(&t, &b).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{b}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], code, "{b} -> {v}");
        let msg = v["message"].as_str().unwrap();
        assert!(
            msg.contains(needle),
            "{code}: {msg:?} should mention {needle:?}"
        );
    }
    // Not JSON at all, and JSON with the wrong content type.
    let r = c
        .http
        .post(format!("{}/api/v2/analytics/data-exports", c.base))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_json");
    let r = c
        .http
        .post(format!("{}/api/v2/analytics/data-exports", c.base))
        .bearer_auth(&t)
        .header("content-type", "text/plain")
        .body(base.to_string())
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "invalid_content_type");
    assert_eq!(sim.counters().exports_created, 0);
}

#[tokio::test]
async fn valid_payloads_are_accepted() {
    let sim = start(SimConfig::default()).await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let mut ok = vec![
        body(
            "2023-01-01T00:00:00.000Z",
            "2023-03-31T23:59:59.999Z",
            "json",
        ),
        body(
            "2023-01-01T00:00:00.000Z",
            "2023-04-01T00:00:00.000Z",
            "csv",
        ), // exactly 90 days
        body(S, E, "xlsx"),
    ];
    let mut b = body(S, E, "json");
    b["filters"] = json!({"medium": {"in": ["voice", "chat"]}, "holdTime": {"greaterThan": 10},
                          "or": [{"queueId": {"equals": "queue-001"}}, {"agentId": {"lessThan": "z"}}]});
    b.as_object_mut().unwrap().remove("pageSize");
    ok.push(b);
    for b in ok {
        let r = c.create(&t, &b).await;
        assert_eq!(r.status(), StatusCode::CREATED, "{b}");
    }
    assert_eq!(sim.counters().exports_created, 4);
}

#[tokio::test]
async fn missing_unknown_and_expired_tokens_get_401() {
    let sim = start(SimConfig {
        token_ttl_secs: 1,
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let r = c
        .http
        .post(format!("{}/api/v2/analytics/data-exports", c.base))
        .json(&body(S, E, "json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        c.create("not-a-token", &body(S, E, "json")).await.status(),
        StatusCode::UNAUTHORIZED
    );

    let r = c.token_with("sim-client", "sim-secret", None).await;
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["expires_in"], 1);
    let t = v["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        c.create(&t, &body(S, E, "json")).await.status(),
        StatusCode::CREATED
    );
    // The expiry itself is what is tested: wait past expires_in.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = c.create(&t, &body(S, E, "json")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let v: Value = r.json().await.unwrap();
    assert!(v["message"].as_str().unwrap().contains("expired"));

    // ttl 0: born expired.
    let sim0 = start(SimConfig {
        token_ttl_secs: 0,
        ..SimConfig::default()
    })
    .await;
    let c0 = Client::new(&sim0);
    let t0 = c0.token().await;
    assert_eq!(
        c0.create(&t0, &body(S, E, "json")).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn scopes_are_enforced_with_403() {
    let sim = start(SimConfig::default()).await;
    let c = Client::new(&sim);
    let read_only = c.token_scoped("analytics:export:read reports:read").await;
    let write_only = c.token_scoped("analytics:export:write").await;
    let full = c.token().await;

    let r = c.create(&read_only, &body(S, E, "json")).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"], "insufficient_scope");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("analytics:export:write")
    );

    let (id, _) = c
        .run_export(&full, &body(S, "2023-01-01T23:59:59.999Z", "json"))
        .await;
    for r in [
        c.poll(&write_only, &id).await,
        c.data(&write_only, &id, 10, None).await,
    ] {
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let v: Value = r.json().await.unwrap();
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("analytics:export:read")
        );
    }

    // A scope the OAuth client is not granted is not in the token.
    let sim2 = start(SimConfig {
        scopes: vec!["analytics:export:read".to_owned()],
        ..SimConfig::default()
    })
    .await;
    let c2 = Client::new(&sim2);
    let t2 = c2.token().await;
    assert_eq!(
        c2.create(&t2, &body(S, E, "json")).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn polling_goes_pending_processing_completed_and_unknown_ids_404() {
    let sim = start(SimConfig {
        polls_before_complete: 3,
        records_per_day: 100,
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let r = c.create(&t, &body(S, E, "json")).await;
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Data before completion is refused.
    let r = c.data(&t, &id, 10, None).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "export_not_ready"
    );
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let v: Value = c.poll(&t, &id).await.json().await.unwrap();
        statuses.push(v["status"].as_str().unwrap().to_owned());
        if v["status"] == "completed" {
            assert_eq!(v["totalRecords"], 3100);
            assert!(v.get("errorMessage").is_none());
        } else {
            assert!(v.get("totalRecords").is_none());
        }
    }
    assert_eq!(
        statuses,
        ["pending", "processing", "processing", "completed"]
    );

    let r = c.poll(&t, "no-such-export").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c.data(&t, "no-such-export", 10, None).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c
        .http
        .get(format!("{}/api/v2/nothing", c.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn data_query_rules_answer_400() {
    let sim = start(SimConfig {
        records_per_day: 100,
        ..SimConfig::default()
    })
    .await;
    let c = Client::new(&sim);
    let t = c.token().await;
    let (a, _) = c
        .run_export(&t, &body(S, "2023-01-02T23:59:59.999Z", "json"))
        .await;
    let (b, _) = c
        .run_export(&t, &body(S, "2023-01-02T23:59:59.999Z", "json"))
        .await;
    for bad in [0u32, 10_001] {
        let r = c.data(&t, &a, bad, None).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "invalid_page_size"
        );
    }
    let v: Value = c.data(&t, &a, 50, None).await.json().await.unwrap();
    let tok = v["nextPageToken"].as_str().unwrap();
    // A token of export a is not valid for export b; a made-up token is not valid at all.
    for (id, token) in [(&b, tok), (&a, "made-up")] {
        let r = c.data(&t, id, 50, Some(token)).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.json::<Value>().await.unwrap()["error"],
            "invalid_page_token"
        );
    }
    // xlsx is accepted but not served as pages.
    let (x, _) = c
        .run_export(&t, &body(S, "2023-01-02T23:59:59.999Z", "xlsx"))
        .await;
    let r = c.data(&t, &x, 50, None).await;
    assert_eq!(
        r.json::<Value>().await.unwrap()["error"],
        "format_not_served"
    );
}

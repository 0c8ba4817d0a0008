//! The access-key token endpoint: client authentication as the discovery document
//! announces it, RFC 6749 Basic decoding, and the refresh grant's `client_id`.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tributary_cxone_sim::{SimConfig, SimSecret};

use crate::util::{Client, basic, start};

const PASSWORD: [(&str, &str); 3] = [
    ("grant_type", "password"),
    ("username", "sim-access-key"),
    ("password", "sim-access-secret"),
];

fn with_post(form: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut f = form.to_vec();
    f.push(("client_id", "sim-client"));
    f.push(("client_secret", "sim-secret"));
    f
}

async fn discovery_methods(c: &Client) -> Value {
    let v: Value = c
        .http
        .get(format!("{}/.well-known/openid-configuration", c.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["token_endpoint_auth_methods_supported"].clone()
}

#[tokio::test]
async fn client_auth_methods_decide_basic_or_post() {
    let cases = [
        (vec!["client_secret_basic"], true, false),
        (vec!["client_secret_post"], false, true),
        (
            vec!["client_secret_basic", "client_secret_post"],
            true,
            true,
        ),
    ];
    for (methods, basic_ok, post_ok) in cases {
        let cfg = SimConfig {
            client_auth_methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            ..SimConfig::default()
        };
        let sim = start(cfg).await;
        let c = Client::new(&sim);
        assert_eq!(discovery_methods(&c).await, json!(methods));
        let r = c
            .auth_token(Some(&basic("sim-client", "sim-secret")), &PASSWORD)
            .await;
        let want = if basic_ok {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(r.status(), want, "basic with {methods:?}");
        if !basic_ok {
            assert_eq!(
                r.json::<Value>().await.unwrap(),
                json!({"error": "invalid_client"})
            );
        }
        let r = c.auth_token(None, &with_post(&PASSWORD)).await;
        let want = if post_ok {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(r.status(), want, "post with {methods:?}");
        let counters = sim.counters();
        assert_eq!(counters.client_auth_basic, u64::from(basic_ok));
        assert_eq!(counters.client_auth_post, u64::from(post_ok));
        // Both methods in one request: refused whatever is announced (RFC 6749 §2.3).
        let r = c
            .auth_token(
                Some(&basic("sim-client", "sim-secret")),
                &with_post(&PASSWORD),
            )
            .await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        // No client authentication at all.
        let r = c.auth_token(None, &PASSWORD).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn default_discovery_announces_basic_only_as_nice_publishes() {
    let sim = start(SimConfig::default()).await;
    let c = Client::new(&sim);
    assert_eq!(discovery_methods(&c).await, json!(["client_secret_basic"]));
    let bad = SimConfig {
        client_auth_methods: vec!["private_key_jwt".into()],
        ..SimConfig::default()
    };
    let err = bad.validate().unwrap_err().to_string();
    assert!(
        err.contains("client_auth_methods") && err.contains("private_key_jwt"),
        "{err}"
    );
    let none = SimConfig {
        client_auth_methods: Vec::new(),
        ..SimConfig::default()
    };
    assert!(none.validate().is_err());
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_before_base64() {
    let secret = "p:a=s+s%w rd";
    let cfg = SimConfig {
        client_id: "tenant client:1".into(),
        client_secret: SimSecret::from(secret),
        ..SimConfig::default()
    };
    let sim = start(cfg).await;
    let c = Client::new(&sim);
    let r = c
        .auth_token(Some(&basic("tenant client:1", secret)), &PASSWORD)
        .await;
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    // Sent raw (not encoded), the `:` in the id splits too early and `+` decodes to a
    // space: no match.
    use base64::Engine as _;
    let raw = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("tenant client:1:{secret}"))
    );
    let r = c.auth_token(Some(&raw), &PASSWORD).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(sim.counters().client_auth_basic, 1);
}

#[tokio::test]
async fn refresh_needs_client_id_in_the_body() {
    let sim = start(SimConfig::default()).await;
    let c = Client::new(&sim);
    let auth = basic("sim-client", "sim-secret");
    let refresh = |v: &Value| v["refresh_token"].as_str().unwrap().to_owned();
    let first = c.access_token().await;
    let rt = refresh(&first);
    let r = c
        .auth_token(
            Some(&auth),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "invalid_request"})
    );
    let r = c
        .auth_token(
            Some(&auth),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("client_id", "someone-else"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = c
        .auth_token(
            Some(&auth),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("client_id", "sim-client"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let second: Value = r.json().await.unwrap();
    assert_ne!(refresh(&second), rt);
    let counters = sim.counters();
    assert_eq!((counters.password_grants, counters.refresh_grants), (1, 1));
}

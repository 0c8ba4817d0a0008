//! `tributary validate --connect`: every endpoint a run would use is reached and reported;
//! a wrong secret and a missing bucket fail clearly, and nothing lands.

use std::path::Path;

use crate::faults::{Moto, free_port, http};
use crate::util::{text, tributary};

fn pipeline(dir: &Path, secret: &str, port: u16, bucket: &str) -> std::path::PathBuf {
    let yaml = format!(
        r#"name: connect
state: {{ url: {state} }}
sources:
  cxone:
    type: cxone
    report_id: r1
    client_id: sim-client
    client_secret: {secret}
    date_range: {{ start: 2023-01-01, end: 2023-01-31 }}
    columns: [id, direction, medium, startTime, endTime, agentId, queueId, holdTime, wrapTime, talkTime]
    simulator: {{ seed: 7, records_per_day: 50 }}
sinks:
  lake:
    type: parquet
    inputs: [cxone]
    url: s3://{bucket}/cx
    s3: {{ endpoint: "http://127.0.0.1:{port}", region: us-east-1, access_key_id: test, secret_access_key: test, allow_http: true, force_path_style: true }}
"#,
        state = dir.join("state").display(),
    );
    let p = dir.join("connect.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

#[test]
fn validate_connect_reaches_every_endpoint_and_names_each_failure() {
    if std::env::var("TRIBUTARY_SKIP_S3").as_deref() == Ok("1") {
        eprintln!("TRIBUTARY_SKIP_S3=1: skipping the connect test");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _moto = Moto::start(port, &tmp.path().join("moto-recording.jsonl"));
    assert_eq!(http(port, "PUT", "/lake"), Some(200), "creating the bucket");

    let good = pipeline(tmp.path(), "sim-secret", port, "lake");
    let out = tributary(
        tmp.path(),
        &["validate", good.to_str().unwrap(), "--connect"],
        &[],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("ok   sources.cxone: a token was issued"), "{t}");
    assert!(t.contains("ok   sinks.lake:"), "{t}");

    let wrong = pipeline(tmp.path(), "not-the-secret", port, "lake");
    let out = tributary(
        tmp.path(),
        &["validate", wrong.to_str().unwrap(), "--connect"],
        &[],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("FAIL sources.cxone: authentication failed") && t.contains("401"),
        "{t}"
    );
    assert!(
        !t.contains("not-the-secret"),
        "the secret is never printed: {t}"
    );

    let missing = pipeline(tmp.path(), "sim-secret", port, "no-such-bucket");
    let out = tributary(
        tmp.path(),
        &["validate", missing.to_str().unwrap(), "--connect"],
        &[],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    let line = t
        .lines()
        .find(|l| l.starts_with("FAIL sinks.lake"))
        .unwrap_or_else(|| panic!("{t}"));
    assert!(
        line.contains("no-such-bucket"),
        "the failure names the bucket: {line}"
    );
    assert!(
        !tmp.path().join("state").exists(),
        "a check writes no state"
    );
}

//! Unit tests of the configuration.

use super::*;

fn base() -> CxoneConfig {
    let mut c = CxoneConfig::new("r1", "2023-01-01", "2023-12-31");
    c.base_url = Some("http://127.0.0.1:1".into());
    c.client_id = Some(Secret::new("k"));
    c.client_secret = Some(Secret::new("s"));
    c
}

fn keys(c: &CxoneConfig) -> Vec<String> {
    c.validate()
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|p| p.key)
        .collect()
}

#[test]
fn defaults_are_valid() {
    assert_eq!(base().validate(), Ok(()));
}

#[test]
fn yaml_with_unknown_key_is_refused() {
    let y = r#"{"report_id": "r", "date_range": {"start": "2023-01-01", "end": "2023-01-02"}, "bogus": 1}"#;
    let e = serde_json::from_str::<CxoneConfig>(y)
        .unwrap_err()
        .to_string();
    assert!(e.contains("bogus"), "{e}");
}

#[test]
fn every_problem_named_by_key() {
    let mut c = base();
    c.date_range.start = "2023-13-01".into();
    c.page_size = 0;
    c.max_window_days = Some(91);
    c.columns = vec![];
    c.format = ExportFormat::Xlsx;
    c.base_url = Some("ftp://x".into());
    let k = keys(&c);
    for want in [
        "date_range.start",
        "page_size",
        "max_window_days",
        "columns",
        "format",
        "base_url",
    ] {
        assert!(k.iter().any(|x| x == want), "{want} missing in {k:?}");
    }
}

#[test]
fn end_before_start_is_refused() {
    let mut c = base();
    c.date_range.start = "2023-02-01".into();
    c.date_range.end = "2023-01-01".into();
    assert_eq!(keys(&c), vec!["date_range.end"]);
}

#[test]
fn duplicate_and_too_many_columns() {
    let mut c = base();
    c.columns = vec!["id".into(), "id".into()];
    assert_eq!(keys(&c), vec!["columns[1]"]);
    c.columns = (0..151).map(|i| format!("c{i}")).collect();
    assert_eq!(keys(&c), vec!["columns"]);
}

#[test]
fn durations_are_bounded_and_credential_urls_must_be_https() {
    let mut c = base();
    c.max_backoff_ms = u64::MAX;
    c.data_extraction.min_call_interval_ms = u64::MAX;
    c.request_timeout_secs = u64::MAX;
    assert_eq!(
        keys(&c),
        vec![
            "max_backoff_ms",
            "data_extraction.min_call_interval_ms",
            "request_timeout_secs"
        ]
    );
    let mut c = base();
    c.base_url = Some("http://cxone.example.com".into());
    c.token_url = Some("https://user:pw@cxone.example.com/t?secret=x".into());
    assert_eq!(keys(&c), vec!["base_url"]);
    let msg = c.validate().unwrap_err()[0].message.clone();
    assert!(msg.contains("allow_http"), "{msg}");
    for ok in [
        "http://127.0.0.1:8080",
        "http://localhost:1",
        "http://[::1]:9",
    ] {
        c.base_url = Some(ok.into());
        assert_eq!(c.validate(), Ok(()), "{ok}");
    }
}

#[test]
fn debug_does_not_leak_credentials() {
    let c = base();
    let d = format!("{c:?}");
    assert!(d.contains("**REDACTED**"));
    let json = serde_json::to_string(&c).unwrap();
    assert!(!json.contains("\"k\""));
}

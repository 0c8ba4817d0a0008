//! Secrets from a pipeline file never reach `Debug` output or the config hash.

use std::path::PathBuf;

fn target_dir() -> PathBuf {
    // target/<profile>/deps/<test> → target/<profile>, where `cargo build` puts the plugins.
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent()?.parent().map(PathBuf::from))
        .unwrap_or_default()
}

#[test]
fn secrets_do_not_reach_debug_or_the_hash() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    let yaml = r#"
name: secrets
sources:
  cxone:
    type: cxone
    report_id: r1
    client_id: ${TEST_CLIENT_ID}
    client_secret: ${TEST_CLIENT_SECRET}
    date_range: { start: 2023-01-01, end: 2023-01-31 }
    columns: [id]
    simulator: {}
sinks:
  out: { type: arrow, inputs: [cxone], path: out }
"#;
    std::fs::write(&file, yaml).unwrap();
    let env = |secret: &'static str| {
        move |name: &str| match name {
            "TEST_CLIENT_ID" => Some("id-visible-nowhere".to_string()),
            "TEST_CLIENT_SECRET" => Some(secret.to_string()),
            _ => None,
        }
    };
    let plugin_dir = target_dir();
    let (p1, _) =
        tributary_engine::config::load_with(&file, &env("s3cr3t-one"), plugin_dir.to_str())
            .unwrap();
    let (p2, _) =
        tributary_engine::config::load_with(&file, &env("s3cr3t-two"), plugin_dir.to_str())
            .unwrap();
    let debug = format!("{p1:?}");
    assert!(!debug.contains("s3cr3t-one"), "secret in Debug: {debug}");
    assert!(!debug.contains("id-visible-nowhere"), "client id in Debug");
    assert!(!p1.redacted.to_string().contains("s3cr3t"));
    // The hash does not depend on the secret's value.
    assert_eq!(p1.config_hash, p2.config_hash);
}

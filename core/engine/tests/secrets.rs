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
        tributary_engine::load_with(&file, &env("s3cr3t-one"), plugin_dir.to_str(), &sources())
            .unwrap();
    let (p2, _) =
        tributary_engine::load_with(&file, &env("s3cr3t-two"), plugin_dir.to_str(), &sources())
            .unwrap();
    let debug = format!("{p1:?}");
    assert!(!debug.contains("s3cr3t-one"), "secret in Debug: {debug}");
    assert!(!debug.contains("id-visible-nowhere"), "client id in Debug");
    assert!(!p1.redacted.to_string().contains("s3cr3t"));
    // The hash does not depend on the secret's value.
    assert_eq!(p1.config_hash, p2.config_hash);
}

/// A key is secret because its schema says so (`writeOnly`/`x-sensitive`), not because
/// of its name: `audit.key` and the sinks' `secret`s are redacted, and a wrong-typed
/// secret's value is not quoted by the diagnostics.
#[test]
fn schemas_drive_redaction_and_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    let yaml = r#"
name: secrets
audit: { path: audit, key: AUDIT-KEY-VALUE }
sources:
  cxone:
    type: cxone
    report_id: r1
    date_range: { start: 2023-01-01, end: 2023-01-31 }
    simulator: {}
sinks:
  hook: { type: webhook, inputs: [cxone], url: "http://127.0.0.1:9/x", secret: HOOK-SECRET-VALUE }
"#;
    std::fs::write(&file, yaml).unwrap();
    let plugin_dir = target_dir();
    let none = |_: &str| None;
    let (p, _) =
        tributary_engine::load_with(&file, &none, plugin_dir.to_str(), &sources()).unwrap();
    let shown = p.redacted.to_string();
    assert!(!shown.contains("AUDIT-KEY-VALUE"), "{shown}");
    assert!(!shown.contains("HOOK-SECRET-VALUE"), "{shown}");
    assert!(!format!("{p:?}").contains("AUDIT-KEY-VALUE"));

    // A secret of the wrong type (a list) in the file, and one through an override.
    let bad = yaml.replace("secret: HOOK-SECRET-VALUE", "secret: [LISTED-SECRET-VALUE]");
    std::fs::write(&file, bad).unwrap();
    let e = tributary_engine::load_with(&file, &none, plugin_dir.to_str(), &sources())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sinks.hook.secret") && e.contains("sensitive"),
        "{e}"
    );
    assert!(!e.contains("LISTED-SECRET-VALUE"), "{e}");
}

fn sources() -> tributary_engine::SourceCatalog {
    tributary_engine::SourceCatalog::new()
        .with(std::sync::Arc::new(tributary_cxone::CxoneFactory::new()))
}

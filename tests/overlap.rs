//! Two runs of one pipeline started together: one writer per pipeline.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::{read_parquet_ids, text, tributary, truth};

fn pipeline(dir: &Path) -> std::path::PathBuf {
    let yaml = format!(
        r#"name: overlap
state: {{ url: {state} }}
audit: {{ path: {audit} }}
sources:
  cxone:
    type: cxone
    report_id: r1
    date_range: {{ start: 2023-01-01, end: 2023-01-20 }}
    max_window_days: 1
    concurrency: 1
    poll_interval_ms: 5
    simulator: {{ seed: 11, records_per_day: 40, latency_ms: 60 }}
sinks:
  lake: {{ type: parquet, inputs: [cxone], url: {lake} }}
"#,
        state = dir.join("state").display(),
        audit = dir.join("audit").display(),
        lake = dir.join("lake").display(),
    );
    let p = dir.join("overlap.yaml");
    std::fs::write(&p, yaml).unwrap();
    p
}

/// While a run holds the pipeline's lease a second one refuses with exit 1 and names the
/// holder; the first lands every record once, its audit chain verifies, and the lease is
/// gone afterwards (a third run goes ahead).
#[test]
fn a_second_run_refuses_while_the_first_holds_the_lease() {
    let tmp = tempfile::tempdir().unwrap();
    let file = pipeline(tmp.path());
    let mut first = std::process::Command::new(crate::util::bin())
        .current_dir(tmp.path())
        .args(["run", file.to_str().unwrap(), "--json"])
        .env_remove("TRIBUTARY_PLUGIN_PATH")
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lease = tmp.path().join("state/overlap/lease.json");
    let t0 = Instant::now();
    while !lease.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the first run never took the lease"
        );
        assert!(
            first.try_wait().unwrap().is_none(),
            "the first run ended early"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let second = tributary(tmp.path(), &["run", file.to_str().unwrap()], &[]);
    let msg = text(&second);
    assert_eq!(second.status.code(), Some(1), "{msg}");
    assert!(
        msg.contains("another run of this pipeline is in progress") && msg.contains("pid"),
        "{msg}"
    );
    assert!(
        first.try_wait().unwrap().is_none(),
        "the first run ended before the second was refused: the test proves nothing"
    );

    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(msg.contains(summary["run_id"].as_str().unwrap()), "{msg}");
    let want = truth(11, 40, "2023-01-01", "2023-01-20");
    let (rows, digest, _) = read_parquet_ids(&tmp.path().join("lake"));
    assert_eq!(
        (rows, digest),
        (want.len() as u64, crate::util::digest(want))
    );
    let verify = tributary(
        tmp.path(),
        &[
            "audit",
            "verify",
            tmp.path().join("audit").to_str().unwrap(),
        ],
        &[],
    );
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(!lease.exists(), "the lease is released at the end");
    let third = tributary(tmp.path(), &["run", file.to_str().unwrap()], &[]);
    assert!(third.status.success(), "{}", text(&third));
}

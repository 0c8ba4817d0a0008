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

/// A token endpoint answering a malformed reply (`"expires_in": "3600"`) with the token in
/// it: the token appears nowhere, not on stderr (trace logs included), not in the JSON
/// summary, the audit log or the state store.
#[test]
fn a_malformed_token_reply_leaks_nowhere() {
    let tmp = tempfile::tempdir().unwrap();
    // A hostile server, independent of our code: Python's standard library.
    let script = r#"
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('content-length', 0)))
        body = b'{"access_token":"LEAKED-ACCESS-TOKEN-VALUE","token_type":"Bearer","expires_in":"3600"}'
        self.send_response(200)
        self.send_header('content-type', 'application/json')
        self.send_header('content-length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.timeout = 30
for _ in range(20):
    s.handle_request()
"#;
    let mut server = std::process::Command::new(crate::util::python())
        .args(["-c", script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.as_mut().unwrap()),
        &mut port,
    )
    .unwrap();
    let yaml = format!(
        r#"name: leak
state: {{ url: {state} }}
audit: {{ path: {audit} }}
sources:
  cxone:
    type: cxone
    base_url: http://127.0.0.1:{port}
    client_id: id
    client_secret: secret
    report_id: r1
    max_retries: 0
    date_range: {{ start: 2023-01-01, end: 2023-01-01 }}
sinks:
  lake: {{ type: parquet, inputs: [cxone], url: {lake} }}
"#,
        port = port.trim(),
        state = tmp.path().join("state").display(),
        audit = tmp.path().join("audit").display(),
        lake = tmp.path().join("lake").display(),
    );
    let file = tmp.path().join("leak.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = std::process::Command::new(crate::util::bin())
        .current_dir(tmp.path())
        .args(["run", file.to_str().unwrap(), "--json"])
        .env_remove("TRIBUTARY_PLUGIN_PATH")
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let mut everything = text(&out);
    assert!(everything.contains("token response"), "{everything}");
    for dir in ["audit", "state"] {
        for entry in walk(&tmp.path().join(dir)) {
            everything.push_str(&String::from_utf8_lossy(&std::fs::read(entry).unwrap()));
        }
    }
    assert!(
        !everything.contains("LEAKED-ACCESS-TOKEN-VALUE"),
        "the token leaked"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

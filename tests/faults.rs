//! Fault matrix: the engine against the simulator, a real S3 server (moto) and webhook
//! receivers that fail; each run completes correctly or stops with a clear error and a
//! resumable checkpoint.
//!
//! Every test runs the real `tributary` binary and compares what landed with the
//! simulator's truth (`records_in_range`): count and SHA-256 digest of the sorted ids.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{self, py, python, read_parquet_ids, root, text, tributary, truth};

const COLUMNS: &str =
    "[id, direction, medium, startTime, endTime, agentId, queueId, holdTime, wrapTime, talkTime]";

/// Writes `<dir>/<name>.yaml`: one CXone source on the built-in simulator (`sim` is the
/// inside of its `simulator:` map), `source_extra` extra source keys (one per line,
/// unindented), and `sinks` (the body of `sinks:`, already indented).
fn pipeline(
    dir: &Path,
    name: &str,
    range: (&str, &str),
    source_extra: &str,
    sim: &str,
    sinks: &str,
) -> PathBuf {
    let extra: String = source_extra
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| format!("    {}\n", l.trim()))
        .collect();
    let yaml = format!(
        r#"name: {name}
state: {{ url: {state} }}
sources:
  cxone:
    type: cxone
    report_id: r1
    date_range: {{ start: {start}, end: {end} }}
    columns: {COLUMNS}
    poll_interval_ms: 5
    max_poll_interval_ms: 20
    initial_backoff_ms: 5
    max_backoff_ms: 50
{extra}    simulator: {{ {sim} }}
sinks:
{sinks}
"#,
        state = dir.join("state").display(),
        start = range.0,
        end = range.1,
    );
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, yaml).unwrap();
    p
}

/// A local Parquet sink named `lake` under `<dir>/lake`.
fn lake_sink(dir: &Path) -> String {
    format!(
        "  lake:\n    type: parquet\n    inputs: [cxone]\n    url: {}\n",
        dir.join("lake").display()
    )
}

/// Runs `tributary run <file> [--resume] --json`; returns (exit code, summary, all output).
fn run_json(dir: &Path, file: &Path, resume: bool) -> (Option<i32>, serde_json::Value, String) {
    let mut args = vec!["run", file.to_str().unwrap(), "--json"];
    if resume {
        args.push("--resume");
    }
    let started = Instant::now();
    let out = tributary(dir, &args, &[]);
    let t = text(&out);
    let summary = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON summary ({e}) after {:?}:\n{t}", started.elapsed()));
    (out.status.code(), summary, t)
}

/// Asserts that the Parquet files under `lake` hold exactly `want` (count and digest).
fn assert_lake_is(lake: &Path, want: &[String]) {
    let (rows, digest, files) = read_parquet_ids(lake);
    assert!(files > 0, "no Parquet file under {}", lake.display());
    assert_eq!(rows, want.len() as u64, "every record exactly once");
    assert_eq!(
        digest,
        util::digest(want.to_vec()),
        "the same ids as the simulator"
    );
}

fn metric(summary: &serde_json::Value, key: &str) -> u64 {
    summary["source_metrics"][key].as_u64().unwrap_or(0)
}

/// (a) A 429 storm (30 % of requests, every endpoint) plus 500/502/503 bursts: the run
/// retries through them and lands exactly the truth.
#[test]
fn storm_of_429_and_5xx_lands_exactly_the_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let range = ("2023-01-01", "2023-01-20");
    let p = pipeline(
        tmp.path(),
        "storm",
        range,
        "max_window_days: 3\npage_size: 100\nmax_retries: 25",
        "seed: 5, records_per_day: 150, p429: 0.3, retry_after_secs: 0, p500: 0.05, p502: 0.05, p503: 0.05",
        &lake_sink(tmp.path()),
    );
    let (code, summary, t) = run_json(tmp.path(), &p, false);
    assert_eq!(code, Some(0), "{t}");
    assert_eq!(summary["status"], "succeeded", "{t}");
    assert!(
        metric(&summary, "throttled") > 0,
        "no 429 was seen: {summary}"
    );
    assert!(
        metric(&summary, "server_errors") > 0,
        "no 5xx was seen: {summary}"
    );
    assert_lake_is(&tmp.path().join("lake"), &truth(5, 150, range.0, range.1));
}

/// (b) Responses slower than `request_timeout_secs` time out and are retried; the run
/// completes with exactly the truth.
#[test]
fn responses_slower_than_the_timeout_are_retried() {
    let tmp = tempfile::tempdir().unwrap();
    let range = ("2023-01-01", "2023-01-06");
    let p = pipeline(
        tmp.path(),
        "slow",
        range,
        "max_window_days: 2\nrequest_timeout_secs: 1\nmax_retries: 10",
        "seed: 6, records_per_day: 60, p_slow: 0.25, slow_ms: 1500",
        &lake_sink(tmp.path()),
    );
    let (code, summary, t) = run_json(tmp.path(), &p, false);
    assert_eq!(code, Some(0), "{t}");
    assert!(
        metric(&summary, "timeouts") > 0,
        "no request timed out: {summary}"
    );
    assert_lake_is(&tmp.path().join("lake"), &truth(6, 60, range.0, range.1));
}

/// (c) Access tokens that live one second expire mid-run (every request is slowed down):
/// the source fetches new ones and completes with exactly the truth.
#[test]
fn token_expiry_mid_run_is_survived() {
    let tmp = tempfile::tempdir().unwrap();
    let range = ("2023-01-01", "2023-01-08");
    let p = pipeline(
        tmp.path(),
        "tokens",
        range,
        "max_window_days: 1\nconcurrency: 1",
        "seed: 8, records_per_day: 40, token_ttl_secs: 1, latency_ms: 60",
        &lake_sink(tmp.path()),
    );
    let (code, summary, t) = run_json(tmp.path(), &p, false);
    assert_eq!(code, Some(0), "{t}");
    assert!(
        metric(&summary, "token_refreshes") >= 2,
        "the token never expired mid-run: {summary}"
    );
    assert_lake_is(&tmp.path().join("lake"), &truth(8, 40, range.0, range.1));
}

/// (d) An export that fails on the server (no export retries): exit code 1, an error naming
/// the window, the windows before it checkpointed; with the fault gone, `--resume` skips
/// them and everything lands exactly once.
#[test]
fn failed_export_stops_with_a_clear_error_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let range = ("2023-01-01", "2023-01-10");
    let failing = "20230105T000000Z-20230107T000000Z";
    let p = pipeline(
        tmp.path(),
        "failexp",
        range,
        "max_window_days: 2\nexport_retries: 0",
        r#"seed: 3, records_per_day: 40, fail_dates: ["2023-01-06"]"#,
        &lake_sink(tmp.path()),
    );
    let (code, summary, t) = run_json(tmp.path(), &p, false);
    assert_eq!(code, Some(1), "{t}");
    assert_eq!(summary["status"], "failed");
    let err = summary["error"].as_str().unwrap_or_default();
    assert!(
        err.contains(failing) && err.contains("failed") && err.contains("sources.cxone"),
        "the error does not name the component and window: {err}"
    );
    let windows = tmp.path().join("state/failexp/windows");
    let done: BTreeSet<String> = std::fs::read_dir(&windows)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .replace(".json", "")
        })
        .collect();
    for before in [
        "20230101T000000Z-20230103T000000Z",
        "20230103T000000Z-20230105T000000Z",
    ] {
        assert!(done.contains(before), "{before} not checkpointed: {done:?}");
    }
    assert!(
        !done.contains(failing),
        "the failed window is checkpointed: {done:?}"
    );

    // The fault is gone: the same pipeline without `fail_dates`.
    let yaml = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, yaml.replace(r#", fail_dates: ["2023-01-06"]"#, "")).unwrap();
    let (code, summary, t) = run_json(tmp.path(), &p, true);
    assert_eq!(code, Some(0), "{t}");
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(
        summary["windows_skipped"].as_u64(),
        Some(done.len() as u64),
        "{summary}"
    );
    assert_lake_is(&tmp.path().join("lake"), &truth(3, 40, range.0, range.1));
}

/// A free loopback port (bound, then released for the server the test starts later).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request with an empty body on loopback; the status, or `None` when nothing
/// answers.
pub(crate) fn http(port: u16, method: &str, path: &str) -> Option<u16> {
    let addr = ("127.0.0.1", port);
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    BufReader::new(s).read_line(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// Polls `done` every 5 ms until it holds; fails the test after `secs` seconds.
fn wait_until(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Checkpointed windows of pipeline `name` in the state store under `dir/state`.
fn checkpointed(dir: &Path, name: &str) -> usize {
    std::fs::read_dir(dir.join("state").join(name).join("windows"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A moto S3 server that records every request to a file and, when restarted, replays the
/// recording: a restart keeps the objects, as a real S3 server's does (moto alone keeps
/// them only in memory). Clients reach it through a [`Gate`] on a fixed port, which is
/// shut while moto is down and while it replays, so that no client request interleaves
/// with the replay (a real server is not reachable until its state is back). Killed on
/// drop.
pub(crate) struct Moto {
    child: Child,
    gate: Arc<Gate>,
    recording: PathBuf,
}

/// A loopback TCP forwarder: while open, each connection to `port` is piped to the moto
/// behind it; while shut, connections are dropped at once (as by a server that is down).
/// Its accept loop ends when the gate is dropped.
struct Gate {
    port: u16,
    state: Arc<GateState>,
}

struct GateState {
    backend: std::sync::atomic::AtomicU16,
    open: AtomicBool,
    stop: AtomicBool,
}

impl Gate {
    fn start(port: u16) -> Arc<Gate> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let state = Arc::new(GateState {
            backend: std::sync::atomic::AtomicU16::new(0),
            open: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        });
        let g = Arc::clone(&state);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if g.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                if !g.open.load(Ordering::SeqCst) {
                    continue; // dropped: connection closed
                }
                let backend = g.backend.load(Ordering::SeqCst);
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", backend)) else {
                    continue;
                };
                let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                // Each direction ends when its source closes; then the other side is shut.
                for (mut from, mut to) in [(client2, server2), (server, client)] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        Arc::new(Gate { port, state })
    }

    fn open_to(&self, backend: u16) {
        self.state.backend.store(backend, Ordering::SeqCst);
        self.state.open.store(true, Ordering::SeqCst);
    }

    fn shut(&self) {
        self.state.open.store(false, Ordering::SeqCst);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees `stop`.
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Moto {
    fn bin() -> PathBuf {
        if let Some(p) = std::env::var_os("TRIBUTARY_MOTO_SERVER") {
            return PathBuf::from(p);
        }
        let venv = root().join(".venv/bin/moto_server");
        if venv.exists() {
            venv
        } else {
            PathBuf::from("moto_server")
        }
    }

    /// A moto behind a gate on `port`.
    pub(crate) fn start(port: u16, recording: &Path) -> Moto {
        Self::start_behind(Gate::start(port), recording)
    }

    fn start_behind(gate: Arc<Gate>, recording: &Path) -> Moto {
        let replay = recording.exists();
        if replay {
            // A request being recorded when the server was killed is cut off mid-line; like
            // a real server's in-flight write, it never happened (and moto cannot replay it).
            let mut bytes = std::fs::read(recording).unwrap();
            let end = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            if end < bytes.len() {
                bytes.truncate(end);
                std::fs::write(recording, &bytes).unwrap();
            }
        }
        let port = free_port();
        let child = Command::new(Self::bin())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "true")
            .env("MOTO_RECORDER_FILEPATH", recording)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto_server ({}): {e}; install it with `.venv/bin/pip install 'moto[server]'`, \
                     set TRIBUTARY_MOTO_SERVER, or set TRIBUTARY_SKIP_S3=1 to skip",
                    Self::bin().display()
                )
            });
        let mut moto = Moto {
            child,
            gate,
            recording: recording.to_path_buf(),
        };
        wait_until(20, "moto_server answering", || {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited with {status}");
            }
            http(port, "GET", "/").is_some()
        });
        if replay {
            assert_eq!(
                http(port, "POST", "/moto-api/recorder/replay-recording"),
                Some(200),
                "replaying the recording"
            );
        }
        moto.gate.open_to(port);
        moto
    }

    /// SIGKILL: the server vanishes mid-request, as a crashed one does.
    fn kill(&mut self) {
        self.gate.shut();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn restart(&mut self) {
        self.kill();
        // The old process is dead; replacing `self` drops it without touching the gate.
        let again = Moto::start_behind(Arc::clone(&self.gate), &self.recording);
        *self = again;
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Only the process: the gate may already front its successor (`restart`).
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads every landed Parquet object under `s3://bucket/prefix` with boto3 and pyarrow:
/// (rows, digest of sorted ids, keys that are neither landed files, manifests nor window
/// records naming only existing parts).
fn read_s3(port: u16, bucket: &str, prefix: &str) -> (u64, String, Vec<String>) {
    let script = r#"
import sys, io, json, hashlib, boto3, pyarrow.parquet as pq
port, bucket, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
s3 = boto3.client('s3', endpoint_url='http://127.0.0.1:' + port, region_name='us-east-1',
                  aws_access_key_id='test', aws_secret_access_key='test')
keys = []
for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix + '/'):
    keys.extend(o['Key'] for o in page.get('Contents', []))
ids, other = [], []
for k in sorted(keys):
    if k.endswith('.parquet') and '/_tmp/' not in k:
        body = s3.get_object(Bucket=bucket, Key=k)['Body'].read()
        ids.extend(pq.read_table(io.BytesIO(body)).column('id').to_pylist())
    elif '/_windows/' in k:
        # A window's record of its parts must name only parts that exist.
        record = json.loads(s3.get_object(Bucket=bucket, Key=k)['Body'].read())
        if not all(prefix + '/' + p in keys for p in record['keys']):
            other.append(k)
    elif '/_manifests/' not in k:
        other.append(k)
ids = sorted(i for i in ids if i is not None)
print(json.dumps({'rows': len(ids), 'digest': hashlib.sha256('\n'.join(ids).encode()).hexdigest(), 'other': other}))
# The answer is out: skip interpreter teardown, where pyarrow's thread pool has been seen to
# abort ("terminate called without an active exception") after the work was done.
sys.stdout.flush()
import os
os._exit(0)
"#;
    let out = py(script, &[&port.to_string(), bucket, prefix]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    (
        v["rows"].as_u64().unwrap(),
        v["digest"].as_str().unwrap().to_string(),
        v["other"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect(),
    )
}

/// (e) The S3 server is killed once a window has landed and restarted (with its data) on
/// the same port 1.5 s later: the run completes or stops with a clear error; `--resume`
/// completes and the bucket holds exactly the truth.
#[test]
fn s3_server_restarted_mid_run() {
    if std::env::var("TRIBUTARY_SKIP_S3").as_deref() == Ok("1") {
        eprintln!("TRIBUTARY_SKIP_S3=1: skipping the S3 restart test");
        return;
    }
    let _ = python(); // fails early with instructions when the venv is missing
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut moto = Moto::start(port, &tmp.path().join("moto-recording.jsonl"));
    assert_eq!(http(port, "PUT", "/lake"), Some(200), "creating the bucket");

    let range = ("2023-01-01", "2023-01-24");
    let sinks = format!(
        r#"  lake:
    type: parquet
    inputs: [cxone]
    url: s3://lake/cx
    s3: {{ endpoint: "http://127.0.0.1:{port}", region: us-east-1, access_key_id: test, secret_access_key: test, allow_http: true, force_path_style: true }}
"#
    );
    let p = pipeline(
        tmp.path(),
        "s3restart",
        range,
        "max_window_days: 1\nconcurrency: 2",
        "seed: 12, records_per_day: 50, latency_ms: 25",
        &sinks,
    );
    let started = Instant::now();
    let child = Command::new(util::bin())
        .current_dir(tmp.path())
        .args(["run", p.to_str().unwrap(), "--json"])
        .env_remove("TRIBUTARY_PLUGIN_PATH")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(30, "a window landing in S3", || {
        checkpointed(tmp.path(), "s3restart") >= 1
    });
    moto.kill();
    let killed_after = checkpointed(tmp.path(), "s3restart");
    std::thread::sleep(Duration::from_millis(1500)); // the outage itself
    moto.restart();

    // The first run: bounded wait, then either outcome is acceptable if it is clear.
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    while !waiter.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the run hung after the S3 restart"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = waiter.join().unwrap();
    let t = text(&out);
    let first = out.status.code();
    eprintln!(
        "s3 restart: killed after {killed_after} windows, first run exit {first:?} in {:?}",
        started.elapsed()
    );
    if first != Some(0) {
        assert_eq!(first, Some(1), "{t}");
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let err = summary["error"].as_str().unwrap_or_default();
        assert!(
            err.contains("sinks.lake") || err.contains("s3://lake"),
            "the error does not name the sink: {err}"
        );
    }
    let (code, summary, t) = run_json(tmp.path(), &p, true);
    assert_eq!(code, Some(0), "{t}");
    assert_eq!(summary["status"], "succeeded");

    let want = truth(12, 50, range.0, range.1);
    let (rows, digest, other) = read_s3(port, "lake", "cx");
    assert_eq!(
        rows,
        want.len() as u64,
        "every record exactly once in the bucket"
    );
    assert_eq!(digest, util::digest(want));
    assert!(
        other.is_empty(),
        "stale or partial objects remain: {other:?}"
    );
}

/// One request the webhook receiver accepted.
#[derive(Debug, Clone)]
struct Delivery {
    key: String,
    ids: Vec<String>,
    /// The `records` array as JSON text (the content a key must always carry).
    records: String,
}

/// How the test receiver behaves.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Answers the sink's health check (`HEAD`), then stops listening: the receiver goes
    /// down right after the run has started.
    DownAfterHealthcheck,
    /// Up; the first `n` POSTs get `503 Service Unavailable`, then every POST `200`.
    Flaky(usize),
}

/// A minimal HTTP/1.1 receiver on `127.0.0.1:port` (std only, one thread per connection,
/// keep-alive, `Content-Length` bodies), recording every accepted POST.
struct Receiver {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Delivery>>>,
    refused: Arc<AtomicUsize>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start(port: u16, behaviour: Behaviour) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let refused = Arc::new(AtomicUsize::new(0));
        let fail_left = Arc::new(AtomicUsize::new(match behaviour {
            Behaviour::Flaky(n) => n,
            Behaviour::DownAfterHealthcheck => 0,
        }));
        let accept = {
            let (stop, log, refused) = (stop.clone(), log.clone(), refused.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(120);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    let stream = match listener.accept() {
                        Ok((s, _)) => s,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                            continue;
                        }
                        Err(_) => break,
                    };
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_secs(10)))
                        .unwrap();
                    let (log, refused, fail_left) =
                        (log.clone(), refused.clone(), fail_left.clone());
                    match behaviour {
                        Behaviour::DownAfterHealthcheck => {
                            // Serve this one connection's first request, then close
                            // the connection and the listener.
                            serve(stream, Some(1), &log, &refused, &fail_left);
                            return;
                        }
                        Behaviour::Flaky(_) => {
                            std::thread::spawn(move || {
                                serve(stream, None, &log, &refused, &fail_left)
                            });
                        }
                    }
                }
            })
        };
        Receiver {
            stop,
            log,
            refused,
            accept: Some(accept),
        }
    }

    fn deliveries(&self) -> Vec<Delivery> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

/// Serves requests on one connection (at most `limit`), until the peer closes it.
fn serve(
    stream: TcpStream,
    limit: Option<usize>,
    log: &Mutex<Vec<Delivery>>,
    refused: &AtomicUsize,
    fail_left: &AtomicUsize,
) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut served = 0;
    loop {
        if limit.is_some_and(|l| served >= l) {
            return;
        }
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let method = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(
            !headers.contains_key("transfer-encoding"),
            "the test receiver speaks Content-Length only: {headers:?}"
        );
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        served += 1;
        let status = if method == "POST" {
            if fail_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                refused.fetch_add(1, Ordering::SeqCst);
                "503 Service Unavailable"
            } else {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let records = &v["records"];
                let ids = records
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["id"].as_str().unwrap().to_string())
                    .collect();
                log.lock().unwrap().push(Delivery {
                    key: headers.get("idempotency-key").cloned().unwrap_or_default(),
                    ids,
                    records: records.to_string(),
                });
                "200 OK"
            }
        } else {
            "200 OK"
        };
        let close = limit.is_some_and(|l| served >= l);
        let reply = format!(
            "HTTP/1.1 {status}\r\nContent-Length: 0\r\n{}\r\n",
            if close { "Connection: close\r\n" } else { "" }
        );
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Spooled batches of sink `hook` of pipeline `name` (the engine's data dir sits beside
/// the state dir).
fn spooled(dir: &Path, name: &str) -> usize {
    std::fs::read_dir(dir.join("data").join(name).join("hook/spool"))
        .map(|d| {
            d.filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".batch"))
            })
            .count()
        })
        .unwrap_or(0)
}

/// (f) A webhook receiver that is down for a while. Not listening at all: the run refuses
/// to start, naming the sink and URL. Going down after the health check: every batch goes
/// to the spool and the run completes. Up again (still answering 503 at first): `--resume`
/// redelivers the spool; every record arrives, and each Idempotency-Key always carries the
/// same records.
#[test]
fn webhook_receiver_down_for_a_while() {
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let range = ("2023-01-01", "2023-01-06");
    let sinks = format!(
        "  hook:\n    type: webhook\n    inputs: [cxone]\n    url: http://127.0.0.1:{port}/ingest\n    batch_size: 25\n    max_retries: 2\n    initial_backoff_ms: 5\n    max_backoff_ms: 20\n    jitter: false\n    timeout_secs: 5\n"
    );
    let p = pipeline(
        tmp.path(),
        "hook",
        range,
        "max_window_days: 2",
        "seed: 10, records_per_day: 30",
        &sinks,
    );
    let want = truth(10, 30, range.0, range.1);

    // 1. Nothing listens: a clear error before any data moves, nothing checkpointed.
    let (code, summary, t) = run_json(tmp.path(), &p, false);
    assert_eq!(code, Some(1), "{t}");
    let err = summary["error"].as_str().unwrap_or_default();
    assert!(
        err.contains("sinks.hook") && err.contains(&format!("127.0.0.1:{port}")),
        "the error does not name the sink and URL: {err}"
    );
    assert_eq!(checkpointed(tmp.path(), "hook"), 0);

    // 2. Up for the health check, then down: everything is spooled, the run completes.
    let down = Receiver::start(port, Behaviour::DownAfterHealthcheck);
    let (code, summary, t) = run_json(tmp.path(), &p, true);
    drop(down);
    assert_eq!(code, Some(0), "{t}");
    assert_eq!(summary["status"], "succeeded", "{t}");
    let batches = want.len().div_ceil(25).max(1);
    let in_spool = spooled(tmp.path(), "hook");
    assert!(
        in_spool >= batches,
        "expected at least {batches} spooled batches, found {in_spool}:\n{t}"
    );

    // 3. Up again, refusing the first two requests: --resume redelivers the spool.
    let up = Receiver::start(port, Behaviour::Flaky(2));
    let mut resumes = 0;
    while spooled(tmp.path(), "hook") > 0 {
        resumes += 1;
        assert!(resumes <= 3, "the spool is not drained after 3 resumes");
        let (code, _, t) = run_json(tmp.path(), &p, true);
        assert_eq!(code, Some(0), "{t}");
    }
    let got = up.deliveries();
    assert_eq!(
        up.refused.load(Ordering::SeqCst),
        2,
        "the receiver's 503s were not met"
    );
    drop(up);
    eprintln!(
        "webhook: {in_spool} batches spooled, {} deliveries after {resumes} resume(s)",
        got.len()
    );

    // Dedupe by key, as a receiver does; a key must never carry different records.
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    let mut ids = Vec::new();
    for d in &got {
        assert!(!d.key.is_empty(), "a delivery without Idempotency-Key");
        match by_key.get(&d.key) {
            Some(seen) => assert_eq!(
                seen, &d.records,
                "key {} delivered with other records",
                d.key
            ),
            None => {
                by_key.insert(d.key.clone(), d.records.clone());
                ids.extend(d.ids.iter().cloned());
            }
        }
    }
    assert_eq!(by_key.len(), in_spool, "one distinct key per spooled batch");
    assert_eq!(
        ids.len(),
        want.len(),
        "every record once across distinct keys"
    );
    assert_eq!(util::digest(ids), util::digest(want));
}

/// A long wait says what it waits for and until when: a 429 on the token endpoint with
/// `Retry-After: 5` is logged as such (progress bars show the same line on a terminal),
/// and the run then completes.
#[test]
fn long_waits_say_what_for_and_until_when() {
    let tmp = tempfile::tempdir().unwrap();
    let p = pipeline(
        tmp.path(),
        "waits",
        ("2023-01-01", "2023-01-01"),
        "",
        "seed: 3, records_per_day: 20, p429: 0.5, retry_after_secs: 5, fault_endpoints: [token]",
        &lake_sink(tmp.path()),
    );
    let out = tributary(
        tmp.path(),
        &["run", p.to_str().unwrap()],
        &[("RUST_LOG", "info")],
    );
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let line = t
        .lines()
        .find(|l| l.contains("waiting: HTTP 429 from token (Retry-After)"))
        .unwrap_or_else(|| panic!("no wait line in:\n{t}"));
    let until = line
        .split("until=")
        .nth(1)
        .map(str::trim)
        .unwrap_or_default();
    let until = chrono::DateTime::parse_from_rfc3339(until)
        .unwrap_or_else(|e| panic!("`{until}` is not a time: {e}"));
    let logged_at =
        chrono::DateTime::parse_from_rfc3339(line.split_whitespace().next().unwrap()).unwrap();
    let secs = (until - logged_at).num_milliseconds();
    assert!(
        (3_000..=6_000).contains(&secs),
        "until is the Retry-After away: {line}"
    );
}

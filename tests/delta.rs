//! The `delta` sink end to end: pipelines against the simulator landing Delta tables
//! (local and on a real S3-protocol server), read back by the Python `deltalake` package,
//! an independent reader; crash/resume, repeated runs and shards never commit a window
//! twice; schema evolution; `tributary delta optimize|vacuum`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::faults::{Moto, free_port, http};
use crate::util::{self, py, text, tributary};

const COLUMNS: &str =
    "[id, direction, medium, startTime, endTime, agentId, queueId, holdTime, wrapTime, talkTime]";

/// A pipeline from the simulator (seed 11, faults on) through `validate` into one `delta`
/// sink named `table`, with `sink_extra` added to the sink's keys. With other `columns`
/// than the full set, `validate` would reject every record for its missing fields, so the
/// sink then reads the source directly.
fn delta_pipeline(
    dir: &Path,
    name: &str,
    range: (&str, &str),
    per_day: u32,
    columns: &str,
    sink_extra: &str,
) -> PathBuf {
    let full = columns == COLUMNS;
    let yaml = format!(
        r#"name: {name}
state: {{ url: {state} }}
sources:
  cxone:
    type: cxone
    report_id: r1
    date_range: {{ start: {start}, end: {end} }}
    columns: {columns}
    max_window_days: 14
    page_size: 1000
    poll_interval_ms: 5
    initial_backoff_ms: 5
    max_backoff_ms: 50
    simulator: {{ seed: 11, records_per_day: {per_day}, p429: 0.03, retry_after_secs: 0, p500: 0.02, latency_ms: 1 }}
{transforms}sinks:
  table:
    type: delta
    inputs: [{input}]
{sink_extra}
"#,
        transforms = if full {
            "transforms:\n  checked:\n    type: validate\n    inputs: [cxone]\n"
        } else {
            ""
        },
        input = if full { "checked" } else { "cxone" },
        state = dir.join("state").display(),
        start = range.0,
        end = range.1,
    );
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, yaml).unwrap();
    p
}

fn local_table(dir: &Path) -> String {
    format!(
        "    url: {}\n    partition_by: [\"startTime:day\"]\n",
        dir.join("table").display()
    )
}

/// What the Python `deltalake` package reads of a table.
#[derive(Debug, serde::Deserialize)]
struct Seen {
    rows: u64,
    unique: u64,
    digest: String,
    /// Window ids of the WRITE commits, one entry per commit.
    write_windows: Vec<String>,
    /// Every version in the history, ascending.
    versions: Vec<i64>,
    version: i64,
    start_type: String,
    date_type: Option<String>,
    partitions: Vec<String>,
    files: u64,
    columns: Vec<String>,
    null_hold: u64,
}

fn read_delta(uri: &str, storage: &serde_json::Value) -> Seen {
    let script = r#"
import os, sys, json, hashlib
from deltalake import DeltaTable
opts = json.loads(sys.argv[2]) or None
dt = DeltaTable(sys.argv[1], storage_options=opts)
t = dt.to_pyarrow_table()
ids = sorted(i for i in t.column('id').to_pylist() if i is not None)
hist = dt.history()
writes = [h for h in hist if h.get('operation') == 'WRITE']
names = t.schema.names
print(json.dumps({
    "rows": t.num_rows,
    "unique": len(set(ids)),
    "digest": hashlib.sha256('\n'.join(ids).encode()).hexdigest(),
    "write_windows": [h.get('tributary.window_id', '') for h in writes],
    "versions": sorted(h['version'] for h in hist),
    "version": dt.version(),
    "start_type": str(t.schema.field('startTime').type),
    "date_type": str(t.schema.field('date').type) if 'date' in names else None,
    "partitions": dt.metadata().partition_columns,
    "files": len(dt.file_uris()),
    "columns": names,
    "null_hold": t.column('holdTime').null_count if 'holdTime' in names else 0,
}))
# deltalake 1.6 with pyarrow sometimes aborts in interpreter teardown ("terminate called
# without an active exception") after everything is read and printed; skip the teardown.
sys.stdout.flush()
os._exit(0)
"#;
    let out = py(script, &[uri, &storage.to_string()]);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The window ids the plan of `file` has.
fn planned_windows(dir: &Path, file: &Path, shard: Option<&str>) -> Vec<String> {
    let mut args = vec!["plan", file.to_str().unwrap(), "--json"];
    if let Some(s) = shard {
        args.extend(["--shard", s]);
    }
    let out = tributary(dir, &args, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut w: Vec<String> = v["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["window_id"].as_str().unwrap().to_string())
        .collect();
    w.sort();
    w
}

/// Every record once, one WRITE commit per window (each window id once), contiguous versions.
fn assert_landed_once(seen: &Seen, truth: Vec<String>, windows: &[String]) {
    assert_eq!(
        seen.rows,
        truth.len() as u64,
        "row count = records: {seen:?}"
    );
    assert_eq!(seen.unique, seen.rows, "no duplicate ids");
    assert_eq!(
        seen.digest,
        util::digest(truth),
        "exactly the simulator's ids"
    );
    let mut committed = seen.write_windows.clone();
    committed.sort();
    assert_eq!(
        committed, windows,
        "one WRITE commit per window, none twice"
    );
    let expected: Vec<i64> = (0..=seen.version).collect();
    assert_eq!(seen.versions, expected, "versions are contiguous");
}

/// The quick-start shape into a local Delta table: typed columns, a `date` partition, one
/// commit per window; a second run of the same pipeline commits nothing again.
#[test]
fn delta_table_lands_each_window_once() {
    let tmp = tempfile::tempdir().unwrap();
    let range = ("2023-01-01", "2023-03-31");
    // At most 5 partitions open: a 14-day window comes in pages of ~5 days, so it finishes
    // its files early about twice.
    let sink = format!("{}    max_open_partitions: 5\n", local_table(tmp.path()));
    let p = delta_pipeline(tmp.path(), "dl", range, 200, COLUMNS, &sink);
    let out = tributary(tmp.path(), &["run", p.to_str().unwrap(), "--json"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let uri = tmp.path().join("table").display().to_string();
    let seen = read_delta(&uri, &serde_json::Value::Null);
    let truth = util::truth(11, 200, range.0, range.1);
    let windows = planned_windows(tmp.path(), &p, None);
    assert_landed_once(&seen, truth, &windows);
    assert_eq!(seen.start_type, "timestamp[us, tz=UTC]");
    assert_eq!(seen.date_type.as_deref(), Some("date32[day]"));
    assert_eq!(seen.partitions, vec!["date".to_string()]);
    // At least one file a day (a day whose rows straddle a memory boundary gets two).
    assert!(seen.files >= 90, "{} files", seen.files);
    let accepted = summary.to_string();
    assert!(
        accepted.contains(&format!("{}", seen.rows)),
        "the summary reports the rows the table holds: {accepted}"
    );

    // The same pipeline again (not a resume): every window is found committed.
    let again = tributary(tmp.path(), &["run", p.to_str().unwrap(), "--json"], &[]);
    assert!(again.status.success(), "{}", text(&again));
    let after = read_delta(&uri, &serde_json::Value::Null);
    assert_eq!(after.version, seen.version, "no new table version");
    assert_eq!(after.rows, seen.rows);
}

fn spawn(dir: &Path, file: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(util::bin())
        .current_dir(dir)
        .arg("run")
        .arg(file)
        .args(extra)
        .env_remove("TRIBUTARY_PLUGIN_PATH")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Killed with SIGKILL mid-run (at least 5 times) and resumed, the table ends with every
/// record once, each window committed once and contiguous versions.
#[test]
fn delta_crash_and_resume_commits_each_window_once() {
    let tmp = tempfile::tempdir().unwrap();
    let range = ("2023-01-01", "2023-12-31");
    let p = delta_pipeline(
        tmp.path(),
        "dlcrash",
        range,
        120,
        COLUMNS,
        &local_table(tmp.path()),
    );
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut kills = 0;
    for attempt in 0..20 {
        if kills >= 5 {
            break;
        }
        let delay = std::time::Duration::from_millis(300 + util::xorshift(&mut x) % 1200);
        let resume: &[&str] = if attempt > 0 { &["--resume"] } else { &[] };
        let mut child = spawn(tmp.path(), &p, resume);
        match util::exit_within(&mut child, delay) {
            // Finished before the kill: the checks below still hold; stop killing.
            Some(status) => {
                assert!(
                    status.success(),
                    "run failed on its own (attempt {attempt})"
                );
                break;
            }
            None => {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    assert!(kills >= 1, "no kill landed mid-run");
    let mut ok = false;
    for _ in 0..5 {
        let out = tributary(tmp.path(), &["run", p.to_str().unwrap(), "--resume"], &[]);
        if out.status.success() {
            ok = true;
            break;
        }
        eprintln!("resume failed: {}", text(&out));
    }
    assert!(ok, "the resumed run did not finish");
    let seen = read_delta(
        &tmp.path().join("table").display().to_string(),
        &serde_json::Value::Null,
    );
    let windows = planned_windows(tmp.path(), &p, None);
    assert_landed_once(&seen, util::truth(11, 120, range.0, range.1), &windows);
}

/// Three `--shard` processes at once commit to one table: every id once, every window once.
#[test]
fn delta_shards_commit_to_one_table() {
    let tmp = tempfile::tempdir().unwrap();
    let range = ("2023-01-01", "2023-06-30");
    let p = delta_pipeline(
        tmp.path(),
        "dlshards",
        range,
        60,
        COLUMNS,
        &local_table(tmp.path()),
    );
    let children: Vec<_> = (0..3)
        .map(|k| spawn(tmp.path(), &p, &["--shard", &format!("{k}/3")]))
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let seen = read_delta(
        &tmp.path().join("table").display().to_string(),
        &serde_json::Value::Null,
    );
    let windows = planned_windows(tmp.path(), &p, None);
    assert_landed_once(&seen, util::truth(11, 60, range.0, range.1), &windows);
}

/// On a real S3-protocol server (moto over HTTP): three shards racing to commit to one
/// table (versions taken by conditional PUT) land every record once, and the whole pipeline
/// run again afterwards finds every window committed and adds no version.
#[test]
fn delta_table_on_s3() {
    if std::env::var("TRIBUTARY_SKIP_S3").as_deref() == Ok("1") {
        eprintln!("TRIBUTARY_SKIP_S3=1: skipping the S3 delta test");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let _moto = Moto::start(port, &tmp.path().join("moto-recording.jsonl"));
    assert_eq!(http(port, "PUT", "/lake"), Some(200), "creating the bucket");
    let sink = format!(
        "    url: s3://lake/cx/delta\n    partition_by: [\"startTime:day\"]\n    s3: {{ endpoint: \"http://127.0.0.1:{port}\", region: us-east-1, access_key_id: test, secret_access_key: test, allow_http: true, force_path_style: true }}\n"
    );
    let range = ("2023-01-01", "2023-02-28");
    let p = delta_pipeline(tmp.path(), "dls3", range, 50, COLUMNS, &sink);
    let shards: Vec<_> = (0..3)
        .map(|k| spawn(tmp.path(), &p, &["--shard", &format!("{k}/3")]))
        .collect();
    for c in shards {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out));
    }
    let storage = serde_json::json!({
        "AWS_ENDPOINT_URL": format!("http://127.0.0.1:{port}"),
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "AWS_FORCE_PATH_STYLE": "true",
    });
    let seen = read_delta("s3://lake/cx/delta", &storage);
    let windows = planned_windows(tmp.path(), &p, None);
    assert_landed_once(&seen, util::truth(11, 50, range.0, range.1), &windows);
    assert_eq!(seen.start_type, "timestamp[us, tz=UTC]");

    let again = tributary(tmp.path(), &["run", p.to_str().unwrap()], &[]);
    assert!(again.status.success(), "{}", text(&again));
    let after = read_delta("s3://lake/cx/delta", &storage);
    assert_eq!(after.version, seen.version, "no new table version");
    assert_eq!(after.digest, seen.digest);
}

/// A window with a new column fails under `schema_mode: strict` naming the column, and
/// under `merge` evolves the table (old rows read the column as null); then
/// `tributary delta optimize` compacts the small files (same rows, fewer files) and
/// `tributary delta vacuum --retention-hours 0` deletes the compacted-away files.
#[test]
fn delta_schema_evolution_optimize_and_vacuum() {
    let tmp = tempfile::tempdir().unwrap();
    // By month, so that each month partition gets one small file per 14-day window.
    let monthly = format!(
        "    url: {}\n    partition_by: [\"startTime:month\"]\n",
        tmp.path().join("table").display()
    );
    let narrow = "[id, direction, medium, startTime, endTime, agentId, queueId]";
    let first = ("2023-01-01", "2023-01-31");
    let p = delta_pipeline(tmp.path(), "dlschema", first, 30, narrow, &monthly);
    let out = tributary(tmp.path(), &["run", p.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let uri = tmp.path().join("table").display().to_string();
    let before = read_delta(&uri, &serde_json::Value::Null);
    assert!(!before.columns.contains(&"holdTime".to_string()));

    let second = ("2023-02-01", "2023-02-28");
    let strict = delta_pipeline(tmp.path(), "dlschema", second, 30, COLUMNS, &monthly);
    let out = tributary(tmp.path(), &["run", strict.to_str().unwrap()], &[]);
    assert!(
        !out.status.success(),
        "a new column must fail a strict table"
    );
    let msg = text(&out);
    assert!(
        msg.contains("holdTime") && msg.contains("schema_mode: merge"),
        "the error names the new columns and the fix: {msg}"
    );
    let merge = delta_pipeline(
        tmp.path(),
        "dlschema",
        second,
        30,
        COLUMNS,
        &format!("{}    schema_mode: merge\n", monthly),
    );
    let out = tributary(tmp.path(), &["run", merge.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let evolved = read_delta(&uri, &serde_json::Value::Null);
    let jan = util::truth(11, 30, first.0, first.1).len() as u64;
    assert!(evolved.columns.contains(&"holdTime".to_string()));
    assert_eq!(
        evolved.rows,
        jan + util::truth(11, 30, second.0, second.1).len() as u64
    );
    assert!(
        evolved.null_hold >= jan,
        "January's rows read holdTime as null"
    );

    let out = tributary(
        tmp.path(),
        &["delta", "optimize", merge.to_str().unwrap(), "table"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let removed = report["optimize"]["files_removed"].as_u64().unwrap();
    assert!(removed >= 2, "{report}");
    let compacted = read_delta(&uri, &serde_json::Value::Null);
    assert_eq!(compacted.rows, evolved.rows);
    assert_eq!(compacted.digest, evolved.digest);
    assert!(
        compacted.files < evolved.files,
        "{} -> {}",
        evolved.files,
        compacted.files
    );

    let on_disk = |dir: &Path| {
        walk(dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .filter(|p| !p.to_string_lossy().contains("_delta_log"))
            .count() as u64
    };
    assert!(on_disk(&tmp.path().join("table")) > compacted.files);
    let out = tributary(
        tmp.path(),
        &[
            "delta",
            "vacuum",
            merge.to_str().unwrap(),
            "table",
            "--retention-hours",
            "0",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(on_disk(&tmp.path().join("table")), compacted.files);
    let vacuumed = read_delta(&uri, &serde_json::Value::Null);
    assert_eq!(vacuumed.digest, evolved.digest);

    // While a run holds the pipeline's lease, maintenance is refused (its window's files
    // are not in the log yet, and a vacuum would delete them).
    let lease = tmp.path().join("state/dlschema/lease.json");
    let until = (chrono::Utc::now() + chrono::Duration::minutes(5)).to_rfc3339();
    std::fs::write(
        &lease,
        serde_json::json!({"run_id": "r-live", "host": "another-host", "pid": 1,
            "acquired_at": chrono::Utc::now().to_rfc3339(), "expires_at": until})
        .to_string(),
    )
    .unwrap();
    let out = tributary(
        tmp.path(),
        &[
            "delta",
            "vacuum",
            merge.to_str().unwrap(),
            "table",
            "--retention-hours",
            "0",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("r-live") && text(&out).contains("holds"),
        "{}",
        text(&out)
    );
    std::fs::remove_file(&lease).unwrap();

    let out = tributary(
        tmp.path(),
        &["delta", "optimize", p.to_str().unwrap(), "nope"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no sink `nope`"), "{}", text(&out));
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

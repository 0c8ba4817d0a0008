//! Helpers for the end-to-end tests: run the `tributary` binary, find the workspace and
//! the Python with pyarrow (the independent reader).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `tributary` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tributary"))
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// Runs `tributary` with `args` in `dir`, with a clean environment for our variables.
pub fn tributary(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir)
        .args(args)
        .env_remove("TRIBUTARY_PLUGIN_PATH")
        .env("RUST_LOG", "warn");
    for (k, _) in std::env::vars() {
        if k.starts_with("TRIBUTARY__") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run tributary")
}

/// Stdout and stderr as one string, for assertions and failure messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The Python interpreter with pyarrow: `TRIBUTARY_PYTHON`, else `.venv/bin/python`.
pub fn python() -> PathBuf {
    if let Ok(p) = std::env::var("TRIBUTARY_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = root().join(".venv/bin/python");
    assert!(
        venv.exists(),
        "no Python with pyarrow: run ./scripts/test (it creates .venv), or set TRIBUTARY_PYTHON"
    );
    venv
}

/// Runs a Python snippet and returns its stdout, failing the test on error.
pub fn py(script: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Reads every Parquet file under `dir` with pyarrow; returns (rows, sorted ids digest, files).
pub fn read_parquet_ids(dir: &Path) -> (u64, String, usize) {
    let script = r#"
import sys, glob, hashlib, pyarrow.parquet as pq
files = sorted(glob.glob(sys.argv[1] + '/**/*.parquet', recursive=True))
ids = []
for f in files:
    t = pq.read_table(f)
    ids.extend(t.column('id').to_pylist())
ids = sorted(i for i in ids if i is not None)
print(len(ids), hashlib.sha256('\n'.join(ids).encode()).hexdigest(), len(files))
"#;
    let out = py(script, &[dir.to_str().expect("utf-8 path")]);
    let parts: Vec<&str> = out.split_whitespace().collect();
    (
        parts[0].parse().expect("count"),
        parts[1].to_string(),
        parts[2].parse().expect("files"),
    )
}

/// Reads every Arrow IPC file under `dir` with pyarrow; returns the row count.
pub fn read_arrow_rows(dir: &Path) -> u64 {
    let script = r#"
import sys, glob, pyarrow as pa
n = 0
for f in sorted(glob.glob(sys.argv[1] + '/**/*.arrow', recursive=True)):
    with pa.OSFile(f, 'rb') as src:
        n += pa.ipc.open_file(src).read_all().num_rows
print(n)
"#;
    py(script, &[dir.to_str().expect("utf-8 path")])
        .trim()
        .parse()
        .expect("count")
}

/// SHA-256 over sorted ids joined by newlines (the same digest the simulator computes).
pub fn digest(mut ids: Vec<String>) -> String {
    ids.sort();
    tributary_cxone_sim::id_digest(ids.iter().map(String::as_str))
}

/// The simulator's ids for the inclusive day range `[start, end]`.
pub fn truth(seed: u64, per_day: u32, start: &str, end: &str) -> Vec<String> {
    let cfg = tributary_cxone_sim::SimConfig {
        seed,
        records_per_day: per_day,
        ..Default::default()
    };
    let s = chrono::DateTime::parse_from_rfc3339(&format!("{start}T00:00:00Z"))
        .unwrap()
        .to_utc();
    let e = chrono::DateTime::parse_from_rfc3339(&format!("{end}T23:59:59.999Z"))
        .unwrap()
        .to_utc();
    tributary_cxone_sim::records_in_range(&cfg, s, e)
        .map(|r| r.id)
        .collect()
}

/// The next number of a xorshift sequence: reproducible pseudo-random kill moments.
pub fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// The child's exit status if it exits within `within`, else `None` (it still runs).
pub fn exit_within(
    child: &mut std::process::Child,
    within: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + within;
    while std::time::Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    None
}

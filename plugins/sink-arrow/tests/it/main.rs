//! Integration tests of the arrow sink: pyarrow reads the files back; the `.so` through the SDK host;
//! the SDK's sink contract (in-process and through the `.so`).
// Test helpers outside #[test] fns: clippy.toml's allow-*-in-tests does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod contract;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use serde_json::{Value, json};
use sha2::Digest;
use tributary_plugin_sdk::abi::host::PluginLibrary;
use tributary_plugin_sdk::{Checkpoint, CreateContext, PluginInfo, Sink};
use tributary_sink_arrow::ArrowSink;

const W1: &str = "20230101T000000Z-20230401T000000Z";
const W2: &str = "20230401T000000Z-20230701T000000Z";

fn ctx(run: &str) -> CreateContext {
    CreateContext {
        component: "rejects".into(),
        pipeline: "t".into(),
        run_id: run.into(),
        ..Default::default()
    }
}
fn cp(w: &str) -> Checkpoint {
    Checkpoint {
        window_id: w.into(),
        ..Default::default()
    }
}
fn sink(cfg: Value, run: &str) -> ArrowSink {
    ArrowSink::create(serde_json::from_value(cfg).unwrap(), &ctx(run)).unwrap()
}

fn batch(start: usize, n: usize) -> (RecordBatch, Vec<Value>) {
    let ids: Vec<String> = (start..start + n).map(|i| format!("id-{i:08}")).collect();
    let dirs: Vec<Option<&str>> = (start..start + n)
        .map(|i| {
            if i % 9 == 0 {
                None
            } else {
                Some(["inbound", "outbound"][i % 2])
            }
        })
        .collect();
    let hold: Vec<i64> = (start..start + n).map(|i| (i * 7 % 1000) as i64).collect();
    let ts: Vec<i64> = (start..start + n)
        .map(|i| 1_673_740_800_000 + i as i64)
        .collect();
    let expected = (0..n)
        .map(|k| json!({"id": ids[k], "direction": dirs[k], "holdTime": hold[k], "ts": ts[k]}))
        .collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(StringArray::from(ids))),
        ("direction", Arc::new(StringArray::from(dirs))),
        ("holdTime", Arc::new(Int64Array::from(hold))),
        (
            "ts",
            Arc::new(TimestampMillisecondArray::from(ts).with_timezone("UTC")),
        ),
    ];
    (RecordBatch::try_from_iter(cols).unwrap(), expected)
}

fn python() -> PathBuf {
    std::env::var_os("TRIBUTARY_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
        assert!(p.exists(), "no python with pyarrow: set TRIBUTARY_PYTHON or run `python3 -m venv .venv && .venv/bin/pip install pyarrow` in the workspace root");
        p
    })
}

const READ: &str = r#"
import sys, os, json
import pyarrow as pa
root = sys.argv[1]
files, rows = [], []
for f in sorted(os.listdir(root)):
    if f.endswith('.arrow'):
        with pa.ipc.open_file(os.path.join(root, f)) as r:
            t = r.read_all()
        files.append([f, t.num_rows])
        for rec in t.to_pylist():
            rec['ts'] = int(rec['ts'].timestamp() * 1000)
            rows.append(rec)
rows.sort(key=lambda r: r['id'])
print(json.dumps({'files': files, 'rows': rows}))
"#;

/// (file name, rows) of every `.arrow` file pyarrow opens in `dir`, and all records sorted by id.
fn pyarrow_read(dir: &Path) -> (Vec<(String, u64)>, Vec<Value>) {
    let out = Command::new(python())
        .arg("-c")
        .arg(READ)
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyarrow failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f[0].as_str().unwrap().to_string(), f[1].as_u64().unwrap()))
        .collect();
    (files, v["rows"].as_array().unwrap().clone())
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn rotates_by_rows_and_pyarrow_reads_every_record() {
    for compression in ["none", "zstd"] {
        let dir = tempfile::tempdir().unwrap();
        let mut s = sink(
            json!({"path": dir.path().display().to_string(), "max_rows_per_file": 1000, "compression": compression}),
            "r1",
        );
        s.healthcheck().unwrap();
        let (b1, e1) = batch(0, 2500);
        let (b2, e2) = batch(2500, 700);
        s.write(&b1.slice(0, 1200)).unwrap();
        s.write(&b1.slice(1200, 1300)).unwrap();
        let a1 = s.flush(&cp(W1)).unwrap();
        s.write(&b2).unwrap();
        let a2 = s.flush(&cp(W2)).unwrap();
        assert_eq!(s.close().unwrap().records, 0);
        assert_eq!(a1.records, 2500);
        assert_eq!(
            a1.files.iter().map(|f| f.rows).collect::<Vec<_>>(),
            vec![1000, 1000, 500]
        );
        assert_eq!(a2.files.len(), 1);
        let (files, rows) = pyarrow_read(dir.path());
        assert_eq!(
            files,
            vec![
                (format!("{W1}-00000.arrow"), 1000),
                (format!("{W1}-00001.arrow"), 1000),
                (format!("{W1}-00002.arrow"), 500),
                (format!("{W2}-00000.arrow"), 700),
            ]
        );
        let mut expected = [e1, e2].concat();
        expected.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        assert_eq!(rows, expected);
        for f in a1.files.iter().chain(&a2.files) {
            let bytes = std::fs::read(&f.path).unwrap();
            assert_eq!(f.bytes, bytes.len() as u64);
            assert_eq!(f.sha256, hex::encode(sha2::Sha256::digest(&bytes)));
        }
        // No temporary files remain.
        assert_eq!(names(dir.path()).len(), 4, "{:?}", names(dir.path()));
    }
}

#[test]
fn rotates_by_bytes_and_zstd_is_smaller() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _) = batch(0, 10_000);
    let mut total = vec![];
    for c in ["none", "zstd"] {
        let out = dir.path().join(c);
        let mut s = sink(
            json!({"path": out.display().to_string(), "max_bytes_per_file": 20_000, "compression": c}),
            "r",
        );
        for i in 0..10 {
            s.write(&b.slice(i * 1000, 1000)).unwrap();
        }
        let a = s.flush(&cp(W1)).unwrap();
        assert_eq!(a.records, 10_000);
        let (files, rows) = pyarrow_read(&out);
        assert_eq!(rows.len(), 10_000);
        assert!(files.len() > 1, "{c}: {files:?}");
        total.push(a.files.iter().map(|f| f.bytes).sum::<u64>());
    }
    assert!(total[1] < total[0], "{total:?}");
}

#[test]
fn rerun_overwrites_and_removes_stale_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().display().to_string();
    let (b, expected) = batch(0, 5000);
    {
        let mut s = sink(json!({"path": path, "max_rows_per_file": 1000}), "run1");
        s.write(&b).unwrap();
        assert_eq!(s.flush(&cp(W1)).unwrap().files.len(), 5);
        // A crash mid-way through the next window leaves a temporary file behind.
        s.write(&b.slice(0, 10)).unwrap();
        std::mem::forget(s);
    }
    assert!(names(dir.path()).iter().any(|n| n.ends_with(".arrow.tmp")));
    // The re-run (same run id, resumed) cleans the temporary file and writes fewer parts.
    let mut s = sink(json!({"path": path, "max_rows_per_file": 3000}), "run1");
    assert!(!names(dir.path()).iter().any(|n| n.ends_with(".arrow.tmp")));
    s.write(&b).unwrap();
    let a = s.flush(&cp(W1)).unwrap();
    s.close().unwrap();
    assert_eq!(a.metrics["stale_files_deleted"], 3);
    assert_eq!(
        names(dir.path()),
        vec![format!("{W1}-00000.arrow"), format!("{W1}-00001.arrow")]
    );
    let (_, rows) = pyarrow_read(dir.path());
    assert_eq!(rows, expected);
}

#[test]
fn cdylib_roundtrip_through_the_sdk_host() {
    let so = tributary_plugin_sdk::abi::host::built_library("tributary_sink_arrow")
        .expect("libtributary_sink_arrow.so not built: run cargo build --workspace");
    let lib = PluginLibrary::load(&so, None).unwrap();
    assert_eq!(lib.meta().name, "arrow");
    let dir = tempfile::tempdir().unwrap();
    let mut s = lib
        .create_sink(
            &json!({"path": dir.path().display().to_string(), "compression": "zstd"}),
            &ctx("ffi"),
        )
        .unwrap();
    s.healthcheck().unwrap();
    let (b, expected) = batch(0, 1234);
    s.write(&b).unwrap();
    let a = s.flush(&cp(W1)).unwrap();
    s.close().unwrap();
    assert_eq!(a.records, 1234);
    let (_, rows) = pyarrow_read(dir.path());
    assert_eq!(rows, expected);
    // Read back with arrow-ipc too: the exact batch, types included.
    let f = std::fs::File::open(&a.files[0].path).unwrap();
    let got: Vec<RecordBatch> = arrow_ipc::reader::FileReader::try_new(f, None)
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    assert_eq!(got, vec![b]);
    let e = lib
        .create_sink(&json!({"path": "x", "compression": "lz4"}), &ctx("ffi"))
        .err()
        .unwrap();
    assert_eq!(e.kind, tributary_plugin_sdk::ErrorKind::Config);
    assert!(
        e.message
            .contains(r#"compression: "lz4" is not one of none, zstd"#),
        "{e}"
    );
}

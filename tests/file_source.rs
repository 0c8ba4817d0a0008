//! The `file` source, end to end: a landed lake replayed into new sinks.

use crate::util::{self, text, tributary};

/// Rows of every file under a directory, read by pyarrow, as sorted JSON lines, with the
/// schema of the first file (`name:type` per column).
fn rows_and_types(dir: &std::path::Path, pattern: &str, reader: &str) -> String {
    let script = r#"
import sys, glob, json, pyarrow as pa, pyarrow.parquet as pq
files = sorted(glob.glob(sys.argv[1] + '/**/' + sys.argv[2], recursive=True))
def read(f):
    if sys.argv[3] == 'parquet':
        return pq.read_table(f)
    with pa.OSFile(f, 'rb') as src:
        return pa.ipc.open_file(src).read_all()
tables = [read(f) for f in files]
schema = tables[0].schema
rows = []
for t in tables:
    assert t.schema.equals(schema), (t.schema, schema)
    rows.extend(json.dumps(r, sort_keys=True, default=str) for r in t.to_pylist())
rows.sort()
print(len(files), len(rows))
print(','.join(f'{f.name}:{f.type}' for f in schema))
print('\n'.join(rows))
"#;
    util::py(
        script,
        &[dir.to_str().expect("utf-8 path"), pattern, reader],
    )
}

/// The quick start's lake, replayed by the `file` source into an Arrow sink, gives exactly
/// the same rows with the same types; `--resume` afterwards reads nothing again.
#[test]
fn a_landed_lake_replays_into_an_arrow_sink_row_for_row() {
    let tmp = tempfile::tempdir().unwrap();
    let quick = util::root().join("pipelines/quickstart.yaml");
    let out = tributary(
        tmp.path(),
        &["run", quick.to_str().unwrap()],
        &[("TRIBUTARY__SOURCES__CXONE__DATE_RANGE__END", "2023-01-06")],
    );
    assert!(out.status.success(), "{}", text(&out));

    let replay = util::root().join("pipelines/replay-quickstart.yaml");
    let plan = tributary(
        tmp.path(),
        &["plan", replay.to_str().unwrap(), "--json"],
        &[],
    );
    assert!(plan.status.success(), "{}", text(&plan));
    let v: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let windows = v["windows"].as_array().unwrap();
    let lake = tmp.path().join("out/quickstart/lake");
    let lake_side = rows_and_types(&lake, "*.parquet", "parquet");
    let lake_files: usize = lake_side
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(windows.len(), lake_files, "one window per landed file");

    let run = tributary(tmp.path(), &["run", replay.to_str().unwrap()], &[]);
    assert!(run.status.success(), "{}", text(&run));
    let copy = rows_and_types(
        &tmp.path().join("out/replay-quickstart/arrow"),
        "*.arrow",
        "arrow",
    );
    let (lake_head, lake_rows) = lake_side.split_once('\n').unwrap();
    let (copy_head, copy_rows) = copy.split_once('\n').unwrap();
    let n_lake: u64 = lake_head
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let n_copy: u64 = copy_head
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(n_lake > 10_000, "{lake_head}");
    assert_eq!(n_copy, n_lake);
    // Same columns and types (typed times survive), then the same rows.
    let (lake_types, lake_rows) = lake_rows.split_once('\n').unwrap();
    let (copy_types, copy_rows) = copy_rows.split_once('\n').unwrap();
    assert_eq!(copy_types, lake_types);
    assert!(
        copy_types.contains("startTime:timestamp[ms, tz=UTC]"),
        "{copy_types}"
    );
    assert!(
        lake_rows == copy_rows,
        "the replayed rows differ from the lake's"
    );

    // Resuming reads no file again: every window is landed.
    let again = tributary(
        tmp.path(),
        &["run", replay.to_str().unwrap(), "--resume", "--json"],
        &[],
    );
    assert!(again.status.success(), "{}", text(&again));
    let summary: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(summary["windows_planned"], 0, "{summary}");
    assert_eq!(summary["windows_skipped"], lake_files, "{summary}");
    assert_eq!(summary["records"], 0, "{summary}");
    let again_copy = rows_and_types(
        &tmp.path().join("out/replay-quickstart/arrow"),
        "*.arrow",
        "arrow",
    );
    assert_eq!(again_copy, copy);
}

/// A missing path fails the run with the path and the key named, and the run record says
/// it failed.
#[test]
fn a_missing_lake_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let replay = util::root().join("pipelines/replay-quickstart.yaml");
    let run = tributary(tmp.path(), &["run", replay.to_str().unwrap()], &[]);
    assert!(!run.status.success());
    let t = text(&run);
    assert!(
        t.contains("out/quickstart/lake") && t.contains("`path`"),
        "{t}"
    );
}

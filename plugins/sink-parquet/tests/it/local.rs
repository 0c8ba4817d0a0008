use std::path::Path;

use serde_json::{Value, json};
use sha2::Digest;
use tributary_plugin_sdk::{Checkpoint, CreateContext, PluginInfo, Sink};
use tributary_sink_parquet::ParquetSink;

use crate::common::{DAYS, assert_same_records, cxone_batch, pyarrow_read};

pub const W1: &str = "20230101T000000Z-20230401T000000Z";
pub const W2: &str = "20230401T000000Z-20230701T000000Z";

pub fn ctx(run: &str) -> CreateContext {
    CreateContext {
        component: "lake".into(),
        pipeline: "test".into(),
        run_id: run.into(),
        ..Default::default()
    }
}

pub fn cp(window: &str) -> Checkpoint {
    Checkpoint {
        run_id: "r".into(),
        window_id: window.into(),
        ..Default::default()
    }
}

pub fn sink(cfg: Value, run: &str) -> ParquetSink {
    ParquetSink::create(serde_json::from_value(cfg).unwrap(), &ctx(run)).unwrap()
}

fn files_under(root: &Path) -> Vec<String> {
    let mut out = vec![];
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn local_partitioned_roundtrip_with_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lake");
    let mut s = sink(
        json!({"url": out.display().to_string(), "partition_by": ["startTime:day"], "row_group_rows": 1000}),
        "run1",
    );
    s.healthcheck().unwrap();
    let (b1, e1) = cxone_batch(0, 3000);
    let (b2, e2) = cxone_batch(3000, 2000);
    s.write(&b1).unwrap();
    let ack1 = s.flush(&cp(W1)).unwrap();
    s.write(&b2).unwrap();
    let ack2 = s.flush(&cp(W2)).unwrap();
    let close = s.close().unwrap();
    assert_eq!(ack1.records, 3000);
    assert_eq!(ack2.records, 2000);
    assert_eq!(close.records, 0);
    // One file per (window, day) plus the default partition for unparseable startTime.
    assert_eq!(ack1.files.len(), DAYS.len() + 1);
    assert_eq!(ack1.files.iter().map(|f| f.rows).sum::<u64>(), 3000);

    let (files, rows) = pyarrow_read(&out);
    let mut want: Vec<String> = vec![];
    for w in [W1, W2] {
        for d in DAYS {
            want.push(format!("date={d}/part-{w}-00000.parquet"));
        }
        want.push(format!(
            "date=__HIVE_DEFAULT_PARTITION__/part-{w}-00000.parquet"
        ));
    }
    want.sort();
    assert_eq!(files, want);
    assert_same_records(&rows, &[e1, e2].concat());
    // Each record is in the partition of its own startTime.
    let bad: Vec<_> = rows
        .iter()
        .filter(|r| r["startTime"] == "not-a-time")
        .collect();
    assert_eq!(bad.len(), 100);

    // The manifest lists every file with the SHA-256 of its bytes, and nothing is left in _tmp.
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("_manifests/run1.json")).unwrap()).unwrap();
    let mfiles = manifest["files"].as_array().unwrap();
    // Keys relative to the sink's URL only: no absolute path of this machine.
    let text = serde_json::to_string(&manifest["files"]).unwrap();
    assert!(!text.contains(&out.display().to_string()), "{text}");
    assert!(mfiles.iter().all(|f| f.get("path").is_none()));
    assert_eq!(mfiles.len(), files.len());
    assert_eq!(manifest["rows"], 5000);
    for f in mfiles.iter().chain([]) {
        let bytes = std::fs::read(out.join(f["key"].as_str().unwrap())).unwrap();
        assert_eq!(f["sha256"], hex::encode(sha2::Sha256::digest(&bytes)));
        assert_eq!(f["bytes"], bytes.len());
    }
    for f in ack1.files.iter().chain(&ack2.files) {
        let bytes = std::fs::read(&f.path).unwrap();
        assert_eq!(
            f.sha256,
            hex::encode(sha2::Sha256::digest(&bytes)),
            "{}",
            f.path
        );
    }
    assert!(
        files_under(&out).iter().all(|f| !f.starts_with("_tmp")),
        "{:?}",
        files_under(&out)
    );
}

#[test]
fn rerun_of_a_window_overwrites_and_deletes_stale_parts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lake");
    let url = format!("file://{}", out.display());
    let (b, expected) = cxone_batch(0, 20_000);
    // First attempt: tiny files, so the window has several parts per day; it "crashes" after
    // the flush (no close), as a killed run would.
    {
        let mut s = sink(
            json!({"url": url, "partition_by": ["startTime:month"], "target_file_bytes": 20_000, "row_group_rows": 500, "compression": "none"}),
            "run1",
        );
        for chunk in 0..20 {
            s.write(&b.slice(chunk * 1000, 1000)).unwrap();
        }
        let ack = s.flush(&cp(W1)).unwrap();
        assert!(
            ack.files.len() > 4,
            "expected several parts, got {}",
            ack.files.len()
        );
    }
    let before = files_under(&out)
        .into_iter()
        .filter(|f| f.ends_with(".parquet"))
        .count();
    // Second attempt (resume): one part per month; the extra parts of attempt one must go.
    let mut s = sink(
        json!({"url": url, "partition_by": ["startTime:month"]}),
        "run2",
    );
    s.write(&b).unwrap();
    let ack = s.flush(&cp(W1)).unwrap();
    s.close().unwrap();
    assert_eq!(ack.files.len(), 3, "{:?}", ack.files);
    let deleted = ack.metrics["stale_files_deleted"].as_u64().unwrap();
    assert_eq!(deleted as usize, before - 3);
    let (files, rows) = pyarrow_read(&out);
    assert_eq!(
        files,
        vec![
            format!("month=2023-01/part-{W1}-00000.parquet"),
            format!("month=2023-02/part-{W1}-00000.parquet"),
            format!("month=__HIVE_DEFAULT_PARTITION__/part-{W1}-00000.parquet"),
        ]
    );
    assert_same_records(&rows, &expected);

    // Same window a third time with identical input: identical keys and bytes, one copy of each record.
    let mut s = sink(
        json!({"url": url, "partition_by": ["startTime:month"]}),
        "run3",
    );
    s.write(&b).unwrap();
    let ack3 = s.flush(&cp(W1)).unwrap();
    s.close().unwrap();
    assert_eq!(ack3.metrics["stale_files_deleted"], 0);
    let sums = |a: &tributary_plugin_sdk::Ack| {
        a.files
            .iter()
            .map(|f| (f.path.clone(), f.sha256.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(sums(&ack), sums(&ack3));
    let (_, rows) = pyarrow_read(&out);
    assert_same_records(&rows, &expected);
}

#[test]
fn hostile_partition_values_stay_under_the_prefix() {
    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("a/b/lake");
    let values = vec![
        Some("../../etc"),
        Some("/abs"),
        Some(".."),
        Some("x/../../y"),
        Some("new\nline"),
        None,
        Some(""),
    ];
    let ids: Vec<String> = (0..values.len()).map(|i| format!("id-{i}")).collect();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(StringArray::from(ids))),
        ("direction", Arc::new(StringArray::from(values.clone()))),
        (
            "startTime",
            Arc::new(StringArray::from(vec!["2023-01-15T00:00:00Z"; 7])),
        ),
    ];
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let mut s = sink(
        json!({"url": out.display().to_string(), "partition_by": ["direction", "startTime:hour"]}),
        "r",
    );
    s.write(&batch).unwrap();
    s.flush(&cp(W1)).unwrap();
    s.close().unwrap();
    // Nothing at all outside the prefix.
    let all = files_under(dir.path());
    assert!(all.iter().all(|f| f.starts_with("a/b/lake/")), "{all:?}");
    let (files, rows) = pyarrow_read(&out);
    assert_eq!(rows.len(), 7);
    assert_eq!(
        files.len(),
        6,
        "null and empty share the default partition: {files:?}"
    );
    assert!(
        files.contains(&format!(
            "direction=%2E.%2F..%2Fetc/hour=2023-01-15T00/part-{W1}-00000.parquet"
        )),
        "{files:?}"
    );
    assert!(files.contains(&format!(
        "direction=__HIVE_DEFAULT_PARTITION__/hour=2023-01-15T00/part-{W1}-00000.parquet"
    )));
    // The records keep their original values.
    let got: Vec<&Value> = rows.iter().map(|r| &r["direction"]).collect();
    let want: Vec<Value> = values.iter().map(|v| json!(v)).collect();
    assert_eq!(got, want.iter().collect::<Vec<_>>());
}

#[test]
fn timestamp_partition_column_and_bad_config() {
    use arrow_array::{ArrayRef, RecordBatch, StringArray, TimestampMicrosecondArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(StringArray::from(vec!["a", "b", "c"]))),
        (
            "startTime",
            Arc::new(
                TimestampMicrosecondArray::from(vec![
                    Some(1_673_740_800_000_000),
                    Some(1_673_827_199_999_999),
                    None,
                ])
                .with_timezone("UTC"),
            ),
        ),
    ];
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let mut s = sink(
        json!({"url": dir.path().display().to_string(), "partition_by": ["startTime:day"], "compression": "snappy"}),
        "r",
    );
    s.write(&batch).unwrap();
    let ack = s.flush(&cp(W1)).unwrap();
    s.close().unwrap();
    let mut parts: Vec<_> = ack
        .files
        .iter()
        .map(|f| (f.path.rsplit('/').nth(1).unwrap().to_string(), f.rows))
        .collect();
    parts.sort();
    assert_eq!(
        parts,
        vec![
            ("date=2023-01-15".to_string(), 2),
            ("date=__HIVE_DEFAULT_PARTITION__".to_string(), 1)
        ]
    );

    // A missing partition column is an invalid-data error naming it, not a panic.
    let mut s = sink(
        json!({"url": dir.path().display().to_string(), "partition_by": ["queueId"]}),
        "r",
    );
    let e = s.write(&batch).unwrap_err();
    assert_eq!(e.kind, tributary_plugin_sdk::ErrorKind::InvalidData);
    assert!(e.message.contains("`queueId`"), "{e}");

    let e = ParquetSink::create(
        serde_json::from_value(json!({"url": "/tmp/x", "compression": "zip"})).unwrap(),
        &ctx("r"),
    )
    .unwrap_err();
    assert_eq!(e.kind, tributary_plugin_sdk::ErrorKind::Config);
    assert_eq!(
        e.message,
        r#"compression: "zip" is not one of zstd, snappy, none"#
    );
}

/// A killed run leaves staged parts (finished, never moved into place) under `_tmp/`. The
/// next instance of the same pipeline, component and shard sweeps them when it starts
/// writing, whatever its run id; another shard's staging, live at the same time, is left
/// alone; and a finished run leaves no `_tmp` object behind.
#[test]
fn staged_parts_of_a_killed_run_are_swept_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lake");
    let url = format!("file://{}", out.display());
    let (b, expected) = cxone_batch(0, 6_000);
    let small = json!({"url": url, "partition_by": ["startTime:month"], "target_file_bytes": 20_000, "row_group_rows": 500, "compression": "none"});
    let staged = |out: &Path| {
        files_under(out)
            .into_iter()
            .filter(|f| f.starts_with("_tmp/"))
            .collect::<Vec<_>>()
    };
    // The killed run: parts finished into staging, the window never flushed.
    {
        let mut s = sink(small.clone(), "killed-run");
        for chunk in 0..6 {
            s.write(&b.slice(chunk * 1000, 1000)).unwrap();
        }
        std::mem::forget(s);
    }
    let left = staged(&out);
    assert!(left.len() > 2, "expected staged parts, got {left:?}");
    // A shard of another run, staging at the same time.
    let mut other_shard = ParquetSink::create(
        serde_json::from_value(small.clone()).unwrap(),
        &CreateContext {
            shard: "1-of-2".into(),
            ..ctx("other-run")
        },
    )
    .unwrap();
    other_shard.write(&b.slice(0, 3000)).unwrap();
    let other_staged: Vec<String> = staged(&out)
        .into_iter()
        .filter(|f| f.contains("-shard-1-of-2/"))
        .collect();
    assert!(!other_staged.is_empty());

    let mut s = sink(
        json!({"url": url, "partition_by": ["startTime:month"]}),
        "new-run",
    );
    s.write(&b.slice(0, 10)).unwrap();
    let now = staged(&out);
    assert!(
        left.iter().all(|f| !now.contains(f)),
        "the killed run's staging is gone: {now:?}"
    );
    assert!(
        other_staged.iter().all(|f| now.contains(f)),
        "the other shard's staging is untouched: {now:?}"
    );
    s.write(&b.slice(10, 5990)).unwrap();
    s.flush(&cp(W1)).unwrap();
    s.close().unwrap();
    drop(other_shard);
    let (_, rows) = pyarrow_read(&out);
    assert_same_records(&rows, &expected);
    let remaining: Vec<String> = staged(&out)
        .into_iter()
        .filter(|f| !f.contains("-shard-1-of-2/"))
        .collect();
    assert!(remaining.is_empty(), "{remaining:?}");
    assert!(
        !out.join("_tmp/test-lake").exists(),
        "no empty staging directory is left either"
    );
}

/// `max_buffered_bytes` bounds what the open part files hold together. With records in
/// partition order (a time-ordered export into a day-partitioned lake) the files finished
/// early are partitions that are complete anyway: still one file each. Interleaved records
/// make more, smaller files. Either way every record lands once.
#[test]
fn open_files_are_finished_early_to_stay_within_the_memory_budget() {
    const PARTITIONS: u32 = 17; // agentId = agent-0 … agent-16
    let (b, expected) = cxone_batch(0, 17 * 2000);
    let mut order: Vec<u32> = (0..b.num_rows() as u32).collect();
    order.sort_by_key(|i| i % PARTITIONS);
    let ordered =
        arrow_select::take::take_record_batch(&b, &arrow_array::UInt32Array::from(order)).unwrap();
    let land = |input: &arrow_array::RecordBatch, budget: Option<u64>| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("lake");
        let mut cfg = json!({"url": format!("file://{}", out.display()), "partition_by": ["agentId"], "compression": "none"});
        if let Some(b) = budget {
            cfg["max_buffered_bytes"] = b.into();
        }
        let mut s = sink(cfg, "budget");
        for chunk in 0..input.num_rows() / 1000 {
            s.write(&input.slice(chunk * 1000, 1000)).unwrap();
        }
        let ack = s.flush(&cp(W1)).unwrap();
        s.close().unwrap();
        let (files, rows) = pyarrow_read(&out);
        assert_same_records(&rows, &expected);
        (
            ack.metrics["files_finished_for_memory"].as_u64().unwrap(),
            files.len(),
        )
    };
    // The default budget (16 MiB) holds all 17 partitions: nothing finished early.
    assert_eq!(land(&ordered, None), (0, PARTITIONS as usize));
    // 300 kB: files are finished early, but in partition order each partition is complete
    // when its file is finished.
    let (early, files) = land(&ordered, Some(300_000));
    assert!(early > 0);
    assert_eq!(files, PARTITIONS as usize);
    // Interleaved, the same budget splits partitions into several files.
    let (early, files) = land(&b, Some(300_000));
    assert!(early > 0);
    assert!(files > PARTITIONS as usize, "{files} files");
}

/// Every file of a run, not just the first, writes mostly-distinct columns (ids) without a
/// dictionary and few-valued ones (direction) with one: the decision taken on the first
/// large-enough batch is kept for the files that follow.
#[test]
fn dictionaries_follow_the_data_in_every_file() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lake");
    let mut s = sink(
        json!({"url": out.display().to_string(), "partition_by": ["startTime:day"]}),
        "run1",
    );
    let (b1, _) = cxone_batch(0, 3000);
    let (b2, _) = cxone_batch(3000, 3000);
    s.write(&b1).unwrap();
    s.flush(&cp(W1)).unwrap();
    s.write(&b2).unwrap();
    s.flush(&cp(W2)).unwrap();
    s.close().unwrap();
    let files: Vec<String> = files_under(&out)
        .into_iter()
        .filter(|f| f.ends_with(".parquet") && f.starts_with("date=2023"))
        .collect();
    assert_eq!(files.len(), 2 * DAYS.len());
    for f in files {
        let reader = SerializedFileReader::new(std::fs::File::open(out.join(&f)).unwrap()).unwrap();
        let meta = reader.metadata();
        let schema = meta.file_metadata().schema_descr();
        let has_dictionary = |name: &str| {
            let col = (0..schema.num_columns())
                .find(|&i| schema.column(i).name() == name)
                .unwrap();
            meta.row_groups()
                .iter()
                .all(|rg| rg.column(col).dictionary_page_offset().is_some())
        };
        assert!(!has_dictionary("id"), "{f}: id has a dictionary");
        assert!(has_dictionary("direction"), "{f}: direction has none");
    }
}

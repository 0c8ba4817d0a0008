//! The sink in-process on a local table: `max_open_partitions` finishes the open files
//! before a batch would open one partition too many, and the window still lands as one
//! commit with every row; a repeated window is acknowledged without a second commit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray};
use tributary_plugin_sdk::{Checkpoint, CreateContext, PluginInfo, Sink};
use tributary_sink_delta::DeltaSink;

const DAY_MS: i64 = 86_400_000;

/// Rows on the given days (days since 2023-01-01), ids `<day>-<n>`.
fn batch(days: &[i64]) -> RecordBatch {
    let base = 1_672_531_200_000i64; // 2023-01-01T00:00:00Z
    let ids: Vec<String> = days
        .iter()
        .enumerate()
        .map(|(n, d)| format!("{d}-{n}"))
        .collect();
    let times: Vec<i64> = days.iter().map(|d| base + d * DAY_MS + 3_600_000).collect();
    RecordBatch::try_from_iter(vec![
        ("id", Arc::new(StringArray::from(ids)) as ArrayRef),
        (
            "startTime",
            Arc::new(TimestampMillisecondArray::from(times).with_timezone("UTC")) as ArrayRef,
        ),
    ])
    .unwrap()
}

fn checkpoint(id: &str) -> Checkpoint {
    Checkpoint {
        run_id: "r1".into(),
        window_id: id.into(),
        window_start: "2023-01-01T00:00:00Z".into(),
        window_end: "2023-01-15T00:00:00Z".into(),
    }
}

#[test]
fn open_partitions_are_bounded_and_the_window_lands_whole() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = serde_json::json!({
        "url": dir.path().join("t").display().to_string(),
        "partition_by": ["startTime:day"],
        "max_open_partitions": 2,
    });
    let ctx = CreateContext {
        component: "table".into(),
        pipeline: "p".into(),
        run_id: "r1".into(),
        ..Default::default()
    };
    let mut sink = DeltaSink::create(serde_json::from_value(cfg.clone()).unwrap(), &ctx).unwrap();
    // Days 0,1 open two partitions; days 1,2 would make three: the files are finished first,
    // so day 1 ends up in two files. Day 3 beside days 1,2 would make three again: finished
    // once more.
    sink.write(&batch(&[0, 0, 1])).unwrap();
    sink.write(&batch(&[1, 2, 2])).unwrap();
    sink.write(&batch(&[3])).unwrap();
    let ack = sink.flush(&checkpoint("w1")).unwrap();
    assert_eq!(ack.records, 7);
    assert_eq!(
        ack.metrics["files_finished_for_memory"], 2,
        "{:?}",
        ack.metrics
    );
    assert_eq!(
        ack.files.len(),
        5,
        "days 0, 1 (twice), 2, 3: {:?}",
        ack.files
    );
    assert_eq!(ack.files.iter().map(|f| f.rows).sum::<u64>(), 7);
    assert!(
        ack.files
            .iter()
            .all(|f| f.sha256.len() == 64 && f.bytes > 0)
    );
    assert_eq!(
        ack.metrics["delta_version"], 1,
        "version 0 created the table"
    );
    sink.close().unwrap();

    // The same window again (a resumed run): found committed, no second commit.
    let mut again = DeltaSink::create(serde_json::from_value(cfg).unwrap(), &ctx).unwrap();
    again.write(&batch(&[0, 1])).unwrap();
    let ack = again.flush(&checkpoint("w1")).unwrap();
    assert_eq!(ack.metrics["already_committed"], true, "{:?}", ack.metrics);
    assert!(ack.files.is_empty());
    let log: Vec<_> = std::fs::read_dir(dir.path().join("t/_delta_log"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(log.len(), 2, "the create and one window commit");
}

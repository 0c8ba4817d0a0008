//! Throughput of the `webhook` sink against a local axum receiver (which verifies every
//! signature, decompresses, parses and dedupes).
//!
//! `cargo run --release -p tributary-sink-webhook --example bench_sink_webhook`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/receiver/mod.rs"]
mod receiver;

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use tributary_plugin_sdk::{Checkpoint, CreateContext, PluginInfo, Sink};
use tributary_sink_webhook::{Secret, WebhookConfig, WebhookSink};

const ROWS: usize = 200_000;
const BATCH: usize = 10_000;

fn make_batch(offset: usize) -> RecordBatch {
    let n = BATCH;
    let s = |f: &dyn Fn(usize) -> String| {
        Arc::new((0..n).map(|i| Some(f(i))).collect::<StringArray>()) as ArrayRef
    };
    let d =
        |m: i64| Arc::new((0..n).map(|i| Some(i as i64 % m)).collect::<Int64Array>()) as ArrayRef;
    RecordBatch::try_from_iter([
        ("id", s(&|i| format!("int-{:09}", offset + i))),
        (
            "direction",
            s(&|i| {
                if i % 2 == 0 {
                    "inbound".into()
                } else {
                    "outbound".into()
                }
            }),
        ),
        ("medium", s(&|_| "voice".into())),
        (
            "startTime",
            s(&|i| format!("2023-01-15T08:{:02}:00.000Z", i % 60)),
        ),
        (
            "endTime",
            s(&|i| format!("2023-01-15T09:{:02}:00.000Z", i % 60)),
        ),
        ("agentId", s(&|i| format!("agent-{}", i % 300))),
        ("queueId", s(&|i| format!("queue-{}", i % 20))),
        ("holdTime", d(60)),
        ("wrapTime", d(30)),
        ("talkTime", d(900)),
    ])
    .unwrap()
}

fn main() {
    let batches: Vec<RecordBatch> = (0..ROWS / BATCH).map(|b| make_batch(b * BATCH)).collect();
    for gzip in [false, true] {
        let rx = receiver::Receiver::start();
        *rx.knobs.secret.lock().unwrap() = Some("bench-secret".into());
        let dir = tempfile::tempdir().unwrap();
        let ctx = CreateContext {
            component: "notify".into(),
            pipeline: "bench".into(),
            data_dir: dir.path().display().to_string(),
            ..CreateContext::default()
        };
        let cfg = WebhookConfig {
            gzip,
            secret: Some(Secret::new("bench-secret")),
            ..WebhookConfig::new(&rx.url)
        };
        let mut sink = WebhookSink::create(cfg, &ctx).unwrap();
        let started = Instant::now();
        for b in &batches {
            sink.write(b).unwrap();
        }
        let ack = sink
            .flush(&Checkpoint {
                window_id: "w".into(),
                ..Checkpoint::default()
            })
            .unwrap();
        sink.close().unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(ack.records as usize, ROWS);
        assert_eq!(rx.knobs.records().len(), ROWS);
        println!(
            "webhook (gzip={gzip}, batch_size=500, concurrency=4, signed): {ROWS} rows in {secs:.3}s = {:.0} rows/s, {} requests, peak RSS (VmHWM, receiver included) {} MiB",
            ROWS as f64 / secs,
            ack.metrics["delivered_batches"],
            peak_rss_mib()
        );
    }
}

/// Peak resident set of this process (sink, its buffered window and the in-process
/// receiver with every record it stored), from /proc.
fn peak_rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib / 1024)
}

//! Throughput of the `validate` transform on ~1M CXone-shaped rows.
//!
//! `cargo run --release -p tributary-transform-validate --example bench_transform_validate`

use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use tributary_plugin_sdk::{Checkpoint, CreateContext, Outputs, PluginInfo, Transform};
use tributary_transform_validate::{Validate, ValidateConfig};

const ROWS: usize = 1_000_000;
const BATCH: usize = 10_000;

fn make_batch(offset: usize) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let n = BATCH;
    let ids: StringArray = (0..n)
        .map(|i| Some(format!("int-{:09}", offset + i)))
        .collect();
    let dirs = ["inbound", "outbound"];
    let media = ["voice", "chat", "email", "sms", "social"];
    let direction: StringArray = (0..n).map(|i| dirs.get(i % 2).copied()).collect();
    let medium: StringArray = (0..n).map(|i| media.get(i % 5).copied()).collect();
    let start: StringArray = (0..n)
        .map(|i| {
            Some(format!(
                "2023-01-15T08:{:02}:{:02}.000Z",
                (i / 60) % 60,
                i % 60
            ))
        })
        .collect();
    let end: StringArray = (0..n)
        .map(|i| {
            if i % 97 == 0 {
                Some("2023-01-15T07:00:00.000Z".to_string())
            } else {
                Some(format!("2023-01-15T09:{:02}:00.000Z", i % 60))
            }
        })
        .collect();
    let agent: StringArray = (0..n)
        .map(|i| {
            if i % 50 == 0 {
                None
            } else {
                Some(format!("agent-{}", i % 300))
            }
        })
        .collect();
    let queue: StringArray = (0..n).map(|i| Some(format!("queue-{}", i % 20))).collect();
    let dur =
        |m: i64| Arc::new((0..n).map(|i| Some(i as i64 % m)).collect::<Int64Array>()) as ArrayRef;
    RecordBatch::try_from_iter([
        ("id", Arc::new(ids) as ArrayRef),
        ("direction", Arc::new(direction) as ArrayRef),
        ("medium", Arc::new(medium) as ArrayRef),
        ("startTime", Arc::new(start) as ArrayRef),
        ("endTime", Arc::new(end) as ArrayRef),
        ("agentId", Arc::new(agent) as ArrayRef),
        ("queueId", Arc::new(queue) as ArrayRef),
        ("holdTime", dur(60)),
        ("wrapTime", dur(30)),
        ("talkTime", dur(900)),
    ])
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let batches: Vec<RecordBatch> = (0..ROWS / BATCH)
        .map(|b| make_batch(b * BATCH))
        .collect::<Result<_, _>>()?;
    let mut v = Validate::create(ValidateConfig::default(), &CreateContext::default())?;
    let started = Instant::now();
    let mut main_rows = 0;
    let mut invalid_rows = 0;
    for b in &batches {
        let mut out = Outputs::new();
        v.process(b, &mut out)?;
        for (name, o) in out.take() {
            if name.is_empty() {
                main_rows += o.num_rows()
            } else {
                invalid_rows += o.num_rows()
            }
        }
    }
    v.flush(&Checkpoint::default(), &mut Outputs::new())?;
    let ack = v.close(&mut Outputs::new())?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "validate: {ROWS} rows in {secs:.3}s = {:.0} rows/s (main {main_rows}, invalid {invalid_rows}, integrity_rate {})",
        ROWS as f64 / secs,
        ack.metrics
            .get("integrity_rate")
            .cloned()
            .unwrap_or_default()
    );
    Ok(())
}

//! Throughput and peak memory of the parquet sink on ~1M CXone-shaped rows.
//!
//! `cargo run --release -p tributary-sink-parquet --example bench_sink_parquet [rows]`
use std::sync::Arc;
use std::time::Instant;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use tributary_plugin_sdk::{Checkpoint, CreateContext, PluginInfo, Sink};
use tributary_sink_parquet::ParquetSink;

fn page(start: usize, n: usize) -> Result<RecordBatch, arrow_schema::ArrowError> {
    let s = |f: &dyn Fn(usize) -> String| -> ArrayRef {
        Arc::new(StringArray::from(
            (start..start + n).map(f).collect::<Vec<_>>(),
        ))
    };
    let i = |f: &dyn Fn(usize) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from(
            (start..start + n).map(f).collect::<Vec<_>>(),
        ))
    };
    let day = |r: usize| 1 + (r / 11_112) % 28;
    RecordBatch::try_from_iter(vec![
        (
            "id",
            s(&|r| {
                format!(
                    "{:032x}",
                    (r as u128).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
                )
            }),
        ),
        (
            "direction",
            s(&|r| ["inbound", "outbound"][r % 2].to_string()),
        ),
        (
            "medium",
            s(&|r| ["phone", "chat", "email", "sms"][r % 4].to_string()),
        ),
        (
            "startTime",
            s(&|r| {
                format!(
                    "2023-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
                    1 + r / 333_334,
                    day(r),
                    r % 24,
                    r % 60,
                    r % 59
                )
            }),
        ),
        (
            "endTime",
            s(&|r| {
                format!(
                    "2023-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
                    1 + r / 333_334,
                    day(r),
                    r % 24,
                    (r + 7) % 60,
                    r % 59
                )
            }),
        ),
        ("agentId", s(&|r| format!("agent-{}", r % 500))),
        ("queueId", s(&|r| format!("queue-{}", r % 40))),
        ("holdTime", i(&|r| (r % 300) as i64)),
        ("wrapTime", i(&|r| (r % 120) as i64)),
        ("talkTime", i(&|r| (r * 31 % 3600) as i64)),
    ])
}

fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rows: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let page_rows = 10_000;
    let dir = tempfile::tempdir()?;
    let t = Instant::now();
    for p in 0..rows.div_ceil(page_rows) {
        std::hint::black_box(page(p * page_rows, page_rows.min(rows - p * page_rows))?);
    }
    println!(
        "generating {rows} rows alone: {:.2} s (included in the times below)",
        t.elapsed().as_secs_f64()
    );
    for partition_by in [vec![], vec!["startTime:day".to_string()]] {
        let out = dir.path().join(format!("p{}", partition_by.len()));
        let cfg =
            serde_json::json!({"url": out.display().to_string(), "partition_by": partition_by});
        let mut sink =
            ParquetSink::create(serde_json::from_value(cfg)?, &CreateContext::default())?;
        // Pages are generated as they are written (as the CXone source does), so the peak RSS
        // is the sink's working set plus one page, not the whole data set.
        let n_pages = rows.div_ceil(page_rows);
        let t = Instant::now();
        let mut files = 0;
        let mut bytes = 0;
        let per_window = n_pages.div_ceil(3);
        for w in 0..3 {
            for p in (w * per_window)..((w + 1) * per_window).min(n_pages) {
                sink.write(&page(p * page_rows, page_rows.min(rows - p * page_rows))?)?;
            }
            let ack = sink.flush(&Checkpoint {
                window_id: format!("w{w}"),
                ..Default::default()
            })?;
            files += ack.files.len();
            bytes += ack.files.iter().map(|f| f.bytes).sum::<u64>();
        }
        sink.close()?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "parquet partition_by={partition_by:?}: {rows} rows in {secs:.2} s = {:.0} rows/s, {files} files, {:.1} MiB, peak RSS (VmHWM) {} MiB",
            rows as f64 / secs,
            bytes as f64 / 1048576.0,
            vm_hwm_kib() / 1024
        );
    }
    Ok(())
}

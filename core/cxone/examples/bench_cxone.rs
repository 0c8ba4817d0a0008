//! `cargo run --release -p tributary-cxone --example bench_cxone`
//!
//! 1. Page -> RecordBatch decoding of 5000-record JSON pages: the source's decoder
//!    (UTF-8 check, envelope, one pass over the records into typed columns with unknown
//!    keys counted) against a raw arrow-json decode of the same `data` bytes, all text
//!    (the reference: what the source used before its own decoder).
//! 2. The source end to end against the simulator on loopback (~1M records).

use std::sync::Arc;
use std::time::Instant;

use arrow_schema::{DataType, Field, Schema};
use chrono::NaiveDate;
use tributary_cxone::decode::PageDecoder;
use tributary_cxone::{CxoneConfig, Secret, SourceEvent, plan};
use tributary_cxone_sim::{SimConfig, Simulator};

fn page(n: usize) -> (String, std::ops::Range<usize>) {
    let recs: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"id":"int-2023-01-01-{i:07}","direction":"inbound","medium":"voice","startTime":"2023-01-01T00:{m:02}:{s:02}.000Z","endTime":"2023-01-01T00:{m:02}:{s:02}.500Z","agentId":"agent-{a:04}","queueId":"queue-{q:03}","holdTime":{h},"wrapTime":{w},"talkTime":{t}}}"#,
                m = (i / 60) % 60,
                s = i % 60,
                a = i % 500,
                q = i % 40,
                h = i % 120,
                w = i % 30,
                t = i % 900
            )
        })
        .collect();
    let data = format!("[{}]", recs.join(","));
    let prefix = r#"{"data":"#;
    let body = format!(r#"{prefix}{data},"nextPageToken":"abc"}}"#);
    let range = prefix.len()..prefix.len() + data.len();
    (body, range)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cfg = CxoneConfig::new("r", "2023-01-01", "2023-12-31");
    let (body, range) = page(5000);
    let data = body.get(range).ok_or("range")?.as_bytes().to_vec();
    let iters = 200;

    let decoder = PageDecoder::new(&cfg);
    let t = Instant::now();
    let mut rows = 0usize;
    for _ in 0..iters {
        let p = decoder
            .decode_json(body.as_bytes())
            .map_err(|e| e.to_string())?;
        rows += p.records as usize;
    }
    let ours = rows as f64 / t.elapsed().as_secs_f64();

    let schema = Arc::new(Schema::new(
        cfg.columns
            .iter()
            .map(|c| Field::new(c, tributary_cxone::decode::column_type(c), true))
            .collect::<Vec<_>>(),
    ));
    let _ = DataType::Utf8;
    let t = Instant::now();
    let mut rows = 0usize;
    for _ in 0..iters {
        let mut d = arrow_json::ReaderBuilder::new(schema.clone())
            .with_flatten(true)
            .with_batch_size(5000)
            .build_decoder()?;
        d.decode(&data)?;
        rows += d.flush()?.map_or(0, |b| b.num_rows());
    }
    let raw = rows as f64 / t.elapsed().as_secs_f64();
    println!(
        "page decode (5000-record JSON pages, {} bytes): source {:.2} M rec/s, raw arrow-json {:.2} M rec/s ({:.0} % of reference)",
        body.len(),
        ours / 1e6,
        raw / 1e6,
        100.0 * ours / raw
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let sim = Simulator::start(
            SimConfig {
                polls_before_complete: 1,
                ..SimConfig::default()
            },
            "127.0.0.1:0".parse()?,
        )
        .await?;
        let mut cfg = CxoneConfig::new("r", "2023-01-01", "2023-12-31");
        cfg.base_url = Some(sim.base_url());
        cfg.client_id = Some(Secret::new(sim.config().client_id.clone()));
        cfg.client_secret = Some(Secret::new(sim.config().client_secret.expose()));
        cfg.poll_interval_ms = 10;
        cfg.page_size = 5000;
        let windows = plan(&cfg, NaiveDate::from_ymd_opt(2024, 1, 1).ok_or("date")?, None)?;
        let source = tributary_cxone::CxoneSource::new(cfg, None)?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(16);
        let src = source.clone();
        let t = Instant::now();
        let task = tokio::spawn(async move { src.run(windows, tx).await });
        let mut rows = 0u64;
        while let Some(ev) = rx.recv().await {
            if let SourceEvent::Batch(b) = ev {
                rows += b.num_rows() as u64;
            }
        }
        task.await??;
        let el = t.elapsed().as_secs_f64();
        let m = source.metrics().snapshot();
        println!(
            "end to end vs simulator: {rows} records in {el:.2} s = {:.0} rec/s ({} pages, {:.1} MB, data p50 {} ms p99 {} ms)",
            rows as f64 / el,
            m.pages,
            m.bytes as f64 / 1e6,
            m.latency_ms["data"].p50_ms,
            m.latency_ms["data"].p99_ms
        );
        sim.shutdown().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}

//! Measures how many records per second the simulator serves over loopback.
//!
//! `cargo run --release -p tributary-cxone-sim --example sim_bench`

use std::time::Instant;

use serde_json::{Value, json};
use tributary_cxone_sim::{SimConfig, Simulator};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

async fn fetch_all(http: &reqwest::Client, base: &str, token: &str, id: &str) -> Res<(u64, u64)> {
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut next: Option<String> = None;
    loop {
        let mut q = vec![("pageSize", "10000".to_owned())];
        if let Some(t) = &next {
            q.push(("nextPageToken", t.clone()));
        }
        let body = http
            .get(format!("{base}/api/v2/analytics/data-exports/{id}/data"))
            .bearer_auth(token)
            .query(&q)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        bytes += body.len() as u64;
        // Count records without a full parse: one `"id":` per record.
        records += memchr_count(&body, b"{\"id\":") as u64;
        // The token sits at the end of the body.
        let tail = &body[body.len().saturating_sub(80)..];
        let tail = String::from_utf8_lossy(tail);
        next = tail
            .split("\"nextPageToken\":\"")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .map(str::to_owned);
        if next.is_none() {
            return Ok((records, bytes));
        }
    }
}

fn memchr_count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

async fn export(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    start: &str,
    end: &str,
) -> Res<String> {
    let created: Value = http
        .post(format!("{base}/api/v2/analytics/data-exports"))
        .bearer_auth(token)
        .json(&json!({
            "reportId": "bench",
            "dateRange": {"start": start, "end": end},
            "format": "json",
            "columns": ["id", "direction", "medium", "startTime", "endTime", "agentId",
                        "queueId", "holdTime", "wrapTime", "talkTime"],
            "pageSize": 10000
        }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let id = created["id"].as_str().ok_or("no id")?.to_owned();
    for _ in 0..10 {
        let p: Value = http
            .get(format!("{base}/api/v2/analytics/data-exports/{id}"))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        if p["status"] == "completed" {
            return Ok(id);
        }
    }
    Err("export did not complete".into())
}

#[tokio::main]
async fn main() -> Res<()> {
    let cfg = SimConfig {
        page_cache_bytes: 1 << 30,
        ..SimConfig::default()
    };
    let sim = Simulator::start(cfg, "127.0.0.1:0".parse()?).await?;
    let base = sim.base_url();
    let http = reqwest::Client::new();
    let tok: Value = http
        .post(format!("{base}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-client"),
            ("client_secret", "sim-secret"),
        ])
        .send()
        .await?
        .json()
        .await?;
    let token = tok["access_token"].as_str().ok_or("no token")?.to_owned();

    let windows = [
        ("2023-01-01T00:00:00.000Z", "2023-03-31T23:59:59.999Z"),
        ("2023-04-01T00:00:00.000Z", "2023-06-29T23:59:59.999Z"),
        ("2023-06-30T00:00:00.000Z", "2023-09-27T23:59:59.999Z"),
        ("2023-09-28T00:00:00.000Z", "2023-12-26T23:59:59.999Z"),
    ];
    let mut ids = Vec::new();
    for (s, e) in windows {
        ids.push(export(&http, &base, &token, s, e).await?);
    }

    // 1. One client, sequential pages, pages generated on demand (cold cache).
    let t = Instant::now();
    let (r, b) = fetch_all(&http, &base, &token, &ids[0]).await?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "cold, 1 stream : {r} records, {:.1} MB in {secs:.3} s = {:.0} records/s ({:.0} MB/s)",
        b as f64 / 1e6,
        r as f64 / secs,
        b as f64 / 1e6 / secs
    );
    // 2. Same export again: served from the page cache.
    let t = Instant::now();
    let (r, b) = fetch_all(&http, &base, &token, &ids[0]).await?;
    let secs = t.elapsed().as_secs_f64();
    println!(
        "warm, 1 stream : {r} records, {:.1} MB in {secs:.3} s = {:.0} records/s ({:.0} MB/s)",
        b as f64 / 1e6,
        r as f64 / secs,
        b as f64 / 1e6 / secs
    );
    // 3. Three other exports fetched concurrently, cold.
    let t = Instant::now();
    let mut tasks = Vec::new();
    for id in ids.iter().skip(1) {
        let (http, base, token, id) = (http.clone(), base.clone(), token.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            fetch_all(&http, &base, &token, &id)
                .await
                .map_err(|e| e.to_string())
        }));
    }
    let (mut r, mut b) = (0, 0);
    for task in tasks {
        let (r1, b1) = task.await??;
        r += r1;
        b += b1;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "cold, 3 streams: {r} records, {:.1} MB in {secs:.3} s = {:.0} records/s ({:.0} MB/s)",
        b as f64 / 1e6,
        r as f64 / secs,
        b as f64 / 1e6 / secs
    );
    println!("counters: {}", serde_json::to_string(&sim.counters())?);
    sim.shutdown().await;
    Ok(())
}

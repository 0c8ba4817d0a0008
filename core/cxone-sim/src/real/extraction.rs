//! Data Extraction API: `POST /data-extraction/v1/jobs` (202 + the job id as a JSON
//! string), `GET /data-extraction/v1/jobs/{id}` (`{jobStatus: {id, status, result}}`)
//! and the temporary CSV link of a finished job: `recording-interaction-metadata`
//! rows, one per segment of a contact, under display-name headers, after a UTF-8 BOM.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chrono::NaiveDate;
use serde_json::{Value, json};

use super::contact::{
    addresses, agent_names, attr_hash, contact_id, disposition, skill_name, team_id, team_name,
};
use super::{now_ms, parse_utc};
use crate::config::{SCOPE_EXPORT_READ, SimConfig};
use crate::counters::{CounterSet, Endpoint};
use crate::data::{
    DAY_MS, RawRecord, Record, day_slices, format_day, format_ts, hash_bytes, hash_words, mix,
    raw_records,
};
use crate::server::{AppState, Shared, api_error, json_response, lock, parse_urlencoded};

/// Entities the Data Extraction API of the simulator knows.
pub const DE_ENTITIES: [&str; 3] = [
    "recording-interaction-metadata",
    "qm-workflows",
    "qm-questions",
];
/// The header row of the extraction CSV (`recording-interaction-metadata`): the
/// headers public callers read by name, in this order.
pub const DE_HEADERS: [&str; 12] = [
    "ACD Call ID",
    "Segment ID",
    "Start Date",
    "Agent 1 ACD ID",
    "Agent 1 Name",
    "Agent 1 Skills",
    "Agent 1 Team",
    "Agent 1 Contact Number",
    "ANI",
    "DNIS",
    "Disposition",
    "Voice Recording Status",
];
/// Longest job range: "up to two weeks per request".
const MAX_JOB_DAYS: i64 = 14;
/// The UTF-8 byte order mark the CSV starts with.
const BOM: &str = "\u{feff}";

#[derive(Debug)]
pub(super) struct Job {
    seq: u64,
    start_ms: i64,
    end_ms: i64,
    polls: AtomicU32,
    links: AtomicU32,
    failure: Option<String>,
}

/// Segments (CSV rows) of the contact with id bytes `id`: 2 for a deterministic ~10 %.
fn segments_of(cfg: &SimConfig, id: &[u8]) -> u32 {
    if hash_words(&[cfg.seed, 0x5E6_0E47, hash_bytes(id)]) % 10 == 0 {
        2
    } else {
        1
    }
}

/// The number of rows `rec` has in a Data Extraction CSV (one per segment: 1, or 2 for
/// a deterministic tenth of the contacts).
pub fn extraction_segments(cfg: &SimConfig, rec: &Record) -> u32 {
    segments_of(cfg, rec.id.as_bytes())
}

/// A GUID-shaped segment id, unique per (contact, segment): the contact id is its last
/// 64 bits.
fn segment_id(seed: u64, contact: i64, k: u32) -> String {
    let h = hash_words(&[seed, 0x5E61D, contact as u64, u64::from(k)]);
    let c = contact as u64;
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        h >> 32,
        (c >> 48) & 0xffff,
        ((u64::from(k) << 8) | (h & 0xff)) & 0xfff,
        0x8000 | (mix(h) & 0x3fff),
        c & 0xffff_ffff_ffff
    )
}

/// The tenant-wide "one call per interval" rule; `Some` is the 403 to answer.
fn extraction_gate(st: &AppState) -> Option<Response> {
    let min = Duration::from_millis(st.cfg.extraction_min_interval_ms);
    let mut last = lock(&st.real.last_extraction_call);
    let now = Instant::now();
    if let Some(t) = *last
        && now.duration_since(t) < min
    {
        CounterSet::add(&st.counters.extraction_throttled_403, 1);
        return Some(json_response(
            StatusCode::FORBIDDEN,
            &json!({"message": "Too many requests for this tenant: wait and try again later"}),
        ));
    }
    *last = Some(now);
    None
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 date-time ending in `Z`, in epoch ms.
fn parse_job_date(s: &str) -> Option<i64> {
    if s.len() == 10 {
        let day = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        return Some(day.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis());
    }
    parse_utc(s)
}

fn bad_request(message: impl Into<String>) -> Response {
    api_error(StatusCode::BAD_REQUEST, "invalid_request", message)
}

/// Checks a create body; `Ok` is the job's half-open range `[start, end)`.
fn check_job_request(body: &[u8]) -> Result<(i64, i64), Box<Response>> {
    let fail = |m: String| Box::new(bad_request(m));
    let req =
        serde_json::from_slice::<Value>(body).map_err(|_| fail("the body is not JSON".into()))?;
    let text = |k: &str| req.get(k).and_then(Value::as_str);
    let entity = text("entityName").ok_or_else(|| fail("missing entityName".into()))?;
    if !DE_ENTITIES.contains(&entity) {
        return Err(Box::new(api_error(
            StatusCode::BAD_REQUEST,
            "invalid_entity",
            format!(
                "unknown entityName `{entity}`; known: {}",
                DE_ENTITIES.join(", ")
            ),
        )));
    }
    if text("version").is_none_or(str::is_empty) {
        return Err(fail("missing version (e.g. \"7\")".into()));
    }
    let (Some(start), Some(end)) = (
        text("startDate").and_then(parse_job_date),
        text("endDate").and_then(parse_job_date),
    ) else {
        return Err(fail(
            "startDate and endDate are required: YYYY-MM-DD (endDate exclusive) or UTC ending in Z"
                .into(),
        ));
    };
    if end <= start {
        return Err(fail("endDate must be after startDate".into()));
    }
    if end - start > MAX_JOB_DAYS * DAY_MS {
        return Err(fail(format!(
            "the range is longer than {MAX_JOB_DAYS} days: request up to two weeks at a time"
        )));
    }
    Ok((start, end))
}

/// The failure message of a job over `[start, end)` that covers a `fail_dates` day.
fn job_failure(cfg: &SimConfig, start: i64, end: i64) -> Option<String> {
    let (first, last) = (start.div_euclid(DAY_MS), (end - 1).div_euclid(DAY_MS));
    (first..=last).map(format_day).find_map(|day| {
        cfg.fail_dates
            .iter()
            .find(|d| !d.is_empty() && day.contains(d.as_str()))
            .map(|d| format!("extraction failed for {day}, matching `{d}` (simulated)"))
    })
}

pub(super) async fn create_job(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::CreateJob, async move {
        if let Err(r) = st.authorize(&headers, SCOPE_EXPORT_READ, "the Data Extraction API") {
            return *r;
        }
        if let Some(r) = extraction_gate(&st) {
            return r;
        }
        let (start_ms, end_ms) = match check_job_request(&body) {
            Ok(range) => range,
            Err(r) => return *r,
        };
        let seq = st.real.job_seq.fetch_add(1, Ordering::Relaxed);
        let id = format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            hash_words(&[st.cfg.seed, seq]) as u32,
            seq & 0xffff,
            seq & 0xfff,
            hash_words(&[seq]) & 0xfff,
            hash_words(&[st.cfg.seed, seq, 7]) & 0xffff_ffff_ffff
        );
        let job = Job {
            seq,
            start_ms,
            end_ms,
            polls: AtomicU32::new(0),
            links: AtomicU32::new(0),
            failure: job_failure(&st.cfg, start_ms, end_ms),
        };
        lock(&st.real.jobs).insert(id.clone(), Arc::new(job));
        CounterSet::add(&st.counters.jobs_created, 1);
        json_response(StatusCode::ACCEPTED, &Value::String(id))
    })
    .await
}

fn link_sig(seed: u64, seq: u64, expires: i64) -> u64 {
    hash_words(&[seed, seq, expires as u64, 0x5167])
}

pub(super) async fn poll_job(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::PollJob, async move {
        if let Err(r) = st.authorize(&headers, SCOPE_EXPORT_READ, "the Data Extraction API") {
            return *r;
        }
        if let Some(r) = extraction_gate(&st) {
            return r;
        }
        let Some(job) = lock(&st.real.jobs).get(&id).cloned() else {
            return api_error(StatusCode::NOT_FOUND, "not_found", format!("no job `{id}`"));
        };
        let polls = job.polls.fetch_add(1, Ordering::Relaxed) + 1;
        let status = if polls <= st.cfg.polls_before_complete {
            json!({"id": id, "status": "RUNNING", "result": Value::Null})
        } else if let Some(msg) = &job.failure {
            let status = st.cfg.extraction_failure_status.as_str();
            json!({"id": id, "status": status, "result": {"url": Value::Null, "errorMessage": msg}})
        } else {
            let n = job.links.fetch_add(1, Ordering::Relaxed);
            let expires = if n < st.cfg.expire_first_downloads {
                now_ms() - 1
            } else {
                now_ms() + st.cfg.download_link_ttl_ms as i64
            };
            let url = format!(
                "{}/data-extraction/files/{id}.csv?expires={expires}&sig={:016x}",
                st.base_url,
                link_sig(st.cfg.seed, job.seq, expires)
            );
            json!({"id": id, "status": "SUCCEEDED", "result": {"url": url, "errorMessage": Value::Null}})
        };
        json_response(StatusCode::OK, &json!({"jobStatus": status}))
    })
    .await
}

fn csv_field(out: &mut String, v: &str) {
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

/// The CSV values of segment `k` of contact `r`, in [`DE_HEADERS`] order.
fn segment_row(cfg: &SimConfig, r: &RawRecord, k: u32) -> [String; 12] {
    let h = attr_hash(cfg, &r.id_bytes());
    let id = contact_id(r);
    let start = if k == 0 {
        r.start_ms
    } else {
        r.start_ms + i64::from(r.talk / 2) * 1000
    };
    let (first, last) = agent_names(r.agent);
    let (ani, dnis) = addresses(r, h);
    let contact_number = if k == 0 { id } else { id * 10 + i64::from(k) };
    [
        id.to_string(),
        segment_id(cfg.seed, id, k),
        format_ts(start),
        r.agent.to_string(),
        format!("{first} {last}"),
        skill_name(r.queue),
        team_name(team_id(r.agent)),
        contact_number.to_string(),
        ani,
        dnis,
        disposition(h).1.to_owned(),
        if r.medium == "voice" { "Success" } else { "" }.to_owned(),
    ]
}

/// The whole CSV of a job: BOM, header row, one row per segment of every contact that
/// started in `[start, end)`, without the `omit_fields` columns.
fn job_csv(cfg: &SimConfig, start: i64, end: i64) -> String {
    let keep: Vec<bool> = DE_HEADERS
        .iter()
        .map(|h| !cfg.omit_fields.iter().any(|o| o == h))
        .collect();
    let mut out = String::from(BOM);
    let write_row = |out: &mut String, values: &[String]| {
        let mut first = true;
        for (v, _) in values.iter().zip(&keep).filter(|(_, k)| **k) {
            if !first {
                out.push(',');
            }
            first = false;
            csv_field(out, v);
        }
        out.push_str("\r\n");
    };
    let header: Vec<String> = DE_HEADERS.iter().map(|h| (*h).to_owned()).collect();
    write_row(&mut out, &header);
    for r in raw_records(
        cfg.seed,
        cfg.records_per_day,
        day_slices(cfg, start, end - 1),
    ) {
        for k in 0..segments_of(cfg, &r.id_bytes()) {
            write_row(&mut out, &segment_row(cfg, &r, k));
        }
    }
    out
}

fn access_denied(msg: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        )],
        format!("<Error><Code>AccessDenied</Code><Message>{msg}</Message></Error>"),
    )
        .into_response()
}

pub(super) async fn download(
    State(s): State<Shared>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::Download, async move {
        let id = file.strip_suffix(".csv").unwrap_or(&file).to_owned();
        let Some(job) = lock(&st.real.jobs).get(&id).cloned() else {
            return (StatusCode::NOT_FOUND, "NoSuchKey").into_response();
        };
        let query = parse_urlencoded(q.as_deref().unwrap_or(""));
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let expires = get("expires").and_then(|v| v.parse::<i64>().ok());
        let sig = get("sig").and_then(|v| u64::from_str_radix(v, 16).ok());
        let (Some(expires), Some(sig)) = (expires, sig) else {
            return access_denied("Query-string authentication requires expires and sig");
        };
        if sig != link_sig(st.cfg.seed, job.seq, expires) {
            return access_denied("The request signature does not match");
        }
        if now_ms() > expires {
            CounterSet::add(&st.counters.downloads_expired, 1);
            return access_denied("Request has expired");
        }
        let bytes = Bytes::from(job_csv(&st.cfg, job.start_ms, job.end_ms));
        CounterSet::add(&st.counters.downloads_served, 1);
        // Streamed in 64 KiB chunks, as a storage service would.
        let chunks: Vec<Result<Bytes, std::io::Error>> = (0..bytes.len())
            .step_by(64 * 1024)
            .map(|i| Ok(bytes.slice(i..(i + 64 * 1024).min(bytes.len()))))
            .collect();
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"))],
            Body::from_stream(futures::stream::iter(chunks)),
        )
            .into_response()
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_dates_are_date_only_or_utc() {
        assert_eq!(parse_job_date("1970-01-02"), Some(DAY_MS));
        assert_eq!(parse_job_date("1970-01-02T00:00:00Z"), Some(DAY_MS));
        assert_eq!(parse_job_date("1970-01-02T00:00:00+01:00"), None);
        assert_eq!(parse_job_date("1970-13-02"), None);
        let body = |s: &str, e: &str| {
            serde_json::to_vec(&json!({"entityName": "recording-interaction-metadata",
                "version": "7", "startDate": s, "endDate": e}))
            .unwrap()
        };
        assert_eq!(
            check_job_request(&body("2023-01-01", "2023-01-02")).ok(),
            Some((1_672_531_200_000, 1_672_531_200_000 + DAY_MS))
        );
        assert!(check_job_request(&body("2023-01-01", "2023-01-15")).is_ok());
        assert!(check_job_request(&body("2023-01-01", "2023-01-16")).is_err());
        assert!(check_job_request(&body("2023-01-01", "2023-01-01")).is_err());
    }

    #[test]
    fn failure_covers_every_day_of_the_range() {
        let cfg = SimConfig {
            fail_dates: vec!["2023-01-03".into()],
            ..SimConfig::default()
        };
        let d = |s: &str| parse_job_date(s).unwrap();
        assert!(job_failure(&cfg, d("2023-01-01"), d("2023-01-04")).is_some());
        assert!(job_failure(&cfg, d("2023-01-01"), d("2023-01-03")).is_none());
    }

    #[test]
    fn segment_ids_are_unique_and_guid_shaped() {
        let ids = [
            segment_id(42, 202_301_010_000_001, 0),
            segment_id(42, 202_301_010_000_001, 1),
            segment_id(42, 202_301_010_000_002, 0),
        ];
        assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2]);
        for id in &ids {
            let parts: Vec<usize> = id.split('-').map(str::len).collect();
            assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
        }
    }
}

//! The real CXone APIs beside the tutorial's contract (`shared/cxone-real-api.md`):
//! OpenID and tenant discovery, the access-key password grant with refresh tokens, the
//! Reporting API's completed contacts and the Data Extraction API's jobs and CSV
//! downloads, with their quirks (the text body without `Accept: application/json`,
//! `204` past the last page, `icStatusDescription` errors, `403` for calling the
//! extraction API too often, expiring download links, old field names and numbers as
//! strings).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::config::{SCOPE_EXPORT_READ, SCOPE_REPORTS_READ};
use crate::counters::{CounterSet, Endpoint};
use crate::data::{
    RawRecord, day_slices, format_ts, hash_bytes, hash_words, last_update_ms_of, media_type_of,
    raw_records,
};
use crate::server::{
    AppState, Shared, api_error, content_type, json_response, lock, parse_urlencoded,
};

/// Path of the access-key token endpoint (announced by the OpenID discovery document).
pub const TOKEN_PATH: &str = "/auth/token";
/// Entities the Data Extraction API of the simulator knows.
pub const DE_ENTITIES: [&str; 3] = [
    "recording-interaction-metadata",
    "qm-workflows",
    "qm-questions",
];
/// The display-name header row of the extraction CSV.
pub const DE_HEADERS: [&str; 13] = [
    "ACD Call ID",
    "Master Contact ID",
    "Start Date",
    "End Date",
    "Last Update Time",
    "Agent ID",
    "Skill ID",
    "Media Type",
    "Direction",
    "Hold Seconds",
    "ACW Seconds",
    "Talk Seconds",
    "From Address",
];
/// Largest `top` of the Reporting API.
const MAX_TOP: u64 = 10_000;
/// Most records one reporting query may select (the simulator sorts them in memory).
const MAX_SELECTION: usize = 5_000_000;

#[derive(Debug)]
struct Job {
    seq: u64,
    start_ms: i64,
    end_ms: i64,
    polls: AtomicU32,
    links: AtomicU32,
    failure: Option<String>,
}

/// Mutable state of the real dialects.
#[derive(Debug, Default)]
pub(crate) struct RealState {
    refresh_tokens: std::sync::Mutex<HashMap<String, Instant>>,
    jobs: std::sync::Mutex<HashMap<String, Arc<Job>>>,
    job_seq: std::sync::atomic::AtomicU64,
    last_extraction_call: std::sync::Mutex<Option<Instant>>,
}

pub(crate) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/.well-known/cxone-configuration", get(cxone_configuration))
        .route(TOKEN_PATH, post(auth_token))
        .route(
            "/inContactAPI/services/{version}/contacts/completed",
            get(contacts_completed),
        )
        .route("/data-extraction/v1/jobs", post(create_job))
        .route("/data-extraction/v1/jobs/{id}", get(poll_job))
        .route("/data-extraction/files/{file}", get(download))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

// ---------------------------------------------------------------------------------------
// Discovery

async fn openid_configuration(State(s): State<Shared>) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::Discovery, async move {
        json_response(
            StatusCode::OK,
            &json!({
                "issuer": st.base_url,
                "token_endpoint": format!("{}{TOKEN_PATH}", st.base_url),
                "authorization_endpoint": format!("{}/auth/authorize", st.base_url),
                "jwks_uri": format!("{}/auth/jwks", st.base_url),
                "grant_types_supported": ["password", "refresh_token", "client_credentials"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            }),
        )
    })
    .await
}

async fn cxone_configuration(State(s): State<Shared>, RawQuery(q): RawQuery) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::TenantConfig, async move {
        let query = parse_urlencoded(q.as_deref().unwrap_or(""));
        let tenant = query
            .iter()
            .find(|(k, _)| k == "tenantId")
            .map(|(_, v)| v.as_str());
        match tenant {
            Some(t) if t == st.cfg.tenant_id => json_response(
                StatusCode::OK,
                &json!({
                    "tenantId": t,
                    "api_endpoint": st.base_url,
                    "ui_endpoint": st.base_url,
                    "auth_endpoint": st.base_url,
                    "area": "na1",
                    "cluster": "sim1",
                    "domain": "127.0.0.1",
                }),
            ),
            Some(t) => api_error(
                StatusCode::NOT_FOUND,
                "unknown_tenant",
                format!("no tenant `{t}`"),
            ),
            None => api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "missing ?tenantId=",
            ),
        }
    })
    .await
}

// ---------------------------------------------------------------------------------------
// POST /auth/token (password and refresh_token grants)

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))?;
    let raw = STANDARD.decode(b64.trim()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

fn oauth_error(status: StatusCode, code: &str) -> Response {
    json_response(status, &json!({"error": code}))
}

async fn auth_token(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::AuthToken, async move {
        if !content_type(&headers).starts_with("application/x-www-form-urlencoded") {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request");
        }
        let form = parse_urlencoded(&String::from_utf8_lossy(&body));
        let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let client = basic_credentials(&headers).or_else(|| {
            Some((
                field("client_id")?,
                field("client_secret").unwrap_or_default(),
            ))
        });
        match client {
            Some((id, secret))
                if id == st.cfg.client_id && secret == st.cfg.client_secret.expose() => {}
            _ => return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client"),
        }
        match field("grant_type").as_deref() {
            Some("password") => {
                let user = field("username").unwrap_or_default();
                let password = field("password").unwrap_or_default();
                if user != st.cfg.access_key_id || password != st.cfg.access_key_secret.expose() {
                    return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
                }
                CounterSet::add(&st.counters.password_grants, 1);
                issue(&st)
            }
            Some("refresh_token") => {
                let rt = field("refresh_token").unwrap_or_default();
                let issued = lock(&st.real.refresh_tokens).remove(&rt);
                let ttl = Duration::from_secs(st.cfg.refresh_token_ttl_secs);
                match issued {
                    Some(at) if at.elapsed() < ttl => {
                        CounterSet::add(&st.counters.refresh_grants, 1);
                        issue(&st)
                    }
                    _ => {
                        CounterSet::add(&st.counters.refresh_refused, 1);
                        oauth_error(StatusCode::BAD_REQUEST, "invalid_grant")
                    }
                }
            }
            _ => oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
        }
    })
    .await
}

/// Issues a JWT access token carrying `tenantId`, and a refresh token.
fn issue(st: &AppState) -> Response {
    let seq = st.token_seq.fetch_add(1, Ordering::Relaxed);
    let exp = now_ms() / 1000 + st.cfg.token_ttl_secs as i64;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let claims = json!({
        "iss": st.base_url,
        "tenantId": st.cfg.tenant_id,
        "sub": format!("user:{}", st.cfg.access_key_id),
        "exp": exp,
        "jti": format!("{:016x}", hash_words(&[st.cfg.seed, 0xA11CE, seq])),
    });
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
    let access_token = format!("{header}.{payload}.sim");
    let refresh_token = format!(
        "simrefresh-{:016x}{:016x}",
        hash_words(&[st.cfg.seed, 0x2EF2, seq]),
        hash_words(&[seq, 0x2EF2])
    );
    st.issue_token(&access_token, st.cfg.scopes.clone());
    lock(&st.real.refresh_tokens).insert(refresh_token.clone(), Instant::now());
    let mut r = json_response(
        StatusCode::OK,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": st.cfg.token_ttl_secs,
            "refresh_token": refresh_token,
            "refresh_token_server_uri": format!("{}{TOKEN_PATH}", st.base_url),
            "id_token": access_token,
        }),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

// ---------------------------------------------------------------------------------------
// Reporting API: GET /inContactAPI/services/vNN.0/contacts/completed

/// An error as the Reporting API gives it: the text in `icStatusDescription`, no body.
fn ic_error(status: StatusCode, text: &str) -> Response {
    let mut r = status.into_response();
    if let Ok(v) = HeaderValue::from_str(text) {
        r.headers_mut().insert("icStatusDescription", v);
    }
    r
}

fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

fn no_render() -> Response {
    (
        StatusCode::NOT_ACCEPTABLE,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
        "No known way to render data",
    )
        .into_response()
}

/// `2023-01-01T00:00:00Z` or with milliseconds; UTC with `Z` only.
fn parse_utc(s: &str) -> Option<i64> {
    if !s.ends_with('Z') {
        return None;
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}

fn id_number(r: &RawRecord) -> u64 {
    r.id_bytes()
        .iter()
        .fold(0u64, |acc, b| acc * 10 + u64::from(b.saturating_sub(b'0')))
}

fn from_address(r: &RawRecord) -> String {
    format!("+1555{:07}", hash_bytes(&r.id_bytes()) % 10_000_000)
}

fn contact_json(
    st: &AppState,
    r: &RawRecord,
    lut: i64,
    legacy: bool,
    fields: Option<&[String]>,
) -> Value {
    let strings = st.cfg.string_numbers;
    let num = |v: u64| {
        if strings {
            Value::String(v.to_string())
        } else {
            Value::from(v)
        }
    };
    let boolean = |v: bool| {
        if strings {
            Value::String(v.to_string())
        } else {
            Value::Bool(v)
        }
    };
    let (media_id, media_name) = media_type_of(r.medium);
    let name = |current: &'static str, old: &'static str| if legacy { old } else { current };
    let id = id_number(r);
    let pairs: [(&str, Value); 19] = [
        ("contactId", num(id)),
        ("masterContactId", num(id)),
        (
            name("contactStartDate", "contactStart"),
            Value::String(format_ts(r.start_ms)),
        ),
        (
            name("contactEndDate", "contactEnd"),
            Value::String(format_ts(r.end_ms)),
        ),
        ("lastUpdateTime", Value::String(format_ts(lut))),
        ("agentId", num(u64::from(r.agent))),
        ("teamId", num(u64::from(r.agent / 25 + 1))),
        ("skillId", num(u64::from(r.queue))),
        ("campaignId", num(1)),
        ("mediaTypeId", num(u64::from(media_id))),
        ("mediaTypeName", Value::String(media_name.to_owned())),
        (
            name("fromAddress", "fromAddr"),
            Value::String(from_address(r)),
        ),
        (
            name("toAddress", "toAddr"),
            Value::String("+18005550100".to_owned()),
        ),
        ("isOutbound", boolean(r.direction == "outbound")),
        ("abandoned", boolean(false)),
        ("holdSeconds", num(u64::from(r.hold))),
        (name("acwSeconds", "ACWSeconds"), num(u64::from(r.wrap))),
        ("agentSeconds", num(u64::from(r.talk))),
        ("totalDurationSeconds", num(u64::from(r.talk + r.hold))),
    ];
    let mut m = Map::new();
    for (k, v) in pairs {
        if fields.is_none_or(|f| f.iter().any(|x| x == k)) {
            m.insert(k.to_owned(), v);
        }
    }
    Value::Object(m)
}

async fn contacts_completed(
    State(s): State<Shared>,
    Path(version): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::ContactsCompleted, async move {
        if let Err(r) = st.authorize(&headers, SCOPE_REPORTS_READ, "the Reporting API") {
            return *r;
        }
        if !accepts_json(&headers) {
            return no_render();
        }
        let Some(major) = version
            .strip_prefix('v')
            .and_then(|v| v.strip_suffix(".0"))
            .and_then(|v| v.parse::<u32>().ok())
        else {
            return ic_error(StatusCode::NOT_FOUND, "Unknown API version");
        };
        let legacy = st.cfg.legacy_field_names || major < 13;
        let query = parse_urlencoded(q.as_deref().unwrap_or(""));
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let (Some(start), Some(end)) = (
            get("startDate").and_then(parse_utc),
            get("endDate").and_then(parse_utc),
        ) else {
            return ic_error(
                StatusCode::BAD_REQUEST,
                "Invalid startDate or endDate: both are required, in UTC ending in Z",
            );
        };
        if end <= start {
            return ic_error(StatusCode::BAD_REQUEST, "endDate must be after startDate");
        }
        let since = match get("updatedSince") {
            None => None,
            Some(v) => match parse_utc(v) {
                Some(t) => Some(t),
                None => {
                    return ic_error(StatusCode::BAD_REQUEST, "Invalid updatedSince: use UTC ending in Z");
                }
            },
        };
        let top = match get("top").map(str::parse::<u64>) {
            None => MAX_TOP,
            Some(Ok(t)) if (1..=MAX_TOP).contains(&t) => t,
            _ => return ic_error(StatusCode::BAD_REQUEST, "Invalid top: use 1 to 10000"),
        };
        let Ok(skip) = get("skip").unwrap_or("0").parse::<u64>() else {
            return ic_error(StatusCode::BAD_REQUEST, "Invalid skip");
        };
        let by_update = match get("orderBy") {
            None => false,
            Some("lastUpdateTime asc") | Some("lastUpdateTime") => true,
            Some(other) => {
                return ic_error(
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid orderBy `{other}`: use `lastUpdateTime asc`"),
                );
            }
        };
        let mut numeric = Vec::new();
        for key in ["mediaTypeId", "skillId", "agentId"] {
            if let Some(v) = get(key) {
                match v.parse::<u32>() {
                    Ok(n) => numeric.push((key, n)),
                    Err(_) => {
                        return ic_error(StatusCode::BAD_REQUEST, &format!("Invalid {key}"));
                    }
                }
            }
        }
        let fields: Option<Vec<String>> = get("fields")
            .filter(|f| !f.is_empty())
            .map(|f| f.split(',').map(|x| x.trim().to_owned()).collect());
        let slices = day_slices(&st.cfg, start, end - 1);
        if slices.iter().map(|x| x.count as usize).sum::<usize>() > MAX_SELECTION {
            return ic_error(StatusCode::BAD_REQUEST, "Date range too large: narrow it");
        }
        let mut rows: Vec<(i64, RawRecord)> = raw_records(st.cfg.seed, st.cfg.records_per_day, slices)
            .map(|r| (last_update_ms_of(&st.cfg, &r.id_bytes(), r.end_ms), r))
            .filter(|(lut, _)| since.is_none_or(|s| *lut >= s))
            .filter(|(_, r)| {
                numeric.iter().all(|(k, n)| match *k {
                    "mediaTypeId" => media_type_of(r.medium).0 == *n,
                    "skillId" => r.queue == *n,
                    _ => r.agent == *n,
                })
            })
            .collect();
        if by_update {
            rows.sort_by_key(|(lut, r)| (*lut, r.start_ms, r.index));
        }
        let total = rows.len() as u64;
        let from = usize::try_from(skip).unwrap_or(usize::MAX).min(rows.len());
        let to = usize::try_from(skip.saturating_add(top)).unwrap_or(usize::MAX).min(rows.len());
        let page = rows.get(from..to).unwrap_or_default();
        if page.is_empty() {
            return StatusCode::NO_CONTENT.into_response();
        }
        let contacts: Vec<Value> = page
            .iter()
            .map(|(lut, r)| contact_json(&st, r, *lut, legacy, fields.as_deref()))
            .collect();
        CounterSet::add(&st.counters.completed_pages_served, 1);
        CounterSet::add(&st.counters.completed_records_served, contacts.len() as u64);
        let base = format!("{}/inContactAPI/services/{version}/contacts/completed", st.base_url);
        let next = if skip + top < total {
            Value::String(format!("{base}?skip={}&top={top}", skip + top))
        } else {
            Value::Null
        };
        json_response(
            StatusCode::OK,
            &json!({
                "totalRecords": total,
                "_links": {"self": format!("{base}?skip={skip}&top={top}"), "next": next, "previous": Value::Null},
                "businessUnitId": 4_600_000,
                "lastPollTime": format_ts(now_ms()),
                "completedContacts": contacts,
            }),
        )
    })
    .await
}

// ---------------------------------------------------------------------------------------
// Data Extraction API

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

async fn create_job(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::CreateJob, async move {
        if let Err(r) = st.authorize(&headers, SCOPE_EXPORT_READ, "the Data Extraction API") {
            return *r;
        }
        if let Some(r) = extraction_gate(&st) {
            return r;
        }
        let Ok(req) = serde_json::from_slice::<Value>(&body) else {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the body is not JSON",
            );
        };
        let text = |k: &str| req.get(k).and_then(Value::as_str);
        let Some(entity) = text("entityName") else {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "missing entityName",
            );
        };
        if !DE_ENTITIES.contains(&entity) {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_entity",
                format!(
                    "unknown entityName `{entity}`; known: {}",
                    DE_ENTITIES.join(", ")
                ),
            );
        }
        if text("version").is_none() {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "missing version",
            );
        }
        let (Some(start_ms), Some(end_ms)) = (
            text("startDate").and_then(parse_utc),
            text("endDate").and_then(parse_utc),
        ) else {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "startDate and endDate are required, UTC ending in Z",
            );
        };
        if end_ms <= start_ms {
            return api_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "endDate must be after startDate",
            );
        }
        let seq = st.real.job_seq.fetch_add(1, Ordering::Relaxed);
        let id = format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            hash_words(&[st.cfg.seed, seq]) as u32,
            seq & 0xffff,
            seq & 0xfff,
            hash_words(&[seq]) & 0xfff,
            hash_words(&[st.cfg.seed, seq, 7]) & 0xffff_ffff_ffff
        );
        let failure = {
            let days = crate::data::format_day(start_ms.div_euclid(crate::data::DAY_MS));
            st.cfg
                .fail_dates
                .iter()
                .find(|d| !d.is_empty() && days.contains(d.as_str()))
                .map(|d| format!("extraction failed for a date matching `{d}` (simulated)"))
        };
        lock(&st.real.jobs).insert(
            id.clone(),
            Arc::new(Job {
                seq,
                start_ms,
                end_ms,
                polls: AtomicU32::new(0),
                links: AtomicU32::new(0),
                failure,
            }),
        );
        CounterSet::add(&st.counters.jobs_created, 1);
        json_response(StatusCode::ACCEPTED, &Value::String(id))
    })
    .await
}

fn link_sig(seed: u64, seq: u64, expires: i64) -> u64 {
    hash_words(&[seed, seq, expires as u64, 0x5167])
}

async fn poll_job(State(s): State<Shared>, Path(id): Path<String>, headers: HeaderMap) -> Response {
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
            json!({"id": id, "status": "FAILED", "result": {"url": Value::Null, "errorMessage": msg}})
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

async fn download(
    State(s): State<Shared>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::Download, async move {
        let denied = |msg: &str| {
            (
                StatusCode::FORBIDDEN,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/xml"),
                )],
                format!("<Error><Code>AccessDenied</Code><Message>{msg}</Message></Error>"),
            )
                .into_response()
        };
        let id = file.strip_suffix(".csv").unwrap_or(&file).to_owned();
        let Some(job) = lock(&st.real.jobs).get(&id).cloned() else {
            return (StatusCode::NOT_FOUND, "NoSuchKey").into_response();
        };
        let query = parse_urlencoded(q.as_deref().unwrap_or(""));
        let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let expires = get("expires").and_then(|v| v.parse::<i64>().ok());
        let sig = get("sig").and_then(|v| u64::from_str_radix(v, 16).ok());
        let (Some(expires), Some(sig)) = (expires, sig) else {
            return denied("Query-string authentication requires expires and sig");
        };
        if sig != link_sig(st.cfg.seed, job.seq, expires) {
            return denied("The request signature does not match");
        }
        if now_ms() > expires {
            CounterSet::add(&st.counters.downloads_expired, 1);
            return denied("Request has expired");
        }
        let slices = day_slices(&st.cfg, job.start_ms, job.end_ms - 1);
        let mut out = String::new();
        out.push_str(&DE_HEADERS.join(","));
        out.push_str("\r\n");
        for r in raw_records(st.cfg.seed, st.cfg.records_per_day, slices) {
            let lut = last_update_ms_of(&st.cfg, &r.id_bytes(), r.end_ms);
            let id = id_number(&r).to_string();
            let values = [
                id.clone(),
                id,
                format_ts(r.start_ms),
                format_ts(r.end_ms),
                format_ts(lut),
                r.agent.to_string(),
                r.queue.to_string(),
                media_type_of(r.medium).1.to_owned(),
                if r.direction == "outbound" {
                    "Outbound"
                } else {
                    "Inbound"
                }
                .to_owned(),
                r.hold.to_string(),
                r.wrap.to_string(),
                r.talk.to_string(),
                from_address(&r),
            ];
            for (k, v) in values.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                csv_field(&mut out, v);
            }
            out.push_str("\r\n");
        }
        CounterSet::add(&st.counters.downloads_served, 1);
        // Streamed in 64 KiB chunks, as a storage service would.
        let bytes = Bytes::from(out);
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

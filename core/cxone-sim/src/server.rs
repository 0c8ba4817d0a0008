//! The HTTP side: axum routes for the four endpoints of the contract, authentication,
//! request validation, fault injection, pagination and the page cache.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use bytes::Bytes;
use chrono::NaiveDateTime;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{FaultEndpoint, SCOPE_EXPORT_READ, SCOPE_EXPORT_WRITE, SimConfig};
use crate::counters::{CounterSet, Counters, Endpoint};
use crate::data::{
    DAY_MS, DaySlice, Field, day_slices, hash_bytes, hash_words, raw_record, raw_records,
    write_csv_header, write_csv_record, write_json_record,
};
use crate::error::SimError;
use crate::faults::{FaultPlan, Faults, Transient, export_failure, retry_after_value};
use crate::filter::Filter;

/// The contract's `MAX_EXPORT_DAYS`.
pub const MAX_EXPORT_DAYS: i64 = 90;
/// Most columns an export may ask for.
pub const MAX_COLUMNS: usize = 150;
/// Largest `pageSize`.
pub const MAX_PAGE_SIZE: u32 = 10_000;
/// `pageSize` when a request gives none.
pub const DEFAULT_PAGE_SIZE: u32 = 5000;
/// Most distinct fields an `or` filter may span.
pub const MAX_OR_FIELDS: usize = 3;

/// Locks a mutex, ignoring poisoning (no lock here is held across a panic-prone step).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------
// State

#[derive(Debug)]
pub(crate) struct IssuedToken {
    pub(crate) expires_at: Instant,
    pub(crate) scopes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Xlsx,
}

#[derive(Debug)]
struct Export {
    id: String,
    seq: u64,
    format: Format,
    columns: Vec<Field>,
    page_size: u32,
    slices: Vec<DaySlice>,
    /// Records before each slice.
    prefix: Vec<u64>,
    /// With filters: the (day, index) of every matching record, in order.
    selection: Option<Vec<(i64, u32)>>,
    total: u64,
    polls: AtomicU32,
    failure: Option<String>,
}

impl Export {
    /// The export has reported `completed` (or `failed`) to a poll.
    fn finished(&self, polls_before_complete: u32) -> bool {
        polls_before_complete == 0 || self.polls.load(Ordering::Relaxed) > polls_before_complete
    }
}

#[derive(Debug, Default)]
struct ExportTable {
    by_id: HashMap<String, Arc<Export>>,
    next_seq: u64,
    submissions: HashMap<(i64, i64), u32>,
}

#[derive(Debug, Clone, Copy)]
struct PageTokenEntry {
    export_seq: u64,
    offset: u64,
    issued: Instant,
}

#[derive(Debug, Clone)]
struct CachedPage {
    body: Bytes,
    next: Option<(String, u64)>,
    records: u64,
}

type PageKey = (u64, u64, u32);

#[derive(Debug, Default)]
struct PageCache {
    map: HashMap<PageKey, CachedPage>,
    order: VecDeque<PageKey>,
    bytes: u64,
}

impl PageCache {
    fn insert(&mut self, key: PageKey, page: CachedPage, cap: u64) {
        let len = page.body.len() as u64;
        if len > cap {
            return;
        }
        while self.bytes + len > cap {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(p) = self.map.remove(&old) {
                self.bytes -= p.body.len() as u64;
            }
        }
        if self.map.insert(key, page).is_none() {
            self.order.push_back(key);
            self.bytes += len;
        }
    }
}

#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) cfg: SimConfig,
    pub(crate) counters: CounterSet,
    faults: Faults,
    pub(crate) tokens: Mutex<HashMap<String, IssuedToken>>,
    pub(crate) token_seq: AtomicU64,
    /// `http://127.0.0.1:PORT`, for links and discovery documents.
    pub(crate) base_url: String,
    /// State of the real-API dialects (access-key auth, reporting, data extraction).
    pub(crate) real: crate::real::RealState,
    exports: Mutex<ExportTable>,
    page_tokens: Mutex<HashMap<String, PageTokenEntry>>,
    cache: Mutex<PageCache>,
}

impl AppState {
    /// Records an access token as valid for `token_ttl_secs` with `scopes`, and counts it.
    pub(crate) fn issue_token(&self, access_token: &str, scopes: Vec<String>) {
        lock(&self.tokens).insert(
            access_token.to_string(),
            IssuedToken {
                expires_at: Instant::now() + Duration::from_secs(self.cfg.token_ttl_secs),
                scopes,
            },
        );
        CounterSet::add(&self.counters.tokens_issued, 1);
    }
}

pub(crate) type Shared = Arc<AppState>;

// ---------------------------------------------------------------------------------------
// Responses

pub(crate) fn json_response(status: StatusCode, value: &Value) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// `{"error": code, "message": message}` with `status`.
pub(crate) fn api_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    json_response(status, &json!({"error": code, "message": message.into()}))
}

fn bad_request(code: &str, message: impl Into<String>) -> Response {
    api_error(StatusCode::BAD_REQUEST, code, message)
}

/// A response to send instead of going on (boxed: responses are large).
type Reject = Box<Response>;

fn reject(code: &str, message: impl Into<String>) -> Reject {
    Box::new(bad_request(code, message))
}

fn unauthorized(message: impl Into<String>) -> Response {
    let mut r = api_error(StatusCode::UNAUTHORIZED, "invalid_token", message);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    r
}

pub(crate) fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Decodes one `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a
/// byte (a `%` not followed by two hex digits stays as it is).
pub(crate) fn form_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// Decodes `application/x-www-form-urlencoded` (also used for query strings).
pub(crate) fn parse_urlencoded(s: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Cross-cutting: instrumentation, auth, faults

impl AppState {
    /// Counts the request, applies the latency knob, records the status.
    pub(crate) async fn instrumented<F>(&self, endpoint: Endpoint, handler: F) -> Response
    where
        F: Future<Output = Response>,
    {
        let _in_flight = self.counters.enter();
        if self.cfg.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.cfg.latency_ms)).await;
        }
        let response = handler.await;
        self.counters
            .record_status(endpoint, response.status().as_u16());
        response
    }

    /// Checks the bearer token and its scope.
    pub(crate) fn authorize(
        &self,
        headers: &HeaderMap,
        scope: &str,
        what: &str,
    ) -> Result<(), Reject> {
        let value = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(token) = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
        else {
            return Err(Box::new(unauthorized(
                "missing `Authorization: Bearer <token>` header; get a token from POST /oauth/token",
            )));
        };
        let tokens = lock(&self.tokens);
        let Some(issued) = tokens.get(token.trim()) else {
            return Err(Box::new(unauthorized(
                "unknown access token; get a new one from POST /oauth/token",
            )));
        };
        if Instant::now() >= issued.expires_at {
            return Err(Box::new(unauthorized(
                "access token expired; get a new one from POST /oauth/token",
            )));
        }
        if !issued.scopes.iter().any(|s| s == scope) {
            return Err(Box::new(api_error(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                format!(
                    "{what} requires the scope `{scope}`, which this token lacks (it has: {}); \
                     add it to the OAuth client and request it in `scope`",
                    issued.scopes.join(" ")
                ),
            )));
        }
        Ok(())
    }

    /// Decides and applies the transient faults of one request. `Some` is the response
    /// to send instead of the real one.
    async fn inject(&self, endpoint: FaultEndpoint, identity: u64) -> Option<Response> {
        let FaultPlan { transient, slow } = self.faults.decide(&self.cfg, endpoint, identity);
        if slow {
            CounterSet::add(&self.counters.slow_responses, 1);
            tokio::time::sleep(Duration::from_millis(self.cfg.slow_ms)).await;
        }
        match transient {
            None => None,
            Some(Transient::RateLimited) => {
                let mut r = api_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many requests (simulated, p429); wait for Retry-After and retry",
                );
                if let Ok(v) = HeaderValue::from_str(&retry_after_value(&self.cfg)) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                Some(r)
            }
            Some(Transient::ServerError(code)) => {
                let status =
                    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                Some(api_error(
                    status,
                    "server_error",
                    format!("transient server error {code} (simulated); retry with backoff"),
                ))
            }
        }
    }

    fn export(&self, id: &str) -> Option<Arc<Export>> {
        lock(&self.exports).by_id.get(id).cloned()
    }
}

// ---------------------------------------------------------------------------------------
// POST /oauth/token

async fn token(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::Token, async move {
        let form = parse_urlencoded(&String::from_utf8_lossy(&body));
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let client_id = field("client_id").unwrap_or("");
        if let Some(r) = st
            .inject(FaultEndpoint::Token, hash_bytes(client_id.as_bytes()))
            .await
        {
            return r;
        }
        if !content_type(&headers).starts_with("application/x-www-form-urlencoded") {
            return bad_request(
                "invalid_request",
                "the token request must be form-encoded \
                 (Content-Type: application/x-www-form-urlencoded)",
            );
        }
        match field("grant_type") {
            Some("client_credentials") => {}
            Some(other) => {
                return bad_request(
                    "unsupported_grant_type",
                    format!("grant_type `{other}` is not supported; use client_credentials"),
                );
            }
            None => {
                return bad_request(
                    "invalid_request",
                    "missing grant_type; use grant_type=client_credentials",
                );
            }
        }
        let secret = field("client_secret").unwrap_or("");
        if client_id != st.cfg.client_id || secret != st.cfg.client_secret.expose() {
            return json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "invalid_client"}),
            );
        }
        let scopes: Vec<String> = match field("scope") {
            Some(requested) => requested
                .split_whitespace()
                .filter(|sc| st.cfg.scopes.iter().any(|g| g == sc))
                .map(str::to_owned)
                .collect(),
            None => st.cfg.scopes.clone(),
        };
        let seq = st.token_seq.fetch_add(1, Ordering::Relaxed);
        let access_token = format!(
            "simtok-{:016x}{:016x}",
            hash_words(&[st.cfg.seed, 0x70CE4, seq]),
            hash_words(&[seq, st.cfg.seed])
        );
        st.issue_token(&access_token, scopes);
        let mut r = json_response(
            StatusCode::OK,
            &json!({
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": st.cfg.token_ttl_secs,
            }),
        );
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    })
    .await
}

// ---------------------------------------------------------------------------------------
// POST /api/v2/analytics/data-exports

/// A create request that passed every rule.
#[derive(Debug)]
struct CreateRequest {
    start_ms: i64,
    end_ms: i64,
    format: Format,
    columns: Vec<Field>,
    page_size: u32,
    filter: Filter,
}

const TOP_LEVEL_FIELDS: [&str; 6] = [
    "reportId",
    "dateRange",
    "format",
    "columns",
    "filters",
    "pageSize",
];

/// Parses `YYYY-MM-DDTHH:MM:SS.sssZ` into epoch milliseconds.
fn parse_ts(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 24
        && b.iter().enumerate().all(|(k, c)| match k {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3fZ")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

fn page_size_of(v: &Value) -> Result<u32, Reject> {
    match v.as_u64() {
        Some(n) if (1..=u64::from(MAX_PAGE_SIZE)).contains(&n) => Ok(n as u32),
        _ => Err(reject(
            "invalid_page_size",
            format!("pageSize must be an integer from 1 to {MAX_PAGE_SIZE}, got {v}"),
        )),
    }
}

/// Checks one filter object (column → condition, or `or` → [filter, ...]) and collects
/// the fields used under `or`.
fn check_filters(
    v: &Value,
    path: &str,
    in_or: bool,
    or_fields: &mut Vec<String>,
) -> Result<(), Reject> {
    let Some(obj) = v.as_object() else {
        return Err(reject(
            "invalid_filters",
            format!("{path} must be an object of column -> condition"),
        ));
    };
    for (key, cond) in obj {
        if key == "or" {
            let Some(branches) = cond.as_array() else {
                return Err(reject(
                    "invalid_filters",
                    format!("{path}.or must be an array of filter objects"),
                ));
            };
            for (k, b) in branches.iter().enumerate() {
                check_filters(b, &format!("{path}.or[{k}]"), true, or_fields)?;
            }
            continue;
        }
        if Field::from_name(key).is_none() {
            return Err(reject(
                "invalid_filters",
                format!("{path}.{key}: unknown column `{key}`"),
            ));
        }
        if in_or && !or_fields.contains(key) {
            or_fields.push(key.clone());
        }
        let ok = cond.as_object().is_some_and(|c| {
            c.len() == 1
                && c.iter().all(|(op, val)| match op.as_str() {
                    "equals" | "greaterThan" | "lessThan" => !val.is_array() && !val.is_object(),
                    "in" => val.is_array(),
                    _ => false,
                })
        });
        if !ok {
            return Err(reject(
                "invalid_filters",
                format!(
                    "{path}.{key}: a condition is exactly one of {{\"equals\": v}}, \
                     {{\"greaterThan\": v}}, {{\"lessThan\": v}} or {{\"in\": [v, ...]}}, got {cond}"
                ),
            ));
        }
    }
    Ok(())
}

/// Applies every rule of the contract to a create body.
fn validate_create(body: &[u8]) -> Result<CreateRequest, Reject> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        reject(
            "invalid_json",
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    let Some(obj) = value.as_object() else {
        return Err(reject(
            "invalid_json",
            "the request body must be a JSON object",
        ));
    };
    check_top_level(obj)?;
    let format = format_of(obj)?;
    let columns = columns_of(obj)?;
    let (start_ms, end_ms) = date_range_of(obj)?;
    let page_size = match obj.get("pageSize") {
        None => DEFAULT_PAGE_SIZE,
        Some(v) => page_size_of(v)?,
    };
    let filter = filter_of(obj)?;
    Ok(CreateRequest {
        start_ms,
        end_ms,
        format,
        columns,
        page_size,
        filter,
    })
}

/// No unknown top-level field, every required one, a non-empty `reportId`.
fn check_top_level(obj: &serde_json::Map<String, Value>) -> Result<(), Reject> {
    let unknown: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !TOP_LEVEL_FIELDS.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(reject(
            "unknown_field",
            format!(
                "unknown top-level field(s) {}: extra fields are rejected; allowed fields are {}",
                unknown.join(", "),
                TOP_LEVEL_FIELDS.join(", ")
            ),
        ));
    }
    for required in ["reportId", "dateRange", "format", "columns"] {
        if !obj.contains_key(required) {
            return Err(reject(
                "missing_field",
                format!("required field `{required}` is missing"),
            ));
        }
    }
    if obj
        .get("reportId")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(reject(
            "invalid_report_id",
            "reportId must be a non-empty string",
        ));
    }
    Ok(())
}

/// `format`: json, csv or xlsx.
fn format_of(obj: &serde_json::Map<String, Value>) -> Result<Format, Reject> {
    match obj.get("format").and_then(Value::as_str) {
        Some("json") => Ok(Format::Json),
        Some("csv") => Ok(Format::Csv),
        Some("xlsx") => Ok(Format::Xlsx),
        _ => Err(reject(
            "invalid_format",
            format!(
                "format must be one of json, csv, xlsx; got {}",
                obj.get("format").unwrap_or(&Value::Null)
            ),
        )),
    }
}

/// `columns`: 1 to MAX_COLUMNS known names (a repeat counts once).
fn columns_of(obj: &serde_json::Map<String, Value>) -> Result<Vec<Field>, Reject> {
    let Some(cols) = obj.get("columns").and_then(Value::as_array) else {
        return Err(reject(
            "invalid_columns",
            "columns must be an array of column names",
        ));
    };
    if cols.is_empty() {
        return Err(reject(
            "too_few_columns",
            "columns must name at least one column",
        ));
    }
    if cols.len() > MAX_COLUMNS {
        return Err(reject(
            "too_many_columns",
            format!(
                "columns names {} columns; at most {MAX_COLUMNS} are allowed",
                cols.len()
            ),
        ));
    }
    let mut columns = Vec::with_capacity(cols.len());
    for c in cols {
        let Some(name) = c.as_str() else {
            return Err(reject(
                "invalid_columns",
                format!("columns must be strings, got {c}"),
            ));
        };
        let Some(field) = Field::from_name(name) else {
            return Err(reject(
                "unknown_column",
                format!(
                    "unsupported column `{name}`; supported columns are {}",
                    Field::ALL.map(Field::name).join(", ")
                ),
            ));
        };
        if !columns.contains(&field) {
            columns.push(field);
        }
    }
    Ok(columns)
}

/// `dateRange`: `{start, end}` in ISO 8601 UTC with milliseconds, end after start, at most
/// MAX_EXPORT_DAYS apart. Epoch ms.
fn date_range_of(obj: &serde_json::Map<String, Value>) -> Result<(i64, i64), Reject> {
    let Some(range) = obj.get("dateRange").and_then(Value::as_object) else {
        return Err(reject(
            "invalid_date_range",
            "dateRange must be an object {\"start\": ..., \"end\": ...}",
        ));
    };
    if let Some(extra) = range.keys().find(|k| *k != "start" && *k != "end") {
        return Err(reject(
            "invalid_date_range",
            format!("dateRange has unknown field `{extra}`; it takes only start and end"),
        ));
    }
    let mut bounds = [0i64; 2];
    for (slot, key) in bounds.iter_mut().zip(["start", "end"]) {
        let raw = range.get(key).and_then(Value::as_str);
        *slot = raw.and_then(parse_ts).ok_or_else(|| {
            reject(
                "invalid_date",
                format!(
                    "dateRange.{key} {} is not ISO 8601 UTC with milliseconds \
                     (YYYY-MM-DDTHH:MM:SS.sssZ, e.g. 2023-01-01T00:00:00.000Z)",
                    range.get(key).unwrap_or(&Value::Null)
                ),
            )
        })?;
    }
    let [start_ms, end_ms] = bounds;
    if end_ms <= start_ms {
        return Err(reject(
            "date_range_order",
            "dateRange.end must be strictly after dateRange.start",
        ));
    }
    if end_ms - start_ms > MAX_EXPORT_DAYS * DAY_MS {
        return Err(reject(
            "date_range_too_long",
            format!(
                "dateRange spans {:.3} days; the maximum is {MAX_EXPORT_DAYS} days \
                 (MAX_EXPORT_DAYS): split it into consecutive windows",
                (end_ms - start_ms) as f64 / DAY_MS as f64
            ),
        ));
    }
    Ok((start_ms, end_ms))
}

/// `filters` (optional): well formed, `or` across at most MAX_OR_FIELDS fields; compiled.
fn filter_of(obj: &serde_json::Map<String, Value>) -> Result<Filter, Reject> {
    let Some(f) = obj.get("filters").filter(|f| !f.is_null()) else {
        return Ok(Filter::All(Vec::new()));
    };
    let mut or_fields = Vec::new();
    check_filters(f, "filters", false, &mut or_fields)?;
    if or_fields.len() > MAX_OR_FIELDS {
        return Err(reject(
            "filter_too_complex",
            format!(
                "filters nest `or` across {} fields ({}); at most {MAX_OR_FIELDS} are \
                 allowed: simplify the filter",
                or_fields.len(),
                or_fields.join(", ")
            ),
        ));
    }
    Ok(Filter::compile(f))
}

async fn create_export(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::CreateExport, async move {
        if let Err(r) = st.authorize(
            &headers,
            SCOPE_EXPORT_WRITE,
            "POST /api/v2/analytics/data-exports",
        ) {
            return *r;
        }
        if let Some(r) = st.inject(FaultEndpoint::Create, hash_bytes(&body)).await {
            return r;
        }
        if !content_type(&headers).starts_with("application/json") {
            return bad_request(
                "invalid_content_type",
                "the request body must be JSON (Content-Type: application/json)",
            );
        }
        let req = match validate_create(&body) {
            Ok(r) => r,
            Err(r) => return *r,
        };
        if let Some(max_days) = st.cfg.max_window_days_before_504 {
            if req.end_ms - req.start_ms > i64::from(max_days) * DAY_MS {
                return api_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    "gateway_timeout",
                    format!(
                        "the export of {:.3} days exceeds the processing window of {max_days} \
                         days (simulated, max_window_days_before_504): split the date range",
                        (req.end_ms - req.start_ms) as f64 / DAY_MS as f64
                    ),
                );
            }
        }
        let slices = day_slices(&st.cfg, req.start_ms, req.end_ms);
        let mut prefix = Vec::with_capacity(slices.len());
        let mut total = 0u64;
        for sl in &slices {
            prefix.push(total);
            total += u64::from(sl.count);
        }
        let selection = if req.filter.is_trivial() {
            None
        } else {
            // O(records in the window), off the async workers.
            let (seed, n, filter, sl) = (
                st.cfg.seed,
                st.cfg.records_per_day,
                req.filter,
                slices.clone(),
            );
            let selected = tokio::task::spawn_blocking(move || {
                raw_records(seed, n, sl)
                    .filter(|r| filter.matches(r))
                    .map(|r| (r.day, r.index))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            total = selected.len() as u64;
            Some(selected)
        };
        let export = {
            let mut table = lock(&st.exports);
            let seq = table.next_seq;
            table.next_seq += 1;
            let submission = {
                let n = table
                    .submissions
                    .entry((req.start_ms, req.end_ms))
                    .or_insert(0);
                *n += 1;
                *n
            };
            let h = hash_words(&[st.cfg.seed, 0xE7, seq]);
            let h2 = hash_words(&[seq, st.cfg.seed, 0xE7]);
            let id = format!(
                "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
                h >> 32,
                (h >> 16) & 0xffff,
                h & 0xfff,
                (h2 >> 48) & 0x3fff | 0x8000,
                h2 & 0xffff_ffff_ffff
            );
            let export = Arc::new(Export {
                id: id.clone(),
                seq,
                format: req.format,
                columns: req.columns,
                page_size: req.page_size,
                slices,
                prefix,
                selection,
                total,
                polls: AtomicU32::new(0),
                failure: export_failure(&st.cfg, req.start_ms, req.end_ms, submission),
            });
            table.by_id.insert(id, export.clone());
            export
        };
        CounterSet::add(&st.counters.exports_created, 1);
        json_response(
            StatusCode::CREATED,
            &json!({"id": export.id, "status": "pending"}),
        )
    })
    .await
}

// ---------------------------------------------------------------------------------------
// GET /api/v2/analytics/data-exports/{id}

fn not_found(id: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no export with id `{id}`"),
    )
}

async fn poll_export(
    State(s): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::PollExport, async move {
        if let Err(r) = st.authorize(
            &headers,
            SCOPE_EXPORT_READ,
            "GET /api/v2/analytics/data-exports/{id}",
        ) {
            return *r;
        }
        if let Some(r) = st
            .inject(FaultEndpoint::Poll, hash_bytes(id.as_bytes()))
            .await
        {
            return r;
        }
        let Some(export) = st.export(&id) else {
            return not_found(&id);
        };
        let n = st.cfg.polls_before_complete;
        let poll = export
            .polls
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let body = if poll <= n {
            let status = if poll == 1 { "pending" } else { "processing" };
            json!({"id": export.id, "status": status})
        } else if let Some(message) = &export.failure {
            if poll == n + 1 {
                CounterSet::add(&st.counters.exports_failed, 1);
            }
            json!({"id": export.id, "status": "failed", "errorMessage": message})
        } else {
            json!({"id": export.id, "status": "completed", "totalRecords": export.total})
        };
        json_response(StatusCode::OK, &body)
    })
    .await
}

// ---------------------------------------------------------------------------------------
// GET /api/v2/analytics/data-exports/{id}/data

fn page_token_for(seed: u64, export_seq: u64, offset: u64) -> String {
    format!(
        "pt{:016x}{:016x}",
        hash_words(&[seed, 0x9A6E, export_seq, offset]),
        hash_words(&[offset, export_seq, seed])
    )
}

impl AppState {
    /// Builds the page of `len` records from `offset`.
    fn build_page(&self, export: &Export, offset: u64, page_size: u32) -> CachedPage {
        let remaining = export.total.saturating_sub(offset);
        let len = remaining.min(u64::from(page_size));
        let next_offset = offset + len;
        let next = (next_offset < export.total).then(|| {
            (
                page_token_for(self.cfg.seed, export.seq, next_offset),
                next_offset,
            )
        });
        let cols = &export.columns;
        let mut first = true;
        let mut buf: Vec<u8> = Vec::with_capacity(len as usize * 260 + 128);
        match export.format {
            Format::Csv => write_csv_header(&mut buf, &self.cfg, cols),
            Format::Json | Format::Xlsx => buf.extend_from_slice(b"{\"data\":["),
        }
        let n = self.cfg.records_per_day;
        let mut emit = |buf: &mut Vec<u8>, day: i64, i: u32| {
            let r = raw_record(self.cfg.seed, day, i, n);
            match export.format {
                Format::Csv => write_csv_record(buf, &self.cfg, &r, cols),
                Format::Json | Format::Xlsx => {
                    if !first {
                        buf.push(b',');
                    }
                    first = false;
                    write_json_record(buf, &self.cfg, &r, cols);
                }
            }
        };
        if let Some(selection) = &export.selection {
            let from = usize::try_from(offset).unwrap_or(usize::MAX);
            let to = usize::try_from(next_offset).unwrap_or(usize::MAX);
            for (day, i) in selection.get(from..to).unwrap_or_default() {
                emit(&mut buf, *day, *i);
            }
        }
        // First slice holding `offset`.
        let mut k = export
            .prefix
            .partition_point(|p| *p <= offset)
            .saturating_sub(1);
        let mut left = if export.selection.is_some() { 0 } else { len };
        while left > 0 {
            let (Some(slice), Some(before)) = (export.slices.get(k), export.prefix.get(k)) else {
                break;
            };
            let skip = offset.saturating_sub(*before).min(u64::from(slice.count));
            let avail = u64::from(slice.count) - skip;
            let take = avail.min(left);
            let from = slice.first + skip as u32;
            for i in from..from + take as u32 {
                emit(&mut buf, slice.day, i);
            }
            left -= take;
            k += 1;
        }
        if export.format != Format::Csv {
            buf.push(b']');
            if let Some((token, _)) = &next {
                buf.extend_from_slice(b",\"nextPageToken\":\"");
                buf.extend_from_slice(token.as_bytes());
                buf.push(b'"');
            }
            buf.push(b'}');
        }
        CachedPage {
            body: Bytes::from(buf),
            next,
            records: len,
        }
    }
}

async fn export_data(
    State(s): State<Shared>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let st = s.clone();
    s.instrumented(Endpoint::ExportData, async move {
        if let Err(r) = st.authorize(
            &headers,
            SCOPE_EXPORT_READ,
            "GET /api/v2/analytics/data-exports/{id}/data",
        ) {
            return *r;
        }
        let query = query.unwrap_or_default();
        if let Some(r) = st
            .inject(
                FaultEndpoint::Data,
                hash_words(&[hash_bytes(id.as_bytes()), hash_bytes(query.as_bytes())]),
            )
            .await
        {
            return r;
        }
        let Some(export) = st.export(&id) else {
            return not_found(&id);
        };
        if !export.finished(st.cfg.polls_before_complete) {
            return bad_request(
                "export_not_ready",
                format!("export `{id}` is not completed yet; poll it until status is completed"),
            );
        }
        if let Some(message) = &export.failure {
            return bad_request(
                "export_failed",
                format!("export `{id}` failed ({message}); create it again"),
            );
        }
        if export.format == Format::Xlsx {
            return bad_request(
                "format_not_served",
                "the simulator accepts xlsx exports but serves pages only as json or csv",
            );
        }
        let params = parse_urlencoded(&query);
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let page_size = match param("pageSize") {
            None => export.page_size,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
                _ => {
                    return bad_request(
                        "invalid_page_size",
                        format!(
                            "pageSize must be an integer from 1 to {MAX_PAGE_SIZE}, got `{raw}`"
                        ),
                    );
                }
            },
        };
        let offset = match param("nextPageToken").filter(|t| !t.is_empty()) {
            None => 0,
            Some(token) => {
                let entry = lock(&st.page_tokens).get(token).copied();
                let Some(entry) = entry.filter(|e| e.export_seq == export.seq) else {
                    return bad_request(
                        "invalid_page_token",
                        format!(
                            "nextPageToken `{token}` was not issued for export `{id}`; \
                             pass the token of the previous page unchanged"
                        ),
                    );
                };
                if let Some(ttl) = st.cfg.page_token_ttl_secs {
                    if entry.issued.elapsed() >= Duration::from_secs(ttl) {
                        return bad_request(
                            "expired_page_token",
                            format!(
                                "nextPageToken expired (page tokens live {ttl} s); restart the \
                                 pagination of export `{id}` from its first page, or create the \
                                 export again"
                            ),
                        );
                    }
                }
                entry.offset
            }
        };
        let key = (export.seq, offset, page_size);
        let cached = lock(&st.cache).map.get(&key).cloned();
        let page = match cached {
            Some(p) => {
                CounterSet::add(&st.counters.page_cache_hits, 1);
                p
            }
            None => {
                let p = st.build_page(&export, offset, page_size);
                lock(&st.cache).insert(key, p.clone(), st.cfg.page_cache_bytes);
                p
            }
        };
        if let Some((token, next_offset)) = &page.next {
            lock(&st.page_tokens).insert(
                token.clone(),
                PageTokenEntry {
                    export_seq: export.seq,
                    offset: *next_offset,
                    issued: Instant::now(),
                },
            );
        }
        CounterSet::add(&st.counters.pages_served, 1);
        CounterSet::add(&st.counters.records_served, page.records);
        let mut builder = Response::builder().status(StatusCode::OK);
        builder = match export.format {
            Format::Csv => {
                let b = builder.header(header::CONTENT_TYPE, "text/csv; charset=utf-8");
                match &page.next {
                    Some((token, _)) => b.header("X-Next-Page-Token", token.as_str()),
                    None => b,
                }
            }
            Format::Json | Format::Xlsx => builder.header(header::CONTENT_TYPE, "application/json"),
        };
        builder
            .body(Body::from(page.body))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    })
    .await
}

async fn fallback(State(s): State<Shared>, method: Method, uri: Uri) -> Response {
    s.instrumented(Endpoint::Unknown, async move {
        api_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such endpoint: {method} {}", uri.path()),
        )
    })
    .await
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/oauth/token", post(token))
        .route("/api/v2/analytics/data-exports", post(create_export))
        .route("/api/v2/analytics/data-exports/{id}", get(poll_export))
        .route("/api/v2/analytics/data-exports/{id}/data", get(export_data))
        .merge(crate::real::routes())
        .fallback(fallback)
        .with_state(state)
}

// ---------------------------------------------------------------------------------------
// Start / stop

/// Starts simulators.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Validates `cfg`, binds `addr` (port 0 picks a free port) and serves in the
    /// background until the handle is shut down or dropped.
    ///
    /// # Errors
    /// [`SimError::InvalidConfig`] for a bad knob, [`SimError::Bind`] when the address
    /// cannot be bound.
    pub async fn start(cfg: SimConfig, addr: SocketAddr) -> Result<SimHandle, SimError> {
        cfg.validate()?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| SimError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| SimError::Bind { addr, source })?;
        let state = Arc::new(AppState {
            cfg,
            counters: CounterSet::default(),
            faults: Faults::default(),
            tokens: Mutex::default(),
            token_seq: AtomicU64::new(0),
            base_url: format!("http://{local}"),
            real: crate::real::RealState::default(),
            exports: Mutex::default(),
            page_tokens: Mutex::default(),
            cache: Mutex::default(),
        });
        let app = router(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let listener = listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "CXone simulator stopped with an error");
            }
        });
        tracing::debug!(addr = %local, "CXone simulator listening");
        Ok(SimHandle {
            addr: local,
            state,
            shutdown: Some(tx),
            task: Some(task),
        })
    }
}

/// Starts a simulator for `tributary sim`: the same as [`Simulator::start`]. It prints
/// nothing; the caller waits (e.g. for ctrl-c) and then calls [`SimHandle::shutdown`].
///
/// # Errors
/// As [`Simulator::start`].
pub async fn serve_forever(cfg: SimConfig, addr: SocketAddr) -> Result<SimHandle, SimError> {
    Simulator::start(cfg, addr).await
}

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The bound address (with the real port when port 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the base URL and the token URL's base.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.state.counters.snapshot()
    }

    /// The configuration the simulator runs with.
    pub fn config(&self) -> &SimConfig {
        &self.state.cfg
    }

    /// Stops accepting connections, lets in-flight requests finish (up to 5 s), then
    /// returns.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_need_milliseconds_and_z() {
        assert!(parse_ts("2023-01-01T00:00:00.000Z").is_some());
        assert!(parse_ts("2023-01-01T00:00:00Z").is_none());
        assert!(parse_ts("2023-01-01T00:00:00.000+00:00").is_none());
        assert!(parse_ts("2023-13-01T00:00:00.000Z").is_none());
        assert!(parse_ts("2023-01-01 00:00:00.000Z").is_none());
    }

    #[test]
    fn urlencoded_decoding() {
        assert_eq!(
            parse_urlencoded("a=b+c&scope=x%3Ay%20z&e"),
            vec![
                ("a".to_owned(), "b c".to_owned()),
                ("scope".to_owned(), "x:y z".to_owned()),
                ("e".to_owned(), String::new())
            ]
        );
        assert_eq!(
            parse_urlencoded("&&k=%zz%2B%&=v"),
            vec![
                ("k".to_owned(), "%zz+%".to_owned()),
                (String::new(), "v".to_owned())
            ]
        );
        assert_eq!(form_decode("a+b%2Bc%3"), "a b+c%3");
    }

    #[test]
    fn page_cache_is_bounded() {
        let mut c = PageCache::default();
        for k in 0..10u64 {
            let page = CachedPage {
                body: Bytes::from(vec![0u8; 100]),
                next: None,
                records: 1,
            };
            c.insert((0, k, 1), page, 350);
        }
        assert_eq!(c.map.len(), 3);
        assert!(c.bytes <= 350);
    }
}

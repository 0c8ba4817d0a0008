//! Reporting API: `GET /inContactAPI/services/vNN.0/contacts/completed`, offset-paged
//! (`skip`/`top`), `204` past the last row, errors in `icStatusDescription`.
//!
//! Selection: contacts whose start lies in `[startDate, endDate]` (**both inclusive**:
//! public callers pass a window's end minus 1 ms), and, with `updatedSince`, whose
//! `lastUpdateTime >= updatedSince`.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::contact::{Style, contact_id, contact_json, team_id};
use super::{now_ms, parse_utc};
use crate::config::SCOPE_REPORTS_READ;
use crate::counters::{CounterSet, Endpoint};
use crate::data::{
    RawRecord, day_slices, format_ts, last_update_ms_of, media_type_of, raw_records,
};
use crate::server::{AppState, Shared, json_response, parse_urlencoded};

/// Largest `top` of the Reporting API.
const MAX_TOP: u64 = 10_000;
/// Most records one reporting query may select (the simulator sorts them in memory).
const MAX_SELECTION: usize = 5_000_000;
/// Numeric filters the simulator applies.
const NUMERIC_FILTERS: [&str; 4] = ["mediaTypeId", "skillId", "agentId", "teamId"];

/// An error as the Reporting API gives it: the text in `icStatusDescription`, no body.
fn ic_error(status: StatusCode, text: &str) -> Response {
    let mut r = status.into_response();
    if let Ok(v) = HeaderValue::from_str(text) {
        r.headers_mut().insert("icStatusDescription", v);
    }
    r
}

fn bad(text: &str) -> Response {
    ic_error(StatusCode::BAD_REQUEST, text)
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

/// The row order asked for by `orderBy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// `contactStartDate asc` (also the order without `orderBy`); ties by contactId.
    Start,
    /// `lastUpdateTime asc`; ties by contactId.
    LastUpdate,
}

/// A query that passed every check.
#[derive(Debug)]
struct Query {
    start: i64,
    end: i64,
    since: Option<i64>,
    top: u64,
    skip: u64,
    order: Order,
    numeric: Vec<(&'static str, u32)>,
    fields: Option<Vec<String>>,
}

fn parse_query(raw: &str) -> Result<Query, Box<Response>> {
    let pairs = parse_urlencoded(raw);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let fail = |text: &str| Box::new(bad(text));
    let (Some(start), Some(end)) = (
        get("startDate").and_then(parse_utc),
        get("endDate").and_then(parse_utc),
    ) else {
        return Err(fail(
            "Invalid startDate or endDate: both are required, in UTC ending in Z",
        ));
    };
    if end < start {
        return Err(fail("endDate must not be before startDate"));
    }
    let since = match get("updatedSince") {
        None => None,
        Some(v) => {
            Some(parse_utc(v).ok_or_else(|| fail("Invalid updatedSince: use UTC ending in Z"))?)
        }
    };
    let top = match get("top").map(str::parse::<u64>) {
        None => MAX_TOP,
        Some(Ok(t)) if (1..=MAX_TOP).contains(&t) => t,
        _ => return Err(fail("Invalid top: use 1 to 10000")),
    };
    let skip = get("skip")
        .unwrap_or("0")
        .parse::<u64>()
        .map_err(|_| fail("Invalid skip"))?;
    let order = match get("orderBy").map(str::trim) {
        None | Some("contactStartDate asc" | "contactStartDate") => Order::Start,
        Some("lastUpdateTime asc" | "lastUpdateTime") => Order::LastUpdate,
        Some(other) => {
            return Err(fail(&format!(
                "Invalid orderBy `{other}`: use `lastUpdateTime asc` or `contactStartDate asc`"
            )));
        }
    };
    let mut numeric = Vec::new();
    for key in NUMERIC_FILTERS {
        if let Some(v) = get(key) {
            let n = v
                .parse::<u32>()
                .map_err(|_| fail(&format!("Invalid {key}")))?;
            numeric.push((key, n));
        }
    }
    let fields = get("fields")
        .filter(|f| !f.is_empty())
        .map(|f| f.split(',').map(|x| x.trim().to_owned()).collect());
    Ok(Query {
        start,
        end,
        since,
        top,
        skip,
        order,
        numeric,
        fields,
    })
}

fn matches_numeric(r: &RawRecord, filters: &[(&str, u32)]) -> bool {
    filters.iter().all(|(k, n)| match *k {
        "mediaTypeId" => media_type_of(r.medium).0 == *n,
        "skillId" => r.queue == *n,
        "teamId" => team_id(r.agent) == *n,
        _ => r.agent == *n,
    })
}

/// The rows of the query, in its order, with their `lastUpdateTime`.
fn select(st: &AppState, q: &Query) -> Result<Vec<(i64, RawRecord)>, Box<Response>> {
    let slices = day_slices(&st.cfg, q.start, q.end);
    if slices.iter().map(|x| x.count as usize).sum::<usize>() > MAX_SELECTION {
        return Err(Box::new(bad("Date range too large: narrow it")));
    }
    let mut rows: Vec<(i64, RawRecord)> = raw_records(st.cfg.seed, st.cfg.records_per_day, slices)
        .map(|r| (last_update_ms_of(&st.cfg, &r.id_bytes(), r.end_ms), r))
        .filter(|(lut, _)| q.since.is_none_or(|s| *lut >= s))
        .filter(|(_, r)| matches_numeric(r, &q.numeric))
        .collect();
    // Generation order is start order, ties (same ms, same day) by index = contactId.
    if q.order == Order::LastUpdate {
        rows.sort_by_key(|(lut, r)| (*lut, contact_id(r)));
    }
    Ok(rows)
}

/// `_links`: the same query with `skip`/`top` replaced.
fn links(base: &str, raw: &str, skip: u64, top: u64, total: u64) -> Value {
    let kept: Vec<&str> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split_once('=').map_or(*p, |(k, _)| k);
            key != "skip" && key != "top"
        })
        .collect();
    let prefix = if kept.is_empty() {
        String::new()
    } else {
        format!("{}&", kept.join("&"))
    };
    let at = |skip: u64| Value::String(format!("{base}?{prefix}skip={skip}&top={top}"));
    json!({
        "self": at(skip),
        "next": if skip.saturating_add(top) < total { at(skip + top) } else { Value::Null },
        "previous": if skip > 0 { at(skip.saturating_sub(top)) } else { Value::Null },
    })
}

/// The API major version of a `vNN.0` path segment.
fn major_version(version: &str) -> Option<u32> {
    version
        .strip_prefix('v')
        .and_then(|v| v.strip_suffix(".0"))
        .and_then(|v| v.parse::<u32>().ok())
}

pub(super) async fn contacts_completed(
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
        let Some(major) = major_version(&version) else {
            return ic_error(StatusCode::NOT_FOUND, "Unknown API version");
        };
        let raw = q.unwrap_or_default();
        let query = match parse_query(&raw) {
            Ok(q) => q,
            Err(r) => return *r,
        };
        let rows = match select(&st, &query) {
            Ok(rows) => rows,
            Err(r) => return *r,
        };
        let total = rows.len() as u64;
        let from = usize::try_from(query.skip)
            .unwrap_or(usize::MAX)
            .min(rows.len());
        let to = usize::try_from(query.skip.saturating_add(query.top))
            .unwrap_or(usize::MAX)
            .min(rows.len());
        let page = rows.get(from..to).unwrap_or_default();
        if page.is_empty() {
            return StatusCode::NO_CONTENT.into_response();
        }
        let style = Style {
            legacy: st.cfg.legacy_field_names || major < 13,
            strings: st.cfg.string_numbers,
            fields: query.fields.as_deref(),
            omit: &st.cfg.omit_fields,
        };
        let contacts: Vec<Value> = page
            .iter()
            .map(|(lut, r)| contact_json(&st.cfg, r, *lut, &style))
            .collect();
        CounterSet::add(&st.counters.completed_pages_served, 1);
        CounterSet::add(&st.counters.completed_records_served, contacts.len() as u64);
        let base = format!(
            "{}/inContactAPI/services/{version}/contacts/completed",
            st.base_url
        );
        json_response(
            StatusCode::OK,
            &json!({
                "totalRecords": total,
                "_links": links(&base, &raw, query.skip, query.top, total),
                "businessUnitId": 4_600_000,
                "lastPollTime": format_ts(now_ms()),
                "completedContacts": contacts,
            }),
        )
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_rules() {
        let q = parse_query("startDate=2023-01-01T00:00:00Z&endDate=2023-01-01T00:00:00Z").unwrap();
        assert_eq!(
            q.start, q.end,
            "a one-instant range is allowed (inclusive end)"
        );
        assert_eq!((q.top, q.skip, q.order), (MAX_TOP, 0, Order::Start));
        assert!(
            parse_query("startDate=2023-01-02T00:00:00Z&endDate=2023-01-01T00:00:00Z").is_err()
        );
        let q = parse_query(
            "startDate=2023-01-01T00:00:00Z&endDate=2023-01-02T00:00:00Z\
             &orderBy=lastUpdateTime+asc&teamId=3&top=5",
        )
        .unwrap();
        assert_eq!(q.order, Order::LastUpdate);
        assert_eq!(q.numeric, vec![("teamId", 3)]);
        let q = parse_query(
            "startDate=2023-01-01T00:00:00Z&endDate=2023-01-02T00:00:00Z\
             &orderBy=contactStartDate%20asc",
        )
        .unwrap();
        assert_eq!(q.order, Order::Start);
        assert!(
            parse_query("startDate=2023-01-01T00:00:00Z&endDate=2023-01-02T00:00:00Z&orderBy=x")
                .is_err()
        );
    }

    #[test]
    fn links_keep_the_query_and_move_skip() {
        let v = links("http://h/c", "startDate=a&skip=0&top=2", 2, 2, 5);
        assert_eq!(v["self"], "http://h/c?startDate=a&skip=2&top=2");
        assert_eq!(v["next"], "http://h/c?startDate=a&skip=4&top=2");
        assert_eq!(v["previous"], "http://h/c?startDate=a&skip=0&top=2");
        let v = links("http://h/c", "", 4, 2, 5);
        assert_eq!(v["next"], Value::Null);
    }
}

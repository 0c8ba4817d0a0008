//! Export payloads (`POST /api/v2/analytics/data-exports`): built from the
//! configuration and a window, and checked against every rule of the contract before
//! any request is sent.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::{ConfigProblem, CxoneConfig, ExportFormat};
use crate::error::CxoneError;
use crate::window::{MAX_EXPORT_DAYS, Window};

/// Most columns one export may request.
pub const MAX_COLUMNS: usize = 150;
/// Largest `pageSize`.
pub const MAX_PAGE_SIZE: u32 = 10_000;
/// Most distinct fields an `or` filter may span before the server gives up (504).
pub const MAX_OR_FIELDS: usize = 3;
/// The four condition forms.
pub const CONDITIONS: [&str; 4] = ["equals", "greaterThan", "lessThan", "in"];

/// `dateRange` of the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DateRange {
    /// `YYYY-MM-DDTHH:MM:SS.000Z`.
    pub start: String,
    /// The last included millisecond, `...T23:59:59.999Z` for a day-aligned window.
    pub end: String,
}

/// The exact body of a create-export request: no other fields exist.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportPayload {
    /// The report.
    pub report_id: String,
    /// The window, inclusive end at millisecond precision.
    pub date_range: DateRange,
    /// `json`, `csv` or `xlsx`.
    pub format: &'static str,
    /// Requested columns.
    pub columns: Vec<String>,
    /// Filters, column -> condition.
    pub filters: Map<String, Value>,
    /// Records per page.
    pub page_size: u32,
}

/// Formats an instant the way the API wants: UTC with milliseconds and `Z`.
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Builds and validates the payload of one window.
///
/// # Errors
/// [`CxoneError::Payload`] naming the window and the rule broken.
pub fn build(cfg: &CxoneConfig, window: &Window) -> Result<ExportPayload, CxoneError> {
    let payload = ExportPayload {
        report_id: cfg.report_id.clone(),
        date_range: DateRange {
            start: format_instant(window.start),
            end: format_instant(window.end - Duration::milliseconds(1)),
        },
        format: cfg.format.as_str(),
        columns: cfg.columns.clone(),
        filters: cfg.filters.clone(),
        page_size: cfg.page_size,
    };
    validate(&payload, cfg.format, window)?;
    Ok(payload)
}

/// Checks a payload against every rule of the contract.
///
/// # Errors
/// [`CxoneError::Payload`] with all broken rules, each naming the field and limit.
pub fn validate(
    p: &ExportPayload,
    format: ExportFormat,
    window: &Window,
) -> Result<(), CxoneError> {
    let mut problems = Vec::new();
    if p.report_id.trim().is_empty() {
        problems.push(ConfigProblem::new("reportId", "must not be empty"));
    }
    if format == ExportFormat::Xlsx || !matches!(p.format, "json" | "csv" | "xlsx") {
        problems.push(ConfigProblem::new(
            "format",
            format!(
                "`{}`: this source streams json or csv pages into Arrow; xlsx cannot be streamed",
                p.format
            ),
        ));
    }
    let n = p.columns.len();
    if n == 0 || n > MAX_COLUMNS {
        problems.push(ConfigProblem::new(
            "columns",
            format!("{n} columns; the limit is 1 to {MAX_COLUMNS}"),
        ));
    }
    for (i, c) in p.columns.iter().enumerate() {
        if c.trim().is_empty() {
            problems.push(ConfigProblem::new(
                format!("columns[{i}]"),
                "empty column name",
            ));
        }
    }
    match (parse_ms(&p.date_range.start), parse_ms(&p.date_range.end)) {
        (Some(s), Some(e)) => {
            if e <= s {
                problems.push(ConfigProblem::new(
                    "dateRange.end",
                    format!(
                        "{} is not strictly after dateRange.start {}",
                        p.date_range.end, p.date_range.start
                    ),
                ));
            } else if e - s > Duration::days(i64::from(MAX_EXPORT_DAYS)) {
                problems.push(ConfigProblem::new(
                    "dateRange",
                    format!(
                        "spans {} days; the limit is {MAX_EXPORT_DAYS} days (MAX_EXPORT_DAYS)",
                        (e - s).num_days()
                    ),
                ));
            }
        }
        (s, e) => {
            if s.is_none() {
                problems.push(ConfigProblem::new(
                    "dateRange.start",
                    format!("`{}` is not YYYY-MM-DDTHH:MM:SS.mmmZ", p.date_range.start),
                ));
            }
            if e.is_none() {
                problems.push(ConfigProblem::new(
                    "dateRange.end",
                    format!("`{}` is not YYYY-MM-DDTHH:MM:SS.mmmZ", p.date_range.end),
                ));
            }
        }
    }
    if !(1..=MAX_PAGE_SIZE).contains(&p.page_size) {
        problems.push(ConfigProblem::new(
            "pageSize",
            format!("{} is outside 1..={MAX_PAGE_SIZE}", p.page_size),
        ));
    }
    validate_filters(&p.filters, "filters", &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(CxoneError::Payload {
            window: window.id(),
            message: problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        })
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS.mmmZ` exactly (UTC, milliseconds).
fn parse_ms(s: &str) -> Option<DateTime<Utc>> {
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.3fZ").ok()?;
    // Exactly three fractional digits and the trailing Z.
    let b = s.as_bytes();
    if b.len() != 24 || b.get(19) != Some(&b'.') {
        return None;
    }
    Some(t.and_utc())
}

/// Checks a filter object: column -> exactly one of the four conditions, or `or`
/// (an array of filter objects) spanning at most three distinct fields.
pub fn validate_filters(filters: &Map<String, Value>, key: &str, p: &mut Vec<ConfigProblem>) {
    for (field, cond) in filters {
        let k = format!("{key}.{field}");
        if field == "or" {
            match cond {
                Value::Array(items) if !items.is_empty() => {
                    let mut fields = BTreeSet::new();
                    for (i, item) in items.iter().enumerate() {
                        let ik = format!("{k}[{i}]");
                        match item {
                            Value::Object(m) if !m.is_empty() => {
                                validate_filters(m, &ik, p);
                                collect_fields(m, &mut fields);
                            }
                            _ => p.push(ConfigProblem::new(
                                ik,
                                "each `or` branch must be a non-empty object of column -> condition",
                            )),
                        }
                    }
                    if fields.len() > MAX_OR_FIELDS {
                        p.push(ConfigProblem::new(
                            k,
                            format!(
                                "`or` across {} fields ({}) is too complex for the export API \
                                 (limit {MAX_OR_FIELDS}; the server times out with 504): split \
                                 it into several pipelines or simplify",
                                fields.len(),
                                fields.into_iter().collect::<Vec<_>>().join(", ")
                            ),
                        ));
                    }
                }
                _ => p.push(ConfigProblem::new(
                    k,
                    "`or` must be a non-empty array of filter objects",
                )),
            }
            continue;
        }
        if field.trim().is_empty() {
            p.push(ConfigProblem::new(k, "empty column name in filters"));
            continue;
        }
        let Value::Object(c) = cond else {
            p.push(ConfigProblem::new(
                k,
                "a condition is an object: {equals: v}, {greaterThan: v}, {lessThan: v} or {in: [v, ...]}",
            ));
            continue;
        };
        if c.len() != 1 {
            p.push(ConfigProblem::new(
                k,
                format!(
                    "a condition has exactly one of equals, greaterThan, lessThan, in (found {})",
                    c.len()
                ),
            ));
            continue;
        }
        for (op, v) in c {
            let ok = match op.as_str() {
                "equals" | "greaterThan" | "lessThan" => is_scalar(v),
                "in" => matches!(v, Value::Array(a) if !a.is_empty() && a.iter().all(is_scalar)),
                _ => {
                    p.push(ConfigProblem::new(
                        format!("{k}.{op}"),
                        format!(
                            "`{op}` is not a condition; use one of {}",
                            CONDITIONS.join(", ")
                        ),
                    ));
                    continue;
                }
            };
            if !ok {
                p.push(ConfigProblem::new(
                    format!("{k}.{op}"),
                    if op == "in" {
                        "`in` takes a non-empty array of strings, numbers or booleans"
                    } else {
                        "takes a string, number or boolean"
                    },
                ));
            }
        }
    }
}

fn is_scalar(v: &Value) -> bool {
    matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
}

fn collect_fields(m: &Map<String, Value>, out: &mut BTreeSet<String>) {
    for (k, v) in m {
        if k == "or" {
            if let Value::Array(items) = v {
                for item in items {
                    if let Value::Object(inner) = item {
                        collect_fields(inner, out);
                    }
                }
            }
        } else {
            out.insert(k.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn win(days: i64) -> Window {
        let start = Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap();
        Window {
            start,
            end: start + Duration::days(days),
        }
    }
    fn cfg() -> CxoneConfig {
        CxoneConfig::new("3a2b", "2023-01-01", "2023-03-31")
    }
    fn err(c: &CxoneConfig, w: &Window) -> String {
        build(c, w).unwrap_err().to_string()
    }

    #[test]
    fn payload_is_exactly_the_contract() {
        let mut c = cfg();
        c.columns = vec!["id".into(), "direction".into()];
        c.filters = json!({"direction": {"equals": "inbound"}})
            .as_object()
            .unwrap()
            .clone();
        let p = build(&c, &win(90)).unwrap();
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            json!({
                "reportId": "3a2b",
                "dateRange": {"start": "2023-01-01T00:00:00.000Z", "end": "2023-03-31T23:59:59.999Z"},
                "format": "json",
                "columns": ["id", "direction"],
                "filters": {"direction": {"equals": "inbound"}},
                "pageSize": 5000
            })
        );
    }

    #[test]
    fn span_over_90_days_names_window_and_limit() {
        let e = err(&cfg(), &win(91));
        assert!(e.contains("20230101T000000Z-20230402T000000Z"), "{e}");
        assert!(e.contains("limit is 90 days"), "{e}");
    }

    #[test]
    fn end_must_follow_start() {
        let start = Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap();
        let w = Window {
            start,
            end: start + Duration::milliseconds(1),
        };
        assert!(err(&cfg(), &w).contains("not strictly after"));
    }

    #[test]
    fn columns_page_size_format_limits() {
        let mut c = cfg();
        c.columns = (0..151).map(|i| format!("c{i}")).collect();
        assert!(err(&c, &win(1)).contains("151 columns; the limit is 1 to 150"));
        c.columns = vec![];
        assert!(err(&c, &win(1)).contains("0 columns"));
        let mut c = cfg();
        c.columns[3] = " ".into();
        assert!(err(&c, &win(1)).contains("columns[3]"));
        let mut c = cfg();
        c.page_size = 10_001;
        assert!(err(&c, &win(1)).contains("pageSize: 10001 is outside 1..=10000"));
        c.page_size = 0;
        assert!(err(&c, &win(1)).contains("pageSize"));
        let mut c = cfg();
        c.format = ExportFormat::Xlsx;
        assert!(err(&c, &win(1)).contains("xlsx cannot be streamed"));
        let mut c = cfg();
        c.format = ExportFormat::Csv;
        assert_eq!(build(&c, &win(1)).unwrap().format, "csv");
    }

    #[test]
    fn filter_forms() {
        let ok = json!({
            "direction": {"equals": "inbound"},
            "holdTime": {"greaterThan": 10},
            "talkTime": {"lessThan": 100},
            "medium": {"in": ["voice", "chat"]},
            "or": [{"agentId": {"equals": "a"}}, {"queueId": {"in": ["q"]}}, {"medium": {"equals": "sms"}}]
        });
        let mut p = Vec::new();
        validate_filters(ok.as_object().unwrap(), "filters", &mut p);
        assert!(p.is_empty(), "{p:?}");

        let bad = json!({
            "direction": {"between": [1, 2]},
            "medium": {"in": []},
            "agentId": "a",
            "queueId": {"equals": "a", "lessThan": 3},
            "holdTime": {"equals": {"x": 1}},
        });
        let mut p = Vec::new();
        validate_filters(bad.as_object().unwrap(), "filters", &mut p);
        let keys: Vec<_> = p.iter().map(|x| x.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "filters.direction.between",
                "filters.medium.in",
                "filters.agentId",
                "filters.queueId",
                "filters.holdTime.equals"
            ]
        );
    }

    #[test]
    fn or_across_four_fields_is_too_complex() {
        let mut c = cfg();
        c.filters = json!({"or": [
            {"agentId": {"equals": "a"}},
            {"queueId": {"equals": "q"}},
            {"or": [{"medium": {"equals": "sms"}}, {"direction": {"equals": "inbound"}}]}
        ]})
        .as_object()
        .unwrap()
        .clone();
        let e = err(&c, &win(1));
        assert!(e.contains("across 4 fields"), "{e}");
        assert!(e.contains("agentId, direction, medium, queueId"), "{e}");
    }
}

//! Export filters, applied to the clean record values: `{column: condition}` objects
//! (every entry must hold) with `{"or": [filter, ...]}` (any branch must hold).
//! Numbers compare numerically; everything else compares as strings (ISO timestamps
//! therefore compare in time order).

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::config::SimConfig;
use crate::data::{Field, RawRecord, Record, day_slices, format_ts, raw_records};

/// The clean records an export of `[start, end]` with `filters` (the request's
/// `filters` object) holds, in startTime order: [`crate::records_in_range`] filtered as
/// the server filters.
pub fn records_matching(
    cfg: &SimConfig,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    filters: &Value,
) -> impl Iterator<Item = Record> + use<> {
    let filter = Filter::compile(filters);
    let slices = day_slices(cfg, start.timestamp_millis(), end.timestamp_millis());
    raw_records(cfg.seed, cfg.records_per_day, slices)
        .filter(move |r| filter.matches(r))
        .map(RawRecord::to_record)
}

#[derive(Debug, Clone)]
pub(crate) enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Cond(Field, Op, Value),
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Op {
    Equals,
    GreaterThan,
    LessThan,
    In,
}

impl Filter {
    /// Compiles a filter object already checked by the request validation. Shapes it
    /// does not know match everything.
    pub(crate) fn compile(v: &Value) -> Filter {
        let Some(obj) = v.as_object() else {
            return Filter::All(Vec::new());
        };
        let mut all = Vec::new();
        for (key, cond) in obj {
            if key == "or" {
                let branches = cond
                    .as_array()
                    .map(|b| b.iter().map(Filter::compile).collect())
                    .unwrap_or_default();
                all.push(Filter::Any(branches));
                continue;
            }
            let (Some(field), Some((op, val))) = (
                Field::from_name(key),
                cond.as_object().and_then(|c| c.iter().next()),
            ) else {
                continue;
            };
            let op = match op.as_str() {
                "equals" => Op::Equals,
                "greaterThan" => Op::GreaterThan,
                "lessThan" => Op::LessThan,
                _ => Op::In,
            };
            all.push(Filter::Cond(field, op, val.clone()));
        }
        Filter::All(all)
    }

    /// True when the filter selects nothing away.
    pub(crate) fn is_trivial(&self) -> bool {
        matches!(self, Filter::All(v) if v.is_empty())
    }

    pub(crate) fn matches(&self, r: &RawRecord) -> bool {
        match self {
            Filter::All(v) => v.iter().all(|f| f.matches(r)),
            Filter::Any(v) => v.iter().any(|f| f.matches(r)),
            Filter::Cond(field, op, val) => {
                let (text, num) = value_of(r, *field);
                let cmp = |want: &Value| -> Option<std::cmp::Ordering> {
                    match (want.as_f64(), num) {
                        (Some(w), Some(n)) => n.partial_cmp(&w),
                        _ => Some(
                            text.as_str()
                                .cmp(want.as_str().unwrap_or(&want.to_string())),
                        ),
                    }
                };
                match op {
                    Op::Equals => cmp(val) == Some(std::cmp::Ordering::Equal),
                    Op::GreaterThan => cmp(val) == Some(std::cmp::Ordering::Greater),
                    Op::LessThan => cmp(val) == Some(std::cmp::Ordering::Less),
                    Op::In => val.as_array().is_some_and(|vals| {
                        vals.iter()
                            .any(|v| cmp(v) == Some(std::cmp::Ordering::Equal))
                    }),
                }
            }
        }
    }
}

/// The value of a field as text, and as a number for numeric fields.
fn value_of(r: &RawRecord, field: Field) -> (String, Option<f64>) {
    let num = |n: u32| (n.to_string(), Some(f64::from(n)));
    match field {
        Field::Id => (String::from_utf8_lossy(&r.id_bytes()).into_owned(), None),
        Field::Direction => (r.direction.to_owned(), None),
        Field::Medium => (r.medium.to_owned(), None),
        Field::StartTime => (format_ts(r.start_ms), None),
        Field::EndTime => (format_ts(r.end_ms), None),
        Field::AgentId => (format!("agent-{:04}", r.agent), None),
        Field::QueueId => (format!("queue-{:03}", r.queue), None),
        Field::HoldTime => num(r.hold),
        Field::WrapTime => num(r.wrap),
        Field::TalkTime => num(r.talk),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::raw_record;
    use serde_json::json;

    #[test]
    fn conditions_and_or() {
        let recs: Vec<RawRecord> = (0..500).map(|i| raw_record(42, 19_000, i, 500)).collect();
        let count = |f: Value| {
            let f = Filter::compile(&f);
            recs.iter().filter(|r| f.matches(r)).count()
        };
        let voice = recs.iter().filter(|r| r.medium == "voice").count();
        assert_eq!(count(json!({"medium": {"equals": "voice"}})), voice);
        let vc = recs
            .iter()
            .filter(|r| r.medium == "voice" || r.medium == "chat")
            .count();
        assert_eq!(count(json!({"medium": {"in": ["voice", "chat"]}})), vc);
        let held = recs.iter().filter(|r| r.hold > 10).count();
        assert_eq!(count(json!({"holdTime": {"greaterThan": 10}})), held);
        let either = recs
            .iter()
            .filter(|r| r.medium == "sms" || r.talk < 100)
            .count();
        assert_eq!(
            count(json!({"or": [{"medium": {"equals": "sms"}}, {"talkTime": {"lessThan": 100}}]})),
            either
        );
        assert_eq!(count(json!({})), 500);
        assert!(Filter::compile(&json!({})).is_trivial());
    }
}

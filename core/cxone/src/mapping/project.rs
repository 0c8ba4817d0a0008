//! `schema: interaction`: the native records projected onto the tutorial's 10-column
//! interaction shape (`id, direction, medium, startTime, endTime, agentId, queueId,
//! holdTime, wrapTime, talkTime`) plus `lastUpdateTime`, with Arrow kernels on the
//! decoded batch. Each derivation is documented in `docs/cxone.md`; the notable one:
//! the Reporting API has no end time, so `endTime = contactStartDate +
//! totalDurationSeconds`.
//!
//! A native column the projection needs but the batch lacks (a custom `mapping:`, a
//! `fields:` list) yields nulls, which the `validate` transform reports as missing.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMillisecondType};
use arrow_array::{Array, ArrayRef, RecordBatch, TimestampMillisecondArray, new_null_array};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// How one interaction column is derived from the native batch.
#[derive(Debug, Clone, Copy)]
pub enum Derive {
    /// The column as text.
    Text(&'static str),
    /// The column as Int64.
    Int(&'static str),
    /// The column as a UTC timestamp.
    Time(&'static str),
    /// `true` → `outbound`, `false` → `inbound` (a boolean column).
    Outbound(&'static str),
    /// `Inbound`/`Outbound` text → lower case.
    Direction(&'static str),
    /// NICE's media type name → `voice`, `chat`, `email`, `sms`, `social` (others: the
    /// name in lower case, which `validate` reports).
    Medium(&'static str),
    /// A start time plus a duration in seconds.
    StartPlusSeconds(&'static str, &'static str),
    /// Not in the native record: a null column of the given type.
    Null(NullKind),
}

/// The type of a [`Derive::Null`] column.
#[derive(Debug, Clone, Copy)]
pub enum NullKind {
    /// Utf8.
    Text,
    /// Int64.
    Int,
    /// Timestamp (ms, UTC).
    Time,
}

/// One projection: output column → derivation.
pub type Projection = &'static [(&'static str, Derive)];

/// The completed-contacts record as an interaction.
pub const FROM_COMPLETED_CONTACTS: Projection = &[
    ("id", Derive::Text("contactId")),
    ("direction", Derive::Outbound("isOutbound")),
    ("medium", Derive::Medium("mediaTypeName")),
    ("startTime", Derive::Time("contactStartDate")),
    (
        "endTime",
        Derive::StartPlusSeconds("contactStartDate", "totalDurationSeconds"),
    ),
    ("agentId", Derive::Text("agentId")),
    ("queueId", Derive::Text("skillId")),
    ("holdTime", Derive::Int("holdSeconds")),
    ("wrapTime", Derive::Int("acwSeconds")),
    ("talkTime", Derive::Int("agentSeconds")),
    ("lastUpdateTime", Derive::Time("lastUpdateTime")),
];

/// The `recording-interaction-metadata` CSV as an interaction: it has no direction,
/// medium, end or durations (one row per segment; `id` is the ACD call id, which
/// `validate` dedupes, keeping the first segment).
pub const FROM_RECORDING_METADATA: Projection = &[
    ("id", Derive::Text("acdCallId")),
    ("direction", Derive::Null(NullKind::Text)),
    ("medium", Derive::Null(NullKind::Text)),
    ("startTime", Derive::Time("startDate")),
    ("endTime", Derive::Null(NullKind::Time)),
    ("agentId", Derive::Text("agent1AcdId")),
    ("queueId", Derive::Text("agent1Skills")),
    ("holdTime", Derive::Null(NullKind::Int)),
    ("wrapTime", Derive::Null(NullKind::Int)),
    ("talkTime", Derive::Null(NullKind::Int)),
    ("lastUpdateTime", Derive::Null(NullKind::Time)),
];

/// NICE's media type names (`mediaTypeName`) and the interaction medium of each.
pub const MEDIA_NAMES: [(&str, &str); 12] = [
    ("Phone Call", "voice"),
    ("Voice Mail", "voice"),
    ("Call", "voice"),
    ("Voice", "voice"),
    ("Chat", "chat"),
    ("Email", "email"),
    ("SMS", "sms"),
    ("Social", "social"),
    ("Digital", "social"),
    ("Work Item", "social"),
    ("Sms", "sms"),
    ("PersonalConnection", "voice"),
];

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The output schema of a projection.
pub fn schema(p: Projection) -> SchemaRef {
    Arc::new(Schema::new(
        p.iter()
            .map(|(name, d)| {
                let dt = match d {
                    Derive::Int(_) | Derive::Null(NullKind::Int) => DataType::Int64,
                    Derive::Time(_)
                    | Derive::StartPlusSeconds(..)
                    | Derive::Null(NullKind::Time) => ts_type(),
                    _ => DataType::Utf8,
                };
                Field::new(*name, dt, true)
            })
            .collect::<Vec<_>>(),
    ))
}

fn cast(col: Option<&ArrayRef>, to: &DataType, rows: usize) -> Result<ArrayRef, String> {
    match col {
        None => Ok(new_null_array(to, rows)),
        Some(c) if c.data_type() == to => Ok(c.clone()),
        Some(c) => arrow_cast::cast(c, to).map_err(|e| e.to_string()),
    }
}

fn map_text(
    col: Option<&ArrayRef>,
    rows: usize,
    f: impl Fn(&str) -> String,
) -> Result<ArrayRef, String> {
    let text = cast(col, &DataType::Utf8, rows)?;
    let text = text.as_string::<i32>();
    let mut b = StringBuilder::with_capacity(rows, rows * 8);
    for v in text.iter() {
        match v {
            Some(s) => b.append_value(f(s)),
            None => b.append_null(),
        }
    }
    Ok(Arc::new(b.finish()))
}

/// The interaction medium of a NICE media type name.
pub fn medium_of(name: &str) -> String {
    let n = name.trim();
    MEDIA_NAMES
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(n))
        .map_or_else(|| n.to_ascii_lowercase(), |(_, v)| (*v).to_string())
}

fn derive(batch: &RecordBatch, d: Derive) -> Result<ArrayRef, String> {
    let rows = batch.num_rows();
    let col = |n: &str| batch.column_by_name(n);
    match d {
        Derive::Null(k) => Ok(new_null_array(
            &match k {
                NullKind::Text => DataType::Utf8,
                NullKind::Int => DataType::Int64,
                NullKind::Time => ts_type(),
            },
            rows,
        )),
        Derive::Text(n) => cast(col(n), &DataType::Utf8, rows),
        Derive::Int(n) => cast(col(n), &DataType::Int64, rows),
        Derive::Time(n) => cast(col(n), &ts_type(), rows),
        Derive::Outbound(n) => {
            let b = cast(col(n), &DataType::Boolean, rows)?;
            let b = b.as_boolean();
            let out: arrow_array::StringArray = b
                .iter()
                .map(|v| v.map(|o| if o { "outbound" } else { "inbound" }))
                .collect();
            Ok(Arc::new(out))
        }
        Derive::Direction(n) => map_text(col(n), rows, |s| s.trim().to_ascii_lowercase()),
        Derive::Medium(n) => map_text(col(n), rows, medium_of),
        Derive::StartPlusSeconds(s, secs) => {
            let start = cast(col(s), &ts_type(), rows)?;
            let start = start.as_primitive::<TimestampMillisecondType>();
            let dur = cast(col(secs), &DataType::Int64, rows)?;
            let dur = dur.as_primitive::<Int64Type>();
            let end: TimestampMillisecondArray = (0..rows)
                .map(|i| {
                    (start.is_valid(i) && dur.is_valid(i))
                        .then(|| start.value(i).checked_add(dur.value(i).checked_mul(1000)?))
                        .flatten()
                })
                .collect();
            Ok(Arc::new(end.with_timezone("UTC")))
        }
    }
}

/// Projects a native batch.
///
/// # Errors
/// A native column whose values cannot be cast (text that is not a number, say).
pub fn apply(
    p: Projection,
    schema: &SchemaRef,
    batch: &RecordBatch,
) -> Result<RecordBatch, String> {
    let cols = p
        .iter()
        .map(|(name, d)| derive(batch, *d).map_err(|e| format!("column `{name}`: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{MappedDecoder, native};

    #[test]
    fn completed_contacts_as_interactions() {
        let d = MappedDecoder::new(native::completed_contacts(), false);
        let page = d
            .decode_json(
                br#"{"completedContacts":[
                {"contactId":501,"isOutbound":false,"mediaTypeName":"Phone Call","contactStartDate":"2023-01-01T10:00:00.000Z","totalDurationSeconds":95,"agentId":7,"skillId":12,"holdSeconds":5,"acwSeconds":30,"agentSeconds":90,"lastUpdateTime":"2023-01-01T10:05:00.000Z"},
                {"contactId":502,"isOutbound":true,"mediaTypeName":"Work Item"}]}"#,
                "completedContacts",
            )
            .unwrap();
        let s = schema(FROM_COMPLETED_CONTACTS);
        let b = apply(FROM_COMPLETED_CONTACTS, &s, &page.batch.unwrap()).unwrap();
        let text = |c: &str, r: usize| {
            b.column_by_name(c)
                .unwrap()
                .as_string::<i32>()
                .value(r)
                .to_string()
        };
        assert_eq!(text("id", 0), "501");
        assert_eq!(text("direction", 0), "inbound");
        assert_eq!(text("direction", 1), "outbound");
        assert_eq!(text("medium", 0), "voice");
        assert_eq!(text("agentId", 0), "7");
        assert_eq!(text("queueId", 0), "12");
        let ts = |c: &str| {
            b.column_by_name(c)
                .unwrap()
                .as_primitive::<TimestampMillisecondType>()
                .clone()
        };
        assert_eq!(ts("endTime").value(0) - ts("startTime").value(0), 95_000);
        assert!(ts("endTime").is_null(1), "no start, no end");
        let talk = b
            .column_by_name("talkTime")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(talk.value(0), 90);
        assert_eq!(medium_of("digital"), "social");
        assert_eq!(medium_of("Fax"), "fax");
    }
}

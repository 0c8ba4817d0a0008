//! Declared field mapping from the real APIs' records to Arrow columns.
//!
//! Each [`FieldMapping`] names the wire names a field has had (across API versions,
//! and the display names of CSV headers), the output column and its Arrow type. Values
//! are coerced: numbers and booleans that arrive as strings are parsed, numbers become
//! text for Utf8 columns, and `values` renames enumerations (`true` → `outbound`). A new
//! API version that renames a field is a config change: add its name to `from`.
//!
//! JSON pages are decoded with a serde visitor straight into Arrow builders: no
//! `serde_json::Value` per record; unknown fields are skipped with `IgnoredAny`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDateTime, Utc};
use schemars::JsonSchema;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::{ApiDialect, ConfigProblem};

/// Arrow type of a mapped column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MappedType {
    /// Text (numbers and booleans become their text).
    Utf8,
    /// 64-bit integer (strings are parsed).
    Int64,
    /// 64-bit float (strings are parsed).
    Float64,
    /// Boolean (`true`/`false`/`1`/`0`, also as strings).
    Bool,
    /// Timestamp in ms, UTC (RFC 3339 text, or epoch ms).
    Timestamp,
}

/// One output column and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct FieldMapping {
    /// Wire names, first match wins: the current name, older names, CSV display names.
    /// Example: `[contactStartDate, contactStart, "Start Date"]`.
    pub from: Vec<String>,
    /// Output column. Example: `startTime`.
    pub to: String,
    /// Arrow type: `utf8`, `int64`, `float64`, `bool` or `timestamp`. Default: `utf8`.
    #[serde(rename = "type", default = "default_type")]
    pub ty: MappedType,
    /// Utf8 only: replaces whole values (after turning numbers/booleans into text).
    /// Example: `{"true": outbound, "false": inbound}`.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

fn default_type() -> MappedType {
    MappedType::Utf8
}

fn m(from: &[&str], to: &str, ty: MappedType, values: &[(&str, &str)]) -> FieldMapping {
    FieldMapping {
        from: from.iter().map(|s| s.to_string()).collect(),
        to: to.to_string(),
        ty,
        values: values
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    }
}

const MEDIA: [(&str, &str); 10] = [
    ("Phone Call", "voice"),
    ("Call", "voice"),
    ("Voice", "voice"),
    ("Chat", "chat"),
    ("Email", "email"),
    ("SMS", "sms"),
    ("Social", "social"),
    ("Work Item", "social"),
    ("Voice Mail", "voice"),
    ("Digital", "social"),
];

/// The built-in mapping of a dialect onto the interaction schema (`id`, `direction`,
/// `medium`, `startTime`, `endTime`, `agentId`, `queueId`, `holdTime`, `wrapTime`,
/// `talkTime`) plus `lastUpdateTime` and a few real-API columns.
pub fn default_mapping(api: ApiDialect) -> Vec<FieldMapping> {
    use MappedType::*;
    match api {
        ApiDialect::DataExtraction => vec![
            m(&["ACD Call ID", "acdCallId", "contactId"], "id", Utf8, &[]),
            m(
                &["Direction", "direction"],
                "direction",
                Utf8,
                &[("Inbound", "inbound"), ("Outbound", "outbound")],
            ),
            m(&["Media Type", "mediaType"], "medium", Utf8, &MEDIA),
            m(&["Start Date", "startDate"], "startTime", Utf8, &[]),
            m(&["End Date", "endDate"], "endTime", Utf8, &[]),
            m(&["Agent ID", "agentId"], "agentId", Utf8, &[]),
            m(&["Skill ID", "skillId"], "queueId", Utf8, &[]),
            m(&["Hold Seconds", "holdSeconds"], "holdTime", Int64, &[]),
            m(&["ACW Seconds", "acwSeconds"], "wrapTime", Int64, &[]),
            m(&["Talk Seconds", "talkSeconds"], "talkTime", Int64, &[]),
            m(
                &["Last Update Time", "lastUpdateTime"],
                "lastUpdateTime",
                Utf8,
                &[],
            ),
            m(
                &["Master Contact ID", "masterContactId"],
                "masterContactId",
                Int64,
                &[],
            ),
            m(&["From Address", "fromAddress"], "fromAddress", Utf8, &[]),
        ],
        _ => vec![
            m(&["contactId", "contactID"], "id", Utf8, &[]),
            m(
                &["isOutbound"],
                "direction",
                Utf8,
                &[("true", "outbound"), ("false", "inbound")],
            ),
            m(&["mediaTypeName", "mediaType"], "medium", Utf8, &MEDIA),
            m(
                &["contactStartDate", "contactStart"],
                "startTime",
                Utf8,
                &[],
            ),
            m(&["contactEndDate", "contactEnd"], "endTime", Utf8, &[]),
            m(&["agentId", "agentID"], "agentId", Utf8, &[]),
            m(&["skillId", "skillID"], "queueId", Utf8, &[]),
            m(&["holdSeconds", "HoldSeconds"], "holdTime", Int64, &[]),
            m(&["acwSeconds", "ACWSeconds"], "wrapTime", Int64, &[]),
            m(&["agentSeconds", "AgentSeconds"], "talkTime", Int64, &[]),
            m(&["lastUpdateTime"], "lastUpdateTime", Utf8, &[]),
            m(
                &["masterContactId", "masterContactID"],
                "masterContactId",
                Int64,
                &[],
            ),
            m(&["fromAddress", "fromAddr"], "fromAddress", Utf8, &[]),
            m(&["abandoned"], "abandoned", Bool, &[]),
        ],
    }
}

/// Checks a configured mapping; problems are keyed `mapping[i]...`.
pub fn validate(mapping: &[FieldMapping], p: &mut Vec<ConfigProblem>) {
    if mapping.is_empty() {
        p.push(ConfigProblem::new(
            "mapping",
            "empty: map at least one field, or remove `mapping` for the default",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, f) in mapping.iter().enumerate() {
        if f.from.is_empty() || f.from.iter().any(|s| s.is_empty()) {
            p.push(ConfigProblem::new(
                format!("mapping[{i}].from"),
                "list at least one non-empty wire name",
            ));
        }
        if f.to.trim().is_empty() {
            p.push(ConfigProblem::new(
                format!("mapping[{i}].to"),
                "empty column name",
            ));
        } else if !seen.insert(f.to.as_str()) {
            p.push(ConfigProblem::new(
                format!("mapping[{i}].to"),
                format!("column `{}` is mapped twice", f.to),
            ));
        }
        if !f.values.is_empty() && f.ty != MappedType::Utf8 {
            p.push(ConfigProblem::new(
                format!("mapping[{i}].values"),
                "only utf8 columns can rename values",
            ));
        }
    }
}

/// The Arrow schema of a mapping.
pub fn schema_of(mapping: &[FieldMapping]) -> SchemaRef {
    Arc::new(Schema::new(
        mapping
            .iter()
            .map(|f| {
                let dt = match f.ty {
                    MappedType::Utf8 => DataType::Utf8,
                    MappedType::Int64 => DataType::Int64,
                    MappedType::Float64 => DataType::Float64,
                    MappedType::Bool => DataType::Boolean,
                    MappedType::Timestamp => {
                        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
                    }
                };
                Field::new(&f.to, dt, true)
            })
            .collect::<Vec<_>>(),
    ))
}

/// One scalar of a record.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer beyond `i64`.
    U64(u64),
    /// A float.
    F64(f64),
    /// Text.
    Str(String),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar (string, number, boolean or null)")
            }
            fn visit_unit<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E>(self) -> Result<Scalar, E> {
                Ok(Scalar::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::I64(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(i64::try_from(v).map_or(Scalar::U64(v), Scalar::I64))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar::F64(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar::Str(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses RFC 3339 (or `YYYY-MM-DD HH:MM:SS[.fff]`, taken as UTC) into epoch ms.
pub fn parse_time_ms(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(d.timestamp_millis());
    }
    [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%m/%d/%Y %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
    .map(|n| n.and_utc().timestamp_millis())
}

enum Builder {
    Utf8(StringBuilder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Bool(BooleanBuilder),
    Ts(TimestampMillisecondBuilder),
}

impl Builder {
    fn new(ty: MappedType) -> Self {
        match ty {
            MappedType::Utf8 => Builder::Utf8(StringBuilder::new()),
            MappedType::Int64 => Builder::Int64(Int64Builder::new()),
            MappedType::Float64 => Builder::Float64(Float64Builder::new()),
            MappedType::Bool => Builder::Bool(BooleanBuilder::new()),
            MappedType::Timestamp => {
                Builder::Ts(TimestampMillisecondBuilder::new().with_timezone("UTC"))
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Utf8(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Ts(b) => Arc::new(b.finish()),
        }
    }

    /// Appends `v` coerced to the column's type.
    fn append(&mut self, v: &Scalar, values: &BTreeMap<String, String>) -> Result<(), String> {
        let bad = |what: &str| Err(format!("{v:?} is not {what}"));
        match self {
            Builder::Utf8(b) => {
                let text = match v {
                    Scalar::Null => {
                        b.append_null();
                        return Ok(());
                    }
                    Scalar::Bool(x) => x.to_string(),
                    Scalar::I64(x) => x.to_string(),
                    Scalar::U64(x) => x.to_string(),
                    Scalar::F64(x) => x.to_string(),
                    Scalar::Str(s) => s.clone(),
                };
                match values.get(&text) {
                    Some(r) => b.append_value(r),
                    None => b.append_value(text),
                }
            }
            Builder::Int64(b) => match v {
                Scalar::Null => b.append_null(),
                Scalar::I64(x) => b.append_value(*x),
                Scalar::F64(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => b.append_value(*x as i64),
                Scalar::Str(s) if s.trim().is_empty() => b.append_null(),
                Scalar::Str(s) => match s.trim().parse::<i64>() {
                    Ok(x) => b.append_value(x),
                    Err(_) => return bad("an integer"),
                },
                _ => return bad("an integer"),
            },
            Builder::Float64(b) => match v {
                Scalar::Null => b.append_null(),
                Scalar::I64(x) => b.append_value(*x as f64),
                Scalar::U64(x) => b.append_value(*x as f64),
                Scalar::F64(x) => b.append_value(*x),
                Scalar::Str(s) if s.trim().is_empty() => b.append_null(),
                Scalar::Str(s) => match s.trim().parse::<f64>() {
                    Ok(x) => b.append_value(x),
                    Err(_) => return bad("a number"),
                },
                Scalar::Bool(_) => return bad("a number"),
            },
            Builder::Bool(b) => match v {
                Scalar::Null => b.append_null(),
                Scalar::Bool(x) => b.append_value(*x),
                Scalar::I64(0) => b.append_value(false),
                Scalar::I64(1) => b.append_value(true),
                Scalar::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => b.append_value(true),
                    "false" | "0" | "no" => b.append_value(false),
                    "" => b.append_null(),
                    _ => return bad("a boolean"),
                },
                _ => return bad("a boolean"),
            },
            Builder::Ts(b) => match v {
                Scalar::Null => b.append_null(),
                Scalar::I64(x) => b.append_value(*x),
                Scalar::Str(s) if s.trim().is_empty() => b.append_null(),
                Scalar::Str(s) => match parse_time_ms(s) {
                    Some(x) => b.append_value(x),
                    None => return bad("a timestamp (RFC 3339)"),
                },
                _ => return bad("a timestamp"),
            },
        }
        Ok(())
    }
}

/// A decoded page of a real API.
#[derive(Debug)]
pub struct MappedPage {
    /// The records (None when the page held none).
    pub batch: Option<RecordBatch>,
    /// Records in the page.
    pub records: u64,
    /// The largest bookmark field value seen, in epoch ms.
    pub bookmark_ms: Option<i64>,
}

/// Decodes records of a real API into the mapping's columns.
#[derive(Debug, Clone)]
pub struct MappedDecoder {
    mapping: Vec<FieldMapping>,
    schema: SchemaRef,
    /// Wire name → (column, priority within `from`).
    index: HashMap<String, (usize, usize)>,
    bookmark_field: String,
}

impl MappedDecoder {
    /// A decoder for `mapping`; `bookmark_field` is tracked for incremental reads.
    pub fn new(mapping: Vec<FieldMapping>, bookmark_field: &str) -> Self {
        let mut index = HashMap::new();
        for (col, f) in mapping.iter().enumerate() {
            for (prio, name) in f.from.iter().enumerate() {
                index.entry(name.clone()).or_insert((col, prio));
            }
        }
        Self {
            schema: schema_of(&mapping),
            mapping,
            index,
            bookmark_field: bookmark_field.to_string(),
        }
    }

    /// The output schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Decodes a Reporting API page: the array under `records_key` of a JSON object.
    ///
    /// # Errors
    /// Malformed JSON, a missing array, or a value its column type cannot hold (named
    /// with record number and field).
    pub fn decode_json(&self, body: &[u8], records_key: &str) -> Result<MappedPage, String> {
        let mut st = JsonState {
            dec: self,
            builders: self.mapping.iter().map(|f| Builder::new(f.ty)).collect(),
            row: vec![None; self.mapping.len()],
            records: 0,
            bookmark_ms: None,
            found: false,
            key: records_key,
        };
        let mut de = serde_json::Deserializer::from_slice(body);
        PageSeed(&mut st)
            .deserialize(&mut de)
            .map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        if !st.found {
            return Err(format!("the page has no `{records_key}` array"));
        }
        let records = st.records;
        let bookmark_ms = st.bookmark_ms;
        let batch = st.finish(&self.schema)?;
        Ok(MappedPage {
            batch,
            records,
            bookmark_ms,
        })
    }

    /// Maps a batch of Utf8 columns named by CSV headers (display names) onto the
    /// mapping's columns.
    ///
    /// # Errors
    /// A value its column type cannot hold, named with row and header.
    pub fn map_csv(&self, raw: &RecordBatch) -> Result<MappedPage, String> {
        let headers = raw.schema();
        let mut cols = Vec::with_capacity(self.mapping.len());
        let mut bookmark_ms = None;
        let bookmark_col = headers.index_of(&self.bookmark_field).ok().or_else(|| {
            self.mapping
                .iter()
                .find(|f| f.to == self.bookmark_field)
                .and_then(|f| f.from.iter().find_map(|n| headers.index_of(n).ok()))
        });
        for f in &self.mapping {
            let src = f.from.iter().find_map(|n| headers.index_of(n).ok());
            let mut b = Builder::new(f.ty);
            match src.and_then(|i| raw.column(i).as_string_opt::<i32>()) {
                Some(arr) => {
                    for (row, v) in arr.iter().enumerate() {
                        let s = v.map_or(Scalar::Null, |x| Scalar::Str(x.to_string()));
                        b.append(&s, &f.values)
                            .map_err(|e| format!("row {}, column `{}`: {e}", row + 1, f.to))?;
                    }
                }
                None => {
                    for _ in 0..raw.num_rows() {
                        b.append(&Scalar::Null, &f.values)?;
                    }
                }
            }
            cols.push(b.finish());
        }
        if let Some(arr) = bookmark_col.and_then(|i| raw.column(i).as_string_opt::<i32>()) {
            bookmark_ms = arr.iter().flatten().filter_map(parse_time_ms).max();
        }
        let batch = RecordBatch::try_new(self.schema.clone(), cols).map_err(|e| e.to_string())?;
        Ok(MappedPage {
            records: batch.num_rows() as u64,
            batch: Some(batch).filter(|b| b.num_rows() > 0),
            bookmark_ms,
        })
    }
}

struct JsonState<'a> {
    dec: &'a MappedDecoder,
    builders: Vec<Builder>,
    row: Vec<Option<(usize, Scalar)>>,
    records: u64,
    bookmark_ms: Option<i64>,
    found: bool,
    key: &'a str,
}

impl JsonState<'_> {
    fn finish(mut self, schema: &SchemaRef) -> Result<Option<RecordBatch>, String> {
        if self.records == 0 {
            return Ok(None);
        }
        let cols = self.builders.iter_mut().map(Builder::finish).collect();
        RecordBatch::try_new(schema.clone(), cols)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn end_record(&mut self) -> Result<(), String> {
        self.records += 1;
        for (col, slot) in self.row.iter_mut().enumerate() {
            let v = slot.take().map(|(_, v)| v).unwrap_or(Scalar::Null);
            let (Some(b), Some(f)) = (self.builders.get_mut(col), self.dec.mapping.get(col)) else {
                continue;
            };
            b.append(&v, &f.values)
                .map_err(|e| format!("record {}, column `{}`: {e}", self.records, f.to))?;
        }
        Ok(())
    }
}

struct PageSeed<'a, 'b>(&'a mut JsonState<'b>);

impl<'de> DeserializeSeed<'de> for PageSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<String>()? {
            if k == self.0.key {
                self.0.found = true;
                map.next_value_seed(RecordsSeed(&mut *self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct RecordsSeed<'a, 'b>(&'a mut JsonState<'b>);

impl<'de> DeserializeSeed<'de> for RecordsSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(RecordSeed(&mut *self.0))?.is_some() {
            self.0.end_record().map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

struct RecordSeed<'a, 'b>(&'a mut JsonState<'b>);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let st = self.0;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let is_bookmark = k == st.dec.bookmark_field;
            match st.dec.index.get(k.as_ref()).copied() {
                Some((col, prio)) => {
                    let v: Scalar = map.next_value()?;
                    if is_bookmark && let Scalar::Str(s) = &v {
                        let t = parse_time_ms(s);
                        st.bookmark_ms = st.bookmark_ms.max(t);
                    }
                    if let Some(slot) = st.row.get_mut(col) {
                        let better = match slot {
                            None => true,
                            Some((p, old)) => {
                                v != Scalar::Null && (*old == Scalar::Null || prio < *p)
                            }
                        };
                        if better {
                            *slot = Some((prio, v));
                        }
                    }
                }
                None if is_bookmark => {
                    if let Scalar::Str(s) = map.next_value::<Scalar>()? {
                        st.bookmark_ms = st.bookmark_ms.max(parse_time_ms(&s));
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Epoch ms as `2023-01-01T00:00:00.000Z`.
pub fn format_ms(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    #[test]
    fn old_names_and_string_numbers_map_to_the_same_columns() {
        let d = MappedDecoder::new(default_mapping(ApiDialect::Reporting), "lastUpdateTime");
        let new = br#"{"totalRecords":1,"completedContacts":[{"contactId":202301010000001,"isOutbound":true,"mediaTypeName":"Chat","contactStartDate":"2023-01-01T00:00:01.000Z","acwSeconds":7,"lastUpdateTime":"2023-01-01T00:10:00.000Z","tags":["a"]}]}"#;
        let old = br#"{"completedContacts":[{"contactId":"202301010000001","isOutbound":"true","mediaTypeName":"Chat","contactStart":"2023-01-01T00:00:01.000Z","ACWSeconds":"7","lastUpdateTime":"2023-01-01T00:10:00.000Z"}]}"#;
        for body in [&new[..], &old[..]] {
            let p = d.decode_json(body, "completedContacts").unwrap();
            let b = p.batch.unwrap();
            assert_eq!(
                b.column_by_name("id").unwrap().as_string::<i32>().value(0),
                "202301010000001"
            );
            assert_eq!(
                b.column_by_name("direction")
                    .unwrap()
                    .as_string::<i32>()
                    .value(0),
                "outbound"
            );
            assert_eq!(
                b.column_by_name("medium")
                    .unwrap()
                    .as_string::<i32>()
                    .value(0),
                "chat"
            );
            assert_eq!(
                b.column_by_name("startTime")
                    .unwrap()
                    .as_string::<i32>()
                    .value(0),
                "2023-01-01T00:00:01.000Z"
            );
            let wrap = b
                .column_by_name("wrapTime")
                .unwrap()
                .as_primitive::<arrow_array::types::Int64Type>();
            assert_eq!(wrap.value(0), 7);
            assert!(b.column_by_name("endTime").unwrap().is_null(0));
            assert_eq!(p.bookmark_ms, parse_time_ms("2023-01-01T00:10:00Z"));
        }
    }

    #[test]
    fn typed_columns_and_errors() {
        let mapping = vec![
            m(&["t"], "t", MappedType::Timestamp, &[]),
            m(&["f"], "f", MappedType::Float64, &[]),
            m(&["b"], "b", MappedType::Bool, &[]),
        ];
        let d = MappedDecoder::new(mapping, "t");
        let p = d
            .decode_json(
                br#"{"r":[{"t":"2023-01-01T00:00:00Z","f":"1.5","b":"0"},{"t":null}]}"#,
                "r",
            )
            .unwrap();
        let b = p.batch.unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(
            b.column(0)
                .as_primitive::<arrow_array::types::TimestampMillisecondType>()
                .value(0),
            1_672_531_200_000
        );
        assert_eq!(
            b.column(1)
                .as_primitive::<arrow_array::types::Float64Type>()
                .value(0),
            1.5
        );
        assert!(!b.column(2).as_boolean().value(0));
        let e = d.decode_json(br#"{"r":[{"f":"abc"}]}"#, "r").unwrap_err();
        assert!(e.contains("record 1") && e.contains("`f`"), "{e}");
        assert!(
            d.decode_json(br#"{"x":[]}"#, "r")
                .unwrap_err()
                .contains("`r`")
        );
    }

    #[test]
    fn mapping_problems_are_keyed() {
        let mut p = Vec::new();
        validate(
            &[
                m(&[], "a", MappedType::Int64, &[("x", "y")]),
                m(&["b"], "a", MappedType::Utf8, &[]),
            ],
            &mut p,
        );
        let keys: Vec<_> = p.iter().map(|x| x.key.as_str()).collect();
        assert_eq!(
            keys,
            vec!["mapping[0].from", "mapping[0].values", "mapping[1].to"]
        );
    }
}

//! Declared field mapping from the real APIs' records to Arrow columns.
//!
//! Each [`FieldMapping`] names the wire names a field has had (across API versions,
//! and the display names of CSV headers), the output column and its Arrow type. Values
//! are coerced: numbers and booleans that arrive as strings are parsed, numbers become
//! text for Utf8 columns, nested values become JSON text, and `values` renames
//! enumerations. A new API version that renames a field is a config change: add its
//! name to `from`.
//!
//! - [`native`]: the built-in schemas, field for field as NICE publishes them (the
//!   default of the real dialects; sources in `docs/cxone.md`).
//! - [`project`]: the optional projection onto the 10-column interaction shape
//!   (`schema: interaction`).
//! - [`decode`]: the decoder (JSON pages through a serde visitor straight into Arrow
//!   builders, CSV batches column by column).

pub mod csv;
pub mod decode;
pub mod native;
pub mod project;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDateTime, Utc};
use schemars::JsonSchema;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::ConfigProblem;

pub use decode::{MappedDecoder, MappedPage};

/// Arrow type of a mapped column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MappedType {
    /// Text (numbers and booleans become their text, nested values their JSON).
    Utf8,
    /// 64-bit integer (strings are parsed).
    Int64,
    /// 64-bit float (strings are parsed).
    Float64,
    /// Boolean (`true`/`false`/`1`/`0`, also as strings).
    Bool,
    /// Timestamp in ms, UTC (RFC 3339 text, `YYYY-MM-DD HH:MM:SS`, `MM/DD/YYYY ...`, or
    /// epoch ms).
    Timestamp,
    /// A nested value (list or object) kept as its compact JSON text, in a Utf8 column.
    Json,
}

impl MappedType {
    /// The Arrow type of a column of this type.
    pub fn data_type(self) -> DataType {
        match self {
            MappedType::Utf8 | MappedType::Json => DataType::Utf8,
            MappedType::Int64 => DataType::Int64,
            MappedType::Float64 => DataType::Float64,
            MappedType::Bool => DataType::Boolean,
            MappedType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        }
    }
}

/// One output column and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct FieldMapping {
    /// Wire names, first match wins: the current name, older names, CSV display names.
    /// Example: `[contactStartDate, contactStart]`.
    pub from: Vec<String>,
    /// Output column. Example: `contactStartDate`.
    pub to: String,
    /// Arrow type: `utf8`, `int64`, `float64`, `bool`, `timestamp` or `json`.
    /// Default: `utf8`.
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

impl FieldMapping {
    /// A column named `to`, read from the wire names `from` (first wins).
    pub fn new(from: &[&str], to: &str, ty: MappedType) -> Self {
        FieldMapping {
            from: from.iter().map(|s| (*s).to_string()).collect(),
            to: to.to_string(),
            ty,
            values: BTreeMap::new(),
        }
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
        } else if f.to == crate::config::EXTRA_COLUMN {
            p.push(ConfigProblem::new(
                format!("mapping[{i}].to"),
                format!(
                    "`{}` is reserved for the fields no mapping names",
                    crate::config::EXTRA_COLUMN
                ),
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

/// The Arrow schema of a mapping (plus `_extra` when unknown fields are kept).
pub fn schema_of(mapping: &[FieldMapping], keep_extra: bool) -> SchemaRef {
    let mut fields: Vec<Field> = mapping
        .iter()
        .map(|f| Field::new(&f.to, f.ty.data_type(), true))
        .collect();
    if keep_extra {
        fields.push(Field::new(
            crate::config::EXTRA_COLUMN,
            DataType::Utf8,
            true,
        ));
    }
    Arc::new(Schema::new(fields))
}

/// One value of a record.
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
    /// A list or an object, as compact JSON text.
    Nested(String),
}

impl Scalar {
    /// The value as JSON (for `_extra`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Scalar::Null => serde_json::Value::Null,
            Scalar::Bool(b) => (*b).into(),
            Scalar::I64(x) => (*x).into(),
            Scalar::U64(x) => (*x).into(),
            Scalar::F64(x) => serde_json::Number::from_f64(*x)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Scalar::Str(s) => s.clone().into(),
            Scalar::Nested(s) => serde_json::from_str(s).unwrap_or_else(|_| s.clone().into()),
        }
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
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
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Scalar, A::Error> {
                let v = serde_json::Value::deserialize(
                    serde::de::value::SeqAccessDeserializer::new(seq),
                )?;
                Ok(Scalar::Nested(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Scalar, A::Error> {
                let v = serde_json::Value::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(Scalar::Nested(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// RFC 3339 text (`Z` through the SDK's fast path, any offset through chrono) as epoch ms.
pub(crate) fn rfc3339_ms(s: &str) -> Option<i64> {
    tributary_plugin_sdk::time::parse_utc_millis(s).or_else(|| {
        DateTime::parse_from_rfc3339(s.trim())
            .ok()
            .map(|d| d.timestamp_millis())
    })
}

/// Parses a CXone time into epoch ms. Accepted: RFC 3339 (`Z` or an offset), and without
/// an offset (taken as UTC, which is what the APIs document): `YYYY-MM-DDTHH:MM:SS[.f]`,
/// `YYYY-MM-DD HH:MM:SS[.f]`, `MM/DD/YYYY HH:MM:SS[ AM|PM]`, and a bare `YYYY-MM-DD`.
pub fn parse_time_ms(s: &str) -> Option<i64> {
    let t = s.trim();
    if let Some(ms) = rfc3339_ms(t) {
        return Some(ms);
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y %H:%M:%S%.f",
        "%m/%d/%Y %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok());
    if let Some(n) = naive {
        return Some(n.and_utc().timestamp_millis());
    }
    chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc().timestamp_millis())
}

/// The decoder of a real dialect's records (`None` for the analytics export): the
/// configured `mapping`, else the native one.
pub fn decoder_for(cfg: &crate::config::CxoneConfig) -> Option<MappedDecoder> {
    use crate::config::ApiDialect;
    let mapping = match (&cfg.mapping, cfg.api) {
        (_, ApiDialect::AnalyticsExport) => return None,
        (Some(m), _) => m.clone(),
        (None, ApiDialect::Reporting) => native::completed_contacts(),
        (None, ApiDialect::DataExtraction) => {
            native::extraction(&cfg.data_extraction.entity).unwrap_or_default()
        }
    };
    Some(MappedDecoder::new(mapping, cfg.keep_extra_fields))
}

/// The projection of `schema: interaction`, if configured.
pub fn projection_for(cfg: &crate::config::CxoneConfig) -> Option<project::Projection> {
    use crate::config::{ApiDialect, RecordShape};
    match (cfg.schema, cfg.api) {
        (RecordShape::Native, _) | (_, ApiDialect::AnalyticsExport) => None,
        (RecordShape::Interaction, ApiDialect::Reporting) => Some(project::FROM_COMPLETED_CONTACTS),
        (RecordShape::Interaction, ApiDialect::DataExtraction) => {
            Some(project::FROM_RECORDING_METADATA)
        }
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

    #[test]
    fn mapping_problems_are_keyed() {
        let mut a = FieldMapping::new(&[], "a", MappedType::Int64);
        a.values.insert("x".into(), "y".into());
        let mut p = Vec::new();
        validate(
            &[
                a,
                FieldMapping::new(&["b"], "a", MappedType::Utf8),
                FieldMapping::new(&["c"], "_extra", MappedType::Utf8),
            ],
            &mut p,
        );
        let keys: Vec<_> = p.iter().map(|x| x.key.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "mapping[0].from",
                "mapping[0].values",
                "mapping[1].to",
                "mapping[2].to"
            ]
        );
    }

    #[test]
    fn times_in_every_published_shape() {
        let want = Some(1_672_574_645_000);
        for s in [
            "2023-01-01T12:04:05Z",
            "2023-01-01T12:04:05.000Z",
            "2023-01-01T12:04:05+00:00",
            "2023-01-01T07:04:05-05:00",
            "2023-01-01T12:04:05",
            "2023-01-01 12:04:05.000",
            "01/01/2023 12:04:05 PM",
            "01/01/2023 12:04:05",
        ] {
            assert_eq!(parse_time_ms(s), want, "{s}");
        }
        assert_eq!(parse_time_ms("2023-01-01"), Some(1_672_531_200_000));
        assert_eq!(parse_time_ms("yesterday"), None);
        assert_eq!(format_ms(1_672_574_645_000), "2023-01-01T12:04:05.000Z");
    }
}

//! The mapped decoder: records of the real APIs into the mapping's Arrow columns.
//!
//! JSON pages go through a serde visitor straight into Arrow builders (no
//! `serde_json::Value` per record). CSV batches (all Utf8, named by their headers) are
//! mapped column by column.
//!
//! Tolerance, per the published schemas being silent on malformed values: a value its
//! column cannot hold (`"abc"` for an integer) becomes null in that column, is counted
//! (`bad_values`, with the first one described for the log) and is kept verbatim in
//! `_extra` when `keep_extra_fields` is on; the record is not dropped. Fields no mapping
//! names are counted (`extra_fields`) and kept in `_extra` when asked.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::{FieldMapping, MappedType, Scalar, parse_time_ms, schema_of};

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
            MappedType::Utf8 | MappedType::Json => Builder::Utf8(StringBuilder::new()),
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

    fn append_null(&mut self) {
        match self {
            Builder::Utf8(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Bool(b) => b.append_null(),
            Builder::Ts(b) => b.append_null(),
        }
    }

    /// Appends `v` coerced to the column's type; `Err` (nothing appended) when it
    /// cannot be, saying what was expected.
    fn append(
        &mut self,
        v: &Scalar,
        values: &BTreeMap<String, String>,
    ) -> Result<(), &'static str> {
        if *v == Scalar::Null {
            self.append_null();
            return Ok(());
        }
        match self {
            Builder::Utf8(b) => {
                let text = match v {
                    Scalar::Bool(x) => x.to_string(),
                    Scalar::I64(x) => x.to_string(),
                    Scalar::U64(x) => x.to_string(),
                    Scalar::F64(x) => x.to_string(),
                    Scalar::Str(s) | Scalar::Nested(s) => s.clone(),
                    Scalar::Null => String::new(),
                };
                match values.get(&text) {
                    Some(r) => b.append_value(r),
                    None => b.append_value(text),
                }
            }
            Builder::Int64(b) => match v {
                Scalar::I64(x) => b.append_value(*x),
                Scalar::F64(x) if x.fract() == 0.0 && x.abs() < 9.0e15 => b.append_value(*x as i64),
                Scalar::Str(s) if s.trim().is_empty() => b.append_null(),
                Scalar::Str(s) => match s.trim().parse::<i64>() {
                    Ok(x) => b.append_value(x),
                    Err(_) => return Err("an integer"),
                },
                _ => return Err("an integer"),
            },
            Builder::Float64(b) => match v {
                Scalar::I64(x) => b.append_value(*x as f64),
                Scalar::U64(x) => b.append_value(*x as f64),
                Scalar::F64(x) => b.append_value(*x),
                Scalar::Str(s) if s.trim().is_empty() => b.append_null(),
                Scalar::Str(s) => match s.trim().parse::<f64>() {
                    Ok(x) => b.append_value(x),
                    Err(_) => return Err("a number"),
                },
                _ => return Err("a number"),
            },
            Builder::Bool(b) => match v {
                Scalar::Bool(x) => b.append_value(*x),
                Scalar::I64(0) => b.append_value(false),
                Scalar::I64(1) => b.append_value(true),
                Scalar::Str(s) => match s.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" | "y" => b.append_value(true),
                    "false" | "0" | "no" | "n" => b.append_value(false),
                    "" => b.append_null(),
                    _ => return Err("a boolean"),
                },
                _ => return Err("a boolean"),
            },
            Builder::Ts(b) => match v {
                Scalar::I64(x) => b.append_value(*x),
                Scalar::Str(s) if s.trim().is_empty() => b.append_null(),
                Scalar::Str(s) => match parse_time_ms(s) {
                    Some(x) => b.append_value(x),
                    None => return Err("a timestamp"),
                },
                _ => return Err("a timestamp"),
            },
        }
        Ok(())
    }
}

/// A decoded page of a real API.
#[derive(Debug, Default)]
pub struct MappedPage {
    /// The records (None when the page held none).
    pub batch: Option<RecordBatch>,
    /// Records in the page.
    pub records: u64,
    /// Fields of the records that no mapping names (counted per record and field).
    pub extra_fields: u64,
    /// Values their column's type cannot hold (landed as null; see the module docs).
    pub bad_values: u64,
    /// The first such value, described (record, field, what was expected).
    pub first_bad_value: Option<String>,
    /// The envelope's `totalRecords` (JSON pages).
    pub total_records: Option<u64>,
    /// The envelope's `_links.next`: `None` when absent, `Some(None)` when null.
    pub next_link: Option<Option<String>>,
}

/// Decodes records of a real API into the mapping's columns.
#[derive(Debug, Clone)]
pub struct MappedDecoder {
    mapping: Vec<FieldMapping>,
    schema: SchemaRef,
    /// Wire name → (column, priority within `from`).
    index: HashMap<String, (usize, usize)>,
    keep_extra: bool,
}

/// Collects the columns of one page (JSON) or batch (CSV).
struct Sink<'a> {
    dec: &'a MappedDecoder,
    builders: Vec<Builder>,
    extra: Option<StringBuilder>,
    page: MappedPage,
}

impl<'a> Sink<'a> {
    fn new(dec: &'a MappedDecoder) -> Self {
        Sink {
            dec,
            builders: dec.mapping.iter().map(|f| Builder::new(f.ty)).collect(),
            extra: dec.keep_extra.then(StringBuilder::new),
            page: MappedPage::default(),
        }
    }

    /// Appends `v` to column `col`; a value the column cannot hold lands as null and
    /// goes to `extra` under `wire`.
    fn put(
        &mut self,
        col: usize,
        v: &Scalar,
        wire: &str,
        extra: &mut serde_json::Map<String, serde_json::Value>,
    ) {
        let (Some(b), Some(f)) = (self.builders.get_mut(col), self.dec.mapping.get(col)) else {
            return;
        };
        if let Err(want) = b.append(v, &f.values) {
            b.append_null();
            self.page.bad_values += 1;
            if self.page.first_bad_value.is_none() {
                let mut shown = format!("{v:?}");
                if shown.len() > 80 {
                    let cut = (0..=80)
                        .rev()
                        .find(|i| shown.is_char_boundary(*i))
                        .unwrap_or(0);
                    shown.truncate(cut);
                    shown.push('…');
                }
                self.page.first_bad_value = Some(format!(
                    "record {}, field `{wire}` (column `{}`): {shown} is not {want}; landed as null",
                    self.page.records, f.to
                ));
            }
            if self.extra.is_some() {
                extra.insert(wire.to_string(), v.to_json());
            }
        }
    }

    fn end_extra(&mut self, extra: serde_json::Map<String, serde_json::Value>) {
        if let Some(b) = &mut self.extra {
            if extra.is_empty() {
                b.append_null();
            } else {
                b.append_value(serde_json::Value::Object(extra).to_string());
            }
        }
    }

    fn finish(mut self) -> Result<MappedPage, String> {
        if self.page.records > 0 {
            let mut cols: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
            if let Some(b) = &mut self.extra {
                cols.push(Arc::new(b.finish()));
            }
            let batch =
                RecordBatch::try_new(self.dec.schema.clone(), cols).map_err(|e| e.to_string())?;
            self.page.batch = Some(batch);
        }
        Ok(self.page)
    }
}

impl MappedDecoder {
    /// A decoder for `mapping`; `keep_extra` adds the `_extra` column (JSON object of
    /// the fields no mapping names, and of values their column cannot hold).
    pub fn new(mapping: Vec<FieldMapping>, keep_extra: bool) -> Self {
        let mut index = HashMap::new();
        for (col, f) in mapping.iter().enumerate() {
            for (prio, name) in f.from.iter().enumerate() {
                index.entry(name.clone()).or_insert((col, prio));
            }
        }
        Self {
            schema: schema_of(&mapping, keep_extra),
            mapping,
            index,
            keep_extra,
        }
    }

    /// The output schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The mapping decoded.
    pub fn mapping(&self) -> &[FieldMapping] {
        &self.mapping
    }

    /// Decodes a Reporting API page: the array under `records_key` of a JSON object,
    /// with the envelope's `totalRecords` and `_links.next`.
    ///
    /// # Errors
    /// Malformed JSON or a missing array.
    pub fn decode_json(&self, body: &[u8], records_key: &str) -> Result<MappedPage, String> {
        let mut st = JsonState {
            sink: Sink::new(self),
            row: vec![None; self.mapping.len()],
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
        st.sink.finish()
    }

    /// Maps a batch of Utf8 columns named by CSV headers (display names) onto the
    /// mapping's columns.
    ///
    /// # Errors
    /// Only when Arrow refuses the assembled batch.
    pub fn map_csv(&self, raw: &RecordBatch) -> Result<MappedPage, String> {
        let headers = raw.schema();
        let mut sink = Sink::new(self);
        // Per column: the header index and its wire name.
        let sources: Vec<Option<(usize, &str)>> = self
            .mapping
            .iter()
            .map(|f| {
                f.from
                    .iter()
                    .find_map(|n| headers.index_of(n).ok().map(|i| (i, n.as_str())))
            })
            .collect();
        let used: std::collections::HashSet<usize> =
            sources.iter().flatten().map(|(i, _)| *i).collect();
        let unknown: Vec<usize> = (0..headers.fields().len())
            .filter(|i| !used.contains(i))
            .collect();
        let texts: Vec<Option<&arrow_array::StringArray>> = (0..raw.num_columns())
            .map(|i| raw.column(i).as_string_opt::<i32>())
            .collect();
        let cell = |i: usize, row: usize| -> Option<&str> {
            let a = texts.get(i).copied().flatten()?;
            (!arrow_array::Array::is_null(a, row)).then(|| a.value(row))
        };
        for row in 0..raw.num_rows() {
            sink.page.records += 1;
            let mut extra = serde_json::Map::new();
            for (col, src) in sources.iter().enumerate() {
                let v = match src.and_then(|(i, _)| cell(i, row)) {
                    Some(s) if !s.is_empty() => Scalar::Str(s.to_string()),
                    _ => Scalar::Null,
                };
                sink.put(col, &v, src.map_or("", |(_, n)| n), &mut extra);
            }
            for &i in &unknown {
                if let Some(s) = cell(i, row).filter(|s| !s.is_empty()) {
                    sink.page.extra_fields += 1;
                    if self.keep_extra
                        && let Some(f) = headers.fields().get(i)
                    {
                        extra.insert(f.name().clone(), s.into());
                    }
                }
            }
            sink.end_extra(extra);
        }
        sink.finish()
    }
}

struct JsonState<'a> {
    sink: Sink<'a>,
    row: Vec<Option<(usize, Scalar)>>,
    found: bool,
    key: &'a str,
}

impl JsonState<'_> {
    fn end_record(&mut self, mut extra: serde_json::Map<String, serde_json::Value>) {
        self.sink.page.records += 1;
        let dec = self.sink.dec;
        for col in 0..self.row.len() {
            let slot = self.row.get_mut(col).and_then(Option::take);
            let (prio, v) = slot.unwrap_or((0, Scalar::Null));
            let wire = dec
                .mapping
                .get(col)
                .and_then(|f| f.from.get(prio))
                .map_or("", String::as_str);
            self.sink.put(col, &v, wire, &mut extra);
        }
        self.sink.end_extra(extra);
    }
}

struct PageSeed<'a, 'b>(&'a mut JsonState<'b>);

impl<'de> DeserializeSeed<'de> for PageSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

#[derive(Deserialize)]
struct Links {
    #[serde(default)]
    next: Option<Scalar>,
}

impl<'de> Visitor<'de> for PageSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if k == self.0.key {
                self.0.found = true;
                map.next_value_seed(RecordsSeed(&mut *self.0))?;
            } else if k == "totalRecords" {
                self.0.sink.page.total_records = match map.next_value::<Scalar>()? {
                    Scalar::I64(n) => u64::try_from(n).ok(),
                    Scalar::U64(n) => Some(n),
                    Scalar::Str(s) => s.trim().parse().ok(),
                    _ => None,
                };
            } else if k == "_links" {
                // Tolerant: a `_links` of another shape is ignored.
                if let Scalar::Nested(text) = map.next_value::<Scalar>()? {
                    let next = serde_json::from_str::<Links>(&text)
                        .ok()
                        .map(|l| match l.next {
                            Some(Scalar::Str(s)) if !s.is_empty() => Some(s),
                            _ => None,
                        });
                    self.0.sink.page.next_link = next;
                }
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
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RecordsSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records (or null)")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(extra) = seq.next_element_seed(RecordSeed(&mut *self.0))? {
            self.0.end_record(extra);
        }
        Ok(())
    }
}

struct RecordSeed<'a, 'b>(&'a mut JsonState<'b>);

impl<'de> DeserializeSeed<'de> for RecordSeed<'_, '_> {
    type Value = serde_json::Map<String, serde_json::Value>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_, '_> {
    type Value = serde_json::Map<String, serde_json::Value>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let st = self.0;
        let mut extra = serde_json::Map::new();
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match st.sink.dec.index.get(k.as_ref()).copied() {
                Some((col, prio)) => {
                    let v: Scalar = map.next_value()?;
                    if let Some(slot) = st.row.get_mut(col) {
                        // The first wire name of `from` wins; a null never hides a value.
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
                None if st.sink.dec.keep_extra => {
                    let v: serde_json::Value = map.next_value()?;
                    st.sink.page.extra_fields += 1;
                    extra.insert(k.into_owned(), v);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                    st.sink.page.extra_fields += 1;
                }
            }
        }
        Ok(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;
    use arrow_array::types::{Float64Type, Int64Type, TimestampMillisecondType};

    fn m(from: &str, ty: MappedType) -> FieldMapping {
        FieldMapping::new(&[from], from, ty)
    }

    #[test]
    fn typed_columns_nested_values_and_the_envelope() {
        let d = MappedDecoder::new(
            vec![
                m("t", MappedType::Timestamp),
                m("f", MappedType::Float64),
                m("b", MappedType::Bool),
                m("tags", MappedType::Json),
            ],
            false,
        );
        let p = d
            .decode_json(
                br#"{"totalRecords":2,"_links":{"self":"x","next":null},"r":[{"t":"2023-01-01T00:00:00Z","f":"1.5","b":"0","tags":[{"tagId":1,"tagName":"vip"}],"zz":1},{"t":null}]}"#,
                "r",
            )
            .unwrap();
        assert_eq!(
            (p.total_records, p.next_link.clone()),
            (Some(2), Some(None))
        );
        assert_eq!(p.extra_fields, 1);
        let b = p.batch.unwrap();
        assert_eq!(b.num_rows(), 2);
        assert_eq!(
            b.column(0)
                .as_primitive::<TimestampMillisecondType>()
                .value(0),
            1_672_531_200_000
        );
        assert_eq!(b.column(1).as_primitive::<Float64Type>().value(0), 1.5);
        assert!(!b.column(2).as_boolean().value(0));
        assert_eq!(
            b.column(3).as_string::<i32>().value(0),
            r#"[{"tagId":1,"tagName":"vip"}]"#
        );
        assert!(b.column(3).is_null(1));
        assert!(
            d.decode_json(br#"{"x":[]}"#, "r")
                .unwrap_err()
                .contains("`r`")
        );
        assert!(
            d.decode_json(br#"{"r":null}"#, "r")
                .unwrap()
                .batch
                .is_none()
        );
    }

    #[test]
    fn a_value_of_the_wrong_type_lands_as_null_and_is_kept_in_extra() {
        let d = MappedDecoder::new(
            vec![m("n", MappedType::Int64), m("k", MappedType::Utf8)],
            true,
        );
        let p = d
            .decode_json(
                br#"{"r":[{"n":"abc","k":"a","new":true},{"n":"7","k":"b"}]}"#,
                "r",
            )
            .unwrap();
        assert_eq!((p.bad_values, p.extra_fields), (1, 1));
        let why = p.first_bad_value.unwrap();
        assert!(
            why.contains("record 1") && why.contains("`n`") && why.contains("integer"),
            "{why}"
        );
        let b = p.batch.unwrap();
        let n = b.column(0).as_primitive::<Int64Type>();
        assert!(n.is_null(0));
        assert_eq!(n.value(1), 7);
        let extra = b.column_by_name("_extra").unwrap().as_string::<i32>();
        assert_eq!(extra.value(0), r#"{"new":true,"n":"abc"}"#);
        assert!(extra.is_null(1));
    }

    #[test]
    fn csv_columns_by_display_name_with_unknown_headers_counted() {
        let d = MappedDecoder::new(
            vec![
                FieldMapping::new(&["ACD Call ID"], "acdCallId", MappedType::Int64),
                FieldMapping::new(&["Start Date"], "startDate", MappedType::Timestamp),
            ],
            true,
        );
        let schema = Arc::new(arrow_schema::Schema::new(
            ["Start Date", "ACD Call ID", "Brand New"]
                .iter()
                .map(|n| arrow_schema::Field::new(*n, arrow_schema::DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let raw = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(arrow_array::StringArray::from(vec![
                    Some("2023-01-01 10:00:00"),
                    None,
                ])),
                Arc::new(arrow_array::StringArray::from(vec![Some("17"), Some("x")])),
                Arc::new(arrow_array::StringArray::from(vec![Some("v"), Some("")])),
            ],
        )
        .unwrap();
        let p = d.map_csv(&raw).unwrap();
        assert_eq!((p.records, p.extra_fields, p.bad_values), (2, 1, 1));
        let b = p.batch.unwrap();
        assert_eq!(b.column(0).as_primitive::<Int64Type>().value(0), 17);
        assert!(b.column(0).is_null(1));
        assert_eq!(
            b.column(1)
                .as_primitive::<TimestampMillisecondType>()
                .value(0),
            1_672_567_200_000
        );
        let extra = b.column(2).as_string::<i32>();
        assert_eq!(extra.value(0), r#"{"Brand New":"v"}"#);
        assert_eq!(extra.value(1), r#"{"ACD Call ID":"x"}"#);
    }
}

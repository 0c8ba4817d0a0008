//! Data pages to Arrow.
//!
//! JSON pages are never materialised as `serde_json::Value`s: the envelope's keys are
//! walked by a byte scanner, and the `data` array is decoded in one pass straight into
//! Arrow builders (module `json`, which says why it is hand-written and what it measured),
//! counting the fields outside the configured columns and keeping them in `_extra` when
//! asked.
//! CSV pages go through `arrow_csv` with their header row; columns are matched by
//! name, so column order, missing columns and extra columns are all handled.
//!
//! `startTime`/`endTime` land as `Timestamp(ms, UTC)`: decoded as text (so a malformed
//! value cannot fail the whole page), then parsed once here with the SDK's fast path
//! (RFC 3339 in any offset as the fallback). A value that does not parse lands as null,
//! is counted (`bad_values`, the first one described) and kept verbatim in `_extra` when
//! `keep_extra_fields` is on, where `validate` finds it and rejects the record with
//! `bad_timestamp:<column>`. `columns_as_strings` keeps chosen columns as the server's text.

use std::collections::HashSet;
use std::io::Cursor;
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, new_null_array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::config::{CxoneConfig, EXTRA_COLUMN};

mod json;
mod scan;
use scan::Scanner;

/// The type a column has in the emitted batches: [`column_type`], except that the time
/// columns are timestamps unless listed in `columns_as_strings`.
pub fn output_type(name: &str, as_strings: &[String]) -> DataType {
    if TIME_COLUMNS.contains(&name) && !as_strings.iter().any(|c| c == name) {
        DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, Some("UTC".into()))
    } else {
        column_type(name)
    }
}

/// The time columns of the contract's record table.
pub const TIME_COLUMNS: [&str; 2] = ["startTime", "endTime"];

/// The Arrow type a configured column is decoded as (the contract's record table).
pub fn column_type(name: &str) -> DataType {
    match name {
        "holdTime" | "wrapTime" | "talkTime" => DataType::Int64,
        // id, direction, medium, agentId, queueId, startTime, endTime, and any column
        // the table does not know.
        _ => DataType::Utf8,
    }
}

/// The schema of every batch the source emits: the configured columns in order
/// (all nullable), plus `_extra` (Utf8 JSON object) when `keep_extra_fields`.
pub fn output_schema(cfg: &CxoneConfig) -> SchemaRef {
    let mut fields: Vec<Field> = cfg
        .columns
        .iter()
        .map(|c| Field::new(c, output_type(c, &cfg.columns_as_strings), true))
        .collect();
    if cfg.keep_extra_fields {
        fields.push(Field::new(EXTRA_COLUMN, DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
}

/// One decoded page.
#[derive(Debug, Default)]
pub struct Page {
    /// The records, usually one batch (several when a page exceeds the batch size).
    pub batches: Vec<RecordBatch>,
    /// The token of the next page; `None` on the last page.
    pub next_token: Option<String>,
    /// Records in the page.
    pub records: u64,
    /// Fields outside the configured columns.
    pub extra_fields: u64,
    /// Time values that did not parse (landed as null).
    pub bad_values: u64,
    /// The first of them, described.
    pub first_bad_value: Option<String>,
}

/// Decodes the pages of one source (shared, immutable).
#[derive(Debug)]
pub struct PageDecoder {
    /// The configured columns as text/number (what a CSV page is read as).
    columns: SchemaRef,
    /// Indices of the columns parsed into timestamps.
    times: Vec<usize>,
    /// The configured columns, the output schema, `keep_extra_fields`, the batch size.
    json: json::Columns,
}

/// A decode failure; the caller adds export id and page number.
pub type DecodeResult<T> = Result<T, String>;

/// The decoded `data` array and the raw `nextPageToken` value of a page envelope.
#[derive(Debug, Default)]
struct Envelope<'a> {
    /// The first byte of the `data` value, if the key is there.
    data: Option<u8>,
    records: Option<json::Records>,
    next_page_token: Option<&'a str>,
}

/// Walks the envelope's top-level keys, decoding the `data` array where it stands.
fn read_envelope<'a>(body: &'a str, cols: &json::Columns) -> DecodeResult<Envelope<'a>> {
    let text = body.as_bytes();
    let mut s = Scanner { b: text, i: 0 };
    let mut env = Envelope::default();
    let truncated = |e: String| {
        if e.contains("truncated") {
            e
        } else if e.contains("the end of") {
            format!("the JSON body is truncated ({e})")
        } else {
            format!("the body is not valid JSON: {e}")
        }
    };
    s.ws();
    if s.peek().is_none() {
        return Err("the JSON body is truncated (it is empty)".into());
    }
    s.expect(b'{').map_err(truncated)?;
    s.ws();
    if s.peek() == Some(b'}') {
        s.i += 1;
    } else {
        loop {
            s.ws();
            match s.peek() {
                Some(b'"') => {}
                None => return Err(truncated(s.err("the end of the envelope"))),
                _ => return Err(truncated(s.err("a key"))),
            }
            let k0 = s.i;
            s.string().map_err(truncated)?;
            let key = text.get(k0 + 1..s.i.saturating_sub(1)).unwrap_or_default();
            s.ws();
            s.expect(b':').map_err(truncated)?;
            s.ws();
            let v0 = s.i;
            if key == b"data" {
                env.data = s.peek();
                if s.peek() == Some(b'[') {
                    let records = json::decode_records(body, v0, cols)?;
                    s.i = records.end;
                    env.records = Some(records);
                } else {
                    s.skip_value().map_err(truncated)?;
                }
            } else {
                s.skip_value().map_err(truncated)?;
                if key == b"nextPageToken" {
                    // `v0` and `s.i` sit on ASCII structure, hence on char boundaries.
                    env.next_page_token = body.get(v0..s.i);
                }
            }
            s.ws();
            match s.next() {
                Some(b',') => continue,
                Some(b'}') => break,
                None => return Err(truncated(s.err("the end of the envelope"))),
                _ => return Err(truncated(s.err("`,` or `}`"))),
            }
        }
    }
    s.ws();
    if s.peek().is_some() {
        return Err(format!(
            "the body is not valid JSON: trailing characters at byte {}",
            s.i
        ));
    }
    Ok(env)
}

impl PageDecoder {
    /// A decoder for the configured columns.
    pub fn new(cfg: &CxoneConfig) -> Self {
        let output = output_schema(cfg);
        let columns = Arc::new(Schema::new(
            cfg.columns
                .iter()
                .map(|c| Field::new(c, column_type(c), true))
                .collect::<Vec<_>>(),
        ));
        let times = cfg
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                matches!(
                    output_type(c, &cfg.columns_as_strings),
                    DataType::Timestamp(..)
                )
            })
            .map(|(i, _)| i)
            .collect();
        let json = json::Columns {
            names: KnownKeys(cfg.columns.iter().map(|c| c.as_bytes().to_vec()).collect()),
            kinds: output
                .fields()
                .iter()
                .take(cfg.columns.len())
                .map(|f| match f.data_type() {
                    DataType::Timestamp(..) => json::Kind::Time,
                    DataType::Int64 => json::Kind::Int,
                    _ => json::Kind::Text,
                })
                .collect(),
            output,
            keep_extra: cfg.keep_extra_fields,
            batch_size: (cfg.page_size as usize).clamp(1024, 10_000),
        };
        Self {
            columns,
            times,
            json,
        }
    }

    /// The output schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.json.output
    }

    /// Decodes a JSON page `{"data": [...], "nextPageToken": "..."}`.
    ///
    /// # Errors
    /// Invalid UTF-8, malformed or truncated JSON, `data` missing or not an array, a
    /// record that is not an object, a value of the wrong type.
    pub fn decode_json(&self, body: &[u8]) -> DecodeResult<Page> {
        let text = std::str::from_utf8(body)
            .map_err(|e| format!("the body is not valid UTF-8 (at byte {})", e.valid_up_to()))?;
        let env = read_envelope(text, &self.json)?;
        let kind = match env.data {
            None | Some(b'n') => {
                return Err(
                    "format verification failed: the page has no `data` array (missing or null)"
                        .into(),
                );
            }
            Some(b'[') => "",
            Some(b'{') => "an object",
            Some(b'"') => "a string",
            Some(b't' | b'f') => "a boolean",
            Some(_) => "a number",
        };
        let records = env.records.ok_or_else(|| {
            format!("format verification failed: `data` is {kind}, not a JSON array")
        })?;
        let next_token = match env.next_page_token {
            None | Some("null") => None,
            Some(raw) => {
                let s: String = serde_json::from_str(raw)
                    .map_err(|_| format!("`nextPageToken` must be a string, got {}", short(raw)))?;
                (!s.is_empty()).then_some(s)
            }
        };
        Ok(Page {
            batches: records.batches,
            next_token,
            records: records.records,
            extra_fields: records.extra_fields,
            bad_values: records.bad_values,
            first_bad_value: records.first_bad_value,
        })
    }

    /// Parses the time columns of a decoded (all-text) batch. `offset` is the batch's
    /// first record in the page, for messages and `_extra`.
    fn parse_times(
        &self,
        batch: RecordBatch,
        offset: usize,
        mut extra: Option<&mut Vec<Option<String>>>,
        page: &mut Page,
    ) -> DecodeResult<RecordBatch> {
        if self.times.is_empty() {
            return Ok(batch);
        }
        let mut cols = batch.columns().to_vec();
        for &i in &self.times {
            let (Some(col), Some(field)) = (cols.get(i), self.columns.fields().get(i)) else {
                continue;
            };
            let Some(text) = col.as_any().downcast_ref::<StringArray>() else {
                continue;
            };
            let mut out =
                arrow_array::builder::TimestampMillisecondBuilder::with_capacity(text.len())
                    .with_timezone("UTC");
            for row in 0..text.len() {
                if text.is_null(row) {
                    out.append_null();
                    continue;
                }
                let v = text.value(row);
                match crate::mapping::rfc3339_ms(v) {
                    Some(ms) => out.append_value(ms),
                    None => {
                        out.append_null();
                        page.bad_values += 1;
                        if page.first_bad_value.is_none() {
                            page.first_bad_value = Some(format!(
                                "record {}, `{}`: {} is not a time (RFC 3339); landed as null",
                                offset + row + 1,
                                field.name(),
                                short(&json_string(v))
                            ));
                        }
                        if let Some(slot) =
                            extra.as_deref_mut().and_then(|e| e.get_mut(offset + row))
                        {
                            let entry = format!("{}:{}", json_string(field.name()), json_string(v));
                            match slot {
                                Some(obj) if obj.len() > 2 => {
                                    obj.pop();
                                    obj.push(',');
                                    obj.push_str(&entry);
                                    obj.push('}');
                                }
                                _ => *slot = Some(format!("{{{entry}}}")),
                            }
                        }
                    }
                }
            }
            if let Some(c) = cols.get_mut(i) {
                *c = Arc::new(out.finish());
            }
        }
        let fields: Vec<Field> = self
            .json
            .output
            .fields()
            .iter()
            .take(cols.len())
            .map(|f| f.as_ref().clone())
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
            .map_err(|e| format!("cannot assemble the batch: {e}"))
    }

    /// Decodes a CSV page (header row first); `next_token` comes from the
    /// `X-Next-Page-Token` header.
    ///
    /// # Errors
    /// Invalid UTF-8, ragged rows, values of the wrong type, duplicate header names.
    pub fn decode_csv(&self, body: &[u8], next_token: Option<&str>) -> DecodeResult<Page> {
        let next_token = next_token.filter(|t| !t.is_empty()).map(str::to_string);
        std::str::from_utf8(body)
            .map_err(|e| format!("the body is not valid UTF-8 (at byte {})", e.valid_up_to()))?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Page {
                next_token,
                ..Page::default()
            });
        }
        let (header, _) = arrow_csv::reader::Format::default()
            .with_header(true)
            .infer_schema(Cursor::new(body), Some(0))
            .map_err(|e| format!("cannot read the CSV header: {e}"))?;
        let names: Vec<String> = header.fields().iter().map(|f| f.name().clone()).collect();
        let mut seen = HashSet::new();
        for n in &names {
            if !seen.insert(n.as_str()) {
                return Err(format!("the CSV header names column `{n}` twice"));
            }
        }
        let csv_schema = Arc::new(Schema::new(
            names
                .iter()
                .map(|n| {
                    let t = if self.json.names.contains(n.as_bytes()) {
                        column_type(n)
                    } else {
                        DataType::Utf8
                    };
                    Field::new(n, t, true)
                })
                .collect::<Vec<_>>(),
        ));
        let reader = arrow_csv::ReaderBuilder::new(csv_schema)
            .with_header(true)
            .with_batch_size(self.json.batch_size)
            .build(Cursor::new(body))
            .map_err(|e| format!("cannot read the CSV: {e}"))?;
        let extra_idx: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| !self.json.names.contains(n.as_bytes()))
            .map(|(i, _)| i)
            .collect();
        let mut page = Page {
            next_token,
            ..Page::default()
        };
        for batch in reader {
            let batch = batch.map_err(|e| format!("bad CSV row: {e}"))?;
            let rows = batch.num_rows();
            let mut cols: Vec<ArrayRef> = Vec::with_capacity(self.json.output.fields().len());
            for f in self.columns.fields() {
                match names.iter().position(|n| n == f.name()) {
                    Some(i) => match batch.columns().get(i) {
                        Some(c) => cols.push(c.clone()),
                        None => return Err(format!("CSV column `{}` is missing", f.name())),
                    },
                    None => cols.push(new_null_array(f.data_type(), rows)),
                }
            }
            let mut extras: Vec<Option<String>> = Vec::new();
            if self.json.keep_extra {
                extras.resize(rows, None);
            }
            for &i in &extra_idx {
                let Some(col) = batch.columns().get(i) else {
                    continue;
                };
                let strings = col.as_any().downcast_ref::<StringArray>();
                for row in 0..rows {
                    if col.is_null(row) {
                        continue;
                    }
                    page.extra_fields += 1;
                    if let (Some(slot), Some(s), Some(name)) =
                        (extras.get_mut(row), strings, names.get(i))
                    {
                        let obj = slot.get_or_insert_with(|| "{".to_string());
                        if obj.len() > 1 {
                            obj.push(',');
                        }
                        obj.push_str(&json_string(name));
                        obj.push(':');
                        obj.push_str(&json_string(s.value(row)));
                    }
                }
            }
            for e in extras.iter_mut().flatten() {
                e.push('}');
            }
            let text = RecordBatch::try_new(self.columns.clone(), cols)
                .map_err(|e| format!("cannot assemble the batch: {e}"))?;
            let offset = page.records as usize;
            let mut cols = {
                let keep = self.json.keep_extra;
                let mut ex = keep.then(|| {
                    let mut v = vec![None; offset];
                    v.append(&mut extras);
                    v
                });
                let typed = self.parse_times(text, offset, ex.as_mut(), &mut page)?;
                let mut cols = typed.columns().to_vec();
                if let Some(mut v) = ex {
                    cols.push(Arc::new(StringArray::from(v.split_off(offset))));
                }
                cols
            };
            cols.truncate(self.json.output.fields().len());
            page.records += rows as u64;
            page.batches.push(
                RecordBatch::try_new(self.json.output.clone(), cols)
                    .map_err(|e| format!("cannot assemble the batch: {e}"))?,
            );
        }
        Ok(page)
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// The configured column names, as bytes. A record's keys are matched against them with a
/// position hint (the next expected key) before a linear search: no hashing per key, which
/// matters at ten keys per record and a million records a second.
#[derive(Debug, Clone)]
pub(crate) struct KnownKeys(pub(crate) Vec<Vec<u8>>);

impl KnownKeys {
    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        self.0.iter().any(|k| k == key)
    }

    pub(crate) fn position(&self, key: &[u8], hint: usize) -> Option<usize> {
        if self.0.get(hint).is_some_and(|k| k == key) {
            return Some(hint);
        }
        self.0.iter().position(|k| k == key)
    }
}

#[cfg(test)]
mod tests;

//! One pass over a JSON page's `data` array, straight into Arrow builders.
//!
//! Hand-written, and the measurement behind it (`bench_cxone`, one core, 5,000-record
//! pages of the contract's ten columns): arrow-json's tape decoder fed by our own key scan
//! decoded 1.15 M records/s (raw arrow-json alone 1.90 M/s, without counting unknown
//! keys or parsing times); this decoder, doing all of it, 2.65 M/s. It walks each record once: a key is matched against the
//! configured columns at the position the previous key suggests (records list their keys
//! in the same order), its value is validated and remembered as a byte range, and at the
//! record's end each column's value is appended to its builder: text as text (escapes
//! decoded only where there are some), whole numbers parsed, times parsed to epoch ms.
//! The JSON grammar is checked everywhere, nested values included (to a depth of
//! [`MAX_DEPTH`](super::scan::MAX_DEPTH)); the body was checked for UTF-8 before.
//!
//! Type rules: a text column takes strings only; a whole-number column takes numbers and
//! strings holding a whole number; a time column takes strings. A value of another JSON
//! type fails the page, naming the record and the column. A number that is not whole (or
//! beyond Int64) and a string that is not a time land as null, counted in `bad_values` and
//! kept in `_extra` (arrow-json, which this replaces, cut fractions toward zero: a changed
//! number in the lake); `null` and a missing key are null; when a key comes twice the last
//! value wins.

use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder, TimestampMillisecondBuilder};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::SchemaRef;

use super::scan::{Scanner, Val};
use super::{DecodeResult, KnownKeys, json_string, short};

/// How a configured column is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int,
    Time,
}

/// The configured columns, as the decoder needs them.
#[derive(Debug)]
pub(crate) struct Columns {
    pub names: KnownKeys,
    pub kinds: Vec<Kind>,
    pub output: SchemaRef,
    pub keep_extra: bool,
    pub batch_size: usize,
}

/// What one `data` array decoded to.
#[derive(Debug, Default)]
pub(crate) struct Records {
    pub batches: Vec<RecordBatch>,
    pub records: u64,
    pub extra_fields: u64,
    pub bad_values: u64,
    pub first_bad_value: Option<String>,
    /// Byte just past the closing `]`.
    pub end: usize,
}

/// A column's value in the current record: its kind and byte range in the body.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    val: Val,
    start: usize,
    end: usize,
}

enum Builder {
    Text(StringBuilder),
    Int(Int64Builder),
    Time(TimestampMillisecondBuilder),
}

impl Builder {
    fn new(kind: Kind, rows: usize) -> Self {
        match kind {
            Kind::Text => Self::Text(StringBuilder::with_capacity(rows, rows * 16)),
            Kind::Int => Self::Int(Int64Builder::with_capacity(rows)),
            Kind::Time => {
                Self::Time(TimestampMillisecondBuilder::with_capacity(rows).with_timezone("UTC"))
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Text(b) => Arc::new(b.finish()),
            Self::Int(b) => Arc::new(b.finish()),
            Self::Time(b) => Arc::new(b.finish()),
        }
    }
}

/// Decodes the array starting at byte `start` of `body` (a `[`).
pub(crate) fn decode_records(body: &str, start: usize, cols: &Columns) -> DecodeResult<Records> {
    let mut d = Decoder {
        s: Scanner {
            b: body.as_bytes(),
            i: start,
        },
        body,
        cols,
        slots: vec![Slot::default(); cols.kinds.len()],
        builders: Vec::new(),
        extra: Vec::new(),
        rows: 0,
        out: Records::default(),
    };
    d.array()?;
    d.flush()?;
    d.out.end = d.s.i;
    Ok(d.out)
}

struct Decoder<'a> {
    s: Scanner<'a>,
    body: &'a str,
    cols: &'a Columns,
    slots: Vec<Slot>,
    builders: Vec<Builder>,
    /// Per row of the current batch: its extra fields as a JSON object (when kept).
    extra: Vec<Option<String>>,
    rows: usize,
    out: Records,
}

impl Decoder<'_> {
    fn start_batch(&mut self) {
        let rows = self.cols.batch_size;
        self.builders = self
            .cols
            .kinds
            .iter()
            .map(|k| Builder::new(*k, rows))
            .collect();
        self.rows = 0;
    }

    fn flush(&mut self) -> DecodeResult<()> {
        if self.rows == 0 {
            return Ok(());
        }
        let mut arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        if self.cols.keep_extra {
            arrays.push(Arc::new(StringArray::from(std::mem::take(&mut self.extra))));
        }
        let batch = RecordBatch::try_new(self.cols.output.clone(), arrays)
            .map_err(|e| format!("cannot assemble the batch: {e}"))?;
        self.out.batches.push(batch);
        // The next batch's builders come with its first record (none after the last).
        self.rows = 0;
        Ok(())
    }

    fn array(&mut self) -> DecodeResult<()> {
        self.s.ws();
        self.s.expect(b'[')?;
        self.s.ws();
        if self.s.peek() == Some(b']') {
            self.s.i += 1;
            return Ok(());
        }
        loop {
            self.s.ws();
            match self.s.peek() {
                None => return Err(self.s.err("a record")),
                Some(b'{') => {}
                Some(_) => {
                    return Err(format!(
                        "record {} of the data array is not a JSON object",
                        self.out.records + 1
                    ));
                }
            }
            self.record()?;
            self.s.ws();
            match self.s.next() {
                Some(b',') => continue,
                Some(b']') => return Ok(()),
                None => return Err(self.s.err("the end of the data array")),
                _ => return Err(self.s.err("`,` or `]`")),
            }
        }
    }

    /// One record, from its `{` to past its `}`.
    fn record(&mut self) -> DecodeResult<()> {
        if self.rows == 0 {
            self.start_batch();
        }
        self.s.i += 1;
        self.slots.fill(Slot::default());
        let mut extra_obj: Option<String> = None;
        self.s.ws();
        if self.s.peek() == Some(b'}') {
            self.s.i += 1;
        } else {
            self.members(&mut extra_obj)?;
        }
        self.out.records += 1;
        for c in 0..self.slots.len() {
            self.append(c, &mut extra_obj)?;
        }
        if self.cols.keep_extra {
            self.extra.push(extra_obj.map(|mut o| {
                o.push('}');
                o
            }));
        }
        self.rows += 1;
        if self.rows >= self.cols.batch_size {
            self.flush()?;
        }
        Ok(())
    }

    /// A record's `"key": value` members, through its closing `}`.
    fn members(&mut self, extra_obj: &mut Option<String>) -> DecodeResult<()> {
        // Records usually list their keys in the same order: look there first.
        let mut hint = 0usize;
        loop {
            self.s.ws();
            if self.s.peek() != Some(b'"') {
                return Err(self.s.err("a key"));
            }
            let key_start = self.s.i;
            let col = self.key(&mut hint)?;
            self.s.ws();
            self.s.expect(b':')?;
            self.s.ws();
            let start = self.s.i;
            let val = self.s.value(0)?;
            let end = self.s.i;
            match col.and_then(|c| self.slots.get_mut(c)) {
                Some(slot) => *slot = Slot { val, start, end },
                None => {
                    self.out.extra_fields += 1;
                    if self.cols.keep_extra {
                        let obj = extra_obj.get_or_insert_with(|| "{".to_string());
                        if obj.len() > 1 {
                            obj.push(',');
                        }
                        // As sent (`"k": v`); both ends sit on ASCII structure.
                        obj.push_str(self.body.get(key_start..end).unwrap_or_default());
                    }
                }
            }
            self.s.ws();
            match self.s.next() {
                Some(b',') => continue,
                Some(b'}') => return Ok(()),
                _ => return Err(self.s.err("`,` or `}`")),
            }
        }
    }

    /// Reads a key (at its `"`) and returns its column, if configured.
    fn key(&mut self, hint: &mut usize) -> DecodeResult<Option<usize>> {
        let key_start = self.s.i;
        // Fast path: the key the hint expects, spelled out and closed right there (no
        // escape can hide in it: the byte after it is the closing quote).
        let expected = self.cols.names.0.get(*hint).map(Vec::as_slice);
        if let Some(expected) = expected.filter(|e| !e.is_empty()) {
            let after = key_start + 1 + expected.len();
            if self.s.b.get(key_start + 1..after) == Some(expected)
                && self.s.b.get(after) == Some(&b'"')
            {
                self.s.i = after + 1;
                *hint += 1;
                return Ok(Some(*hint - 1));
            }
        }
        let escaped = self.s.string()?;
        let raw = self
            .s
            .b
            .get(key_start + 1..self.s.i - 1)
            .unwrap_or_default();
        let found = if escaped {
            self.body
                .get(key_start..self.s.i)
                .and_then(|q| serde_json::from_str::<String>(q).ok())
                .and_then(|k| self.cols.names.position(k.as_bytes(), *hint))
        } else {
            self.cols.names.position(raw, *hint)
        };
        if let Some(p) = found {
            *hint = p + 1;
        }
        Ok(found)
    }

    /// Appends column `c`'s value in the current record to its builder.
    fn append(&mut self, c: usize, extra_obj: &mut Option<String>) -> DecodeResult<()> {
        let Some(slot) = self.slots.get(c).copied() else {
            return Ok(());
        };
        let raw = self.body.get(slot.start..slot.end).unwrap_or_default();
        let record = self.out.records;
        let name = || {
            self.cols
                .output
                .fields()
                .get(c)
                .map(|f| f.name().as_str())
                .unwrap_or_default()
        };
        let wrong = |what: &str| {
            format!(
                "bad record {record}: `{}` must be {what}, got {}",
                name(),
                short(raw)
            )
        };
        let Some(builder) = self.builders.get_mut(c) else {
            return Ok(());
        };
        match (builder, slot.val) {
            (Builder::Text(b), Val::Missing | Val::Null) => b.append_null(),
            (Builder::Int(b), Val::Missing | Val::Null) => b.append_null(),
            (Builder::Time(b), Val::Missing | Val::Null) => b.append_null(),
            (Builder::Text(b), Val::Str { escaped }) => b.append_value(text(raw, escaped)?),
            (Builder::Text(_), _) => return Err(wrong("a string")),
            (Builder::Int(b), Val::Num) => match number(raw) {
                Some(v) => b.append_value(v),
                None => {
                    // A fraction, or beyond Int64: null, never a changed number.
                    b.append_null();
                    let name = name().to_string();
                    self.bad_value(&name, raw, "is not a whole number", extra_obj);
                }
            },
            (Builder::Int(b), Val::Str { escaped }) => {
                let v =
                    integer_text(&text(raw, escaped)?).ok_or_else(|| wrong("a whole number"))?;
                b.append_value(v);
            }
            (Builder::Int(_), _) => return Err(wrong("a whole number")),
            (Builder::Time(b), Val::Str { escaped }) => {
                let t = text(raw, escaped)?;
                match crate::mapping::rfc3339_ms(&t) {
                    Some(ms) => b.append_value(ms),
                    None => {
                        b.append_null();
                        let name = name().to_string();
                        let kept = json_string(&t);
                        self.bad_value(&name, &kept, "is not a time (RFC 3339)", extra_obj);
                    }
                }
            }
            (Builder::Time(_), _) => return Err(wrong("a string (an RFC 3339 time)")),
        }
        Ok(())
    }

    /// A value its column cannot hold (`json`: the value as JSON text): counted, the first
    /// described, kept in `_extra`.
    fn bad_value(&mut self, name: &str, json: &str, what: &str, extra_obj: &mut Option<String>) {
        self.out.bad_values += 1;
        if self.out.first_bad_value.is_none() {
            self.out.first_bad_value = Some(format!(
                "record {}, `{name}`: {} {what}; landed as null",
                self.out.records,
                short(json)
            ));
        }
        if self.cols.keep_extra {
            let obj = extra_obj.get_or_insert_with(|| "{".to_string());
            if obj.len() > 1 {
                obj.push(',');
            }
            obj.push_str(&json_string(name));
            obj.push(':');
            obj.push_str(json);
        }
    }
}

/// A string value's text (`raw` with its quotes), escapes decoded when it has some.
fn text(raw: &str, escaped: bool) -> DecodeResult<std::borrow::Cow<'_, str>> {
    if !escaped {
        return Ok(raw
            .get(1..raw.len().saturating_sub(1))
            .unwrap_or_default()
            .into());
    }
    serde_json::from_str::<String>(raw)
        .map(Into::into)
        .map_err(|e| format!("malformed data array: bad string {}: {e}", short(raw)))
}

/// A JSON number as a whole number: integers exactly, and a number written otherwise
/// (`5.0`, `1e3`) when it is whole and within Int64; `None` for a fraction or beyond.
fn number(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().or_else(|| {
        let f = raw.parse::<f64>().ok()?;
        // i64::MIN is exactly representable; i64::MAX + 1 is the first value out of range.
        ((-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f)
            && f.fract() == 0.0)
            .then_some(f as i64)
    })
}

/// A string holding a whole number (spaces around it allowed), as arrow-cast reads it.
fn integer_text(s: &str) -> Option<i64> {
    s.trim_ascii().parse::<i64>().ok()
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;

//! Checking one batch: which rows are valid, which are not and why, and the counts.
//!
//! Everything here reads Arrow arrays directly (one pass over the rows, no per-record JSON).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{DataType, TimeUnit};

use crate::config::ValidatedConfig;
pub use crate::dedupe::{Seen, SeenIds};
use crate::error::{Error, Result};

/// Counts for one batch, one window or one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Records received.
    pub records_in: u64,
    /// Records with no required field missing or null (the tutorial's `valid_records`).
    pub complete: u64,
    /// Records that passed every check and went to the main output.
    pub valid: u64,
    /// Records that failed a check (routed, dropped or failed per `on_invalid`).
    pub invalid: u64,
    /// Records dropped because their `id` was already accepted earlier in the run.
    pub duplicates: u64,
    /// Records accepted whose `startTime` lies before the dedupe horizon: their ids were
    /// compared only with ids still held (see `dedupe_horizon_days`).
    pub dedupe_beyond_horizon: u64,
    /// For each required field, the records where it was absent or null.
    pub missing_field_counts: BTreeMap<String, u64>,
}

impl Stats {
    /// Adds another set of counts to this one.
    pub fn add(&mut self, other: &Stats) {
        self.records_in += other.records_in;
        self.complete += other.complete;
        self.valid += other.valid;
        self.invalid += other.invalid;
        self.duplicates += other.duplicates;
        self.dedupe_beyond_horizon += other.dedupe_beyond_horizon;
        for (k, v) in &other.missing_field_counts {
            *self.missing_field_counts.entry(k.clone()).or_insert(0) += v;
        }
    }

    /// `complete / records_in`, as the tutorial defines it (0.0 when nothing came in).
    pub fn integrity_rate(&self) -> f64 {
        if self.records_in == 0 {
            0.0
        } else {
            self.complete as f64 / self.records_in as f64
        }
    }

    /// True when every record received was valid (the tutorial's `schemaAlignmentPass`).
    pub fn schema_alignment_pass(&self) -> bool {
        self.valid == self.records_in
    }

    /// The fields missing most often, most first (ties by name).
    pub fn top_missing(&self, n: usize) -> Vec<(&str, u64)> {
        let mut v: Vec<(&str, u64)> = self
            .missing_field_counts
            .iter()
            .map(|(k, c)| (k.as_str(), *c))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.truncate(n);
        v
    }

    /// The counts as `Ack.metrics` entries.
    pub fn to_metrics(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("records_in".into(), self.records_in.into());
        m.insert("complete".into(), self.complete.into());
        m.insert("valid".into(), self.valid.into());
        m.insert("invalid".into(), self.invalid.into());
        m.insert("duplicates".into(), self.duplicates.into());
        m.insert(
            "dedupe_beyond_horizon".into(),
            self.dedupe_beyond_horizon.into(),
        );
        m.insert("integrity_rate".into(), self.integrity_rate().into());
        let missing: serde_json::Map<String, serde_json::Value> = self
            .missing_field_counts
            .iter()
            .map(|(k, v)| (k.clone(), (*v).into()))
            .collect();
        m.insert("missing_field_counts".into(), missing.into());
        m.insert(
            "schema_alignment_pass".into(),
            self.schema_alignment_pass().into(),
        );
        m
    }
}

/// The outcome of checking one batch.
#[derive(Debug)]
pub struct BatchCheck {
    /// True for rows that go to the main output.
    pub valid: BooleanArray,
    /// True for rows that failed a check.
    pub invalid: BooleanArray,
    /// The reason of each invalid row, in row order.
    pub reasons: Vec<String>,
    /// The first invalid row's `id` (or `row N` when it has none) and reason.
    pub first_invalid: Option<(String, String)>,
    /// The batch's counts.
    pub stats: Stats,
}

/// A string column as the checks see it.
enum StrCol {
    Absent,
    Str(StringArray),
    BadType,
}

impl StrCol {
    fn get(batch: &RecordBatch, name: &str) -> StrCol {
        let Some(col) = batch.column_by_name(name) else {
            return StrCol::Absent;
        };
        match col.data_type() {
            DataType::Utf8 => col
                .as_string_opt::<i32>()
                .map_or(StrCol::BadType, |a| StrCol::Str(a.clone())),
            _ => match arrow_cast::cast(col, &DataType::Utf8) {
                Ok(c) => c
                    .as_string_opt::<i32>()
                    .map_or(StrCol::BadType, |a| StrCol::Str(a.clone())),
                Err(_) => StrCol::BadType,
            },
        }
    }
    /// `None` when absent or null; `Some(Err)` when of a type that is not text.
    fn value(&self, row: usize) -> Option<Result<&str, ()>> {
        match self {
            StrCol::Absent => None,
            StrCol::BadType => Some(Err(())),
            StrCol::Str(a) => (!a.is_null(row)).then(|| Ok(a.value(row))),
        }
    }
}

/// A timestamp column: RFC 3339 text or an Arrow timestamp, read as epoch milliseconds.
enum TsCol {
    Absent,
    Str(StringArray),
    Epoch {
        values: Int64Array,
        to_ms: fn(i64) -> i64,
    },
    BadType,
}

impl TsCol {
    fn get(batch: &RecordBatch, name: &str) -> TsCol {
        let Some(col) = batch.column_by_name(name) else {
            return TsCol::Absent;
        };
        match col.data_type() {
            DataType::Timestamp(unit, _) => {
                let to_ms: fn(i64) -> i64 = match unit {
                    TimeUnit::Second => |v| v.saturating_mul(1000),
                    TimeUnit::Millisecond => |v| v,
                    TimeUnit::Microsecond => |v| v.div_euclid(1000),
                    TimeUnit::Nanosecond => |v| v.div_euclid(1_000_000),
                };
                match arrow_cast::cast(col, &DataType::Int64) {
                    Ok(c) => c
                        .as_primitive_opt::<Int64Type>()
                        .map_or(TsCol::BadType, |a| TsCol::Epoch {
                            values: a.clone(),
                            to_ms,
                        }),
                    Err(_) => TsCol::BadType,
                }
            }
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                match StrCol::get(batch, name) {
                    StrCol::Str(a) => TsCol::Str(a),
                    _ => TsCol::BadType,
                }
            }
            _ => TsCol::BadType,
        }
    }
    fn value(&self, row: usize) -> Option<Result<i64, ()>> {
        match self {
            TsCol::Absent => None,
            TsCol::BadType => Some(Err(())),
            TsCol::Str(a) => (!a.is_null(row)).then(|| {
                let v = a.value(row);
                match tributary_plugin_sdk::time::parse_utc_millis(v) {
                    Some(ms) => Ok(ms),
                    None => chrono::DateTime::parse_from_rfc3339(v)
                        .map(|t| t.timestamp_millis())
                        .map_err(|_| ()),
                }
            }),
            TsCol::Epoch { values, to_ms } => {
                (!values.is_null(row)).then(|| Ok(to_ms(values.value(row))))
            }
        }
    }
}

/// A duration column: integers, integral floats or integer text.
enum IntCol {
    Absent,
    Int(Int64Array),
    Float(Float64Array),
    Str(StringArray),
    BadType,
}

impl IntCol {
    fn get(batch: &RecordBatch, name: &str) -> IntCol {
        let Some(col) = batch.column_by_name(name) else {
            return IntCol::Absent;
        };
        let dt = col.data_type();
        if dt.is_integer() {
            match arrow_cast::cast(col, &DataType::Int64) {
                Ok(c) => c
                    .as_primitive_opt::<Int64Type>()
                    .map_or(IntCol::BadType, |a| IntCol::Int(a.clone())),
                Err(_) => IntCol::BadType,
            }
        } else if dt.is_floating() {
            match arrow_cast::cast(col, &DataType::Float64) {
                Ok(c) => c
                    .as_primitive_opt::<arrow_array::types::Float64Type>()
                    .map_or(IntCol::BadType, |a| IntCol::Float(a.clone())),
                Err(_) => IntCol::BadType,
            }
        } else if matches!(
            dt,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        ) {
            match StrCol::get(batch, name) {
                StrCol::Str(a) => IntCol::Str(a),
                _ => IntCol::BadType,
            }
        } else {
            IntCol::BadType
        }
    }
    /// `None` when absent or null; `Some(Err)` when not an integer.
    fn value(&self, row: usize) -> Option<Result<i64, ()>> {
        match self {
            IntCol::Absent => None,
            IntCol::BadType => Some(Err(())),
            IntCol::Int(a) => (!a.is_null(row)).then(|| Ok(a.value(row))),
            IntCol::Float(a) => (!a.is_null(row)).then(|| {
                let v = a.value(row);
                if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(v as i64)
                } else {
                    Err(())
                }
            }),
            IntCol::Str(a) => {
                (!a.is_null(row)).then(|| a.value(row).trim().parse::<i64>().map_err(|_| ()))
            }
        }
    }
}

/// True when the `_extra` JSON object of a row holds `key` (a value the source could not
/// put in its typed column).
fn kept_aside(extra: &str, key: &str) -> bool {
    extra.contains(key)
        && serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(extra)
            .is_ok_and(|m| m.contains_key(key))
}

/// The allowed values of an enumerated column. A handful (the usual case) are compared in
/// turn, which costs less than hashing each value (measured: SipHash and its compare were
/// 3 % of a run's samples); more go through the set.
enum Allowed<'a> {
    Few(Vec<&'a str>),
    Many(&'a HashSet<String>),
}

impl<'a> Allowed<'a> {
    fn new(set: &'a HashSet<String>) -> Self {
        if set.len() <= 16 {
            Self::Few(set.iter().map(String::as_str).collect())
        } else {
            Self::Many(set)
        }
    }

    fn contains(&self, v: &str) -> bool {
        match self {
            Self::Few(few) => few.contains(&v),
            Self::Many(set) => set.contains(v),
        }
    }
}

/// One batch's columns as the checks read them.
struct Rows<'a> {
    /// Per required field: `None` = column absent (missing everywhere), else its nulls.
    required: Vec<(&'a str, Option<Option<NullBuffer>>)>,
    id: StrCol,
    texts: Vec<(&'a str, StrCol)>,
    enums: Vec<(&'a str, StrCol, Allowed<'a>)>,
    start: (&'a str, TsCol),
    end: (&'a str, TsCol),
    /// A value the source could not type lands null, its text kept in `_extra`.
    extra: StrCol,
    durations: Vec<(&'a str, IntCol)>,
}

impl<'a> Rows<'a> {
    fn new(batch: &RecordBatch, cfg: &'a ValidatedConfig) -> Self {
        let f = &cfg.fields;
        let str_col = |name: Option<&str>| name.map_or(StrCol::Absent, |n| StrCol::get(batch, n));
        let ts_col = |name: Option<&'a str>| {
            (
                name.unwrap_or(""),
                name.map_or(TsCol::Absent, |n| TsCol::get(batch, n)),
            )
        };
        Rows {
            required: cfg
                .required
                .iter()
                .map(|f| {
                    let nulls = batch
                        .column_by_name(f)
                        .map(|c: &ArrayRef| c.logical_nulls());
                    (f.as_str(), nulls)
                })
                .collect(),
            id: str_col(f.id),
            texts: f.text.iter().map(|n| (*n, StrCol::get(batch, n))).collect(),
            enums: [(f.direction, &cfg.directions), (f.medium, &cfg.media)]
                .into_iter()
                .filter_map(|(n, allowed)| {
                    n.map(|n| (n, StrCol::get(batch, n), Allowed::new(allowed)))
                })
                .collect(),
            start: ts_col(f.start),
            end: ts_col(f.end),
            extra: StrCol::get(batch, "_extra"),
            durations: f
                .durations
                .iter()
                .map(|n| (*n, IntCol::get(batch, n)))
                .collect(),
        }
    }

    /// True when the source kept `row`'s value of column `name` aside in `_extra`.
    fn kept_aside(&self, row: usize, name: &str) -> bool {
        !name.is_empty() && matches!(self.extra.value(row), Some(Ok(x)) if kept_aside(x, name))
    }

    /// Writes `row`'s defects into `reason` and counts its missing required fields. Returns
    /// whether no required field is missing, and the row's start time when it has one.
    fn defects(
        &self,
        row: usize,
        reason: &mut String,
        missing_counts: &mut [u64],
    ) -> (bool, Option<i64>) {
        let mut complete = true;
        for (i, (name, nulls)) in self.required.iter().enumerate() {
            let missing = match nulls {
                None => true,
                Some(n) => n.as_ref().is_some_and(|n| n.is_null(row)),
            };
            if missing {
                complete = false;
                if let Some(c) = missing_counts.get_mut(i) {
                    *c += 1;
                }
                push(reason, format_args!("missing:{name}"));
            }
        }
        for (name, col) in &self.texts {
            if let Some(Err(())) = col.value(row) {
                push(reason, format_args!("bad_type:{name}"));
            }
        }
        for (name, col, allowed) in &self.enums {
            match col.value(row) {
                Some(Ok(v)) if !allowed.contains(v) => {
                    push(reason, format_args!("bad_value:{name}={v}"))
                }
                Some(Err(())) => push(reason, format_args!("bad_type:{name}")),
                _ => {}
            }
        }
        let ((start_name, start), (end_name, end)) = (&self.start, &self.end);
        let (s, e) = (start.value(row), end.value(row));
        for (name, value) in [(start_name, s), (end_name, e)] {
            let unparsed = matches!(value, Some(Err(())));
            if unparsed || (value.is_none() && self.kept_aside(row, name)) {
                push(reason, format_args!("bad_timestamp:{name}"));
            }
        }
        if let (Some(Ok(s)), Some(Ok(e))) = (s, e)
            && e < s
        {
            push(reason, format_args!("{end_name}<{start_name}"));
        }
        for (name, col) in &self.durations {
            match col.value(row) {
                Some(Ok(v)) if v < 0 => push(reason, format_args!("negative:{name}")),
                Some(Err(())) => push(reason, format_args!("not_integer:{name}")),
                // A fraction the source landed null and kept aside.
                None if self.kept_aside(row, name) => {
                    push(reason, format_args!("not_integer:{name}"))
                }
                _ => {}
            }
        }
        (complete, s.and_then(Result::ok))
    }
}

/// Appends one defect to a row's reason.
fn push(r: &mut String, s: std::fmt::Arguments<'_>) {
    if !r.is_empty() {
        r.push_str("; ");
    }
    let _ = r.write_fmt(s);
}

/// Checks batches against a configuration; holds nothing between batches but the config.
#[derive(Debug, Clone)]
pub struct Checker {
    config: ValidatedConfig,
}

impl Checker {
    /// A checker for a validated configuration.
    pub fn new(config: ValidatedConfig) -> Self {
        Checker { config }
    }

    /// The configuration it checks against.
    pub fn config(&self) -> &ValidatedConfig {
        &self.config
    }

    /// Checks one batch. Ids of rows accepted here are added to `seen` (when deduping), and
    /// rows whose id is already in `seen` are counted as duplicates and not accepted.
    pub fn check(&self, batch: &RecordBatch, seen: &mut SeenIds) -> BatchCheck {
        let rows = batch.num_rows();
        let cfg = &self.config;
        let view = Rows::new(batch, cfg);
        let mut missing_counts = vec![0u64; view.required.len()];
        let mut valid = Vec::with_capacity(rows);
        let mut invalid = Vec::with_capacity(rows);
        let mut reasons = Vec::new();
        let mut first_invalid = None;
        let mut stats = Stats {
            records_in: rows as u64,
            ..Stats::default()
        };
        let mut reason = String::new();

        for row in 0..rows {
            reason.clear();
            let (complete, start_ms) = view.defects(row, &mut reason, &mut missing_counts);
            if complete {
                stats.complete += 1;
            }
            if !reason.is_empty() {
                stats.invalid += 1;
                valid.push(false);
                invalid.push(true);
                if first_invalid.is_none() {
                    let who = match view.id.value(row) {
                        Some(Ok(v)) => format!("id `{v}`"),
                        _ => format!("row {row} (no id)"),
                    };
                    first_invalid = Some((who, reason.clone()));
                }
                reasons.push(reason.clone());
                continue;
            }
            invalid.push(false);
            let seen_as = match view.id.value(row) {
                Some(Ok(v)) if cfg.dedupe => seen.insert(v, start_ms),
                _ => Seen::New,
            };
            if seen_as == Seen::NewBeyondHorizon {
                stats.dedupe_beyond_horizon += 1;
            }
            let duplicate = seen_as == Seen::Duplicate;
            if duplicate {
                stats.duplicates += 1;
                valid.push(false);
            } else {
                stats.valid += 1;
                valid.push(true);
            }
        }
        stats.missing_field_counts = view
            .required
            .iter()
            .zip(missing_counts)
            .filter(|(_, c)| *c > 0)
            .map(|((name, _), c)| ((*name).to_string(), c))
            .collect();
        BatchCheck {
            valid: BooleanArray::from(valid),
            invalid: BooleanArray::from(invalid),
            reasons,
            first_invalid,
            stats,
        }
    }
}

/// Builds the `invalid` output: the failing rows plus a `_reason` column (replacing any
/// `_reason` column the input had).
///
/// # Errors
/// [`Error::Arrow`] when the Arrow kernels refuse the batch.
pub fn invalid_batch(batch: &RecordBatch, check: &BatchCheck) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let filtered =
        arrow_select::filter::filter_record_batch(batch, &check.invalid).map_err(|source| {
            Error::Arrow {
                action: "filter the invalid rows of",
                rows,
                source,
            }
        })?;
    let schema = filtered.schema();
    let mut fields = Vec::with_capacity(schema.fields().len() + 1);
    let mut columns = Vec::with_capacity(schema.fields().len() + 1);
    for (f, c) in schema.fields().iter().zip(filtered.columns()) {
        if f.name() != "_reason" {
            fields.push(Arc::clone(f));
            columns.push(Arc::clone(c));
        }
    }
    fields.push(Arc::new(arrow_schema::Field::new(
        "_reason",
        DataType::Utf8,
        false,
    )));
    columns.push(Arc::new(StringArray::from_iter_values(check.reasons.iter())) as ArrayRef);
    let schema = Arc::new(arrow_schema::Schema::new_with_metadata(
        fields,
        schema.metadata().clone(),
    ));
    RecordBatch::try_new(schema, columns).map_err(|source| Error::Arrow {
        action: "add the _reason column to",
        rows,
        source,
    })
}

/// The rows of `batch` selected by `mask`.
///
/// # Errors
/// [`Error::Arrow`] when the filter kernel refuses the batch.
pub fn select(batch: &RecordBatch, mask: &BooleanArray) -> Result<RecordBatch> {
    arrow_select::filter::filter_record_batch(batch, mask).map_err(|source| Error::Arrow {
        action: "filter the valid rows of",
        rows: batch.num_rows(),
        source,
    })
}

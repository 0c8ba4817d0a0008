//! Hive-style partition paths: one `key=value/…` string per row, with values that can never
//! leave the sink's prefix.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::config::{Granularity, PartitionSpec};
use crate::error::{Error, Result};

/// The value Hive, Spark and Trino use for a null (or unparseable) partition value.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Longest value kept verbatim; longer ones are cut and suffixed with a hash so they stay unique.
const MAX_VALUE_LEN: usize = 200;

/// Makes a value safe as one path segment: `[A-Za-z0-9_-]` and non-leading `.` pass, every
/// other byte (including `/`, `%`, `=`, control characters and leading dots) is
/// percent-encoded; empty becomes [`DEFAULT_PARTITION`]. The result never contains `/` and is
/// never `.` or `..`, so no record can write outside the prefix.
pub fn sanitize(value: &str) -> String {
    if value.is_empty() {
        return DEFAULT_PARTITION.to_string();
    }
    let mut out = String::with_capacity(value.len());
    for (i, b) in value.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.len() > MAX_VALUE_LEN {
        use sha2::Digest;
        let digest = hex::encode(sha2::Sha256::digest(value.as_bytes()));
        // Cut so that no %XX escape is split (the output is ASCII, so any index is a char boundary).
        let bytes = out.as_bytes();
        let mut cut = MAX_VALUE_LEN - 20;
        while cut > 0
            && (bytes.get(cut - 1) == Some(&b'%') || bytes.get(cut.wrapping_sub(2)) == Some(&b'%'))
        {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('-');
        out.push_str(digest.get(..16).unwrap_or(&digest));
    }
    out
}

/// Parses the timestamp forms CXone and ISO-8601 use; `None` when it is none of them.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(d) = DateTime::parse_from_str(s, fmt) {
            return Some(d.with_timezone(&Utc));
        }
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(d.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
}

fn format_time(t: Option<DateTime<Utc>>, g: Granularity) -> String {
    match t {
        None => DEFAULT_PARTITION.to_string(),
        Some(t) => match g {
            Granularity::Year => t.format("%Y").to_string(),
            Granularity::Month => t.format("%Y-%m").to_string(),
            Granularity::Day => t.format("%Y-%m-%d").to_string(),
            Granularity::Hour => t.format("%Y-%m-%dT%H").to_string(),
        },
    }
}

fn from_units(v: i64, unit: TimeUnit) -> Option<DateTime<Utc>> {
    let (secs, nanos) = match unit {
        TimeUnit::Second => (v, 0),
        TimeUnit::Millisecond => (v.div_euclid(1_000), v.rem_euclid(1_000) * 1_000_000),
        TimeUnit::Microsecond => (v.div_euclid(1_000_000), v.rem_euclid(1_000_000) * 1_000),
        TimeUnit::Nanosecond => (v.div_euclid(1_000_000_000), v.rem_euclid(1_000_000_000)),
    };
    DateTime::from_timestamp(secs, u32::try_from(nanos).ok()?)
}

/// The time of each row of a column, `None` for nulls and values that do not parse.
fn times(array: &dyn Array, column: &str) -> Result<Vec<Option<DateTime<Utc>>>> {
    let n = array.len();
    let mut out = Vec::with_capacity(n);
    match array.data_type() {
        DataType::Utf8 => out.extend(
            array
                .as_string::<i32>()
                .iter()
                .map(|v| v.and_then(parse_timestamp)),
        ),
        DataType::LargeUtf8 => out.extend(
            array
                .as_string::<i64>()
                .iter()
                .map(|v| v.and_then(parse_timestamp)),
        ),
        DataType::Utf8View => out.extend(
            array
                .as_string_view()
                .iter()
                .map(|v| v.and_then(parse_timestamp)),
        ),
        DataType::Timestamp(unit, _) => {
            let unit = *unit;
            let values: Vec<Option<i64>> = match unit {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().iter().collect(),
                TimeUnit::Millisecond => array
                    .as_primitive::<TimestampMillisecondType>()
                    .iter()
                    .collect(),
                TimeUnit::Microsecond => array
                    .as_primitive::<TimestampMicrosecondType>()
                    .iter()
                    .collect(),
                TimeUnit::Nanosecond => array
                    .as_primitive::<TimestampNanosecondType>()
                    .iter()
                    .collect(),
            };
            out.extend(
                values
                    .into_iter()
                    .map(|v| v.and_then(|v| from_units(v, unit))),
            );
        }
        DataType::Date32 => out.extend(
            array
                .as_primitive::<Date32Type>()
                .iter()
                .map(|v| v.and_then(|d| from_units(i64::from(d) * 86_400, TimeUnit::Second))),
        ),
        DataType::Date64 => out.extend(
            array
                .as_primitive::<Date64Type>()
                .iter()
                .map(|v| v.and_then(|d| from_units(d, TimeUnit::Millisecond))),
        ),
        other => {
            return Err(Error::Batch(format!(
                "partition column `{column}` has type {other}; a time partition needs a string (ISO-8601), timestamp or date column"
            )));
        }
    }
    Ok(out)
}

/// The partition path (`date=2023-01-15/direction=inbound`) of every row; an empty string for
/// each row when there are no partition columns.
///
/// # Errors
/// [`Error::Batch`] when a partition column is missing or has an unusable type.
pub fn row_paths(batch: &RecordBatch, specs: &[PartitionSpec]) -> Result<Vec<String>> {
    let n = batch.num_rows();
    let mut paths = vec![String::new(); n];
    for spec in specs {
        let Some(array) = batch.column_by_name(&spec.column) else {
            let names: Vec<&str> = batch
                .schema_ref()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            return Err(Error::Batch(format!(
                "partition_by column `{}` is not in the batch (columns: {}); fix `partition_by`",
                spec.column,
                names.join(", ")
            )));
        };
        let values: Vec<String> = match spec.granularity {
            // Fast path: canonical UTC strings (`2023-01-15T08:30:00.000Z`) partition by a
            // prefix of themselves; anything else is parsed and formatted in full.
            Some(g) if array.data_type() == &DataType::Utf8 => {
                let prefix = match g {
                    Granularity::Year => 4,
                    Granularity::Month => 7,
                    Granularity::Day => 10,
                    Granularity::Hour => 13,
                };
                array
                    .as_string::<i32>()
                    .iter()
                    .map(|v| match v {
                        Some(s) if tributary_plugin_sdk::time::parse_utc_millis(s).is_some() => s
                            .get(..prefix)
                            .map_or_else(|| format_time(parse_timestamp(s), g), str::to_string),
                        other => format_time(other.and_then(parse_timestamp), g),
                    })
                    .collect()
            }
            Some(g) => times(array.as_ref(), &spec.column)?
                .into_iter()
                .map(|t| format_time(t, g))
                .collect(),
            None => {
                let fmt = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())?;
                (0..n)
                    .map(|i| {
                        if array.is_null(i) {
                            String::new()
                        } else {
                            fmt.value(i).to_string()
                        }
                    })
                    .map(|v| sanitize(&v))
                    .collect()
            }
        };
        for (p, v) in paths.iter_mut().zip(values) {
            if !p.is_empty() {
                p.push('/');
            }
            p.push_str(spec.key());
            p.push('=');
            p.push_str(&v);
        }
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
    use std::sync::Arc;

    #[test]
    fn sanitize_keeps_values_inside_the_prefix() {
        assert_eq!(sanitize("inbound"), "inbound");
        assert_eq!(sanitize(""), DEFAULT_PARTITION);
        assert_eq!(sanitize("../../etc"), "%2E.%2F..%2Fetc");
        assert_eq!(sanitize(".."), "%2E.");
        assert_eq!(sanitize("a/b\n%=c"), "a%2Fb%0A%25%3Dc");
        assert_eq!(sanitize("é"), "%C3%A9");
        let long = "x/".repeat(300);
        let s = sanitize(&long);
        assert!(s.len() <= MAX_VALUE_LEN, "{}", s.len());
        assert!(!s.contains('/'));
        assert_ne!(sanitize(&long), sanitize(&"x/".repeat(301)));
        for v in ["..", ".", "../../etc", "a/../b", "\u{0}"] {
            let s = sanitize(v);
            assert!(
                !s.contains('/') && s != "." && s != ".." && !s.chars().any(|c| c.is_control()),
                "{v:?} -> {s}"
            );
        }
    }

    #[test]
    fn parses_iso_forms() {
        let want = |s: &str| parse_timestamp(s).map(|t| t.to_rfc3339());
        assert_eq!(
            want("2023-01-15T10:20:30.123Z").as_deref(),
            Some("2023-01-15T10:20:30.123+00:00")
        );
        assert_eq!(
            want("2023-01-15T23:30:00-02:00").as_deref(),
            Some("2023-01-16T01:30:00+00:00")
        );
        assert_eq!(
            want("2023-01-15 10:20:30").as_deref(),
            Some("2023-01-15T10:20:30+00:00")
        );
        assert_eq!(
            want("2023-01-15").as_deref(),
            Some("2023-01-15T00:00:00+00:00")
        );
        assert_eq!(want("yesterday"), None);
        assert_eq!(want(""), None);
    }

    #[test]
    fn row_paths_for_strings_timestamps_and_plain_columns() {
        let specs = vec![
            PartitionSpec {
                column: "startTime".into(),
                granularity: Some(Granularity::Day),
            },
            PartitionSpec {
                column: "ts".into(),
                granularity: Some(Granularity::Hour),
            },
            PartitionSpec {
                column: "direction".into(),
                granularity: None,
            },
            PartitionSpec {
                column: "n".into(),
                granularity: None,
            },
        ];
        let cols: Vec<(&str, ArrayRef)> = vec![
            (
                "startTime",
                Arc::new(StringArray::from(vec![
                    Some("2023-01-15T10:00:00Z"),
                    Some("garbage"),
                    None,
                ])),
            ),
            (
                "ts",
                Arc::new(
                    TimestampMillisecondArray::from(vec![Some(1_673_776_800_000), None, Some(-1)])
                        .with_timezone("UTC"),
                ),
            ),
            (
                "direction",
                Arc::new(StringArray::from(vec![
                    Some("inbound"),
                    Some("../../etc"),
                    None,
                ])),
            ),
            ("n", Arc::new(Int64Array::from(vec![1, -2, 3]))),
        ];
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        let p = row_paths(&batch, &specs).unwrap();
        assert_eq!(
            p[0],
            "date=2023-01-15/hour=2023-01-15T10/direction=inbound/n=1"
        );
        assert_eq!(
            p[1],
            format!(
                "date={DEFAULT_PARTITION}/hour={DEFAULT_PARTITION}/direction=%2E.%2F..%2Fetc/n=-2"
            )
        );
        assert_eq!(
            p[2],
            format!(
                "date={DEFAULT_PARTITION}/hour=1969-12-31T23/direction={DEFAULT_PARTITION}/n=3"
            )
        );
        let e = row_paths(
            &batch,
            &[PartitionSpec {
                column: "nope".into(),
                granularity: None,
            }],
        )
        .unwrap_err();
        assert!(e.to_string().contains("`nope`"), "{e}");
        let e = row_paths(
            &batch,
            &[PartitionSpec {
                column: "n".into(),
                granularity: Some(Granularity::Day),
            }],
        )
        .unwrap_err();
        assert!(e.to_string().contains("Int64"), "{e}");
    }
}

//! Hive-style partition paths: one `key=value/…` string per row, with values that can never
//! leave the sink's prefix.

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::DataType;
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
pub use tributary_lake::time::parse_timestamp;
use tributary_lake::time::times;

use crate::config::{Granularity, PartitionSpec};
use crate::error::{Error, Result};

/// The value Hive, Spark and Trino use for a null (or unparseable) partition value.
pub const DEFAULT_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Bytes percent-encoded in a partition value: all but `[A-Za-z0-9_.-]` (a leading `.` is
/// encoded apart).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'-').remove(b'.');

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
    let rest = match value.strip_prefix('.') {
        Some(rest) => {
            out.push_str("%2E");
            rest
        }
        None => value,
    };
    out.extend(utf8_percent_encode(rest, SEGMENT));
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
            Some(g) => times(array.as_ref(), &spec.column)
                .map_err(Error::Batch)?
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
        assert_eq!(sanitize("a.b c~*"), "a.b%20c%7E%2A");
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

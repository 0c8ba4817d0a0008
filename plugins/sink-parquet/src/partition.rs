//! Hive-style partitions: a batch's rows grouped by `key=value/…` path, with values that can
//! never leave the sink's prefix.

use std::collections::HashMap;

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

/// Rows of a batch that land in one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rows {
    /// A contiguous run (time-ordered data: sliced, not copied).
    Run {
        /// First row.
        offset: usize,
        /// Rows.
        len: usize,
    },
    /// Scattered rows, in order.
    Picked(Vec<u32>),
}

/// One partition column's view of a batch: a code per row (rows with equal codes share the
/// value) and how to name the value of a row.
struct Coded<'a> {
    codes: Vec<i64>,
    render: Box<dyn Fn(usize) -> String + 'a>,
}

const NO_TIME: i64 = i64::MIN;
const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// The bucket of a time at a granularity (days and hours by division; months and years from
/// the civil date).
fn bucket(ms: i64, g: Granularity) -> i64 {
    use chrono::Datelike;
    match g {
        Granularity::Day => ms.div_euclid(DAY_MS),
        Granularity::Hour => ms.div_euclid(HOUR_MS),
        Granularity::Month | Granularity::Year => match DateTime::from_timestamp_millis(ms) {
            Some(t) if g == Granularity::Month => i64::from(t.year()) * 12 + i64::from(t.month0()),
            Some(t) => i64::from(t.year()),
            None => NO_TIME,
        },
    }
}

/// A time column's rows as buckets; a value is formatted once per partition, not per row.
fn code_times<'a>(array: &'a dyn Array, spec: &PartitionSpec, g: Granularity) -> Result<Coded<'a>> {
    let millis: Vec<Option<i64>> = match array.data_type() {
        DataType::Utf8 => array
            .as_string::<i32>()
            .iter()
            .map(|v| {
                v.and_then(|s| {
                    tributary_plugin_sdk::time::parse_utc_millis(s)
                        .or_else(|| parse_timestamp(s).map(|t| t.timestamp_millis()))
                })
            })
            .collect(),
        _ => times(array, &spec.column)
            .map_err(Error::Batch)?
            .into_iter()
            .map(|t| t.map(|t| t.timestamp_millis()))
            .collect(),
    };
    let codes = millis
        .iter()
        .map(|m| m.map_or(NO_TIME, |ms| bucket(ms, g)))
        .collect();
    let render = move |row: usize| {
        let t = millis.get(row).copied().flatten();
        format_time(t.and_then(DateTime::from_timestamp_millis), g)
    };
    Ok(Coded {
        codes,
        render: Box::new(render),
    })
}

/// A plain column's rows, coded by distinct value (text borrowed from the batch).
fn code_values(array: &dyn Array) -> Result<Coded<'_>> {
    if array.data_type() == &DataType::Utf8 {
        let strings = array.as_string::<i32>();
        let mut seen: HashMap<&str, i64> = HashMap::new();
        let codes = strings
            .iter()
            .map(|v| {
                let next = seen.len() as i64;
                *seen.entry(v.unwrap_or("")).or_insert(next)
            })
            .collect();
        let render = move |row: usize| match strings.is_null(row) {
            true => sanitize(""),
            false => sanitize(strings.value(row)),
        };
        return Ok(Coded {
            codes,
            render: Box::new(render),
        });
    }
    let fmt = ArrayFormatter::try_new(array, &FormatOptions::default())?;
    let values: Vec<String> = (0..array.len())
        .map(|i| match array.is_null(i) {
            true => String::new(),
            false => fmt.value(i).to_string(),
        })
        .collect();
    let mut seen: HashMap<&str, i64> = HashMap::new();
    let codes = values
        .iter()
        .map(|v| {
            let next = seen.len() as i64;
            *seen.entry(v.as_str()).or_insert(next)
        })
        .collect();
    drop(seen);
    let render = move |row: usize| sanitize(values.get(row).map_or("", String::as_str));
    Ok(Coded {
        codes,
        render: Box::new(render),
    })
}

/// The partitions of a batch: each partition's path (`date=2023-01-15/direction=inbound`)
/// with its rows, in the order they first appear. Rows are coded per column and grouped by
/// code; a path is formatted once per partition, and a partition whose rows are contiguous
/// (time-ordered data) is a [`Rows::Run`] the sink slices instead of copying.
///
/// # Errors
/// [`Error::Batch`] when a partition column is missing or has an unusable type.
pub fn partition_groups(
    batch: &RecordBatch,
    specs: &[PartitionSpec],
) -> Result<Vec<(String, Rows)>> {
    let n = batch.num_rows();
    let mut coded = Vec::with_capacity(specs.len());
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
        coded.push(match spec.granularity {
            Some(g) => code_times(array.as_ref(), spec, g)?,
            None => code_values(array.as_ref())?,
        });
    }
    let (group, groups) = group_rows(n, &coded);
    let mut first = vec![usize::MAX; groups];
    let mut last = vec![0usize; groups];
    let mut count = vec![0usize; groups];
    for (row, g) in group.iter().enumerate() {
        let g = *g as usize;
        if let (Some(f), Some(l), Some(c)) = (first.get_mut(g), last.get_mut(g), count.get_mut(g)) {
            *f = (*f).min(row);
            *l = row;
            *c += 1;
        }
    }
    let contiguous: Vec<bool> = (0..groups)
        .map(|g| last[g] + 1 - first[g] == count[g])
        .collect();
    let mut picked: Vec<Vec<u32>> = vec![Vec::new(); groups];
    for (row, g) in group.iter().enumerate() {
        if !contiguous[*g as usize] {
            let row = u32::try_from(row)
                .map_err(|_| Error::Batch("a batch has more than 2^32 rows".into()))?;
            picked[*g as usize].push(row);
        }
    }
    let mut out = Vec::with_capacity(groups);
    for (g, rows) in picked.into_iter().enumerate() {
        let path = specs
            .iter()
            .zip(&coded)
            .map(|(spec, c)| format!("{}={}", spec.key(), (c.render)(first[g])))
            .collect::<Vec<_>>()
            .join("/");
        let rows = match contiguous[g] {
            true => Rows::Run {
                offset: first[g],
                len: count[g],
            },
            false => Rows::Picked(rows),
        };
        out.push((path, rows));
    }
    Ok(out)
}

/// A group id per row (ids in order of first appearance) and how many groups: rows are
/// refined column by column on (group so far, code); a run of equal keys costs no lookup.
fn group_rows(n: usize, coded: &[Coded<'_>]) -> (Vec<u32>, usize) {
    let mut group = vec![0u32; n];
    let mut groups = usize::from(n > 0);
    for c in coded {
        let mut ids: HashMap<(u32, i64), u32> = HashMap::new();
        let mut prev: Option<((u32, i64), u32)> = None;
        for (g, code) in group.iter_mut().zip(&c.codes) {
            let key = (*g, *code);
            let id = match prev {
                Some((k, id)) if k == key => id,
                _ => {
                    let next = ids.len() as u32;
                    let id = *ids.entry(key).or_insert(next);
                    prev = Some((key, id));
                    id
                }
            };
            *g = id;
        }
        groups = ids.len();
    }
    (group, groups)
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

    /// Each row's path, from the groups (every row in exactly one group).
    fn row_paths(batch: &RecordBatch, specs: &[PartitionSpec]) -> Vec<String> {
        let mut out = vec![None; batch.num_rows()];
        for (path, rows) in partition_groups(batch, specs).unwrap() {
            let rows: Vec<usize> = match rows {
                Rows::Run { offset, len } => (offset..offset + len).collect(),
                Rows::Picked(r) => r.into_iter().map(|r| r as usize).collect(),
            };
            for r in rows {
                assert!(out[r].is_none(), "row {r} in two groups");
                out[r] = Some(path.clone());
            }
        }
        out.into_iter()
            .map(|p| p.expect("every row grouped"))
            .collect()
    }

    #[test]
    fn groups_are_runs_when_contiguous_and_picked_otherwise() {
        let spec = [PartitionSpec {
            column: "t".into(),
            granularity: Some(Granularity::Day),
        }];
        let day = |d: i64| Some(d * 86_400_000 + 3_600_000);
        let t = TimestampMillisecondArray::from(vec![day(0), day(0), day(1), day(2), day(1), None])
            .with_timezone("UTC");
        let batch = RecordBatch::try_from_iter(vec![("t", Arc::new(t) as ArrayRef)]).unwrap();
        let groups = partition_groups(&batch, &spec).unwrap();
        assert_eq!(
            groups,
            vec![
                (
                    "date=1970-01-01".to_string(),
                    Rows::Run { offset: 0, len: 2 }
                ),
                ("date=1970-01-02".to_string(), Rows::Picked(vec![2, 4])),
                (
                    "date=1970-01-03".to_string(),
                    Rows::Run { offset: 3, len: 1 }
                ),
                (
                    format!("date={DEFAULT_PARTITION}"),
                    Rows::Run { offset: 5, len: 1 }
                ),
            ]
        );
        // Months and years from the civil date, across a year's end.
        let month = [PartitionSpec {
            column: "t".into(),
            granularity: Some(Granularity::Month),
        }];
        let t = TimestampMillisecondArray::from(vec![
            Some(1_703_980_800_000), // 2023-12-31
            Some(1_704_067_200_000), // 2024-01-01
            Some(1_706_659_200_000), // 2024-01-31
        ]);
        let batch = RecordBatch::try_from_iter(vec![("t", Arc::new(t) as ArrayRef)]).unwrap();
        assert_eq!(
            row_paths(&batch, &month),
            ["month=2023-12", "month=2024-01", "month=2024-01"]
        );
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
        let p = row_paths(&batch, &specs);
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
        let e = partition_groups(
            &batch,
            &[PartitionSpec {
                column: "nope".into(),
                granularity: None,
            }],
        )
        .unwrap_err();
        assert!(e.to_string().contains("`nope`"), "{e}");
        let e = partition_groups(
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

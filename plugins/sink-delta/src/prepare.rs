//! Shaping a batch for the table, on the engine's side of the Arrow boundary: timestamps
//! in Delta's unit (microseconds, UTC) and the derived partition columns (`date` from
//! `startTime:day`).

use std::sync::Arc;

use arrow_array::{ArrayRef, Date32Array, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use chrono::{DateTime, Datelike, Utc};
use tributary_lake::time::times;
use tributary_lake::{Granularity, PartitionSpec};

use crate::error::{Error, Result};

/// The Delta type a column of this Arrow type becomes, when it is not the same: Delta
/// stores timestamps in microseconds, adjusted to UTC when the column has a zone.
fn delta_type(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Timestamp(TimeUnit::Microsecond, Some(tz)) if tz.as_ref() == "UTC" => None,
        DataType::Timestamp(TimeUnit::Microsecond, None) => None,
        DataType::Timestamp(_, Some(_)) => Some(DataType::Timestamp(
            TimeUnit::Microsecond,
            Some("UTC".into()),
        )),
        DataType::Timestamp(_, None) => Some(DataType::Timestamp(TimeUnit::Microsecond, None)),
        _ => None,
    }
}

/// The days since the Unix epoch of a UTC time (Arrow `Date32`).
fn epoch_days(t: DateTime<Utc>) -> Option<i32> {
    i32::try_from(t.timestamp().div_euclid(86_400)).ok()
}

fn derived(times: &[Option<DateTime<Utc>>], g: Granularity) -> (DataType, ArrayRef) {
    match g {
        Granularity::Day => (
            DataType::Date32,
            Arc::new(
                times
                    .iter()
                    .map(|t| t.and_then(epoch_days))
                    .collect::<Date32Array>(),
            ),
        ),
        Granularity::Year => (
            DataType::Int32,
            Arc::new(
                times
                    .iter()
                    .map(|t| t.map(|t| t.year()))
                    .collect::<Int32Array>(),
            ),
        ),
        Granularity::Month => (
            DataType::Utf8,
            Arc::new(
                times
                    .iter()
                    .map(|t| t.map(|t| t.format("%Y-%m").to_string()))
                    .collect::<StringArray>(),
            ),
        ),
        Granularity::Hour => (
            DataType::Utf8,
            Arc::new(
                times
                    .iter()
                    .map(|t| t.map(|t| t.format("%Y-%m-%dT%H").to_string()))
                    .collect::<StringArray>(),
            ),
        ),
    }
}

/// The batch as the table stores it: timestamps cast to microseconds, then one column per
/// time-derived partition (`date`, `year`, `month`, `hour`) appended. A plain partition
/// column must already be in the batch.
///
/// # Errors
/// [`Error::Batch`] naming the column when a partition source is missing, has no time
/// type, or a derived key would replace a column of the records.
pub fn prepare(batch: &RecordBatch, partitions: &[PartitionSpec]) -> Result<RecordBatch> {
    let schema = batch.schema_ref();
    let mut fields: Vec<Field> = Vec::with_capacity(schema.fields().len() + partitions.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.capacity());
    for (f, col) in schema.fields().iter().zip(batch.columns()) {
        match delta_type(f.data_type()) {
            Some(t) => {
                columns.push(arrow_cast::cast(col, &t)?);
                fields.push(f.as_ref().clone().with_data_type(t));
            }
            None => {
                columns.push(Arc::clone(col));
                fields.push(f.as_ref().clone());
            }
        }
    }
    for spec in partitions {
        let Some(source) = batch.column_by_name(&spec.column) else {
            let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(Error::Batch(format!(
                "partition_by column `{}` is not in the batch (columns: {}); fix `partition_by`",
                spec.column,
                names.join(", ")
            )));
        };
        let Some(g) = spec.granularity else {
            continue;
        };
        if schema.field_with_name(g.key()).is_ok() {
            return Err(Error::Batch(format!(
                "partition_by `{}:{}` adds a column `{}`, but the records already have one; \
                 partition by that column directly or rename it upstream",
                spec.column,
                match g {
                    Granularity::Year => "year",
                    Granularity::Month => "month",
                    Granularity::Day => "day",
                    Granularity::Hour => "hour",
                },
                g.key()
            )));
        }
        let t = times(source.as_ref(), &spec.column).map_err(Error::Batch)?;
        let (ty, array) = derived(&t, g);
        fields.push(Field::new(g.key(), ty, true));
        columns.push(array);
    }
    let schema = Arc::new(Schema::new_with_metadata(
        fields,
        batch.schema_ref().metadata().clone(),
    ));
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The distinct partitions (`date=2023-01-15/direction=inbound`) the rows of a prepared
/// batch fall in; empty without partitions.
///
/// # Errors
/// When a partition column is missing (the batch was not prepared) or cannot be displayed.
pub fn partition_keys(
    batch: &RecordBatch,
    partitions: &[PartitionSpec],
) -> Result<std::collections::BTreeSet<String>> {
    let mut out = std::collections::BTreeSet::new();
    if partitions.is_empty() || batch.num_rows() == 0 {
        return Ok(out);
    }
    let columns = partitions
        .iter()
        .map(|p| {
            batch.column_by_name(p.key()).ok_or_else(|| {
                Error::Batch(format!(
                    "partition column `{}` is not in the batch",
                    p.key()
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    // The common case, one `date` column: distinct days without formatting every row.
    if let [c] = columns.as_slice()
        && let Some(days) = c.as_any().downcast_ref::<Date32Array>()
    {
        let distinct: std::collections::BTreeSet<Option<i32>> = days.iter().collect();
        out.extend(distinct.into_iter().map(|d| format!("{d:?}")));
        return Ok(out);
    }
    let opts = arrow_cast::display::FormatOptions::default();
    let formatters = columns
        .iter()
        .map(|c| arrow_cast::display::ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    for row in 0..batch.num_rows() {
        let key: Vec<String> = formatters
            .iter()
            .map(|f| f.value(row).to_string())
            .collect();
        out.insert(key.join("/"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, TimestampMicrosecondType};
    use arrow_array::{Array, TimestampMillisecondArray};

    fn spec(column: &str, granularity: Option<Granularity>) -> PartitionSpec {
        PartitionSpec {
            column: column.into(),
            granularity,
        }
    }

    #[test]
    fn timestamps_become_micros_and_day_partitions_dates() {
        let ts = TimestampMillisecondArray::from(vec![Some(1_673_776_800_123), None, Some(-1)])
            .with_timezone("UTC");
        let s = StringArray::from(vec![Some("2023-01-15T23:59:59Z"), Some("junk"), None]);
        let batch = RecordBatch::try_from_iter(vec![
            ("startTime", Arc::new(ts) as ArrayRef),
            ("s", Arc::new(s) as ArrayRef),
        ])
        .unwrap();
        let out = prepare(&batch, &[spec("startTime", Some(Granularity::Day))]).unwrap();
        let t = out.column(0).as_primitive::<TimestampMicrosecondType>();
        assert_eq!(t.value(0), 1_673_776_800_123_000);
        assert_eq!(
            out.schema().field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        let d = out
            .column_by_name("date")
            .unwrap()
            .as_primitive::<Date32Type>();
        assert_eq!(d.value(0), 19_372); // 2023-01-15
        assert!(d.is_null(1));
        assert_eq!(d.value(2), -1); // 1969-12-31
        let out = prepare(&batch, &[spec("s", Some(Granularity::Hour))]).unwrap();
        let h = out.column_by_name("hour").unwrap().as_string::<i32>();
        assert_eq!(h.value(0), "2023-01-15T23");
        assert!(h.is_null(1) && h.is_null(2));
    }

    #[test]
    fn partition_keys_are_the_distinct_partitions() {
        let ts = TimestampMillisecondArray::from(vec![
            Some(1_673_776_800_000),
            Some(1_673_776_900_000),
            Some(1_673_863_200_000),
            None,
        ])
        .with_timezone("UTC");
        let batch =
            RecordBatch::try_from_iter(vec![("startTime", Arc::new(ts) as ArrayRef)]).unwrap();
        let day = [spec("startTime", Some(Granularity::Day))];
        let keys = partition_keys(&prepare(&batch, &day).unwrap(), &day).unwrap();
        assert_eq!(keys.len(), 3, "two days and the null partition: {keys:?}");
        let hour = [spec("startTime", Some(Granularity::Hour))];
        let keys = partition_keys(&prepare(&batch, &hour).unwrap(), &hour).unwrap();
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert!(partition_keys(&batch, &[]).unwrap().is_empty());
    }

    #[test]
    fn missing_and_colliding_columns_are_named() {
        let batch = RecordBatch::try_from_iter(vec![(
            "date",
            Arc::new(StringArray::from(vec!["2023-01-15"])) as ArrayRef,
        )])
        .unwrap();
        let e = prepare(&batch, &[spec("nope", None)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("`nope`") && e.contains("date"), "{e}");
        let e = prepare(&batch, &[spec("date", Some(Granularity::Day))])
            .unwrap_err()
            .to_string();
        assert!(e.contains("already have one"), "{e}");
        assert!(prepare(&batch, &[spec("date", None)]).is_ok());
    }
}

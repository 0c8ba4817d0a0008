//! Reading a time column in UTC, whatever form it has: ISO-8601 text (the forms CXone and
//! ISO-8601 use), an Arrow timestamp of any unit, or a date.

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType,
};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

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

/// A count of `unit`s since the Unix epoch as a UTC time; `None` when out of range.
pub fn from_units(v: i64, unit: TimeUnit) -> Option<DateTime<Utc>> {
    let (secs, nanos) = match unit {
        TimeUnit::Second => (v, 0),
        TimeUnit::Millisecond => (v.div_euclid(1_000), v.rem_euclid(1_000) * 1_000_000),
        TimeUnit::Microsecond => (v.div_euclid(1_000_000), v.rem_euclid(1_000_000) * 1_000),
        TimeUnit::Nanosecond => (v.div_euclid(1_000_000_000), v.rem_euclid(1_000_000_000)),
    };
    DateTime::from_timestamp(secs, u32::try_from(nanos).ok()?)
}

/// The time of each row of a column, `None` for nulls and values that do not parse.
///
/// # Errors
/// A message naming `column` when its type cannot hold a time.
pub fn times(array: &dyn Array, column: &str) -> Result<Vec<Option<DateTime<Utc>>>, String> {
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
            return Err(format!(
                "partition column `{column}` has type {other}; a time partition needs a string (ISO-8601), timestamp or date column"
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray, TimestampMillisecondArray};

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
    fn columns_of_every_time_form() {
        let s = StringArray::from(vec![Some("2023-01-15T10:00:00Z"), Some("x"), None]);
        let t = times(&s, "s").unwrap();
        assert_eq!(t[0].map(|t| t.timestamp()), Some(1_673_776_800));
        assert_eq!(t[1], None);
        assert_eq!(t[2], None);
        let ts = TimestampMillisecondArray::from(vec![Some(-1), None]).with_timezone("UTC");
        let t = times(&ts, "ts").unwrap();
        assert_eq!(t[0].map(|t| t.timestamp_millis()), Some(-1));
        let e = times(&Int64Array::from(vec![1]), "n").unwrap_err();
        assert!(e.contains("`n`") && e.contains("Int64"), "{e}");
    }
}

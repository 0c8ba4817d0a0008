//! The writer properties of one file.

use arrow_array::RecordBatch;
use parquet::file::properties::WriterProperties;

/// Rows sampled to decide a column's dictionary.
const DICTIONARY_SAMPLE: usize = 1024;

/// Fewer rows than this are too few to judge: Parquet's default stays.
pub const DICTIONARY_MIN_ROWS: usize = 64;

/// The writer properties of a new file, from the sink's and the file's first batch: a text or
/// fixed-width column (times, numbers) whose sampled values are mostly distinct (ids,
/// timestamps, free text) is written without a dictionary. Parquet would build one for
/// nothing: it overflows and falls back to plain pages, or (in a small file) keeps a
/// dictionary as large as the values. The interning cost 3 % of a whole run's CPU for the
/// text ids (perf, 1M records by day), and as much again for the two time columns.
pub fn props_for(base: &WriterProperties, first: &RecordBatch) -> WriterProperties {
    let mut builder: Option<parquet::file::properties::WriterPropertiesBuilder> = None;
    for (field, column) in first.schema_ref().fields().iter().zip(first.columns()) {
        if mostly_distinct(column.as_ref()) {
            let b = builder
                .take()
                .unwrap_or_else(|| base.clone().into_builder());
            builder = Some(b.set_column_dictionary_enabled(
                parquet::schema::types::ColumnPath::from(field.name().as_str()),
                false,
            ));
        }
    }
    builder.map_or_else(|| base.clone(), |b| b.build())
}

/// True when more than half of the first [`DICTIONARY_SAMPLE`] non-null values of a text
/// or fixed-width primitive column differ; false for other types and for fewer than
/// [`DICTIONARY_MIN_ROWS`] rows.
fn mostly_distinct(column: &dyn arrow_array::Array) -> bool {
    use arrow_array::cast::AsArray;
    let sampled = column.len().min(DICTIONARY_SAMPLE);
    if sampled < DICTIONARY_MIN_ROWS {
        return false;
    }
    let valid = |row: &usize| column.is_valid(*row);
    let distinct = if column.data_type() == &arrow_schema::DataType::Utf8 {
        let text = column.as_string::<i32>();
        (0..sampled)
            .filter(valid)
            .map(|row| text.value(row).as_bytes())
            .collect::<std::collections::HashSet<&[u8]>>()
            .len()
    } else if let Some(width) = column.data_type().primitive_width() {
        let data = column.to_data();
        let Some(values) = data.buffers().first() else {
            return false;
        };
        let offset = data.offset();
        (0..sampled)
            .filter(valid)
            .filter_map(|row| values.get((offset + row) * width..(offset + row + 1) * width))
            .collect::<std::collections::HashSet<&[u8]>>()
            .len()
    } else {
        return false;
    };
    distinct * 2 > sampled
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray, TimestampMillisecondArray};
    use parquet::schema::types::ColumnPath;
    use std::sync::Arc;

    #[test]
    fn mostly_distinct_text_columns_get_no_dictionary() {
        let n = 500;
        let ids: ArrayRef = Arc::new(StringArray::from(
            (0..n).map(|i| format!("id-{i}")).collect::<Vec<_>>(),
        ));
        let kinds: ArrayRef = Arc::new(StringArray::from(
            (0..n).map(|i| ["in", "out"][i % 2]).collect::<Vec<_>>(),
        ));
        let at: ArrayRef = Arc::new(
            TimestampMillisecondArray::from(
                (0..n as i64)
                    .map(|i| 1_700_000_000_000 + i * 997)
                    .collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        );
        // Few distinct values, behind an offset into a buffer whose first values all differ.
        let values = (0..600)
            .chain((0..n as i64).map(|i| i % 7))
            .collect::<Vec<_>>();
        let hold: ArrayRef = Arc::new(Int64Array::from(values).slice(600, n));
        let batch = RecordBatch::try_from_iter(vec![
            ("id", ids),
            ("kind", kinds),
            ("at", at),
            ("hold", hold),
        ])
        .unwrap();
        let base = WriterProperties::builder().build();
        let props = props_for(&base, &batch);
        assert!(!props.dictionary_enabled(&ColumnPath::from("id")));
        assert!(props.dictionary_enabled(&ColumnPath::from("kind")));
        assert!(!props.dictionary_enabled(&ColumnPath::from("at")));
        assert!(props.dictionary_enabled(&ColumnPath::from("hold")));
        // Too few rows to judge: the default stays.
        let small = batch.slice(0, 10);
        assert!(props_for(&base, &small).dictionary_enabled(&ColumnPath::from("id")));
    }
}

//! The writer properties of one file.

use arrow_array::RecordBatch;
use parquet::file::properties::WriterProperties;

/// Rows sampled to decide a text column's dictionary.
const DICTIONARY_SAMPLE: usize = 1024;

/// The writer properties of a new file, from the sink's and the file's first batch: a text
/// column whose sampled values are mostly distinct (ids, free text) is written without a
/// dictionary. Parquet would build one, overflow it and fall back to plain pages anyway; the
/// interning cost 3 % of a whole run's CPU (perf, 1M records by day) for no smaller file.
pub fn props_for(base: &WriterProperties, first: &RecordBatch) -> WriterProperties {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    let mut builder: Option<parquet::file::properties::WriterPropertiesBuilder> = None;
    for (field, column) in first.schema_ref().fields().iter().zip(first.columns()) {
        if column.data_type() != &arrow_schema::DataType::Utf8 {
            continue;
        }
        let sampled = column.len().min(DICTIONARY_SAMPLE);
        if sampled < 64 {
            continue;
        }
        let distinct: std::collections::HashSet<&str> = column
            .as_string::<i32>()
            .iter()
            .take(sampled)
            .flatten()
            .collect();
        if distinct.len() * 2 > sampled {
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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, StringArray};
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
        let batch = RecordBatch::try_from_iter(vec![("id", ids), ("kind", kinds)]).unwrap();
        let base = WriterProperties::builder().build();
        let props = props_for(&base, &batch);
        assert!(!props.dictionary_enabled(&ColumnPath::from("id")));
        assert!(props.dictionary_enabled(&ColumnPath::from("kind")));
        // Too few rows to judge: the default stays.
        let small = batch.slice(0, 10);
        assert!(props_for(&base, &small).dictionary_enabled(&ColumnPath::from("id")));
    }
}

//! Copying a batch into buffers of its own.

use arrow_array::{RecordBatch, RecordBatchOptions, make_array};
use arrow_data::transform::MutableArrayData;

use crate::error::{PluginError, Result};

/// The batch with every column copied into newly allocated buffers, sharing nothing with
/// the original. The host checks such a batch in full when a transform returns it (a
/// column returned as lent is only checked for layout), so this is also how a test or a
/// benchmark makes a transform's worst case.
///
/// # Errors
/// When a column cannot be copied (offsets that would overflow).
pub fn deep_copy(batch: &RecordBatch) -> Result<RecordBatch> {
    let fail = |e: arrow_schema::ArrowError| {
        PluginError::runtime(format!("cannot copy a batch into new buffers: {e}"))
    };
    let columns = batch
        .columns()
        .iter()
        .map(|column| {
            let data = column.to_data();
            let mut copy = MutableArrayData::new(vec![&data], false, data.len());
            copy.try_extend(0, 0, data.len())?;
            Ok(make_array(copy.freeze()))
        })
        .collect::<std::result::Result<Vec<_>, arrow_schema::ArrowError>>()
        .map_err(fail)?;
    RecordBatch::try_new_with_options(
        batch.schema(),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )
    .map_err(fail)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{Array, ArrayRef, Int64Array, StringArray};

    use super::*;

    #[test]
    fn the_copy_is_equal_and_shares_no_buffer() {
        let batch = RecordBatch::try_from_iter([
            (
                "s",
                Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")])) as ArrayRef,
            ),
            ("n", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let copy = deep_copy(&batch.slice(1, 2)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(copy, batch.slice(1, 2));
        for (a, b) in batch.columns().iter().zip(copy.columns()) {
            let (a, b) = (a.to_data(), b.to_data());
            for (x, y) in a.buffers().iter().zip(b.buffers()) {
                assert_ne!(x.as_ptr(), y.as_ptr());
            }
        }
        let empty = RecordBatch::try_new_with_options(
            Arc::new(arrow_schema::Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(4)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(deep_copy(&empty).map(|b| b.num_rows()).ok(), Some(4));
    }
}

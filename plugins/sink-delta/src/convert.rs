//! Batches cross from the engine's Arrow (the SDK's version) to delta-rs' Arrow (the version
//! it pins) through the Arrow C Data Interface: zero-copy, the buffers are shared and freed
//! once, by whichever side drops last.
#![allow(unsafe_code)]

use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema, to_ffi};
use arrow_array::{Array, RecordBatch, StructArray};
use delta_arrow_array as delta_arrow;

use crate::error::{Error, Result};

/// The same batch as delta-rs' Arrow type.
///
/// # Errors
/// [`Error::Batch`] when a column's type cannot cross the C Data Interface.
pub fn to_delta(batch: &RecordBatch) -> Result<delta_arrow::RecordBatch> {
    let data = StructArray::from(batch.clone()).into_data();
    let (array, schema) =
        to_ffi(&data).map_err(|e| Error::Batch(format!("exporting a batch: {e}")))?;
    // SAFETY: `FFI_ArrowArray` and `FFI_ArrowSchema` are `#[repr(C)]` in both Arrow versions
    // and are the structs the Arrow C Data Interface specification fixes field by field
    // (transmute also checks the sizes match at compile time). Moving them transfers the
    // ownership of the exported buffers: their release callbacks run once, when the
    // imported arrays are dropped.
    let array: delta_arrow::ffi::FFI_ArrowArray =
        unsafe { std::mem::transmute::<FFI_ArrowArray, delta_arrow::ffi::FFI_ArrowArray>(array) };
    // SAFETY: as above.
    let schema: delta_arrow::ffi::FFI_ArrowSchema = unsafe {
        std::mem::transmute::<FFI_ArrowSchema, delta_arrow::ffi::FFI_ArrowSchema>(schema)
    };
    // SAFETY: `array` and `schema` were produced by `to_ffi` just above from valid array
    // data, which is what `from_ffi` requires.
    let imported = unsafe { delta_arrow::ffi::from_ffi(array, &schema) }
        .map_err(|e| Error::Batch(format!("importing a batch into delta-rs' Arrow: {e}")))?;
    let rows = batch.num_rows();
    let out = delta_arrow::RecordBatch::from(delta_arrow::StructArray::from(imported));
    if out.num_rows() != rows {
        return Err(Error::Batch(format!(
            "a batch of {rows} rows came through the C Data Interface with {}",
            out.num_rows()
        )));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, BooleanArray, Int64Array, StringArray, TimestampMicrosecondArray};
    use delta_arrow::Array as _;
    use std::sync::Arc;

    #[test]
    fn values_types_and_nulls_survive() {
        let cols: Vec<(&str, ArrayRef)> = vec![
            (
                "id",
                Arc::new(StringArray::from(vec![Some("a"), None, Some("c")])),
            ),
            (
                "n",
                Arc::new(Int64Array::from(vec![Some(1), Some(-2), None])),
            ),
            (
                "ok",
                Arc::new(BooleanArray::from(vec![Some(true), None, Some(false)])),
            ),
            (
                "t",
                Arc::new(
                    TimestampMicrosecondArray::from(vec![
                        Some(1_673_776_800_000_000),
                        None,
                        Some(0),
                    ])
                    .with_timezone("UTC"),
                ),
            ),
        ];
        let batch = RecordBatch::try_from_iter(cols).unwrap();
        // A sliced batch has offsets: they must cross too.
        let sliced = batch.slice(1, 2);
        let out = to_delta(&sliced).unwrap();
        assert_eq!(out.num_rows(), 2);
        assert_eq!(
            out.schema().field(3).data_type().to_string(),
            "Timestamp(µs, \"UTC\")"
        );
        let ids = out
            .column(0)
            .as_any()
            .downcast_ref::<delta_arrow::StringArray>()
            .unwrap();
        assert!(ids.is_null(0));
        assert_eq!(ids.value(1), "c");
        let n = out
            .column(1)
            .as_any()
            .downcast_ref::<delta_arrow::Int64Array>()
            .unwrap();
        assert_eq!(n.value(0), -2);
        assert!(n.is_null(1));
    }
}

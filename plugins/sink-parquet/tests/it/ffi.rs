use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{Int32Builder, ListBuilder};
use arrow_array::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::json;
use tributary_plugin_sdk::Sink;
use tributary_plugin_sdk::abi::host::PluginLibrary;

use crate::common::pyarrow_read;
use crate::local::{W1, cp, ctx};

fn cdylib() -> PathBuf {
    tributary_plugin_sdk::abi::host::built_library("tributary_sink_parquet")
        .expect("libtributary_sink_parquet.so not built: run cargo build --workspace")
}

fn every_type() -> RecordBatch {
    let mut list = ListBuilder::new(Int32Builder::new());
    for i in 0..4 {
        if i == 2 {
            list.append_null();
        } else {
            list.append_value((0..i).map(Some));
        }
    }
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("id", Arc::new(StringArray::from(vec!["a", "b", "c", "d"]))),
        (
            "b",
            Arc::new(BooleanArray::from(vec![
                Some(true),
                None,
                Some(false),
                Some(true),
            ])),
        ),
        (
            "i8",
            Arc::new(Int8Array::from(vec![i8::MIN, -1, 0, i8::MAX])),
        ),
        (
            "i16",
            Arc::new(Int16Array::from(vec![i16::MIN, -1, 0, i16::MAX])),
        ),
        (
            "i32",
            Arc::new(Int32Array::from(vec![
                Some(i32::MIN),
                None,
                Some(0),
                Some(i32::MAX),
            ])),
        ),
        (
            "i64",
            Arc::new(Int64Array::from(vec![i64::MIN, -1, 0, i64::MAX])),
        ),
        ("u8", Arc::new(UInt8Array::from(vec![0, 1, 2, u8::MAX]))),
        ("u16", Arc::new(UInt16Array::from(vec![0, 1, 2, u16::MAX]))),
        ("u32", Arc::new(UInt32Array::from(vec![0, 1, 2, u32::MAX]))),
        ("u64", Arc::new(UInt64Array::from(vec![0, 1, 2, u64::MAX]))),
        (
            "f32",
            Arc::new(Float32Array::from(vec![
                1.5,
                -0.0,
                f32::MAX,
                f32::MIN_POSITIVE,
            ])),
        ),
        (
            "f64",
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                None,
                Some(f64::MAX),
                Some(-2.25),
            ])),
        ),
        (
            "s",
            Arc::new(StringArray::from(vec![
                Some("héllo"),
                None,
                Some(""),
                Some("x/../y"),
            ])),
        ),
        (
            "ls",
            Arc::new(LargeStringArray::from(vec!["l1", "l2", "l3", "l4"])),
        ),
        (
            "bin",
            Arc::new(BinaryArray::from(vec![
                &b"\x00\x01"[..],
                b"",
                b"zz",
                b"\xff",
            ])),
        ),
        (
            "d32",
            Arc::new(Date32Array::from(vec![0, 19_372, -1, 20_000])),
        ),
        (
            "ts_ms_utc",
            Arc::new(
                TimestampMillisecondArray::from(vec![0, 1_673_740_800_123, -5, 1])
                    .with_timezone("UTC"),
            ),
        ),
        (
            "ts_us",
            Arc::new(TimestampMicrosecondArray::from(vec![
                Some(1),
                None,
                Some(2),
                Some(3),
            ])),
        ),
        (
            "dec",
            Arc::new(
                Decimal128Array::from(vec![12345, -1, 0, 99])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
        ("list", Arc::new(list.finish())),
    ];
    RecordBatch::try_from_iter(cols).unwrap()
}

#[test]
fn cdylib_roundtrips_every_supported_type() {
    let lib = PluginLibrary::load(&cdylib(), None).unwrap();
    assert_eq!(lib.meta().name, "parquet");
    let schema = lib.meta().config_schema.to_string();
    assert!(
        schema.contains("partition_by") && schema.contains("x-sensitive"),
        "{schema}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut s = lib
        .create_sink(
            &json!({"url": dir.path().display().to_string(), "partition_by": ["ts_ms_utc:day"]}),
            &ctx("ffi"),
        )
        .unwrap();
    s.healthcheck().unwrap();
    let batch = every_type();
    s.write(&batch).unwrap();
    let ack = s.flush(&cp(W1)).unwrap();
    s.close().unwrap();
    assert_eq!(ack.records, 4);

    // Read back every file with the parquet reader; together they hold exactly the batch.
    let mut got: Vec<RecordBatch> = vec![];
    for f in &ack.files {
        let file = std::fs::File::open(&f.path).unwrap();
        for b in ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap()
        {
            got.push(b.unwrap());
        }
    }
    let got = arrow_select::concat::concat_batches(&got[0].schema(), &got).unwrap();
    assert_eq!(got.schema().fields(), batch.schema().fields());
    let ids = got
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    let mut order: Vec<u32> = (0..got.num_rows() as u32).collect();
    order.sort_by_key(|&i| ids.value(i as usize).to_string());
    let order = UInt32Array::from(order);
    let got = arrow_select::take::take_record_batch(&got, &order).unwrap();
    assert_eq!(got, batch);
    let (_, rows) = pyarrow_read(dir.path());
    assert_eq!(rows.len(), 4);

    // Config errors cross the boundary with their kind and message.
    let e = lib
        .create_sink(&json!({"url": "/tmp/x", "compression": "zip"}), &ctx("ffi"))
        .err()
        .unwrap();
    assert_eq!(e.kind, tributary_plugin_sdk::ErrorKind::Config);
    assert!(
        e.message
            .contains(r#"compression: "zip" is not one of zstd, snappy, none"#),
        "{e}"
    );
}

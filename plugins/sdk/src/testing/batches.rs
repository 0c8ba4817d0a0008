//! The batches the contract suites send: shaped like what the engine emits.
//!
//! The CXone source's decoders (`core/cxone/src/decode.rs`, `core/cxone/src/mapping/`)
//! produce exactly five Arrow types, every field nullable: `Utf8`, `Int64`, `Float64`,
//! `Boolean` and `Timestamp(Millisecond, "UTC")`. [`engine_types`] lists them; the batches
//! here use all five, in CXone-shaped columns (`id`, `direction`, `startTime`, …), so that
//! plugins written for interaction records (the `validate` transform) see the data they
//! expect.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray, new_null_array,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

/// Every Arrow type the engine's source emits (the CXone decoders); a sink must accept all
/// of them.
pub fn engine_types() -> Vec<DataType> {
    vec![
        DataType::Utf8,
        DataType::Int64,
        DataType::Float64,
        DataType::Boolean,
        engine_timestamp(),
    ]
}

/// The timestamp type the engine emits: milliseconds, UTC.
pub fn engine_timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The schema of [`interactions`]: CXone-shaped columns covering every type the engine
/// emits, all nullable (as the decoders make them).
pub fn interactions_schema() -> SchemaRef {
    let f = |name: &str, ty: DataType| Field::new(name, ty, true);
    Arc::new(Schema::new(vec![
        f("id", DataType::Utf8),
        f("direction", DataType::Utf8),
        f("medium", DataType::Utf8),
        f("startTime", engine_timestamp()),
        f("endTime", engine_timestamp()),
        f("agentId", DataType::Utf8),
        f("queueId", DataType::Utf8),
        f("holdTime", DataType::Int64),
        f("wrapTime", DataType::Int64),
        f("talkTime", DataType::Int64),
        f("score", DataType::Float64),
        f("isRefused", DataType::Boolean),
    ]))
}

/// Ids are unique across every batch made in this process, so a deduplicating plugin
/// never mistakes two batches of the suite for one record seen twice.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// 2023-01-15T08:00:00Z in milliseconds.
const BASE_MS: i64 = 1_673_769_600_000;

/// `n` complete, valid interaction records (no nulls; `endTime` after `startTime`), with
/// ids never used before in this process.
///
/// # Errors
/// Never in practice (the columns match the schema); kept so no code here can panic.
pub fn interactions(n: usize) -> Result<RecordBatch, ArrowError> {
    let first = NEXT_ID.fetch_add(n as u64, Ordering::Relaxed);
    let ids = (first..first + n as u64).map(|i| format!("contract-{i:010}"));
    let idx = 0..n as i64;
    let start = idx.clone().map(|i| BASE_MS + i * 1_000);
    let cols: Vec<ArrayRef> = vec![
        Arc::new(ids.map(Some).collect::<StringArray>()),
        Arc::new(
            idx.clone()
                .map(|i| Some(if i % 2 == 0 { "inbound" } else { "outbound" }))
                .collect::<StringArray>(),
        ),
        Arc::new(
            idx.clone()
                .map(|i| Some(["voice", "chat", "email"][(i % 3) as usize]))
                .collect::<StringArray>(),
        ),
        Arc::new(TimestampMillisecondArray::from_iter_values(start.clone()).with_timezone("UTC")),
        Arc::new(
            TimestampMillisecondArray::from_iter_values(start.map(|s| s + 300_000))
                .with_timezone("UTC"),
        ),
        Arc::new(
            idx.clone()
                .map(|i| Some(format!("agent-{}", i % 17)))
                .collect::<StringArray>(),
        ),
        Arc::new(
            idx.clone()
                .map(|i| Some(format!("queue-{}", i % 5)))
                .collect::<StringArray>(),
        ),
        Arc::new(Int64Array::from_iter_values(idx.clone().map(|i| i % 300))),
        Arc::new(Int64Array::from_iter_values(idx.clone().map(|i| i % 40))),
        Arc::new(Int64Array::from_iter_values(
            idx.clone().map(|i| i * 13 % 900),
        )),
        Arc::new(Float64Array::from_iter_values(
            idx.clone().map(|i| i as f64 / 8.0),
        )),
        Arc::new(BooleanArray::from_iter(idx.map(|i| Some(i % 5 == 0)))),
    ];
    RecordBatch::try_new(interactions_schema(), cols)
}

/// A batch of `n` rows of `schema` in which every value is null.
///
/// # Errors
/// When a field of `schema` is not nullable.
pub fn all_null(schema: &SchemaRef, n: usize) -> Result<RecordBatch, ArrowError> {
    let cols = schema
        .fields()
        .iter()
        .map(|f| new_null_array(f.data_type(), n))
        .collect();
    RecordBatch::try_new(Arc::clone(schema), cols)
}

/// Seven rows of [`interactions_schema`] at the edges of what the engine emits: empty,
/// non-ASCII, quoting and control characters and long strings; `i64::MIN`/`MAX`; `-0.0`
/// and extreme finite floats; the epoch, 2100 and a pre-1970 instant; and a null in every
/// column. (No NaN or infinity: the decoders read JSON numbers, which cannot hold them.)
///
/// # Errors
/// Never in practice; see [`interactions`].
pub fn edge_values() -> Result<RecordBatch, ArrowError> {
    let first = NEXT_ID.fetch_add(7, Ordering::Relaxed);
    let text = |v: [Option<&str>; 7]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
    let long = "x".repeat(100_000);
    let ids: Vec<Option<String>> = (0..7)
        .map(|i| Some(format!("edge-{}", first + i)))
        .collect();
    let ts = |v: [Option<i64>; 7]| {
        Arc::new(TimestampMillisecondArray::from(v.to_vec()).with_timezone("UTC")) as ArrayRef
    };
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(ids)),
        text([
            Some(""),
            Some("inbound"),
            Some("outbound"),
            None,
            Some("héllo"),
            Some("日本語 ✓"),
            Some("inbound"),
        ]),
        text([
            Some("voice"),
            Some("tab\there \"quoted\" back\\slash\nnewline"),
            None,
            Some("chat"),
            Some("\u{0}nul"),
            Some(long.as_str()),
            Some("email"),
        ]),
        ts([
            Some(0),
            Some(BASE_MS),
            Some(4_102_444_800_000),
            Some(-86_400_000),
            None,
            Some(BASE_MS + 999),
            Some(BASE_MS),
        ]),
        ts([
            Some(1),
            Some(BASE_MS + 60_000),
            Some(4_102_444_800_001),
            Some(0),
            Some(BASE_MS),
            None,
            Some(BASE_MS + 1),
        ]),
        text([
            Some("a"),
            None,
            Some("agent"),
            Some(""),
            Some("ägent"),
            Some("a"),
            Some("a"),
        ]),
        text([
            None,
            Some("q"),
            Some("q"),
            Some("q"),
            Some("q"),
            Some("q"),
            Some(""),
        ]),
        Arc::new(Int64Array::from(vec![
            Some(i64::MIN),
            Some(-1),
            Some(0),
            Some(i64::MAX),
            None,
            Some(1),
            Some(42),
        ])),
        Arc::new(Int64Array::from(vec![
            Some(0),
            None,
            Some(i64::MAX),
            Some(i64::MIN),
            Some(7),
            Some(0),
            Some(0),
        ])),
        Arc::new(Int64Array::from(vec![
            None,
            Some(0),
            Some(1),
            Some(2),
            Some(3),
            Some(4),
            Some(5),
        ])),
        Arc::new(Float64Array::from(vec![
            Some(-0.0),
            Some(1.5),
            Some(f64::MAX),
            Some(f64::MIN_POSITIVE),
            Some(-1e300),
            None,
            Some(0.1),
        ])),
        Arc::new(BooleanArray::from(vec![
            Some(true),
            Some(false),
            None,
            Some(true),
            Some(false),
            Some(true),
            Some(false),
        ])),
    ];
    RecordBatch::try_new(interactions_schema(), cols)
}

/// `batch` with a different schema: its last column dropped, its first `Int64` column
/// retyped to `Utf8` (the values as text) and a new `Utf8` column `contract_extra` added.
///
/// # Errors
/// Never in practice; see [`interactions`].
pub fn changed_schema(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let keep = batch.num_columns().saturating_sub(1);
    let mut fields: Vec<Field> = Vec::new();
    let mut cols: Vec<ArrayRef> = Vec::new();
    let mut retyped = false;
    for (field, col) in batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .take(keep)
    {
        if !retyped && field.data_type() == &DataType::Int64 {
            retyped = true;
            let text: StringArray = col
                .as_any()
                .downcast_ref::<Int64Array>()
                .map(|a| a.iter().map(|v| v.map(|v| v.to_string())).collect())
                .unwrap_or_else(|| StringArray::from(vec![None::<&str>; col.len()]));
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            cols.push(Arc::new(text));
        } else {
            fields.push(field.as_ref().clone());
            cols.push(Arc::clone(col));
        }
    }
    fields.push(Field::new("contract_extra", DataType::Utf8, true));
    cols.push(Arc::new(
        (0..batch.num_rows())
            .map(|i| Some(format!("extra-{i}")))
            .collect::<StringArray>(),
    ));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
}

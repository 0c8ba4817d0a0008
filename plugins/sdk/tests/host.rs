//! The host side against real plugin libraries: batches of every column type round-trip
//! unchanged through a real `.so`, and a plugin that panics, returns an error, speaks
//! another ABI version, is not a plugin at all, fails its pinned hash or has a broken
//! descriptor is refused or reported clearly, with the test process (the engine) still in
//! control afterwards.
//!
//! The Rust fixtures are `plugins/examples/echo` (a transform echoing each batch on the
//! main output and on `copy`) and `plugins/examples/faulty` (a sink that panics or fails
//! where its config says); `cargo build --workspace` (or `cargo build -p
//! tributary-example-echo -p tributary-example-faulty`) builds their `.so` files. The C
//! fixtures are compiled here with the system C compiler (`cc`).
//!
//! Needs the `host` feature: `cargo test -p tributary-plugin-sdk --features host` (under
//! `cargo test --workspace` the engine enables it through feature unification).
#![cfg(feature = "host")]
// Test code: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow_array::builder::{
    FixedSizeListBuilder, Int32Builder, Int64Builder, ListViewBuilder, MapBuilder, StringBuilder,
    StringDictionaryBuilder, UnionBuilder,
};
use arrow_array::*;
use arrow_schema::{DataType, Field, Fields, Schema};
use serde_json::json;
use tributary_plugin_sdk::abi::host::{ForeignSink, LoadError, PluginLibrary, file_sha256};
use tributary_plugin_sdk::abi::v1::ABI_VERSION;
use tributary_plugin_sdk::{
    Checkpoint, CreateContext, ErrorKind, MAIN_OUTPUT, Outputs, PluginKind, Sink, Transform,
};

// ---------------------------------------------------------------------------------------
// Locating and building fixtures
// ---------------------------------------------------------------------------------------

/// The freshest `lib<name>.so` next to this test executable: `target/<profile>/` (copied
/// there by `cargo build`) or `target/<profile>/deps/` (where cargo compiles it).
fn so_path(name: &str) -> PathBuf {
    tributary_plugin_sdk::abi::host::built_library(name).unwrap_or_else(|| {
        panic!("lib{name}.so not found next to the test executable; build it first: cargo build --workspace")
    })
}

fn load(name: &str) -> Arc<PluginLibrary> {
    let path = so_path(name);
    PluginLibrary::load(&path, None)
        .unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display()))
}

fn echo() -> Arc<PluginLibrary> {
    load("tributary_example_echo")
}

fn faulty() -> Arc<PluginLibrary> {
    load("tributary_example_faulty")
}

/// Compiles C source into a shared library with the system compiler.
fn cc_shared(dir: &Path, stem: &str, source: &str) -> PathBuf {
    let src = dir.join(format!("{stem}.c"));
    let so = dir.join(format!("lib{stem}.so"));
    std::fs::write(&src, source).unwrap();
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-I"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/include"))
        .arg(&src)
        .arg("-o")
        .arg(&so)
        .output()
        .expect("a C compiler (cc) is needed for these tests");
    assert!(
        out.status.success(),
        "cc failed on {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

/// A C plugin whose descriptor is written by hand: `fields` is the initialiser body.
fn c_descriptor(fields: &str) -> String {
    format!(
        r#"#include "tributary_plugin.h"
static int32_t c_create(const uint8_t *c, size_t cl, const uint8_t *x, size_t xl, void **i, TributaryBuffer *e) {{ (void)c; (void)cl; (void)x; (void)xl; (void)e; *i = (void *)1; return 0; }}
static int32_t c_write(void *i, struct ArrowArray *a, const struct ArrowSchema *s, TributaryBuffer *e) {{ (void)i; (void)s; (void)e; if (a->release) a->release(a); return 0; }}
static int32_t c_flush(void *i, const uint8_t *c, size_t cl, TributaryEmitFn f, void *fc, TributaryBuffer *a, TributaryBuffer *e) {{ (void)i; (void)c; (void)cl; (void)f; (void)fc; (void)a; (void)e; return 0; }}
static int32_t c_close(void *i, TributaryEmitFn f, void *fc, TributaryBuffer *a, TributaryBuffer *e) {{ (void)i; (void)f; (void)fc; (void)a; (void)e; return 0; }}
static void c_destroy(void *i) {{ (void)i; }}
static void c_free(TributaryBuffer b) {{ (void)b; }}
static const TributaryPluginV1 DESCRIPTOR = {{ {fields} }};
const TributaryPluginV1 *tributary_plugin_v1(void) {{ return &DESCRIPTOR; }}
"#
    )
}

/// A well-formed C sink descriptor with one field overridden (`.field = value`).
fn c_sink_with(override_field: &str) -> String {
    c_descriptor(&format!(
        ".abi_version = TRIBUTARY_ABI_VERSION, .descriptor_size = sizeof(TributaryPluginV1), \
         .kind = TRIBUTARY_KIND_SINK, .name = \"c_fixture\", .version = \"0.0.1\", \
         .config_schema = \"{{}}\", .create = c_create, .write = c_write, .flush = c_flush, \
         .close = c_close, .destroy = c_destroy, .free_buffer = c_free, {override_field}"
    ))
}

fn cp() -> Checkpoint {
    Checkpoint {
        run_id: "run".into(),
        window_id: "w1".into(),
        ..Checkpoint::default()
    }
}

// ---------------------------------------------------------------------------------------
// A batch with every column type
// ---------------------------------------------------------------------------------------

const ROWS: usize = 7;

/// Row `i` is null when `i % 3 == 1` (every column, nested ones too).
fn valid(i: usize) -> bool {
    i % 3 != 1
}

fn opt<T>(i: usize, v: T) -> Option<T> {
    valid(i).then_some(v)
}

/// The `i`th value of a native type that has no literal syntax here (f16, i256).
fn nth<T: ArrowNativeTypeOp>(i: usize) -> T {
    (0..i).fold(T::ZERO, |acc, _| acc.add_wrapping(T::ONE))
}

fn prim<T: ArrowPrimitiveType>(f: impl Fn(usize) -> T::Native) -> PrimitiveArray<T> {
    (0..ROWS).map(|i| opt(i, f(i))).collect()
}

fn strings(i: usize) -> String {
    [
        "",
        "a",
        "héllo",
        "日本語",
        "tab\tnew\nline",
        "x".repeat(40).as_str(),
        "z",
    ][i]
        .to_string()
}

/// One column of each Arrow type the C Data Interface carries, nulls in every column,
/// plus field- and schema-level metadata.
fn every_type_batch() -> RecordBatch {
    use arrow_array::types::*;
    let mut cols: Vec<(&str, ArrayRef)> = Vec::new();
    let mut add = |name: &'static str, a: ArrayRef| cols.push((name, a));

    add("null", Arc::new(NullArray::new(ROWS)));
    add(
        "bool",
        Arc::new(
            (0..ROWS)
                .map(|i| opt(i, i % 2 == 0))
                .collect::<BooleanArray>(),
        ),
    );
    add("i8", Arc::new(prim::<Int8Type>(|i| i as i8 - 3)));
    add("i16", Arc::new(prim::<Int16Type>(|i| i as i16 * -300)));
    add("i32", Arc::new(prim::<Int32Type>(|i| i as i32 * 70_000)));
    add("i64", Arc::new(prim::<Int64Type>(|i| i64::MIN + i as i64)));
    add("u8", Arc::new(prim::<UInt8Type>(|i| 250 + i as u8 % 5)));
    add("u16", Arc::new(prim::<UInt16Type>(|i| u16::MAX - i as u16)));
    add("u32", Arc::new(prim::<UInt32Type>(|i| u32::MAX - i as u32)));
    add("u64", Arc::new(prim::<UInt64Type>(|i| u64::MAX - i as u64)));
    add("f16", Arc::new(prim::<Float16Type>(nth)));
    add("f32", Arc::new(prim::<Float32Type>(|i| i as f32 * 1.5)));
    add("f64", Arc::new(prim::<Float64Type>(|i| i as f64 / 3.0)));
    add(
        "utf8",
        Arc::new(
            (0..ROWS)
                .map(|i| opt(i, strings(i)))
                .collect::<StringArray>(),
        ),
    );
    add(
        "large_utf8",
        Arc::new(
            (0..ROWS)
                .map(|i| opt(i, strings(i)))
                .collect::<LargeStringArray>(),
        ),
    );
    add(
        "utf8_view",
        Arc::new(
            (0..ROWS)
                .map(|i| opt(i, strings(i)))
                .collect::<StringViewArray>(),
        ),
    );
    let bytes = |i: usize| vec![i as u8; i * 5];
    add(
        "binary",
        Arc::new(BinaryArray::from_iter((0..ROWS).map(|i| opt(i, bytes(i))))),
    );
    add(
        "large_binary",
        Arc::new(LargeBinaryArray::from_iter(
            (0..ROWS).map(|i| opt(i, bytes(i))),
        )),
    );
    add(
        "binary_view",
        Arc::new(BinaryViewArray::from_iter(
            (0..ROWS).map(|i| opt(i, bytes(i))),
        )),
    );
    add(
        "fixed_size_binary",
        Arc::new(
            FixedSizeBinaryArray::try_from_sparse_iter_with_size(
                (0..ROWS).map(|i| opt(i, [i as u8; 4])),
                4,
            )
            .unwrap(),
        ),
    );
    add(
        "date32",
        Arc::new(prim::<Date32Type>(|i| 19_000 + i as i32)),
    );
    add(
        "date64",
        Arc::new(prim::<Date64Type>(|i| {
            1_700_000_000_000 + i as i64 * 86_400_000
        })),
    );
    add(
        "time32_s",
        Arc::new(prim::<Time32SecondType>(|i| i as i32 * 3600)),
    );
    add(
        "time32_ms",
        Arc::new(prim::<Time32MillisecondType>(|i| i as i32 * 1000)),
    );
    add(
        "time64_us",
        Arc::new(prim::<Time64MicrosecondType>(|i| i as i64 * 1_000_000)),
    );
    add(
        "time64_ns",
        Arc::new(prim::<Time64NanosecondType>(|i| i as i64 * 1_000_000_000)),
    );
    add(
        "ts_s",
        Arc::new(prim::<TimestampSecondType>(|i| 1_700_000_000 + i as i64)),
    );
    add(
        "ts_ms_utc",
        Arc::new(
            prim::<TimestampMillisecondType>(|i| 1_700_000_000_000 + i as i64).with_timezone("UTC"),
        ),
    );
    add(
        "ts_us_offset",
        Arc::new(prim::<TimestampMicrosecondType>(|i| i as i64).with_timezone("+05:30")),
    );
    add(
        "ts_ns_named_tz",
        Arc::new(prim::<TimestampNanosecondType>(|i| i as i64).with_timezone("America/New_York")),
    );
    add(
        "duration_s",
        Arc::new(prim::<DurationSecondType>(|i| i as i64)),
    );
    add(
        "duration_ms",
        Arc::new(prim::<DurationMillisecondType>(|i| -(i as i64))),
    );
    add(
        "duration_us",
        Arc::new(prim::<DurationMicrosecondType>(|i| i as i64 * 7)),
    );
    add(
        "duration_ns",
        Arc::new(prim::<DurationNanosecondType>(|i| i as i64 * 11)),
    );
    add(
        "interval_ym",
        Arc::new(prim::<IntervalYearMonthType>(|i| i as i32 * 13)),
    );
    add(
        "interval_dt",
        Arc::new(prim::<IntervalDayTimeType>(|i| {
            IntervalDayTime::new(i as i32, -(i as i32))
        })),
    );
    add(
        "interval_mdn",
        Arc::new(prim::<IntervalMonthDayNanoType>(|i| {
            IntervalMonthDayNano::new(i as i32, 2, i as i64 * 1_000)
        })),
    );
    add(
        "decimal32",
        Arc::new(
            prim::<Decimal32Type>(|i| i as i32 * 1234)
                .with_precision_and_scale(9, 2)
                .unwrap(),
        ),
    );
    add(
        "decimal64",
        Arc::new(
            prim::<Decimal64Type>(|i| i as i64 * -98_765)
                .with_precision_and_scale(18, 4)
                .unwrap(),
        ),
    );
    add(
        "decimal128",
        Arc::new(
            prim::<Decimal128Type>(|i| i as i128 * 10_i128.pow(30) + 5)
                .with_precision_and_scale(38, 10)
                .unwrap(),
        ),
    );
    add(
        "decimal256",
        Arc::new(
            prim::<Decimal256Type>(nth)
                .with_precision_and_scale(76, -3)
                .unwrap(),
        ),
    );
    add(
        "list",
        Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(
            (0..ROWS).map(|i| {
                opt(
                    i,
                    (0..i)
                        .map(|j| (j % 2 == 0).then_some(j as i32))
                        .collect::<Vec<_>>(),
                )
            }),
        )),
    );
    add(
        "large_list",
        Arc::new(LargeListArray::from_iter_primitive::<Int64Type, _, _>(
            (0..ROWS).map(|i| opt(i, (0..i).map(|j| Some(j as i64)).collect::<Vec<_>>())),
        )),
    );
    add(
        "fixed_size_list",
        Arc::new({
            let mut b = FixedSizeListBuilder::new(Int32Builder::new(), 2);
            for i in 0..ROWS {
                b.values().append_value(i as i32);
                b.values().append_null();
                b.append(valid(i));
            }
            b.finish()
        }),
    );
    add(
        "list_view",
        Arc::new({
            let mut b = ListViewBuilder::new(StringBuilder::new());
            for i in 0..ROWS {
                b.append_option(opt(i, (0..i % 3).map(|j| Some(format!("v{j}")))));
            }
            b.finish()
        }),
    );
    let struct_fields = Fields::from(vec![
        Field::new("a", DataType::Int32, true),
        Field::new("b", DataType::Utf8, true)
            .with_metadata(HashMap::from([("k".to_string(), "v".to_string())])),
    ]);
    add(
        "struct",
        Arc::new(StructArray::new(
            struct_fields,
            vec![
                Arc::new(prim::<Int32Type>(|i| i as i32)),
                Arc::new((0..ROWS).map(|i| Some(strings(i))).collect::<StringArray>()),
            ],
            Some((0..ROWS).map(|i| i % 2 == 0).collect::<Vec<_>>().into()),
        )),
    );
    add(
        "map",
        Arc::new({
            let mut b = MapBuilder::new(None, StringBuilder::new(), Int64Builder::new());
            for i in 0..ROWS {
                for j in 0..i % 3 {
                    b.keys().append_value(format!("k{j}"));
                    b.values().append_option(opt(j, j as i64));
                }
                b.append(valid(i)).unwrap();
            }
            b.finish()
        }),
    );
    add(
        "dict_i32_utf8",
        Arc::new({
            let mut b = StringDictionaryBuilder::<Int32Type>::new();
            for i in 0..ROWS {
                b.append_option(opt(i, ["inbound", "outbound"][i % 2]));
            }
            b.finish()
        }),
    );
    add(
        "dict_u16_utf8",
        Arc::new(
            (0..ROWS)
                .map(|i| opt(i, ["x", "y", "z"][i % 3]))
                .collect::<DictionaryArray<UInt16Type>>(),
        ),
    );
    add(
        "run_end_encoded",
        Arc::new(
            RunArray::<Int32Type>::try_new(
                &Int32Array::from(vec![2, 5, ROWS as i32]),
                &StringArray::from(vec![Some("run-a"), None, Some("run-c")]),
            )
            .unwrap(),
        ),
    );
    add(
        "sparse_union",
        Arc::new({
            let mut b = UnionBuilder::new_sparse();
            for i in 0..ROWS {
                if i % 2 == 0 {
                    b.append::<Int32Type>("int", i as i32).unwrap();
                } else {
                    b.append::<Float64Type>("float", i as f64).unwrap();
                }
            }
            b.build().unwrap()
        }),
    );
    add(
        "dense_union",
        Arc::new({
            let mut b = UnionBuilder::new_dense();
            for i in 0..ROWS {
                if valid(i) {
                    b.append::<Int8Type>("small", i as i8).unwrap();
                } else {
                    b.append_null::<Int64Type>("big").unwrap();
                }
            }
            b.build().unwrap()
        }),
    );

    let fields: Vec<Field> = cols
        .iter()
        .map(|(name, a)| {
            Field::new(
                *name,
                a.data_type().clone(),
                a.null_count() > 0 || a.is_nullable(),
            )
            .with_metadata(HashMap::from([(
                "origin".to_string(),
                format!("column {name}"),
            )]))
        })
        .collect();
    let schema = Schema::new(fields).with_metadata(HashMap::from([(
        "pipeline".to_string(),
        "every-type".to_string(),
    )]));
    RecordBatch::try_new(Arc::new(schema), cols.into_iter().map(|(_, a)| a).collect()).unwrap()
}

/// The batches the round-trip tests send: the full batch, a slice with a non-zero offset,
/// no rows, and rows without columns.
fn batches_to_send() -> Vec<(&'static str, RecordBatch)> {
    let full = every_type_batch();
    let sliced = full.slice(2, ROWS - 3);
    let empty = full.slice(0, 0);
    let no_columns = RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &RecordBatchOptions::new().with_row_count(Some(3)),
    )
    .unwrap();
    vec![
        ("every type", full),
        ("sliced", sliced),
        ("zero rows", empty),
        ("zero columns", no_columns),
    ]
}

// ---------------------------------------------------------------------------------------
// 1. Round trips
// ---------------------------------------------------------------------------------------

#[test]
fn every_column_type_round_trips_through_export_and_import_in_process() {
    for (what, batch) in batches_to_send() {
        let (mut array, schema) = tributary_plugin_sdk::abi::export::export_batch(&batch).unwrap();
        // SAFETY: `array` and `schema` were just exported by the SDK and are valid; the
        // import moves the array out (leaving `array` with a null release).
        #[allow(unsafe_code)]
        let back = unsafe { tributary_plugin_sdk::abi::export::import_batch(&mut array, &schema) }
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            batch, back,
            "{what}: the batch changed crossing the C Data Interface"
        );
    }
}

#[test]
fn every_column_type_round_trips_through_the_echo_so_on_both_outputs() {
    let lib = echo();
    assert_eq!(lib.meta().name, "echo");
    assert_eq!(lib.meta().kind, PluginKind::Transform);
    assert_eq!(lib.meta().abi_version, ABI_VERSION);
    // Passing the batch through (the host recognises its own buffers and checks their
    // layout only), and emitting copies in new buffers (checked in full).
    for fresh_buffers in [false, true] {
        round_trip_through_echo(&lib, fresh_buffers);
    }
}

fn round_trip_through_echo(lib: &Arc<PluginLibrary>, fresh_buffers: bool) {
    let mut t = lib
        .create_transform(
            &json!({ "fresh_buffers": fresh_buffers }),
            &CreateContext::default(),
        )
        .unwrap();
    for (what, batch) in batches_to_send() {
        let what = format!("{what} (fresh_buffers: {fresh_buffers})");
        let mut out = Outputs::new();
        t.process(&batch, &mut out)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let got = out.take();
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, [MAIN_OUTPUT, "copy"], "{what}: outputs");
        for (name, returned) in got {
            assert_eq!(
                batch, returned,
                "{what}: the batch on output {name:?} is not the one sent"
            );
        }
    }
    let mut out = Outputs::new();
    t.flush(&cp(), &mut out).unwrap();
    t.close(&mut out).unwrap();
    assert!(out.is_empty());
    assert!(!t.is_poisoned());
}

#[test]
fn a_transform_is_not_created_as_a_sink() {
    let err = echo()
        .create_sink(&json!({}), &CreateContext::default())
        .err()
        .unwrap();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(
        err.message.contains("`echo` is a transform, not a sink"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// 2. Panics poison the instance; the process survives
// ---------------------------------------------------------------------------------------

fn faulty_sink(config: serde_json::Value) -> tributary_plugin_sdk::Result<ForeignSink> {
    faulty().create_sink(&config, &CreateContext::default())
}

fn small_batch() -> RecordBatch {
    RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(vec![1, 2, 3])) as ArrayRef)])
        .unwrap()
}

fn assert_panic<T>(result: tributary_plugin_sdk::Result<T>, stage: &str) {
    let Err(err) = result else {
        panic!("the panic in {stage} must come back as an error");
    };
    assert_eq!(err.kind, ErrorKind::Panic, "{err}");
    assert!(
        err.message.contains("plugin `faulty`")
            && err
                .message
                .contains(&format!("faulty: deliberate panic in {stage}")),
        "the message names the plugin and carries the panic message: {err}"
    );
}

/// Every call on a poisoned instance is refused by the host without reaching the plugin:
/// a call that reached `faulty` would panic again (`Panic`) or succeed, never `Poisoned`.
fn assert_poisoned(sink: &mut impl Sink) {
    let errors = [
        sink.healthcheck().err(),
        sink.write(&small_batch()).err(),
        sink.flush(&cp()).err(),
        sink.close().err(),
        sink.write(&small_batch()).err(),
    ];
    for err in errors {
        let err = err.expect("a poisoned instance must refuse every call");
        assert_eq!(err.kind, ErrorKind::Poisoned, "{err}");
        assert!(err.message.contains("`faulty` panicked earlier"), "{err}");
    }
}

/// The library still works after the panics: a healthy instance counts and acknowledges.
fn assert_library_still_usable() {
    let mut sink = faulty_sink(json!({})).unwrap();
    sink.healthcheck().unwrap();
    sink.write(&small_batch()).unwrap();
    sink.write(&small_batch()).unwrap();
    let ack = sink.flush(&cp()).unwrap();
    assert_eq!(ack.records, 6);
    assert_eq!(ack.metrics.get("batches"), Some(&json!(2)));
    sink.close().unwrap();
}

#[test]
fn a_panic_in_create_is_an_error_and_no_instance_is_made() {
    assert_panic(faulty_sink(json!({"panic_in": "create"})), "create");
    assert_library_still_usable();
}

#[test]
fn a_panic_in_write_poisons_the_instance() {
    let mut sink = faulty_sink(json!({"panic_in": "write"})).unwrap();
    assert!(!sink.is_poisoned());
    assert_panic(sink.write(&small_batch()), "write");
    assert!(sink.is_poisoned());
    assert_poisoned(&mut sink);
    drop(sink); // destroy is not called on a poisoned instance
    assert_library_still_usable();
}

#[test]
fn a_panic_in_flush_poisons_the_instance() {
    let mut sink = faulty_sink(json!({"panic_in": "flush"})).unwrap();
    sink.write(&small_batch()).unwrap();
    assert_panic(sink.flush(&cp()), "flush");
    assert!(sink.is_poisoned());
    assert_poisoned(&mut sink);
    assert_library_still_usable();
}

#[test]
fn a_panic_in_close_poisons_the_instance() {
    let mut sink = faulty_sink(json!({"panic_in": "close"})).unwrap();
    sink.write(&small_batch()).unwrap();
    assert_eq!(sink.flush(&cp()).unwrap().records, 3);
    assert_panic(sink.close(), "close");
    assert!(sink.is_poisoned());
    assert_poisoned(&mut sink);
    assert_library_still_usable();
}

#[test]
fn a_panic_on_another_thread_comes_back_to_the_caller() {
    // The engine drives each instance from its own thread.
    let handle = std::thread::spawn(|| {
        let mut sink = faulty_sink(json!({"panic_in": "write"})).unwrap();
        let first = sink.write(&small_batch()).err().map(|e| e.kind);
        let second = sink.write(&small_batch()).err().map(|e| e.kind);
        (first, second)
    });
    let (first, second) = handle.join().expect("the host thread must not unwind");
    assert_eq!(first, Some(ErrorKind::Panic));
    assert_eq!(second, Some(ErrorKind::Poisoned));
}

// ---------------------------------------------------------------------------------------
// 3. Returned errors keep their kind and message
// ---------------------------------------------------------------------------------------

#[test]
fn returned_errors_keep_their_kind_and_message_and_do_not_poison() {
    let kinds = [
        ("runtime", ErrorKind::Runtime),
        ("config", ErrorKind::Config),
        ("data_quality", ErrorKind::DataQuality),
    ];
    for (kind_name, kind) in kinds {
        for stage in ["create", "write", "flush", "close"] {
            let config = json!({"error_in": stage, "error_kind": kind_name});
            let check = |err: tributary_plugin_sdk::PluginError| {
                assert_eq!(err.kind, kind, "{stage}/{kind_name}: {err}");
                assert_eq!(
                    err.message,
                    format!(
                        "plugin `faulty`: faulty: deliberate {kind} in {stage}; remove `error_in` from the config"
                    ),
                    "{stage}/{kind_name}"
                );
            };
            let sink = faulty_sink(config);
            if stage == "create" {
                check(sink.err().unwrap());
                continue;
            }
            let mut sink = sink.unwrap();
            let err = match stage {
                "write" => sink.write(&small_batch()).err(),
                "flush" => {
                    sink.write(&small_batch()).unwrap();
                    sink.flush(&cp()).err()
                }
                _ => sink.close().err(),
            };
            check(err.unwrap());
            // An error is not a panic: the instance is still called, and fails the same way.
            let again = match stage {
                "write" => sink.write(&small_batch()).err(),
                "flush" => sink.flush(&cp()).err(),
                _ => sink.close().err(),
            };
            check(again.unwrap());
            sink.healthcheck().unwrap();
        }
    }
}

#[test]
fn a_bad_config_is_a_config_error_naming_the_key() {
    let err = faulty_sink(json!({"panic_in": "sometimes"})).err().unwrap();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("sometimes"), "{err}");
    let err = faulty_sink(json!({"explode": true})).err().unwrap();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("unknown field `explode`"), "{err}");
}

// ---------------------------------------------------------------------------------------
// 4–7. Libraries that are refused
// ---------------------------------------------------------------------------------------

fn load_err(path: &Path, pin: Option<&str>) -> LoadError {
    match PluginLibrary::load(path, pin) {
        Ok(lib) => panic!("{} loaded as {:?}", path.display(), lib.meta()),
        Err(e) => e,
    }
}

fn assert_names_file(err: &LoadError, path: &Path) {
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "the message names the file: {err}"
    );
}

#[test]
fn another_abi_version_is_refused_naming_file_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    // A future descriptor whose layout this engine does not know: only the version is read.
    let so = cc_shared(
        dir.path(),
        "abi2",
        r#"#include <stdint.h>
struct V2 { uint32_t abi_version; uint64_t something_else; };
static const struct V2 D = { 2u, 42u };
const void *tributary_plugin_v1(void) { return &D; }
"#,
    );
    let err = load_err(&so, None);
    match &err {
        LoadError::AbiVersion {
            path,
            found,
            supported,
        } => {
            assert_eq!(path, &so);
            assert_eq!((*found, *supported), (2, ABI_VERSION));
        }
        other => panic!("expected AbiVersion, got {other:?}"),
    }
    let msg = err.to_string();
    assert_names_file(&err, &so);
    assert!(
        msg.contains("ABI version 2") && msg.contains("speaks version 1"),
        "{msg}"
    );
}

#[test]
fn a_library_without_the_entry_symbol_is_not_a_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let so = cc_shared(dir.path(), "nosym", "int hello(void) { return 1; }\n");
    let err = load_err(&so, None);
    assert!(
        matches!(&err, LoadError::NotAPlugin { path } if path == &so),
        "{err:?}"
    );
    assert_names_file(&err, &so);
    assert!(err.to_string().contains("tributary_plugin_v1"), "{err}");
}

#[test]
fn a_text_file_named_so_is_refused_by_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("libnotes.so");
    std::fs::write(&so, "these are my notes, not a library\n").unwrap();
    let err = load_err(&so, None);
    assert!(
        matches!(&err, LoadError::Open { path, .. } if path == &so),
        "{err:?}"
    );
    assert_names_file(&err, &so);
    assert!(err.to_string().contains("cannot load"), "{err}");
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let so = dir.path().join("libabsent.so");
    let err = load_err(&so, None);
    assert!(
        matches!(&err, LoadError::Read { path, .. } if path == &so),
        "{err:?}"
    );
    assert_names_file(&err, &so);
}

#[test]
fn a_pinned_hash_mismatch_is_refused_before_the_library_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("constructor-ran");
    // The constructor runs as soon as the library is dlopen'ed.
    let so = cc_shared(
        dir.path(),
        "marker",
        &format!(
            r#"#include <stdio.h>
__attribute__((constructor)) static void mark(void) {{
  FILE *f = fopen("{}", "w"); if (f) {{ fputs("loaded", f); fclose(f); }}
}}
"#,
            marker.display()
        ),
    );
    let actual = file_sha256(&so).unwrap();
    let wrong = "0".repeat(64);
    let err = load_err(&so, Some(&wrong));
    match &err {
        LoadError::HashMismatch {
            path,
            expected,
            actual: a,
        } => {
            assert_eq!(path, &so);
            assert_eq!(expected, &wrong);
            assert_eq!(a, &actual);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    assert_names_file(&err, &so);
    assert!(err.to_string().contains("nothing was loaded"), "{err}");
    assert!(
        !marker.exists(),
        "the library was loaded despite the hash mismatch"
    );

    // Control: with the right pin (any case) the library is opened, the constructor runs,
    // and the load then fails for the next reason (no entry symbol).
    let err = load_err(&so, Some(&actual.to_uppercase()));
    assert!(matches!(err, LoadError::NotAPlugin { .. }), "{err:?}");
    assert!(
        marker.exists(),
        "control: the constructor writes the marker when loaded"
    );
}

#[test]
fn a_matching_pin_loads_a_real_plugin() {
    let so = so_path("tributary_example_echo");
    let sha = file_sha256(&so).unwrap();
    let lib = PluginLibrary::load(&so, Some(&sha)).unwrap();
    assert_eq!(lib.meta().sha256(), Some(sha.as_str()));
    assert_eq!(lib.meta().path, so);
    // Unpinned, the hash is computed when first asked for (the audit log asks), from the
    // file: the same value, independently checked with sha256sum when it is installed.
    let unpinned = PluginLibrary::load(&so, None).unwrap();
    assert_eq!(unpinned.meta().sha256(), Some(sha.as_str()));
    if let Ok(out) = Command::new("sha256sum").arg(&so).output() {
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(text.split_whitespace().next(), Some(sha.as_str()));
    }
    let json = serde_json::to_value(unpinned.meta()).unwrap();
    assert_eq!(json["sha256"], sha.as_str());
}

#[test]
fn malformed_descriptors_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "small",
            c_sink_with(".descriptor_size = 8"),
            "descriptor_size is 8 bytes, version 1 needs at least",
        ),
        (
            "noflush",
            c_sink_with(".flush = 0"),
            "required function `flush` is null",
        ),
        (
            "nocreate",
            c_sink_with(".create = 0"),
            "required function `create` is null",
        ),
        (
            "nofree",
            c_sink_with(".free_buffer = 0"),
            "required function `free_buffer` is null",
        ),
        (
            "nowrite",
            c_sink_with(".write = 0"),
            "required function `write` is null",
        ),
        (
            "noprocess",
            c_sink_with(".kind = TRIBUTARY_KIND_TRANSFORM"),
            "required function `process` is null",
        ),
        ("noname", c_sink_with(".name = 0"), "`name` is null"),
        ("kind9", c_sink_with(".kind = 9"), "unknown kind 9"),
        (
            "badschema",
            c_sink_with(".config_schema = \"{not json\""),
            "config_schema is not JSON",
        ),
        (
            "nulldesc",
            "#include <stddef.h>\nconst void *tributary_plugin_v1(void) { return NULL; }\n"
                .to_string(),
            "the entry point returned a null descriptor",
        ),
    ];
    for (stem, source, reason) in cases {
        let so = cc_shared(dir.path(), stem, &source);
        let err = load_err(&so, None);
        assert!(
            matches!(&err, LoadError::BadDescriptor { path, .. } if path == &so),
            "{stem}: {err:?}"
        );
        assert_names_file(&err, &so);
        assert!(err.to_string().contains(reason), "{stem}: {err}");
    }
    // Control: the same C descriptor, well formed, loads and runs.
    let so = cc_shared(dir.path(), "good", &c_sink_with(".reserved = 0"));
    let lib = PluginLibrary::load(&so, None).unwrap();
    assert_eq!(lib.meta().name, "c_fixture");
    let mut sink = lib
        .create_sink(&json!({}), &CreateContext::default())
        .unwrap();
    sink.write(&small_batch()).unwrap();
    assert_eq!(sink.flush(&cp()).unwrap().records, 0);
}

/// A C transform that hands the batch it was lent straight back, after `tamper`, a C
/// statement run on `struct ArrowArray *a` / `const struct ArrowSchema *s` (`s` may be
/// reassigned to describe the data differently).
fn c_returning_transform(tamper: &str) -> String {
    format!(
        r#"#include "tributary_plugin.h"
static void keep_schema(struct ArrowSchema *x) {{ x->release = 0; }}
static struct ArrowSchema CHILD = {{ .format = "u", .name = "b", .flags = ARROW_FLAG_NULLABLE, .release = keep_schema }};
static struct ArrowSchema *CHILDREN[1] = {{ &CHILD }};
static struct ArrowSchema AS_UTF8 = {{ .format = "+s", .name = "", .n_children = 1, .children = CHILDREN, .release = keep_schema }};
static int32_t c_create(const uint8_t *c, size_t cl, const uint8_t *x, size_t xl, void **i, TributaryBuffer *e) {{ (void)c; (void)cl; (void)x; (void)xl; (void)e; *i = (void *)1; return 0; }}
static int32_t c_process(void *i, struct ArrowArray *a, const struct ArrowSchema *s, TributaryEmitFn emit, void *ctx, TributaryBuffer *e) {{
  (void)i; (void)e; (void)AS_UTF8;
  {tamper};
  return emit(ctx, (const uint8_t *)"", 0, a, s);
}}
static int32_t c_flush(void *i, const uint8_t *c, size_t cl, TributaryEmitFn f, void *fc, TributaryBuffer *a, TributaryBuffer *e) {{ (void)i; (void)c; (void)cl; (void)f; (void)fc; (void)a; (void)e; return 0; }}
static int32_t c_close(void *i, TributaryEmitFn f, void *fc, TributaryBuffer *a, TributaryBuffer *e) {{ (void)i; (void)f; (void)fc; (void)a; (void)e; return 0; }}
static void c_destroy(void *i) {{ (void)i; }}
static void c_free(TributaryBuffer b) {{ (void)b; }}
static const TributaryPluginV1 DESCRIPTOR = {{ .abi_version = TRIBUTARY_ABI_VERSION, .descriptor_size = sizeof(TributaryPluginV1),
  .kind = TRIBUTARY_KIND_TRANSFORM, .name = "c_returner", .version = "0.0.1", .config_schema = "{{}}", .create = c_create,
  .process = c_process, .flush = c_flush, .close = c_close, .destroy = c_destroy, .free_buffer = c_free }};
const TributaryPluginV1 *tributary_plugin_v1(void) {{ return &DESCRIPTOR; }}
"#
    )
}

fn one_column(name: &str, array: ArrayRef) -> RecordBatch {
    RecordBatch::try_from_iter([(name, array)]).unwrap()
}

fn process_through(
    so: &Path,
    batch: &RecordBatch,
) -> tributary_plugin_sdk::Result<Vec<RecordBatch>> {
    let lib = PluginLibrary::load(so, None).unwrap();
    let mut t = lib
        .create_transform(&json!({}), &CreateContext::default())
        .unwrap();
    let mut out = Outputs::new();
    t.process(batch, &mut out)?;
    assert!(!t.is_poisoned());
    Ok(out.take().into_iter().map(|(_, b)| b).collect())
}

/// Columns a transform passes through untouched skip the O(data) value check (they are
/// the engine's own, valid, buffers); anything else a plugin hands back is checked in
/// full. These C transforms return the lent buffers relabelled or with a false null
/// count: the host must notice both, and still accept the honest pass-through.
#[test]
fn returned_batches_reusing_lent_buffers_are_checked_unless_truly_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let utf8_with_null = one_column(
        "b",
        Arc::new(StringArray::from(vec![Some("a"), None, Some("ccc")])) as ArrayRef,
    );

    // Honest pass-through, by a C plugin: accepted, unchanged.
    let so = cc_shared(dir.path(), "pass", &c_returning_transform("(void)a"));
    let back = process_through(&so, &utf8_with_null).unwrap();
    assert_eq!(back, vec![utf8_with_null.clone()]);

    // Binary bytes relabelled as UTF-8: the same buffers, another type. Valid UTF-8 goes
    // through (as utf8); bytes that are not UTF-8 are refused.
    let so = cc_shared(dir.path(), "retype", &c_returning_transform("s = &AS_UTF8"));
    let ok = one_column(
        "b",
        Arc::new(BinaryArray::from(vec![b"ok".as_slice(), b"fine"])) as ArrayRef,
    );
    let back = process_through(&so, &ok).unwrap();
    let strings = back[0]
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap();
    assert_eq!(
        strings.iter().collect::<Vec<_>>(),
        [Some("ok"), Some("fine")]
    );
    let bad = one_column(
        "b",
        Arc::new(BinaryArray::from(vec![b"ok".as_slice(), b"\xff\xfe"])) as ArrayRef,
    );
    let err = process_through(&so, &bad).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Abi, "{err}");
    assert!(
        err.message.contains("invalid Arrow batch") && err.message.contains("utf-8"),
        "{err}"
    );

    // The lent buffers with a false null count (2 where there is one null): refused. (A
    // count of 0 would make arrow drop the validity bitmap on import: the null would come
    // back as its slot's value, a change of data no check can tell from an edit.)
    let so = cc_shared(
        dir.path(),
        "nullcount",
        &c_returning_transform("a->children[0]->null_count = 2"),
    );
    let err = process_through(&so, &utf8_with_null).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Abi, "{err}");
    assert!(err.message.contains("null_count"), "{err}");
}

/// The file at a pinned path replaced after its hash was checked (the race a swap would
/// exploit): what is loaded is still the library that was hashed, never the replacement.
#[test]
fn a_file_swapped_after_the_pin_check_is_not_what_gets_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let pinned = dir.path().join("libplugin.so");
    std::fs::copy(so_path("tributary_example_echo"), &pinned).unwrap();
    let sha = file_sha256(&pinned).unwrap();
    let other = so_path("tributary_example_faulty");
    let lib = PluginLibrary::load_with_hook(&pinned, Some(&sha), || {
        // Swap: a different plugin now sits at the pinned path.
        let tmp = dir.path().join("swap.so");
        std::fs::copy(&other, &tmp).unwrap();
        std::fs::rename(&tmp, &pinned).unwrap();
    })
    .unwrap();
    assert_eq!(lib.meta().name, "echo", "the hashed library was loaded");
    assert_ne!(file_sha256(&pinned).unwrap(), sha, "the swap happened");
    // And a pinned path without a `/` is refused (the loader would search for it).
    let e = PluginLibrary::load(Path::new("libplugin.so"), Some(&sha)).unwrap_err();
    assert!(e.to_string().contains("must contain a `/`"), "{e}");
}

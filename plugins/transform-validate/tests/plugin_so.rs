//! Loads the real `.so` the way the engine does and runs batches through it.
// Test code: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use tributary_plugin_sdk::abi::host::PluginLibrary;
use tributary_plugin_sdk::{Checkpoint, CreateContext, ErrorKind, Outputs, PluginKind, Transform};

/// The `.so` built with this test (whatever the target directory).
fn so_path() -> PathBuf {
    tributary_plugin_sdk::abi::host::built_library("tributary_transform_validate")
        .expect("libtributary_transform_validate.so not built: run cargo build --workspace")
}

fn batch() -> RecordBatch {
    let s = |v: Vec<Option<&str>>| Arc::new(StringArray::from(v)) as ArrayRef;
    let i = |v: Vec<Option<i64>>| Arc::new(Int64Array::from(v)) as ArrayRef;
    RecordBatch::try_from_iter([
        ("id", s(vec![Some("a"), Some("b"), Some("c"), Some("a")])),
        (
            "direction",
            s(vec![
                Some("inbound"),
                Some("outbound"),
                Some("inbound"),
                Some("inbound"),
            ]),
        ),
        (
            "medium",
            s(vec![
                Some("voice"),
                Some("chat"),
                Some("email"),
                Some("voice"),
            ]),
        ),
        ("startTime", s(vec![Some("2023-01-15T08:30:00.000Z"); 4])),
        (
            "endTime",
            s(vec![
                Some("2023-01-15T08:40:00.000Z"),
                Some("2023-01-15T08:00:00.000Z"),
                Some("2023-01-15T09:00:00.000Z"),
                Some("2023-01-15T08:40:00.000Z"),
            ]),
        ),
        ("agentId", s(vec![Some("ag"), Some("ag"), None, Some("ag")])),
        ("queueId", s(vec![Some("q"); 4])),
        ("holdTime", i(vec![Some(1); 4])),
        ("wrapTime", i(vec![Some(2); 4])),
        ("talkTime", i(vec![Some(3); 4])),
    ])
    .unwrap()
}

#[test]
fn the_shared_library_validates_and_routes() {
    let lib = PluginLibrary::load(&so_path(), None)
        .unwrap_or_else(|e| panic!("load {}: {e}", so_path().display()));
    assert_eq!(lib.meta().name, "validate");
    assert_eq!(lib.meta().kind, PluginKind::Transform);
    assert!(lib.meta().config_schema["properties"]["min_integrity_rate"].is_object());
    let ctx = CreateContext {
        component: "checked".into(),
        pipeline: "p".into(),
        ..CreateContext::default()
    };
    let mut t = lib
        .create_transform(&serde_json::json!({"min_integrity_rate": 0.9}), &ctx)
        .unwrap();

    let mut out = Outputs::new();
    t.process(&batch(), &mut out).unwrap();
    let outputs = out.take();
    let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["", "invalid"]);
    let main_ids: Vec<&str> = outputs[0]
        .1
        .column_by_name("id")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(main_ids, ["a"]);
    let invalid = &outputs[1].1;
    let reasons: Vec<&str> = invalid
        .column_by_name("_reason")
        .unwrap()
        .as_string::<i32>()
        .iter()
        .flatten()
        .collect();
    assert_eq!(reasons, ["endTime<startTime", "missing:agentId"]);

    let ack = t
        .flush(
            &Checkpoint {
                window_id: "w1".into(),
                ..Checkpoint::default()
            },
            &mut Outputs::new(),
        )
        .unwrap();
    assert_eq!(ack.metrics["duplicates"], 1);
    assert_eq!(ack.metrics["integrity_rate"], 0.75);
    let e = t.close(&mut Outputs::new()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::DataQuality);
    assert!(e.message.contains("agentId (1)"), "{e}");
}

#[test]
fn the_shared_library_refuses_bad_config() {
    let lib = PluginLibrary::load(&so_path(), None).unwrap();
    let e = match lib.create_transform(
        &serde_json::json!({"on_invalid": "explode"}),
        &CreateContext::default(),
    ) {
        Ok(_) => panic!("an unknown on_invalid value was accepted"),
        Err(e) => e,
    };
    assert_eq!(e.kind, ErrorKind::Config);
}

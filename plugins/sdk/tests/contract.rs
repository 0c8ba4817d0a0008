//! The contract suites through real `.so` files: the C example sink (`row_log.c`, compiled
//! here with `cc`), and the `faulty` fixture, whose panics prove that the suite sees a
//! panic across the ABI and that the host then refuses every call (`panic_poisons`).
//!
//! `cargo build -p tributary-example-faulty -p tributary-example-echo` first, then
//! `cargo test -p tributary-plugin-sdk --features host,testing --test contract`.
#![cfg(all(feature = "host", feature = "testing"))]
// Test code: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use serde_json::{Value, json};
use tributary_plugin_sdk::abi::host::PluginLibrary;
use tributary_plugin_sdk::testing::{SinkContract, Status, TransformContract};
use tributary_plugin_sdk::{CreateContext, Sink, Transform};

fn load(name: &str) -> Arc<PluginLibrary> {
    let path = tributary_plugin_sdk::abi::host::built_library(name).unwrap_or_else(|| {
        panic!("lib{name}.so not found next to the test executable; build it first: cargo build -p tributary-example-faulty -p tributary-example-echo")
    });
    PluginLibrary::load(&path, None)
        .unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display()))
}

fn sink_of(
    lib: &Arc<PluginLibrary>,
    config: Value,
) -> impl FnMut() -> tributary_plugin_sdk::Result<Box<dyn Sink>> {
    let lib = Arc::clone(lib);
    move || Ok(Box::new(lib.create_sink(&config, &CreateContext::default())?) as Box<dyn Sink>)
}

/// The C example, compiled as the plugin guide says.
fn row_log_so(dir: &Path) -> PathBuf {
    let so = dir.join("librow_log.so");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-I"])
        .arg(root.join("include"))
        .arg("-o")
        .arg(&so)
        .arg(root.join("../examples/c-sink/row_log.c"))
        .output()
        .expect("a C compiler (cc) is needed for this test");
    assert!(
        out.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

/// Rows in a row_log file: one `<window_id> <rows>` line per flushed window.
fn logged_rows(log: &Path) -> u64 {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[test]
fn the_c_example_sink_meets_the_contract_through_its_so() {
    let dir = tempfile::tempdir().unwrap();
    let lib = PluginLibrary::load(&row_log_so(dir.path()), None).unwrap();
    let log = dir.path().join("rows.log");
    let unwritable = dir.path().join("no-such-dir/rows.log");
    let report = SinkContract::new(sink_of(&lib, json!({ "path": log.display().to_string() })))
        .named("row_log (C, .so)")
        .landed_rows(|| logged_rows(&log))
        .failing(sink_of(
            &lib,
            json!({ "path": unwritable.display().to_string() }),
        ))
        .run();
    eprintln!("{report}");
    report.assert_ok();
    assert!(
        report.passed_checks().contains(&"window_replayed"),
        "{report}"
    );
    assert!(
        report.passed_checks().contains(&"close_after_failure"),
        "{report}"
    );
}

#[test]
fn the_faulty_fixture_behaving_passes_through_its_so() {
    let lib = load("tributary_example_faulty");
    let report = SinkContract::new(sink_of(&lib, json!({})))
        .named("faulty, behaving (.so)")
        .failing(sink_of(&lib, json!({ "error_in": "flush" })))
        .run();
    report.assert_ok();
    assert!(
        report.passed_checks().contains(&"close_after_failure"),
        "{report}"
    );
}

/// A plugin panicking in `write`: the suite catches each panic across the ABI, fails the
/// checks that write, and proves the host refused every later call as poisoned.
#[test]
fn a_panicking_so_fails_the_checks_and_its_instances_are_poisoned() {
    let lib = load("tributary_example_faulty");
    let report = SinkContract::new(sink_of(&lib, json!({ "panic_in": "write" })))
        .named("faulty, panicking in write (.so)")
        .run();
    eprintln!("{report}");
    let failed = report.failed_checks();
    assert!(failed.contains(&"empty_batch"), "{report}");
    assert!(failed.contains(&"engine_types"), "{report}");
    assert!(
        !failed.contains(&"empty_window"),
        "no write there:\n{report}"
    );
    let Some(Status::Failed(why)) = report.status("empty_batch") else {
        panic!("{report}")
    };
    assert!(why.contains("caught at the ABI boundary"), "{why}");
    assert!(
        matches!(report.status("panic_poisons"), Some(Status::Passed(_))),
        "{report}"
    );

    let report = SinkContract::new(sink_of(&lib, json!({ "panic_in": "close" })))
        .named("faulty, panicking in close (.so)")
        .run();
    assert!(report.failed_checks().contains(&"empty_window"), "{report}");
    assert!(
        matches!(report.status("panic_poisons"), Some(Status::Passed(_))),
        "{report}"
    );
}

#[test]
fn the_echo_transform_meets_the_contract_through_its_so() {
    let lib = load("tributary_example_echo");
    let report = TransformContract::new(|| {
        Ok(
            Box::new(lib.create_transform(&json!({}), &CreateContext::default())?)
                as Box<dyn Transform>,
        )
    })
    .named("echo (.so)")
    .run();
    eprintln!("{report}");
    report.assert_ok();
}

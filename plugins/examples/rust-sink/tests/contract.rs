//! The SDK's sink contract through this crate's own `.so`, loaded the way the engine loads it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tributary_plugin_sdk::abi::host::{PluginLibrary, built_library};
use tributary_plugin_sdk::serde_json::{Value, json};
use tributary_plugin_sdk::testing::SinkContract;
use tributary_plugin_sdk::{CreateContext, Sink};

fn landed(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            tributary_plugin_sdk::serde_json::from_str::<Value>(l).unwrap()["rows"]
                .as_u64()
                .unwrap()
        })
        .sum()
}

#[test]
fn the_so_meets_the_sink_contract() {
    let so = built_library("tributary_example_jsonl_sink")
        .expect("libtributary_example_jsonl_sink.so not built next to this test");
    let lib = PluginLibrary::load(&so, None).unwrap();
    let dir: PathBuf =
        std::env::temp_dir().join(format!("jsonl-contract-so-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("windows.jsonl");
    let make = |path: PathBuf| {
        let lib = Arc::clone(&lib);
        move || -> tributary_plugin_sdk::Result<Box<dyn Sink>> {
            let config = json!({ "path": path.display().to_string() });
            Ok(Box::new(
                lib.create_sink(&config, &CreateContext::default())?,
            ))
        }
    };
    let report = SinkContract::new(make(file.clone()))
        .named("jsonl_count (.so)")
        .landed_rows(|| landed(&file))
        .failing(make(dir.join("missing/windows.jsonl")))
        .run();
    std::fs::remove_dir_all(&dir).unwrap();
    report.assert_ok();
}

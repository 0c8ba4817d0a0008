//! The SDK's sink contract, against the sink in-process and through its `.so`, landing in a
//! local directory; the probe counts the rows in the parquet files there.

use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::{Value, json};
use tributary_plugin_sdk::abi::host::{PluginLibrary, built_library};
use tributary_plugin_sdk::testing::SinkContract;
use tributary_plugin_sdk::{CreateContext, PluginInfo, Sink};
use tributary_sink_parquet::ParquetSink;

/// Rows in every `.parquet` file under `root`, from the footers.
fn landed(root: &Path) -> u64 {
    let mut rows = 0;
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let reader = SerializedFileReader::new(std::fs::File::open(&p).unwrap())
                    .unwrap_or_else(|e| {
                        panic!("{} is not a readable parquet file: {e}", p.display())
                    });
                rows += reader.metadata().file_metadata().num_rows() as u64;
            }
        }
    }
    rows
}

fn ctx(data: &Path) -> CreateContext {
    CreateContext {
        component: "lake".into(),
        pipeline: "contract".into(),
        run_id: "contract".into(),
        data_dir: data.display().to_string(),
        ..CreateContext::default()
    }
}

fn config(url: &Path) -> Value {
    json!({ "url": url.display().to_string(), "partition_by": ["startTime:day"] })
}

/// After `create` (which checks the destination, and so cannot be the one to fail), the
/// output directory is replaced by a file: the instance's flush cannot land anything.
fn break_destination(out: &Path) {
    std::fs::remove_dir_all(out).unwrap();
    std::fs::write(out, b"a file where the directory was").unwrap();
}

#[test]
fn the_sink_meets_the_contract_in_process() {
    let dir = tempfile::tempdir().unwrap();
    let (out, data) = (dir.path().join("lake"), dir.path().join("data"));
    let make = |url: PathBuf, broken: bool| {
        let data = data.clone();
        move || -> tributary_plugin_sdk::Result<Box<dyn Sink>> {
            let c = serde_json::from_value(config(&url)).unwrap();
            let sink = ParquetSink::create(c, &ctx(&data))?;
            if broken {
                break_destination(&url);
            }
            Ok(Box::new(sink))
        }
    };
    let report = SinkContract::new(make(out.clone(), false))
        .named("parquet (in-process)")
        .landed_rows(|| landed(&out))
        .failing(make(dir.path().join("broken"), true))
        .run();
    eprintln!("{report}");
    report.assert_ok();
}

#[test]
fn the_so_meets_the_contract() {
    let so = built_library("tributary_sink_parquet").expect(
        "libtributary_sink_parquet.so not built: run cargo build -p tributary-sink-parquet",
    );
    let lib = PluginLibrary::load(&so, None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (out, data) = (dir.path().join("lake"), dir.path().join("data"));
    let make = |url: PathBuf, broken: bool| {
        let (lib, data) = (lib.clone(), data.clone());
        move || -> tributary_plugin_sdk::Result<Box<dyn Sink>> {
            let sink = lib.create_sink(&config(&url), &ctx(&data))?;
            if broken {
                break_destination(&url);
            }
            Ok(Box::new(sink))
        }
    };
    let report = SinkContract::new(make(out.clone(), false))
        .named("parquet (.so)")
        .landed_rows(|| landed(&out))
        .failing(make(dir.path().join("broken"), true))
        .run();
    eprintln!("{report}");
    report.assert_ok();
}

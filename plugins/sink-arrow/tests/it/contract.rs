//! The SDK's sink contract, against the sink in-process and through its `.so`; the probe
//! counts the rows in the landed `.arrow` files.

use std::path::{Path, PathBuf};

use serde_json::json;
use tributary_plugin_sdk::abi::host::{PluginLibrary, built_library};
use tributary_plugin_sdk::testing::SinkContract;
use tributary_plugin_sdk::{CreateContext, PluginInfo, Sink};
use tributary_sink_arrow::ArrowSink;

/// Rows in the landed IPC files of `dir` (temporary files are not landed).
fn landed(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "arrow"))
        .map(|p| {
            let reader =
                arrow_ipc::reader::FileReader::try_new(std::fs::File::open(&p).unwrap(), None)
                    .unwrap_or_else(|e| panic!("{} is not an Arrow IPC file: {e}", p.display()));
            reader.map(|b| b.unwrap().num_rows() as u64).sum::<u64>()
        })
        .sum()
}

fn ctx() -> CreateContext {
    CreateContext {
        component: "rejects".into(),
        pipeline: "contract".into(),
        run_id: "contract".into(),
        ..CreateContext::default()
    }
}

/// After `create` (which makes the directory), the directory is replaced by a file: the
/// instance cannot land anything.
fn break_destination(dir: &Path) {
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::write(dir, b"a file where the directory was").unwrap();
}

type Create = fn(serde_json::Value) -> tributary_plugin_sdk::Result<Box<dyn Sink>>;

fn run(
    name: &str,
    create: &dyn Fn(serde_json::Value) -> tributary_plugin_sdk::Result<Box<dyn Sink>>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let make = |dir: PathBuf, broken: bool| {
        move || {
            let sink = create(json!({ "path": dir.display().to_string() }))?;
            if broken {
                break_destination(&dir);
            }
            Ok(sink)
        }
    };
    let report = SinkContract::new(make(out.clone(), false))
        .named(name)
        .landed_rows(|| landed(&out))
        .failing(make(tmp.path().join("broken"), true))
        .run();
    eprintln!("{report}");
    report.assert_ok();
}

#[test]
fn the_sink_meets_the_contract_in_process() {
    let create: Create = |cfg| {
        Ok(Box::new(ArrowSink::create(
            serde_json::from_value(cfg).unwrap(),
            &ctx(),
        )?))
    };
    run("arrow (in-process)", &create);
}

#[test]
fn the_so_meets_the_contract() {
    let so = built_library("tributary_sink_arrow")
        .expect("libtributary_sink_arrow.so not built: run cargo build -p tributary-sink-arrow");
    let lib = PluginLibrary::load(&so, None).unwrap();
    run("arrow (.so)", &|cfg| {
        Ok(Box::new(lib.create_sink(&cfg, &ctx())?))
    });
}

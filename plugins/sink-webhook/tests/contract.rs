//! The SDK's sink contract, against the sink in-process and through its `.so`, delivering to
//! the test receiver on 127.0.0.1. The probe counts the records the receiver accepted, each
//! idempotency key once (as a receiver honouring the key stores them).
// Test code: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod receiver;

use std::path::Path;

use receiver::Receiver;
use serde_json::{Value, json};
use tributary_plugin_sdk::abi::host::{PluginLibrary, built_library};
use tributary_plugin_sdk::testing::SinkContract;
use tributary_plugin_sdk::{CreateContext, PluginInfo, Sink};
use tributary_sink_webhook::WebhookSink;

fn ctx(dir: &Path) -> CreateContext {
    CreateContext {
        component: "notify".into(),
        pipeline: "contract".into(),
        data_dir: dir.display().to_string(),
        run_id: "contract".into(),
        ..CreateContext::default()
    }
}

fn config(url: &str) -> Value {
    json!({ "url": url, "initial_backoff_ms": 10, "max_backoff_ms": 100 })
}

/// Makes a sink from a config and a data directory.
type Create<'a> = &'a dyn Fn(Value, &Path) -> tributary_plugin_sdk::Result<Box<dyn Sink>>;

fn run(name: &str, create: Create<'_>) {
    let rx = Receiver::start();
    // A receiver that refuses every request (a signature is required and none is sent):
    // a 401 is not retried, so the flush fails.
    let refusing = Receiver::start();
    *refusing.knobs.secret.lock().unwrap() = Some("the-receivers-secret".into());
    let (spool, bad_spool) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let report = SinkContract::new(|| create(config(&rx.url), spool.path()))
        .named(name)
        .landed_rows(|| rx.knobs.records().len() as u64)
        .failing(|| create(config(&refusing.url), bad_spool.path()))
        .run();
    eprintln!("{report}");
    report.assert_ok();
}

#[test]
fn the_sink_meets_the_contract_in_process() {
    run("webhook (in-process)", &|cfg, dir| {
        Ok(Box::new(WebhookSink::create(
            serde_json::from_value(cfg).unwrap(),
            &ctx(dir),
        )?))
    });
}

#[test]
fn the_so_meets_the_contract() {
    let so = built_library("tributary_sink_webhook").expect(
        "libtributary_sink_webhook.so not built: run cargo build -p tributary-sink-webhook",
    );
    let lib = PluginLibrary::load(&so, None).unwrap();
    run("webhook (.so)", &|cfg, dir| {
        Ok(Box::new(lib.create_sink(&cfg, &ctx(dir))?))
    });
}

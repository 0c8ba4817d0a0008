//! The SDK's transform contract, against the transform in-process and through its `.so`.
//! With `on_invalid: route` every record comes out on exactly one output (`""` or
//! `invalid`), and each flush acknowledges the window's valid records, the ones on the
//! main output: the suite checks both.
// Test code: helpers outside #[test] fns may unwrap too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use tributary_plugin_sdk::abi::host::{PluginLibrary, built_library};
use tributary_plugin_sdk::testing::TransformContract;
use tributary_plugin_sdk::{CreateContext, PluginInfo, Transform};
use tributary_transform_validate::Validate;

fn ctx() -> CreateContext {
    CreateContext {
        component: "checked".into(),
        pipeline: "contract".into(),
        ..CreateContext::default()
    }
}

fn run(name: &str, create: &dyn Fn(Value) -> tributary_plugin_sdk::Result<Box<dyn Transform>>) {
    let report = TransformContract::new(|| create(json!({ "on_invalid": "route" })))
        .named(name)
        .conserves_rows()
        .acks_main_output_rows()
        // Every record of the suite lacks this column, and invalid records fail the run.
        .failing(|| create(json!({ "required": ["no_such_column"], "on_invalid": "fail" })))
        .run();
    eprintln!("{report}");
    report.assert_ok();
}

#[test]
fn the_transform_meets_the_contract_in_process() {
    run("validate (in-process)", &|cfg| {
        Ok(Box::new(Validate::create(
            serde_json::from_value(cfg).unwrap(),
            &ctx(),
        )?))
    });
}

#[test]
fn the_so_meets_the_contract() {
    let so = built_library("tributary_transform_validate").expect(
        "libtributary_transform_validate.so not built: run cargo build -p tributary-transform-validate",
    );
    let lib = PluginLibrary::load(&so, None).unwrap();
    run("validate (.so)", &|cfg| {
        Ok(Box::new(lib.create_transform(&cfg, &ctx())?))
    });
}

//! `tributary delta optimize|vacuum FILE SINK`: an instance of the pipeline's `delta` sink
//! that lands nothing and runs the maintenance when it closes.

use tributary_engine::{EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME};

use crate::DeltaCommand;

/// The keys a `tributary delta` command sets on the sink's configuration: which
/// maintenance runs when the instance closes.
fn delta_overrides(command: &DeltaCommand) -> serde_json::Value {
    match command {
        DeltaCommand::Optimize { .. } => serde_json::json!({
            "optimize": {"after_run": true},
            "vacuum": {"after_run": false},
        }),
        DeltaCommand::Vacuum {
            retention_hours,
            dry_run,
            ..
        } => {
            let mut vacuum = serde_json::json!({"after_run": true, "dry_run": dry_run});
            if let Some(h) = retention_hours {
                vacuum["retention_hours"] = (*h).into();
            }
            serde_json::json!({"optimize": {"after_run": false}, "vacuum": vacuum})
        }
    }
}

/// Sets `overrides` into `config`, merging objects key by key.
fn merge_json(config: &mut serde_json::Value, overrides: &serde_json::Value) {
    match (config, overrides) {
        (serde_json::Value::Object(c), serde_json::Value::Object(o)) => {
            for (k, v) in o {
                merge_json(c.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (c, o) => *c = o.clone(),
    }
}

/// `tributary delta optimize|vacuum FILE SINK`: an instance of the pipeline's `delta` sink
/// that lands nothing and runs the maintenance when it closes.
pub fn delta(command: DeltaCommand) -> anyhow::Result<u8> {
    let overrides = delta_overrides(&command);
    let (DeltaCommand::Optimize { file, sink } | DeltaCommand::Vacuum { file, sink, .. }) = command;
    let (pipeline, registry) = match crate::sources::load(&file) {
        Ok(p) => p,
        Err(e) => {
            eprint!("{e}");
            return Ok(EXIT_CONFIG);
        }
    };
    let Some(spec) = pipeline.sinks.iter().find(|s| s.name == sink) else {
        let names: Vec<&str> = pipeline.sinks.iter().map(|s| s.name.as_str()).collect();
        eprintln!(
            "error: {} has no sink `{sink}` (its sinks: {})",
            file.display(),
            names.join(", ")
        );
        return Ok(EXIT_CONFIG);
    };
    if spec.type_name != "delta" {
        eprintln!(
            "error: {}: sinks.{sink} is a `{}` sink; `tributary delta` maintains `delta` sinks",
            file.display(),
            spec.type_name
        );
        return Ok(EXIT_CONFIG);
    }
    let Some(lib) = registry.get("delta") else {
        eprintln!("error: the `delta` plugin was not found on the plugin path");
        return Ok(EXIT_CONFIG);
    };
    // A running window's files are not in the log yet: a vacuum (above all with a short
    // retention) would delete them, and compaction would race its commit.
    let store = tributary_engine::state::StateStore::open(
        &pipeline.header.state.url,
        &pipeline.header.name,
    )?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Some(held) = rt.block_on(crate::state::live_lease(&store))? {
        eprintln!(
            "error: {held}: maintain the table when no run of `{}` is going",
            pipeline.header.name
        );
        return Ok(EXIT_RUNTIME);
    }
    drop(rt);
    let mut cfg = spec.config.clone();
    merge_json(&mut cfg, &overrides);
    let ctx = tributary_plugin_sdk::CreateContext {
        component: sink.clone(),
        pipeline: pipeline.header.name.clone(),
        data_dir: String::new(),
        resume: false,
        run_id: format!("delta-{}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ")),
        shard: String::new(),
    };
    let outcome = lib
        .create_sink(&cfg, &ctx)
        .and_then(|mut s| tributary_plugin_sdk::Sink::close(&mut s));
    match outcome {
        Ok(ack) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::Value::Object(ack.metrics))?
            );
            Ok(EXIT_OK)
        }
        Err(e) => {
            eprintln!("error: sinks.{sink}: {e}");
            Ok(EXIT_RUNTIME)
        }
    }
}

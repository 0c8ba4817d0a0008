//! `tributary validate --connect`: beyond the static checks, reach every endpoint a run
//! would use, without landing data: the source's own check (for an API, its token endpoint
//! with the real credentials), and every sink's own health
//! check (the parquet and delta sinks write and delete a probe object, the webhook sink
//! reaches its URL, …).

use serde::Serialize;
use tributary_plugin_sdk::{CreateContext, Sink};

use crate::config::Pipeline;
use crate::plugins::Registry;

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectCheck {
    /// `sources.<name>` or `sinks.<name>`.
    pub component: String,
    /// What was reached, or why not.
    pub detail: String,
    /// Whether it passed.
    pub ok: bool,
}

fn check(component: String, outcome: Result<String, String>) -> ConnectCheck {
    ConnectCheck {
        component,
        ok: outcome.is_ok(),
        detail: outcome.unwrap_or_else(|e| e),
    }
}

async fn source_check(pipeline: &Pipeline) -> Vec<ConnectCheck> {
    let mut out = Vec::new();
    for spec in &pipeline.sources {
        let component = format!("sources.{}", spec.spec.name);
        let outcome = match crate::source::instantiate(pipeline, spec, Default::default()) {
            Ok(mut source) => {
                let reached = match source.open().await {
                    Ok(()) => source.check_connection().await,
                    Err(e) => Err(e),
                };
                source.close().await;
                reached.map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        out.push(check(component, outcome));
    }
    out
}

fn sink_checks(pipeline: &Pipeline, registry: &Registry) -> Vec<ConnectCheck> {
    let data_dir = std::env::temp_dir().join(format!("tributary-connect-{}", std::process::id()));
    let mut out = Vec::new();
    for spec in &pipeline.sinks {
        let component = format!("sinks.{}", spec.name);
        let Some(lib) = registry.get(&spec.type_name) else {
            out.push(check(
                component,
                Err(format!("no plugin `{}`", spec.type_name)),
            ));
            continue;
        };
        let ctx = CreateContext {
            component: spec.name.clone(),
            pipeline: pipeline.header.name.clone(),
            data_dir: data_dir.join(&spec.name).display().to_string(),
            resume: false,
            run_id: format!("connect-check-{}", std::process::id()),
            shard: String::new(),
        };
        // Created and health-checked, never written, flushed nor closed: nothing lands.
        let outcome = lib
            .create_sink(&spec.config, &ctx)
            .and_then(|mut s| s.healthcheck())
            .map(|()| format!("`{}` sink reachable and writable", spec.type_name))
            .map_err(|e| e.to_string());
        out.push(check(component, outcome));
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    out
}

/// Every check, sources first.
pub async fn connect_checks(pipeline: &Pipeline, registry: &Registry) -> Vec<ConnectCheck> {
    let mut out = source_check(pipeline).await;
    out.extend(sink_checks(pipeline, registry));
    out
}

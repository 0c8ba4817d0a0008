//! Plugin instances of a run: a [`CreateContext`] per component (its own data directory,
//! one per shard), transforms and sinks created from their plugins, sinks health-checked.

use std::collections::HashMap;
use std::path::Path;

use tributary_plugin_sdk::{CreateContext, Sink, Transform};

use crate::config::{ComponentSpec, Pipeline};
use crate::error::{EngineError, Result};
use crate::plugins::Registry;
use crate::shard::Shard;

/// The created instances, in the pipeline's order.
pub(super) struct Instances {
    pub transforms: Vec<(String, Box<dyn Transform>)>,
    pub sinks: Vec<(String, Box<dyn Sink>)>,
}

/// What every component's context shares.
pub(super) struct ContextBase<'a> {
    pub pipeline: &'a Pipeline,
    pub run_id: &'a str,
    pub resume: bool,
    pub shard: Option<Shard>,
}

impl ContextBase<'_> {
    /// The context of one component. Shards running side by side on one machine get a
    /// data directory each.
    pub fn context(&self, name: &str) -> CreateContext {
        let header = &self.pipeline.header;
        let shard = self
            .shard
            .map(|s| format!("{}-of-{}", s.index, s.count))
            .unwrap_or_default();
        let dir = match shard.is_empty() {
            true => name.to_string(),
            false => format!("{name}-shard-{shard}"),
        };
        let data_dir = if header.state.url.contains("://") {
            format!(".tributary/data/{}/{dir}", header.name)
        } else {
            Path::new(&header.state.url)
                .join("..")
                .join("data")
                .join(&header.name)
                .join(dir)
                .display()
                .to_string()
        };
        CreateContext {
            component: name.to_string(),
            pipeline: header.name.clone(),
            data_dir,
            resume: self.resume,
            run_id: self.run_id.to_string(),
            shard,
        }
    }
}

fn plugin<'r>(
    registry: &'r Registry,
    spec: &ComponentSpec,
) -> Result<&'r std::sync::Arc<tributary_plugin_sdk::abi::host::PluginLibrary>> {
    registry
        .get(&spec.type_name)
        .ok_or_else(|| EngineError::Usage(format!("no plugin `{}`", spec.type_name)))
}

/// Creates every transform and sink (a sink the caller `provided` is used as it is);
/// each created sink must pass its health check.
///
/// # Errors
/// The first component that cannot be created or is not healthy.
pub(super) fn create(
    base: &ContextBase<'_>,
    registry: &Registry,
    mut provided: HashMap<String, Box<dyn Sink>>,
) -> Result<Instances> {
    let pipeline = base.pipeline;
    let mut transforms: Vec<(String, Box<dyn Transform>)> = Vec::new();
    for spec in &pipeline.transforms {
        let t = plugin(registry, spec)?
            .create_transform(&spec.config, &base.context(&spec.name))
            .map_err(|e| EngineError::Plugin {
                component: format!("transforms.{}", spec.name),
                source: e,
            })?;
        transforms.push((spec.name.clone(), Box::new(t)));
    }
    let mut sinks: Vec<(String, Box<dyn Sink>)> = Vec::new();
    for spec in &pipeline.sinks {
        if let Some(s) = provided.remove(&spec.name) {
            sinks.push((spec.name.clone(), s));
            continue;
        }
        let plugin_error = |e| EngineError::Plugin {
            component: format!("sinks.{}", spec.name),
            source: e,
        };
        let mut s = plugin(registry, spec)?
            .create_sink(&spec.config, &base.context(&spec.name))
            .map_err(plugin_error)?;
        s.healthcheck().map_err(plugin_error)?;
        sinks.push((spec.name.clone(), Box::new(s)));
    }
    Ok(Instances { transforms, sinks })
}

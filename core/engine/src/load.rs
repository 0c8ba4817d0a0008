//! Loading a pipeline: read the document (no plugin opened), discover the plugins its
//! `plugins:` section and `TRIBUTARY_PLUGIN_PATH` name, then validate every component
//! against the registry they make with the caller's source catalog.

use std::path::Path;

use tributary_source::SourceCatalog;

use crate::config::{self, ConfigErrors, Pipeline};
use crate::plugins::Registry;

/// Loads and validates a pipeline file, with the process environment.
///
/// # Errors
/// Every problem of the file, together.
pub fn load(path: &Path, sources: &SourceCatalog) -> Result<(Pipeline, Registry), ConfigErrors> {
    let env = |name: &str| std::env::var(name).ok();
    load_with(
        path,
        &env,
        std::env::var("TRIBUTARY_PLUGIN_PATH").ok().as_deref(),
        sources,
    )
}

/// [`load`] with an explicit environment and plugin path (for tests).
///
/// # Errors
/// Every problem of the file, together.
pub fn load_with(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    plugin_path: Option<&str>,
    sources: &SourceCatalog,
) -> Result<(Pipeline, Registry), ConfigErrors> {
    let doc = config::read_document(path, env)?;
    let (registry, file_problems) = Registry::discover(&doc.header.plugins, plugin_path);
    let mut registry = registry.with_sources(sources.clone());
    registry.file_problems = file_problems;
    let pipeline = config::validate(&doc, &registry)?;
    Ok((pipeline, registry))
}

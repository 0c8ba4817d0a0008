//! The source types built into the `tributary` binary. Adding one is a line here and a
//! crate; the engine names none.

use std::sync::Arc;

use tributary_engine::SourceCatalog;

/// Every built-in source type.
pub fn builtin() -> SourceCatalog {
    SourceCatalog::new()
        .with(Arc::new(tributary_cxone::CxoneFactory))
        .with(Arc::new(tributary_source_file::FileFactory))
}

/// Loads a pipeline file with the built-in source types.
pub fn load(
    file: &std::path::Path,
) -> Result<
    (
        tributary_engine::config::Pipeline,
        tributary_engine::plugins::Registry,
    ),
    tributary_engine::config::ConfigErrors,
> {
    tributary_engine::load(file, &builtin())
}

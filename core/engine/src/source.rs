//! The pipeline's source, seen from the engine: created through its type's factory with
//! what earlier runs saved, planned, and cut into shards. Every rule about what a plan
//! holds is the source's own ([`tributary_source::Source::plan`]).

use chrono::NaiveDate;
use tributary_source::{SavedState, Source, SourceContext, SourceError, Window};

use crate::config::{Pipeline, SourceSpec};
use crate::error::{EngineError, Result};
use crate::shard::Shard;
use crate::state::StateStore;

/// The pipeline's one source.
///
/// # Errors
/// [`EngineError::Usage`] without a source or with more than one.
pub fn only_source(pipeline: &Pipeline) -> Result<&SourceSpec> {
    match pipeline.sources.as_slice() {
        [one] => Ok(one),
        [] => Err(EngineError::Usage("the pipeline has no source".into())),
        _ => Err(EngineError::Usage(
            "this version runs one source per pipeline; split the pipeline into one file per source"
                .into(),
        )),
    }
}

/// A source error as the engine reports it, naming the component.
pub fn source_error(spec: &SourceSpec, e: SourceError) -> EngineError {
    EngineError::Source {
        component: format!("sources.{}", spec.spec.name),
        message: e.to_string(),
    }
}

/// What earlier runs saved for a source.
///
/// # Errors
/// When the state store cannot be read.
pub async fn saved_state(state: &StateStore, name: &str) -> Result<SavedState> {
    Ok(SavedState {
        cursor: state.cursor(name).await?,
        bookmark: state.bookmark(name).await?,
    })
}

/// Creates the pipeline's source with what earlier runs saved (no network).
///
/// # Errors
/// When the pipeline has no single source, the state cannot be read or the source
/// refuses its configuration.
pub async fn create(pipeline: &Pipeline) -> Result<(&SourceSpec, Box<dyn Source>)> {
    let spec = only_source(pipeline)?;
    let state = StateStore::open(&pipeline.header.state.url, &pipeline.header.name)?;
    let saved = saved_state(&state, &spec.spec.name).await?;
    let source = instantiate(pipeline, spec, saved)?;
    Ok((spec, source))
}

/// Creates a source of the pipeline through its type's factory, with `saved` as what
/// earlier runs left (no network).
///
/// # Errors
/// When the source refuses its configuration.
pub fn instantiate(
    pipeline: &Pipeline,
    spec: &SourceSpec,
    saved: SavedState,
) -> Result<Box<dyn Source>> {
    let ctx = SourceContext {
        component: spec.spec.name.clone(),
        pipeline: pipeline.header.name.clone(),
        saved,
    };
    spec.factory
        .create(&spec.spec.config, ctx)
        .map_err(|e| source_error(spec, e))
}

/// The windows of `shard` (every window without one), in plan order.
pub fn shard_of(windows: Vec<Window>, shard: Option<Shard>) -> Vec<Window> {
    windows
        .into_iter()
        .enumerate()
        .filter(|(i, _)| shard.is_none_or(|s| s.owns(*i)))
        .map(|(_, w)| w)
        .collect()
}

/// Plans the windows of the pipeline's source (after what earlier runs saved, and the
/// shard).
///
/// # Errors
/// When the source cannot be created or planned, or the state store cannot be read.
pub async fn plan(
    pipeline: &Pipeline,
    today: NaiveDate,
    shard: Option<Shard>,
) -> Result<Vec<Window>> {
    let (spec, source) = create(pipeline).await?;
    let windows = source.plan(today).map_err(|e| source_error(spec, e))?;
    Ok(shard_of(windows, shard))
}

//! The traits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio::sync::mpsc;

use crate::{Problem, SourceError, Window};

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a source sends while it runs, in plan order: each window's batches, then its
/// [`WindowEnd`].
#[derive(Debug)]
pub enum SourceEvent {
    /// Records of the current window.
    Batch(RecordBatch),
    /// Every record of the window was sent.
    WindowEnd(WindowEnd),
}

/// The end of one window.
#[derive(Debug, Clone, Serialize)]
pub struct WindowEnd {
    /// The window, as planned.
    pub window: Window,
    /// Records sent for it.
    pub records: u64,
    /// What the source says about it (export ids, pages, …), kept in the audit log.
    pub report: serde_json::Value,
}

/// What a source keeps between runs (the engine stores it per component; only the source
/// reads it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SavedState {
    /// Where the next plan starts (an incremental source's end of the last plan).
    pub cursor: Option<String>,
    /// A high-water mark read from the data (the newest update time seen).
    pub bookmark: Option<String>,
}

/// What a source is created with.
#[derive(Debug, Clone)]
pub struct SourceContext {
    /// The component's name (`sources.<name>`).
    pub component: String,
    /// The pipeline's name.
    pub pipeline: String,
    /// What earlier runs saved.
    pub saved: SavedState,
}

/// A wait of the source: what for, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// What it waits for, in words (`HTTP 429 from data: Retry-After`).
    pub what: String,
    /// When the wait ends.
    pub until: DateTime<Utc>,
}

/// Live figures of a source, read while it runs.
pub trait SourceMetrics: Send + Sync {
    /// Everything counted so far, for the run summary and the audit log.
    fn snapshot(&self) -> serde_json::Value;
    /// The wait in progress, if any (progress displays show it).
    fn waiting(&self) -> Option<Waiting> {
        None
    }
    /// Registers the source's own metric families for one exposition (`/metrics`, a push).
    /// `registry` already prefixes names with `tributary_source_` and labels every sample
    /// with the pipeline and the source; register live metrics (histograms) by clone.
    fn register(&self, _registry: &mut prometheus_client::registry::Registry) {}
}

/// A source type: found by the `type` of a `sources.<name>` entry.
pub trait SourceFactory: Send + Sync {
    /// The `type` value (`cxone`, `file`).
    fn type_name(&self) -> &'static str;
    /// One sentence for the generated reference.
    fn description(&self) -> &'static str;
    /// The JSON Schema of its section (without `type`).
    fn config_schema(&self) -> serde_json::Value;
    /// Checks a section beyond its schema (dates, combinations), without I/O.
    ///
    /// # Errors
    /// Every problem, each with its key.
    fn check(&self, config: &serde_json::Value) -> Result<(), Vec<Problem>>;
    /// Builds the source; cheap and without network (commands that only plan use it).
    ///
    /// # Errors
    /// [`SourceError::Config`] when the section does not hold.
    fn create(
        &self,
        config: &serde_json::Value,
        ctx: SourceContext,
    ) -> Result<Box<dyn Source>, SourceError>;
}

/// A source instance.
pub trait Source: Send + Sync {
    /// The schema of every batch (for the test runner; a source may tell it only once
    /// opened).
    ///
    /// # Errors
    /// When it cannot be known (a file that cannot be read).
    fn schema(&self) -> Result<SchemaRef, SourceError>;

    /// The windows of this run, in order, after what earlier runs saved. An empty plan
    /// means there is nothing to read.
    ///
    /// # Errors
    /// [`SourceError::Config`] when the range cannot be planned.
    fn plan(&self, today: NaiveDate) -> Result<Vec<Window>, SourceError>;

    /// Facts about the plan as a whole, for `tributary plan` (`{"api": …, "auth": …}`).
    fn describe(&self) -> serde_json::Map<String, serde_json::Value> {
        serde_json::Map::new()
    }

    /// Facts about one window for `tributary plan --json` (`{"requests": […]}`), and the
    /// same as text lines.
    fn describe_window(&self, _window: &Window) -> (serde_json::Value, Vec<String>) {
        (serde_json::Value::Null, Vec::new())
    }

    /// Starts what a run needs (a built-in simulator, a client). Called once, before
    /// [`run`](Source::run) or [`check_connection`](Source::check_connection).
    ///
    /// # Errors
    /// When it cannot start.
    fn open(&mut self) -> BoxFuture<'_, Result<(), SourceError>>;

    /// Reaches what a run would read (a token endpoint, a directory) without reading data.
    /// Returns what was reached.
    ///
    /// # Errors
    /// Why it could not be reached, without secrets.
    fn check_connection(&self) -> BoxFuture<'_, Result<String, SourceError>>;

    /// Streams `windows` in order into `tx`; returns when all are sent, the receiver is
    /// gone, or on the first failure.
    ///
    /// # Errors
    /// The first failure, naming its window and what was read.
    fn run(
        &self,
        windows: Vec<Window>,
        tx: mpsc::Sender<SourceEvent>,
    ) -> BoxFuture<'static, Result<(), SourceError>>;

    /// Its live metrics.
    fn metrics(&self) -> Arc<dyn SourceMetrics>;

    /// What to save after a run of `plan` succeeded and every window in `landed` was
    /// landed (windows an earlier run landed are not in `landed`). `None` fields keep
    /// what is saved.
    fn state_after_run(&self, plan: &[Window], landed: &[WindowEnd]) -> SavedState;

    /// Stops what [`open`](Source::open) started.
    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

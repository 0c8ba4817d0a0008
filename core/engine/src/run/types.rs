//! What a run takes (options, progress callbacks) and gives back (status, summary).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;
use tokio::sync::watch;
use tributary_plugin_sdk::{LandedFile, Sink};
use tributary_source::Window;

use crate::error::{EngineError, Result};
use crate::shard::Shard;

/// How a run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Still going (the run record while it runs).
    Running,
    /// Every planned window landed.
    Succeeded,
    /// Stopped by a failure.
    #[default]
    Failed,
    /// Stopped by SIGINT/SIGTERM.
    Interrupted,
}

impl RunStatus {
    /// The status a run's result means.
    pub fn of(result: &Result<()>) -> RunStatus {
        match result {
            Ok(()) => RunStatus::Succeeded,
            Err(EngineError::Interrupted) => RunStatus::Interrupted,
            Err(_) => RunStatus::Failed,
        }
    }

    /// `succeeded`, `failed`, …
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Progress callbacks (the CLI draws bars from them).
pub trait Progress: Send + Sync {
    /// The plan is known.
    fn planned(&self, _windows: usize, _skipped: usize) {}
    /// Records read by the source so far.
    fn records(&self, _total: u64) {}
    /// A window was landed everywhere.
    fn window_done(&self, _window: &Window, _records: u64) {}
}

/// No progress output.
pub struct NoProgress;
impl Progress for NoProgress {}

/// How to run.
pub struct RunOptions {
    /// Skip windows already landed by an earlier run, reusing its run id.
    pub resume: bool,
    /// Run only one shard of the plan.
    pub shard: Option<Shard>,
    /// "Today" for relative date ranges (defaults to the current UTC date).
    pub today: Option<NaiveDate>,
    /// Flips to true to stop the run (SIGINT/SIGTERM).
    pub cancel: watch::Receiver<bool>,
    /// Progress callbacks.
    pub progress: Arc<dyn Progress>,
    /// Live metrics, for `--metrics-addr`.
    pub metrics: Arc<crate::metrics::LiveMetrics>,
    /// Take the pipeline's lease even when another run holds it (`--force-unlock`).
    pub force_unlock: bool,
    /// Sink instances the caller supplies for sinks of the pipeline, by name, used instead
    /// of a plugin's (`tributary tap` prints records through one).
    pub provided_sinks: HashMap<String, Box<dyn Sink>>,
}

/// Per-component figures in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentSummary {
    /// `sources.<name>`, `sinks.lake`, …
    pub component: String,
    /// Its type.
    pub type_name: String,
    /// Records in.
    pub records_in: u64,
    /// Records out.
    pub records_out: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    /// The pipeline.
    pub pipeline: String,
    /// The run id.
    pub run_id: String,
    /// How the run ended.
    pub status: RunStatus,
    /// Windows in this run's plan (after sharding and resume).
    pub windows_planned: usize,
    /// Windows skipped because an earlier run landed them.
    pub windows_skipped: usize,
    /// Windows landed everywhere.
    pub windows_done: usize,
    /// Records read from the source.
    pub records: u64,
    /// Per component.
    pub components: Vec<ComponentSummary>,
    /// Run-level metrics reported by transforms at close (integrity rate, …), by component.
    pub transform_metrics: BTreeMap<String, serde_json::Value>,
    /// Source metrics (requests, retries, 429s, latency percentiles).
    pub source_metrics: serde_json::Value,
    /// Wall time in seconds.
    pub wall_secs: f64,
    /// Records per second (source).
    pub records_per_sec: f64,
    /// Files landed, by sink.
    pub files: BTreeMap<String, Vec<LandedFile>>,
    /// Where each sink wrote (its URL or path key).
    pub outputs: BTreeMap<String, String>,
    /// The error, if the run failed.
    pub error: Option<String>,
}

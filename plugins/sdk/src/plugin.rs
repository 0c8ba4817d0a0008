//! The safe Rust side of a plugin: the [`Sink`] and [`Transform`] traits and the values
//! that flow with them.

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::error::Result;

/// Whether a plugin is a sink or a transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginKind {
    /// Consumes batches and lands them somewhere.
    Sink,
    /// Turns each batch into zero or more batches on named outputs.
    Transform,
}

impl PluginKind {
    /// The code this kind travels as in the descriptor.
    pub fn code(self) -> u32 {
        match self {
            PluginKind::Sink => 1,
            PluginKind::Transform => 2,
        }
    }
    /// The kind for a descriptor code.
    pub fn from_code(code: u32) -> Option<PluginKind> {
        match code {
            1 => Some(PluginKind::Sink),
            2 => Some(PluginKind::Transform),
            _ => None,
        }
    }
}

impl std::fmt::Display for PluginKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PluginKind::Sink => "sink",
            PluginKind::Transform => "transform",
        })
    }
}

/// What the engine tells a plugin instance about where it runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CreateContext {
    /// The component's name in the pipeline (`sinks.<name>`).
    pub component: String,
    /// The pipeline's `name`.
    pub pipeline: String,
    /// A directory the instance may keep local state in (spools, temporary files).
    pub data_dir: String,
    /// True when the run resumes an earlier one.
    pub resume: bool,
    /// The identifier of this run.
    pub run_id: String,
    /// The shard this instance runs, `"<index>-of-<count>"` (0-based), or empty when the run
    /// is not sharded. Instances of different shards of one pipeline may run at the same
    /// time (on one machine or many); two of the same pipeline, component and shard never
    /// do, so state keyed by these three is the instance's alone.
    #[serde(default)]
    pub shard: String,
}

/// A point the engine asks every sink to make durable: the end of one export window.
///
/// `window_id` is deterministic (the same window has the same id in every run), so a sink
/// can derive object keys and idempotency keys from it, and a resumed run overwrites
/// instead of duplicating.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    /// The identifier of this run.
    pub run_id: String,
    /// Deterministic window identifier, safe in file names (`20230101T000000Z-20230401T000000Z`).
    pub window_id: String,
    /// Window start, RFC 3339.
    pub window_start: String,
    /// Window end (exclusive), RFC 3339.
    pub window_end: String,
}

/// A file a sink landed, as recorded in the manifest and the audit log.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LandedFile {
    /// Where it went (URL or path).
    pub path: String,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes in the file.
    pub bytes: u64,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

/// What a plugin reports when it has made a checkpoint durable.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Ack {
    /// Records made durable since the last acknowledgement.
    pub records: u64,
    /// Files landed since the last acknowledgement.
    #[serde(default)]
    pub files: Vec<LandedFile>,
    /// Free-form metrics (integrity rate, missing-field counts, deliveries…), recorded in the audit log.
    #[serde(default)]
    pub metrics: serde_json::Map<String, serde_json::Value>,
}

/// The name of the main output of a transform.
pub const MAIN_OUTPUT: &str = "";

/// Batches a transform emits, each on a named output (`""` is the main one; `"invalid"`
/// is read in a pipeline as `<name>.invalid`).
#[derive(Debug, Default)]
pub struct Outputs {
    batches: Vec<(String, RecordBatch)>,
}

impl Outputs {
    /// An empty set of outputs.
    pub fn new() -> Self {
        Self::default()
    }
    /// Emit a batch on the main output.
    pub fn emit(&mut self, batch: RecordBatch) {
        self.emit_to(MAIN_OUTPUT, batch);
    }
    /// Emit a batch on a named output.
    pub fn emit_to(&mut self, output: &str, batch: RecordBatch) {
        self.batches.push((output.to_string(), batch));
    }
    /// Take the emitted batches, in order.
    pub fn take(&mut self) -> Vec<(String, RecordBatch)> {
        std::mem::take(&mut self.batches)
    }
    /// True when nothing was emitted.
    pub fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

/// A sink: lands batches somewhere durable.
///
/// The engine calls `write` for each batch, `flush` at the end of each window (after which
/// everything written so far must be durable), and `close` once at the end of the run.
pub trait Sink: Send {
    /// Checks that the destination is reachable and writable, without landing data.
    fn healthcheck(&mut self) -> Result<()> {
        Ok(())
    }
    /// Accepts one batch. It may be buffered until `flush`.
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    /// Makes everything written so far durable and reports what landed.
    fn flush(&mut self, checkpoint: &Checkpoint) -> Result<Ack>;
    /// Ends the run: flush what remains, release resources, report a final acknowledgement.
    fn close(&mut self) -> Result<Ack>;
}

/// A transform: turns each batch into batches on named outputs.
pub trait Transform: Send {
    /// Processes one batch.
    fn process(&mut self, batch: &RecordBatch, out: &mut Outputs) -> Result<()>;
    /// The end of a window: emit anything held back and report the window's metrics.
    fn flush(&mut self, _checkpoint: &Checkpoint, _out: &mut Outputs) -> Result<Ack> {
        Ok(Ack::default())
    }
    /// The end of the run: report run-level metrics, or fail a run-level threshold.
    fn close(&mut self, _out: &mut Outputs) -> Result<Ack> {
        Ok(Ack::default())
    }
}

/// Metadata and constructor shared by every plugin type.
pub trait PluginInfo: Sized + Send + 'static {
    /// Name as used in a pipeline's `type:` key (`parquet`, `validate`).
    const NAME: &'static str;
    /// The plugin's own version.
    const VERSION: &'static str;
    /// The configuration, deserialized from the component's YAML keys.
    type Config: DeserializeOwned + schemars::JsonSchema;
    /// Builds an instance from a validated configuration.
    fn create(config: Self::Config, ctx: &CreateContext) -> Result<Self>;
}

/// A sink plugin: exported with `export_plugin!(sink Type)`.
pub trait SinkPlugin: PluginInfo + Sink {}
impl<T: PluginInfo + Sink> SinkPlugin for T {}

/// A transform plugin: exported with `export_plugin!(transform Type)`.
pub trait TransformPlugin: PluginInfo + Transform {}
impl<T: PluginInfo + Transform> TransformPlugin for T {}

/// The JSON Schema of a configuration type, as published in the descriptor.
pub fn config_schema<C: schemars::JsonSchema>() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(C)).unwrap_or(serde_json::Value::Null)
}

/// Parses a configuration from JSON, with the key path of the first error.
///
/// # Errors
/// A [`crate::ErrorKind::Config`] error naming the problem.
pub fn parse_config<C: DeserializeOwned>(json: &[u8]) -> Result<C> {
    serde_json::from_slice(json).map_err(|e| crate::PluginError::config(e.to_string()))
}

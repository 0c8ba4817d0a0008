//! # tributary-source-file: the `file` source
//!
//! Reads local files (Parquet, Arrow IPC, JSON lines, CSV) into batches, one window per
//! file in path order, so a landed lake can be replayed into new sinks:
//!
//! ```yaml
//! sources:
//!   replay:
//!     type: file
//!     path: ./lake          # a file, or a directory searched recursively
//!     format: parquet       # optional: default, by extension
//! ```
//!
//! Design choices:
//! - **A window per file**, with an id made of its relative path (plus a hash of it): a
//!   resumed run skips the files already landed, and a sink keys its output by file.
//!   File windows cover no time range; both bounds are the Unix epoch.
//! - **Types**: Parquet and Arrow files carry theirs; JSON lines and CSV are inferred from
//!   their first 10,000 rows, and the columns under `timestamps` are read as UTC
//!   timestamps.
//! - **Reading blocks**, on the runtime's blocking pool; batches go out through the
//!   bounded channel, so memory holds a few batches whatever the file's size.
//! - Not incremental: every run plans every file (resume skips the landed ones).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod plan;
pub mod read;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use tokio::sync::mpsc;
use tributary_source::{
    BoxFuture, Problem, SavedState, Source, SourceContext, SourceError, SourceEvent, SourceFactory,
    SourceMetrics, Window, WindowEnd,
};

pub use config::{FileConfig, FileFormat};

/// The `file` source type.
#[derive(Debug, Default)]
pub struct FileFactory;

fn parse(config: &serde_json::Value) -> Result<FileConfig, Vec<Problem>> {
    let cfg: FileConfig = serde_json::from_value(config.clone())
        .map_err(|e| vec![Problem::new("", e.to_string())])?;
    cfg.validate()?;
    Ok(cfg)
}

impl SourceFactory for FileFactory {
    fn type_name(&self) -> &'static str {
        "file"
    }

    fn description(&self) -> &'static str {
        "Local Parquet, Arrow IPC, JSON lines or CSV files, one window per file (replays a landed lake into new sinks)."
    }

    fn config_schema(&self) -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(FileConfig))
            .unwrap_or(serde_json::Value::Bool(true))
    }

    fn check(&self, config: &serde_json::Value) -> Result<(), Vec<Problem>> {
        parse(config).map(|_| ())
    }

    fn create(
        &self,
        config: &serde_json::Value,
        _ctx: SourceContext,
    ) -> Result<Box<dyn Source>, SourceError> {
        let cfg = parse(config).map_err(|problems| SourceError::Config { problems })?;
        Ok(Box::new(FileSource {
            cfg: Arc::new(cfg),
            metrics: Arc::new(FileMetrics::default()),
            listing: std::sync::OnceLock::new(),
        }))
    }
}

/// Counters of a `file` source.
#[derive(Debug, Default)]
pub struct FileMetrics {
    files: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
}

impl SourceMetrics for FileMetrics {
    fn snapshot(&self) -> serde_json::Value {
        serde_json::json!({
            "files": self.files.load(Ordering::Relaxed),
            "records": self.records.load(Ordering::Relaxed),
            "bytes": self.bytes.load(Ordering::Relaxed),
        })
    }

    fn register(&self, registry: &mut tributary_source::prometheus_client::registry::Registry) {
        use tributary_source::prometheus_client::metrics::counter::Counter;
        for (name, help, v) in [
            ("file_files", "Files read", &self.files),
            ("file_records", "Records read", &self.records),
            ("file_bytes", "Bytes of the files read", &self.bytes),
        ] {
            let counter: Counter = Counter::default();
            counter.inc_by(v.load(Ordering::Relaxed));
            registry.register(name, help, counter);
        }
    }
}

/// A `file` source of one run.
pub struct FileSource {
    cfg: Arc<FileConfig>,
    metrics: Arc<FileMetrics>,
    /// The files under `path`, listed once per instance (plan, schema, the plan's details
    /// and the run all read this one listing).
    listing: std::sync::OnceLock<Result<Vec<plan::PlannedFile>, String>>,
}

impl FileSource {
    fn files(&self) -> Result<&[plan::PlannedFile], SourceError> {
        self.listing
            .get_or_init(|| plan::files(&self.cfg))
            .as_deref()
            .map_err(|e| SourceError::failed(e.clone()))
    }
}

impl Source for FileSource {
    fn schema(&self) -> Result<arrow_schema::SchemaRef, SourceError> {
        let first = self.files()?.first().ok_or_else(|| {
            SourceError::failed(format!("no file to read under `{}`", self.cfg.path))
        })?;
        read::batches(&first.path, first.format, &self.cfg)
            .map(|(s, _)| s)
            .map_err(SourceError::failed)
    }

    fn plan(&self, _today: NaiveDate) -> Result<Vec<Window>, SourceError> {
        Ok(self.files()?.iter().map(|f| f.window.clone()).collect())
    }

    fn describe(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("path".into(), self.cfg.path.clone().into());
        m
    }

    fn describe_window(&self, window: &Window) -> (serde_json::Value, Vec<String>) {
        let file = self
            .files()
            .ok()
            .and_then(|fs| fs.iter().find(|f| f.window.id == window.id));
        match file {
            Some(f) => (
                serde_json::json!({"file": f.path.display().to_string(), "format": f.format}),
                vec![format!("reads {}", f.path.display())],
            ),
            None => (serde_json::Value::Null, Vec::new()),
        }
    }

    fn open(&mut self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(async { Ok(()) })
    }

    fn check_connection(&self) -> BoxFuture<'_, Result<String, SourceError>> {
        let reached = self
            .files()
            .map(|files| format!("{} file(s) to read under {}", files.len(), self.cfg.path));
        Box::pin(async move { reached })
    }

    fn run(
        &self,
        windows: Vec<Window>,
        tx: mpsc::Sender<SourceEvent>,
    ) -> BoxFuture<'static, Result<(), SourceError>> {
        let cfg = Arc::clone(&self.cfg);
        let metrics = Arc::clone(&self.metrics);
        // Each window's file, from the listing the plan came from.
        let by_id: std::collections::HashMap<String, plan::PlannedFile> = match self.files() {
            Ok(files) => files
                .iter()
                .map(|f| (f.window.id.clone(), f.clone()))
                .collect(),
            Err(e) => return Box::pin(async move { Err(e) }),
        };
        Box::pin(async move {
            tokio::task::spawn_blocking(move || read_windows(&cfg, &metrics, &by_id, windows, &tx))
                .await
                .map_err(|e| SourceError::failed(format!("the file reader failed: {e}")))?
        })
    }

    fn metrics(&self) -> Arc<dyn SourceMetrics> {
        self.metrics.clone()
    }

    fn state_after_run(&self, _plan: &[Window], _landed: &[WindowEnd]) -> SavedState {
        SavedState::default()
    }
}

/// Reads each window's file in turn; stops early when the receiver is gone.
fn read_windows(
    cfg: &FileConfig,
    metrics: &FileMetrics,
    files: &std::collections::HashMap<String, plan::PlannedFile>,
    windows: Vec<Window>,
    tx: &mpsc::Sender<SourceEvent>,
) -> Result<(), SourceError> {
    for window in windows {
        let file = files.get(&window.id).ok_or_else(|| {
            SourceError::failed(format!(
                "window {} names a file that is no longer under `{}`",
                window.id, cfg.path
            ))
        })?;
        let (_, batches) =
            read::batches(&file.path, file.format, cfg).map_err(SourceError::failed)?;
        let mut records = 0u64;
        for batch in batches {
            let batch = batch
                .map_err(|e| SourceError::failed(format!("`{}`: {e}", file.path.display())))?;
            records += batch.num_rows() as u64;
            metrics
                .records
                .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            if tx.blocking_send(SourceEvent::Batch(batch)).is_err() {
                return Ok(());
            }
        }
        let bytes = std::fs::metadata(&file.path).map(|m| m.len()).unwrap_or(0);
        metrics.files.fetch_add(1, Ordering::Relaxed);
        metrics.bytes.fetch_add(bytes, Ordering::Relaxed);
        let end = WindowEnd {
            window,
            records,
            report: serde_json::json!({"file": file.path.display().to_string(), "format": file.format, "records": records, "bytes": bytes}),
        };
        if tx.blocking_send(SourceEvent::WindowEnd(end)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

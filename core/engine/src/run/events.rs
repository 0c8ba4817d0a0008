//! What a run writes to the audit log, as typed events.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::Utc;
use serde::Serialize;
use tributary_source::Window;

use super::RunStatus;
use crate::audit::AuditLog;
use crate::error::{EngineError, Result};

/// The plugin behind a component, as the run used it.
#[derive(Debug, Clone, Serialize)]
pub struct PluginUsed {
    /// The component.
    pub component: String,
    /// The plugin's name.
    pub plugin: String,
    /// Its version.
    pub version: String,
    /// Its ABI version.
    pub abi_version: u32,
    /// The library file.
    pub path: String,
    /// SHA-256 of the file.
    pub sha256: Option<String>,
}

/// A window in the audit log.
#[derive(Debug, Clone, Serialize)]
pub struct WindowRef {
    /// Its id.
    pub id: String,
    /// Start (RFC 3339).
    pub start: String,
    /// End (RFC 3339).
    pub end: String,
}

impl From<&Window> for WindowRef {
    fn from(w: &Window) -> Self {
        WindowRef {
            id: w.id.clone(),
            start: w.start.to_rfc3339(),
            end: w.end.to_rfc3339(),
        }
    }
}

/// One audit entry of a run (`kind` tells which).
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AuditEvent<'a> {
    /// The run planned and is about to read.
    RunStart {
        /// Pipeline name.
        pipeline: &'a str,
        /// Run id.
        run_id: &'a str,
        /// SHA-256 of the configuration without secrets.
        config_sha256: &'a str,
        /// The plugin libraries used.
        plugins: Vec<PluginUsed>,
        /// `--resume`.
        resume: bool,
        /// `--shard`, as `K/N`.
        shard: Option<String>,
        /// The source's saved cursor before the run.
        cursor_before: Option<&'a str>,
        /// The source's saved bookmark before the run.
        bookmark_before: Option<&'a str>,
        /// Windows this run reads.
        windows_planned: usize,
        /// Windows an earlier run landed.
        windows_skipped: usize,
    },
    /// A window landed in every sink.
    Window {
        /// Pipeline name.
        pipeline: &'a str,
        /// Run id.
        run_id: &'a str,
        /// The window.
        window: WindowRef,
        /// What the source said about it.
        source: &'a serde_json::Value,
        /// What each component reported for it.
        components: &'a serde_json::Map<String, serde_json::Value>,
        /// The files landed.
        files: &'a [serde_json::Value],
    },
    /// The run ended.
    RunEnd {
        /// Pipeline name.
        pipeline: &'a str,
        /// Run id.
        run_id: &'a str,
        /// How it ended.
        status: RunStatus,
        /// Why it failed.
        error: Option<String>,
        /// Windows landed.
        windows_done: usize,
        /// Records read.
        records: u64,
        /// The source's cursor before and after.
        cursor_before: Option<&'a str>,
        /// The cursor saved (the one before when nothing was saved).
        cursor_after: Option<&'a str>,
        /// The source's bookmark before.
        bookmark_before: Option<&'a str>,
        /// The bookmark saved (the one before when nothing was saved).
        bookmark_after: Option<&'a str>,
        /// Run-level metrics of the transforms.
        transforms: &'a BTreeMap<String, serde_json::Value>,
        /// The source's metrics.
        source_metrics: &'a serde_json::Value,
    },
}

/// Appends an event, stamped with the time, when the run keeps an audit log.
///
/// # Errors
/// When the log cannot be written.
pub fn append(audit: Option<&mut AuditLog>, event: &AuditEvent<'_>) -> Result<()> {
    let Some(log) = audit else { return Ok(()) };
    let fields = match serde_json::to_value(event) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    // `kind` first, then the time, then the event's own fields.
    let mut entry = serde_json::Map::new();
    let mut fields = fields.into_iter();
    entry.extend(fields.next());
    entry.insert("ts".into(), Utc::now().to_rfc3339().into());
    entry.extend(fields);
    log.append(entry).map(|_| ())
}

/// Copies the audit log and its head to `url` (`audit.url`).
///
/// # Errors
/// When the log cannot be read or the copy not written.
pub async fn copy_audit(path: &Path, url: &str) -> Result<()> {
    use object_store::ObjectStoreExt;
    let loc = crate::store::open(url)?;
    let read = |p: std::path::PathBuf| async move {
        tokio::fs::read(&p).await.map_err(|e| EngineError::Audit {
            path: p.display().to_string(),
            message: e.to_string(),
        })
    };
    let log = read(path.to_path_buf()).await?;
    let head = read(crate::audit::head_path(path))
        .await
        .unwrap_or_default();
    for (name, data) in [("audit.jsonl", log), ("audit.head", head)] {
        loc.store
            .put(
                &loc.child(name),
                object_store::PutPayload::from(bytes::Bytes::from(data)),
            )
            .await
            .map_err(|e| EngineError::Store {
                url: url.to_string(),
                message: e.to_string(),
            })?;
    }
    Ok(())
}

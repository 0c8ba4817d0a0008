//! The sink's lifecycle: write → flush (one window) → close.

use std::collections::HashSet;
use std::path::PathBuf;

use arrow_array::RecordBatch;
use tributary_plugin_sdk::{
    Ack, Checkpoint, CreateContext, LandedFile, PluginInfo, Result as PluginResult, Sink,
};

use crate::config::{ArrowConfig, Validated};
use crate::error::{Error, Result};
use crate::writer::{Finished, IpcFile, sync_dir};

/// The `arrow` sink. See the crate docs.
pub struct ArrowSink {
    cfg: Validated,
    tmp_prefix: String,
    open: Option<IpcFile>,
    finished: Vec<Finished>,
    rows: u64,
    seq: u64,
}

impl std::fmt::Debug for ArrowSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArrowSink")
            .field("dir", &self.cfg.dir)
            .finish_non_exhaustive()
    }
}

/// Keeps `[A-Za-z0-9._-]` and replaces anything else with `_`, so ids are safe in file names.
fn safe(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with('.') {
        format!("_{s}")
    } else {
        s
    }
}

/// `{window}-{n:05}.arrow` names a file of `window` (and of no window whose id merely starts with it).
fn is_file_of(name: &str, window: &str) -> bool {
    name.strip_prefix(window)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(".arrow"))
        .is_some_and(|n| n.len() >= 5 && n.bytes().all(|b| b.is_ascii_digit()))
}

impl ArrowSink {
    /// Builds the sink: creates the directory and removes temporary files an earlier
    /// attempt of the same run and component left behind.
    ///
    /// # Errors
    /// When the directory cannot be created or listed.
    pub fn new(cfg: Validated, ctx: &CreateContext) -> Result<ArrowSink> {
        std::fs::create_dir_all(&cfg.dir).map_err(Error::io("create directory", &cfg.dir))?;
        let run = safe(if ctx.run_id.is_empty() {
            "run"
        } else {
            &ctx.run_id
        });
        let component = safe(if ctx.component.is_empty() {
            "arrow"
        } else {
            &ctx.component
        });
        let tmp_prefix = format!(".tributary-{run}-{component}-");
        let sink = ArrowSink {
            cfg,
            tmp_prefix,
            open: None,
            finished: Vec::new(),
            rows: 0,
            seq: 0,
        };
        for name in sink.list()? {
            if name.starts_with(&sink.tmp_prefix) && name.ends_with(".arrow.tmp") {
                let p = sink.cfg.dir.join(&name);
                std::fs::remove_file(&p).map_err(Error::io("remove", p))?;
            }
        }
        Ok(sink)
    }

    fn list(&self) -> Result<Vec<String>> {
        let dir = &self.cfg.dir;
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(Error::io("list", dir))? {
            let entry = entry.map_err(Error::io("list", dir))?;
            if let Some(name) = entry.file_name().to_str() {
                out.push(name.to_string());
            }
        }
        Ok(out)
    }

    fn rotate(&mut self) -> Result<()> {
        if let Some(f) = self.open.take() {
            self.finished.push(f.finish()?);
        }
        Ok(())
    }

    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        if self
            .open
            .as_ref()
            .is_some_and(|f| !f.accepts(batch.schema_ref()))
        {
            self.rotate()?;
        }
        let mut offset = 0usize;
        let total = batch.num_rows();
        while offset < total {
            if self.open.is_none() {
                self.seq += 1;
                let tmp = self
                    .cfg
                    .dir
                    .join(format!("{}{:06}.arrow.tmp", self.tmp_prefix, self.seq));
                self.open = Some(IpcFile::create(tmp, batch.schema(), self.cfg.zstd)?);
            }
            let (full, wrote) = match self.open.as_mut() {
                Some(f) => {
                    let room = usize::try_from(self.cfg.max_rows_per_file.saturating_sub(f.rows))
                        .unwrap_or(usize::MAX);
                    let n = room.min(total - offset);
                    f.write(&batch.slice(offset, n))?;
                    (
                        f.rows >= self.cfg.max_rows_per_file
                            || f.bytes() >= self.cfg.max_bytes_per_file,
                        n,
                    )
                }
                None => (false, total - offset),
            };
            offset += wrote;
            if full {
                self.rotate()?;
            }
        }
        self.rows += total as u64;
        Ok(())
    }

    fn flush_window(&mut self, cp: &Checkpoint) -> Result<Ack> {
        if cp.window_id.is_empty() {
            return Err(Error::Invalid(
                "the checkpoint has an empty window_id; this is an engine bug".into(),
            ));
        }
        let win = safe(&cp.window_id);
        self.rotate()?;
        let mut keep = HashSet::new();
        let mut files = Vec::new();
        for (n, f) in std::mem::take(&mut self.finished).into_iter().enumerate() {
            let name = format!("{win}-{n:05}.arrow");
            let dest: PathBuf = self.cfg.dir.join(&name);
            std::fs::rename(&f.tmp, &dest).map_err(Error::io("rename", &f.tmp))?;
            let path = std::fs::canonicalize(&dest).unwrap_or(dest);
            files.push(LandedFile {
                path: path.display().to_string(),
                rows: f.rows,
                bytes: f.bytes,
                sha256: f.sha256,
            });
            keep.insert(name);
        }
        let mut stale = 0u64;
        for name in self.list()? {
            if is_file_of(&name, &win) && !keep.contains(&name) {
                let p = self.cfg.dir.join(&name);
                std::fs::remove_file(&p).map_err(Error::io("remove", p))?;
                stale += 1;
            }
        }
        sync_dir(&self.cfg.dir)?;
        let mut metrics = serde_json::Map::new();
        metrics.insert("window_id".into(), cp.window_id.clone().into());
        metrics.insert("stale_files_deleted".into(), stale.into());
        Ok(Ack {
            records: std::mem::take(&mut self.rows),
            files,
            metrics,
        })
    }
}

impl Drop for ArrowSink {
    fn drop(&mut self) {
        if let Some(f) = self.open.take() {
            f.abort();
        }
    }
}

impl PluginInfo for ArrowSink {
    const NAME: &'static str = "arrow";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Config = ArrowConfig;

    fn create(config: ArrowConfig, ctx: &CreateContext) -> PluginResult<Self> {
        Ok(ArrowSink::new(config.validate()?, ctx)?)
    }
}

impl Sink for ArrowSink {
    fn healthcheck(&mut self) -> PluginResult<()> {
        let p = self
            .cfg
            .dir
            .join(format!("{}healthcheck.tmp", self.tmp_prefix));
        std::fs::write(&p, b"ok").map_err(Error::io("write", &p))?;
        std::fs::remove_file(&p).map_err(Error::io("remove", &p))?;
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> PluginResult<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        Ok(self.write_batch(batch)?)
    }

    fn flush(&mut self, checkpoint: &Checkpoint) -> PluginResult<Ack> {
        Ok(self.flush_window(checkpoint)?)
    }

    fn close(&mut self) -> PluginResult<Ack> {
        // Rows written after the last checkpoint belong to a window the engine has not
        // acknowledged (an interrupted or failed run). They are discarded, never landed under
        // another name: the resumed run re-exports that window and lands it under its own
        // deterministic names, so nothing is doubled.
        let discarded = self.rows;
        if let Some(f) = self.open.take() {
            f.abort();
        }
        for f in std::mem::take(&mut self.finished) {
            std::fs::remove_file(&f.tmp).map_err(Error::io("remove", &f.tmp))?;
        }
        self.rows = 0;
        let mut ack = Ack::default();
        if discarded > 0 {
            ack.metrics
                .insert("discarded_unacknowledged_rows".into(), discarded.into());
        }
        Ok(ack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let w = "20230101T000000Z-20230401T000000Z";
        assert!(is_file_of(&format!("{w}-00000.arrow"), w));
        assert!(!is_file_of(&format!("{w}-00000.arrow.tmp"), w));
        assert!(!is_file_of(&format!("{w}-00000.arrow"), "20230101T000000Z"));
        assert_eq!(safe("../x y"), "_.._x_y");
        assert_eq!(safe(""), "_");
    }
}

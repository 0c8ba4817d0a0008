//! The sink's lifecycle: write (stream into data files) → flush (one commit per window,
//! with the window's transaction id) → close (optional optimize and vacuum).

use std::collections::HashMap;

use arrow_array::RecordBatch;
use delta_object_store::ObjectStoreExt as _;
use deltalake_core::DeltaTable;
use deltalake_core::kernel::{Action, Add, Transaction};
use deltalake_core::parquet::basic::{Compression, ZstdLevel};
use deltalake_core::parquet::file::properties::WriterProperties;
use deltalake_core::protocol::{DeltaOperation, SaveMode};
use deltalake_core::writer::{DeltaWriter, RecordBatchWriter};
use futures::StreamExt as _;
use sha2::Digest as _;
use tributary_plugin_sdk::{
    Ack, Checkpoint, CreateContext, LandedFile, PluginInfo, Result as PluginResult, Sink,
};

use crate::config::{Codec, DeltaConfig, SchemaMode, Validated};
use crate::error::{Error, Result};
use crate::table::{self, Fit};
use crate::{convert, maintain, prepare};

/// The `delta` sink. See the crate docs.
pub struct DeltaSink {
    cfg: Validated,
    ctx: CreateContext,
    rt: std::sync::Arc<tokio::runtime::Runtime>,
    table: DeltaTable,
    /// `None` until the first write or flush looks; then whether the table exists.
    exists: Option<bool>,
    props: WriterProperties,
    writer: Option<RecordBatchWriter>,
    /// Files of this window finished before a schema change (committed with the rest).
    pending: Vec<Add>,
    /// Rows written in the current window.
    rows: u64,
    /// Columns added to the table in the current window (`schema_mode: merge`).
    added_columns: Vec<String>,
    /// Partitions the open writer has files open in (bounded by `max_open_partitions`).
    open_partitions: std::collections::BTreeSet<String>,
    /// Times the open files were finished early to stay within `max_open_partitions`.
    finished_early: u64,
    closed: bool,
}

impl std::fmt::Debug for DeltaSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeltaSink")
            .field("url", &self.cfg.url)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

fn writer_properties(codec: Codec) -> WriterProperties {
    let compression = match codec {
        Codec::Zstd => Compression::ZSTD(ZstdLevel::default()),
        Codec::Snappy => Compression::SNAPPY,
        Codec::None => Compression::UNCOMPRESSED,
    };
    WriterProperties::builder()
        .set_compression(compression)
        .set_created_by(format!(
            "tributary-sink-delta {}",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
}

/// How often a window's commit is made again after a conflict or a lost commit.
const COMMIT_ATTEMPTS: u64 = 5;

/// Milliseconds since the Unix epoch of an RFC 3339 time (the checkpoint's window start).
fn epoch_millis(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp_millis())
}

impl DeltaSink {
    /// Builds the sink from a validated configuration; touches no data.
    ///
    /// # Errors
    /// When the table directory or the S3 store cannot be set up.
    pub fn new(cfg: Validated, ctx: &CreateContext) -> Result<DeltaSink> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| Error::Local {
                context: "building the sink's async runtime".into(),
                source,
            })?;
        let table = table::open(&cfg)?;
        let props = writer_properties(cfg.compression);
        Ok(DeltaSink {
            cfg,
            ctx: ctx.clone(),
            rt: std::sync::Arc::new(rt),
            table,
            exists: None,
            props,
            writer: None,
            pending: Vec::new(),
            rows: 0,
            added_columns: Vec::new(),
            open_partitions: std::collections::BTreeSet::new(),
            finished_early: 0,
            closed: false,
        })
    }

    /// The transaction id of a window: unique per pipeline, sink and window, so a window
    /// is committed at most once whatever order windows, shards and re-runs come in.
    pub fn app_id(&self, window_id: &str) -> String {
        format!(
            "tributary/{}/{}/{window_id}",
            self.ctx.pipeline, self.ctx.component
        )
    }

    fn url(&self) -> &str {
        &self.cfg.url
    }

    async fn ensure_loaded(&mut self) -> Result<bool> {
        if let Some(e) = self.exists {
            return Ok(e);
        }
        let url = self.cfg.url.clone();
        let e = table::load(&mut self.table, &url).await?;
        self.exists = Some(e);
        Ok(e)
    }

    fn new_writer(&self) -> Result<RecordBatchWriter> {
        Ok(RecordBatchWriter::for_table(&self.table)
            .map_err(|e| Error::delta("starting a writer", self.url(), e))?
            .with_writer_properties(self.props.clone())
            .with_target_file_size(self.cfg.target_file_bytes))
    }

    async fn write_async(&mut self, batch: delta_arrow_array::RecordBatch) -> Result<()> {
        let url = self.cfg.url.clone();
        if !self.ensure_loaded().await? {
            let keys: Vec<String> = self
                .cfg
                .partition_by
                .iter()
                .map(|p| p.key().to_string())
                .collect();
            table::create(&mut self.table, &batch.schema(), &keys, &url).await?;
            self.exists = Some(true);
        }
        let schema = table::arrow_schema(&self.table, &url)?;
        let fitted = match table::fit(&batch, &schema, &url)? {
            Fit::Fits(b) => b,
            Fit::NewColumns(new) => {
                let names: Vec<String> = new.iter().map(|f| f.name().clone()).collect();
                if self.cfg.schema_mode == SchemaMode::Strict {
                    return Err(Error::Schema {
                        url,
                        message: format!(
                            "columns {} are not in the table; set `schema_mode: merge` to add them",
                            names.join(", ")
                        ),
                    });
                }
                // Files written so far keep the old schema (readers see the new columns
                // as null there); they are committed with the rest of the window.
                self.finish_open_files().await?;
                table::add_columns(&mut self.table, &new, &url).await?;
                self.added_columns.extend(names);
                let schema = table::arrow_schema(&self.table, &url)?;
                match table::fit(&batch, &schema, &url)? {
                    Fit::Fits(b) => b,
                    Fit::NewColumns(_) => {
                        return Err(Error::Schema {
                            url,
                            message: "the table did not take the new columns".into(),
                        });
                    }
                }
            }
        };
        if self.writer.is_none() {
            self.writer = Some(self.new_writer()?);
        }
        if let Some(w) = self.writer.as_mut() {
            w.write(fitted)
                .await
                .map_err(|e| Error::delta("writing a data file", &url, e))?;
        }
        Ok(())
    }

    /// Finishes the open data files (kept for the window's commit); the next write opens
    /// new ones.
    async fn finish_open_files(&mut self) -> Result<()> {
        if let Some(mut w) = self.writer.take() {
            let adds = w
                .flush()
                .await
                .map_err(|e| Error::delta("finishing data files", &self.cfg.url, e))?;
            self.pending.extend(adds);
        }
        self.open_partitions.clear();
        Ok(())
    }

    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 || batch.num_columns() == 0 {
            return Ok(());
        }
        let prepared = prepare::prepare(batch, &self.cfg.partition_by)?;
        let rt = std::sync::Arc::clone(&self.rt);
        let keys = prepare::partition_keys(&prepared, &self.cfg.partition_by)?;
        let new = keys.difference(&self.open_partitions).count();
        if new > 0
            && !self.open_partitions.is_empty()
            && self.open_partitions.len() + new > self.cfg.max_open_partitions
        {
            rt.block_on(self.finish_open_files())?;
            self.finished_early += 1;
        }
        self.open_partitions.extend(keys);
        let converted = convert::to_delta(&prepared)?;
        rt.block_on(self.write_async(converted))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// The files of a commit as the audit log records them, each read back once for its
    /// SHA-256 (a window has about one file per partition).
    async fn landed(&self, adds: &[Add]) -> Result<Vec<LandedFile>> {
        let store = self.table.log_store().object_store(None);
        let base = self.cfg.url.trim_end_matches('/');
        let mut files = Vec::with_capacity(adds.len());
        for add in adds {
            let path = deltalake_core::Path::from_url_path(&add.path).map_err(|e| {
                Error::Batch(format!(
                    "delta-rs wrote an unusable path {:?}: {e}",
                    add.path
                ))
            })?;
            // Streamed through the hash: a file is never held whole in memory.
            let mut chunks = store
                .get(&path)
                .await
                .map_err(|e| Error::delta("reading back a data file", &self.cfg.url, e.into()))?
                .into_stream();
            let mut hasher = sha2::Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|e| {
                    Error::delta("reading back a data file", &self.cfg.url, e.into())
                })?;
                size += chunk.len() as u64;
                hasher.update(&chunk);
            }
            let rows = add
                .get_stats()
                .ok()
                .flatten()
                .map_or(0, |s| u64::try_from(s.num_records).unwrap_or(0));
            files.push(LandedFile {
                path: format!("{base}/{}", add.path),
                rows,
                bytes: size,
                sha256: hex::encode(hasher.finalize()),
            });
        }
        Ok(files)
    }

    async fn flush_async(&mut self, cp: &Checkpoint) -> Result<Ack> {
        let url = self.cfg.url.clone();
        let mut metrics = serde_json::Map::new();
        metrics.insert("window_id".into(), cp.window_id.clone().into());
        let rows = std::mem::take(&mut self.rows);
        let added = std::mem::take(&mut self.added_columns);
        if !added.is_empty() {
            metrics.insert("columns_added".into(), added.into());
        }
        if rows == 0 && self.pending.is_empty() {
            // Nothing to land: no commit (an empty window adds no table version).
            if let Some(mut w) = self.writer.take() {
                w.reset();
            }
            self.open_partitions.clear();
            return Ok(Ack {
                records: 0,
                files: Vec::new(),
                metrics,
            });
        }
        let app_id = self.app_id(&cp.window_id);
        if let Some(v) = table::committed(&mut self.table, &app_id, &url).await? {
            // A resumed or repeated window whose commit landed before the run stopped: its
            // records are in the table already. The files just written are never
            // referenced; `vacuum` removes them.
            if let Some(mut w) = self.writer.take() {
                w.reset();
            }
            self.pending.clear();
            self.open_partitions.clear();
            self.finished_early = 0;
            metrics.insert("already_committed".into(), true.into());
            metrics.insert("transaction_version".into(), v.into());
            return Ok(Ack {
                records: rows,
                files: Vec::new(),
                metrics,
            });
        }
        self.finish_open_files().await?;
        let adds = std::mem::take(&mut self.pending);
        let early = std::mem::take(&mut self.finished_early);
        if early > 0 {
            metrics.insert("files_finished_for_memory".into(), early.into());
        }
        let files = self.landed(&adds).await?;
        let actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
        let partition_by = table::partition_columns(&self.table, &url)?;
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: (!partition_by.is_empty()).then_some(partition_by),
            predicate: None,
        };
        let mut app_metadata = HashMap::new();
        app_metadata.insert(
            "tributary.run_id".to_string(),
            self.ctx.run_id.clone().into(),
        );
        app_metadata.insert(
            "tributary.window_id".to_string(),
            cp.window_id.clone().into(),
        );
        if !self.ctx.shard.is_empty() {
            app_metadata.insert("tributary.shard".to_string(), self.ctx.shard.clone().into());
        }
        let txn = Transaction::new(&app_id, epoch_millis(&cp.window_start).unwrap_or(0));
        let mut recommits = 0u64;
        let version = loop {
            let outcome = table::commit(
                &mut self.table,
                actions.clone(),
                Some(txn.clone()),
                operation.clone(),
                app_metadata.clone(),
                self.cfg.commit_retries,
                &url,
            )
            .await;
            match outcome {
                // Read back: on a store whose conditional PUT is not atomic, a concurrent
                // writer can replace the version this commit took.
                Ok(v) if table::commit_has(&self.table, v, &app_id, &url).await? => break v,
                // Lost: the log is read afresh (the memory of the lost version is wrong) and
                // the window committed again; counted in its `recommits` metric.
                Ok(_) if recommits < COMMIT_ATTEMPTS => {
                    table::reload(&mut self.table, &url).await?;
                }
                Ok(v) => {
                    return Err(Error::Commit {
                        url,
                        message: format!(
                            "the commit of window {} was replaced in the log {COMMIT_ATTEMPTS} times \
                             (last as version {v}): the store does not honour conditional PUT \
                             (If-None-Match); run one writer at a time on it",
                            cp.window_id
                        ),
                    });
                }
                // A conflict (another writer changed the table's metadata, or took the
                // version too often): re-read the log, and commit again unless this window
                // landed meanwhile.
                Err(_) if recommits < COMMIT_ATTEMPTS => {
                    if let Some(v) = table::committed(&mut self.table, &app_id, &url).await? {
                        break v;
                    }
                }
                Err(e) => return Err(e),
            }
            recommits += 1;
            table::refresh(&mut self.table, &url).await?;
        };
        if recommits > 0 {
            metrics.insert("recommits".into(), recommits.into());
        }
        metrics.insert("delta_version".into(), version.into());
        metrics.insert("files_added".into(), files.len().into());
        Ok(Ack {
            records: rows,
            files,
            metrics,
        })
    }

    fn flush_window(&mut self, cp: &Checkpoint) -> Result<Ack> {
        if cp.window_id.is_empty() {
            return Err(Error::Batch(
                "the checkpoint has an empty window_id; this is an engine bug".into(),
            ));
        }
        let rt = std::sync::Arc::clone(&self.rt);
        rt.block_on(self.flush_async(cp))
    }

    fn close_run(&mut self) -> Result<Ack> {
        if self.closed {
            return Ok(Ack::default());
        }
        self.closed = true;
        let mut ack = Ack::default();
        // Rows written after the last checkpoint belong to a window the engine never
        // acknowledged (an interrupted or failed run): discarded, never committed. The
        // resumed run lands that window under its own transaction id.
        let discarded = std::mem::take(&mut self.rows);
        if let Some(mut w) = self.writer.take() {
            w.reset();
        }
        self.pending.clear();
        if discarded > 0 {
            ack.metrics
                .insert("discarded_unacknowledged_rows".into(), discarded.into());
        }
        let rt = std::sync::Arc::clone(&self.rt);
        let url = self.cfg.url.clone();
        if (self.cfg.optimize.after_run || self.cfg.vacuum.after_run)
            && !rt.block_on(self.ensure_loaded())?
        {
            ack.metrics
                .insert("maintenance".into(), "no table yet".into());
            return Ok(ack);
        }
        if self.cfg.optimize.after_run {
            let report = rt.block_on(maintain::optimize(
                &mut self.table,
                &self.cfg,
                &self.props,
                &url,
            ))?;
            ack.metrics.insert("optimize".into(), report);
        }
        if self.cfg.vacuum.after_run {
            let report = rt.block_on(maintain::vacuum(&mut self.table, &self.cfg, &url))?;
            ack.metrics.insert("vacuum".into(), report);
        }
        Ok(ack)
    }
}

impl Drop for DeltaSink {
    fn drop(&mut self) {
        // Abort in-progress uploads so a failed run leaves no orphaned multipart parts.
        if let Some(mut w) = self.writer.take() {
            w.reset();
        }
    }
}

impl PluginInfo for DeltaSink {
    const NAME: &'static str = "delta";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Config = DeltaConfig;

    fn create(config: DeltaConfig, ctx: &CreateContext) -> PluginResult<Self> {
        let cfg = config.validate()?;
        Ok(DeltaSink::new(cfg, ctx)?)
    }
}

impl Sink for DeltaSink {
    fn healthcheck(&mut self) -> PluginResult<()> {
        let rt = std::sync::Arc::clone(&self.rt);
        rt.block_on(async {
            // Reading the log proves the store answers with these credentials; a probe
            // object at the table root (which readers ignore) proves writes go through.
            self.ensure_loaded().await?;
            let store = self.table.log_store().object_store(None);
            let probe = deltalake_core::Path::from(format!(
                "_tributary_healthcheck-{}",
                crate::sanitize(&self.ctx.run_id)
            ));
            let url = self.cfg.url.clone();
            store
                .put(&probe, bytes_of(b"ok"))
                .await
                .map_err(|e| Error::delta("writing a probe object", &url, e.into()))?;
            store
                .delete(&probe)
                .await
                .map_err(|e| Error::delta("deleting a probe object", &url, e.into()))?;
            Ok::<(), Error>(())
        })?;
        Ok(())
    }

    fn write(&mut self, batch: &RecordBatch) -> PluginResult<()> {
        Ok(self.write_batch(batch)?)
    }

    fn flush(&mut self, checkpoint: &Checkpoint) -> PluginResult<Ack> {
        Ok(self.flush_window(checkpoint)?)
    }

    fn close(&mut self) -> PluginResult<Ack> {
        Ok(self.close_run()?)
    }
}

fn bytes_of(b: &'static [u8]) -> delta_object_store::PutPayload {
    delta_object_store::PutPayload::from_static(b)
}

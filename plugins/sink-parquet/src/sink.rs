//! The sink's lifecycle: write → flush (one window) → close.

use std::collections::{HashMap, HashSet};

use arrow_array::{RecordBatch, UInt32Array};
use arrow_schema::SchemaRef;
use object_store::path::Path as ObjectPath;
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use tributary_plugin_sdk::{
    Ack, Checkpoint, CreateContext, LandedFile, PluginInfo, Result as PluginResult, Sink,
};

use crate::config::{ParquetConfig, Validated};
use crate::error::{Error, Result};
use crate::partition::{Rows, partition_groups, sanitize};
use crate::writer::{Finished, PartFile, Store};

/// One file in the run manifest (`{prefix}/_manifests/{run_id}.json`). The manifest holds
/// keys relative to the sink's URL (its `url` field), never a machine's absolute path, so
/// it stays true when the lake is copied or read from another host.
#[derive(Debug, Clone, Serialize)]
pub struct ManifestFile {
    /// Where the file is on this machine (`s3://bucket/key` or a local path); not written
    /// to the manifest.
    #[serde(skip)]
    pub path: String,
    /// The key relative to the sink's URL.
    pub key: String,
    /// The window it belongs to.
    pub window_id: String,
    /// Its partition path (`date=2023-01-15`), empty without partitions.
    pub partition: String,
    /// Rows in the file.
    pub rows: u64,
    /// Bytes in the file.
    pub bytes: u64,
    /// SHA-256 of the file, lowercase hex.
    pub sha256: String,
}

/// `_windows/{pipeline}-{component}/{window}.json`: the parts a window's last attempt landed.
#[derive(Debug, Serialize, serde::Deserialize)]
struct WindowRecord {
    keys: Vec<String>,
}

#[derive(Debug, Serialize)]
struct Manifest<'a> {
    run_id: &'a str,
    pipeline: &'a str,
    component: &'a str,
    url: &'a str,
    rows: u64,
    files: &'a [ManifestFile],
}

/// The `parquet` sink. See the crate docs.
pub struct ParquetSink {
    cfg: Validated,
    store: Store,
    props: WriterProperties,
    /// The per-file properties decided from a first batch large enough to judge, for files
    /// of that schema: sampling every column of every new file cost more than the
    /// dictionaries it saved (hashing was 4 % of the sink's samples, 365 files a 1M run).
    file_props: Option<(SchemaRef, WriterProperties)>,
    ctx: CreateContext,
    run: String,
    /// Staging for this pipeline, component and shard: `_tmp/{pipeline}-{component}[-shard-…]`.
    tmp_root: ObjectPath,
    /// This run's staging, under `tmp_root`.
    tmp_dir: ObjectPath,
    /// `_windows/{pipeline}-{component}/`: per window, the keys its last attempt landed.
    windows_dir: String,
    /// Whether what an earlier (killed) instance left in `tmp_dir` has been swept.
    tmp_swept: bool,
    open: HashMap<String, PartFile>,
    next_part: HashMap<String, u32>,
    finished: Vec<Finished>,
    rows: u64,
    seq: u64,
    tick: u64,
    manifest: Vec<ManifestFile>,
    closed: bool,
    /// Files finished before their window ended to stay within `max_buffered_bytes`.
    finished_early: u64,
}

impl std::fmt::Debug for ParquetSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetSink")
            .field("url", &self.cfg.url)
            .field("open_files", &self.open.len())
            .finish_non_exhaustive()
    }
}

impl ParquetSink {
    /// Builds the sink from a validated configuration.
    ///
    /// # Errors
    /// When the store cannot be opened.
    pub fn new(cfg: Validated, ctx: &CreateContext) -> Result<ParquetSink> {
        let store = Store::open(&cfg)?;
        let props = WriterProperties::builder()
            .set_compression(cfg.compression)
            .set_max_row_group_row_count(Some(cfg.row_group_rows))
            .set_max_row_group_bytes(Some(
                usize::try_from(cfg.target_file_bytes.clamp(1, 128 * 1024 * 1024)).unwrap_or(1),
            ))
            .set_created_by(format!(
                "tributary-sink-parquet {}",
                env!("CARGO_PKG_VERSION")
            ))
            .build();
        let run = sanitize(if ctx.run_id.is_empty() {
            "run"
        } else {
            &ctx.run_id
        });
        let component = sanitize(if ctx.component.is_empty() {
            "parquet"
        } else {
            &ctx.component
        });
        let pipeline = sanitize(if ctx.pipeline.is_empty() {
            "pipeline"
        } else {
            &ctx.pipeline
        });
        // No two live instances share a pipeline, component and shard, so what is under
        // this staging prefix when an instance starts writing was left by a killed one.
        let owner = format!("{pipeline}-{component}");
        let staging = if ctx.shard.is_empty() {
            format!("_tmp/{owner}")
        } else {
            format!("_tmp/{owner}-shard-{}", sanitize(&ctx.shard))
        };
        // Keys stay unique per run (`{staging}/{run}/…`); the sweep takes all of `staging`.
        let tmp_root = store.key(&staging)?;
        let tmp_dir = store.key(&format!("{staging}/{run}"))?;
        let windows_dir = format!("_windows/{owner}");
        Ok(ParquetSink {
            cfg,
            store,
            props,
            file_props: None,
            ctx: ctx.clone(),
            run,
            tmp_root,
            tmp_dir,
            windows_dir,
            tmp_swept: false,
            open: HashMap::new(),
            next_part: HashMap::new(),
            finished: Vec::new(),
            rows: 0,
            seq: 0,
            tick: 0,
            manifest: Vec::new(),
            closed: false,
            finished_early: 0,
        })
    }

    /// The properties of a new file whose first batch is `batch`.
    fn file_props(&mut self, batch: &RecordBatch) -> WriterProperties {
        if let Some((schema, props)) = &self.file_props
            && schema.fields() == batch.schema_ref().fields()
        {
            return props.clone();
        }
        let props = crate::writer::props_for(&self.props, batch);
        if batch.num_rows() >= crate::props::DICTIONARY_MIN_ROWS {
            self.file_props = Some((batch.schema(), props.clone()));
        }
        props
    }

    fn finish_open(&mut self, partition: &str) -> Result<()> {
        if let Some(pf) = self.open.remove(partition) {
            self.finished.push(pf.finish(&self.store)?);
        }
        Ok(())
    }

    fn write_part(&mut self, partition: &str, batch: &RecordBatch) -> Result<()> {
        if self
            .open
            .get(partition)
            .is_some_and(|pf| !pf.accepts(batch.schema_ref()))
        {
            // A new schema starts a new part; readers merge parts by column name.
            self.finish_open(partition)?;
        }
        if !self.open.contains_key(partition) {
            if self.open.len() >= self.cfg.max_open_files {
                let lru = self
                    .open
                    .iter()
                    .min_by_key(|(_, pf)| pf.last_used)
                    .map(|(k, _)| k.clone());
                if let Some(k) = lru {
                    self.finish_open(&k)?;
                }
            }
            let n = self.next_part.entry(partition.to_string()).or_insert(0);
            let part = *n;
            *n += 1;
            self.seq += 1;
            let tmp = ObjectPath::parse(format!(
                "{}/{:06}.parquet.inprogress",
                self.tmp_dir, self.seq
            ))
            .map_err(|e| Error::Batch(format!("cannot build a temporary key: {e}")))?;
            let props = self.file_props(batch);
            let pf = PartFile::create(
                tmp,
                partition.to_string(),
                part,
                batch.schema(),
                &props,
                self.cfg.upload_part_bytes,
                &self.store,
            )?;
            self.open.insert(partition.to_string(), pf);
        }
        let tick = self.tick;
        let roll = match self.open.get_mut(partition) {
            Some(pf) => {
                pf.write(&self.store, batch)?;
                pf.last_used = tick;
                pf.size() >= self.cfg.target_file_bytes
            }
            None => false,
        };
        if roll {
            self.finish_open(partition)?;
        }
        self.keep_within_budget(partition)
    }

    /// Finishes the least recently written files (never `current`) while the open files
    /// together hold more than `max_buffered_bytes`.
    fn keep_within_budget(&mut self, current: &str) -> Result<()> {
        let budget = usize::try_from(self.cfg.max_buffered_bytes).unwrap_or(usize::MAX);
        let mut held: usize = self.open.values().map(PartFile::memory).sum();
        while held > budget {
            let lru = self
                .open
                .iter()
                .filter(|(k, _)| k.as_str() != current)
                .min_by_key(|(_, pf)| pf.last_used)
                .map(|(k, pf)| (k.clone(), pf.memory()));
            let Some((k, memory)) = lru else {
                break;
            };
            self.finish_open(&k)?;
            self.finished_early += 1;
            held -= memory;
        }
        Ok(())
    }

    fn write_batch(&mut self, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if !self.tmp_swept {
            // Staged parts of a killed instance: their window was never acknowledged, and
            // this run lands it again. Swept on the first write, not in `create`, so that
            // `tributary validate` and `plan` touch no data.
            self.store.delete_tree(&self.tmp_root)?;
            self.tmp_swept = true;
        }
        self.tick += 1;
        if self.cfg.partition_by.is_empty() {
            self.write_part("", batch)?;
        } else {
            let groups = partition_groups(batch, &self.cfg.partition_by)?;
            for (p, rows) in groups {
                let sub = match rows {
                    Rows::Run { len, .. } if len == batch.num_rows() => batch.clone(),
                    Rows::Run { offset, len } => batch.slice(offset, len),
                    Rows::Picked(rows) => {
                        arrow_select::take::take_record_batch(batch, &UInt32Array::from(rows))?
                    }
                };
                self.write_part(&p, &sub)?;
            }
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    fn flush_window(&mut self, cp: &Checkpoint) -> Result<Ack> {
        if cp.window_id.is_empty() {
            return Err(Error::Batch(
                "the checkpoint has an empty window_id; this is an engine bug".into(),
            ));
        }
        let win = sanitize(&cp.window_id);
        let mut keys: Vec<String> = self.open.keys().cloned().collect();
        keys.sort();
        for k in keys {
            self.finish_open(&k)?;
        }
        // Every part's bytes durable before any is moved into place.
        self.store.wait_synced()?;
        // The record of what this window's last attempt landed, written (as the union with
        // what it lists already) before any part is moved: a crash at any point leaves a
        // record naming every part of this window that may exist, so the next attempt can
        // delete those it does not rewrite without listing the whole prefix.
        let record = self
            .store
            .key(&format!("{}/{win}.json", self.windows_dir))?;
        let earlier = self.read_window_record(&record)?;
        let mut finished = std::mem::take(&mut self.finished);
        finished.sort_by(|a, b| (&a.partition, a.part).cmp(&(&b.partition, b.part)));
        let mut now = Vec::with_capacity(finished.len());
        for f in &finished {
            let name = format!("part-{win}-{:05}.parquet", f.part);
            now.push(if f.partition.is_empty() {
                name
            } else {
                format!("{}/{name}", f.partition)
            });
        }
        let mut union: Vec<String> = earlier.iter().chain(&now).cloned().collect();
        union.sort();
        union.dedup();
        if union != earlier {
            self.write_window_record(&record, &union)?;
        }
        let mut files = Vec::new();
        for (f, rel) in finished.into_iter().zip(&now) {
            let dest = self.store.key(rel)?;
            self.store.rename(&f.tmp, &dest)?;
            let path = self.store.url_of(&dest);
            files.push(LandedFile {
                path: path.clone(),
                rows: f.rows,
                bytes: f.bytes,
                sha256: f.sha256.clone(),
            });
            self.manifest.push(ManifestFile {
                path,
                key: rel.clone(),
                window_id: cp.window_id.clone(),
                partition: f.partition,
                rows: f.rows,
                bytes: f.bytes,
                sha256: f.sha256,
            });
        }
        // Every moved part's directory entry (and new partition directories) durable
        // before the window is acknowledged.
        let dests = now
            .iter()
            .map(|rel| self.store.key(rel))
            .collect::<Result<Vec<_>>>()?;
        self.store.sync_dirs(&dests)?;
        // Parts of this window left by an earlier attempt that this attempt did not rewrite.
        let keep: HashSet<&String> = now.iter().collect();
        let mut stale = 0u64;
        for rel in earlier.iter().filter(|k| !keep.contains(k)) {
            if self.store.delete_if_exists(&self.store.key(rel)?)? {
                stale += 1;
            }
        }
        if union != now {
            self.write_window_record(&record, &now)?;
        }
        self.next_part.clear();
        let mut metrics = serde_json::Map::new();
        metrics.insert("window_id".into(), cp.window_id.clone().into());
        metrics.insert("stale_files_deleted".into(), stale.into());
        metrics.insert(
            "files_finished_for_memory".into(),
            std::mem::take(&mut self.finished_early).into(),
        );
        Ok(Ack {
            records: std::mem::take(&mut self.rows),
            files,
            metrics,
        })
    }

    fn close_run(&mut self) -> Result<Ack> {
        if self.closed {
            return Ok(Ack::default());
        }
        let mut ack = Ack::default();
        // Rows written after the last checkpoint belong to a window the engine has not
        // acknowledged (an interrupted or failed run). They are discarded, never landed
        // under another name: the resumed run re-exports the window and lands it under its
        // own deterministic keys, so nothing is doubled. Their temporary objects go below.
        let discarded = self.rows;
        for (_, pf) in self.open.drain() {
            pf.abort(&self.store);
        }
        self.finished.clear();
        self.rows = 0;
        if discarded > 0 {
            ack.metrics
                .insert("discarded_unacknowledged_rows".into(), discarded.into());
        }
        let rows = self.manifest.iter().map(|f| f.rows).sum();
        let manifest = Manifest {
            run_id: &self.ctx.run_id,
            pipeline: &self.ctx.pipeline,
            component: &self.ctx.component,
            url: &self.cfg.url,
            rows,
            files: &self.manifest,
        };
        let body = serde_json::to_vec_pretty(&manifest)?;
        let key = self.store.key(&format!("_manifests/{}.json", self.run))?;
        self.store.put_durable(&key, body)?;
        // No other live instance stages here: everything under it was this instance's.
        self.store.delete_tree(&self.tmp_root)?;
        self.closed = true;
        ack.metrics
            .insert("manifest".into(), self.store.url_of(&key).into());
        Ok(ack)
    }

    /// The keys (relative to the prefix) a window's last attempt landed, from its record.
    fn read_window_record(&self, record: &ObjectPath) -> Result<Vec<String>> {
        let Some(bytes) = self.store.get_opt(record)? else {
            return Ok(Vec::new());
        };
        let parsed: WindowRecord = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Batch(format!(
                "the window record {} is not valid JSON ({e}); delete it and the window's \
                 part-<window>-*.parquet files by hand, then run again",
                self.store.url_of(record)
            ))
        })?;
        Ok(parsed.keys)
    }

    fn write_window_record(&self, record: &ObjectPath, keys: &[String]) -> Result<()> {
        let body = serde_json::to_vec(&WindowRecord {
            keys: keys.to_vec(),
        })?;
        // Durable before any part moves: the next attempt relies on it to find them.
        self.store.put_durable(record, body)
    }

    /// The files landed so far in this run (what the manifest will list).
    pub fn landed(&self) -> &[ManifestFile] {
        &self.manifest
    }
}

impl Drop for ParquetSink {
    fn drop(&mut self) {
        // Abort open multipart uploads so a failed run leaves no orphaned parts.
        for (_, pf) in self.open.drain() {
            pf.abort(&self.store);
        }
    }
}

impl PluginInfo for ParquetSink {
    const NAME: &'static str = "parquet";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Config = ParquetConfig;

    fn create(config: ParquetConfig, ctx: &CreateContext) -> PluginResult<Self> {
        let cfg = config.validate()?;
        Ok(ParquetSink::new(cfg, ctx)?)
    }
}

impl Sink for ParquetSink {
    fn healthcheck(&mut self) -> PluginResult<()> {
        self.store.probe()?;
        // Inside this instance's staging, so that a run killed between the put and the
        // delete leaves nothing the next run of it does not sweep.
        let key = self
            .tmp_root
            .clone()
            .join(format!("healthcheck-{}", self.run));
        self.store.put(&key, b"ok".to_vec())?;
        self.store.delete_if_exists(&key)?;
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

//! The `webhook` sink's lifecycle: buffer a window's batches, cut them into requests at
//! `flush`, deliver them concurrently, spool what fails, redeliver the spool.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::RecordBatch;
use tokio::task::JoinSet;
use tributary_plugin_sdk::{
    Ack, Checkpoint, CreateContext, PluginInfo, Result as PluginResult, Sink,
};

use crate::config::WebhookConfig;
use crate::error::{Error, Result};
use crate::request::{Deliverer, Delivery, Outcome, encode_body, idempotency_key};
use crate::spool::Spool;

/// Counts since the last acknowledgement.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    /// Batches answered with 2xx.
    pub delivered_batches: u64,
    /// Records in them.
    pub delivered_records: u64,
    /// Retries made (all batches).
    pub retries: u64,
    /// Batches written to the spool.
    pub spooled_batches: u64,
    /// Records in them.
    pub spooled_records: u64,
    /// Spooled batches of earlier runs delivered (and removed from the spool).
    pub redelivered_batches: u64,
    /// Records in them.
    pub redelivered_records: u64,
    /// Batches the receiver refused with a non-retryable status (also spooled).
    pub rejected_batches: u64,
}

impl Counters {
    fn to_metrics(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        for (k, v) in [
            ("delivered_batches", self.delivered_batches),
            ("delivered_records", self.delivered_records),
            ("retries", self.retries),
            ("spooled_batches", self.spooled_batches),
            ("spooled_records", self.spooled_records),
            ("redelivered_batches", self.redelivered_batches),
            ("redelivered_records", self.redelivered_records),
            ("rejected_batches", self.rejected_batches),
        ] {
            m.insert(k.into(), v.into());
        }
        m
    }
}

/// The `webhook` sink. See the crate docs.
pub struct WebhookSink {
    deliverer: Arc<Deliverer>,
    runtime: tokio::runtime::Runtime,
    spool: Spool,
    pipeline: String,
    component: String,
    pending: Vec<RecordBatch>,
    window_id: Option<String>,
    next_seq: u64,
    spool_drained: bool,
    counters: Counters,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSink")
            .field("config", self.deliverer.config())
            .field("component", &self.component)
            .field("spool", &self.spool)
            .finish_non_exhaustive()
    }
}

impl PluginInfo for WebhookSink {
    const NAME: &'static str = "webhook";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Config = WebhookConfig;

    fn create(config: WebhookConfig, ctx: &CreateContext) -> PluginResult<Self> {
        let name = if ctx.component.is_empty() {
            "<name>"
        } else {
            ctx.component.as_str()
        };
        let cfg = config.validate().map_err(|e| match e {
            Error::Config { key, message } => Error::Config { key, message }
                .to_string()
                .replace("<name>", name),
            other => other.to_string(),
        });
        let cfg = cfg.map_err(tributary_plugin_sdk::PluginError::config)?;
        Ok(WebhookSink::new(cfg, ctx)?)
    }
}

impl WebhookSink {
    /// A sink for a validated configuration.
    ///
    /// # Errors
    /// [`Error::Setup`] when the HTTP client or runtime cannot start.
    pub fn new(cfg: crate::config::ValidatedConfig, ctx: &CreateContext) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("tributary-webhook")
            .build()
            .map_err(|e| Error::Setup {
                reason: format!("tokio runtime: {e}"),
            })?;
        let data_dir = if ctx.data_dir.is_empty() {
            PathBuf::from(".")
        } else {
            PathBuf::from(&ctx.data_dir)
        };
        Ok(WebhookSink {
            deliverer: Arc::new(Deliverer::new(cfg)?),
            runtime,
            spool: Spool::new(&data_dir),
            pipeline: ctx.pipeline.clone(),
            component: ctx.component.clone(),
            pending: Vec::new(),
            window_id: None,
            next_seq: 0,
            spool_drained: false,
            counters: Counters::default(),
        })
    }

    /// The spool directory.
    pub fn spool_dir(&self) -> &std::path::Path {
        self.spool.dir()
    }

    /// Delivers batches with at most `concurrency` in flight; outcomes in input order. A
    /// task that dies (it should not) counts as a failed delivery, so its batch is spooled.
    fn deliver_all(&self, deliveries: Vec<Delivery>) -> Vec<(Delivery, Outcome)> {
        let limit = self.deliverer.config().concurrency;
        let deliverer = Arc::clone(&self.deliverer);
        let url = deliverer.config().display_url.clone();
        let tasks = deliveries.clone();
        let mut outcomes: Vec<Option<Outcome>> = self.runtime.block_on(async move {
            let mut outcomes: Vec<Option<Outcome>> = tasks.iter().map(|_| None).collect();
            let mut set = JoinSet::new();
            let mut record =
                |r: Option<std::result::Result<(usize, Outcome), tokio::task::JoinError>>| {
                    if let Some(Ok((i, o))) = r {
                        if let Some(slot) = outcomes.get_mut(i) {
                            *slot = Some(o);
                        }
                    }
                };
            for (i, d) in tasks.into_iter().enumerate() {
                while set.len() >= limit {
                    record(set.join_next().await);
                }
                let deliverer = Arc::clone(&deliverer);
                set.spawn(async move { (i, deliverer.deliver(&d).await) });
            }
            while !set.is_empty() {
                record(set.join_next().await);
            }
            outcomes
        });
        deliveries
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let o = outcomes
                    .get_mut(i)
                    .and_then(Option::take)
                    .unwrap_or_else(|| Outcome::GaveUp {
                        retries: 0,
                        error: Error::Delivery {
                            url: url.clone(),
                            attempts: 0,
                            reason: "the delivery task failed".into(),
                        },
                    });
                (d, o)
            })
            .collect()
    }

    /// Redelivers what earlier runs spooled, once per instance, before anything new.
    fn drain_spool(&mut self) -> Result<()> {
        if self.spool_drained {
            return Ok(());
        }
        self.spool_drained = true;
        let spooled = self.spool.list()?;
        if spooled.is_empty() {
            return Ok(());
        }
        tracing::info!(component = %self.component, batches = spooled.len(), spool = %self.spool.dir().display(), "redelivering spooled webhook batches");
        let mut paths = std::collections::HashMap::new();
        let mut deliveries = Vec::with_capacity(spooled.len());
        for (path, _, d) in spooled {
            paths.insert(d.key.clone(), path);
            deliveries.push(d);
        }
        for (d, outcome) in self.deliver_all(deliveries) {
            match outcome {
                Outcome::Delivered { retries } => {
                    self.counters.retries += u64::from(retries);
                    self.counters.redelivered_batches += 1;
                    self.counters.redelivered_records += d.records;
                    if let Some(p) = paths.get(&d.key) {
                        self.spool.remove(p)?;
                    }
                }
                Outcome::GaveUp { retries, error } => {
                    self.counters.retries += u64::from(retries);
                    tracing::warn!(component = %self.component, key = %d.key, error = %error, "spooled batch still undeliverable; kept in the spool");
                }
                Outcome::Rejected { retries, status } => {
                    self.counters.retries += u64::from(retries);
                    self.counters.rejected_batches += 1;
                    tracing::warn!(component = %self.component, key = %d.key, status, url = %self.deliverer.config().display_url, "receiver refused a spooled batch; kept in the spool for inspection");
                }
            }
        }
        Ok(())
    }

    /// Cuts the buffered batches into requests of `batch_size` records, keyed for `window_id`.
    fn cut(&mut self, window_id: &str) -> Result<Vec<Delivery>> {
        if self.window_id.as_deref() != Some(window_id) {
            self.window_id = Some(window_id.to_string());
            self.next_seq = 0;
        }
        let size = self.deliverer.config().batch_size;
        let mut deliveries = Vec::new();
        let mut chunk: Vec<RecordBatch> = Vec::new();
        let mut chunk_rows = 0usize;
        for batch in std::mem::take(&mut self.pending) {
            let mut offset = 0;
            while offset < batch.num_rows() {
                let take = (size - chunk_rows).min(batch.num_rows() - offset);
                chunk.push(batch.slice(offset, take));
                chunk_rows += take;
                offset += take;
                if chunk_rows == size {
                    deliveries.push(self.keyed(window_id, &chunk, chunk_rows)?);
                    chunk.clear();
                    chunk_rows = 0;
                }
            }
        }
        if chunk_rows > 0 {
            deliveries.push(self.keyed(window_id, &chunk, chunk_rows)?);
        }
        Ok(deliveries)
    }

    fn keyed(&mut self, window_id: &str, chunk: &[RecordBatch], rows: usize) -> Result<Delivery> {
        let seq = self.next_seq;
        self.next_seq += 1;
        Ok(Delivery {
            key: idempotency_key(&self.pipeline, &self.component, window_id, seq),
            body: Arc::new(encode_body(chunk)?),
            records: rows as u64,
            window_id: window_id.to_string(),
            seq,
        })
    }

    /// Sends everything buffered; spools what fails. A refused batch makes this an error
    /// (after every batch has been delivered or spooled).
    fn send(&mut self, window_id: &str) -> Result<()> {
        let deliveries = self.cut(window_id)?;
        let mut rejected = None;
        for (d, outcome) in self.deliver_all(deliveries) {
            match outcome {
                Outcome::Delivered { retries } => {
                    self.counters.retries += u64::from(retries);
                    self.counters.delivered_batches += 1;
                    self.counters.delivered_records += d.records;
                }
                Outcome::GaveUp { retries, error } => {
                    self.counters.retries += u64::from(retries);
                    let path = self.spool.put(&d, &error.to_string())?;
                    self.counters.spooled_batches += 1;
                    self.counters.spooled_records += d.records;
                    tracing::warn!(component = %self.component, key = %d.key, error = %error, path = %path.display(), "webhook batch spooled; the next run redelivers it");
                }
                Outcome::Rejected { retries, status } => {
                    self.counters.retries += u64::from(retries);
                    self.spool
                        .put(&d, &format!("refused with status {status}"))?;
                    self.counters.spooled_batches += 1;
                    self.counters.spooled_records += d.records;
                    self.counters.rejected_batches += 1;
                    if rejected.is_none() {
                        rejected = Some(Error::Rejected {
                            url: self.deliverer.config().display_url.clone(),
                            status,
                            key: d.key.clone(),
                            records: d.records,
                            spool: self.spool.dir().display().to_string(),
                        });
                    }
                }
            }
        }
        match rejected {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn ack(&mut self, window_id: Option<&str>) -> Ack {
        let c = std::mem::take(&mut self.counters);
        let mut metrics = c.to_metrics();
        if let Some(w) = window_id {
            metrics.insert("window_id".into(), w.into());
        }
        Ack {
            records: c.delivered_records + c.spooled_records,
            files: Vec::new(),
            metrics,
        }
    }
}

impl Sink for WebhookSink {
    fn healthcheck(&mut self) -> PluginResult<()> {
        let d = Arc::clone(&self.deliverer);
        Ok(self
            .runtime
            .block_on(async move { d.healthcheck().await })?)
    }

    fn write(&mut self, batch: &RecordBatch) -> PluginResult<()> {
        self.drain_spool()?;
        if batch.num_rows() > 0 {
            self.pending.push(batch.clone());
        }
        Ok(())
    }

    fn flush(&mut self, checkpoint: &Checkpoint) -> PluginResult<Ack> {
        self.drain_spool()?;
        self.send(&checkpoint.window_id)?;
        Ok(self.ack(Some(&checkpoint.window_id)))
    }

    fn close(&mut self) -> PluginResult<Ack> {
        self.drain_spool()?;
        // Batches written after the last checkpoint belong to a window the engine has not
        // acknowledged (an interrupted or failed run). They are not sent: their idempotency
        // keys depend on that window, and the resumed run re-sends the whole window under
        // the same keys, so receivers see each record once.
        let discarded: usize = self.pending.iter().map(|b| b.num_rows()).sum();
        self.pending.clear();
        let mut ack = self.ack(None);
        if discarded > 0 {
            ack.metrics
                .insert("discarded_unacknowledged_rows".into(), discarded.into());
        }
        Ok(ack)
    }
}

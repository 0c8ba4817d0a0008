//! The `webhook` sink's lifecycle: cut incoming batches into requests of `batch_size`
//! records as they arrive, keep up to `concurrency` of them in flight, spool what fails,
//! send a window's last partial request at `flush`, redeliver the spool.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::RecordBatch;
use tokio::task::JoinSet;
use tributary_plugin_sdk::{
    Ack, Checkpoint, CreateContext, PluginInfo, Result as PluginResult, Sink,
};

use crate::config::WebhookConfig;
use crate::error::{Error, Result};
use crate::request::{Deliverer, Delivery, Outcome, encode_body, idempotency_key, records_of};
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
    /// Rows received and not yet cut into a request (fewer than `batch_size`).
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    /// Requests sent and not yet answered (at most `concurrency`).
    in_flight: JoinSet<(Delivery, Outcome)>,
    /// The key of the window's previous request ("" at a window's start) and the next
    /// request's position: see [`idempotency_key`].
    previous_key: String,
    next_seq: u64,
    /// The first request of the window the receiver refused; `flush` reports it.
    rejected: Option<Error>,
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
        // One worker: requests in flight progress while the plugin thread encodes the next.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
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
            pending_rows: 0,
            in_flight: JoinSet::new(),
            previous_key: String::new(),
            next_seq: 0,
            rejected: None,
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

    /// Cuts requests of `batch_size` records off the pending rows and sends them, and with
    /// `all` the remainder too (the window's last, partial, request).
    fn cut_and_send(&mut self, all: bool) -> Result<()> {
        let size = self.deliverer.config().batch_size;
        while self.pending_rows >= size || (all && self.pending_rows > 0) {
            let take = size.min(self.pending_rows);
            let mut chunk = Vec::new();
            let mut rows = 0;
            while rows < take {
                let Some(first) = self.pending.first_mut() else {
                    break;
                };
                let n = (take - rows).min(first.num_rows());
                chunk.push(first.slice(0, n));
                rows += n;
                if n == first.num_rows() {
                    self.pending.remove(0);
                } else {
                    *first = first.slice(n, first.num_rows() - n);
                }
            }
            self.pending_rows -= rows;
            let body = encode_body(&chunk)?;
            let key = idempotency_key(
                &self.pipeline,
                &self.component,
                &self.previous_key,
                records_of(&body),
            );
            self.previous_key.clone_from(&key);
            let d = Delivery {
                key,
                body: Arc::new(body),
                records: rows as u64,
                seq: self.next_seq,
            };
            self.next_seq += 1;
            self.send(d)?;
        }
        Ok(())
    }

    /// Puts a request in flight, first waiting for answers while `concurrency` are.
    fn send(&mut self, d: Delivery) -> Result<()> {
        while self.in_flight.len() >= self.deliverer.config().concurrency {
            self.settle_one()?;
        }
        let deliverer = Arc::clone(&self.deliverer);
        self.in_flight.spawn_on(
            async move {
                let outcome = deliverer.deliver(&d).await;
                (d, outcome)
            },
            self.runtime.handle(),
        );
        Ok(())
    }

    /// Waits for every request in flight.
    fn settle_all(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.settle_one()?;
        }
        Ok(())
    }

    /// Waits for one answer and books it: delivered, or spooled (given up or refused).
    fn settle_one(&mut self) -> Result<()> {
        let in_flight = &mut self.in_flight;
        let Some(joined) = self.runtime.block_on(in_flight.join_next()) else {
            return Ok(());
        };
        let (d, outcome) = joined.map_err(|e| Error::Setup {
            // A delivery task panicked or was cancelled: its batch is not lost (the
            // window is not acknowledged, and a resumed run sends it again).
            reason: format!("a webhook delivery task failed: {e}"),
        })?;
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
                if self.rejected.is_none() {
                    self.rejected = Some(Error::Rejected {
                        url: self.deliverer.config().display_url.clone(),
                        status,
                        key: d.key.clone(),
                        records: d.records,
                        spool: self.spool.dir().display().to_string(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Ends a window: its last request sent, every answer in, the key chain restarted.
    /// A refused request makes this an error (after every request was answered or spooled).
    fn end_window(&mut self) -> Result<()> {
        self.cut_and_send(true)?;
        self.settle_all()?;
        self.previous_key.clear();
        self.next_seq = 0;
        match self.rejected.take() {
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
            self.pending_rows += batch.num_rows();
            self.pending.push(batch.clone());
            self.cut_and_send(false)?;
        }
        Ok(())
    }

    fn flush(&mut self, checkpoint: &Checkpoint) -> PluginResult<Ack> {
        self.drain_spool()?;
        self.end_window()?;
        Ok(self.ack(Some(&checkpoint.window_id)))
    }

    fn close(&mut self) -> PluginResult<Ack> {
        self.drain_spool()?;
        // Requests already in flight finish (or are spooled): nothing half-sent is dropped.
        self.settle_all()?;
        // Rows written after the last checkpoint that did not fill a request belong to a
        // window the engine has not acknowledged (an interrupted or failed run). They are
        // not sent: the resumed run sends the whole window again, and its requests get
        // the same keys as the ones this run did send (the key chain depends on the
        // window's records only), so receivers that honour the key see each record once.
        let discarded = self.pending_rows;
        self.pending.clear();
        self.pending_rows = 0;
        let mut ack = self.ack(None);
        if discarded > 0 {
            ack.metrics
                .insert("discarded_unacknowledged_rows".into(), discarded.into());
        }
        Ok(ack)
    }
}

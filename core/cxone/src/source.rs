//! Orchestration: export jobs run ahead (create + poll, up to `concurrency` windows at
//! once, each in its own task), while pages are streamed window by window in plan
//! order into the channel. A `504` on create splits the window in two, recursively,
//! down to one day.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc::Sender;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::{Client, CreateOutcome};
use crate::config::{ApiDialect, CxoneConfig, ExportFormat};
use crate::decode::PageDecoder;
use crate::error::CxoneError;
use crate::metrics::SourceMetrics;
use crate::payload;
use crate::secret::Secret;
use crate::window::Window;

/// What the source sends, in order: for each window `WindowStart`, its batches, then
/// `WindowEnd`.
#[derive(Debug)]
pub enum SourceEvent {
    /// A window begins (its export jobs are complete).
    WindowStart(Window),
    /// Records of the current window.
    Batch(RecordBatch),
    /// The window is complete: every page of every export read.
    WindowEnd(WindowReport),
}

/// Summary of one finished window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowReport {
    /// The window.
    pub window: Window,
    /// Export job ids, in order (several after 504 splits).
    pub export_ids: Vec<String>,
    /// Records.
    pub records: u64,
    /// Pages.
    pub pages: u64,
    /// Fields outside the configured columns (or the mapping).
    pub extra_fields: u64,
    /// Real dialects: values their column's type cannot hold, landed as null.
    pub bad_values: u64,
    /// Splits made after 504s.
    pub splits: u32,
    /// From the first create to the last page, in ms.
    pub latency_ms: u64,
    /// `api: reporting`: the largest `lastUpdateTime` read in the window (RFC 3339, ms),
    /// else the `updated_since` it started from. Store the maximum over the windows
    /// of a successful run and pass it back as `reporting.updated_since`.
    pub bookmark: Option<String>,
}

/// Restarts of one export's pagination after expired page tokens.
const MAX_PAGINATION_RESTARTS: u32 = 3;
/// Most pages of one export (a 90-day export of 10M records at 5,000 a page is 2,000).
const MAX_PAGES_PER_EXPORT: u64 = 100_000;
/// Most pages in a row that bring no record but a fresh token.
const MAX_EMPTY_PAGES: u32 = 100;

/// One export job of a window (a window has several after splits).
#[derive(Debug)]
struct Part {
    window: Window,
    export_id: String,
    total_records: Option<u64>,
}

#[derive(Debug)]
struct Prepared {
    window: Window,
    parts: Vec<Part>,
    splits: u32,
    started: Instant,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) cfg: CxoneConfig,
    pub(crate) client: Client,
    decoder: PageDecoder,
    mapped: Option<crate::mapping::MappedDecoder>,
    /// `schema: interaction`: the projection and its schema.
    projection: Option<(crate::mapping::project::Projection, SchemaRef)>,
    pub(crate) metrics: Arc<SourceMetrics>,
}

/// The CXone source.
#[derive(Debug, Clone)]
pub struct CxoneSource {
    inner: Arc<Inner>,
}

impl CxoneSource {
    /// Builds the source from a configuration; `base_url_override` (used by the engine
    /// for the built-in simulator) replaces `base_url`.
    ///
    /// # Errors
    /// [`CxoneError::Config`] with every problem, or [`CxoneError::Client`].
    pub fn new(cfg: CxoneConfig, base_url_override: Option<String>) -> Result<Self, CxoneError> {
        let mut problems = cfg.validate().err().unwrap_or_default();
        let access_key = cfg.auth == crate::config::AuthMode::AccessKey;
        let base = cfg
            .effective_base_url(base_url_override.as_deref())
            .or_else(|| access_key.then(String::new));
        if base.is_none() && problems.iter().all(|p| p.key != "base_url") {
            problems.push(crate::config::ConfigProblem::new(
                "base_url",
                "missing: `simulator` is set but no simulator URL was given; the engine starts \
                 the simulator and passes its URL",
            ));
        }
        if let Some(o) = &base_url_override
            && reqwest::Url::parse(o).is_err()
        {
            problems.push(crate::config::ConfigProblem::new(
                "base_url",
                format!("the override `{o}` is not a URL"),
            ));
        }
        let Some(base) = base.filter(|_| problems.is_empty()) else {
            return Err(CxoneError::Config { problems });
        };
        let metrics = Arc::new(SourceMetrics::default());
        let defaults = cfg.simulator.as_ref().map(|sim| {
            (
                Secret::new(sim.client_id.clone()),
                Secret::new(sim.client_secret.expose()),
            )
        });
        let mut client = Client::new(&cfg, base, metrics.clone(), defaults)?;
        if access_key {
            let defaults = cfg.simulator.as_ref().map(|sim| {
                (
                    Secret::new(sim.access_key_id.clone()),
                    Secret::new(sim.access_key_secret.expose()),
                )
            });
            client = client.with_access_key(&cfg, base_url_override.as_deref(), defaults)?;
        }
        let decoder = PageDecoder::new(&cfg);
        let mapped = crate::mapping::decoder_for(&cfg);
        let projection =
            crate::mapping::projection_for(&cfg).map(|p| (p, crate::mapping::project::schema(p)));
        Ok(Self {
            inner: Arc::new(Inner {
                cfg,
                client,
                decoder,
                mapped,
                projection,
                metrics,
            }),
        })
    }

    /// Reaches the API the way a run starts: a token with the configured credentials.
    /// Returns what was reached, for the report.
    ///
    /// # Errors
    /// The token endpoint's refusal (a wrong secret) or a network failure, with its URL.
    pub async fn check_connection(&self) -> Result<String, CxoneError> {
        let endpoint = self.inner.client.check_token().await?;
        Ok(format!("a token was issued by {endpoint}"))
    }

    /// The live metrics of this source.
    pub fn metrics(&self) -> Arc<SourceMetrics> {
        self.inner.metrics.clone()
    }

    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        match (&self.inner.projection, &self.inner.mapped) {
            (Some((_, s)), _) => s.clone(),
            (None, Some(m)) => m.schema().clone(),
            (None, None) => self.inner.decoder.schema().clone(),
        }
    }

    /// Streams the windows in order; returns when all are done, the receiver is gone,
    /// or on the first error. Every payload is validated before the first request.
    ///
    /// # Errors
    /// The first failure, with its window, export id, page, URL or status.
    pub async fn run(
        &self,
        windows: Vec<Window>,
        tx: Sender<SourceEvent>,
    ) -> Result<(), CxoneError> {
        if self.inner.cfg.api == ApiDialect::AnalyticsExport {
            for w in &windows {
                payload::build(&self.inner.cfg, w)?;
            }
        }
        // The Data Extraction API allows one active job per tenant.
        let concurrency = match self.inner.cfg.api {
            ApiDialect::DataExtraction => 1,
            _ => self.inner.cfg.concurrency.max(1),
        };
        let inner = self.inner.clone();
        let mut jobs = futures::stream::iter(windows.into_iter().map(move |w| {
            let inner = inner.clone();
            AbortOnDrop(tokio::spawn(async move { inner.prepare(w).await }))
        }))
        .buffered(concurrency);
        while let Some(joined) = jobs.next().await {
            let prepared = joined.map_err(|e| CxoneError::Task {
                message: format!("an export task ended abnormally: {e}"),
            })??;
            if !self.inner.stream_window(prepared, &tx).await? {
                tracing::info!("the receiver is gone; stopping the CXone source");
                return Ok(());
            }
        }
        Ok(())
    }
}

impl Inner {
    /// The decoder of the real dialects.
    pub(crate) fn mapped_decoder(&self) -> Result<&crate::mapping::MappedDecoder, String> {
        self.mapped
            .as_ref()
            .ok_or_else(|| "no mapping for this dialect".to_string())
    }

    /// A decoded native batch in the configured shape (`schema: interaction` projects).
    pub(crate) fn shape(&self, native: RecordBatch) -> Result<RecordBatch, String> {
        match &self.projection {
            Some((p, schema)) => crate::mapping::project::apply(p, schema, &native),
            None => Ok(native),
        }
    }

    /// Counts a mapped page's unknown fields and unfit values (warning on the first).
    pub(crate) fn count_page(
        &self,
        page: &crate::mapping::MappedPage,
        report: &mut WindowReport,
        w: &Window,
    ) {
        let first = page.first_bad_value.as_deref();
        self.count_defects(page.extra_fields, page.bad_values, first, report, w);
    }

    /// Counts a page's unknown fields and the values that do not fit their column
    /// (landed as null), in the metrics and the window's report; the first of a window
    /// is logged.
    fn count_defects(
        &self,
        extra_fields: u64,
        bad_values: u64,
        first_bad_value: Option<&str>,
        report: &mut WindowReport,
        w: &Window,
    ) {
        SourceMetrics::add(&self.metrics.extra_fields, extra_fields);
        SourceMetrics::add(&self.metrics.bad_values, bad_values);
        report.extra_fields += extra_fields;
        if report.bad_values == 0
            && let Some(why) = first_bad_value
        {
            tracing::warn!(window = %w, problem = %why, "a value does not fit its column's type (counted in bad_values; set keep_extra_fields to keep it in _extra)");
        }
        report.bad_values += bad_values;
    }

    /// Creates (splitting on 504) and polls the export jobs of a window.
    async fn prepare(&self, window: Window) -> Result<Prepared, CxoneError> {
        let started = Instant::now();
        match self.cfg.api {
            ApiDialect::AnalyticsExport => {}
            ApiDialect::Reporting => {
                return Ok(Prepared {
                    window,
                    parts: Vec::new(),
                    splits: 0,
                    started,
                });
            }
            ApiDialect::DataExtraction => {
                let id = self.prepare_extraction(&window).await?;
                let parts = vec![Part {
                    window,
                    export_id: id,
                    total_records: None,
                }];
                return Ok(Prepared {
                    window,
                    parts,
                    splits: 0,
                    started,
                });
            }
        }
        let mut todo = VecDeque::from([window]);
        let mut created = Vec::new();
        let mut splits = 0u32;
        while let Some(w) = todo.pop_front() {
            let payload = payload::build(&self.cfg, &w)?;
            match self.client.create(&payload, &w).await? {
                CreateOutcome::Created(id) => {
                    SourceMetrics::add(&self.metrics.exports_created, 1);
                    tracing::debug!(window = %w, export_id = %id, "export created");
                    created.push((w, id, Instant::now()));
                }
                CreateOutcome::TooHeavy => {
                    let Some((a, b)) = w.split() else {
                        return Err(CxoneError::SplitFloor { window: w.id() });
                    };
                    splits += 1;
                    SourceMetrics::add(&self.metrics.splits, 1);
                    tracing::info!(window = %w, left = %a, right = %b, "504 on create: splitting the window");
                    todo.push_front(b);
                    todo.push_front(a);
                }
            }
        }
        let mut parts = Vec::with_capacity(created.len());
        for (w, mut id, mut t0) in created {
            let mut resubmits = 0u32;
            let total_records = loop {
                match self.wait_completed(&w, &id).await {
                    Ok(t) => break t,
                    Err(CxoneError::ExportFailed { message, .. })
                        if resubmits < self.cfg.export_retries =>
                    {
                        resubmits += 1;
                        tracing::warn!(window = %w, export_id = %id, error = %message, "export failed on the server; creating it again");
                        let payload = payload::build(&self.cfg, &w)?;
                        match self.client.create(&payload, &w).await? {
                            CreateOutcome::Created(new_id) => {
                                SourceMetrics::add(&self.metrics.exports_created, 1);
                                id = new_id;
                                t0 = Instant::now();
                            }
                            CreateOutcome::TooHeavy => {
                                return Err(CxoneError::ExportFailed {
                                    window: w.id(),
                                    export_id: id,
                                    message: format!(
                                        "{message}; creating it again answered 504 Gateway Timeout"
                                    ),
                                });
                            }
                        }
                    }
                    Err(e) => return Err(e),
                }
            };
            self.metrics.record_export_latency(t0.elapsed());
            parts.push(Part {
                window: w,
                export_id: id,
                total_records,
            });
        }
        Ok(Prepared {
            window,
            parts,
            splits,
            started,
        })
    }

    /// Polls with a growing interval until completed; returns `totalRecords`.
    async fn wait_completed(&self, w: &Window, id: &str) -> Result<Option<u64>, CxoneError> {
        let t0 = Instant::now();
        let timeout = Duration::from_secs(self.cfg.poll_timeout_secs);
        let max = Duration::from_millis(self.cfg.max_poll_interval_ms.max(1));
        let mut interval = Duration::from_millis(self.cfg.poll_interval_ms.max(1)).min(max);
        loop {
            let waited = t0.elapsed();
            if waited >= timeout {
                return Err(CxoneError::PollTimeout {
                    window: w.id(),
                    export_id: id.to_string(),
                    waited_secs: waited.as_secs(),
                });
            }
            let nap = interval.min(timeout.saturating_sub(waited));
            self.metrics.note_wait(
                format!(
                    "export {id} of window {} to complete (polled for {} s)",
                    w.id(),
                    waited.as_secs()
                ),
                nap,
            );
            tokio::time::sleep(nap).await;
            let st = self.client.poll(id, w).await?;
            match st.status.as_str() {
                "completed" => return Ok(st.total_records),
                "pending" | "processing" => {}
                "failed" => {
                    return Err(CxoneError::ExportFailed {
                        window: w.id(),
                        export_id: id.to_string(),
                        message: st
                            .error_message
                            .unwrap_or_else(|| "(the server gave no errorMessage)".into()),
                    });
                }
                other => {
                    return Err(CxoneError::ExportStatus {
                        window: w.id(),
                        export_id: id.to_string(),
                        status: other.to_string(),
                    });
                }
            }
            interval = interval.mul_f64(1.5).min(max);
        }
    }

    /// Sends one window's events; `Ok(false)` when the receiver is gone.
    /// One page's records, checked against the content type its format wants.
    fn decode_page(
        &self,
        reply: &crate::client::Reply,
        export_id: &str,
        page_no: u64,
    ) -> Result<crate::decode::Page, CxoneError> {
        let decode_err = |message: String| CxoneError::Decode {
            export_id: export_id.to_string(),
            page: page_no,
            message,
        };
        let ctype = reply.header("content-type").map(str::to_ascii_lowercase);
        match self.cfg.format {
            ExportFormat::Csv => {
                check_content_type(ctype.as_deref(), &["csv", "text/plain"], "text/csv")
                    .map_err(decode_err)?;
                self.decoder
                    .decode_csv(&reply.body, reply.header("x-next-page-token"))
            }
            _ => {
                check_content_type(ctype.as_deref(), &["json"], "application/json")
                    .map_err(decode_err)?;
                self.decoder.decode_json(&reply.body)
            }
        }
        .map_err(decode_err)
    }

    async fn stream_window(
        self: &Arc<Self>,
        p: Prepared,
        tx: &Sender<SourceEvent>,
    ) -> Result<bool, CxoneError> {
        if tx.send(SourceEvent::WindowStart(p.window)).await.is_err() {
            return Ok(false);
        }
        let mut report = WindowReport {
            window: p.window,
            export_ids: p.parts.iter().map(|x| x.export_id.clone()).collect(),
            records: 0,
            pages: 0,
            extra_fields: 0,
            splits: p.splits,
            latency_ms: 0,
            bookmark: None,
            bad_values: 0,
        };
        let go_on = match self.cfg.api {
            ApiDialect::Reporting => self.stream_reporting(p.window, &mut report, tx).await?,
            ApiDialect::DataExtraction => {
                let mut ok = true;
                for part in &p.parts {
                    ok = ok
                        && self
                            .stream_extraction(part.window, &part.export_id, &mut report, tx)
                            .await?;
                }
                ok
            }
            ApiDialect::AnalyticsExport => {
                let mut ok = true;
                for part in &p.parts {
                    ok = ok && self.stream_part(part, &mut report, tx).await?;
                }
                ok
            }
        };
        if !go_on {
            return Ok(false);
        }
        report.latency_ms = p.started.elapsed().as_millis().min(u128::from(u64::MAX)) as u64;
        SourceMetrics::add(&self.metrics.windows, 1);
        tracing::info!(window = %p.window, records = report.records, pages = report.pages, "window complete");
        Ok(tx.send(SourceEvent::WindowEnd(report)).await.is_ok())
    }

    /// One export's pages of the tutorial's analytics export, in order, into `tx`;
    /// `Ok(false)` when the receiver is gone.
    async fn stream_part(
        self: &Arc<Self>,
        part: &Part,
        report: &mut WindowReport,
        tx: &Sender<SourceEvent>,
    ) -> Result<bool, CxoneError> {
        let mut token: Option<String> = None;
        let mut page_no: u64 = 0;
        let mut part_records: u64 = 0;
        // Rows to drop after restarting the pagination (already delivered).
        let mut skip: u64 = 0;
        let mut restarts = 0u32;
        // Tokens seen, to stop a server that cycles (A, B, A, B, ...).
        let mut seen = std::collections::HashSet::new();
        let mut empty_in_a_row = 0u32;
        // The next page, asked for while this one decodes (see `prefetch`).
        let mut ahead: Option<crate::prefetch::Prefetch> = None;
        loop {
            page_no += 1;
            if page_no > MAX_PAGES_PER_EXPORT {
                return Err(CxoneError::Decode {
                    export_id: part.export_id.clone(),
                    page: page_no,
                    message: format!(
                        "more than {MAX_PAGES_PER_EXPORT} pages: stopping instead of paging \
                         forever; shrink max_window_days or raise page_size"
                    ),
                });
            }
            let prefetched = match ahead.take() {
                Some(a) => a.reply_for(token.as_deref()).await,
                None => None,
            };
            let fetched = match prefetched {
                Some(r) => r,
                None => {
                    self.client
                        .page(
                            &part.export_id,
                            self.cfg.page_size,
                            token.as_deref(),
                            &part.window,
                        )
                        .await
                }
            };
            let reply = match fetched {
                Ok(r) => r,
                Err(CxoneError::BadRequest { message, .. })
                    if token.is_some()
                        && message.contains("expired_page_token")
                        && restarts < MAX_PAGINATION_RESTARTS =>
                {
                    restarts += 1;
                    tracing::warn!(export_id = %part.export_id, page = page_no, delivered = part_records, "page token expired; restarting the pagination and skipping delivered records");
                    token = None;
                    skip = part_records;
                    seen.clear();
                    continue;
                }
                Err(e) => return Err(e),
            };
            ahead = crate::prefetch::Prefetch::start(self, &reply, &part.export_id, &part.window);
            let page = self.decode_page(&reply, &part.export_id, page_no)?;
            let Some(new_records) = deliver(page.batches, &mut skip, tx).await else {
                return Ok(false);
            };
            SourceMetrics::add(&self.metrics.pages, 1);
            SourceMetrics::add(&self.metrics.records, new_records);
            let first = page.first_bad_value.as_deref();
            self.count_defects(
                page.extra_fields,
                page.bad_values,
                first,
                report,
                &part.window,
            );
            report.pages += 1;
            report.records += new_records;
            part_records += new_records;
            empty_in_a_row = if page.records == 0 {
                empty_in_a_row + 1
            } else {
                0
            };
            let stop = |message: String| CxoneError::Decode {
                export_id: part.export_id.clone(),
                page: page_no,
                message,
            };
            match page.next_token {
                Some(_) if empty_in_a_row >= MAX_EMPTY_PAGES => {
                    return Err(stop(format!(
                        "{MAX_EMPTY_PAGES} pages in a row without a record but with a new \
                         nextPageToken; stopping instead of paging forever"
                    )));
                }
                Some(t) if !seen.insert(t.clone()) => {
                    return Err(stop(
                        "the server returned a nextPageToken it had already given (a cycle); \
                         stopping instead of looping"
                            .into(),
                    ));
                }
                Some(t) => token = Some(t),
                None => break,
            }
        }
        if self.cfg.verify_record_count
            && let Some(expected) = part.total_records
            && expected != part_records
        {
            return Err(CxoneError::RecordCount {
                window: part.window.id(),
                export_id: part.export_id.clone(),
                expected,
                received: part_records,
            });
        }
        Ok(true)
    }
}

/// Sends a page's batches, first dropping `skip` rows already delivered before a
/// pagination restart. The rows sent, or `None` when the receiver is gone.
async fn deliver(
    batches: Vec<RecordBatch>,
    skip: &mut u64,
    tx: &Sender<SourceEvent>,
) -> Option<u64> {
    let mut sent = 0u64;
    for b in batches {
        let rows = b.num_rows() as u64;
        let b = if *skip >= rows {
            *skip -= rows;
            continue;
        } else if *skip > 0 {
            let cut = *skip as usize;
            *skip = 0;
            b.slice(cut, rows as usize - cut)
        } else {
            b
        };
        sent += b.num_rows() as u64;
        if b.num_rows() > 0 && tx.send(SourceEvent::Batch(b)).await.is_err() {
            return None;
        }
    }
    Some(sent)
}

fn check_content_type(got: Option<&str>, accept: &[&str], want: &str) -> Result<(), String> {
    match got {
        None => Ok(()),
        Some(ct) if accept.iter().any(|a| ct.contains(a)) => Ok(()),
        Some(ct) => Err(format!(
            "wrong content type `{ct}` (expected {want}); is base_url pointing at the API?"
        )),
    }
}

/// A spawned task aborted when its handle is dropped (run ended early).
pub(crate) struct AbortOnDrop<T>(pub(crate) JoinHandle<T>);

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types() {
        assert!(check_content_type(None, &["json"], "application/json").is_ok());
        assert!(
            check_content_type(Some("application/json; charset=utf-8"), &["json"], "x").is_ok()
        );
        let e = check_content_type(Some("text/html"), &["json"], "application/json").unwrap_err();
        assert!(e.contains("text/html"));
    }
}

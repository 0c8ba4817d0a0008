//! The Data Extraction API's jobs: create (dates as `YYYY-MM-DD`, end exclusive, as
//! public callers send them), poll with the one-call-per-interval spacing (one active
//! job per tenant: the source runs one window at a time), stream the CSV from
//! `result.url` at once with an idle timeout (not a total one: large files take long),
//! and poll again for a fresh link when it expired. `FAILED`, `CANCELLED` and `EXPIRED`
//! end a job alike (created again up to `export_retries` times).

use futures::StreamExt;
use reqwest::Method;
use serde::Deserialize;
use tokio::sync::mpsc::Sender;

use crate::client::{CallOpts, parse_json};
use crate::config::ExtractionDates;
use crate::error::CxoneError;
use crate::mapping::format_ms;
use crate::metrics::{Endpoint, SourceMetrics};
use crate::source::{Inner, SourceEvent, WindowReport};
use crate::window::Window;

#[derive(Debug, Deserialize)]
struct JobEnvelope {
    #[serde(rename = "jobStatus")]
    job_status: JobStatus,
}

#[derive(Debug, Deserialize)]
struct JobStatus {
    status: String,
    #[serde(default)]
    result: Option<JobResult>,
}

#[derive(Debug, Deserialize)]
struct JobResult {
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "errorMessage")]
    error_message: Option<String>,
}

fn de_opts() -> CallOpts {
    CallOpts {
        accept_json: true,
        spaced: true,
        forbidden_is_throttle: true,
        ..CallOpts::default()
    }
}

impl Inner {
    /// Creates the extraction job of a window and polls it to SUCCEEDED.
    pub(crate) async fn prepare_extraction(&self, w: &Window) -> Result<String, CxoneError> {
        let mut resubmits = 0u32;
        loop {
            let id = self.create_job(w).await?;
            match self.wait_job(w, &id).await {
                Ok(()) => return Ok(id),
                Err(CxoneError::ExportFailed { message, .. })
                    if resubmits < self.cfg.export_retries =>
                {
                    resubmits += 1;
                    tracing::warn!(window = %w, job = %id, error = %message, "extraction job failed; creating it again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn create_job(&self, w: &Window) -> Result<String, CxoneError> {
        let base = self.client.api_base().await?;
        let url = format!("{base}/data-extraction/v1/jobs");
        let body = job_body(&self.cfg, w);
        let reply = self
            .client
            .execute_with(
                Endpoint::Create,
                Method::POST,
                &url,
                Some(w),
                &|b| b.json(&body),
                de_opts(),
            )
            .await?;
        let id: String = parse_json(&url, &reply.body)?;
        if id.is_empty() {
            return Err(CxoneError::Protocol {
                url,
                message: "the job id is empty".into(),
            });
        }
        SourceMetrics::add(&self.metrics.exports_created, 1);
        Ok(id)
    }

    /// Polls until SUCCEEDED; returns the download URL.
    async fn poll_job(&self, w: &Window, id: &str) -> Result<Option<String>, CxoneError> {
        let base = self.client.api_base().await?;
        let url = format!("{base}/data-extraction/v1/jobs/{id}");
        let reply = self
            .client
            .execute_with(
                Endpoint::Poll,
                Method::GET,
                &url,
                Some(w),
                &|b| b,
                de_opts(),
            )
            .await?;
        let env: JobEnvelope = parse_json(&url, &reply.body)?;
        let result = env.job_status.result;
        let status = env.job_status.status.as_str();
        self.client.metrics().set_wait_context(
            matches!(status, "RUNNING" | "PENDING" | "QUEUED")
                .then(|| format!("Data Extraction job {id} of window {} is {status}", w.id())),
        );
        match status {
            "RUNNING" | "PENDING" | "QUEUED" => Ok(None),
            "SUCCEEDED" => match result.and_then(|r| r.url) {
                Some(u) => Ok(Some(u)),
                None => Err(CxoneError::Protocol {
                    url,
                    message: "SUCCEEDED without result.url".into(),
                }),
            },
            "FAILED" | "EXPIRED" | "CANCELLED" => Err(CxoneError::ExportFailed {
                window: w.id(),
                export_id: id.to_string(),
                message: format!(
                    "{}: {}",
                    env.job_status.status,
                    result
                        .and_then(|r| r.error_message)
                        .unwrap_or_else(|| "(no errorMessage)".into())
                ),
            }),
            other => Err(CxoneError::ExportStatus {
                window: w.id(),
                export_id: id.to_string(),
                status: other.to_string(),
            }),
        }
    }

    async fn wait_job(&self, w: &Window, id: &str) -> Result<(), CxoneError> {
        self.job_url(w, id).await.map(|_| ())
    }

    /// Polls (spaced by the limiter) until the job succeeded; returns a fresh link.
    async fn job_url(&self, w: &Window, id: &str) -> Result<String, CxoneError> {
        let t0 = tokio::time::Instant::now();
        let timeout = std::time::Duration::from_secs(self.cfg.poll_timeout_secs);
        loop {
            if let Some(u) = self.poll_job(w, id).await? {
                return Ok(u);
            }
            if t0.elapsed() >= timeout {
                return Err(CxoneError::PollTimeout {
                    window: w.id(),
                    export_id: id.to_string(),
                    waited_secs: t0.elapsed().as_secs(),
                });
            }
        }
    }

    /// Downloads and streams the job's CSV; polls again for a fresh link when the
    /// link expired. `Ok(false)` when the receiver is gone.
    pub(crate) async fn stream_extraction(
        &self,
        w: Window,
        id: &str,
        report: &mut WindowReport,
        tx: &Sender<SourceEvent>,
    ) -> Result<bool, CxoneError> {
        let mut link = self.job_url(&w, id).await?;
        let mut fresh_links = 0u32;
        let mut delivered: u64 = 0;
        loop {
            let resp = self
                .client
                .download()
                .get(&link)
                .send()
                .await
                .map_err(|e| CxoneError::RetriesExhausted {
                    url: "result.url".into(),
                    attempts: 1,
                    last: e.without_url().to_string(),
                })?;
            let status = resp.status().as_u16();
            if matches!(status, 403 | 404 | 410)
                || (status == 400 && fresh_links < self.cfg.data_extraction.link_retries)
            {
                if fresh_links >= self.cfg.data_extraction.link_retries {
                    return Err(CxoneError::UnexpectedStatus {
                        url: "result.url (download link)".into(),
                        status,
                        window: Some(w.id()),
                        body: format!(
                            "the download link was refused {} times in a row; the links expire about 30 s after a poll",
                            fresh_links + 1
                        ),
                    });
                }
                fresh_links += 1;
                SourceMetrics::add(&self.metrics.retries, 1);
                tracing::info!(window = %w, job = %id, status, "download link expired; polling for a fresh one");
                link = self.job_url(&w, id).await?;
                continue;
            }
            if !(200..300).contains(&status) {
                let body = crate::client::read_capped(resp, 4096).await;
                return Err(CxoneError::UnexpectedStatus {
                    url: "result.url (download link)".into(),
                    status,
                    window: Some(w.id()),
                    body,
                });
            }
            let mut csv = crate::mapping::csv::CsvStream::default();
            let mut stream = resp.bytes_stream();
            let mut skip = delivered;
            let mut emit = |raw: arrow_array::RecordBatch,
                            report: &mut WindowReport|
             -> Result<Option<arrow_array::RecordBatch>, CxoneError> {
                let page_no = report.pages + 1;
                let decode_err = |message| CxoneError::Decode {
                    export_id: id.to_string(),
                    page: page_no,
                    message,
                };
                let page = self
                    .mapped_decoder()
                    .and_then(|d| d.map_csv(&raw))
                    .map_err(decode_err)?;
                report.pages += 1;
                let Some(b) = page.batch.clone() else {
                    return Ok(None);
                };
                if skip == 0 {
                    self.count_page(&page, report, &w);
                }
                let rows = b.num_rows() as u64;
                if skip >= rows {
                    skip -= rows;
                    return Ok(None);
                }
                let b = b.slice(skip as usize, (rows - skip) as usize);
                skip = 0;
                self.shape(b).map(Some).map_err(decode_err)
            };
            let mut out = Vec::new();
            let mut failed = None;
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(c) => {
                        let batches = csv.push(&c).map_err(|message| CxoneError::Decode {
                            export_id: id.to_string(),
                            page: report.pages + 1,
                            message,
                        })?;
                        out.extend(batches);
                    }
                    Err(e) => {
                        failed = Some(e.without_url().to_string());
                        break;
                    }
                }
                for raw in out.drain(..) {
                    if let Some(b) = emit(raw, report)? {
                        let n = b.num_rows() as u64;
                        if tx.send(SourceEvent::Batch(b)).await.is_err() {
                            return Ok(false);
                        }
                        delivered += n;
                        report.records += n;
                        SourceMetrics::add(&self.metrics.records, n);
                    }
                }
            }
            if let Some(e) = failed {
                if fresh_links >= self.cfg.data_extraction.link_retries {
                    return Err(CxoneError::RetriesExhausted {
                        url: "result.url".into(),
                        attempts: fresh_links + 1,
                        last: e,
                    });
                }
                fresh_links += 1;
                link = self.job_url(&w, id).await?;
                continue;
            }
            let tail = csv.finish().map_err(|message| CxoneError::Decode {
                export_id: id.to_string(),
                page: report.pages + 1,
                message,
            })?;
            for raw in tail {
                if let Some(b) = emit(raw, report)? {
                    let n = b.num_rows() as u64;
                    if tx.send(SourceEvent::Batch(b)).await.is_err() {
                        return Ok(false);
                    }
                    report.records += n;
                    SourceMetrics::add(&self.metrics.records, n);
                }
            }
            SourceMetrics::add(&self.metrics.pages, 1);
            return Ok(true);
        }
    }
}

/// The job request of a window: `startDate`/`endDate` as `YYYY-MM-DD` (end exclusive,
/// as public callers send them) or RFC 3339 date-times (`dates: date-time`).
pub(crate) fn job_body(cfg: &crate::config::CxoneConfig, w: &Window) -> serde_json::Value {
    let de = &cfg.data_extraction;
    let date = |t: chrono::DateTime<chrono::Utc>| match de.dates {
        ExtractionDates::Date => t.format("%Y-%m-%d").to_string(),
        ExtractionDates::DateTime => format_ms(t.timestamp_millis()),
    };
    serde_json::json!({
        "entityName": de.entity,
        "version": de.version,
        "startDate": date(w.start),
        "endDate": date(w.end),
    })
}

#[cfg(test)]
mod tests {
    /// The recorded download decodes into the native columns: BOM stripped, segments
    /// kept, a quoted comma intact, the unpublished header kept in `_extra`.
    #[test]
    fn recorded_download_maps_onto_the_native_columns() {
        use arrow_array::cast::AsArray;
        use arrow_array::types::Int64Type;
        let csv = include_bytes!("../../../tests/data/cxone/recording-interaction-metadata-v7.csv");
        let dec = crate::mapping::MappedDecoder::new(
            crate::mapping::native::extraction("recording-interaction-metadata").unwrap(),
            true,
        );
        let mut s = crate::mapping::csv::CsvStream::default();
        let (a, b) = csv.split_at(50);
        let mut raw = s.push(a).unwrap();
        raw.extend(s.push(b).unwrap());
        raw.extend(s.finish().unwrap());
        let pages: Vec<_> = raw.iter().map(|r| dec.map_csv(r).unwrap()).collect();
        let batches: Vec<_> = pages.iter().filter_map(|p| p.batch.clone()).collect();
        let b = arrow_select::concat::concat_batches(dec.schema(), &batches).unwrap();
        assert_eq!(b.num_rows(), 3);
        assert_eq!(pages.iter().map(|p| p.bad_values).sum::<u64>(), 0);
        let calls = b
            .column_by_name("acdCallId")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(
            calls.values().to_vec(),
            [2_789_879_875, 2_789_879_875, 2_789_879_876]
        );
        let disp = b.column_by_name("disposition").unwrap().as_string::<i32>();
        assert_eq!(disp.value(0), "Resolved, follow-up");
        let extra = b.column_by_name("_extra").unwrap().as_string::<i32>();
        assert_eq!(extra.value(2), r#"{"Media Type Name":"Chat"}"#);
        assert!(matches!(
            b.column_by_name("startDate").unwrap().data_type(),
            arrow_schema::DataType::Timestamp(_, _)
        ));
    }
}

//! The real dialects: the Reporting API's completed contacts (offset paging to the
//! `204`, incremental by `updatedSince` + `orderBy=lastUpdateTime asc`) and the Data
//! Extraction API's jobs (create, poll with the one-call-per-interval spacing, stream
//! the CSV from `result.url` at once, poll again for a fresh link when it expired).

use futures::StreamExt;
use reqwest::Method;
use serde::Deserialize;
use tokio::sync::mpsc::Sender;

use crate::client::{CallOpts, parse_json, reply_message};
use crate::error::CxoneError;
use crate::mapping::{MappedDecoder, format_ms, parse_time_ms};
use crate::metrics::{Endpoint, SourceMetrics};
use crate::source::{Inner, SourceEvent, WindowReport};
use crate::window::Window;

/// Hard cap on pages of one window (a server that never answers 204).
const MAX_PAGES: u64 = 1_000_000;

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

fn json_opts() -> CallOpts {
    CallOpts {
        accept_json: true,
        ..CallOpts::default()
    }
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
    /// Streams a window of completed contacts; `Ok(false)` when the receiver is gone.
    pub(crate) async fn stream_reporting(
        &self,
        dec: &MappedDecoder,
        w: Window,
        report: &mut WindowReport,
        tx: &Sender<SourceEvent>,
    ) -> Result<bool, CxoneError> {
        let r = &self.cfg.reporting;
        let base = self.client.api_base().await?;
        let url = format!(
            "{base}/inContactAPI/services/{}/contacts/completed",
            r.api_version
        );
        let since = r
            .updated_since
            .as_deref()
            .and_then(parse_time_ms)
            .map(|ms| format_ms(ms + 1));
        let mut bookmark = r.updated_since.as_deref().and_then(parse_time_ms);
        let top = r.top.to_string();
        let fields = r.fields.join(",");
        let mut skip: u64 = 0;
        for page_no in 1..=MAX_PAGES {
            let mut q: Vec<(String, String)> = vec![
                ("startDate".into(), format_ms(w.start.timestamp_millis())),
                ("endDate".into(), format_ms(w.end.timestamp_millis())),
                ("top".into(), top.clone()),
                ("skip".into(), skip.to_string()),
                ("orderBy".into(), "lastUpdateTime asc".into()),
            ];
            if let Some(s) = &since {
                q.push(("updatedSince".into(), s.clone()));
            }
            if !fields.is_empty() {
                q.push(("fields".into(), fields.clone()));
            }
            q.extend(r.filters.iter().map(|(k, v)| (k.clone(), v.clone())));
            let reply = self
                .client
                .execute_with(
                    Endpoint::Data,
                    Method::GET,
                    &url,
                    Some(&w),
                    &|b| b.query(&q),
                    json_opts(),
                )
                .await?;
            if reply.status == 204 || reply.body.is_empty() {
                break;
            }
            let page = dec
                .decode_json(&reply.body, "completedContacts")
                .map_err(|message| CxoneError::Decode {
                    export_id: format!("reporting {}", w.id()),
                    page: page_no,
                    message,
                })?;
            SourceMetrics::add(&self.metrics.pages, 1);
            SourceMetrics::add(&self.metrics.records, page.records);
            report.pages += 1;
            report.records += page.records;
            bookmark = bookmark.max(page.bookmark_ms);
            if page.records == 0 {
                break;
            }
            skip += page.records;
            if let Some(b) = page.batch
                && tx.send(SourceEvent::Batch(b)).await.is_err()
            {
                return Ok(false);
            }
        }
        report.bookmark = bookmark.map(format_ms);
        Ok(true)
    }

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
        let body = serde_json::json!({
            "entityName": self.cfg.data_extraction.entity,
            "version": self.cfg.data_extraction.version,
            "startDate": format_ms(w.start.timestamp_millis()),
            "endDate": format_ms(w.end.timestamp_millis()),
        });
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
        match env.job_status.status.as_str() {
            "RUNNING" | "PENDING" | "QUEUED" => Ok(None),
            "SUCCEEDED" => match result.and_then(|r| r.url) {
                Some(u) => Ok(Some(u)),
                None => Err(CxoneError::Protocol {
                    url,
                    message: "SUCCEEDED without result.url".into(),
                }),
            },
            "FAILED" | "EXPIRED" => Err(CxoneError::ExportFailed {
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
        dec: &MappedDecoder,
        w: Window,
        id: &str,
        report: &mut WindowReport,
        tx: &Sender<SourceEvent>,
    ) -> Result<bool, CxoneError> {
        let mut link = self.job_url(&w, id).await?;
        let mut fresh_links = 0u32;
        let mut delivered: u64 = 0;
        loop {
            let resp = self.client.http().get(&link).send().await.map_err(|e| {
                CxoneError::RetriesExhausted {
                    url: "result.url".into(),
                    attempts: 1,
                    last: e.to_string(),
                }
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
                let body = resp.text().await.unwrap_or_default();
                let _ = reply_message;
                return Err(CxoneError::UnexpectedStatus {
                    url: "result.url (download link)".into(),
                    status,
                    window: Some(w.id()),
                    body,
                });
            }
            let mut csv = CsvStream::default();
            let mut stream = resp.bytes_stream();
            let mut skip = delivered;
            let mut emit = |raw: arrow_array::RecordBatch,
                            report: &mut WindowReport|
             -> Result<Option<arrow_array::RecordBatch>, CxoneError> {
                let page = dec.map_csv(&raw).map_err(|message| CxoneError::Decode {
                    export_id: id.to_string(),
                    page: report.pages + 1,
                    message,
                })?;
                report.pages += 1;
                let Some(b) = page.batch else { return Ok(None) };
                let rows = b.num_rows() as u64;
                if skip >= rows {
                    skip -= rows;
                    return Ok(None);
                }
                let b = b.slice(skip as usize, (rows - skip) as usize);
                skip = 0;
                Ok(Some(b))
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
                        failed = Some(e.to_string());
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

/// Push-based CSV decoding: the header row names the columns (all Utf8), then
/// `arrow_csv`'s decoder takes the bytes as they arrive.
#[derive(Default)]
struct CsvStream {
    head: Vec<u8>,
    decoder: Option<arrow_csv::reader::Decoder>,
}

impl CsvStream {
    fn push(&mut self, chunk: &[u8]) -> Result<Vec<arrow_array::RecordBatch>, String> {
        let mut out = Vec::new();
        if self.decoder.is_none() {
            self.head.extend_from_slice(chunk);
            let Some(nl) = self.head.iter().position(|b| *b == b'\n') else {
                return Ok(out);
            };
            let line = String::from_utf8_lossy(self.head.get(..nl).unwrap_or_default())
                .trim_end_matches('\r')
                .to_string();
            let names = split_header(&line);
            let schema = std::sync::Arc::new(arrow_schema::Schema::new(
                names
                    .iter()
                    .map(|n| arrow_schema::Field::new(n, arrow_schema::DataType::Utf8, true))
                    .collect::<Vec<_>>(),
            ));
            let d = arrow_csv::ReaderBuilder::new(schema)
                .with_header(true)
                .with_batch_size(8192)
                .build_decoder();
            self.decoder = Some(d);
            let all = std::mem::take(&mut self.head);
            self.feed(&all, &mut out)?;
            return Ok(out);
        }
        self.feed(chunk, &mut out)?;
        Ok(out)
    }

    fn feed(
        &mut self,
        mut buf: &[u8],
        out: &mut Vec<arrow_array::RecordBatch>,
    ) -> Result<(), String> {
        let Some(d) = self.decoder.as_mut() else {
            return Ok(());
        };
        while !buf.is_empty() {
            let n = d.decode(buf).map_err(|e| e.to_string())?;
            buf = buf.get(n..).unwrap_or_default();
            if d.capacity() == 0 || n == 0 {
                match d.flush().map_err(|e| e.to_string())? {
                    Some(b) => out.push(b),
                    None if n == 0 => return Err("the CSV decoder made no progress".into()),
                    None => {}
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<Vec<arrow_array::RecordBatch>, String> {
        let mut out = Vec::new();
        if self.decoder.is_none() {
            if self.head.is_empty() {
                return Ok(out);
            }
            let mut head = std::mem::take(&mut self.head);
            head.push(b'\n');
            out = self.push(&head)?;
        }
        if let Some(d) = self.decoder.as_mut() {
            d.decode(&[]).map_err(|e| e.to_string())?;
            if let Some(b) = d.flush().map_err(|e| e.to_string())? {
                out.push(b);
            }
        }
        Ok(out)
    }
}

/// Splits a CSV header line (quoted names with `""` escapes).
fn split_header(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().trim_start_matches('\u{feff}').to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_split_and_streamed_csv() {
        assert_eq!(
            split_header("\"ACD Call ID\",Start Date,\"a\"\"b\""),
            vec!["ACD Call ID", "Start Date", "a\"b"]
        );
        let mut s = CsvStream::default();
        let mut rows = 0;
        for chunk in [&b"A,B\r\n1,"[..], b"x\r\n2,y\r\n", b"3,z"] {
            rows += s
                .push(chunk)
                .unwrap()
                .iter()
                .map(|b| b.num_rows())
                .sum::<usize>();
        }
        rows += s
            .finish()
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum::<usize>();
        assert_eq!(rows, 3);
    }
}

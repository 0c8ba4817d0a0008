//! The Reporting API's completed contacts, read by keyset on `lastUpdateTime`.
//!
//! Offset paging (`skip`) over a sort key that changes under the read loses and doubles
//! rows: a contact updated mid-read moves to the end. So each request asks
//! `updatedSince=<cursor − 1 ms>&orderBy=lastUpdateTime asc&skip=0`, where the cursor is
//! the last delivered row's `lastUpdateTime`; rows at or before the cursor that were
//! already delivered (ties kept by `contactId`) are dropped. The 1 ms step back makes the
//! read correct whether the server takes `updatedSince` as inclusive or exclusive
//! (NICE does not say). A page of nothing but already-delivered ties (more than `top`
//! contacts updated in one millisecond) advances `skip` inside the same cursor.
//!
//! A window ends at a `204`, an empty list, a `_links.next` that is null, or when the
//! page holds every remaining row by `totalRecords`. `endDate` is inclusive on the
//! server, so a window `[start, end)` asks `endDate = end − 1 ms`.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMillisecondType;
use arrow_array::{BooleanArray, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use reqwest::Method;
use tokio::sync::mpsc::Sender;

use crate::client::CallOpts;
use crate::error::CxoneError;
use crate::mapping::native::{CONTACT_KEY, CONTACT_START, CONTACT_UPDATED};
use crate::mapping::{MappedPage, format_ms, parse_time_ms};
use crate::metrics::{Endpoint, SourceMetrics};
use crate::source::{Inner, SourceEvent, WindowReport};
use crate::window::Window;

/// Hard cap on pages of one window (a server that never ends).
const MAX_PAGES: u64 = 1_000_000;
/// The record arrays a page may carry (the `/contacts` schema names it `contacts`).
const RECORD_KEYS: [&str; 2] = ["completedContacts", "contacts"];

/// What has been delivered of one window's keyset read.
#[derive(Debug, Default)]
pub(crate) struct Keyset {
    /// `lastUpdateTime` (epoch ms) of the last row delivered.
    cursor: Option<i64>,
    /// Keys delivered at exactly `cursor`.
    ties: HashSet<String>,
    /// Keys delivered without a `lastUpdateTime`.
    undated: HashSet<String>,
    /// Rows to skip inside the current cursor (a page of nothing but ties).
    skip: u64,
    /// The first `updatedSince` (a bookmark), epoch ms: older rows are not wanted.
    floor: Option<i64>,
}

impl Keyset {
    /// A read of the rows updated at or after `floor`.
    pub(crate) fn new(floor: Option<i64>) -> Self {
        Keyset {
            floor,
            ..Keyset::default()
        }
    }

    /// The `updatedSince` and `skip` of the next request.
    pub(crate) fn next_request(&self) -> (Option<i64>, u64) {
        (self.cursor.map(|c| c - 1).or(self.floor), self.skip)
    }

    /// The largest `lastUpdateTime` delivered.
    pub(crate) fn cursor(&self) -> Option<i64> {
        self.cursor
    }

    /// Which rows of a page are new; advances the cursor.
    ///
    /// # Errors
    /// A row older than one already delivered in the same page: the server does not
    /// order by `lastUpdateTime`, and reading on would lose rows.
    pub(crate) fn admit(&mut self, batch: &RecordBatch) -> Result<BooleanArray, String> {
        let rows = batch.num_rows();
        let key = key_strings(batch)?;
        let lut = times(batch, CONTACT_UPDATED)?;
        let before = self.cursor;
        let mut keep = Vec::with_capacity(rows);
        for row in 0..rows {
            let k = key.get(row).cloned().flatten();
            let t = lut.get(row).copied().flatten();
            keep.push(self.admit_row(k, t, before, row)?);
        }
        let kept = keep.iter().filter(|k| **k).count();
        self.skip = if kept == 0 {
            self.skip + rows as u64
        } else {
            0
        };
        Ok(BooleanArray::from(keep))
    }

    fn admit_row(
        &mut self,
        key: Option<String>,
        t: Option<i64>,
        before: Option<i64>,
        row: usize,
    ) -> Result<bool, String> {
        let Some(t) = t else {
            // No update time: deliver each key once per window.
            return Ok(key.is_none_or(|k| self.undated.insert(k)));
        };
        if self.floor.is_some_and(|f| t < f) || before.is_some_and(|b| t < b) {
            return Ok(false);
        }
        match self.cursor {
            Some(c) if t < c => Err(format!(
                "row {} has lastUpdateTime {} before {} of an earlier row of the same page: \
                 the server does not order by `lastUpdateTime asc`, and paging on would lose rows",
                row + 1,
                format_ms(t),
                format_ms(c)
            )),
            Some(c) if t == c => Ok(key.is_none_or(|k| self.ties.insert(k))),
            _ => {
                self.cursor = Some(t);
                self.ties.clear();
                if let Some(k) = key {
                    self.ties.insert(k);
                }
                Ok(true)
            }
        }
    }
}

fn key_strings(batch: &RecordBatch) -> Result<Vec<Option<String>>, String> {
    let Some(col) = batch.column_by_name(CONTACT_KEY) else {
        return Ok(vec![None; batch.num_rows()]);
    };
    let text = arrow_cast::cast(col, &DataType::Utf8).map_err(|e| e.to_string())?;
    Ok(text
        .as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn times(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>, String> {
    let Some(col) = batch.column_by_name(name) else {
        return Ok(vec![None; batch.num_rows()]);
    };
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    let t = arrow_cast::cast(col, &ts).map_err(|e| format!("column `{name}`: {e}"))?;
    Ok(t.as_primitive::<TimestampMillisecondType>()
        .iter()
        .collect())
}

/// True when the page says the query has no more rows.
fn last_page(page: &MappedPage, skip: u64) -> bool {
    page.next_link == Some(None) || page.total_records.is_some_and(|t| skip + page.records >= t)
}

impl Inner {
    /// Streams a window of completed contacts; `Ok(false)` when the receiver is gone.
    pub(crate) async fn stream_reporting(
        &self,
        w: Window,
        report: &mut WindowReport,
        tx: &Sender<SourceEvent>,
    ) -> Result<bool, CxoneError> {
        let r = &self.cfg.reporting;
        let base = self.client.api_base().await?;
        let url = format!("{base}{}", contacts_path(&self.cfg));
        // A bookmark is the last update landed: read what came after it.
        let bookmark = r.updated_since.as_deref().and_then(parse_time_ms);
        let mut keyset = Keyset::new(bookmark.map(|b| b + 1));
        let export_id = format!("reporting {}", w.id());
        for page_no in 1..=MAX_PAGES {
            let (since, skip) = keyset.next_request();
            let q = contacts_query(&self.cfg, &w, since, skip);
            let opts = CallOpts {
                accept_json: true,
                ..CallOpts::default()
            };
            let reply = self
                .client
                .execute_with(
                    Endpoint::Data,
                    Method::GET,
                    &url,
                    Some(&w),
                    &|b| b.query(&q),
                    opts,
                )
                .await?;
            if reply.status == 204 || reply.body.iter().all(u8::is_ascii_whitespace) {
                break;
            }
            let decode_err = |message: String| CxoneError::Decode {
                export_id: export_id.clone(),
                page: page_no,
                message,
            };
            let page = self.decode_contacts(&reply.body).map_err(decode_err)?;
            SourceMetrics::add(&self.metrics.pages, 1);
            report.pages += 1;
            self.count_page(&page, report, &w);
            let done = page.records == 0 || last_page(&page, skip);
            if let Some(b) = &page.batch {
                let keep = keyset.admit(b).map_err(decode_err)?;
                let fresh = arrow_select::filter::filter_record_batch(b, &keep)
                    .map_err(|e| decode_err(e.to_string()))?;
                let n = fresh.num_rows() as u64;
                report.records += n;
                SourceMetrics::add(&self.metrics.records, n);
                if n > 0 {
                    let out = self.shape(fresh).map_err(decode_err)?;
                    if tx.send(SourceEvent::Batch(out)).await.is_err() {
                        return Ok(false);
                    }
                }
            }
            if done {
                break;
            }
        }
        report.bookmark = self.clamp_bookmark(keyset.cursor().or(bookmark), &w);
        Ok(true)
    }

    fn decode_contacts(&self, body: &[u8]) -> Result<MappedPage, String> {
        let dec = self.mapped_decoder()?;
        let text_start = body.iter().position(|b| !b.is_ascii_whitespace());
        if text_start.and_then(|i| body.get(i)) != Some(&b'{') {
            return Err(
                "the body is not a JSON object (is `Accept: application/json` honoured?)".into(),
            );
        }
        let mut last = String::new();
        for key in RECORD_KEYS {
            match dec.decode_json(body, key) {
                Ok(p) => return Ok(p),
                Err(e) if e.contains("has no `") => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// The bookmark of a window: the last update read, never in the future (a server
    /// clock ahead, or a bad value, must not make the next run skip real updates).
    fn clamp_bookmark(&self, b: Option<i64>, w: &Window) -> Option<String> {
        let now = chrono::Utc::now().timestamp_millis();
        b.map(|t| {
            if t > now {
                tracing::warn!(window = %w, bookmark = %format_ms(t), "lastUpdateTime in the future; the bookmark is clamped to now");
                SourceMetrics::add(&self.metrics.future_bookmarks, 1);
                format_ms(now)
            } else {
                format_ms(t)
            }
        })
    }
}

/// The path of the completed contacts, below the API base.
pub(crate) fn contacts_path(cfg: &crate::config::CxoneConfig) -> String {
    format!(
        "/inContactAPI/services/{}/contacts/completed",
        cfg.reporting.api_version
    )
}

/// The query of one request of a window: `since` and `skip` from the [`Keyset`].
pub(crate) fn contacts_query(
    cfg: &crate::config::CxoneConfig,
    w: &Window,
    since: Option<i64>,
    skip: u64,
) -> Vec<(String, String)> {
    let r = &cfg.reporting;
    let mut q: Vec<(String, String)> = vec![
        ("startDate".into(), format_ms(w.start.timestamp_millis())),
        // Inclusive on the server: the window is half-open.
        ("endDate".into(), format_ms(w.end.timestamp_millis() - 1)),
        ("top".into(), r.top.to_string()),
        ("skip".into(), skip.to_string()),
        ("orderBy".into(), "lastUpdateTime asc".into()),
    ];
    if let Some(s) = since {
        q.push(("updatedSince".into(), format_ms(s)));
    }
    if let Some(f) = requested_fields(&r.fields) {
        q.push(("fields".into(), f));
    }
    q.extend(r.filters.iter().map(|(k, v)| (k.clone(), v.clone())));
    q
}

/// `fields=`, with the columns the read itself needs added.
fn requested_fields(fields: &[String]) -> Option<String> {
    if fields.is_empty() {
        return None;
    }
    let mut all: Vec<&str> = fields.iter().map(String::as_str).collect();
    for need in [CONTACT_KEY, CONTACT_UPDATED, CONTACT_START] {
        if !all.contains(&need) {
            all.push(need);
        }
    }
    Some(all.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{MappedDecoder, native};

    fn page(rows: &[(i64, &str)]) -> RecordBatch {
        let body = format!(
            r#"{{"completedContacts":[{}]}}"#,
            rows.iter()
                .map(|(id, t)| format!(r#"{{"contactId":{id},"lastUpdateTime":"{t}"}}"#))
                .collect::<Vec<_>>()
                .join(",")
        );
        MappedDecoder::new(native::completed_contacts(), false)
            .decode_json(body.as_bytes(), "completedContacts")
            .unwrap()
            .batch
            .unwrap()
    }

    fn kept(k: &mut Keyset, rows: &[(i64, &str)]) -> Vec<bool> {
        k.admit(&page(rows))
            .unwrap()
            .iter()
            .map(Option::unwrap_or_default)
            .collect()
    }

    #[test]
    fn keyset_keeps_each_row_once_across_overlapping_pages() {
        let t = |s| parse_time_ms(s).unwrap();
        let mut k = Keyset::new(None);
        assert_eq!(k.next_request(), (None, 0));
        let a = "2023-01-01T00:00:01.000Z";
        let b = "2023-01-01T00:00:02.000Z";
        assert_eq!(kept(&mut k, &[(1, a), (2, b), (3, b)]), [true, true, true]);
        assert_eq!(k.next_request(), (Some(t(b) - 1), 0));
        // The next page repeats the ties at the cursor and brings one new tie and a later row.
        assert_eq!(
            kept(
                &mut k,
                &[(2, b), (3, b), (4, b), (5, "2023-01-01T00:00:03.000Z")]
            ),
            [false, false, true, true]
        );
        assert_eq!(k.cursor(), Some(t("2023-01-01T00:00:03.000Z")));
    }

    #[test]
    fn a_page_of_only_ties_moves_skip_and_disorder_is_an_error() {
        let b = "2023-01-01T00:00:02.000Z";
        let mut k = Keyset::new(None);
        kept(&mut k, &[(1, b), (2, b)]);
        assert_eq!(kept(&mut k, &[(1, b), (2, b)]), [false, false]);
        assert_eq!(k.next_request().1, 2);
        assert_eq!(kept(&mut k, &[(3, b)]), [true]);
        assert_eq!(k.next_request().1, 0);
        let e = k
            .admit(&page(&[
                (9, "2023-01-01T00:00:05.000Z"),
                (8, "2023-01-01T00:00:04.000Z"),
            ]))
            .unwrap_err();
        assert!(
            e.contains("row 2") && e.contains("lastUpdateTime asc"),
            "{e}"
        );
    }

    #[test]
    fn rows_before_the_bookmark_are_not_delivered_again() {
        let mut k = Keyset::new(parse_time_ms("2023-01-01T00:00:02.001Z"));
        assert_eq!(
            kept(
                &mut k,
                &[
                    (1, "2023-01-01T00:00:02.000Z"),
                    (2, "2023-01-01T00:00:02.001Z")
                ]
            ),
            [false, true]
        );
    }

    #[test]
    fn fields_always_carry_what_the_read_needs() {
        assert_eq!(requested_fields(&[]), None);
        assert_eq!(
            requested_fields(&["agentId".into(), "contactId".into()]).unwrap(),
            "agentId,contactId,lastUpdateTime,contactStartDate"
        );
    }
}

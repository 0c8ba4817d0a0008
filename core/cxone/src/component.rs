//! The `cxone` source as an engine component ([`tributary_source::Source`]): config
//! checks, the plan after what earlier runs saved (the incremental cursor, the Reporting
//! `updatedSince` bookmark), the built-in simulator's start (through the
//! [`SimulatorStarter`] the factory was given), and what to save after a run.
//!
//! Rules owned here:
//! - **Cursor** (`incremental`, export and Data Extraction dialects): the next plan starts
//!   where the last successful plan ended.
//! - **Bookmark** (`incremental`, `api: reporting`): a Reporting run covers the whole
//!   range every time (an old contact can be updated later) but asks only for rows updated
//!   since the bookmark, the newest `lastUpdateTime` of the last successful run. Its
//!   windows get ids of their own (`…-u<bookmark digits>`), so sinks add files instead of
//!   replacing the last run's, and a resumed increment still overwrites its own partial
//!   files.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::mpsc;
use tributary_source::{
    BoxFuture, Problem, SavedState, Source, SourceContext, SourceError, SourceEvent, SourceFactory,
    SourceMetrics as MetricsView, Window, WindowEnd,
};

use crate::config::{ApiDialect, ConfigProblem, CxoneConfig};
use crate::metrics::SourceMetrics;
use crate::simulator::{NO_SIMULATOR, SimulatorHandle, SimulatorStarter};
use crate::source::{CxoneSource, SourceEvent as CxoneEvent};

/// The `cxone` source type.
#[derive(Clone, Default)]
pub struct CxoneFactory {
    simulator: Option<Arc<dyn SimulatorStarter>>,
}

impl CxoneFactory {
    /// The source type without a built-in simulator: a pipeline with `simulator:` fails to
    /// open ([`NO_SIMULATOR`]).
    pub fn new() -> CxoneFactory {
        CxoneFactory::default()
    }

    /// The source type whose `simulator:` sections are started by `starter`.
    pub fn with_simulator(starter: Arc<dyn SimulatorStarter>) -> CxoneFactory {
        CxoneFactory {
            simulator: Some(starter),
        }
    }
}

impl std::fmt::Debug for CxoneFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CxoneFactory")
            .field("simulator", &self.simulator.is_some())
            .finish()
    }
}

fn problems(list: Vec<ConfigProblem>) -> Vec<Problem> {
    list.into_iter()
        .map(|p| Problem::new(p.key, p.message))
        .collect()
}

fn parse(config: &serde_json::Value) -> Result<CxoneConfig, Vec<Problem>> {
    serde_json::from_value(config.clone()).map_err(|e| vec![Problem::new("", e.to_string())])
}

impl SourceFactory for CxoneFactory {
    fn type_name(&self) -> &'static str {
        "cxone"
    }

    fn description(&self) -> &'static str {
        "NICE CXone interaction history: the analytics export API, the Reporting API or the Data Extraction API."
    }

    fn config_schema(&self) -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(CxoneConfig))
            .unwrap_or(serde_json::Value::Bool(true))
    }

    fn check(&self, config: &serde_json::Value) -> Result<(), Vec<Problem>> {
        parse(config)?.validate().map_err(problems)
    }

    fn create(
        &self,
        config: &serde_json::Value,
        ctx: SourceContext,
    ) -> Result<Box<dyn Source>, SourceError> {
        let cfg = parse(config).map_err(|problems| SourceError::Config { problems })?;
        Ok(Box::new(CxoneComponent::new(
            cfg,
            ctx.saved,
            self.simulator.clone(),
        )))
    }
}

/// A `cxone` source of one run.
pub struct CxoneComponent {
    cfg: CxoneConfig,
    saved: SavedState,
    /// The Reporting increment's tag of window ids (digits of the bookmark).
    tag: Option<String>,
    source: Option<CxoneSource>,
    /// What starts `simulator:` sections (none: they cannot be opened).
    starter: Option<Arc<dyn SimulatorStarter>>,
    simulator: Option<Box<dyn SimulatorHandle>>,
    idle_metrics: Arc<SourceMetrics>,
}

impl CxoneComponent {
    fn new(
        mut cfg: CxoneConfig,
        saved: SavedState,
        starter: Option<Arc<dyn SimulatorStarter>>,
    ) -> CxoneComponent {
        let reporting_increment = cfg.incremental && cfg.api == ApiDialect::Reporting;
        let bookmark = saved.bookmark.clone().filter(|_| reporting_increment);
        if let Some(b) = &bookmark {
            cfg.reporting.updated_since = Some(b.clone());
        }
        CxoneComponent {
            tag: bookmark.map(|b| b.chars().filter(|c| c.is_ascii_alphanumeric()).collect()),
            cfg,
            saved,
            source: None,
            starter,
            simulator: None,
            idle_metrics: Arc::new(SourceMetrics::default()),
        }
    }

    fn reporting_increment(&self) -> bool {
        self.cfg.incremental && self.cfg.api == ApiDialect::Reporting
    }

    fn window(&self, w: crate::Window) -> Window {
        tagged(&w, self.tag.as_deref())
    }

    async fn start(&mut self) -> Result<(), SourceError> {
        let mut base = None;
        if let Some(sim_cfg) = &self.cfg.simulator {
            let starter = self
                .starter
                .as_ref()
                .ok_or_else(|| SourceError::failed(NO_SIMULATOR))?;
            let started = starter.start(sim_cfg.clone()).await.map_err(|e| {
                SourceError::failed(format!("cannot start the built-in simulator: {e}"))
            })?;
            base = Some(started.base_url);
            self.simulator = Some(started.handle);
        }
        let source = CxoneSource::new(self.cfg.clone(), base).map_err(error)?;
        self.source = Some(source);
        Ok(())
    }
}

fn error(e: crate::CxoneError) -> SourceError {
    match e {
        crate::CxoneError::Config { problems: p } => SourceError::Config {
            problems: problems(p),
        },
        other => SourceError::failed(other.to_string()),
    }
}

fn not_open() -> SourceError {
    SourceError::failed("internal: the CXone source was not opened before use")
}

/// The later of two RFC 3339 bookmarks (a value that does not parse never wins).
fn later(current: Option<String>, candidate: &str) -> Option<String> {
    let Ok(new) = DateTime::parse_from_rfc3339(candidate) else {
        return current;
    };
    match &current {
        Some(cur) if DateTime::parse_from_rfc3339(cur).is_ok_and(|c| c >= new) => current,
        _ => Some(candidate.to_string()),
    }
}

impl Source for CxoneComponent {
    fn schema(&self) -> Result<arrow_schema::SchemaRef, SourceError> {
        Ok(crate::output_schema(&self.cfg))
    }

    fn plan(&self, today: NaiveDate) -> Result<Vec<Window>, SourceError> {
        // Reporting runs always cover the whole range; their increment is the bookmark.
        let cursor = match self.cfg.incremental && self.cfg.api != ApiDialect::Reporting {
            true => self
                .saved
                .cursor
                .as_deref()
                .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
                .map(|d| d.with_timezone(&Utc)),
            false => None,
        };
        let windows = crate::plan(&self.cfg, today, cursor).map_err(error)?;
        Ok(windows.into_iter().map(|w| self.window(w)).collect())
    }

    fn describe(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert(
            "api".into(),
            serde_json::to_value(self.cfg.api).unwrap_or_default(),
        );
        m.insert(
            "auth".into(),
            crate::requests::auth_summary(&self.cfg).into(),
        );
        m
    }

    fn describe_window(&self, window: &Window) -> (serde_json::Value, Vec<String>) {
        let w = crate::Window {
            start: window.start,
            end: window.end,
        };
        let requests = crate::requests::planned_requests(&self.cfg, &w).unwrap_or_default();
        let lines = requests
            .iter()
            .map(|r| {
                let query = r
                    .query
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&");
                let sep = if query.is_empty() { "" } else { "?" };
                let body = r
                    .body
                    .as_ref()
                    .map(|b| format!("\n    {b}"))
                    .unwrap_or_default();
                format!("{} {}{sep}{query}\n    {}{body}", r.method, r.path, r.note)
            })
            .collect();
        (serde_json::json!({ "requests": requests }), lines)
    }

    fn open(&mut self) -> BoxFuture<'_, Result<(), SourceError>> {
        Box::pin(self.start())
    }

    fn check_connection(&self) -> BoxFuture<'_, Result<String, SourceError>> {
        Box::pin(async move {
            let source = self.source.as_ref().ok_or_else(not_open)?;
            let reached = source.check_connection().await.map_err(error)?;
            Ok(match self.simulator {
                Some(_) => format!("{reached} (the built-in simulator)"),
                None => reached,
            })
        })
    }

    fn run(
        &self,
        windows: Vec<Window>,
        tx: mpsc::Sender<SourceEvent>,
    ) -> BoxFuture<'static, Result<(), SourceError>> {
        let Some(source) = self.source.clone() else {
            return Box::pin(async { Err(not_open()) });
        };
        let tag = self.tag.clone();
        Box::pin(async move { forward(source, windows, tag, tx).await })
    }

    fn metrics(&self) -> Arc<dyn MetricsView> {
        match &self.source {
            Some(s) => s.metrics(),
            None => self.idle_metrics.clone(),
        }
    }

    fn state_after_run(&self, plan: &[Window], landed: &[WindowEnd]) -> SavedState {
        if !self.cfg.incremental {
            return SavedState::default();
        }
        if self.reporting_increment() {
            let bookmark = landed
                .iter()
                .filter_map(|w| w.report.get("bookmark").and_then(|b| b.as_str()))
                .fold(None, later);
            return SavedState {
                cursor: None,
                bookmark,
            };
        }
        SavedState {
            cursor: plan.last().map(|w| w.end.to_rfc3339()),
            bookmark: None,
        }
    }

    fn close(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.source = None;
            if let Some(h) = self.simulator.take() {
                h.shutdown().await;
            }
        })
    }
}

/// A planned window in the engine's terms: its time id, tagged with the Reporting
/// increment it belongs to (`…-u<bookmark digits>`) when there is one.
fn tagged(w: &crate::Window, tag: Option<&str>) -> Window {
    let id = match tag {
        Some(t) => format!("{}-u{t}", w.id()),
        None => w.id(),
    };
    Window {
        id,
        start: w.start,
        end: w.end,
    }
}

/// Runs the CXone source and passes its events on in the engine's terms.
async fn forward(
    source: CxoneSource,
    windows: Vec<Window>,
    tag: Option<String>,
    tx: mpsc::Sender<SourceEvent>,
) -> Result<(), SourceError> {
    let inner: Vec<crate::Window> = windows
        .iter()
        .map(|w| crate::Window {
            start: w.start,
            end: w.end,
        })
        .collect();
    let (itx, mut irx) = mpsc::channel::<CxoneEvent>(2);
    let producer = tokio::spawn(async move { source.run(inner, itx).await });
    while let Some(event) = irx.recv().await {
        let out = match event {
            CxoneEvent::WindowStart(_) => continue,
            CxoneEvent::Batch(b) => SourceEvent::Batch(b),
            CxoneEvent::WindowEnd(report) => SourceEvent::WindowEnd(WindowEnd {
                window: tagged(&report.window, tag.as_deref()),
                records: report.records,
                report: serde_json::to_value(&report).unwrap_or_default(),
            }),
        };
        if tx.send(out).await.is_err() {
            producer.abort();
            return Ok(());
        }
    }
    match producer.await {
        Ok(r) => r.map_err(error),
        Err(e) if e.is_cancelled() => Ok(()),
        Err(e) => Err(SourceError::failed(format!(
            "the CXone source task failed: {e}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(saved: SavedState) -> SourceContext {
        SourceContext {
            component: "cxone".into(),
            pipeline: "p".into(),
            saved,
        }
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn incremental_cursor_starts_the_next_plan() {
        let cfg = serde_json::json!({
            "report_id": "r", "base_url": "http://127.0.0.1:9",
            "client_id": "id", "client_secret": "s",
            "date_range": {"start": "2023-01-01", "end": "2023-12-31"},
            "incremental": true,
        });
        let f = CxoneFactory::new();
        let first = f.create(&cfg, ctx(SavedState::default())).unwrap();
        let plan = first.plan(d("2024-01-10")).unwrap();
        assert_eq!(
            plan.first().unwrap().id,
            "20230101T000000Z-20230401T000000Z"
        );
        let saved = first.state_after_run(&plan, &[]);
        assert_eq!(saved.cursor.as_deref(), Some("2024-01-01T00:00:00+00:00"));
        let next = f.create(&cfg, ctx(saved)).unwrap();
        assert!(next.plan(d("2024-01-10")).unwrap().is_empty());
    }

    #[test]
    fn reporting_bookmark_tags_windows_and_keeps_the_latest() {
        let cfg = serde_json::json!({
            "api": "reporting", "base_url": "http://127.0.0.1:9",
            "client_id": "id", "client_secret": "s",
            "date_range": {"start": "2023-01-01", "end": "2023-01-31"},
            "incremental": true,
        });
        let saved = SavedState {
            cursor: None,
            bookmark: Some("2023-02-01T00:00:00.000Z".into()),
        };
        let c = CxoneFactory::new().create(&cfg, ctx(saved)).unwrap();
        let plan = c.plan(d("2024-01-10")).unwrap();
        assert!(
            plan[0].id.ends_with("-u20230201T000000000Z"),
            "{}",
            plan[0].id
        );
        let end = |b: &str| WindowEnd {
            window: plan[0].clone(),
            records: 1,
            report: serde_json::json!({ "bookmark": b }),
        };
        let landed = [
            end("2023-03-01T00:00:00.000Z"),
            end("not a time"),
            end("2023-02-15T00:00:00.000Z"),
        ];
        let after = c.state_after_run(&plan, &landed);
        assert_eq!(after.bookmark.as_deref(), Some("2023-03-01T00:00:00.000Z"));
        assert_eq!(after.cursor, None);
    }

    #[test]
    fn check_names_the_key() {
        let bad = serde_json::json!({"report_id": "r", "date_range": {"start": "2023-02-01", "end": "2023-01-01"}});
        let problems = CxoneFactory::new().check(&bad).unwrap_err();
        assert!(!problems.is_empty());
        assert!(
            problems.iter().any(|p| p.key.starts_with("date_range")),
            "{problems:?}"
        );
    }

    fn with_simulator_section() -> serde_json::Value {
        serde_json::json!({
            "report_id": "r",
            "date_range": {"start": "2023-01-01", "end": "2023-01-02"},
            "simulator": {},
        })
    }

    #[tokio::test]
    async fn without_a_starter_a_simulator_section_does_not_open() {
        let mut c = CxoneFactory::new()
            .create(&with_simulator_section(), ctx(SavedState::default()))
            .unwrap();
        let e = c.open().await.unwrap_err().to_string();
        assert!(
            e.contains(
                "this build has no built-in simulator; build the CLI with the `simulator` feature"
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn the_starter_gives_the_url_and_is_stopped_at_close() {
        use std::sync::atomic::{AtomicU32, Ordering};
        #[derive(Default)]
        struct Fake(Arc<AtomicU32>);
        struct FakeHandle(Arc<AtomicU32>);
        impl SimulatorStarter for Fake {
            fn start(
                &self,
                config: tributary_cxone_sim::SimConfig,
            ) -> BoxFuture<'_, Result<crate::StartedSimulator, String>> {
                assert_eq!(config, tributary_cxone_sim::SimConfig::default());
                self.0.fetch_add(1, Ordering::SeqCst);
                let handle = Box::new(FakeHandle(self.0.clone()));
                Box::pin(async move {
                    Ok(crate::StartedSimulator {
                        base_url: "http://127.0.0.1:9".into(),
                        handle,
                    })
                })
            }
        }
        impl SimulatorHandle for FakeHandle {
            fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
                self.0.fetch_add(10, Ordering::SeqCst);
                Box::pin(async {})
            }
        }
        let calls = Arc::new(AtomicU32::new(0));
        let f = CxoneFactory::with_simulator(Arc::new(Fake(calls.clone())));
        let mut c = f
            .create(&with_simulator_section(), ctx(SavedState::default()))
            .unwrap();
        c.open().await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        c.close().await;
        assert_eq!(calls.load(Ordering::SeqCst), 11);
    }
}

//! The coordinator: collects what the source and every component report, and once every
//! sink acknowledged a window the source finished, checkpoints it (state store, audit
//! log, metrics, progress). The first failure is kept; no window is checkpointed after it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;

use chrono::Utc;
use tokio::sync::mpsc;
use tributary_plugin_sdk::Ack;
use tributary_source::WindowEnd;

use super::RunSummary;
use super::events::{self, AuditEvent};
use crate::audit::AuditLog;
use crate::config::ComponentKind;
use crate::error::{EngineError, Result};
use crate::graph::Event;
use crate::lease::Lease;
use crate::metrics::LiveMetrics;
use crate::state::{StateStore, WindowRecord};

/// What is known of a window not yet checkpointed.
#[derive(Default)]
struct Pending {
    end: Option<WindowEnd>,
    sink_acks: usize,
    files: Vec<serde_json::Value>,
    metrics: serde_json::Map<String, serde_json::Value>,
}

/// One run's window barriers and checkpoints.
pub(super) struct Coordinator<'a> {
    pub pipeline: &'a str,
    pub run_id: &'a str,
    pub sinks: usize,
    pub state: &'a StateStore,
    pub lease: &'a Lease,
    pub audit: Option<&'a mut AuditLog>,
    pub metrics: &'a LiveMetrics,
    pub progress: &'a dyn super::Progress,
    pub summary: &'a mut RunSummary,
    pending: HashMap<String, Pending>,
    /// Windows checkpointed, in order.
    pub landed: Vec<WindowEnd>,
    /// The first failure reported by a component.
    pub first_error: Option<EngineError>,
    /// Final acknowledgements, by component.
    pub closed: BTreeMap<String, Ack>,
}

impl<'a> Coordinator<'a> {
    /// A coordinator with nothing pending.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        pipeline: &'a str,
        run_id: &'a str,
        sinks: usize,
        state: &'a StateStore,
        lease: &'a Lease,
        audit: Option<&'a mut AuditLog>,
        metrics: &'a LiveMetrics,
        progress: &'a dyn super::Progress,
        summary: &'a mut RunSummary,
    ) -> Coordinator<'a> {
        Coordinator {
            pipeline,
            run_id,
            sinks,
            state,
            lease,
            audit,
            metrics,
            progress,
            summary,
            pending: HashMap::new(),
            landed: Vec::new(),
            first_error: None,
            closed: BTreeMap::new(),
        }
    }

    /// Handles events until every reporter is gone.
    ///
    /// # Errors
    /// When the lease was lost or a checkpoint cannot be written: the run stops at once.
    pub async fn run(&mut self, mut events: mpsc::UnboundedReceiver<Event>) -> Result<()> {
        while let Some(event) = events.recv().await {
            match event {
                Event::SourceWindow(end) => {
                    let id = end.window.id.clone();
                    self.pending.entry(id.clone()).or_default().end = Some(end);
                    self.checkpoint_if_done(&id).await?;
                }
                Event::Ack {
                    component,
                    kind,
                    window_id,
                    ack,
                } => {
                    self.on_ack(component, kind, &window_id, &ack);
                    self.checkpoint_if_done(&window_id).await?;
                }
                Event::Closed {
                    component,
                    kind,
                    ack,
                } => self.on_closed(component, kind, ack),
                Event::Failed { error, .. } => {
                    self.first_error.get_or_insert(error);
                }
            }
        }
        Ok(())
    }

    fn on_ack(&mut self, component: String, kind: ComponentKind, window_id: &str, ack: &Ack) {
        let w = self.pending.entry(window_id.to_string()).or_default();
        if kind == ComponentKind::Sink {
            w.sink_acks += 1;
            for f in &ack.files {
                w.files.push(serde_json::json!({"sink": component, "path": f.path, "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256}));
            }
            self.summary
                .files
                .entry(component.clone())
                .or_default()
                .extend(ack.files.clone());
            if ack.metrics.is_empty() {
                return;
            }
        }
        w.metrics
            .insert(component, serde_json::Value::Object(ack.metrics.clone()));
    }

    fn on_closed(&mut self, component: String, kind: ComponentKind, ack: Ack) {
        if kind == ComponentKind::Sink {
            self.summary
                .files
                .entry(component.clone())
                .or_default()
                .extend(ack.files.clone());
        }
        if kind == ComponentKind::Transform && !ack.metrics.is_empty() {
            self.summary.transform_metrics.insert(
                component.clone(),
                serde_json::Value::Object(ack.metrics.clone()),
            );
        }
        self.closed.insert(component, ack);
    }

    /// Checkpoints the window once the source ended it and every sink acknowledged it.
    async fn checkpoint_if_done(&mut self, window_id: &str) -> Result<()> {
        let ready = self.first_error.is_none()
            && self
                .pending
                .get(window_id)
                .is_some_and(|w| w.sink_acks >= self.sinks && w.end.is_some());
        if !ready {
            return Ok(());
        }
        let Some(Pending {
            end: Some(end),
            files,
            metrics,
            ..
        }) = self.pending.remove(window_id)
        else {
            return Ok(());
        };
        if self.lease.lost() {
            return Err(EngineError::LeaseLost);
        }
        let w = &end.window;
        self.state
            .mark_window(&WindowRecord {
                window_id: w.id.clone(),
                start: w.start.to_rfc3339(),
                end: w.end.to_rfc3339(),
                records: end.records,
                run_id: self.run_id.to_string(),
                completed_at: Utc::now().to_rfc3339(),
            })
            .await?;
        events::append(
            self.audit.as_deref_mut(),
            &AuditEvent::Window {
                pipeline: self.pipeline,
                run_id: self.run_id,
                window: w.into(),
                source: &end.report,
                components: &metrics,
                files: &files,
            },
        )?;
        self.summary.windows_done += 1;
        self.metrics.windows_done.fetch_add(1, Ordering::Relaxed);
        self.progress.window_done(w, end.records);
        self.landed.push(end);
        Ok(())
    }
}

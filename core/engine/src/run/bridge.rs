//! Source → graph: runs the source's future, forwards its batches to the components that
//! read it and its window ends as barriers (with the checkpoint every sink flushes), and
//! reports each window to the coordinator. Stops on cancel (SIGINT/SIGTERM).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tributary_plugin_sdk::Checkpoint;
use tributary_source::{BoxFuture, SourceError, SourceEvent};

use super::Progress;
use crate::error::{EngineError, Result};
use crate::graph::{Event, Fanout, Stats};

/// What the bridge needs.
pub(super) struct Bridge {
    /// `sources.<name>`, for errors.
    pub component: String,
    pub run_id: String,
    pub out: Fanout,
    pub events: mpsc::UnboundedSender<Event>,
    pub stats: Arc<Stats>,
    pub cancel: watch::Receiver<bool>,
    pub progress: Arc<dyn Progress>,
}

impl Bridge {
    /// Starts `produce` (the source's run, sending into `srx`'s channel) and the
    /// forwarding, on the runtime.
    pub fn spawn(
        self,
        srx: mpsc::Receiver<SourceEvent>,
        produce: BoxFuture<'static, std::result::Result<(), SourceError>>,
    ) -> JoinHandle<Result<()>> {
        tokio::spawn(async move {
            let producer = tokio::spawn(produce);
            let component = self.component.clone();
            let interrupted = self.forward(srx).await;
            if interrupted {
                producer.abort();
                return Err(EngineError::Interrupted);
            }
            match producer.await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(EngineError::Source {
                    component,
                    message: e.to_string(),
                }),
                Err(e) if e.is_cancelled() => Ok(()),
                Err(e) => Err(EngineError::Source {
                    component,
                    message: format!("the source task failed: {e}"),
                }),
            }
        })
    }

    /// Forwards until the source ends or the graph is gone; true when cancelled. The
    /// source's receiver is dropped on return, so a source still sending stops.
    async fn forward(mut self, mut srx: mpsc::Receiver<SourceEvent>) -> bool {
        loop {
            let next = tokio::select! {
                biased;
                changed = self.cancel.changed() => {
                    if changed.is_err() || *self.cancel.borrow() { return true; }
                    continue;
                }
                e = srx.recv() => e,
            };
            let Some(event) = next else { return false };
            match event {
                SourceEvent::Batch(b) => {
                    let n = b.num_rows() as u64;
                    let total = self.stats.records_out.fetch_add(n, Ordering::Relaxed) + n;
                    self.progress.records(total);
                    if self.out.send(&b).await.is_err() {
                        return false;
                    }
                }
                SourceEvent::WindowEnd(end) => {
                    let cp = Arc::new(Checkpoint {
                        run_id: self.run_id.clone(),
                        window_id: end.window.id.clone(),
                        window_start: end.window.start.to_rfc3339(),
                        window_end: end.window.end.to_rfc3339(),
                    });
                    let _ = self.events.send(Event::SourceWindow(end));
                    if self.out.end(&cp).await.is_err() {
                        return false;
                    }
                }
            }
        }
    }
}

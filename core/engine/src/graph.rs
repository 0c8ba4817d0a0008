//! The running graph: one dedicated thread per plugin instance, bounded channels between
//! components (backpressure: a slow sink slows everything upstream, memory stays bounded),
//! fan-out by cloning `RecordBatch` handles (no data copy), and window barriers aligned
//! across inputs so a sink's `flush` covers exactly one window.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::RecordBatch;
use tokio::sync::mpsc;
use tributary_plugin_sdk::{Ack, Checkpoint, Outputs, Sink, Transform};

use crate::config::ComponentKind;
use crate::error::EngineError;

/// What flows on an edge.
#[derive(Debug, Clone)]
pub enum Msg {
    /// Data.
    Batch(RecordBatch),
    /// The end of a window: everything before it belongs to it.
    WindowEnd(Arc<Checkpoint>),
}

/// A message tagged with the edge it came in on.
#[derive(Debug)]
pub struct Envelope {
    /// Index of the edge among the receiver's inputs.
    pub edge: usize,
    /// The message.
    pub msg: Msg,
}

/// What components report to the coordinator.
#[derive(Debug)]
pub enum Event {
    /// The source finished a window.
    SourceWindow(tributary_source::WindowEnd),
    /// A component made a window durable (sinks) or reported its metrics (transforms).
    Ack {
        /// Component name.
        component: String,
        /// Its kind.
        kind: ComponentKind,
        /// The window.
        window_id: String,
        /// What it reported.
        ack: Ack,
    },
    /// A component closed at the end of the run.
    Closed {
        /// Component name.
        component: String,
        /// Its kind.
        kind: ComponentKind,
        /// Its final acknowledgement.
        ack: Ack,
    },
    /// A component failed; the run stops.
    Failed {
        /// Component name.
        component: String,
        /// Why.
        error: EngineError,
    },
}

/// Records counted per component.
#[derive(Debug, Default)]
pub struct Stats {
    /// Records received.
    pub records_in: AtomicU64,
    /// Records emitted (all outputs).
    pub records_out: AtomicU64,
}

/// One sender per downstream edge, grouped by output name.
#[derive(Debug, Default, Clone)]
pub struct Fanout {
    /// Output name → (sender, edge index at the receiver).
    pub ports: HashMap<String, Vec<(mpsc::Sender<Envelope>, usize)>>,
}

impl Fanout {
    /// Sends a batch on one output (blocking; for plugin threads).
    fn send_blocking(&self, port: &str, batch: &RecordBatch) -> Result<(), ()> {
        if let Some(edges) = self.ports.get(port) {
            for (tx, edge) in edges {
                tx.blocking_send(Envelope {
                    edge: *edge,
                    msg: Msg::Batch(batch.clone()),
                })
                .map_err(|_| ())?;
            }
        }
        Ok(())
    }

    fn end_blocking(&self, cp: &Arc<Checkpoint>) -> Result<(), ()> {
        for edges in self.ports.values() {
            for (tx, edge) in edges {
                tx.blocking_send(Envelope {
                    edge: *edge,
                    msg: Msg::WindowEnd(Arc::clone(cp)),
                })
                .map_err(|_| ())?;
            }
        }
        Ok(())
    }

    /// Sends a batch on the main output (async; for the source).
    ///
    /// # Errors
    /// When every receiver is gone.
    pub async fn send(&self, batch: &RecordBatch) -> Result<(), ()> {
        if let Some(edges) = self.ports.get("") {
            for (tx, edge) in edges {
                tx.send(Envelope {
                    edge: *edge,
                    msg: Msg::Batch(batch.clone()),
                })
                .await
                .map_err(|_| ())?;
            }
        }
        Ok(())
    }

    /// Sends a window end on every output (async; for the source).
    ///
    /// # Errors
    /// When a receiver is gone.
    pub async fn end(&self, cp: &Arc<Checkpoint>) -> Result<(), ()> {
        for edges in self.ports.values() {
            for (tx, edge) in edges {
                tx.send(Envelope {
                    edge: *edge,
                    msg: Msg::WindowEnd(Arc::clone(cp)),
                })
                .await
                .map_err(|_| ())?;
            }
        }
        Ok(())
    }
}

/// Receives from several edges, holding back an edge that already delivered the current
/// window's end until every edge has (barrier alignment).
struct Aligned {
    rx: mpsc::Receiver<Envelope>,
    edges: usize,
    blocked: Vec<bool>,
    pending: VecDeque<Envelope>,
    ended: usize,
}

enum Next {
    Batch(RecordBatch),
    WindowEnd(Arc<Checkpoint>),
    Closed,
}

impl Aligned {
    fn new(rx: mpsc::Receiver<Envelope>, edges: usize) -> Self {
        Aligned {
            rx,
            edges: edges.max(1),
            blocked: vec![false; edges.max(1)],
            pending: VecDeque::new(),
            ended: 0,
        }
    }

    fn next(&mut self) -> Next {
        loop {
            let env = if let Some(pos) = self
                .pending
                .iter()
                .position(|e| !self.blocked.get(e.edge).copied().unwrap_or(false))
            {
                match self.pending.remove(pos) {
                    Some(e) => e,
                    None => continue,
                }
            } else {
                match self.rx.blocking_recv() {
                    Some(e) => e,
                    None => {
                        // Every upstream is gone. Anything held back is delivered in order.
                        self.blocked.iter_mut().for_each(|b| *b = false);
                        match self.pending.pop_front() {
                            Some(e) => e,
                            None => return Next::Closed,
                        }
                    }
                }
            };
            if self.blocked.get(env.edge).copied().unwrap_or(false) {
                self.pending.push_back(env);
                continue;
            }
            match env.msg {
                Msg::Batch(b) => return Next::Batch(b),
                Msg::WindowEnd(cp) => {
                    if let Some(b) = self.blocked.get_mut(env.edge) {
                        *b = true;
                    }
                    self.ended += 1;
                    if self.ended >= self.edges {
                        self.ended = 0;
                        self.blocked.iter_mut().for_each(|b| *b = false);
                        return Next::WindowEnd(cp);
                    }
                }
            }
        }
    }
}

fn plugin_err(component: &str, e: tributary_plugin_sdk::PluginError) -> EngineError {
    EngineError::Plugin {
        component: component.to_string(),
        source: e,
    }
}

/// Runs a transform on the current (dedicated) thread until its inputs close.
pub fn run_transform(
    name: String,
    mut t: Box<dyn Transform>,
    rx: mpsc::Receiver<Envelope>,
    edges: usize,
    out: Fanout,
    events: mpsc::UnboundedSender<Event>,
    stats: Arc<Stats>,
) {
    let component = format!("transforms.{name}");
    let mut input = Aligned::new(rx, edges);
    let forward = |outputs: &mut Outputs| -> Result<(), EngineError> {
        for (port, batch) in outputs.take() {
            stats
                .records_out
                .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
            out.send_blocking(&port, &batch)
                .map_err(|_| EngineError::Runtime(format!("{component}: downstream stopped")))?;
        }
        Ok(())
    };
    let result: Result<(), EngineError> = (|| {
        loop {
            let mut outputs = Outputs::new();
            match input.next() {
                Next::Batch(b) => {
                    stats
                        .records_in
                        .fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                    t.process(&b, &mut outputs)
                        .map_err(|e| plugin_err(&component, e))?;
                    forward(&mut outputs)?;
                }
                Next::WindowEnd(cp) => {
                    let ack = t
                        .flush(&cp, &mut outputs)
                        .map_err(|e| plugin_err(&component, e))?;
                    forward(&mut outputs)?;
                    out.end_blocking(&cp).map_err(|_| {
                        EngineError::Runtime(format!("{component}: downstream stopped"))
                    })?;
                    let _ = events.send(Event::Ack {
                        component: name.clone(),
                        kind: ComponentKind::Transform,
                        window_id: cp.window_id.clone(),
                        ack,
                    });
                }
                Next::Closed => {
                    let ack = t
                        .close(&mut outputs)
                        .map_err(|e| plugin_err(&component, e))?;
                    forward(&mut outputs)?;
                    let _ = events.send(Event::Closed {
                        component: name.clone(),
                        kind: ComponentKind::Transform,
                        ack,
                    });
                    return Ok(());
                }
            }
        }
    })();
    if let Err(error) = result {
        let _ = events.send(Event::Failed {
            component: name,
            error,
        });
    }
    // Dropping `out` closes the downstream edges, so every sink gets to close.
}

/// Runs a sink on the current (dedicated) thread until its inputs close.
pub fn run_sink(
    name: String,
    mut s: Box<dyn Sink>,
    rx: mpsc::Receiver<Envelope>,
    edges: usize,
    events: mpsc::UnboundedSender<Event>,
    stats: Arc<Stats>,
) {
    let component = format!("sinks.{name}");
    let mut input = Aligned::new(rx, edges);
    let mut failed: Option<EngineError> = None;
    loop {
        match input.next() {
            Next::Batch(b) => {
                if failed.is_some() {
                    continue;
                }
                stats
                    .records_in
                    .fetch_add(b.num_rows() as u64, Ordering::Relaxed);
                if let Err(e) = s.write(&b) {
                    failed = Some(plugin_err(&component, e));
                    break;
                }
            }
            Next::WindowEnd(cp) => match s.flush(&cp) {
                Ok(ack) => {
                    stats.records_out.fetch_add(ack.records, Ordering::Relaxed);
                    let _ = events.send(Event::Ack {
                        component: name.clone(),
                        kind: ComponentKind::Sink,
                        window_id: cp.window_id.clone(),
                        ack,
                    });
                }
                Err(e) => {
                    failed = Some(plugin_err(&component, e));
                    break;
                }
            },
            Next::Closed => break,
        }
    }
    if let Some(error) = failed {
        let _ = events.send(Event::Failed {
            component: name.clone(),
            error,
        });
        // Still close: release resources and flush what can be flushed.
        drop(input);
        let _ = s.close();
        return;
    }
    match s.close() {
        Ok(ack) => {
            stats.records_out.fetch_add(ack.records, Ordering::Relaxed);
            let _ = events.send(Event::Closed {
                component: name,
                kind: ComponentKind::Sink,
                ack,
            });
        }
        Err(e) => {
            let _ = events.send(Event::Failed {
                component: name,
                error: plugin_err(&component, e),
            });
        }
    }
}

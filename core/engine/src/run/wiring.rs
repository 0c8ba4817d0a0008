//! The running graph of a run: one bounded channel per transform and sink (an edge per
//! entry of its `inputs`), one dedicated thread per instance, counters registered with
//! the live metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tokio::sync::mpsc;
use tributary_plugin_sdk::{Sink, Transform};

use super::instances::Instances;
use crate::config::{ComponentKind, Pipeline};
use crate::error::{EngineError, Result};
use crate::graph::{Envelope, Event, Fanout, Stats, run_sink, run_transform};
use crate::metrics::LiveMetrics;

/// An instance with its role.
enum Instance {
    Transform(Box<dyn Transform>),
    Sink(Box<dyn Sink>),
}

/// The graph, running.
pub(super) struct Graph {
    /// One thread per instance.
    pub threads: Vec<std::thread::JoinHandle<()>>,
    /// `transforms.<name>` / `sinks.<name>` → (type, counters).
    pub stats: BTreeMap<String, (String, Arc<Stats>)>,
    /// Where the source's batches go.
    pub source_out: Fanout,
    /// What components report (acks, closes, failures).
    pub events: mpsc::UnboundedReceiver<Event>,
    /// For the source bridge, which reports the source's windows.
    pub events_tx: mpsc::UnboundedSender<Event>,
}

/// Wires the channels and starts every instance on its own thread.
///
/// # Errors
/// When a thread cannot be started.
pub(super) fn start(
    pipeline: &Pipeline,
    instances: Instances,
    source_name: &str,
    metrics: &LiveMetrics,
) -> Result<Graph> {
    let cap = pipeline.header.engine.channel_capacity.max(1);
    let mut rxs: HashMap<String, (mpsc::Receiver<Envelope>, usize)> = HashMap::new();
    let mut fanouts: HashMap<String, Fanout> = HashMap::new();
    for spec in pipeline.transforms.iter().chain(pipeline.sinks.iter()) {
        let (tx, rx) = mpsc::channel::<Envelope>(cap);
        for (edge, input) in spec.inputs.iter().enumerate() {
            fanouts
                .entry(input.component.clone())
                .or_default()
                .ports
                .entry(input.output.clone())
                .or_default()
                .push((tx.clone(), edge));
        }
        rxs.insert(spec.name.clone(), (rx, spec.inputs.len()));
    }
    let (events_tx, events) = mpsc::unbounded_channel::<Event>();
    let all = instances
        .transforms
        .into_iter()
        .map(|(n, t)| (ComponentKind::Transform, n, Instance::Transform(t)))
        .chain(
            instances
                .sinks
                .into_iter()
                .map(|(n, s)| (ComponentKind::Sink, n, Instance::Sink(s))),
        );
    let mut threads = Vec::new();
    let mut stats = BTreeMap::new();
    for (kind, name, instance) in all {
        let (rx, edges) = rxs
            .remove(&name)
            .ok_or_else(|| EngineError::Runtime(format!("internal: no channel for {name}")))?;
        let type_name = pipeline
            .transforms
            .iter()
            .chain(pipeline.sinks.iter())
            .find(|s| s.name == name && s.kind == kind)
            .map(|s| s.type_name.clone())
            .unwrap_or_default();
        let component = format!("{}.{name}", kind.section());
        let st = Arc::new(Stats::default());
        metrics.component(&component, &type_name, Arc::clone(&st));
        stats.insert(component, (type_name, Arc::clone(&st)));
        let ev = events_tx.clone();
        let (thread_name, body): (String, Box<dyn FnOnce() + Send>) = match instance {
            Instance::Transform(t) => {
                let out = fanouts.remove(&name).unwrap_or_default();
                let n = name.clone();
                (
                    format!("transform-{name}"),
                    Box::new(move || run_transform(n, t, rx, edges, out, ev, st)),
                )
            }
            Instance::Sink(s) => {
                let n = name.clone();
                (
                    format!("sink-{name}"),
                    Box::new(move || run_sink(n, s, rx, edges, ev, st)),
                )
            }
        };
        threads.push(
            std::thread::Builder::new()
                .name(thread_name)
                .spawn(body)
                .map_err(|e| EngineError::Runtime(format!("cannot start a thread: {e}")))?,
        );
    }
    let source_out = fanouts.remove(source_name).unwrap_or_default();
    Ok(Graph {
        threads,
        stats,
        source_out,
        events,
        events_tx,
    })
}

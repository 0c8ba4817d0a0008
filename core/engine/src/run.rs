//! Running a validated pipeline: plan, create plugin instances, wire the graph, stream,
//! checkpoint each window once every sink acknowledged it, audit, summarise.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tributary_cxone::{CxoneSource, SourceEvent, Window};
use tributary_plugin_sdk::{Checkpoint, CreateContext, LandedFile, Sink, Transform};

use crate::audit::AuditLog;
use crate::config::{ComponentKind, Pipeline};
use crate::error::{EngineError, Result};
use crate::graph::{Envelope, Event, Fanout, Stats, run_sink, run_transform};
use crate::plugins::Registry;
use crate::state::{RunRecord, StateStore, WindowRecord};

/// A shard: the `index`-th (0-based) of `count` disjoint parts of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Shard {
    /// 0-based index.
    pub index: u32,
    /// Number of shards.
    pub count: u32,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not K/N (e.g. 0/4)"))?;
        let index: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("shard index `{k}` is not a number"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("shard count `{n}` is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!(
                "shard {index}/{count}: the index is 0-based and must be below the count"
            ));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether window number `i` of the plan belongs to this shard.
    pub fn owns(&self, i: usize) -> bool {
        i % self.count as usize == self.index as usize
    }
    /// The suffix of this shard's state keys (`-shard-0-of-3`).
    pub fn suffix(&self) -> String {
        format!("-shard-{}-of-{}", self.index, self.count)
    }

    /// The shard a state key suffix names (the inverse of [`Shard::suffix`]).
    pub fn from_suffix(suffix: &str) -> Option<Shard> {
        let (k, n) = suffix.strip_prefix("-shard-")?.split_once("-of-")?;
        format!("{k}/{n}").parse().ok()
    }
}

/// Progress callbacks (the CLI draws bars from them).
pub trait Progress: Send + Sync {
    /// The plan is known.
    fn planned(&self, _windows: usize, _skipped: usize) {}
    /// Records read by the source so far.
    fn records(&self, _total: u64) {}
    /// A window was landed everywhere.
    fn window_done(&self, _window: &Window, _records: u64) {}
}

/// No progress output.
pub struct NoProgress;
impl Progress for NoProgress {}

/// How to run.
pub struct RunOptions {
    /// Skip windows already landed by an earlier run, reusing its run id.
    pub resume: bool,
    /// Run only one shard of the plan.
    pub shard: Option<Shard>,
    /// "Today" for relative date ranges (defaults to the current UTC date).
    pub today: Option<NaiveDate>,
    /// Flips to true to stop the run (SIGINT/SIGTERM).
    pub cancel: watch::Receiver<bool>,
    /// Progress callbacks.
    pub progress: Arc<dyn Progress>,
    /// Live metrics, for `--metrics-addr`.
    pub metrics: Arc<crate::metrics::LiveMetrics>,
    /// Take the pipeline's lease even when another run holds it (`--force-unlock`).
    pub force_unlock: bool,
    /// Sink instances the caller supplies for sinks of the pipeline, by name, used instead
    /// of a plugin's (`tributary tap` prints records through one).
    pub provided_sinks: HashMap<String, Box<dyn Sink>>,
}

/// Per-component figures in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentSummary {
    /// `sources.cxone`, `sinks.lake`, …
    pub component: String,
    /// Its type.
    pub type_name: String,
    /// Records in.
    pub records_in: u64,
    /// Records out.
    pub records_out: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunSummary {
    /// The pipeline.
    pub pipeline: String,
    /// The run id.
    pub run_id: String,
    /// `succeeded`, `failed`, `interrupted`.
    pub status: String,
    /// Windows in this run's plan (after sharding and resume).
    pub windows_planned: usize,
    /// Windows skipped because an earlier run landed them.
    pub windows_skipped: usize,
    /// Windows landed everywhere.
    pub windows_done: usize,
    /// Records read from the source.
    pub records: u64,
    /// Per component.
    pub components: Vec<ComponentSummary>,
    /// Run-level metrics reported by transforms at close (integrity rate, …), by component.
    pub transform_metrics: BTreeMap<String, serde_json::Value>,
    /// Source metrics (requests, retries, 429s, latency percentiles).
    pub source_metrics: serde_json::Value,
    /// Wall time in seconds.
    pub wall_secs: f64,
    /// Records per second (source).
    pub records_per_sec: f64,
    /// Files landed, by sink.
    pub files: BTreeMap<String, Vec<LandedFile>>,
    /// Where each sink wrote (its URL or path key).
    pub outputs: BTreeMap<String, String>,
    /// The error, if the run failed.
    pub error: Option<String>,
}

struct WindowState {
    report: Option<tributary_cxone::WindowReport>,
    sink_acks: usize,
    files: Vec<serde_json::Value>,
    metrics: serde_json::Map<String, serde_json::Value>,
}

fn sink_output(spec: &crate::config::ComponentSpec) -> String {
    ["url", "path"]
        .iter()
        .find_map(|k| {
            spec.config
                .get(*k)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .unwrap_or_default()
}

/// Plans the windows of the pipeline's source (after incremental cursor and sharding).
///
/// # Errors
/// When the source's date range cannot be planned or the state store cannot be read.
pub async fn plan(
    pipeline: &Pipeline,
    today: NaiveDate,
    shard: Option<Shard>,
) -> Result<Vec<Window>> {
    let (spec, cfg) = pipeline
        .sources
        .first()
        .ok_or_else(|| EngineError::Usage("the pipeline has no source".into()))?;
    let state = StateStore::open(&pipeline.header.state.url, &pipeline.header.name)?;
    // Reporting runs always cover the whole range (an old contact can be updated later);
    // their incremental state is the `updatedSince` bookmark instead.
    let cursor = if cfg.incremental && cfg.api != tributary_cxone::ApiDialect::Reporting {
        state
            .cursor(&spec.name)
            .await?
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(&c).ok())
            .map(|d| d.with_timezone(&Utc))
    } else {
        None
    };
    let windows = tributary_cxone::plan(cfg, today, cursor).map_err(|e| EngineError::Source {
        component: format!("sources.{}", spec.name),
        message: e.to_string(),
    })?;
    Ok(windows
        .into_iter()
        .enumerate()
        .filter(|(i, _)| shard.is_none_or(|s| s.owns(*i)))
        .map(|(_, w)| w)
        .collect())
}

/// Runs a pipeline. Always returns a summary; the error says why it did not succeed.
pub async fn run(
    pipeline: &Pipeline,
    registry: &Registry,
    opts: RunOptions,
) -> (RunSummary, Result<()>) {
    let started = Instant::now();
    let mut summary = RunSummary {
        pipeline: pipeline.header.name.clone(),
        run_id: String::new(),
        status: "failed".into(),
        windows_planned: 0,
        windows_skipped: 0,
        windows_done: 0,
        records: 0,
        components: Vec::new(),
        transform_metrics: BTreeMap::new(),
        source_metrics: serde_json::Value::Null,
        wall_secs: 0.0,
        records_per_sec: 0.0,
        files: BTreeMap::new(),
        outputs: pipeline
            .sinks
            .iter()
            .map(|s| (s.name.clone(), sink_output(s)))
            .collect(),
        error: None,
    };
    let result = match begin(pipeline, &opts).await {
        Ok((run_id, lease)) => {
            summary.run_id = run_id.clone();
            let r = run_inner(pipeline, registry, opts, &mut summary, &run_id, &lease).await;
            lease.release().await;
            r
        }
        Err(e) => Err(e),
    };
    summary.wall_secs = started.elapsed().as_secs_f64();
    summary.records_per_sec = if summary.wall_secs > 0.0 {
        summary.records as f64 / summary.wall_secs
    } else {
        0.0
    };
    summary.status = match &result {
        Ok(()) => "succeeded".into(),
        Err(EngineError::Interrupted) => "interrupted".into(),
        Err(_) => "failed".into(),
    };
    if let Err(e) = &result {
        summary.error = Some(e.to_string());
    }
    (summary, result)
}

/// The run id (reused when resuming an unfinished run) and the pipeline's (or shard's)
/// lease, taken before anything is written.
async fn begin(pipeline: &Pipeline, opts: &RunOptions) -> Result<(String, crate::lease::Lease)> {
    let header = &pipeline.header;
    let state = StateStore::open(&header.state.url, &header.name)?;
    let shard_key = opts.shard.map(|s| s.suffix()).unwrap_or_default();
    let previous = state.run(&shard_key).await?;
    let run_id = match (&previous, opts.resume) {
        (Some(r), true) if r.status != "succeeded" => r.run_id.clone(),
        _ => format!(
            "{}-{}",
            Utc::now().format("%Y%m%dT%H%M%SZ"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ),
    };
    let lease = state.lease(&shard_key, &run_id, opts.force_unlock).await?;
    Ok((run_id, lease))
}

async fn run_inner(
    pipeline: &Pipeline,
    registry: &Registry,
    mut opts: RunOptions,
    summary: &mut RunSummary,
    run_id: &str,
    lease: &crate::lease::Lease,
) -> Result<()> {
    let header = &pipeline.header;
    let (source_spec, source_cfg) = pipeline
        .sources
        .first()
        .ok_or_else(|| EngineError::Usage("the pipeline has no source".into()))?;
    if pipeline.sources.len() > 1 {
        return Err(EngineError::Usage("this version runs one source per pipeline; split the pipeline into one file per source".into()));
    }
    let state = StateStore::open(&header.state.url, &header.name)?;
    let shard_key = opts.shard.map(|s| s.suffix()).unwrap_or_default();

    let run_id = run_id.to_string();
    if !opts.resume && opts.shard.is_none() {
        state.clear_windows().await?;
    }
    let started_at = Utc::now().to_rfc3339();
    state
        .put_run(
            &shard_key,
            &RunRecord {
                run_id: run_id.clone(),
                status: "running".into(),
                started_at: started_at.clone(),
                ended_at: None,
                shard: opts.shard.map(|s| format!("{}/{}", s.index, s.count)),
            },
        )
        .await?;

    // Plan.
    let today = opts.today.unwrap_or_else(|| Utc::now().date_naive());
    let all = plan(pipeline, today, opts.shard).await?;
    let reporting_incremental =
        source_cfg.incremental && source_cfg.api == tributary_cxone::ApiDialect::Reporting;
    let bookmark_before = if reporting_incremental {
        state.bookmark(&source_spec.name).await?
    } else {
        None
    };
    // An incremental reporting run covers the same windows as the last one but lands only
    // the rows updated since its bookmark: its windows get their own keys, so the sinks add
    // files instead of replacing the last run's, and a resumed increment still overwrites
    // its own partial files.
    let tag: Option<String> = bookmark_before
        .as_ref()
        .map(|b| b.chars().filter(|c| c.is_ascii_alphanumeric()).collect());
    let key = {
        let tag = tag.clone();
        move |w: &Window| match &tag {
            Some(t) => format!("{}-u{t}", w.id()),
            None => w.id(),
        }
    };
    let done = if opts.resume {
        state.completed_windows().await?
    } else {
        Default::default()
    };
    let windows: Vec<Window> = all
        .iter()
        .filter(|w| !done.contains(&key(w)))
        .copied()
        .collect();
    summary.windows_planned = windows.len();
    summary.windows_skipped = all.len() - windows.len();
    opts.progress
        .planned(windows.len(), summary.windows_skipped);
    let plan_end = all.last().map(|w| w.end);

    // Audit.
    let mut audit = match &header.audit {
        Some(a) => Some(AuditLog::open(Path::new(&a.path), a.key.clone())?),
        None => None,
    };
    let plugins_audit: Vec<serde_json::Value> = pipeline
        .transforms
        .iter()
        .chain(pipeline.sinks.iter())
        .filter_map(|s| registry.get(&s.type_name).map(|l| (s, l)))
        .map(|(s, l)| {
            let m = l.meta();
            serde_json::json!({"component": s.name, "plugin": m.name, "version": m.version, "abi_version": m.abi_version, "path": m.path, "sha256": m.sha256()})
        })
        .collect();
    let cursor_before = if source_cfg.incremental {
        state.cursor(&source_spec.name).await?
    } else {
        None
    };
    if let Some(a) = audit.as_mut() {
        a.append(obj(serde_json::json!({
            "kind": "run_start", "ts": Utc::now().to_rfc3339(), "pipeline": header.name, "run_id": run_id,
            "config_sha256": pipeline.config_hash, "plugins": plugins_audit, "resume": opts.resume,
            "shard": opts.shard.map(|s| format!("{}/{}", s.index, s.count)), "cursor_before": cursor_before,
            "windows_planned": windows.len(), "windows_skipped": summary.windows_skipped,
        })))?;
    }

    // Simulator, when the source asks for the built-in one.
    let mut sim_handle = None;
    let mut base_override = None;
    if let Some(sim_cfg) = &source_cfg.simulator {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let h = tributary_cxone_sim::Simulator::start(sim_cfg.clone(), addr)
            .await
            .map_err(|e| EngineError::Source {
                component: format!("sources.{}", source_spec.name),
                message: format!("cannot start the built-in simulator: {e}"),
            })?;
        base_override = Some(h.base_url());
        sim_handle = Some(h);
    }
    let mut effective_cfg = source_cfg.clone();
    if let Some(b) = &bookmark_before {
        effective_cfg.reporting.updated_since = Some(b.clone());
    }
    let source =
        CxoneSource::new(effective_cfg, base_override).map_err(|e| EngineError::Source {
            component: format!("sources.{}", source_spec.name),
            message: e.to_string(),
        })?;
    let source = Arc::new(source);
    opts.metrics
        .begin(&header.name, &source_spec.name, source.metrics());
    opts.metrics
        .windows_planned
        .store(windows.len() as u64, Ordering::Relaxed);

    // Instances.
    let data_root = Path::new(&header.state.url).join("..").join("data");
    let shard_name = opts
        .shard
        .map(|s| format!("{}-of-{}", s.index, s.count))
        .unwrap_or_default();
    // Shards running side by side on one machine get a data directory each.
    let instance_dir = |name: &str| {
        if shard_name.is_empty() {
            name.to_string()
        } else {
            format!("{name}-shard-{shard_name}")
        }
    };
    let ctx_for = |name: &str| CreateContext {
        component: name.to_string(),
        pipeline: header.name.clone(),
        data_dir: if header.state.url.contains("://") {
            format!(".tributary/data/{}/{}", header.name, instance_dir(name))
        } else {
            data_root
                .join(&header.name)
                .join(instance_dir(name))
                .display()
                .to_string()
        },
        resume: opts.resume,
        run_id: run_id.clone(),
        shard: shard_name.clone(),
    };
    let mut transforms: Vec<(String, Box<dyn Transform>)> = Vec::new();
    for spec in &pipeline.transforms {
        let lib = registry
            .get(&spec.type_name)
            .ok_or_else(|| EngineError::Usage(format!("no plugin `{}`", spec.type_name)))?;
        let t = lib
            .create_transform(&spec.config, &ctx_for(&spec.name))
            .map_err(|e| EngineError::Plugin {
                component: format!("transforms.{}", spec.name),
                source: e,
            })?;
        transforms.push((spec.name.clone(), Box::new(t)));
    }
    let mut sinks: Vec<(String, Box<dyn Sink>)> = Vec::new();
    for spec in &pipeline.sinks {
        if let Some(s) = opts.provided_sinks.remove(&spec.name) {
            sinks.push((spec.name.clone(), s));
            continue;
        }
        let lib = registry
            .get(&spec.type_name)
            .ok_or_else(|| EngineError::Usage(format!("no plugin `{}`", spec.type_name)))?;
        let mut s = lib
            .create_sink(&spec.config, &ctx_for(&spec.name))
            .map_err(|e| EngineError::Plugin {
                component: format!("sinks.{}", spec.name),
                source: e,
            })?;
        s.healthcheck().map_err(|e| EngineError::Plugin {
            component: format!("sinks.{}", spec.name),
            source: e,
        })?;
        sinks.push((spec.name.clone(), Box::new(s)));
    }

    // Channels: one per transform/sink; an edge per input entry.
    let cap = header.engine.channel_capacity.max(1);
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
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel::<Event>();
    let mut stats: BTreeMap<String, (String, String, Arc<Stats>)> = BTreeMap::new();
    let mut threads = Vec::new();
    for (name, t) in transforms {
        let (rx, edges) = rxs
            .remove(&name)
            .ok_or_else(|| EngineError::Runtime(format!("internal: no channel for {name}")))?;
        let out = fanouts.remove(&name).unwrap_or_default();
        let st = Arc::new(Stats::default());
        let type_name = pipeline
            .transforms
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.type_name.clone())
            .unwrap_or_default();
        opts.metrics
            .component(&format!("transforms.{name}"), &type_name, Arc::clone(&st));
        stats.insert(
            format!("transforms.{name}"),
            (name.clone(), type_name, Arc::clone(&st)),
        );
        let ev = ev_tx.clone();
        let n = name.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("transform-{name}"))
                .spawn(move || run_transform(n, t, rx, edges, out, ev, st))
                .map_err(|e| EngineError::Runtime(format!("cannot start a thread: {e}")))?,
        );
    }
    for (name, s) in sinks {
        let (rx, edges) = rxs
            .remove(&name)
            .ok_or_else(|| EngineError::Runtime(format!("internal: no channel for {name}")))?;
        let st = Arc::new(Stats::default());
        let type_name = pipeline
            .sinks
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.type_name.clone())
            .unwrap_or_default();
        opts.metrics
            .component(&format!("sinks.{name}"), &type_name, Arc::clone(&st));
        stats.insert(
            format!("sinks.{name}"),
            (name.clone(), type_name, Arc::clone(&st)),
        );
        let ev = ev_tx.clone();
        let n = name.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("sink-{name}"))
                .spawn(move || run_sink(n, s, rx, edges, ev, st))
                .map_err(|e| EngineError::Runtime(format!("cannot start a thread: {e}")))?,
        );
    }
    let source_out = fanouts.remove(&source_spec.name).unwrap_or_default();
    drop(rxs);
    drop(fanouts);

    // Every component exists and every sink passed its health check.
    opts.metrics.ready.store(true, Ordering::Relaxed);

    // Source → graph bridge.
    let source_stats = Arc::new(Stats::default());
    opts.metrics.component(
        &format!("sources.{}", source_spec.name),
        "cxone",
        Arc::clone(&source_stats),
    );
    let source_component = format!("sources.{}", source_spec.name);
    let bridge = {
        let source = Arc::clone(&source);
        let ev = ev_tx.clone();
        let st = Arc::clone(&source_stats);
        let mut cancel = opts.cancel.clone();
        let progress = Arc::clone(&opts.progress);
        let run_id = run_id.clone();
        let component = source_component.clone();
        let windows = windows.clone();
        let key = key.clone();
        tokio::spawn(async move {
            let (stx, mut srx) = mpsc::channel::<SourceEvent>(cap);
            let src = Arc::clone(&source);
            let producer = tokio::spawn(async move { src.run(windows, stx).await });
            let mut interrupted = false;
            loop {
                let ev_next = tokio::select! {
                    biased;
                    changed = cancel.changed() => {
                        if changed.is_err() || *cancel.borrow() { interrupted = true; break; }
                        continue;
                    }
                    e = srx.recv() => e,
                };
                let Some(event) = ev_next else { break };
                match event {
                    SourceEvent::WindowStart(_) => {}
                    SourceEvent::Batch(b) => {
                        let total = st
                            .records_out
                            .fetch_add(b.num_rows() as u64, Ordering::Relaxed)
                            + b.num_rows() as u64;
                        progress.records(total);
                        if source_out.send(&b).await.is_err() {
                            break;
                        }
                    }
                    SourceEvent::WindowEnd(report) => {
                        let cp = Arc::new(Checkpoint {
                            run_id: run_id.clone(),
                            window_id: key(&report.window),
                            window_start: report.window.start.to_rfc3339(),
                            window_end: report.window.end.to_rfc3339(),
                        });
                        let _ = ev.send(Event::SourceWindow(report));
                        if source_out.end(&cp).await.is_err() {
                            break;
                        }
                    }
                }
            }
            drop(source_out);
            if interrupted {
                producer.abort();
                return Err(EngineError::Interrupted);
            }
            drop(srx);
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
    };
    drop(ev_tx);

    // Coordinator.
    let n_sinks = pipeline.sinks.len();
    let mut states: HashMap<String, WindowState> = HashMap::new();
    let mut first_error: Option<EngineError> = None;
    let mut max_bookmark: Option<String> = None;
    let mut closed_acks: BTreeMap<String, tributary_plugin_sdk::Ack> = BTreeMap::new();
    while let Some(event) = ev_rx.recv().await {
        match event {
            Event::SourceWindow(report) => {
                if let Some(b) = &report.bookmark {
                    let newer = match (&max_bookmark, chrono::DateTime::parse_from_rfc3339(b)) {
                        (None, Ok(_)) => true,
                        (Some(cur), Ok(new)) => chrono::DateTime::parse_from_rfc3339(cur)
                            .map(|c| new > c)
                            .unwrap_or(true),
                        (_, Err(_)) => false,
                    };
                    if newer {
                        max_bookmark = Some(b.clone());
                    }
                }
                let id = key(&report.window);
                states
                    .entry(id)
                    .or_insert_with(|| WindowState {
                        report: None,
                        sink_acks: 0,
                        files: Vec::new(),
                        metrics: Default::default(),
                    })
                    .report = Some(report);
            }
            Event::Ack {
                component,
                kind,
                window_id,
                ack,
            } => {
                let ws = states
                    .entry(window_id.clone())
                    .or_insert_with(|| WindowState {
                        report: None,
                        sink_acks: 0,
                        files: Vec::new(),
                        metrics: Default::default(),
                    });
                match kind {
                    ComponentKind::Sink => {
                        ws.sink_acks += 1;
                        for f in &ack.files {
                            ws.files.push(serde_json::json!({"sink": component, "path": f.path, "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256}));
                        }
                        summary
                            .files
                            .entry(component.clone())
                            .or_default()
                            .extend(ack.files.clone());
                        if !ack.metrics.is_empty() {
                            ws.metrics.insert(
                                component.clone(),
                                serde_json::Value::Object(ack.metrics.clone()),
                            );
                        }
                    }
                    _ => {
                        ws.metrics.insert(
                            component.clone(),
                            serde_json::Value::Object(ack.metrics.clone()),
                        );
                    }
                }
                if ws.sink_acks >= n_sinks && ws.report.is_some() && first_error.is_none() {
                    if let Some(ws) = states.remove(&window_id) {
                        let report = ws.report.as_ref();
                        let (w, records) = match report {
                            Some(r) => (r.window, r.records),
                            None => continue,
                        };
                        if lease.lost() {
                            return Err(EngineError::LeaseLost);
                        }
                        state
                            .mark_window(&WindowRecord {
                                window_id: key(&w),
                                start: w.start.to_rfc3339(),
                                end: w.end.to_rfc3339(),
                                records,
                                run_id: run_id.clone(),
                                completed_at: Utc::now().to_rfc3339(),
                            })
                            .await?;
                        if let Some(a) = audit.as_mut() {
                            a.append(obj(serde_json::json!({
                                "kind": "window", "ts": Utc::now().to_rfc3339(), "pipeline": header.name, "run_id": run_id,
                                "window": {"id": key(&w), "start": w.start.to_rfc3339(), "end": w.end.to_rfc3339()},
                                "source": report, "components": ws.metrics, "files": ws.files,
                            })))?;
                        }
                        summary.windows_done += 1;
                        opts.metrics.windows_done.fetch_add(1, Ordering::Relaxed);
                        opts.progress.window_done(&w, records);
                    }
                }
            }
            Event::Closed {
                component,
                kind,
                ack,
            } => {
                if kind == ComponentKind::Sink {
                    summary
                        .files
                        .entry(component.clone())
                        .or_default()
                        .extend(ack.files.clone());
                }
                if kind == ComponentKind::Transform && !ack.metrics.is_empty() {
                    summary.transform_metrics.insert(
                        component.clone(),
                        serde_json::Value::Object(ack.metrics.clone()),
                    );
                }
                closed_acks.insert(component, ack);
            }
            Event::Failed { error, .. } => {
                if first_error.is_none() {
                    first_error = Some(error);
                }
            }
        }
    }
    let bridge_result = bridge
        .await
        .unwrap_or_else(|e| Err(EngineError::Runtime(format!("source bridge failed: {e}"))));
    let _ = tokio::task::spawn_blocking(move || {
        for t in threads {
            let _ = t.join();
        }
    })
    .await;
    if let Some(h) = sim_handle {
        h.shutdown().await;
    }

    summary.records = source_stats.records_out.load(Ordering::Relaxed);
    summary.components.push(ComponentSummary {
        component: source_component,
        type_name: "cxone".into(),
        records_in: 0,
        records_out: summary.records,
    });
    for (component, (_, type_name, st)) in &stats {
        summary.components.push(ComponentSummary {
            component: component.clone(),
            type_name: type_name.clone(),
            records_in: st.records_in.load(Ordering::Relaxed),
            records_out: st.records_out.load(Ordering::Relaxed),
        });
    }
    summary.source_metrics = serde_json::to_value(source.metrics().snapshot()).unwrap_or_default();

    // The first error wins: a plugin failure explains a source that stopped because of it.
    let result = match (first_error, bridge_result) {
        (Some(e), _) => Err(e),
        (None, Err(e)) => Err(e),
        (None, Ok(())) if summary.windows_done < windows.len() => {
            Err(EngineError::Runtime(format!(
                "only {} of {} windows were acknowledged by every sink; run again with --resume",
                summary.windows_done,
                windows.len()
            )))
        }
        (None, Ok(())) => Ok(()),
    };
    let status = match &result {
        Ok(()) => "succeeded",
        Err(EngineError::Interrupted) => "interrupted",
        Err(_) => "failed",
    };
    if result.is_ok() && reporting_incremental && opts.shard.is_none() {
        if let Some(b) = &max_bookmark {
            state.put_bookmark(&source_spec.name, b).await?;
        }
    }
    if result.is_ok() && source_cfg.incremental && !reporting_incremental && opts.shard.is_none() {
        if let Some(end) = plan_end {
            state
                .put_cursor(&source_spec.name, &end.to_rfc3339())
                .await?;
        }
    }
    state
        .put_run(
            &shard_key,
            &RunRecord {
                run_id: run_id.clone(),
                status: status.into(),
                started_at,
                ended_at: Some(Utc::now().to_rfc3339()),
                shard: opts.shard.map(|s| format!("{}/{}", s.index, s.count)),
            },
        )
        .await?;
    if let Some(a) = audit.as_mut() {
        a.append(obj(serde_json::json!({
            "kind": "run_end", "ts": Utc::now().to_rfc3339(), "pipeline": header.name, "run_id": run_id, "status": status,
            "error": result.as_ref().err().map(|e| e.to_string()), "windows_done": summary.windows_done, "records": summary.records,
            "cursor_before": cursor_before, "cursor_after": plan_end.map(|e| e.to_rfc3339()),
            "bookmark_before": bookmark_before, "bookmark_after": max_bookmark.clone().or(bookmark_before.clone()),
            "transforms": summary.transform_metrics, "source_metrics": summary.source_metrics,
        })))?;
        if let Some(url) = header.audit.as_ref().and_then(|c| c.url.as_ref()) {
            copy_audit(a.path(), url).await?;
        }
    }
    result
}

fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}

async fn copy_audit(path: &Path, url: &str) -> Result<()> {
    use object_store::ObjectStoreExt;
    let loc = crate::store::open(url)?;
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| EngineError::Audit {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
    for name in ["audit.jsonl", "audit.head"] {
        let data = if name == "audit.jsonl" {
            bytes.clone()
        } else {
            tokio::fs::read(crate::audit::head_path(path))
                .await
                .unwrap_or_default()
        };
        loc.store
            .put(
                &loc.child(name),
                object_store::PutPayload::from(bytes::Bytes::from(data)),
            )
            .await
            .map_err(|e| EngineError::Store {
                url: url.to_string(),
                message: e.to_string(),
            })?;
    }
    Ok(())
}

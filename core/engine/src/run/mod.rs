//! Running a validated pipeline, in named stages: [`begin`] (run id, lease), record the
//! start, plan (the source's windows after what earlier runs saved, the shard, `--resume`),
//! open the source, create the instances ([`instances`]), start the graph ([`wiring`]),
//! bridge the source into it ([`bridge`]), checkpoint each window once every sink
//! acknowledged it ([`coordinator`]), and finish (save the source's state, the run record,
//! the audit entry, the summary).

mod bridge;
mod coordinator;
pub mod events;
mod instances;
mod types;
mod wiring;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use chrono::{NaiveDate, Utc};
use tributary_source::{SavedState, Source, Window};

use crate::audit::AuditLog;
use crate::config::{Pipeline, SourceSpec};
use crate::error::{EngineError, Result};
use crate::lease::Lease;
use crate::plugins::Registry;
pub use crate::shard::Shard;
use crate::source::{saved_state, shard_of, source_error};
use crate::state::{RunRecord, StateStore};
use events::AuditEvent;
pub use types::{ComponentSummary, NoProgress, Progress, RunOptions, RunStatus, RunSummary};

/// Plans the windows of the pipeline's source (see [`crate::source::plan`]).
///
/// # Errors
/// When the source cannot be created or planned, or the state store cannot be read.
pub async fn plan(
    pipeline: &Pipeline,
    today: NaiveDate,
    shard: Option<Shard>,
) -> Result<Vec<Window>> {
    crate::source::plan(pipeline, today, shard).await
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

/// Runs a pipeline. Always returns a summary; the error says why it did not succeed.
pub async fn run(
    pipeline: &Pipeline,
    registry: &Registry,
    opts: RunOptions,
) -> (RunSummary, Result<()>) {
    let started = Instant::now();
    let mut summary = RunSummary {
        pipeline: pipeline.header.name.clone(),
        outputs: pipeline
            .sinks
            .iter()
            .map(|s| (s.name.clone(), sink_output(s)))
            .collect(),
        ..RunSummary::default()
    };
    let result = match begin(pipeline, &opts).await {
        Ok((run_id, lease)) => {
            summary.run_id = run_id.clone();
            let r = run_leased(pipeline, registry, opts, &mut summary, &run_id, &lease).await;
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
    summary.status = RunStatus::of(&result);
    if let Err(e) = &result {
        summary.error = Some(e.to_string());
    }
    (summary, result)
}

/// The run id (reused when resuming an unfinished run) and the pipeline's (or shard's)
/// lease, taken before anything is written.
async fn begin(pipeline: &Pipeline, opts: &RunOptions) -> Result<(String, Lease)> {
    let header = &pipeline.header;
    let state = StateStore::open(&header.state.url, &header.name)?;
    let shard_key = opts.shard.map(|s| s.suffix()).unwrap_or_default();
    let previous = state.run(&shard_key).await?;
    let run_id = match (&previous, opts.resume) {
        (Some(r), true) if r.status != RunStatus::Succeeded.as_str() => r.run_id.clone(),
        _ => format!(
            "{}-{}",
            Utc::now().format("%Y%m%dT%H%M%SZ"),
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ),
    };
    let lease = state.lease(&shard_key, &run_id, opts.force_unlock).await?;
    Ok((run_id, lease))
}

/// What one run works with, once it holds its lease.
struct Ctx<'a> {
    pipeline: &'a Pipeline,
    spec: &'a SourceSpec,
    state: StateStore,
    run_id: &'a str,
    shard: Option<Shard>,
    saved: SavedState,
    started_at: String,
}

impl Ctx<'_> {
    fn shard_key(&self) -> String {
        self.shard.map(|s| s.suffix()).unwrap_or_default()
    }

    async fn put_run(&self, status: RunStatus, ended: bool) -> Result<()> {
        let record = RunRecord {
            run_id: self.run_id.to_string(),
            status: status.as_str().into(),
            started_at: self.started_at.clone(),
            ended_at: ended.then(|| Utc::now().to_rfc3339()),
            shard: self.shard.map(|s| s.to_string()),
        };
        self.state.put_run(&self.shard_key(), &record).await
    }
}

/// The plan of a run: every window of the (shard's) plan, and those this run reads.
struct Plan {
    all: Vec<Window>,
    windows: Vec<Window>,
}

async fn run_leased(
    pipeline: &Pipeline,
    registry: &Registry,
    mut opts: RunOptions,
    summary: &mut RunSummary,
    run_id: &str,
    lease: &Lease,
) -> Result<()> {
    let header = &pipeline.header;
    let spec = crate::source::only_source(pipeline)?;
    let state = StateStore::open(&header.state.url, &header.name)?;
    if !opts.resume && opts.shard.is_none() {
        state.clear_windows().await?;
    }
    let saved = saved_state(&state, &spec.spec.name).await?;
    let ctx = Ctx {
        pipeline,
        spec,
        state,
        run_id,
        shard: opts.shard,
        saved,
        started_at: Utc::now().to_rfc3339(),
    };
    ctx.put_run(RunStatus::Running, false).await?;

    // From here on, a failure is recorded in the run record before it is returned.
    let prepared = prepare(&ctx, registry, &opts, summary).await;
    let (mut source, plan, mut audit) = match prepared {
        Ok(p) => p,
        Err(e) => {
            ctx.put_run(RunStatus::Failed, true).await?;
            return Err(e);
        }
    };
    let outcome = match source.open().await {
        Ok(()) => {
            let stage = Stage {
                ctx: &ctx,
                registry,
                lease,
                source: source.as_ref(),
                plan: &plan,
            };
            stage.run(&mut opts, summary, audit.as_mut()).await
        }
        Err(e) => Err(source_error(spec, e)),
    };
    source.close().await;
    finish(
        &ctx,
        summary,
        source.as_ref(),
        &plan,
        outcome,
        audit.as_mut(),
    )
    .await
}

/// Creates the source, plans, opens the audit log and writes its `run_start` entry.
async fn prepare(
    ctx: &Ctx<'_>,
    registry: &Registry,
    opts: &RunOptions,
    summary: &mut RunSummary,
) -> Result<(Box<dyn Source>, Plan, Option<AuditLog>)> {
    let header = &ctx.pipeline.header;
    let spec = ctx.spec;
    let source = crate::source::instantiate(ctx.pipeline, spec, ctx.saved.clone())?;
    let plan = plan_run(ctx, source.as_ref(), opts, summary).await?;
    let mut audit = match &header.audit {
        Some(a) => Some(AuditLog::open(
            std::path::Path::new(&a.path),
            a.key.clone(),
        )?),
        None => None,
    };
    // Only with an audit log: the entry hashes every plugin file (tens of MB).
    if audit.is_some() {
        events::append(audit.as_mut(), &run_start(ctx, registry, opts, summary))?;
    }
    Ok((source, plan, audit))
}

/// Plans: the source's windows of this shard, without those an earlier run landed when
/// resuming.
async fn plan_run(
    ctx: &Ctx<'_>,
    source: &dyn Source,
    opts: &RunOptions,
    summary: &mut RunSummary,
) -> Result<Plan> {
    let today = opts.today.unwrap_or_else(|| Utc::now().date_naive());
    let all = shard_of(
        source.plan(today).map_err(|e| source_error(ctx.spec, e))?,
        ctx.shard,
    );
    let done = match opts.resume {
        true => ctx.state.completed_windows().await?,
        false => Default::default(),
    };
    let windows: Vec<Window> = all
        .iter()
        .filter(|w| !done.contains(&w.id))
        .cloned()
        .collect();
    summary.windows_planned = windows.len();
    summary.windows_skipped = all.len() - windows.len();
    opts.progress
        .planned(windows.len(), summary.windows_skipped);
    Ok(Plan { all, windows })
}

fn run_start<'a>(
    ctx: &'a Ctx<'_>,
    registry: &Registry,
    opts: &RunOptions,
    summary: &RunSummary,
) -> AuditEvent<'a> {
    let p = ctx.pipeline;
    let plugins = p
        .transforms
        .iter()
        .chain(p.sinks.iter())
        .filter_map(|s| registry.get(&s.type_name).map(|l| (s, l.meta())))
        .map(|(s, m)| events::PluginUsed {
            component: s.name.clone(),
            plugin: m.name.clone(),
            version: m.version.clone(),
            abi_version: m.abi_version,
            path: m.path.display().to_string(),
            sha256: m.sha256().map(str::to_string),
        })
        .collect();
    AuditEvent::RunStart {
        pipeline: &p.header.name,
        run_id: ctx.run_id,
        config_sha256: &p.config_hash,
        plugins,
        resume: opts.resume,
        shard: ctx.shard.map(|s| s.to_string()),
        cursor_before: ctx.saved.cursor.as_deref(),
        bookmark_before: ctx.saved.bookmark.as_deref(),
        windows_planned: summary.windows_planned,
        windows_skipped: summary.windows_skipped,
    }
}

/// The streaming stage of a run, once its source is open.
struct Stage<'a> {
    ctx: &'a Ctx<'a>,
    registry: &'a Registry,
    lease: &'a Lease,
    source: &'a dyn Source,
    plan: &'a Plan,
}

impl Stage<'_> {
    /// Creates the instances, starts the graph and the source, and coordinates until every
    /// component closed. Returns the windows landed.
    async fn run(
        &self,
        opts: &mut RunOptions,
        summary: &mut RunSummary,
        audit: Option<&mut AuditLog>,
    ) -> Result<Vec<tributary_source::WindowEnd>> {
        let Stage {
            ctx,
            registry,
            lease,
            source,
            plan,
        } = *self;
        let header = &ctx.pipeline.header;
        let source_name = &ctx.spec.spec.name;
        opts.metrics
            .begin(&header.name, source_name, source.metrics());
        opts.metrics
            .windows_planned
            .store(plan.windows.len() as u64, Ordering::Relaxed);
        let base = instances::ContextBase {
            pipeline: ctx.pipeline,
            run_id: ctx.run_id,
            resume: opts.resume,
            shard: ctx.shard,
        };
        let created = instances::create(&base, registry, std::mem::take(&mut opts.provided_sinks))?;
        let graph = wiring::start(ctx.pipeline, created, source_name, &opts.metrics)?;
        // Every component exists and every sink passed its health check.
        opts.metrics.ready.store(true, Ordering::Relaxed);

        let source_component = format!("sources.{source_name}");
        let source_stats = Arc::new(crate::graph::Stats::default());
        let source_type = ctx.spec.factory.type_name();
        opts.metrics
            .component(&source_component, source_type, Arc::clone(&source_stats));
        let bridge = bridge::Bridge {
            component: source_component.clone(),
            run_id: ctx.run_id.to_string(),
            out: graph.source_out,
            events: graph.events_tx,
            stats: Arc::clone(&source_stats),
            cancel: opts.cancel.clone(),
            progress: Arc::clone(&opts.progress),
        };
        let (stx, srx) = tokio::sync::mpsc::channel(header.engine.channel_capacity.max(1));
        let bridge = bridge.spawn(srx, source.run(plan.windows.clone(), stx));

        let mut coordinator = coordinator::Coordinator::new(
            &header.name,
            ctx.run_id,
            ctx.pipeline.sinks.len(),
            &ctx.state,
            lease,
            audit,
            &opts.metrics,
            opts.progress.as_ref(),
            summary,
        );
        coordinator.run(graph.events).await?;
        let first_error = coordinator.first_error.take();
        let landed = std::mem::take(&mut coordinator.landed);
        drop(coordinator);

        let bridge_result = bridge
            .await
            .unwrap_or_else(|e| Err(EngineError::Runtime(format!("source bridge failed: {e}"))));
        let threads = graph.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for t in threads {
                let _ = t.join();
            }
        })
        .await;

        summary.records = source_stats.records_out.load(Ordering::Relaxed);
        summary.components.push(ComponentSummary {
            component: source_component,
            type_name: source_type.into(),
            records_in: 0,
            records_out: summary.records,
        });
        for (component, (type_name, st)) in &graph.stats {
            summary.components.push(ComponentSummary {
                component: component.clone(),
                type_name: type_name.clone(),
                records_in: st.records_in.load(Ordering::Relaxed),
                records_out: st.records_out.load(Ordering::Relaxed),
            });
        }
        summary.source_metrics = source.metrics().snapshot();

        // The first error wins: a plugin failure explains a source that stopped because of it.
        match (first_error, bridge_result) {
            (Some(e), _) => Err(e),
            (None, Err(e)) => Err(e),
            (None, Ok(())) if summary.windows_done < plan.windows.len() => {
                Err(EngineError::Runtime(format!(
                    "only {} of {} windows were acknowledged by every sink; run again with --resume",
                    summary.windows_done,
                    plan.windows.len()
                )))
            }
            (None, Ok(())) => Ok(landed),
        }
    }
}

/// Ends a run: saves what the source asks to keep (after a whole, successful plan), the
/// run record and the audit entry.
async fn finish(
    ctx: &Ctx<'_>,
    summary: &RunSummary,
    source: &dyn Source,
    plan: &Plan,
    outcome: Result<Vec<tributary_source::WindowEnd>>,
    audit: Option<&mut AuditLog>,
) -> Result<()> {
    if matches!(outcome, Err(EngineError::LeaseLost)) {
        // Another run holds the pipeline now: write nothing more.
        return outcome.map(|_| ());
    }
    let name = &ctx.spec.spec.name;
    let mut after = ctx.saved.clone();
    if let (Ok(landed), None) = (&outcome, ctx.shard) {
        let update = source.state_after_run(&plan.all, landed);
        if let Some(c) = &update.cursor {
            ctx.state.put_cursor(name, c).await?;
            after.cursor = Some(c.clone());
        }
        if let Some(b) = &update.bookmark {
            ctx.state.put_bookmark(name, b).await?;
            after.bookmark = Some(b.clone());
        }
    }
    let result = outcome.map(|_| ());
    let status = RunStatus::of(&result);
    ctx.put_run(status, true).await?;
    let header = &ctx.pipeline.header;
    let end = AuditEvent::RunEnd {
        pipeline: &header.name,
        run_id: ctx.run_id,
        status,
        error: result.as_ref().err().map(|e| e.to_string()),
        windows_done: summary.windows_done,
        records: summary.records,
        cursor_before: ctx.saved.cursor.as_deref(),
        cursor_after: after.cursor.as_deref(),
        bookmark_before: ctx.saved.bookmark.as_deref(),
        bookmark_after: after.bookmark.as_deref(),
        transforms: &summary.transform_metrics,
        source_metrics: &summary.source_metrics,
    };
    let audit_path = audit.as_ref().map(|a| a.path().to_path_buf());
    events::append(audit, &end)?;
    if let (Some(path), Some(url)) = (
        audit_path,
        header.audit.as_ref().and_then(|c| c.url.as_ref()),
    ) {
        events::copy_audit(&path, url).await?;
    }
    result
}

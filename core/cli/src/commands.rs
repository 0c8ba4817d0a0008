//! One function per subcommand.

use std::sync::Arc;

use anyhow::Context;
use tributary_engine::config::{self, ConfigErrors};
use tributary_engine::plugins::Registry;
use tributary_engine::run::{RunOptions, Shard};
use tributary_engine::{EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME, EngineError};
use tributary_plugin_sdk::abi::host::PluginLibrary;

use crate::output::{Bars, summary_table};
use crate::{AuditCommand, Cli, Command, PluginsCommand, StateCommand};

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn config_failed(e: &ConfigErrors) -> u8 {
    eprint!("{e}");
    EXIT_CONFIG
}

/// Runs the chosen subcommand and returns the exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    let quiet = cli.quiet;
    match cli.command {
        Command::Validate { file, connect } => {
            let code = validate(&file);
            if code != EXIT_OK || !connect {
                return Ok(code);
            }
            validate_connect(&file)
        }
        Command::Plan { file, shard, json } => plan(&file, shard, json),
        Command::Run {
            file,
            resume,
            shard,
            json,
            metrics_addr,
            metrics_push,
            force_unlock,
        } => run(
            &file,
            resume,
            shard,
            json,
            quiet,
            MetricsOut {
                addr: metrics_addr,
                push: metrics_push,
            },
            force_unlock,
        ),
        Command::Plugins { command } => plugins(command),
        Command::Audit {
            command: AuditCommand::Verify { path, key_env },
        } => Ok(audit_verify(&path, key_env.as_deref())),
        Command::Config { file, json } => effective_config(&file, json),
        Command::Delta { command } => crate::delta::delta(command),
        Command::Tap {
            file,
            component,
            limit,
            format,
        } => crate::tap::tap(&file, &component, limit, format),
        Command::State {
            command: StateCommand::Show { file, json },
        } => crate::state::show(&file, json),
        Command::State {
            command:
                StateCommand::Reset {
                    file,
                    window,
                    cursor,
                    all,
                    yes,
                },
        } => {
            let what = if all {
                crate::state::ResetWhat::All
            } else if cursor {
                crate::state::ResetWhat::Cursors
            } else {
                crate::state::ResetWhat::Windows(window)
            };
            crate::state::reset(&file, what, yes)
        }
        #[cfg(feature = "simulator")]
        Command::Sim { addr, config } => sim(addr, *config),
        Command::Test { files } => Ok(unit_tests(&files)),
        Command::Schema { markdown } => {
            let registry = Registry::discover(
                &Default::default(),
                std::env::var("TRIBUTARY_PLUGIN_PATH").ok().as_deref(),
            )
            .0
            .with_sources(crate::sources::builtin());
            if markdown {
                print!("{}", config::reference_markdown(&registry));
            } else {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&config::pipeline_json_schema(&registry))?
                );
            }
            Ok(EXIT_OK)
        }
    }
}

fn validate(file: &std::path::Path) -> u8 {
    match crate::sources::load(file) {
        Ok((p, _)) => {
            println!(
                "{}: ok ({} source, {} transforms, {} sinks)",
                file.display(),
                p.sources.len(),
                p.transforms.len(),
                p.sinks.len()
            );
            EXIT_OK
        }
        Err(e) => config_failed(&e),
    }
}

/// `validate --connect`: each endpoint a run would use, reached and reported.
fn validate_connect(file: &std::path::Path) -> anyhow::Result<u8> {
    let (pipeline, registry) = match crate::sources::load(file) {
        Ok(p) => p,
        Err(e) => return Ok(config_failed(&e)),
    };
    let rt = runtime()?;
    let checks = rt.block_on(tributary_engine::connect::connect_checks(
        &pipeline, &registry,
    ));
    for c in &checks {
        println!(
            "{} {}: {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.component,
            c.detail
        );
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        eprintln!("{failed} of {} connection checks failed", checks.len());
        return Ok(EXIT_RUNTIME);
    }
    Ok(EXIT_OK)
}

fn plan(file: &std::path::Path, shard: Option<Shard>, json: bool) -> anyhow::Result<u8> {
    let (pipeline, _) = match crate::sources::load(file) {
        Ok(p) => p,
        Err(e) => return Ok(config_failed(&e)),
    };
    let rt = runtime()?;
    let today = chrono::Utc::now().date_naive();
    let planned = rt.block_on(async {
        let (spec, source) = tributary_engine::source::create(&pipeline).await?;
        let windows = source
            .plan(today)
            .map_err(|e| tributary_engine::source::source_error(spec, e))?;
        Ok::<_, EngineError>((
            spec,
            source,
            tributary_engine::source::shard_of(windows, shard),
        ))
    });
    let (spec, source, windows) = match planned {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(e.exit_code());
        }
    };
    let about = source.describe();
    if json {
        let list: Vec<serde_json::Value> = windows
            .iter()
            .map(|w| {
                let mut v = serde_json::json!({"window_id": w.id, "start": w.start.to_rfc3339(), "end": w.end.to_rfc3339()});
                if let (Some(o), serde_json::Value::Object(extra)) = (v.as_object_mut(), source.describe_window(w).0) {
                    o.extend(extra);
                }
                v
            })
            .collect();
        let mut out = serde_json::Map::new();
        out.insert("source".into(), spec.spec.name.clone().into());
        out.insert("type".into(), spec.factory.type_name().into());
        out.extend(about);
        out.insert("windows".into(), list.into());
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(EXIT_OK);
    }
    println!(
        "{} windows for sources.{} (type: {}):",
        windows.len(),
        spec.spec.name,
        spec.factory.type_name()
    );
    for w in &windows {
        println!(
            "  {}  {} → {}",
            w.id,
            w.start.to_rfc3339(),
            w.end.to_rfc3339()
        );
    }
    if !about.is_empty() {
        println!();
    }
    for (k, v) in &about {
        println!(
            "{k}: {}",
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        );
    }
    if let Some(first) = windows.first() {
        let lines = source.describe_window(first).1;
        if !lines.is_empty() {
            println!("\nrequests of the first window:");
        }
        for l in lines {
            println!("  {}", l.replace('\n', "\n  "));
        }
    }
    Ok(EXIT_OK)
}

/// Where a run's metrics go: served while it runs, pushed when it ends.
struct MetricsOut {
    addr: Option<std::net::SocketAddr>,
    push: Option<String>,
}

/// The URL without user name or password, for messages.
fn without_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "the --metrics-push URL".to_string(),
    }
}

/// PUTs the final metrics to a Prometheus Pushgateway under
/// `/metrics/job/tributary/pipeline/<name>[/shard/<k>-of-<n>]`.
async fn push_metrics(
    base: &str,
    pipeline: &str,
    shard: Option<Shard>,
    body: String,
) -> Result<(), String> {
    let mut url = format!(
        "{}/metrics/job/tributary/pipeline/{pipeline}",
        base.trim_end_matches('/')
    );
    if let Some(s) = shard {
        url.push_str(&format!("/shard/{}-of-{}", s.index, s.count));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| e.without_url().to_string())?;
    let resp = client
        .put(&url)
        .header(
            reqwest::header::CONTENT_TYPE,
            tributary_engine::metrics::CONTENT_TYPE,
        )
        .body(body)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status().as_u16()));
    }
    Ok(())
}

fn run(
    file: &std::path::Path,
    resume: bool,
    shard: Option<Shard>,
    json: bool,
    quiet: bool,
    metrics_out: MetricsOut,
    force_unlock: bool,
) -> anyhow::Result<u8> {
    let metrics_addr = metrics_out.addr;
    let (pipeline, registry) = match crate::sources::load(file) {
        Ok(p) => p,
        Err(e) => return Ok(config_failed(&e)),
    };
    let rt = runtime()?;
    let bars = Arc::new(Bars::new(quiet || json));
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let metrics = Arc::new(tributary_engine::metrics::LiveMetrics::default());
    let (summary, result) = rt.block_on(async {
        if let Some(addr) = metrics_addr {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on --metrics-addr {addr}"))?;
            let m = Arc::clone(&metrics);
            let r = Arc::clone(&metrics);
            let app = axum::Router::new()
                .route(
                    "/metrics",
                    axum::routing::get(move || {
                        let m = Arc::clone(&m);
                        async move {
                            (
                                [(
                                    axum::http::header::CONTENT_TYPE,
                                    tributary_engine::metrics::CONTENT_TYPE,
                                )],
                                m.render(),
                            )
                        }
                    }),
                )
                // Liveness: the process answers.
                .route("/health", axum::routing::get(|| async { "ok\n" }))
                // Readiness: planned, every component created, every sink reachable.
                .route(
                    "/ready",
                    axum::routing::get(move || {
                        let ready = r.ready.load(std::sync::atomic::Ordering::Relaxed);
                        async move {
                            if ready {
                                (axum::http::StatusCode::OK, "ready\n")
                            } else {
                                (axum::http::StatusCode::SERVICE_UNAVAILABLE, "starting\n")
                            }
                        }
                    }),
                );
            tracing::info!(%addr, "serving /metrics, /health and /ready");
            tokio::spawn(async move {
                let _ = axum::serve(listener, app).await;
            });
        }
        {
            // What the source waits for, beside the bars (ends with the runtime).
            let (b, m) = (Arc::clone(&bars), Arc::clone(&metrics));
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
                loop {
                    tick.tick().await;
                    b.waiting(m.waiting().as_ref());
                }
            });
        }
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::warn!(
                "stopping: finishing the current batch, flushing and closing every sink"
            );
            let _ = cancel_tx.send(true);
        });
        let opts = RunOptions {
            resume,
            shard,
            today: None,
            cancel: cancel_rx,
            progress: bars.clone(),
            metrics: Arc::clone(&metrics),
            force_unlock,
            provided_sinks: Default::default(),
        };
        Ok::<_, anyhow::Error>(tributary_engine::run::run(&pipeline, &registry, opts).await)
    })?;
    bars.finish();
    if let Some(base) = &metrics_out.push {
        let body = metrics.render();
        match rt.block_on(push_metrics(base, &pipeline.header.name, shard, body)) {
            Ok(()) => tracing::info!(url = %without_credentials(base), "pushed the run's metrics"),
            // The run's own outcome stands; the operator learns the metrics are missing.
            Err(e) => eprintln!(
                "warning: pushing the metrics to {} failed: {e}",
                without_credentials(base)
            ),
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}", summary_table(&summary));
    }
    Ok(match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            if let EngineError::Config(c) = &e {
                eprint!("{c}");
            }
            e.exit_code()
        }
    })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn plugins(command: PluginsCommand) -> anyhow::Result<u8> {
    match command {
        PluginsCommand::List { paths } => {
            let cfg = config::PluginsConfig {
                paths,
                files: Vec::new(),
                require_pins: false,
            };
            let (registry, _) =
                Registry::discover(&cfg, std::env::var("TRIBUTARY_PLUGIN_PATH").ok().as_deref());
            println!(
                "{:<12} {:<10} {:<8} {:<4} {:<16} file",
                "name", "kind", "version", "abi", "sha256"
            );
            for m in registry.all() {
                println!(
                    "{:<12} {:<10} {:<8} {:<4} {:<16} {}",
                    m.name,
                    m.kind.to_string(),
                    m.version,
                    m.abi_version,
                    m.sha256().and_then(|h| h.get(..16)).unwrap_or("?"),
                    m.path.display()
                );
            }
            for s in &registry.skipped {
                println!("skipped {}: {}", s.path.display(), s.reason);
            }
            println!(
                "searched: {}",
                registry
                    .searched
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(EXIT_OK)
        }
        PluginsCommand::Inspect { path } => match PluginLibrary::load(&path, None) {
            Ok(lib) => {
                println!("{}", serde_json::to_string_pretty(lib.meta())?);
                Ok(EXIT_OK)
            }
            Err(e) => {
                eprintln!("error: {e}");
                Ok(EXIT_RUNTIME)
            }
        },
    }
}

fn audit_verify(path: &std::path::Path, key_env: Option<&str>) -> u8 {
    let key = match key_env.map(std::env::var) {
        None => None,
        Some(Ok(k)) if !k.is_empty() => Some(k),
        Some(_) => {
            eprintln!(
                "error: the environment variable {} (--key-env) is not set",
                key_env.unwrap_or_default()
            );
            return EXIT_CONFIG;
        }
    };
    match tributary_engine::audit::verify_with(path, key.as_deref()) {
        Ok(r) => {
            println!(
                "{}: intact, {} entries, last hash {}{}",
                path.display(),
                r.entries,
                r.last_hash,
                if r.head_checked {
                    " (head file confirms nothing was truncated)"
                } else {
                    " (no head file: truncation at the end cannot be ruled out)"
                }
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("audit log broken: {e}");
            EXIT_RUNTIME
        }
    }
}

/// `tributary config FILE`: the configuration a run of `file` would use, secrets redacted.
fn effective_config(file: &std::path::Path, json: bool) -> anyhow::Result<u8> {
    let (pipeline, _) = match crate::sources::load(file) {
        Ok(p) => p,
        Err(e) => return Ok(config_failed(&e)),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&pipeline.redacted)?);
    } else {
        print!("{}", serde_yaml::to_string(&pipeline.redacted)?);
    }
    Ok(EXIT_OK)
}

#[cfg(feature = "simulator")]
fn sim(addr: std::net::SocketAddr, config: tributary_cxone_sim::SimConfig) -> anyhow::Result<u8> {
    let rt = runtime()?;
    rt.block_on(async {
        let handle = tributary_cxone_sim::Simulator::start(config, addr)
            .await
            .context("cannot start the simulator")?;
        eprintln!(
            "CXone simulator listening on {} (Ctrl-C to stop)",
            handle.base_url()
        );
        wait_for_signal().await;
        let counters = handle.counters();
        handle.shutdown().await;
        eprintln!(
            "{}",
            serde_json::to_string_pretty(&counters).unwrap_or_default()
        );
        Ok::<_, anyhow::Error>(EXIT_OK)
    })
}

fn unit_tests(files: &[std::path::PathBuf]) -> u8 {
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in files {
        match tributary_engine::unittest::run_file(file, &crate::sources::builtin()) {
            Ok(outcomes) => {
                for o in outcomes {
                    if o.failures.is_empty() {
                        passed += 1;
                        println!("ok     {}: {}", file.display(), o.name);
                    } else {
                        failed += 1;
                        println!("FAILED {}: {}", file.display(), o.name);
                        for f in &o.failures {
                            println!("         {f}");
                        }
                    }
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {e}");
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed == 0 { EXIT_OK } else { EXIT_RUNTIME }
}

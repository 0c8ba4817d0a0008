//! `tributary`: run declarative CXone → lake pipelines.
//!
//! A thin shell over `tributary-engine`: parse arguments, set up logging and progress,
//! call the engine, print a summary, map errors to documented exit codes.

mod commands;
mod delta;
mod output;
mod sources;
mod state;
mod tap;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Tributary moves NICE CXone interaction data into your lake: Parquet on S3, Arrow files,
/// webhooks; validated, checkpointed, resumable.
///
/// Start with the quick start, which needs nothing but a build:
///
///     tributary run pipelines/quickstart.yaml
///
/// Exit codes: 0 success; 1 runtime failure (network, storage, plugin); 2 configuration
/// error (fix the pipeline file or the arguments); 3 data-quality failure
/// (min_integrity_rate, on_invalid: fail); 130 interrupted (run again with --resume).
#[derive(Debug, Parser)]
#[command(
    name = "tributary",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// How log lines look: `pretty` for people, `json` for log collectors.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// Print only errors and the final summary; no progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// More log detail (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// Log line format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a pipeline file and its plugins without touching the network.
    ///
    /// Reports every problem of the file at once, each with file:line:column, the key
    /// path and a hint. Exit code 2 when anything is wrong.
    Validate {
        /// The pipeline file (YAML).
        file: std::path::PathBuf,
        /// Also reach every endpoint a run would use, landing nothing: the source's token
        /// endpoint with the real credentials, and each sink's health check (a probe object
        /// written and deleted in S3 or the table, the webhook URL reached). Exit code 1
        /// when one fails.
        #[arg(long)]
        connect: bool,
    },
    /// Show the export windows and requests a run would make.
    Plan {
        /// The pipeline file (YAML).
        file: std::path::PathBuf,
        /// Only this shard's part of the plan: K/N with K from 0 to N-1.
        #[arg(long)]
        shard: Option<tributary_engine::run::Shard>,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a pipeline: export from CXone, validate, land in every sink.
    ///
    /// Each window is checkpointed once every sink has made it durable. After a crash or
    /// Ctrl-C, `run --resume` skips the landed windows and overwrites partial ones, so
    /// nothing is lost or doubled.
    Run {
        /// The pipeline file (YAML).
        file: std::path::PathBuf,
        /// Continue the last unfinished run: skip windows already landed.
        #[arg(long)]
        resume: bool,
        /// Run the K-th of N disjoint parts of the plan (K from 0 to N-1), e.g. from a
        /// Kubernetes Indexed Job: --shard $JOB_COMPLETION_INDEX/4.
        #[arg(long)]
        shard: Option<tributary_engine::run::Shard>,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
        /// Serve live metrics in the Prometheus text format at http://ADDR/metrics while
        /// the run goes (e.g. 127.0.0.1:9184), with /health (200 while the process
        /// answers) and /ready (200 once planned with every sink reachable, else 503).
        #[arg(long)]
        metrics_addr: Option<std::net::SocketAddr>,
        /// At the end of the run, push its final metrics to this Prometheus Pushgateway
        /// (`http://pushgateway:9091`), grouped by job `tributary`, the pipeline and the
        /// shard: a batch run ends before a scrape would see it.
        #[arg(long, value_parser = push_url)]
        metrics_push: Option<String>,
        /// Take the pipeline's lease even though another run holds it (only when that run
        /// is known to be dead: two live runs would then write together).
        #[arg(long)]
        force_unlock: bool,
    },
    /// List or inspect plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Work with audit logs.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the effective configuration of a pipeline: the file after `TRIBUTARY__`
    /// environment overrides and `${VAR}` interpolation, with every secret shown as
    /// `**REDACTED**`. Checked first, like `validate` (exit code 2 when it is wrong).
    Config {
        /// The pipeline file (YAML).
        file: std::path::PathBuf,
        /// Print JSON instead of YAML.
        #[arg(long)]
        json: bool,
    },
    /// Run a pipeline up to one component and print the records coming out of it (an
    /// output with `.name`, e.g. `checked.invalid` for the rejected rows with their reasons).
    /// Nothing lands: the sinks are not run, no state is kept, no audit entry written.
    Tap {
        /// The pipeline file (YAML).
        file: std::path::PathBuf,
        /// A source or transform, optionally with an output: `cxone`, `checked`, `checked.invalid`.
        component: String,
        /// Stop after this many records (at least 1).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
        limit: u64,
        /// How to print them.
        #[arg(long, value_enum, default_value = "table")]
        format: crate::tap::TapFormat,
    },
    /// See or reset what a pipeline's state store holds: windows landed (per shard), runs,
    /// leases, incremental cursors and Reporting bookmarks.
    State {
        #[command(subcommand)]
        command: StateCommand,
    },
    /// Maintain the Delta table of a pipeline's `delta` sink.
    Delta {
        #[command(subcommand)]
        command: DeltaCommand,
    },
    /// Serve the CXone simulator (the analytics export API, deterministic, with fault knobs).
    #[cfg(feature = "simulator")]
    Sim {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8089")]
        addr: std::net::SocketAddr,
        #[command(flatten)]
        config: Box<tributary_cxone_sim::SimConfig>,
    },
    /// Run pipeline unit tests: feed records declared in YAML through a pipeline's
    /// transforms and check the expected outputs and metrics (no network).
    ///
    /// Exit code 0 when every test passes, 1 otherwise.
    Test {
        /// Test files (YAML with `pipeline:` and `tests:`).
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
    /// Print the JSON Schema of pipeline files (engine sections, the cxone source and every
    /// plugin found), for editors with the YAML language server.
    Schema {
        /// Print the configuration reference (docs/configuration.md) instead.
        #[arg(long)]
        markdown: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Windows landed of the current plan (and per shard), the next to land, runs, the lease
    /// holder, cursors and bookmarks.
    Show {
        /// The pipeline file (YAML).
        file: std::path::PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Forget landed windows (a `run --resume` lands them again), the incremental cursors,
    /// or everything; refused while a run holds the lease. Recorded in the audit log.
    #[command(group(clap::ArgGroup::new("what").required(true).args(["window", "cursor", "all"])))]
    Reset {
        /// The pipeline file (YAML).
        file: std::path::PathBuf,
        /// A landed window's id (as `state show` prints it); repeat for several.
        #[arg(long)]
        window: Vec<String>,
        /// Forget every source's incremental cursor and Reporting bookmark.
        #[arg(long)]
        cursor: bool,
        /// Forget every landed window, run record, cursor and bookmark.
        #[arg(long)]
        all: bool,
        /// Do not ask for confirmation (needed when not at a terminal).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeltaCommand {
    /// Compact the table's small files (below the sink's `optimize.target_file_bytes`) into
    /// files of about that size, in one OPTIMIZE commit; readers see the same rows.
    Optimize {
        /// The pipeline file (YAML).
        file: std::path::PathBuf,
        /// The name of the `delta` sink (`sinks.<name>`).
        sink: String,
    },
    /// Delete files the table no longer references (compacted away, or written by a window
    /// that never committed) once older than the retention.
    Vacuum {
        /// The pipeline file (YAML).
        file: std::path::PathBuf,
        /// The name of the `delta` sink (`sinks.<name>`).
        sink: String,
        /// Keep unreferenced files younger than this many hours (default: the sink's
        /// `vacuum.retention_hours`, else the table's retention, 7 days).
        #[arg(long)]
        retention_hours: Option<u64>,
        /// List what would be deleted without deleting it.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PluginsCommand {
    /// List the plugins found on the search path.
    List {
        /// Extra directories to search (as `plugins.paths`).
        #[arg(long = "path")]
        paths: Vec<String>,
    },
    /// Show one plugin file: name, kind, version, ABI, SHA-256 and config schema.
    Inspect {
        /// The shared library.
        path: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Prove an audit log intact, or name its first broken entry (exit code 1).
    Verify {
        /// The log file, or the audit directory.
        path: std::path::PathBuf,
        /// The environment variable holding the key of a keyed log (`audit.key`).
        #[arg(long)]
        key_env: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    output::init_logging(&cli);
    let code = match commands::dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            tributary_engine::EXIT_RUNTIME
        }
    };
    ExitCode::from(code)
}

/// `--metrics-push`: an http(s) URL.
fn push_url(s: &str) -> Result<String, String> {
    match reqwest::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(s.to_string()),
        Ok(u) => Err(format!("scheme `{}` is not http or https", u.scheme())),
        Err(e) => Err(format!("not a URL: {e}")),
    }
}

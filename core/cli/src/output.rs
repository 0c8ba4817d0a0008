//! What a person sees: logging setup, progress bars, the summary table.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tributary_engine::run::{Progress, RunSummary};

use crate::{Cli, LogFormat};

/// Sets up tracing: pretty or JSON lines on stderr; level from -v/--quiet or RUST_LOG.
pub fn init_logging(cli: &Cli) {
    let level = if cli.quiet {
        "error"
    } else {
        match cli.verbose {
            0 => "info",
            1 => "debug",
            _ => "trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cli.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// Progress bars on a terminal; log lines otherwise.
pub struct Bars {
    bars: Option<(MultiProgress, ProgressBar, ProgressBar)>,
    last_logged: Mutex<u64>,
}

impl Bars {
    /// Bars when stderr is a terminal and not quiet.
    pub fn new(quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Bars {
                bars: None,
                last_logged: Mutex::new(0),
            };
        }
        let mp = MultiProgress::new();
        let windows = mp.add(ProgressBar::new(0));
        windows.set_style(
            ProgressStyle::with_template("{spinner} windows {bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let records = mp.add(ProgressBar::new_spinner());
        records.set_style(
            ProgressStyle::with_template(
                "{spinner} records {human_pos} ({per_sec}) {elapsed} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Bars {
            bars: Some((mp, windows, records)),
            last_logged: Mutex::new(0),
        }
    }

    /// Shows what the source waits for, and until when, beside the records (cleared when
    /// it waits for nothing). Without bars the source logs its long waits itself.
    pub fn waiting(&self, wait: Option<&tributary_engine::Waiting>) {
        if let Some((_, _, r)) = &self.bars {
            r.set_message(match wait {
                Some(w) => {
                    let left = (w.until - chrono::Utc::now()).num_seconds().max(0);
                    format!(
                        "· waiting until {} ({left} s): {}",
                        w.until.format("%H:%M:%S"),
                        w.what
                    )
                }
                None => String::new(),
            });
        }
    }

    /// Removes the bars before the summary is printed.
    pub fn finish(&self) {
        if let Some((_, w, r)) = &self.bars {
            w.finish_and_clear();
            r.finish_and_clear();
        }
    }
}

impl Progress for Bars {
    fn planned(&self, windows: usize, skipped: usize) {
        match &self.bars {
            Some((_, w, _)) => {
                w.set_length(windows as u64);
                if skipped > 0 {
                    w.set_message(format!("({skipped} already landed)"));
                }
            }
            None => tracing::info!(windows, skipped, "planned"),
        }
    }
    fn records(&self, total: u64) {
        match &self.bars {
            Some((_, _, r)) => r.set_position(total),
            None => {
                if let Ok(mut last) = self.last_logged.lock() {
                    if total >= *last + 250_000 {
                        *last = total;
                        tracing::info!(records = total, "progress");
                    }
                }
            }
        }
    }
    fn window_done(&self, window: &tributary_engine::Window, records: u64) {
        match &self.bars {
            Some((_, w, _)) => w.inc(1),
            None => tracing::info!(window = %window.id, records, "window landed"),
        }
    }
}

fn num(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The summary table printed at the end of a run.
pub fn summary_table(s: &RunSummary) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "\nRun {} of pipeline `{}`: {}\n",
        s.run_id,
        s.pipeline,
        s.status.as_str().to_uppercase()
    ));
    out.push_str(&format!(
        "  windows: {} landed of {} planned ({} skipped as already landed)\n",
        s.windows_done, s.windows_planned, s.windows_skipped
    ));
    out.push_str(&format!(
        "  records: {} in {:.1} s ({:.0} records/s)\n\n",
        num(s.records),
        s.wall_secs,
        s.records_per_sec
    ));
    let w = s
        .components
        .iter()
        .map(|c| c.component.len())
        .max()
        .unwrap_or(9)
        .max(9);
    out.push_str(&format!(
        "  {:<w$}  {:<10}  {:>12}  {:>12}\n",
        "component", "type", "records in", "records out"
    ));
    for c in &s.components {
        out.push_str(&format!(
            "  {:<w$}  {:<10}  {:>12}  {:>12}\n",
            c.component,
            c.type_name,
            num(c.records_in),
            num(c.records_out)
        ));
    }
    for (component, m) in &s.transform_metrics {
        if let Some(rate) = m.get("integrity_rate").and_then(|v| v.as_f64()) {
            out.push_str(&format!("\n  {component}: integrity rate {:.4}", rate));
            if let Some(d) = m.get("duplicates").and_then(|v| v.as_u64()) {
                out.push_str(&format!(", {d} duplicates dropped"));
            }
            if let Some(n) = m
                .get("dedupe_beyond_horizon")
                .and_then(|v| v.as_u64())
                .filter(|n| *n > 0)
            {
                out.push_str(&format!(
                    " ({n} records were older than the dedupe horizon and compared with recent \
                     ids only; raise dedupe_horizon_days to hold more)"
                ));
            }
            if let Some(mf) = m.get("missing_field_counts").and_then(|v| v.as_object()) {
                if !mf.is_empty() {
                    let parts: Vec<String> = mf.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    out.push_str(&format!(", missing fields: {}", parts.join(" ")));
                }
            }
            out.push('\n');
        }
    }
    let m = &s.source_metrics;
    let retries = m.get("retries").and_then(|v| v.as_u64()).unwrap_or(0);
    let n = |k: &str| m.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
    let mut line = format!(
        "\n  source: {retries} retries, {} throttled (429)",
        n("throttled")
    );
    if n("spacing_refusals") > 0 {
        line.push_str(&format!(
            ", {} calls refused as too frequent (403, the Data Extraction API's one call per interval)",
            n("spacing_refusals")
        ));
    }
    if n("bad_values") > 0 {
        line.push_str(&format!(
            ", {} values that do not fit their column (landed as null; see the log)",
            n("bad_values")
        ));
    }
    line.push('\n');
    out.push_str(&line);
    for (sink, url) in &s.outputs {
        let files = s.files.get(sink).map(|f| f.len()).unwrap_or(0);
        out.push_str(&format!("  sinks.{sink} → {url} ({files} files)\n"));
    }
    if let Some(e) = &s.error {
        out.push_str(&format!("\n  error: {e}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_when_dedupe_ran_past_its_horizon() {
        let metrics = |beyond: u64| {
            let mut s = RunSummary::default();
            s.transform_metrics.insert(
                "transforms.checked".into(),
                serde_json::json!({"integrity_rate": 1.0, "duplicates": 2, "dedupe_beyond_horizon": beyond}),
            );
            summary_table(&s)
        };
        let quiet = metrics(0);
        assert!(quiet.contains("2 duplicates dropped"), "{quiet}");
        assert!(!quiet.contains("horizon"), "{quiet}");
        let told = metrics(7);
        assert!(
            told.contains("7 records were older than the dedupe horizon")
                && told.contains("dedupe_horizon_days"),
            "{told}"
        );
    }
}

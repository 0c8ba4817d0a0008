//! The `validate` transform's lifecycle: per-batch checks, per-window and per-run metrics,
//! the run-level threshold.

use arrow_array::RecordBatch;
use tributary_plugin_sdk::{
    Ack, Checkpoint, CreateContext, Outputs, PluginError, PluginInfo, Result, Transform,
};

use crate::check::{BatchCheck, Checker, Stats, invalid_batch, select};
use crate::config::{OnInvalid, ValidateConfig};

/// The named output invalid rows are routed to (`<name>.invalid` in a pipeline).
pub const INVALID_OUTPUT: &str = "invalid";

/// The `validate` transform. See the crate docs.
#[derive(Debug)]
pub struct Validate {
    checker: Checker,
    component: String,
    seen: crate::check::SeenIds,
    window: Stats,
    window_batches: Vec<serde_json::Value>,
    run: Stats,
}

impl PluginInfo for Validate {
    const NAME: &'static str = "validate";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    type Config = ValidateConfig;

    fn create(config: ValidateConfig, ctx: &CreateContext) -> Result<Self> {
        let config = config.validate().map_err(|e| {
            PluginError::config(e.to_string().replace(
                "<name>",
                if ctx.component.is_empty() {
                    "<name>"
                } else {
                    &ctx.component
                },
            ))
        })?;
        Ok(Validate::new(Checker::new(config), &ctx.component))
    }
}

impl Validate {
    /// A transform around a checker (what `create` builds; handy for library use).
    pub fn new(checker: Checker, component: &str) -> Self {
        Validate {
            checker,
            component: component.to_string(),
            seen: crate::check::SeenIds::default(),
            window: Stats::default(),
            window_batches: Vec::new(),
            run: Stats::default(),
        }
    }

    /// The counts of the run so far.
    pub fn run_stats(&self) -> &Stats {
        &self.run
    }

    /// Ids held for deduplication now (bounded by `dedupe_horizon_days`, not by the run).
    pub fn ids_held(&self) -> usize {
        self.seen.len()
    }

    fn fail(&self, check: &BatchCheck) -> Option<PluginError> {
        let (who, reason) = check.first_invalid.as_ref()?;
        Some(PluginError::invalid_data(format!(
            "transforms.{}: record {who} is invalid ({reason}) and on_invalid is `fail`; \
             fix the source data, or set on_invalid: route to send such records to `{}.invalid`",
            self.component, self.component
        )))
    }
}

impl Transform for Validate {
    fn process(&mut self, batch: &RecordBatch, out: &mut Outputs) -> Result<()> {
        let check = self.checker.check(batch, &mut self.seen);
        self.window.add(&check.stats);
        self.run.add(&check.stats);
        let s = &check.stats;
        self.window_batches.push(serde_json::json!({
            "records_in": s.records_in,
            "integrity_rate": s.integrity_rate(),
            "missing_field_counts": s.missing_field_counts,
        }));
        if self.checker.config().on_invalid == OnInvalid::Fail {
            if let Some(e) = self.fail(&check) {
                return Err(e);
            }
        }
        if check.stats.valid > 0 {
            out.emit(select(batch, &check.valid)?);
        }
        if check.stats.invalid > 0 && self.checker.config().on_invalid == OnInvalid::Route {
            out.emit_to(INVALID_OUTPUT, invalid_batch(batch, &check)?);
        }
        Ok(())
    }

    fn flush(&mut self, checkpoint: &Checkpoint, _out: &mut Outputs) -> Result<Ack> {
        // The window is over: forget ids of days before the next window's horizon. (Windows
        // come in time order; with no parseable end, everything is kept.)
        if let Ok(end) = chrono::DateTime::parse_from_rfc3339(&checkpoint.window_end) {
            let start = end.timestamp_millis();
            let days = i64::from(self.checker.config().dedupe_horizon_days);
            self.seen
                .forget_before(start.saturating_sub(days.saturating_mul(86_400_000)));
        }
        let window = std::mem::take(&mut self.window);
        let mut metrics = window.to_metrics();
        metrics.insert("window_id".into(), checkpoint.window_id.clone().into());
        metrics.insert(
            "batches".into(),
            std::mem::take(&mut self.window_batches).into(),
        );
        Ok(Ack {
            records: window.valid,
            files: Vec::new(),
            metrics,
        })
    }

    fn close(&mut self, _out: &mut Outputs) -> Result<Ack> {
        let run = &self.run;
        if let Some(min) = self.checker.config().min_integrity_rate {
            let rate = run.integrity_rate();
            if run.records_in > 0 && rate < min {
                let top: Vec<String> = run
                    .top_missing(3)
                    .iter()
                    .map(|(f, c)| format!("{f} ({c})"))
                    .collect();
                return Err(PluginError::data_quality(format!(
                    "transforms.{}: integrity rate {rate:.4} ({} of {} records complete) is below \
                     min_integrity_rate {min}; most often missing: {}; fix the source columns or lower the threshold",
                    self.component,
                    run.complete,
                    run.records_in,
                    if top.is_empty() {
                        "none".to_string()
                    } else {
                        top.join(", ")
                    }
                )));
            }
        }
        let mut metrics = run.to_metrics();
        metrics.insert("distinct_ids".into(), self.seen.accepted().into());
        Ok(Ack {
            records: 0,
            files: Vec::new(),
            metrics,
        })
    }
}

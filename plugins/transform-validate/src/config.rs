//! The `validate` configuration: raw [`ValidateConfig`] (as written in the pipeline) and the
//! checked [`ValidatedConfig`] the transform runs with.

use std::collections::HashSet;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The ten fields of the CXone interaction schema (the tutorial's `INTERACTION_SCHEMA_FIELDS`).
pub const SCHEMA_FIELDS: [&str; 10] = [
    "id",
    "direction",
    "medium",
    "startTime",
    "endTime",
    "agentId",
    "queueId",
    "holdTime",
    "wrapTime",
    "talkTime",
];

/// What happens to a record that fails a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnInvalid {
    /// Emit it on the named output `invalid` (read as `<name>.invalid`) with a `_reason` column.
    #[default]
    Route,
    /// Count it and discard it.
    Drop,
    /// Fail the batch with an `invalid_data` error naming the first bad record and why.
    Fail,
}

/// Configuration of the `validate` transform.
///
/// ```yaml
/// transforms:
///   checked:
///     type: validate
///     inputs: [cxone]
///     required: [id, direction, medium, startTime, endTime, agentId, queueId]
///     on_invalid: route
///     min_integrity_rate: 0.95
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
#[schemars(extend("x-tributary-outputs" = ["invalid"]))]
pub struct ValidateConfig {
    /// Fields every record must carry with a non-null value. A column absent from the batch
    /// counts as missing in every record. Default: all ten schema fields.
    /// Example: `[id, direction, medium, startTime, endTime, agentId, queueId]`.
    #[serde(default = "default_required")]
    pub required: Vec<String>,
    /// Accepted values of `direction`. Example: `[inbound, outbound]` (the default).
    #[serde(default = "default_directions")]
    pub directions: Vec<String>,
    /// Accepted values of `medium`. Example: `[voice, chat, email, sms, social]` (the default).
    #[serde(default = "default_media")]
    pub media: Vec<String>,
    /// What to do with a record that fails a check: `route` (default), `drop` or `fail`.
    #[serde(default)]
    pub on_invalid: OnInvalid,
    /// Drop records whose `id` was already accepted earlier in the run (default `true`).
    #[serde(default = "default_true")]
    pub dedupe: bool,
    /// How many days before the current window's start the ids of accepted records are
    /// kept for `dedupe`. Windows are cut by `startTime`, so a duplicate (a page read twice,
    /// a record on a window boundary) comes in the same or the next window; forgetting older
    /// days keeps memory flat however long the run. Records older than this still get
    /// compared with the ids held, and are counted in `dedupe_beyond_horizon`. A large
    /// value (`36500`) keeps every id of the run. Example: `1` (the default).
    #[serde(default = "default_horizon_days")]
    pub dedupe_horizon_days: u32,
    /// Fail the run at its end when the run's integrity rate is below this (0 to 1).
    /// Example: `0.95`. Default: no threshold.
    #[serde(default)]
    pub min_integrity_rate: Option<f64>,
}

fn default_required() -> Vec<String> {
    SCHEMA_FIELDS.iter().map(|s| (*s).to_string()).collect()
}
fn default_directions() -> Vec<String> {
    ["inbound", "outbound"]
        .iter()
        .map(|s| (*s).to_string())
        .collect()
}
fn default_media() -> Vec<String> {
    ["voice", "chat", "email", "sms", "social"]
        .iter()
        .map(|s| (*s).to_string())
        .collect()
}
fn default_true() -> bool {
    true
}
fn default_horizon_days() -> u32 {
    1
}

impl Default for ValidateConfig {
    fn default() -> Self {
        ValidateConfig {
            required: default_required(),
            directions: default_directions(),
            media: default_media(),
            on_invalid: OnInvalid::default(),
            dedupe: true,
            dedupe_horizon_days: default_horizon_days(),
            min_integrity_rate: None,
        }
    }
}

/// A configuration that passed [`ValidateConfig::validate`].
#[derive(Debug, Clone)]
pub struct ValidatedConfig {
    /// Required fields, in configuration order, without repeats.
    pub required: Vec<String>,
    /// Accepted directions.
    pub directions: HashSet<String>,
    /// Accepted media.
    pub media: HashSet<String>,
    /// Invalid-record policy.
    pub on_invalid: OnInvalid,
    /// Whether duplicates are dropped.
    pub dedupe: bool,
    /// Days before a window's start whose ids are kept.
    pub dedupe_horizon_days: u32,
    /// Run-level threshold.
    pub min_integrity_rate: Option<f64>,
}

impl ValidateConfig {
    /// Checks the configuration.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key at fault.
    pub fn validate(self) -> Result<ValidatedConfig> {
        let mut required = Vec::with_capacity(self.required.len());
        for f in self.required {
            if f.trim().is_empty() {
                return Err(Error::Config {
                    key: "required",
                    message: "field names must not be empty".into(),
                });
            }
            if !required.contains(&f) {
                required.push(f);
            }
        }
        if self.directions.is_empty() {
            return Err(Error::Config {
                key: "directions",
                message: "list at least one accepted direction".into(),
            });
        }
        if self.media.is_empty() {
            return Err(Error::Config {
                key: "media",
                message: "list at least one accepted medium".into(),
            });
        }
        if let Some(r) = self.min_integrity_rate {
            if !(0.0..=1.0).contains(&r) {
                return Err(Error::Config {
                    key: "min_integrity_rate",
                    message: format!("{r} is outside 0..1; write e.g. 0.95 for 95%"),
                });
            }
        }
        Ok(ValidatedConfig {
            required,
            directions: self.directions.into_iter().collect(),
            media: self.media.into_iter().collect(),
            on_invalid: self.on_invalid,
            dedupe: self.dedupe,
            dedupe_horizon_days: self.dedupe_horizon_days,
            min_integrity_rate: self.min_integrity_rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_cover_the_schema() {
        let c: ValidateConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(c.required.len(), 10);
        let v = c.validate().unwrap();
        assert!(v.directions.contains("inbound") && v.media.contains("social"));
        assert_eq!(v.on_invalid, OnInvalid::Route);
    }

    #[test]
    fn bad_threshold_and_unknown_keys_are_refused() {
        let c: ValidateConfig = serde_json::from_str(r#"{"min_integrity_rate": 1.5}"#).unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("min_integrity_rate"), "{e}");
        assert!(serde_json::from_str::<ValidateConfig>(r#"{"requierd": []}"#).is_err());
    }
}

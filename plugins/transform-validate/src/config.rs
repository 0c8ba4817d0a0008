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

/// NICE's media type names (`mediaTypeName` of completed contacts): the names NICE's agent
/// SDK and published examples use (sources in `docs/cxone.md`).
pub const NICE_MEDIA_NAMES: [&str; 12] = [
    "Phone Call",
    "Call",
    "Voice",
    "Voice Mail",
    "Chat",
    "Email",
    "SMS",
    "Sms",
    "Social",
    "Digital",
    "Work Item",
    "PersonalConnection",
];

/// The record shape a `validate` checks: which fields are required, which one identifies a
/// record (dedupe) and which one dates it (dedupe horizon), and which values are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RecordSchema {
    /// The tutorial's interaction record (also `schema: interaction` of the real CXone
    /// dialects): required = the ten fields; `direction` in `directions`, `medium` in
    /// `media`; `id`, `agentId`, `queueId` text; times parse and `endTime >= startTime`;
    /// durations non-negative integers; dedupe by `id`, dated by `startTime`.
    #[default]
    Interaction,
    /// The Reporting API's completed contact as published (`schema: native`): required =
    /// `contactId`, `contactStartDate`, `lastUpdateTime`; `mediaTypeName` (when present) in
    /// `media` (default: NICE's media type names); dedupe by `contactId`, dated by
    /// `contactStartDate`. Nothing else is checked: a row valid by the published schema
    /// is never rejected.
    CompletedContacts,
    /// The Data Extraction API's `recording-interaction-metadata` row (one per segment):
    /// required = `acdCallId`, `startDate`; dedupe by `segmentId`, dated by `startDate`.
    RecordingInteractionMetadata,
}

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
    /// The record shape checked: `interaction` (default), `completed-contacts` (the
    /// Reporting API's native record) or `recording-interaction-metadata` (the Data
    /// Extraction CSV). It sets the defaults of `required` and `media` and the fields
    /// the checks read.
    #[serde(default)]
    pub schema: RecordSchema,
    /// Fields every record must carry with a non-null value. A column absent from the batch
    /// counts as missing in every record. Default: the schema's (`interaction`: all ten
    /// fields; `completed-contacts`: `contactId, contactStartDate, lastUpdateTime`;
    /// `recording-interaction-metadata`: `acdCallId, startDate`).
    /// Example: `[id, direction, medium, startTime, endTime, agentId, queueId]`.
    #[serde(default)]
    pub required: Option<Vec<String>>,
    /// Accepted values of `direction` (`interaction`). Default: `[inbound, outbound]`.
    #[serde(default)]
    pub directions: Option<Vec<String>>,
    /// Accepted values of `medium` (`interaction`; default `[voice, chat, email, sms,
    /// social]`) or of `mediaTypeName` (`completed-contacts`; default NICE's media type
    /// names: `Phone Call, Call, Voice, Voice Mail, Chat, Email, SMS, Sms, Social, Digital,
    /// Work Item, PersonalConnection`). Example: `[voice, chat, email, sms, social]`.
    #[serde(default)]
    pub media: Option<Vec<String>>,
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
    #[schemars(range(min = 0.0, max = 1.0))]
    pub min_integrity_rate: Option<f64>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

impl RecordSchema {
    fn required(self) -> Vec<String> {
        match self {
            RecordSchema::Interaction => strings(&SCHEMA_FIELDS),
            RecordSchema::CompletedContacts => {
                strings(&["contactId", "contactStartDate", "lastUpdateTime"])
            }
            RecordSchema::RecordingInteractionMetadata => strings(&["acdCallId", "startDate"]),
        }
    }

    fn media(self) -> Vec<String> {
        match self {
            RecordSchema::CompletedContacts => strings(&NICE_MEDIA_NAMES),
            _ => strings(&["voice", "chat", "email", "sms", "social"]),
        }
    }

    /// The fields the checks read: the record's id (dedupe), its start and end times,
    /// the fields that must be text, the value checks `(field, is_medium)`, the durations.
    pub fn fields(self) -> Fields {
        match self {
            RecordSchema::Interaction => Fields {
                id: Some("id"),
                start: Some("startTime"),
                end: Some("endTime"),
                text: &["id", "agentId", "queueId"],
                direction: Some("direction"),
                medium: Some("medium"),
                durations: &["holdTime", "wrapTime", "talkTime"],
            },
            RecordSchema::CompletedContacts => Fields {
                id: Some("contactId"),
                start: Some("contactStartDate"),
                end: None,
                text: &[],
                direction: None,
                medium: Some("mediaTypeName"),
                durations: &[],
            },
            RecordSchema::RecordingInteractionMetadata => Fields {
                id: Some("segmentId"),
                start: Some("startDate"),
                end: None,
                text: &[],
                direction: None,
                medium: None,
                durations: &[],
            },
        }
    }
}

/// Which fields of a [`RecordSchema`] the checks read.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Identifies a record (dedupe, and the first invalid record's name).
    pub id: Option<&'static str>,
    /// Start time (dedupe horizon; parsed).
    pub start: Option<&'static str>,
    /// End time (parsed; not before the start).
    pub end: Option<&'static str>,
    /// Must be text (or cast to it).
    pub text: &'static [&'static str],
    /// Checked against `directions`.
    pub direction: Option<&'static str>,
    /// Checked against `media`.
    pub medium: Option<&'static str>,
    /// Non-negative integers.
    pub durations: &'static [&'static str],
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
            schema: RecordSchema::default(),
            required: None,
            directions: None,
            media: None,
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
    /// The record shape checked.
    pub schema: RecordSchema,
    /// The fields the checks read.
    pub fields: Fields,
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
        let schema = self.schema;
        let wanted = self.required.unwrap_or_else(|| schema.required());
        let directions = self
            .directions
            .unwrap_or_else(|| strings(&["inbound", "outbound"]));
        let media = self.media.unwrap_or_else(|| schema.media());
        let mut required = Vec::with_capacity(wanted.len());
        for f in wanted {
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
        if directions.is_empty() {
            return Err(Error::Config {
                key: "directions",
                message: "list at least one accepted direction".into(),
            });
        }
        if media.is_empty() {
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
            schema,
            fields: schema.fields(),
            required,
            directions: directions.into_iter().collect(),
            media: media.into_iter().collect(),
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
        let v = c.validate().unwrap();
        assert_eq!(v.required.len(), 10);
        assert!(v.directions.contains("inbound") && v.media.contains("social"));
        assert_eq!(v.on_invalid, OnInvalid::Route);
    }

    #[test]
    fn completed_contacts_require_what_the_published_schema_guarantees() {
        let c: ValidateConfig =
            serde_json::from_str(r#"{"schema": "completed-contacts"}"#).unwrap();
        let v = c.validate().unwrap();
        assert_eq!(
            v.required,
            ["contactId", "contactStartDate", "lastUpdateTime"]
        );
        assert!(v.media.contains("Phone Call") && v.media.contains("Work Item"));
        assert_eq!(v.fields.medium, Some("mediaTypeName"));
        assert_eq!(v.fields.direction, None);
    }

    #[test]
    fn bad_threshold_and_unknown_keys_are_refused() {
        let c: ValidateConfig = serde_json::from_str(r#"{"min_integrity_rate": 1.5}"#).unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("min_integrity_rate"), "{e}");
        assert!(serde_json::from_str::<ValidateConfig>(r#"{"requierd": []}"#).is_err());
    }
}

//! The unit of work of a source.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One unit of work: what a source reads, the engine checkpoints and the sinks land as
/// one piece. `start`/`end` say what it covers in time (`[start, end)`); a source whose
/// windows are not time ranges (files) sets both to a time that describes the piece.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Window {
    /// Stable id: state, checkpoints, sink files and table transactions are keyed by it.
    /// Letters, digits, `-`, `_` and `.` only (it becomes part of object keys).
    pub id: String,
    /// First instant covered.
    pub start: DateTime<Utc>,
    /// First instant no longer covered.
    pub end: DateTime<Utc>,
}

impl Window {
    /// A time window with the id `20230101T000000Z-20230401T000000Z`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Window {
        Window {
            id: Self::time_id(start, end),
            start,
            end,
        }
    }

    /// The id of a time window: its bounds, to the second.
    pub fn time_id(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
        format!(
            "{}-{}",
            start.format("%Y%m%dT%H%M%SZ"),
            end.format("%Y%m%dT%H%M%SZ")
        )
    }

    /// The same window under another id (e.g. tagged by the increment it belongs to).
    pub fn with_id(mut self, id: String) -> Window {
        self.id = id;
        self
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

//! The `file` source's section.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

fn default_batch_size() -> usize {
    8192
}

/// A file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Apache Parquet (`.parquet`).
    Parquet,
    /// Arrow IPC, file or stream format (`.arrow`, `.ipc`, `.feather`).
    Arrow,
    /// JSON lines, one object per line (`.json`, `.jsonl`, `.ndjson`).
    Json,
    /// CSV with a header line (`.csv`).
    Csv,
}

impl FileFormat {
    /// The format a file name's extension says, if any.
    pub fn of(path: &std::path::Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "parquet" => FileFormat::Parquet,
            "arrow" | "ipc" | "feather" => FileFormat::Arrow,
            "json" | "jsonl" | "ndjson" => FileFormat::Json,
            "csv" => FileFormat::Csv,
            _ => return None,
        })
    }
}

/// `type: file`: reads local files, one window per file, in path order.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct FileConfig {
    /// A file, or a directory searched recursively (names starting with `.` or `_` are
    /// skipped: staging files, `_delta_log`). Example: `./lake`.
    pub path: String,
    /// Read only files of this format; default: every file whose extension names one
    /// (`.parquet`, `.arrow`/`.ipc`/`.feather`, `.json`/`.jsonl`/`.ndjson`, `.csv`).
    /// Example: `parquet`.
    #[serde(default)]
    pub format: Option<FileFormat>,
    /// Records per batch. Example: `8192`.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// JSON and CSV: columns to read as timestamps (UTC, ms), parsed from RFC 3339 text;
    /// other columns take the types inferred from the file (integers, floats, booleans,
    /// text). Parquet and Arrow files carry their own types. Example: `[startTime]`.
    #[serde(default)]
    pub timestamps: Vec<String>,
}

impl FileConfig {
    /// Checks what the schema cannot.
    ///
    /// # Errors
    /// Each problem with its key.
    pub fn validate(&self) -> Result<(), Vec<tributary_source::Problem>> {
        let mut p = Vec::new();
        if self.path.trim().is_empty() {
            p.push(tributary_source::Problem::new(
                "path",
                "is empty; name a file or a directory",
            ));
        }
        if !(1..=1_000_000).contains(&self.batch_size) {
            p.push(tributary_source::Problem::new(
                "batch_size",
                format!("{} is outside 1..=1000000", self.batch_size),
            ));
        }
        match p.is_empty() {
            true => Ok(()),
            false => Err(p),
        }
    }
}

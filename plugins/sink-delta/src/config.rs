//! Configuration of the `delta` sink: the raw [`DeltaConfig`] as written in a pipeline, and
//! the [`Validated`] form the sink is built from.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tributary_lake::{Location, PartitionSpec, S3Config};

use crate::error::{Error, Result};

/// The `delta` sink's configuration.
///
/// ```yaml
/// type: delta
/// url: s3://lake/cxone/interactions_delta
/// partition_by: [startTime:day]
/// schema_mode: merge
/// s3: { region: eu-west-1 }
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct DeltaConfig {
    /// The table's location: `s3://bucket/prefix`, `file:///abs/dir`, or a local path
    /// (relative paths are relative to the working directory). The table is created on the
    /// first window that has records. Example: `s3://lake/cxone/interactions_delta`.
    #[schemars(regex(pattern = r"^(?:(?:s3|file)://.+|(?![A-Za-z][A-Za-z0-9+.-]*://).+)$"))]
    pub url: String,
    /// Partition columns of the table, outermost first. `column:day` adds a `date` column
    /// (Delta `date`), `column:year` a `year` column (integer), `column:month` a `month`
    /// column (`2023-01`), `column:hour` an `hour` column (`2023-01-15T10`), each derived in
    /// UTC from an ISO-8601 string, timestamp or date column; a plain `column` partitions by
    /// that column's own value. Fixed when the table is created. Example: `[startTime:day]`.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// What a window whose columns differ from the table's does: `strict` fails it (naming
    /// the columns), `merge` adds new columns to the table (as nullable) and lands the
    /// window. A column whose type changed fails the window in both modes; a column the
    /// window lacks is written as null when the table allows nulls. Example: `merge`.
    #[serde(default = "default_schema_mode")]
    #[schemars(extend("enum" = ["strict", "merge"]))]
    pub schema_mode: String,
    /// Column compression of the data files: `zstd`, `snappy` or `none`. Example: `zstd`.
    #[serde(default = "default_compression")]
    #[schemars(extend("enum" = ["zstd", "snappy", "none"]))]
    pub compression: String,
    /// Start a new data file within a window once one reaches this many bytes. Example:
    /// `134217728` (128 MiB).
    #[serde(default = "default_target_file_bytes")]
    pub target_file_bytes: u64,
    /// At most this many partitions are written at once. A window that reaches more (a
    /// 90-day window partitioned by day) finishes the open files first and starts new ones,
    /// which bounds memory (each open partition holds its file's buffers, about 2 MiB); in
    /// a time-ordered export each day still gets one file, the day at the boundary two.
    /// Example: `16`.
    #[serde(default = "default_max_open_partitions")]
    pub max_open_partitions: usize,
    /// How often a window's commit is retried when another writer (another shard) committed
    /// first. Appends never conflict with appends, so a retry only re-reads the log.
    /// Example: `25`.
    #[serde(default = "default_commit_retries")]
    pub commit_retries: usize,
    /// Compaction of small files (`tributary delta optimize` runs it on demand).
    #[serde(default)]
    pub optimize: OptimizeConfig,
    /// Removal of files the table no longer references (`tributary delta vacuum` runs it on
    /// demand).
    #[serde(default)]
    pub vacuum: VacuumConfig,
    /// S3 settings, used when `url` is `s3://…`. The standard AWS environment variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT`, …) are read first; these keys
    /// override them. The store must honour conditional PUT (`If-None-Match: *`), as AWS S3,
    /// MinIO and moto do: that is how two writers never take the same table version.
    #[serde(default)]
    pub s3: S3Config,
}

/// `optimize:` compaction of small files into files of about `target_file_bytes`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct OptimizeConfig {
    /// Compact at the end of every run (after the last window). Example: `true`.
    #[serde(default)]
    pub after_run: bool,
    /// Files smaller than this are compacted, into files of about this size. Example:
    /// `134217728` (128 MiB).
    #[serde(default = "default_target_file_bytes")]
    pub target_file_bytes: u64,
    /// A partition is compacted only when it has at least this many small files. Example: `2`.
    #[serde(default = "default_min_files")]
    pub min_files: usize,
}

impl Default for OptimizeConfig {
    fn default() -> Self {
        OptimizeConfig {
            after_run: false,
            target_file_bytes: default_target_file_bytes(),
            min_files: default_min_files(),
        }
    }
}

/// `vacuum:` deleting data files the table stopped referencing (after `optimize`) and files
/// of windows that were written but never committed (a killed run), once old enough.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct VacuumConfig {
    /// Vacuum at the end of every run (after `optimize`). Example: `true`.
    #[serde(default)]
    pub after_run: bool,
    /// Keep unreferenced files younger than this many hours (readers of older table
    /// versions still need them). Unset: the table's `delta.deletedFileRetentionDuration`
    /// (7 days unless the table says otherwise). Example: `168`.
    #[serde(default)]
    pub retention_hours: Option<u64>,
    /// List what would be deleted without deleting it. Example: `true`.
    #[serde(default)]
    pub dry_run: bool,
}

fn default_schema_mode() -> String {
    "strict".to_string()
}
fn default_compression() -> String {
    "zstd".to_string()
}
fn default_target_file_bytes() -> u64 {
    128 * 1024 * 1024
}
fn default_max_open_partitions() -> usize {
    16
}
fn default_commit_retries() -> usize {
    25
}
fn default_min_files() -> usize {
    2
}

/// How a window with other columns than the table's is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaMode {
    /// Fail the window.
    Strict,
    /// Add new columns to the table.
    Merge,
}

/// Data file compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// zstd (default level).
    Zstd,
    /// snappy.
    Snappy,
    /// none.
    None,
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The URL as configured (for messages).
    pub url: String,
    /// Where the table is.
    pub location: Location,
    /// Partition columns.
    pub partition_by: Vec<PartitionSpec>,
    /// Schema evolution.
    pub schema_mode: SchemaMode,
    /// Data file compression.
    pub compression: Codec,
    /// Roll threshold within a window.
    pub target_file_bytes: u64,
    /// Partitions written at once.
    pub max_open_partitions: usize,
    /// Commit retries on a conflict.
    pub commit_retries: usize,
    /// Compaction.
    pub optimize: OptimizeConfig,
    /// Vacuum.
    pub vacuum: VacuumConfig,
    /// S3 settings.
    pub s3: S3Config,
}

impl DeltaConfig {
    /// Checks every key, naming the first one at fault.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key and what to write instead.
    pub fn validate(self) -> Result<Validated> {
        let location = tributary_lake::parse_location(&self.url)?;
        let partition_by = tributary_lake::parse_partitions(&self.partition_by)?;
        tributary_lake::check_s3(&self.url, &location, &self.s3)?;
        let schema_mode = match self.schema_mode.as_str() {
            "strict" => SchemaMode::Strict,
            "merge" => SchemaMode::Merge,
            other => {
                return Err(Error::config(
                    "schema_mode",
                    format!("{other:?} is not one of strict, merge"),
                ));
            }
        };
        let compression = match self.compression.as_str() {
            "zstd" => Codec::Zstd,
            "snappy" => Codec::Snappy,
            "none" => Codec::None,
            other => {
                return Err(Error::config(
                    "compression",
                    format!("{other:?} is not one of zstd, snappy, none"),
                ));
            }
        };
        if self.target_file_bytes == 0 {
            return Err(Error::config(
                "target_file_bytes",
                "must be at least 1 (default 134217728)",
            ));
        }
        if self.max_open_partitions == 0 {
            return Err(Error::config(
                "max_open_partitions",
                "must be at least 1 (default 16)",
            ));
        }
        if self.optimize.target_file_bytes == 0 {
            return Err(Error::config(
                "optimize.target_file_bytes",
                "must be at least 1 (default 134217728)",
            ));
        }
        if self.optimize.min_files < 2 {
            return Err(Error::config(
                "optimize.min_files",
                "must be at least 2: compacting one file into one file changes nothing",
            ));
        }
        Ok(Validated {
            url: self.url,
            location,
            partition_by,
            schema_mode,
            compression,
            target_file_bytes: self.target_file_bytes,
            max_open_partitions: self.max_open_partitions,
            commit_retries: self.commit_retries,
            optimize: self.optimize,
            vacuum: self.vacuum,
            s3: self.s3,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: serde_json::Value) -> std::result::Result<Validated, String> {
        let c: DeltaConfig = serde_json::from_value(json).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults() {
        let v = cfg(serde_json::json!({"url": "s3://lake/t", "partition_by": ["startTime:day"]}))
            .unwrap();
        assert_eq!(v.schema_mode, SchemaMode::Strict);
        assert_eq!(v.compression, Codec::Zstd);
        assert_eq!(v.partition_by[0].key(), "date");
        assert!(!v.optimize.after_run && !v.vacuum.after_run);
        assert_eq!(v.optimize.min_files, 2);
    }

    #[test]
    fn clear_messages_name_the_key() {
        let e = cfg(serde_json::json!({"url": "/tmp/x", "schema_mode": "loose"})).unwrap_err();
        assert_eq!(e, r#"schema_mode: "loose" is not one of strict, merge"#);
        let e =
            cfg(serde_json::json!({"url": "/tmp/x", "optimize": {"min_files": 1}})).unwrap_err();
        assert!(e.starts_with("optimize.min_files:"), "{e}");
        let e = cfg(serde_json::json!({"url": "gs://b/t"})).unwrap_err();
        assert!(e.starts_with("url:"), "{e}");
        let e = cfg(serde_json::json!({"url": "/tmp/x", "s3": {"region": "x"}})).unwrap_err();
        assert!(e.starts_with("s3:"), "{e}");
        let e = cfg(serde_json::json!({"url": "/tmp/x", "vacuum": {"bogus": 1}})).unwrap_err();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn secrets_never_print() {
        let c: DeltaConfig = serde_json::from_value(serde_json::json!({
            "url": "s3://b/p",
            "s3": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "hunter2"}
        }))
        .unwrap();
        for s in [format!("{c:?}"), serde_json::to_string(&c).unwrap()] {
            assert!(!s.contains("hunter2") && !s.contains("AKIAEXAMPLE"), "{s}");
        }
        let schema = tributary_plugin_sdk::config_schema::<DeltaConfig>().to_string();
        assert!(schema.contains("x-sensitive"), "{schema}");
    }
}

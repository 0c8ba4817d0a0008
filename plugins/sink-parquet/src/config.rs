//! Configuration of the `parquet` sink: the raw [`ParquetConfig`] as written in a pipeline,
//! and the [`Validated`] form the sink is built from.

use std::path::PathBuf;

use object_store::path::Path as ObjectPath;
use parquet::basic::{Compression, ZstdLevel};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use tributary_lake::{Granularity, PartitionSpec, S3Config};
pub use tributary_plugin_sdk::secret::Secret;

/// The `parquet` sink's configuration.
///
/// ```yaml
/// type: parquet
/// url: s3://lake/cxone/interactions
/// partition_by: [startTime:day]
/// compression: zstd
/// s3: { region: eu-west-1 }
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct ParquetConfig {
    /// Where the files land: `s3://bucket/prefix`, `file:///abs/dir`, or a local path
    /// (relative paths are relative to the working directory). Example: `s3://lake/cxone/interactions`.
    #[schemars(regex(pattern = r"^(?:(?:s3|file)://.+|(?![A-Za-z][A-Za-z0-9+.-]*://).+)$"))]
    pub url: String,
    /// Hive-style partition columns, outermost first. `column:day` (→ `date=2023-01-15`),
    /// `column:month` (→ `month=2023-01`), `column:hour` (→ `hour=2023-01-15T10`), `column:year`
    /// (→ `year=2023`) derive the partition from an ISO-8601 string, timestamp or date column,
    /// in UTC; a plain `column` partitions by its value (→ `direction=inbound`). Example: `[startTime:day]`.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// Rows per row group (the unit readers skip and parallelise on). Example: `122880`.
    #[serde(default = "default_row_group_rows")]
    pub row_group_rows: usize,
    /// Roll to a new part file once a file reaches this many bytes. Example: `134217728` (128 MiB).
    #[serde(default = "default_target_file_bytes")]
    pub target_file_bytes: u64,
    /// Column compression: `zstd`, `snappy` or `none`. Example: `zstd`.
    #[serde(default = "default_compression")]
    #[schemars(extend("enum" = ["zstd", "snappy", "none"]))]
    pub compression: String,
    /// Size of each multipart-upload part in bytes (at least 5 MiB, S3's minimum); files
    /// smaller than one part are uploaded with a single PUT. Example: `8388608`.
    #[serde(default = "default_upload_part_bytes")]
    pub upload_part_bytes: usize,
    /// How many part files may be open at once (one per partition being written); when more
    /// partitions appear in a window, the least recently used file is finished. Bounds memory
    /// to about this many open row groups. Example: `32`.
    #[serde(default = "default_max_open_files")]
    pub max_open_files: usize,
    /// Memory the open part files may hold together (row groups being built and encoded
    /// bytes not yet uploaded). Above it, the least recently written files are finished
    /// early: with records arriving in time order (as CXone exports them), these are the
    /// partitions that are complete anyway; otherwise a partition gets more, smaller part
    /// files. Example: `16777216` (16 MiB, the default).
    #[serde(default = "default_max_buffered_bytes")]
    pub max_buffered_bytes: u64,
    /// S3 settings, used when `url` is `s3://…`. The standard AWS environment variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT`, …) are read first; these keys override them.
    #[serde(default)]
    pub s3: S3Config,
}

fn default_row_group_rows() -> usize {
    122_880
}
fn default_target_file_bytes() -> u64 {
    128 * 1024 * 1024
}
fn default_compression() -> String {
    "zstd".to_string()
}
fn default_upload_part_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_max_open_files() -> usize {
    32
}
fn default_max_buffered_bytes() -> u64 {
    16 * 1024 * 1024
}

/// S3's smallest allowed multipart part (except the last).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

/// Where the files go: a local directory, or an S3 bucket and key prefix.
#[derive(Debug, Clone)]
pub enum Location {
    /// A local directory.
    Local {
        /// The directory.
        dir: PathBuf,
    },
    /// An S3 bucket and key prefix.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket.
        prefix: ObjectPath,
    },
}

/// A checked configuration.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The URL as configured (for messages).
    pub url: String,
    /// Where files go.
    pub location: Location,
    /// Partition columns.
    pub partition_by: Vec<PartitionSpec>,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// Roll threshold.
    pub target_file_bytes: u64,
    /// Parquet compression.
    pub compression: Compression,
    /// Multipart part size.
    pub upload_part_bytes: usize,
    /// Open file bound.
    pub max_open_files: usize,
    /// Bound on the memory held by open files together.
    pub max_buffered_bytes: u64,
    /// S3 settings.
    pub s3: S3Config,
}

fn parse_location(url: &str) -> Result<Location> {
    Ok(match tributary_lake::parse_location(url)? {
        tributary_lake::Location::Local { dir } => Location::Local { dir },
        tributary_lake::Location::S3 { bucket, prefix } => Location::S3 {
            bucket,
            prefix: ObjectPath::parse(&prefix).map_err(|e| {
                Error::config("url", format!("{url:?} has an invalid key prefix: {e}"))
            })?,
        },
    })
}

impl ParquetConfig {
    /// Checks every key, naming the first one at fault.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key and what to write instead.
    pub fn validate(self) -> Result<Validated> {
        let location = parse_location(&self.url)?;
        let partition_by = tributary_lake::parse_partitions(&self.partition_by)?;
        if self.row_group_rows == 0 {
            return Err(Error::config(
                "row_group_rows",
                "must be at least 1 (default 122880)",
            ));
        }
        if self.target_file_bytes == 0 {
            return Err(Error::config(
                "target_file_bytes",
                "must be at least 1 (default 134217728)",
            ));
        }
        if self.max_buffered_bytes == 0 {
            return Err(Error::config(
                "max_buffered_bytes",
                "must be at least 1 (default 16777216)",
            ));
        }
        if self.max_open_files == 0 {
            return Err(Error::config(
                "max_open_files",
                "must be at least 1 (default 32)",
            ));
        }
        if self.upload_part_bytes < MIN_PART_BYTES {
            return Err(Error::config(
                "upload_part_bytes",
                format!(
                    "{} is below S3's minimum part size of {MIN_PART_BYTES} bytes (5 MiB)",
                    self.upload_part_bytes
                ),
            ));
        }
        let compression = match self.compression.as_str() {
            "zstd" => Compression::ZSTD(ZstdLevel::default()),
            "snappy" => Compression::SNAPPY,
            "none" => Compression::UNCOMPRESSED,
            other => {
                return Err(Error::config(
                    "compression",
                    format!("{other:?} is not one of zstd, snappy, none"),
                ));
            }
        };
        tributary_lake::check_s3(
            &self.url,
            &tributary_lake::parse_location(&self.url)?,
            &self.s3,
        )?;
        Ok(Validated {
            url: self.url,
            location,
            partition_by,
            row_group_rows: self.row_group_rows,
            target_file_bytes: self.target_file_bytes,
            compression,
            upload_part_bytes: self.upload_part_bytes,
            max_open_files: self.max_open_files,
            max_buffered_bytes: self.max_buffered_bytes,
            s3: self.s3,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: serde_json::Value) -> std::result::Result<Validated, String> {
        let c: ParquetConfig = serde_json::from_value(json).map_err(|e| e.to_string())?;
        c.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_partitions() {
        let v = cfg(serde_json::json!({"url": "s3://lake/cx/int", "partition_by": ["startTime:day", "direction"]}))
            .unwrap();
        assert_eq!(v.row_group_rows, 122_880);
        assert_eq!(v.target_file_bytes, 128 * 1024 * 1024);
        assert!(matches!(v.compression, Compression::ZSTD(_)));
        assert_eq!(
            v.partition_by[0],
            PartitionSpec {
                column: "startTime".into(),
                granularity: Some(Granularity::Day)
            }
        );
        assert_eq!(v.partition_by[1].key(), "direction");
        match v.location {
            Location::S3 { bucket, prefix } => {
                assert_eq!(bucket, "lake");
                assert_eq!(prefix.as_ref(), "cx/int");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn clear_messages_name_the_key() {
        let e = cfg(serde_json::json!({"url": "/tmp/x", "compression": "zip"})).unwrap_err();
        assert_eq!(e, r#"compression: "zip" is not one of zstd, snappy, none"#);
        let e = cfg(serde_json::json!({"url": "/tmp/x", "partition_by": ["startTime:week"]}))
            .unwrap_err();
        assert!(
            e.starts_with("partition_by[0]: granularity \"week\""),
            "{e}"
        );
        let e = cfg(serde_json::json!({"url": "/tmp/x", "partition_by": ["../x"]})).unwrap_err();
        assert!(e.starts_with("partition_by[0]"), "{e}");
        let e = cfg(serde_json::json!({"url": "gs://b/p"})).unwrap_err();
        assert!(e.contains("\"gs\""), "{e}");
        let e =
            cfg(serde_json::json!({"url": "s3://b/p", "s3": {"endpoint": "http://127.0.0.1:1"}}))
                .unwrap_err();
        assert!(
            e.starts_with("s3.endpoint:") && e.contains("allow_http"),
            "{e}"
        );
        let e = cfg(serde_json::json!({"url": "/tmp/x", "row_group_rows": 0})).unwrap_err();
        assert!(e.starts_with("row_group_rows:"), "{e}");
        let e = cfg(serde_json::json!({"url": "/tmp/x", "bogus": 1})).unwrap_err();
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn secrets_never_print() {
        let c: ParquetConfig = serde_json::from_value(serde_json::json!({
            "url": "s3://b/p",
            "s3": {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "hunter2", "session_token": "tok"}
        }))
        .unwrap();
        let dbg = format!("{c:?}");
        let ser = serde_json::to_string(&c).unwrap();
        for s in [dbg, ser] {
            assert!(
                !s.contains("hunter2") && !s.contains("AKIAEXAMPLE") && !s.contains("tok\""),
                "{s}"
            );
            assert!(s.contains("**REDACTED**"));
        }
        let schema = tributary_plugin_sdk::config_schema::<ParquetConfig>();
        let text = schema.to_string();
        assert!(text.contains("x-sensitive"), "{text}");
        assert!(text.contains("\"additionalProperties\":false"), "{text}");
    }
}

//! Configuration of the `parquet` sink: the raw [`ParquetConfig`] as written in a pipeline,
//! and the [`Validated`] form the sink is built from.

use std::path::PathBuf;

use object_store::path::Path as ObjectPath;
use parquet::basic::{Compression, ZstdLevel};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

/// S3 (and S3-compatible store) settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct S3Config {
    /// Endpoint of an S3-compatible store. Example: `http://127.0.0.1:9000`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// Region. Example: `eu-west-1`.
    #[serde(default)]
    pub region: Option<String>,
    /// Access key id. Example: `${AWS_ACCESS_KEY_ID}`.
    #[serde(default)]
    pub access_key_id: Option<Secret>,
    /// Secret access key. Example: `${AWS_SECRET_ACCESS_KEY}`.
    #[serde(default)]
    pub secret_access_key: Option<Secret>,
    /// Session token of temporary credentials. Example: `${AWS_SESSION_TOKEN}`.
    #[serde(default)]
    pub session_token: Option<Secret>,
    /// Path-style addressing (`endpoint/bucket/key`) instead of virtual-hosted style
    /// (`bucket.endpoint/key`); most S3-compatible stores need `true`. Example: `true`.
    #[serde(default)]
    pub force_path_style: Option<bool>,
    /// Allow plain `http://` endpoints (S3-compatible stores on a private network). Example: `true`.
    #[serde(default)]
    pub allow_http: Option<bool>,
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

/// Where the files go.
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

/// Time granularity of a derived partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// `year=2023`
    Year,
    /// `month=2023-01`
    Month,
    /// `date=2023-01-15`
    Day,
    /// `hour=2023-01-15T10`
    Hour,
}

impl Granularity {
    /// The Hive key this granularity writes.
    pub fn key(self) -> &'static str {
        match self {
            Granularity::Year => "year",
            Granularity::Month => "month",
            Granularity::Day => "date",
            Granularity::Hour => "hour",
        }
    }
}

/// One `partition_by` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSpec {
    /// The source column.
    pub column: String,
    /// `Some` for a time-derived partition, `None` for the column's own value.
    pub granularity: Option<Granularity>,
}

impl PartitionSpec {
    /// The Hive key (`date`, `direction`).
    pub fn key(&self) -> &str {
        match self.granularity {
            Some(g) => g.key(),
            None => &self.column,
        }
    }
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

fn parse_partition(i: usize, spec: &str) -> Result<PartitionSpec> {
    let key = format!("partition_by[{i}]");
    let (column, granularity) = match spec.rsplit_once(':') {
        Some((col, g)) => {
            let g = match g {
                "year" => Granularity::Year,
                "month" => Granularity::Month,
                "day" => Granularity::Day,
                "hour" => Granularity::Hour,
                other => {
                    return Err(Error::config(
                        key,
                        format!(
                            "granularity {other:?} in {spec:?} is not one of year, month, day, hour"
                        ),
                    ));
                }
            };
            (col, Some(g))
        }
        None => (spec, None),
    };
    let ok = !column.is_empty()
        && column
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !ok {
        return Err(Error::config(
            key,
            format!(
                "column {column:?} must be a non-empty name of letters, digits, `_` or `-` (it becomes a directory name)"
            ),
        ));
    }
    Ok(PartitionSpec {
        column: column.to_string(),
        granularity,
    })
}

fn parse_location(url: &str) -> Result<Location> {
    if url.trim().is_empty() {
        return Err(Error::config(
            "url",
            "is empty; give s3://bucket/prefix, file:///dir or a local path",
        ));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(Error::config(
                "url",
                format!("{url:?} has no bucket; write s3://bucket/prefix"),
            ));
        }
        let prefix = ObjectPath::parse(prefix)
            .map_err(|e| Error::config("url", format!("{url:?} has an invalid key prefix: {e}")))?;
        return Ok(Location::S3 {
            bucket: bucket.to_string(),
            prefix,
        });
    }
    if let Some(rest) = url.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(Error::config(
                "url",
                format!("{url:?}: a file URL needs an absolute path (file:///dir)"),
            ));
        }
        return Ok(Location::Local {
            dir: PathBuf::from(rest),
        });
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(Error::config(
            "url",
            format!(
                "scheme {scheme:?} in {url:?} is not supported; use s3://, file:// or a local path"
            ),
        ));
    }
    Ok(Location::Local {
        dir: PathBuf::from(url),
    })
}

impl ParquetConfig {
    /// Checks every key, naming the first one at fault.
    ///
    /// # Errors
    /// [`Error::Config`] naming the key and what to write instead.
    pub fn validate(self) -> Result<Validated> {
        let location = parse_location(&self.url)?;
        let partition_by = self
            .partition_by
            .iter()
            .enumerate()
            .map(|(i, s)| parse_partition(i, s))
            .collect::<Result<Vec<_>>>()?;
        for (i, p) in partition_by.iter().enumerate() {
            if partition_by.iter().take(i).any(|q| q.key() == p.key()) {
                return Err(Error::config(
                    format!("partition_by[{i}]"),
                    format!("{:?} repeats the partition key `{}`", p.column, p.key()),
                ));
            }
        }
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
        let is_s3 = matches!(location, Location::S3 { .. });
        if !is_s3 {
            let s = &self.s3;
            let set = s.endpoint.is_some()
                || s.region.is_some()
                || s.access_key_id.is_some()
                || s.secret_access_key.is_some()
                || s.session_token.is_some()
                || s.force_path_style.is_some()
                || s.allow_http.is_some();
            if set {
                return Err(Error::config(
                    "s3",
                    format!("is set but `url` {:?} is not an s3:// URL", self.url),
                ));
            }
        }
        if let Some(ep) = &self.s3.endpoint {
            if ep.starts_with("http://") && self.s3.allow_http != Some(true) {
                return Err(Error::config(
                    "s3.endpoint",
                    format!("{ep:?} is plain http; set `s3.allow_http: true` to allow it"),
                ));
            }
            if !ep.starts_with("http://") && !ep.starts_with("https://") {
                return Err(Error::config(
                    "s3.endpoint",
                    format!("{ep:?} must start with https:// or http://"),
                ));
            }
        }
        if self.s3.access_key_id.is_some() != self.s3.secret_access_key.is_some() {
            return Err(Error::config(
                "s3.access_key_id",
                "access_key_id and secret_access_key must be given together",
            ));
        }
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

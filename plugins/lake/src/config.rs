//! The configuration keys the lake sinks share: `url`, `partition_by` and `s3`.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tributary_plugin_sdk::secret::Secret;

/// A key with a value a sink cannot use: the key path and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The key path (`partition_by[0]`, `s3.endpoint`).
    pub key: String,
    /// What is wrong and what to do.
    pub message: String,
}

impl ConfigError {
    /// An error for `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            message: message.into(),
        }
    }
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

/// Applies an [`S3Config`] to an `object_store` `AmazonS3Builder`: endpoint, region,
/// credentials, path style and plain http, each only when set. A macro rather than a
/// function because the lake sinks pin different `object_store` versions (the delta sink
/// takes delta-rs' one), whose builders are different types with the same methods.
///
/// ```ignore
/// let b = tributary_lake::apply_s3!(AmazonS3Builder::from_env().with_bucket_name(bucket), &cfg.s3);
/// ```
#[macro_export]
macro_rules! apply_s3 {
    ($builder:expr, $s3:expr) => {{
        let s3: &$crate::S3Config = $s3;
        let mut b = $builder;
        if let Some(v) = &s3.endpoint {
            b = b.with_endpoint(v);
        }
        if let Some(v) = &s3.region {
            b = b.with_region(v);
        }
        if let Some(v) = &s3.access_key_id {
            b = b.with_access_key_id(v.expose());
        }
        if let Some(v) = &s3.secret_access_key {
            b = b.with_secret_access_key(v.expose());
        }
        if let Some(v) = &s3.session_token {
            b = b.with_token(v.expose());
        }
        if let Some(v) = s3.force_path_style {
            b = b.with_virtual_hosted_style_request(!v);
        }
        if let Some(v) = s3.allow_http {
            b = b.with_allow_http(v);
        }
        b
    }};
}

impl S3Config {
    fn is_set(&self) -> bool {
        self.endpoint.is_some()
            || self.region.is_some()
            || self.access_key_id.is_some()
            || self.secret_access_key.is_some()
            || self.session_token.is_some()
            || self.force_path_style.is_some()
            || self.allow_http.is_some()
    }
}

/// Where a sink lands its data.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        /// Key prefix inside the bucket, without leading or trailing `/`.
        prefix: String,
    },
}

/// Parses `url`: `s3://bucket/prefix`, `file:///abs/dir` or a local path.
///
/// # Errors
/// A [`ConfigError`] on `url` saying which form to write.
pub fn parse_location(url: &str) -> Result<Location, ConfigError> {
    if url.trim().is_empty() {
        return Err(ConfigError::new(
            "url",
            "is empty; give s3://bucket/prefix, file:///dir or a local path",
        ));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(ConfigError::new(
                "url",
                format!("{url:?} has no bucket; write s3://bucket/prefix"),
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|seg| seg == "." || seg == ".." || (seg.is_empty() && !prefix.is_empty()))
        {
            return Err(ConfigError::new(
                "url",
                format!("{url:?} has an invalid key prefix (empty, `.` or `..` segments)"),
            ));
        }
        return Ok(Location::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        });
    }
    if let Some(rest) = url.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(ConfigError::new(
                "url",
                format!("{url:?}: a file URL needs an absolute path (file:///dir)"),
            ));
        }
        return Ok(Location::Local {
            dir: PathBuf::from(rest),
        });
    }
    if let Some((scheme, _)) = url.split_once("://") {
        return Err(ConfigError::new(
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

/// Checks the `s3` keys against the location: only for `s3://` URLs, plain http only with
/// `allow_http`, access key id and secret together.
///
/// # Errors
/// A [`ConfigError`] naming the `s3.*` key at fault.
pub fn check_s3(url: &str, location: &Location, s3: &S3Config) -> Result<(), ConfigError> {
    if !matches!(location, Location::S3 { .. }) && s3.is_set() {
        return Err(ConfigError::new(
            "s3",
            format!("is set but `url` {url:?} is not an s3:// URL"),
        ));
    }
    if let Some(ep) = &s3.endpoint {
        if ep.starts_with("http://") && s3.allow_http != Some(true) {
            return Err(ConfigError::new(
                "s3.endpoint",
                format!("{ep:?} is plain http; set `s3.allow_http: true` to allow it"),
            ));
        }
        if !ep.starts_with("http://") && !ep.starts_with("https://") {
            return Err(ConfigError::new(
                "s3.endpoint",
                format!("{ep:?} must start with https:// or http://"),
            ));
        }
    }
    if s3.access_key_id.is_some() != s3.secret_access_key.is_some() {
        return Err(ConfigError::new(
            "s3.access_key_id",
            "access_key_id and secret_access_key must be given together",
        ));
    }
    Ok(())
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
    /// The partition key (column) this granularity writes.
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
    /// The partition key (`date`, `direction`).
    pub fn key(&self) -> &str {
        match self.granularity {
            Some(g) => g.key(),
            None => &self.column,
        }
    }
}

fn parse_partition(i: usize, spec: &str) -> Result<PartitionSpec, ConfigError> {
    let key = format!("partition_by[{i}]");
    let (column, granularity) = match spec.rsplit_once(':') {
        Some((col, g)) => {
            let g = match g {
                "year" => Granularity::Year,
                "month" => Granularity::Month,
                "day" => Granularity::Day,
                "hour" => Granularity::Hour,
                other => {
                    return Err(ConfigError::new(
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
        return Err(ConfigError::new(
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

/// Parses every `partition_by` entry and refuses two that write the same key.
///
/// # Errors
/// A [`ConfigError`] on `partition_by[i]`.
pub fn parse_partitions(specs: &[String]) -> Result<Vec<PartitionSpec>, ConfigError> {
    let parsed = specs
        .iter()
        .enumerate()
        .map(|(i, s)| parse_partition(i, s))
        .collect::<Result<Vec<_>, _>>()?;
    for (i, p) in parsed.iter().enumerate() {
        if parsed.iter().take(i).any(|q| q.key() == p.key()) {
            return Err(ConfigError::new(
                format!("partition_by[{i}]"),
                format!("{:?} repeats the partition key `{}`", p.column, p.key()),
            ));
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_parse_and_name_the_entry_at_fault() {
        let p = parse_partitions(&["startTime:day".into(), "direction".into()]).unwrap();
        assert_eq!(p[0].key(), "date");
        assert_eq!(p[0].granularity, Some(Granularity::Day));
        assert_eq!(p[1].key(), "direction");
        let e = parse_partitions(&["startTime:week".into()]).unwrap_err();
        assert_eq!(e.key, "partition_by[0]");
        let e = parse_partitions(&["a:day".into(), "b:day".into()]).unwrap_err();
        assert_eq!(e.key, "partition_by[1]");
        assert!(e.message.contains("`date`"), "{e}");
        let e = parse_partitions(&["../x".into()]).unwrap_err();
        assert_eq!(e.key, "partition_by[0]");
    }

    #[test]
    fn locations() {
        assert_eq!(
            parse_location("s3://lake/a/b/").unwrap(),
            Location::S3 {
                bucket: "lake".into(),
                prefix: "a/b".into()
            }
        );
        assert_eq!(
            parse_location("file:///tmp/x").unwrap(),
            Location::Local {
                dir: "/tmp/x".into()
            }
        );
        assert!(
            parse_location("gs://b/p")
                .unwrap_err()
                .message
                .contains("\"gs\"")
        );
        assert!(parse_location("s3:///p").is_err());
        assert!(parse_location("s3://b/a/../c").is_err());
        assert!(parse_location("file://rel").is_err());
        assert!(parse_location(" ").is_err());
    }

    #[test]
    fn s3_keys_are_checked_against_the_url() {
        let s3: S3Config =
            serde_json::from_value(serde_json::json!({"endpoint": "http://127.0.0.1:1"})).unwrap();
        let loc = parse_location("s3://b/p").unwrap();
        assert_eq!(
            check_s3("s3://b/p", &loc, &s3).unwrap_err().key,
            "s3.endpoint"
        );
        let local = parse_location("/tmp/x").unwrap();
        assert_eq!(check_s3("/tmp/x", &local, &s3).unwrap_err().key, "s3");
        let half: S3Config =
            serde_json::from_value(serde_json::json!({"access_key_id": "AKIA"})).unwrap();
        assert_eq!(
            check_s3("s3://b/p", &loc, &half).unwrap_err().key,
            "s3.access_key_id"
        );
        assert!(check_s3("s3://b/p", &loc, &S3Config::default()).is_ok());
    }
}

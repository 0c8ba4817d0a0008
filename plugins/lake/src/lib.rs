//! # tributary-lake
//!
//! What the lake sinks share, so each rule has one home: the `s3:` settings and their
//! checks, the `url:` forms, `partition_by` specs (`startTime:day`), and reading a time
//! column (ISO-8601 text, timestamps, dates) in UTC. The sinks build their own
//! object stores from these (the parquet and delta sinks pin different `object_store`
//! versions), so nothing here depends on one.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod time;

pub use config::{
    ConfigError, Granularity, Location, PartitionSpec, S3Config, check_s3, parse_location,
    parse_partitions,
};

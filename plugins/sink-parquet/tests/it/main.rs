//! Integration tests of the parquet sink: local folder, moto S3, the `.so` through the SDK host,
//! and the SDK's sink contract (in-process and through the `.so`).
// Test helpers outside #[test] fns: clippy.toml's allow-*-in-tests does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
mod contract;
mod ffi;
mod local;
mod s3;

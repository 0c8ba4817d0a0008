//! Integration tests of the parquet sink: local folder, moto S3, and the `.so` through the SDK host.
// Test helpers outside #[test] fns: clippy.toml's allow-*-in-tests does not reach them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod common;
mod ffi;
mod local;
mod s3;

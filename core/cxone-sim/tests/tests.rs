//! Integration tests of the CXone simulator over loopback HTTP (one test binary).

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod access_key;
mod contract;
mod extraction;
mod knobs;
mod pagination;
mod reporting;
mod util;

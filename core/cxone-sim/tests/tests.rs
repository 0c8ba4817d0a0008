//! Integration tests of the CXone simulator over loopback HTTP (one test binary).

// Helpers outside `#[test]` functions are test code too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod contract;
mod knobs;
mod pagination;
mod util;

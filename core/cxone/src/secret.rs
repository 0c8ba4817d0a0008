//! The secret type: the SDK's [`tributary_plugin_sdk::secret::Secret`], re-exported.

pub use tributary_plugin_sdk::secret::{REDACTED, Secret};

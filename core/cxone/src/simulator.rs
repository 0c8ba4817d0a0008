//! The built-in simulator as the source sees it: a pipeline's `simulator:` section is
//! plain config ([`tributary_cxone_sim::SimConfig`], types only), and starting a server
//! for it is the job of whoever builds the binary. The `tributary` CLI, with its default
//! cargo feature `simulator`, gives [`crate::CxoneFactory::with_simulator`] a
//! [`SimulatorStarter`]; a factory without one refuses to open such a pipeline
//! ([`NO_SIMULATOR`]). So this crate carries no HTTP server.

use tributary_cxone_sim::SimConfig;
use tributary_source::BoxFuture;

/// What opening a pipeline with `simulator:` says when no starter was given.
pub const NO_SIMULATOR: &str = "this build has no built-in simulator; build the CLI with the \
     `simulator` feature (on by default), or remove `simulator:` and set `base_url`";

/// Starts a simulator for a pipeline's `simulator:` section.
pub trait SimulatorStarter: Send + Sync {
    /// Starts a simulator with `config` on loopback (a free port).
    ///
    /// # Errors
    /// What went wrong (a knob the simulator refuses, no port to bind), in words.
    fn start(&self, config: SimConfig) -> BoxFuture<'_, Result<StartedSimulator, String>>;
}

/// A simulator [`SimulatorStarter::start`] started.
pub struct StartedSimulator {
    /// Its base URL (`http://127.0.0.1:<port>`), the source's `base_url`.
    pub base_url: String,
    /// Stops it.
    pub handle: Box<dyn SimulatorHandle>,
}

impl std::fmt::Debug for StartedSimulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StartedSimulator")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A running simulator.
pub trait SimulatorHandle: Send + Sync {
    /// Stops accepting connections, lets requests in flight finish, then returns.
    fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()>;
}

//! The source types built into the `tributary` binary. Adding one is a line here and a
//! crate; the engine names none.

use std::sync::Arc;

use tributary_engine::SourceCatalog;

/// Every built-in source type.
pub fn builtin() -> SourceCatalog {
    SourceCatalog::new()
        .with(Arc::new(cxone()))
        .with(Arc::new(tributary_source_file::FileFactory))
}

/// The `cxone` source, starting `simulator:` sections when the binary has the simulator
/// (cargo feature `simulator`, on by default).
fn cxone() -> tributary_cxone::CxoneFactory {
    #[cfg(feature = "simulator")]
    return tributary_cxone::CxoneFactory::with_simulator(Arc::new(simulator::Builtin));
    #[cfg(not(feature = "simulator"))]
    return tributary_cxone::CxoneFactory::new();
}

/// The built-in simulator's server (`tributary_cxone_sim`'s `server` feature) behind the
/// `cxone` source's starter.
#[cfg(feature = "simulator")]
mod simulator {
    use tributary_cxone::{SimulatorHandle, SimulatorStarter, StartedSimulator};
    use tributary_cxone_sim::{SimConfig, SimHandle, Simulator};
    use tributary_source::BoxFuture;

    /// Starts simulators on a free loopback port.
    pub(super) struct Builtin;

    impl SimulatorStarter for Builtin {
        fn start(&self, config: SimConfig) -> BoxFuture<'_, Result<StartedSimulator, String>> {
            Box::pin(async move {
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
                let handle = Simulator::start(config, addr)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(StartedSimulator {
                    base_url: handle.base_url(),
                    handle: Box::new(Running(handle)),
                })
            })
        }
    }

    struct Running(SimHandle);

    impl SimulatorHandle for Running {
        fn shutdown(self: Box<Self>) -> BoxFuture<'static, ()> {
            Box::pin(self.0.shutdown())
        }
    }
}

/// Loads a pipeline file with the built-in source types.
pub fn load(
    file: &std::path::Path,
) -> Result<
    (
        tributary_engine::config::Pipeline,
        tributary_engine::plugins::Registry,
    ),
    tributary_engine::config::ConfigErrors,
> {
    tributary_engine::load(file, &builtin())
}

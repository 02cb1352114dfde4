//! The engine's own thread: one OS thread running a single-threaded tokio runtime that
//! holds the engine's loop *and* the MQTT connection it reads contacts from and writes
//! alerts and acknowledgements to. (Track states leave from a second such thread, the
//! output stage's: [`super::outputs`].)
//!
//! Why: on the default runtime (one worker per core) each contact crossed between the two
//! workers — the connection task woken on one, the engine's loop on the other, parked
//! workers woken with futex calls each time. Measured side by side (`cargo bench --bench
//! latency`, BENCHMARKS.md issue 23), the same build on one worker spent 18–29 % less CPU
//! per contact and at 25,000 msg/s lost no contact where two workers lost hundreds. The
//! rest of the service — the console's pages (a page's snapshot is tens of milliseconds of
//! work), the metrics endpoint, the broker watch — stays on the main runtime, on the other
//! core, where it cannot hold a contact up. (An earlier try put only the engine on a thread
//! and sent it each contact from the main runtime: a cross-thread wake-up per contact
//! again, and slower; the connections must live where the engine does.)

use super::error::{io_err, ServiceError};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// A handle to spawn on the engine's thread; the thread ends when `done` is sent (or
/// dropped).
pub struct EngineThread {
    pub handle: Handle,
    pub done: oneshot::Sender<()>,
}

impl EngineThread {
    pub fn start() -> Result<EngineThread, ServiceError> {
        Self::named("vigie-engine")
    }

    /// A thread like the engine's, under another name: the output stage's
    /// ([`super::outputs`]) is one.
    pub fn named(name: &str) -> Result<EngineThread, ServiceError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io_err("a runtime of its own"))?;
        let handle = rt.handle().clone();
        let (done, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                // Runs every task spawned on `handle` until told the engine has finished.
                rt.block_on(async {
                    let _ = stopped.await;
                });
            })
            .map_err(io_err("a thread of its own"))?;
        Ok(EngineThread { handle, done })
    }
}

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
    /// The engine's thread, at niceness `nice` (`threads.engine_nice`).
    pub fn start(nice: i32) -> Result<EngineThread, ServiceError> {
        Self::named("vigie-engine", nice)
    }

    /// A thread like the engine's, under another name and at niceness `nice` (0 leaves it
    /// as the process is): the output stage's ([`super::outputs`]) is one.
    pub fn named(name: &str, nice: i32) -> Result<EngineThread, ServiceError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(io_err("a runtime of its own"))?;
        let handle = rt.handle().clone();
        let (done, stopped) = oneshot::channel::<()>();
        let thread_name = name.to_string();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                if nice != 0 {
                    set_nice(&thread_name, nice);
                }
                // Runs every task spawned on `handle` until told the engine has finished.
                rt.block_on(async {
                    let _ = stopped.await;
                });
            })
            .map_err(io_err("a thread of its own"))?;
        Ok(EngineThread { handle, done })
    }
}

/// Sets the calling thread's niceness (Linux: per thread, `setpriority` on its own thread
/// id). Lowering a priority needs no privilege; raising one (below 0) needs `CAP_SYS_NICE`,
/// or systemd's `LimitNICE=` / `ulimit -e` allowing it. Refused, it says so once and the
/// thread runs as it is: a priority is a help under load, never a reason not to run.
fn set_nice(thread: &str, nice: i32) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: `gettid` and `setpriority` on this thread's own id touch no memory.
        let r =
            unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
        if r == 0 {
            tracing::info!("{thread} thread at nice {nice}");
        } else {
            tracing::warn!(
                "{thread} thread left at the process's priority, not nice {nice}: setpriority: {}{}",
                std::io::Error::last_os_error(),
                if nice < 0 {
                    " (a negative nice needs CAP_SYS_NICE, or LimitNICE= in the systemd unit)"
                } else {
                    ""
                }
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    tracing::warn!("{thread} thread: nice {nice} is applied on Linux only");
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The thread runs at the niceness asked for (lowering needs no privilege), and what
    /// the runtime runs runs there.
    #[test]
    fn a_thread_at_the_niceness_asked_for() {
        let t = EngineThread::named("vigie-test", 7).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        t.handle.spawn(async move {
            // SAFETY: reads this thread's own priority; touches no memory.
            let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as _) };
            let _ = tx.send(nice);
        });
        assert_eq!(rx.recv().unwrap(), 7);
        let _ = t.done.send(());
    }
}

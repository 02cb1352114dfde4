//! A command's main task and the one-shot signal that stops it gracefully: what
//! [`super::run::ServiceHandle`] and [`super::replicated::ReplicaHandle`] hold.

use tokio::sync::oneshot;

pub struct Running {
    shutdown: Option<oneshot::Sender<()>>,
    join: tokio::task::JoinHandle<()>,
}

impl Running {
    pub fn new(shutdown: oneshot::Sender<()>, join: tokio::task::JoinHandle<()>) -> Self {
        Running {
            shutdown: Some(shutdown),
            join,
        }
    }

    /// Signals the task to stop (SIGTERM semantics: what is in flight is finished) and
    /// waits for it.
    pub async fn stop(mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        let _ = self.join.await;
    }
}

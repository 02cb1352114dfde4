//! What can stop a command: the errors every command of [`super`] returns to `main`.

use super::mqtt::MqttError;
use crate::geo::zones::ZoneError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Zones(#[from] ZoneError),
    #[error(transparent)]
    Broker(#[from] super::broker::BrokerError),
    #[error(transparent)]
    Mqtt(#[from] MqttError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Nats(#[from] super::nats::NatsError),
    #[error(transparent)]
    Console(#[from] super::console::server::ConsoleError),
    #[error("reading the recording: {0}")]
    Recording(#[from] crate::recording::RecordingError),
    #[error("cannot listen for metrics on {addr}: {source}\n  fix: set metrics.listen (or VIGIE_METRICS_LISTEN) to a free address")]
    MetricsListen {
        addr: String,
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServiceError {
    let what = what.into();
    move |source| ServiceError::Io { what, source }
}

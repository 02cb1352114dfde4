//! Adapters and the commands built from them: everything that touches sockets, files,
//! clocks and tasks. The core ([`crate::engine`] and what it uses) knows nothing of this
//! module; each command drives a [`crate::pipeline::Pipeline`] and sends what it returns on.
//!
//! - Adapters: [`broker`] (the embedded MQTT broker), [`mqtt`] (the connection task),
//!   [`mqtt_states`] (track states on a connection of their own, written in batches),
//!   [`engine_thread`] (the engine's loop and its MQTT connections on one thread of their
//!   own), [`outputs`] (track states serialised, written and given to the console on a
//!   second thread),
//!   [`http`] (`/metrics`, `/healthz`, `/readyz`), [`publish`] (alerts and track states on
//!   MQTT, without ever waiting), [`console`] (the operator's page and its API, contract
//!   §7), [`incidents`] (the incident record, SQLite), [`cap`] (CAP 1.2 and CISE documents
//!   on MQTT, contract §8).
//! - Commands, one file each, named as on the command line: [`run`], [`replay`] (live and
//!   offline), [`record`]. `main.rs` only parses arguments and reports errors; tests start
//!   these same functions in-process.
pub mod active_mqtt;
pub mod broker;
pub mod broker_watch;
pub mod cap;
pub mod console;
pub mod debrief;
pub mod engine_thread;
pub mod error;
pub mod http;
pub mod incidents;
pub mod lifecycle;
pub mod memory_file;
pub mod mqtt;
pub mod mqtt_states;
pub mod nats;
pub mod outputs;
pub mod publish;
pub mod record;
pub mod replay;
pub mod replicated;
pub mod run;

pub use error::ServiceError;

//! Adapters: everything that touches sockets, files, clocks and tasks.
pub mod broker;
pub mod http;
pub mod mqtt;
pub mod recording;
pub mod service;

//! Geometry: the local metric frame and the interception-zone index.
pub mod frame;
pub mod zones;

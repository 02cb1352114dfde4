//! Geometry: the local metric frame and the interception-zone index.
/// Knots to metres per second (1 kn = 1852 m/h).
pub const KN_TO_MPS: f64 = 1852.0 / 3600.0;

pub mod coast;
pub mod frame;
pub mod zones;

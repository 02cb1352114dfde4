//! Alerts in the formats coordination centres exchange (contract §8): OASIS CAP 1.2
//! ([`cap`]), a CISE-shaped incident for the national node ([`cise`]), and an IAMSAR-style
//! situation report a watch officer reads aloud ([`sitrep`]).
//!
//! Part of the pure core: documents are built from alert events (and operator actions) and
//! event time only, so a replay gives the same documents byte for byte, and the adapters
//! only publish or write what these return.

pub mod cap;
pub mod cise;
pub mod sitrep;
pub mod text;

use crate::behaviour::AlertEvent;
use crate::config::Config;
use crate::geo::coast::{Coast, Shore};
use crate::geo::frame::LocalFrame;
use crate::geo::zones::Zone;
use geo::Simplify;
use rustc_hash::FxHashMap;

/// A shore further than this from a boat is not "the beach it is off".
const SHORE_MAX_M: f64 = 20_000.0;
/// CAP polygons are kept to at most this many points (receivers such as phone alerting
/// gateways refuse long ones); longer zone rings are simplified (Ramer–Douglas–Peucker).
const MAX_POLYGON_POINTS: usize = 100;

/// What every report needs besides the alert: who sends, the coast, the zones' shapes.
#[derive(Debug, Clone)]
pub struct ReportContext {
    pub sender: String,
    pub sender_name: String,
    /// The loiter circle's radius (km), drawn around the boat.
    pub circle_km: f64,
    coast: Coast,
    /// Per zone id: its rings as CAP polygons (`lat,lon` pairs, closed).
    polygons: FxHashMap<String, Vec<String>>,
}

impl ReportContext {
    /// From the configuration and its zones; the coast is the embedded Dover Strait one.
    pub fn new(cfg: &Config, zones: &[Zone]) -> Self {
        let (lat, lon) = cfg.frame_origin();
        let frame = LocalFrame::new(lat, lon);
        ReportContext {
            sender: cfg.cap.sender.clone(),
            sender_name: cfg.cap.sender_name.clone(),
            circle_km: cfg.alerts.loiter_radius_m / 1000.0,
            coast: Coast::dover_strait(&frame),
            polygons: zones
                .iter()
                .map(|z| (z.id.clone(), cap_polygons(z)))
                .collect(),
        }
    }

    /// The nearest shore to the alert's boat.
    pub fn shore(&self, a: &AlertEvent) -> Option<Shore> {
        self.coast.nearest(a.lat, a.lon, SHORE_MAX_M)
    }

    /// The CAP polygons of a zone (none for an unknown zone).
    pub fn polygons(&self, zone_id: &str) -> &[String] {
        self.polygons.get(zone_id).map_or(&[], Vec::as_slice)
    }
}

/// A zone's outer rings as CAP polygons: `lat,lon` pairs separated by spaces, first and last
/// equal, at least four; holes are dropped (CAP has none).
fn cap_polygons(z: &Zone) -> Vec<String> {
    z.geometry
        .0
        .iter()
        .filter_map(|p| {
            let mut ring = p.exterior().clone();
            let mut eps = 1e-5;
            while ring.0.len() > MAX_POLYGON_POINTS {
                ring = p.exterior().simplify(eps);
                eps *= 2.0;
            }
            if ring.0.len() < 4 {
                return None;
            }
            Some(
                ring.0
                    .iter()
                    .map(|c| format!("{:.6},{:.6}", c.y, c.x))
                    .collect::<Vec<_>>()
                    .join(" "),
            )
        })
        .collect()
}

/// Every document one alert event (or operator action) gives: the CAP chain of each active
/// alert, and the CISE incident of a raised pickup. One per engine (live or exercise data
/// alike: each event says which it is), shared by the offline writer and the live sink so
/// that both give the same documents for the same input.
pub struct Reports {
    ctx: std::sync::Arc<ReportContext>,
    cap: cap::CapWriter,
}

/// The documents of one alert event.
pub struct EventDocs {
    pub cap: cap::CapDoc,
    /// A CISE-shaped incident, for a raised taxi-boat pickup only.
    pub cise: Option<String>,
}

impl Reports {
    /// `exercise_note` says what the exercise is, in every exercise document's `note`.
    pub fn new(ctx: ReportContext, exercise_note: impl Into<String>) -> Self {
        let ctx = std::sync::Arc::new(ctx);
        Reports {
            cap: cap::CapWriter::new(ctx.clone(), exercise_note),
            ctx,
        }
    }

    pub fn on_event(&mut self, a: &AlertEvent) -> EventDocs {
        EventDocs {
            cap: self.cap.on_event(a),
            cise: cise::incident(&self.ctx, a),
        }
    }

    /// CAP `Update` (and `Ack` for an acknowledgement) of an operator action on an active
    /// alert; none for an alert this writer does not know as active.
    pub fn on_action(&mut self, act: &crate::behaviour::Action) -> Vec<cap::CapDoc> {
        self.cap.on_action(act)
    }

    /// Continues the chain of an alert an earlier run left active (see
    /// [`cap::CapWriter::restore`]).
    pub fn restore(&mut self, latest: &AlertEvent, retained_cap: Option<&[u8]>) -> bool {
        self.cap.restore(latest, retained_cap)
    }

    /// The SITREP of an alert event.
    pub fn sitrep(&self, a: &AlertEvent) -> String {
        sitrep::sitrep(&self.ctx, a)
    }
}

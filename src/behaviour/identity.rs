//! `ais_identity_conflict` alerts (contract §4): one MMSI transmitted from two places.
//!
//! The tracker decides what contradicts what ([`crate::track::identity`]); this turns its
//! contradictions into an alert with the §4 lifecycle: `raised` at the first, `updated` when
//! the contradiction recurs (at most once per `alerts.update_interval_s`), `cleared` with
//! reason `identity_consistent` when the tracker settles the conflict after
//! `alerts.identity_clear_s` without one.
//!
//! Fields, as a watch officer reads them: `mmsi` the contested MMSI; `lat`/`lon` where the
//! latest contradicting report put the vessel, away from the track the MMSI was fused with
//! (`other_lat`/`other_lon`: the other place), `zone` the interception zone there, if any; `track_id` the track that carried the MMSI when the
//! conflict began; `speed_kn` the speed one vessel would have needed between the two
//! reports, and `distance_m` how far apart they were; `dwell_s` how long the conflict has
//! lasted; `dark` true, as no track is identified by a contested MMSI.

use super::alert::{round, AlertEvent, AlertState, ZoneRef, KIND_IDENTITY_CONFLICT, MPS_TO_KN};
use crate::config::AlertsConfig;
use crate::geo::frame::LocalFrame;
use crate::geo::zones::ZoneIndex;
use crate::time::EventTime;
use crate::track::identity::{Contested, Contradiction};
use std::collections::BTreeMap;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Active {
    id: String,
    track_id: String,
    since: EventTime,
    last_emit: EventTime,
    /// The latest event's place and figures, for `cleared`. As its JSON in a snapshot: the
    /// event leaves out absent fields, which a binary format cannot.
    #[serde(with = "super::alert::as_json")]
    last: AlertEvent,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct IdentityAlerts {
    clear_s: f64,
    update_interval_s: f64,
    exercise: bool,
    active: BTreeMap<u32, Active>,
}

impl IdentityAlerts {
    pub fn new(cfg: &AlertsConfig, exercise: bool) -> Self {
        IdentityAlerts {
            clear_s: cfg.identity_clear_s,
            update_interval_s: cfg.update_interval_s,
            exercise,
            active: BTreeMap::new(),
        }
    }

    /// How long a conflict must go without recurring to be settled.
    pub fn clear_s(&self) -> f64 {
        self.clear_s
    }

    /// Active conflicts, for the metrics (they have no zone of their own).
    pub fn active(&self) -> usize {
        self.active.len()
    }

    /// A contradiction the tracker saw; pushes `raised` or a due `updated`.
    pub fn on_contradiction(
        &mut self,
        c: &Contradiction,
        track_label: Option<&str>,
        zones: &ZoneIndex,
        frame: &LocalFrame,
        out: &mut Vec<AlertEvent>,
    ) {
        if let Some(a) = self.active.get_mut(&c.mmsi) {
            if c.t.secs_since(a.last_emit) < self.update_interval_s {
                return;
            }
            let mut ev = event(&a.id, &a.track_id, c, a.since, zones, frame, self.exercise);
            ev.state = AlertState::Updated;
            a.last_emit = c.t;
            a.last = ev.clone();
            out.push(ev);
            return;
        }
        let track_id = track_label.unwrap_or_default().to_string();
        tracing::warn!(
            mmsi = c.mmsi,
            "MMSI {} reported {:.0} m from its track {}: two transmitters, its identity is \
             contested",
            c.mmsi,
            c.distance_m(),
            if track_id.is_empty() { "-" } else { &track_id }
        );
        let id = format!("ic-{}-{}", c.mmsi, c.since.compact());
        let ev = event(&id, &track_id, c, c.since, zones, frame, self.exercise);
        self.active.insert(
            c.mmsi,
            Active {
                id,
                track_id,
                since: c.since,
                last_emit: c.t,
                last: ev.clone(),
            },
        );
        out.push(ev);
    }

    /// The tracker settled `mmsi`'s conflict at `now`: pushes `cleared`.
    pub fn on_settled(&mut self, mmsi: u32, now: EventTime, out: &mut Vec<AlertEvent>) {
        let Some(a) = self.active.remove(&mmsi) else {
            return;
        };
        tracing::info!(
            mmsi,
            "MMSI {mmsi} consistent again for {:.0} s",
            self.clear_s
        );
        let mut ev = a.last;
        ev.state = AlertState::Cleared;
        ev.t = now;
        ev.dwell_s = round(now.secs_since(a.since), 10.0);
        ev.reason = Some("identity_consistent".into());
        out.push(ev);
    }

    /// Takes back a conflict an earlier run published; returns what the tracker must
    /// remember of it (the MMSI stays contested), or `None` if it is not one of ours.
    pub fn restore(&mut self, ev: &AlertEvent, frame: &LocalFrame) -> Option<(u32, Contested)> {
        if ev.kind != KIND_IDENTITY_CONFLICT
            || ev.exercise != self.exercise
            || ev.state == AlertState::Cleared
        {
            return None;
        }
        let mmsi = ev.mmsi?;
        let since = ev.t.plus_secs(-ev.dwell_s);
        self.active.entry(mmsi).or_insert(Active {
            id: ev.id.clone(),
            track_id: ev.track_id.clone(),
            since,
            last_emit: ev.t,
            last: ev.clone(),
        });
        let (x, y) = frame.to_local(ev.lat, ev.lon);
        Some((
            mmsi,
            Contested {
                since,
                last_contradiction: ev.t,
                last: (ev.t, [x, y]),
                track: None,
            },
        ))
    }
}

fn event(
    id: &str,
    track_id: &str,
    c: &Contradiction,
    since: EventTime,
    zones: &ZoneIndex,
    frame: &LocalFrame,
    exercise: bool,
) -> AlertEvent {
    let (lat, lon) = frame.to_geodetic(c.z[0], c.z[1]);
    let (olat, olon) = frame.to_geodetic(c.other.1[0], c.other.1[1]);
    let zone = zones.locate(c.z[0], c.z[1], None).map(|i| {
        let z = &zones.zones()[i];
        ZoneRef {
            id: z.id.clone(),
            name: z.name.clone(),
        }
    });
    AlertEvent {
        id: id.to_string(),
        kind: KIND_IDENTITY_CONFLICT.into(),
        state: AlertState::Raised,
        track_id: track_id.to_string(),
        t: c.t,
        lat: round(lat, 1e6),
        lon: round(lon, 1e6),
        zone,
        dwell_s: round(c.t.secs_since(since), 10.0),
        speed_kn: round(c.implied_speed() * MPS_TO_KN, 10.0),
        dark: true,
        mmsi: Some(c.mmsi),
        exercise,
        emitted_at: None,
        reason: None,
        distance_m: Some(round(c.distance_m(), 1.0)),
        other_lat: Some(round(olat, 1e6)),
        other_lon: Some(round(olon, 1e6)),
        name: None,
        sensors: None,
        position_error_m: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::zones::ZoneIndex;

    fn contradiction(t: f64, first: bool) -> Contradiction {
        Contradiction {
            mmsi: 227000001,
            t: EventTime::from_secs(0).plus_secs(t),
            z: [18_000.0, 0.0],
            other: (EventTime::from_secs(0).plus_secs(t - 10.0), [0.0, 0.0]),
            track: Some(7),
            first,
            since: EventTime::from_secs(0).plus_secs(100.0),
        }
    }

    /// Alerts that have seen the first contradiction (at 100 s, track T7), with what they
    /// pushed, and the frame and (empty) zones they were given.
    fn raised() -> (IdentityAlerts, Vec<AlertEvent>, LocalFrame, ZoneIndex) {
        let frame = LocalFrame::new(50.75, 1.6);
        let zones = ZoneIndex::new(Vec::new(), &frame);
        let mut ia = IdentityAlerts::new(&AlertsConfig::default(), false);
        let mut out = Vec::new();
        let c = contradiction(100.0, true);
        ia.on_contradiction(&c, Some("T7"), &zones, &frame, &mut out);
        (ia, out, frame, zones)
    }

    #[test]
    fn raised_updated_at_most_every_interval_then_cleared() {
        let (mut ia, mut out, frame, zones) = raised();
        for k in 1..=9 {
            let c = contradiction(100.0 + 10.0 * k as f64, false);
            ia.on_contradiction(&c, None, &zones, &frame, &mut out);
        }
        let states: Vec<_> = out.iter().map(|e| e.state).collect();
        assert_eq!(
            states,
            [
                AlertState::Raised,
                AlertState::Updated,
                AlertState::Updated,
                AlertState::Updated
            ]
        );
        let r = out[0].clone();
        assert_eq!(
            r.id,
            format!(
                "ic-227000001-{}",
                EventTime::from_secs(0).plus_secs(100.0).compact()
            )
        );
        assert_eq!(
            (r.track_id.as_str(), r.mmsi, r.dark),
            ("T7", Some(227000001), true)
        );
        assert!(r.zone.is_none());
        assert_eq!(r.distance_m, Some(18_000.0));
        // 18 km in 10 s: 3,500 kn, which no boat does.
        assert!((r.speed_kn - 3499.1).abs() < 1.0, "{}", r.speed_kn);
        assert!(out.iter().all(|e| e.id == r.id));
        ia.on_settled(
            227000001,
            EventTime::from_secs(0).plus_secs(800.0),
            &mut out,
        );
        let c = out.last().unwrap();
        assert_eq!(c.state, AlertState::Cleared);
        assert_eq!(c.reason.as_deref(), Some("identity_consistent"));
        assert_eq!(ia.active(), 0);
        // A settled conflict that recurs is a new alert.
        ia.on_contradiction(
            &Contradiction {
                since: EventTime::from_secs(0).plus_secs(900.0),
                ..contradiction(900.0, true)
            },
            Some("T9"),
            &zones,
            &frame,
            &mut out,
        );
        assert_ne!(out.last().unwrap().id, r.id);
    }

    #[test]
    fn a_restored_conflict_keeps_its_id_and_its_mmsi_contested() {
        let cfg = AlertsConfig::default();
        let (_, mut out, frame, zones) = raised();
        let mut after = IdentityAlerts::new(&cfg, false);
        let (mmsi, c) = after.restore(&out[0], &frame).expect("ours");
        assert_eq!(
            (mmsi, c.since, c.last_contradiction),
            (227000001, out[0].t, out[0].t)
        );
        assert!(
            IdentityAlerts::new(&cfg, true)
                .restore(&out[0], &frame)
                .is_none(),
            "exercise apart"
        );
        let c = contradiction(200.0, false);
        after.on_contradiction(&c, None, &zones, &frame, &mut out);
        assert_eq!(out[1].id, out[0].id);
        assert_eq!(out[1].state, AlertState::Updated);
    }
}

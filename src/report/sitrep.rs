//! An IAMSAR-style situation report: one short paragraph a watch officer can read over the
//! radio or paste into a log — what, where (latitude/longitude, and bearing and distance
//! from the beach), when, and what is known.

use super::text::{self, clean};
use super::ReportContext;
use crate::behaviour::alert::KIND_IDENTITY_CONFLICT;
use crate::behaviour::{AlertEvent, AlertState};

/// The SITREP of an alert as of its event `a` (its latest, for the current picture).
pub fn sitrep(ctx: &ReportContext, a: &AlertEvent) -> String {
    let shore = ctx.shore(a);
    let when = a.t.to_rfc3339();
    let hhmm = |s: &str| s.get(11..16).unwrap_or("").replace(':', "");
    let day = when.get(..10).unwrap_or("");
    let mut s = format!("SITREP {}", a.id);
    if a.exercise {
        s.push_str(" EXERCISE EXERCISE EXERCISE");
    }
    s.push_str(". ");
    let known = if a.dark {
        "no AIS identity".to_string()
    } else {
        let name = a
            .name
            .as_deref()
            .map(|n| format!(" {}", clean(n).trim()))
            .unwrap_or_default();
        format!(
            "AIS{name}, MMSI {}",
            a.mmsi.map_or("?".to_string(), |m| m.to_string())
        )
    };
    if a.kind == KIND_IDENTITY_CONFLICT {
        s.push_str(&format!(
            "WHAT: AIS identity conflict, MMSI {} reported {} apart.",
            a.mmsi.map_or("?".to_string(), |m| m.to_string()),
            a.distance_m.map_or("far".to_string(), text::distance)
        ));
    } else {
        s.push_str(&format!(
            "WHAT: suspected taxi-boat pickup, {} loitering for {} at {:.1} kn.",
            text::vessel(a).to_lowercase(),
            text::duration(a.dwell_s),
            a.speed_kn
        ));
    }
    s.push_str(&format!(
        " WHERE: {} ({:.5}, {:.5})",
        text::lat_lon_dm(a.lat, a.lon),
        a.lat,
        a.lon
    ));
    match (&shore, &a.zone) {
        (Some(sh), Some(z)) => s.push_str(&format!(
            ", {} bearing {:03.0}° from the beach at {}",
            text::distance(sh.distance_m),
            sh.bearing_deg,
            clean(&z.name)
        )),
        (Some(sh), None) => s.push_str(&format!(
            ", {} bearing {:03.0}° from the nearest shore",
            text::distance(sh.distance_m),
            sh.bearing_deg
        )),
        (None, Some(z)) => s.push_str(&format!(", in the {} zone", clean(&z.name))),
        (None, None) => {}
    }
    s.push_str(&format!(". WHEN: {day} {}Z", hhmm(&when)));
    if a.dwell_s > 0.0 {
        let since = a.t.plus_secs(-a.dwell_s).to_rfc3339();
        s.push_str(&format!(", there since {}Z", hhmm(&since)));
    }
    s.push_str(&format!(". KNOWN: track {}, {known}.", clean(&a.track_id)));
    s.push_str(match a.state {
        AlertState::Raised | AlertState::Updated => " STATUS: active.",
        AlertState::Cleared => " STATUS: cleared, ",
    });
    if a.state == AlertState::Cleared {
        s.push_str(text::reason(a.reason.as_deref()));
        s.push('.');
    }
    s
}

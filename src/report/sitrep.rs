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
    } else if a.state == AlertState::Cleared {
        s.push_str(&format!(
            "WHAT: suspected taxi-boat pickup ended, {} loitered {}, now {:.1} kn.",
            text::lower_first(&text::vessel(a)),
            text::duration(a.dwell_s),
            a.speed_kn
        ));
    } else {
        s.push_str(&format!(
            "WHAT: suspected taxi-boat pickup, {} loitering for {} at {:.1} kn.",
            text::lower_first(&text::vessel(a)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn ctx() -> ReportContext {
        let cfg = Config::default();
        ReportContext::new(&cfg, &crate::geo::zones::load(&cfg.zones.path).unwrap())
    }

    fn alert(state: &str, dark: bool, exercise: bool) -> AlertEvent {
        serde_json::from_str(&format!(
            r#"{{"id":"tb-T11-20260314T051011Z","kind":"taxi_boat_pickup","state":"{state}","track_id":"T11","t":"2026-03-14T05:11:41.500Z","lat":50.676755,"lon":1.563061,"zone":{{"id":"equihen-plage","name":"Équihen-Plage"}},"dwell_s":90.4,"speed_kn":0.1,"dark":{dark},"mmsi":{},"exercise":{exercise},"emitted_at":null,"name":"SEA STAR","reason":"left_zone"}}"#,
            if dark { "null" } else { "227000123" }
        ))
        .unwrap()
    }

    #[test]
    fn a_sitrep_says_what_where_when_and_what_is_known() {
        let s = sitrep(&ctx(), &alert("raised", true, false));
        assert!(s.starts_with("SITREP tb-T11-20260314T051011Z. WHAT: suspected taxi-boat pickup, dark boat loitering for 1 min 30 s at 0.1 kn."), "{s}");
        assert!(s.contains("WHERE: 50°40.61'N 001°33.78'E (50.67675, 1.56306), 210 m bearing 261° from the beach at Équihen-Plage."), "{s}");
        assert!(
            s.contains("WHEN: 2026-03-14 0511Z, there since 0510Z."),
            "{s}"
        );
        assert!(
            s.ends_with("KNOWN: track T11, no AIS identity. STATUS: active."),
            "{s}"
        );
        let s = sitrep(&ctx(), &alert("cleared", false, true));
        assert!(s.contains(" EXERCISE EXERCISE EXERCISE. "), "{s}");
        assert!(
            s.contains("boat SEA STAR (MMSI 227000123) loitered 1 min 30 s"),
            "{s}"
        );
        assert!(
            s.contains("KNOWN: track T11, AIS SEA STAR, MMSI 227000123."),
            "{s}"
        );
        assert!(
            s.ends_with("STATUS: cleared, the boat left the zone."),
            "{s}"
        );
    }
}

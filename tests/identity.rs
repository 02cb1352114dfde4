//! Contract §4, AIS identity conflicts: a copy of an allow-listed MMSI hides no pickup and
//! is seen as a conflict; an honest allow-listed boat never alerts and is never contested.
//!
//! Variants of the `spoofed-mmsi` scene: the copy heard before or after the real boat (so
//! that the copy's radar track takes the MMSI first, as in the issue), the real boat moored
//! out of radar sight or under way in radar cover, other seeds.

use super::{assert_clean, offline, recording, scene};
use vigie::behaviour::alert::{KIND_IDENTITY_CONFLICT, KIND_TAXI_BOAT};
use vigie::behaviour::{AlertEvent, AlertState};
use vigie::training::sim::{self, Leg, Scene};
use vigie::Config;

fn score(sc: &Scene, cfg: &Config) -> (vigie::training::score::Score, Vec<AlertEvent>) {
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    let rec = recording(&sim::simulate_for(sc, cfg, "vigie"));
    let (alerts, _) = offline(cfg, &rec);
    let truth = vigie::training::score::truth(sc, cfg, zones);
    (vigie::training::score::score(&truth, &alerts, None), alerts)
}

#[test]
fn a_copied_police_mmsi_hides_no_pickup_and_is_a_conflict() {
    let cfg = Config::load_with_env(None, &[]).unwrap();
    for (variant, police_delay, seed, police_moves) in [
        ("as filed", 0.0, 31, false),
        ("the copy heard first", 200.0, 31, false),
        ("the copy heard first, seed 202", 200.0, 202, false),
        ("police under way in radar cover", 0.0, 101, true),
        ("police under way, heard late", 150.0, 303, true),
    ] {
        let mut sc = scene("spoofed-mmsi");
        sc.seed = seed;
        let police = sc
            .vessels
            .iter_mut()
            .find(|v| v.name == "police boat")
            .unwrap();
        police.ais_delay_s = police_delay;
        if police_moves {
            police.pd = 0.95;
            police.lat = 50.80;
            police.lon = 1.45;
            police.legs = vec![Leg::Goto {
                lat: 50.70,
                lon: 1.40,
                speed_kn: 12.0,
            }];
        }
        let (s, alerts) = score(&sc, &cfg);
        assert_clean(variant, &s);
        assert_eq!(s.pickups, 1, "{variant}");
        let pickup: Vec<&AlertEvent> = alerts
            .iter()
            .filter(|a| a.kind == KIND_TAXI_BOAT && a.state == AlertState::Raised)
            .collect();
        assert!(
            pickup[0].dark && pickup[0].mmsi.is_none(),
            "{variant}: the copy identifies nobody: {:?}",
            pickup[0]
        );
        let conflict: Vec<&AlertEvent> = alerts
            .iter()
            .filter(|a| a.kind == KIND_IDENTITY_CONFLICT)
            .collect();
        assert_eq!(conflict[0].state, AlertState::Raised, "{variant}");
        assert_eq!(conflict[0].mmsi, Some(227000001), "{variant}");
        assert!(conflict[0].distance_m.unwrap() > 10_000.0, "{variant}");
        assert_eq!(
            conflict.last().unwrap().reason.as_deref(),
            Some("identity_consistent"),
            "{variant}: cleared ten minutes after the copy fell silent"
        );
        let raised_at = conflict[0].t.secs_since(sc.start);
        let expected = 1.0 + (227000001u32 % 7) as f64 + 3.0f64.max(police_delay);
        assert!(
            raised_at <= expected + 12.0,
            "{variant}: raised {raised_at:.0} s in, both heard by {expected:.0} s"
        );
    }
}

/// Without the copy, the same police boat (allow-listed) stopping in a zone under radar is
/// never alerted and never contested, whatever the seed: its AIS and its radar plots agree.
#[test]
fn an_honest_allow_listed_boat_is_never_contested() {
    let cfg = Config::load_with_env(None, &[]).unwrap();
    for seed in [1, 2, 3] {
        let mut sc = scene("spoofed-mmsi");
        sc.seed = seed;
        sc.vessels.retain(|v| v.name != "copy");
        let police = sc
            .vessels
            .iter_mut()
            .find(|v| v.name == "police boat")
            .unwrap();
        police.pd = 0.9;
        police.lat = 50.5700;
        police.lon = 1.5500;
        police.legs = vec![
            Leg::Goto {
                lat: 50.52395,
                lon: 1.57820,
                speed_kn: 9.0,
            },
            Leg::Hold {
                secs: 300.0,
                circle_m: 0.0,
                circle_kn: 1.5,
            },
            Leg::Goto {
                lat: 50.5500,
                lon: 1.4500,
                speed_kn: 15.0,
            },
        ];
        let (s, alerts) = score(&sc, &cfg);
        assert_clean(&format!("seed {seed}"), &s);
        assert!(alerts.is_empty(), "seed {seed}: {alerts:#?}");
    }
}

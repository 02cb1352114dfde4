//! Contract §1, late sensors: a radar whose scans reach vigie seconds behind the others',
//! and AIS up to ~10 s late, still update the tracks they see — no dark twin of a ship, no
//! second alert, no pickup found late — and nothing older than the limits is used.
//!
//! Variants of the `late-radar` scene: which radar is late and by how much (less and more
//! than a scan period), AIS lag, seeds. Each is scored against its own truth, and against
//! the same scene delivered on time: a late sensor must cost little.

use super::{assert_clean, scene, scored, util::heavy_blocking};
use vigie::Config;

#[test]
fn late_radars_and_late_ais_still_update_their_tracks() {
    let _heavy = heavy_blocking();
    let cfg = Config::load_with_env(None, &[]).unwrap();
    for (variant, radar, lag, ais_lag, seed) in [
        ("as filed", "gris-nez", 4.0, 8.0, 404),
        ("half a scan late", "gris-nez", 1.3, 3.0, 405),
        ("the other radar late, AIS 10 s", "calais", 4.5, 10.0, 406),
        ("late radar only", "gris-nez", 3.0, 0.0, 407),
    ] {
        let mut sc = scene("late-radar");
        sc.seed = seed;
        sc.ais_lag_max_s = ais_lag;
        sc.delivery_lag_s = [(radar.to_string(), lag)].into_iter().collect();
        let late = scored(&sc, &cfg);
        assert_clean(variant, &late);
        let id = late.identity.clone().unwrap();
        assert_eq!((id.switches, id.swaps), (0, 0), "{variant}: {id:#?}");
        let max_delay = cfg.alerts.loiter_dwell_s + 10.0;
        assert!(
            late.max_delay_s.unwrap() <= max_delay,
            "{variant}: {late:#?}"
        );
        // The same boats, every message on time.
        sc.ais_lag_max_s = 0.0;
        sc.delivery_lag_s.clear();
        let on_time = scored(&sc, &cfg);
        let (g_late, g_on_time) = (late.gospa_m.unwrap(), on_time.gospa_m.unwrap());
        eprintln!("{variant}: GOSPA {g_late:.1} m late, {g_on_time:.1} m on time");
        // At each instant the late sensor's last seconds are not known yet: some loss is
        // inherent (1.08-1.31x measured on these variants); losing the late contacts
        // instead costs 3x (the test below).
        assert!(
            g_late <= 1.5 * g_on_time,
            "{variant}: GOSPA {g_late:.1} m late, {g_on_time:.1} m on time"
        );
    }
}

/// What the mechanism is for: the same late scene with late contacts refused (limits cut to
/// a millisecond) loses tracks to twins and finds a pickup late or twice.
#[test]
fn refusing_late_contacts_is_what_breaks_the_picture() {
    let _heavy = heavy_blocking();
    let mut cfg = Config::load_with_env(None, &[]).unwrap();
    let sc = scene("late-radar");
    let used = scored(&sc, &cfg);
    (cfg.tracker.max_lateness_s, cfg.ais.max_lateness_s) = (0.001, 0.001);
    let refused = scored(&sc, &cfg);
    let (u, r) = (used.identity.unwrap(), refused.identity.unwrap());
    eprintln!(
        "used: GOSPA {:.1} m, {} switches; refused: GOSPA {:.1} m, {} switches, {} duplicates",
        used.gospa_m.unwrap(),
        u.switches,
        refused.gospa_m.unwrap(),
        r.switches,
        refused.duplicates
    );
    assert!(r.switches > u.switches);
    assert!(refused.gospa_m.unwrap() > 1.5 * used.gospa_m.unwrap());
}

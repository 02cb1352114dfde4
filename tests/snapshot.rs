//! Issue 22, contract §9: an engine restored from a snapshot computes, from there on,
//! exactly what the engine that never stopped computes — every alert event and every track
//! state, byte for byte — on every kind of scene and wherever the snapshot falls. And a
//! snapshot it cannot use is refused with a reason, never misread, never a panic.
use super::scene;
use super::util::*;
use vigie::pipeline::Pipeline;
use vigie::recording::RecordLine;
use vigie::snapshot::{self, SnapshotError};
use vigie::training::sim;
use vigie::Config;

/// Every output of one message, as text.
fn outputs(p: &mut Pipeline, l: &RecordLine) -> Vec<String> {
    let out = p.process(&l.topic, &l.exercise_payload(), l.t_rx);
    out.alerts
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .chain(out.tracks.iter().map(|t| serde_json::to_string(t).unwrap()))
        .collect()
}

fn pipeline(cfg: &Config) -> Pipeline {
    Pipeline::new(
        cfg,
        vigie::geo::zones::load(&cfg.zones.path).unwrap(),
        false,
    )
}

#[test]
fn a_restored_engine_continues_exactly_as_the_one_that_never_stopped() {
    let _heavy = heavy_blocking();
    let cfg = config("mqtt://unused:1", "vigie");
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    let fp = snapshot::fingerprint(&cfg, &zones);
    // Pickups, a buoy passed, spoofed identities, a late radar, clutter, re-acquisition in
    // the surf, crossing boats, AIVDM fragments: every part of the state has a scene.
    let scenes = [
        ("three-pickups", 0.31),
        ("busy-night", 0.47),
        ("buoy-pass", 0.62),
        ("spoofed-mmsi", 0.55),
        ("late-radar", 0.43),
        ("storm", 0.71),
        ("surf-reacquire", 0.5),
        ("crossing-pair", 0.58),
        ("restart-pair", 0.66),
    ];
    for (name, at) in scenes {
        let lines = sim::simulate_for(&scene(name), &cfg, "vigie");
        let split = (lines.len() as f64 * at) as usize;
        let mut whole = pipeline(&cfg);
        let mut cut = pipeline(&cfg);
        for l in &lines[..split] {
            outputs(&mut whole, l);
            outputs(&mut cut, l);
        }
        let active = vec!["{\"id\":\"x\"}".to_string()];
        let bytes = snapshot::write(&cut, &active, fp, split as u64, lines[split - 1].t_rx.0);
        drop(cut);
        let r = snapshot::read(&bytes, &cfg, zones.clone()).unwrap();
        assert_eq!(r.header.stream_seq, split as u64);
        assert_eq!(r.active, active);
        let mut restored = r.pipeline;
        let (mut n, mut alerts) = (0, 0);
        for (i, l) in lines[split..].iter().enumerate() {
            let (a, b) = (outputs(&mut whole, l), outputs(&mut restored, l));
            assert_eq!(
                a,
                b,
                "{name}: message {} of {} after a snapshot at {split} ({} bytes)",
                split + i,
                lines.len(),
                bytes.len()
            );
            n += a.len();
            alerts += a.iter().filter(|o| o.contains("\"state\"")).count();
        }
        assert!(n > 0, "{name}: outputs after the snapshot to compare");
        eprintln!(
            "{name}: snapshot at message {split} of {}: {} bytes; {n} outputs after it equal ({alerts} alert events)",
            lines.len(),
            bytes.len()
        );
    }
}

#[test]
fn a_snapshot_it_cannot_use_is_refused_with_a_reason() {
    let cfg = config("mqtt://unused:1", "vigie");
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    let fp = snapshot::fingerprint(&cfg, &zones);
    let mut p = pipeline(&cfg);
    for l in sim::simulate_for(&scene("three-pickups"), &cfg, "vigie")
        .iter()
        .take(400)
    {
        outputs(&mut p, l);
    }
    let good = snapshot::write(&p, &[], fp, 400, 0);
    assert!(snapshot::read(&good, &cfg, zones.clone()).is_ok());

    // Another configuration (a tracker setting), or other zones: refused.
    let mut other = cfg.clone();
    other.tracker.gate_chi2 += 1.0;
    assert!(matches!(
        snapshot::read(&good, &other, zones.clone()),
        Err(SnapshotError::Config { .. })
    ));
    assert!(matches!(
        snapshot::read(&good, &cfg, zones[1..].to_vec()),
        Err(SnapshotError::Config { .. })
    ));
    // What differs between replicas (names, listen addresses, files) is not behaviour.
    let mut replica_b = cfg.clone();
    replica_b.nats.replica = "b".into();
    replica_b.metrics.listen = "127.0.0.1:9999".into();
    replica_b.alerts.memory_file = "elsewhere.json".into();
    assert!(snapshot::read(&good, &replica_b, zones.clone()).is_ok());

    // Truncated anywhere, or bytes flipped, or not a snapshot at all: an error, no panic.
    for cut in [0, 1, 7, 12, good.len() / 3, good.len() / 2, good.len() - 1] {
        assert!(
            snapshot::read(&good[..cut], &cfg, zones.clone()).is_err(),
            "truncated at {cut}"
        );
    }
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..200 {
        let mut bad = good.clone();
        for _ in 0..4 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let i = (rng % bad.len() as u64) as usize;
            bad[i] ^= (rng >> 32) as u8 | 1;
        }
        assert!(snapshot::read(&bad, &cfg, zones.clone()).is_err());
    }
    assert!(matches!(
        snapshot::read(b"{\"format\": 1}", &cfg, zones.clone()),
        Err(SnapshotError::Corrupt(_))
    ));
    // Another format number.
    let mut newer = good.clone();
    newer[8] = newer[8].wrapping_add(1);
    assert!(matches!(
        snapshot::read(&newer, &cfg, zones),
        Err(SnapshotError::Format { .. })
    ));
}

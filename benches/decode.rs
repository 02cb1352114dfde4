//! Decode and engine throughput, each beside a baseline measured in the same run (these
//! machines are shared and noisy: ratios are what to compare across runs).
//!
//!   cargo bench --bench decode
//!
//! - radar JSON: a 64-plot scan through vigie's decoder, vs parsing the same bytes into a
//!   generic `serde_json::Value` (the floor of any JSON decoding);
//! - NMEA AIVDM: the real gpsd and pyais corpora through vigie's sentence layer and body
//!   decoder, vs the `ais` crate's parser on the same lines;
//! - AIS JSON: the contract's example object;
//! - engine: the Équihen pickup scene end to end (decode + tracking + zones + alerts) vs
//!   decoding the same recording alone.

use std::hint::black_box;
use std::time::Instant;
use vigie::contact::AisBatch;
use vigie::decode::nmea::NmeaAssembler;
use vigie::decode::Decoder;
use vigie::{Config, EventTime, Pipeline};

/// Best-of-`runs` seconds for one call of `f`.
fn time<F: FnMut()>(runs: usize, mut f: F) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn shared(rel: &str) -> String {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared")
        .join(rel);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn main() {
    println!("| what | vigie | baseline (same run) | ratio |");
    println!("|---|---|---|---|");

    // Radar JSON.
    let plots: Vec<String> = (0..64)
        .map(|i| {
            format!(
                r#"{{"range_m":{:.1},"bearing_deg":{:.2}}}"#,
                500.0 + 311.7 * i as f64,
                (i as f64 * 5.37) % 360.0
            )
        })
        .collect();
    let scan = format!(
        r#"{{"sensor":"gris-nez","t":"2026-03-14T05:02:17.500Z","plots":[{}]}}"#,
        plots.join(",")
    );
    let mut dec = Decoder::new("vigie", &["gris-nez"], 1 << 20);
    let n = 20_000;
    let mut rej = Vec::new();
    let ours = time(5, || {
        for _ in 0..n {
            rej.clear();
            black_box(
                dec.decode(
                    "vigie/contacts/radar/gris-nez",
                    scan.as_bytes(),
                    EventTime(0),
                    &mut rej,
                )
                .unwrap(),
            );
        }
    });
    let base = time(5, || {
        for _ in 0..n {
            black_box(serde_json::from_slice::<serde_json::Value>(scan.as_bytes()).unwrap());
        }
    });
    let pps = (n * 64) as f64 / ours;
    println!(
        "| radar JSON, 64-plot scans | {:.2} M plots/s | serde_json::Value parse: {:.2} M plots/s | {:.2}x |",
        pps / 1e6,
        (n * 64) as f64 / base / 1e6,
        base / ours
    );

    // NMEA: real corpora.
    let mut lines: Vec<String> = Vec::new();
    for f in [
        "data/ais/gpsd/sample.aivdm",
        "data/ais/pyais/nmea_data_sample.txt",
        "data/ais/gpsd/daemon/ais-nmea-type6-fid55.log",
    ] {
        lines.extend(
            shared(f)
                .lines()
                .filter(|l| l.starts_with('!'))
                .map(str::to_string),
        );
    }
    let reps = 20;
    let mut decoded = 0usize;
    let ours = time(5, || {
        decoded = 0;
        let mut a = NmeaAssembler::new();
        for _ in 0..reps {
            for l in &lines {
                let mut b = AisBatch::default();
                let mut r = Vec::new();
                a.feed("bench", l, EventTime(0), &mut b, &mut r);
                decoded += b.reports.len();
                black_box(&b);
            }
        }
    });
    let base = time(5, || {
        let mut p = ais::AisParser::new();
        for _ in 0..reps {
            for l in &lines {
                let _ = black_box(p.parse(l.as_bytes(), true));
            }
        }
    });
    let sentences = (lines.len() * reps) as f64;
    println!(
        "| NMEA AIVDM, {} real sentences (gpsd + pyais corpora) | {:.2} M sentences/s ({} reports per pass) | `ais` crate AisParser: {:.2} M sentences/s | {:.2}x |",
        lines.len(),
        sentences / ours / 1e6,
        decoded / reps,
        sentences / base / 1e6,
        base / ours
    );

    // AIS JSON.
    let obj = br#"{"class":"AIS","type":1,"mmsi":227006760,"scaled":true,"lat":50.9651,"lon":1.8530,"speed":12.3,"course":285.1,"heading":284,"status":0}"#;
    let n = 200_000;
    let ours = time(5, || {
        for _ in 0..n {
            let mut b = AisBatch::default();
            vigie::decode::ais_json::decode(obj, EventTime(0), &mut b, &mut rej).unwrap();
            black_box(b);
        }
    });
    let base = time(5, || {
        for _ in 0..n {
            black_box(serde_json::from_slice::<serde_json::Value>(obj).unwrap());
        }
    });
    println!(
        "| AIS JSON object (contract example) | {:.2} M reports/s | serde_json::Value parse: {:.2} M/s | {:.2}x |",
        n as f64 / ours / 1e6,
        n as f64 / base / 1e6,
        base / ours
    );

    // Engine end to end on a scene.
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let scene: vigie::training::sim::Scene = toml::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fixtures/scenarios/equihen-pickup.toml"),
        )
        .unwrap(),
    )
    .unwrap();
    let rec = vigie::training::sim::simulate_for(&scene, &cfg, "vigie");
    let msgs: Vec<(String, Vec<u8>, EventTime)> = rec
        .iter()
        .map(|l| (l.topic.clone(), l.payload_bytes(), l.t_rx))
        .collect();
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    let mut contacts = 0;
    let ours = time(5, || {
        let mut p = Pipeline::new(&cfg, zones.clone(), true);
        contacts = 0;
        for (t, m, rx) in &msgs {
            contacts += p.process(t, m, *rx).contacts;
        }
    });
    let base = time(5, || {
        let mut d = Decoder::new(
            "vigie",
            &cfg.radar.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
            1 << 20,
        );
        for (t, m, rx) in &msgs {
            let mut r = Vec::new();
            black_box(d.decode(t, m, *rx, &mut r).unwrap());
        }
    });
    // The same with every message recorded in the Prometheus metrics, as the service does.
    let sensor_ids: Vec<String> = cfg.radar.iter().map(|r| r.id.clone()).collect();
    let zone_ids: Vec<String> = zones.iter().map(|z| z.id.clone()).collect();
    let metrics = vigie::metrics::Metrics::new(&sensor_ids, &zone_ids);
    let with_metrics = time(5, || {
        let mut p = Pipeline::new(&cfg, zones.clone(), true);
        for (t, m, rx) in &msgs {
            let t0 = Instant::now();
            p.process(t, m, *rx);
            metrics.observe(p.last_outputs(), || p.counts(), *rx, t0.elapsed());
        }
    });
    println!(
        "| engine + Prometheus metrics per message, same scene | {:.2} M contacts/s | engine without metrics: {:.2} M contacts/s | {:.3}x ({:+.1} %) |",
        contacts as f64 / with_metrics / 1e6,
        contacts as f64 / ours / 1e6,
        ours / with_metrics,
        (with_metrics / ours - 1.0) * 100.0
    );
    println!(
        "| engine end to end, Équihen scene ({} messages, {} contacts) | {:.2} M contacts/s | decode alone: {:.2} M contacts/s | {:.2}x |",
        msgs.len(),
        contacts,
        contacts as f64 / ours / 1e6,
        contacts as f64 / base / 1e6,
        base / ours
    );
}

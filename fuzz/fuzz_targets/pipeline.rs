//! The whole engine: a sequence of messages (topic chosen by a byte, payload the rest)
//! through decoding, tracking, zones and alerts. Catches what reaches the tracker from a
//! well-formed but absurd message (extreme values, time jumps) as well as decoder bugs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vigie::engine::Pipeline;
use vigie::EventTime;

static ZONES: OnceLock<Vec<vigie::geo::zones::Zone>> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let cfg = vigie::Config::default();
    let zones = ZONES.get_or_init(|| {
        let text = include_str!("../../fixtures/zones/cote-dopale.geojson");
        vigie::geo::zones::parse(text, "fixtures").expect("fixture zones")
    });
    let mut p = Pipeline::new(&cfg, zones.clone(), false);
    const TOPICS: [&str; 5] = [
        "vigie/contacts/radar/gris-nez",
        "vigie/contacts/radar/boulogne",
        "vigie/contacts/radar/drone-1",
        "vigie/contacts/ais/rx",
        "vigie/contacts/ais/other",
    ];
    // Messages separated by 0xFF (never in UTF-8 text). The selector byte chooses the
    // topic (low bits) and how long after the previous message this one is received (high
    // bits, 0 to 7.75 s in quarter seconds): several messages at one receive time (sectors
    // of a scan, redeliveries) and gaps, so that the time checks (contract §1), the
    // sector roll-back and the per-sensor rate limit all see their edges.
    let mut t_rx = EventTime(1_700_000_000_000_000);
    for msg in data.split(|&b| b == 0xFF).take(64) {
        let Some((&sel, payload)) = msg.split_first() else { continue };
        let topic = TOPICS[sel as usize % TOPICS.len()];
        t_rx = t_rx.plus_secs((sel >> 3) as f64 * 0.25);
        p.process(topic, payload, t_rx);
    }
});

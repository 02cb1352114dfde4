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
    // Messages separated by 0xFF (never in UTF-8 text).
    for (i, msg) in data.split(|&b| b == 0xFF).take(64).enumerate() {
        let Some((&sel, payload)) = msg.split_first() else { continue };
        let topic = TOPICS[sel as usize % TOPICS.len()];
        p.process(topic, payload, EventTime(1_700_000_000_000_000 + i as i64 * 1_000_000));
    }
});

//! NMEA sentence layer (tag blocks, checksums, multi-fragment reassembly) and the AIS bit
//! decoder. The input is split in three messages from two sources so reassembly state
//! carries across messages as it does live.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigie::decode::Decoder;
use vigie::EventTime;

fuzz_target!(|data: &[u8]| {
    let mut d = Decoder::new("vigie", &["gris-nez"], 256 * 1024);
    let mut rejects = Vec::new();
    let Ok(text) = std::str::from_utf8(data) else { return };
    for (i, part) in text.split('\u{1}').take(3).enumerate() {
        let topic = if i % 2 == 0 { "vigie/contacts/ais/a" } else { "vigie/contacts/ais/b" };
        // A leading '!' keeps the payload on the NMEA path.
        let msg = format!("!{part}");
        let _ = d.decode(topic, msg.as_bytes(), EventTime(1_700_000_000_000_000 + i as i64), &mut rejects);
        rejects.clear();
    }
});

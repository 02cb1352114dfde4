//! gpsd/AIS-catcher JSON decoder.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigie::decode::Decoder;
use vigie::EventTime;

fuzz_target!(|data: &[u8]| {
    let mut d = Decoder::new("vigie", &["gris-nez"], 256 * 1024);
    let mut rejects = Vec::new();
    // Force the JSON path whatever the first byte.
    let mut payload = Vec::with_capacity(data.len() + 1);
    payload.push(b'{');
    payload.extend_from_slice(data);
    let _ = d.decode("vigie/contacts/ais/rx", &payload, EventTime(1_700_000_000_000_000), &mut rejects);
    let _ = d.decode("vigie/contacts/ais/rx", data, EventTime(1_700_000_000_000_000), &mut rejects);
});

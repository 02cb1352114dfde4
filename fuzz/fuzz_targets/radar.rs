//! Radar JSON decoder: any bytes on a radar topic give contacts or a typed error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use vigie::decode::Decoder;
use vigie::EventTime;

fuzz_target!(|data: &[u8]| {
    let mut d = Decoder::new("vigie", &["gris-nez", "drone-1"], 256 * 1024).with_max_plots(4096);
    let mut rejects = Vec::new();
    let _ = d.decode("vigie/contacts/radar/gris-nez", data, EventTime(1_700_000_000_000_000), &mut rejects);
});

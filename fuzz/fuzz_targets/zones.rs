//! Zone loader (GeoJSON) and the zone index built from what it accepts.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(zones) = vigie::geo::zones::parse(text, "fuzz.geojson") {
        let frame = vigie::geo::frame::LocalFrame::new(50.7, 1.6);
        let index = vigie::geo::zones::ZoneIndex::new(zones, &frame);
        for (x, y) in [(0.0, 0.0), (1000.0, -500.0), (f64::MAX, f64::MIN)] {
            let _ = index.locate(x, y, None);
        }
    }
});

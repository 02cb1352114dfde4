//! Prints which interception zones form one strip (zones that touch count as one for the
//! loiter rule, contract §4): `cargo run --example zone_strips [ZONES.geojson]`.
fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fixtures/zones/cote-dopale.geojson".into());
    let zones = vigie::geo::zones::load(std::path::Path::new(&path)).expect("zones load");
    let cfg = vigie::Config::default();
    let (lat, lon) = cfg.frame_origin();
    let frame = vigie::geo::frame::LocalFrame::new(lat, lon);
    let idx = vigie::geo::zones::ZoneIndex::new(zones, &frame);
    let mut strips: std::collections::BTreeMap<usize, Vec<&str>> = Default::default();
    for (i, z) in idx.zones().iter().enumerate() {
        strips.entry(idx.strip(i)).or_default().push(&z.id);
    }
    for ids in strips.values() {
        println!("{}", ids.join(" + "));
    }
}

//! Phrases and formats shared by the reports: what a watch officer reads aloud, and what the
//! XML documents may carry.

use crate::behaviour::AlertEvent;
use crate::geo::coast::Shore;
use crate::time::EventTime;
use std::borrow::Cow;

/// Text safe for an XML 1.0 document and for one-document-a-line files: control characters
/// (illegal in XML 1.0 even as references, or line breaks) become spaces, the two
/// non-characters U+FFFE/U+FFFF become U+FFFD. Escaping `<`, `&` and quotes is the XML
/// writer's job; this is what no escaping can make valid.
pub fn clean(s: &str) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}';
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
                c if c.is_control() => ' ',
                c => c,
            })
            .collect(),
    )
}

/// The XML writer the reports use.
pub type XmlWriter = quick_xml::Writer<Vec<u8>>;

/// `<name>text</name>`, the text cleaned of what XML 1.0 cannot carry and escaped by the
/// writer.
pub fn el(w: &mut XmlWriter, name: &str, text: &str) -> std::io::Result<()> {
    w.create_element(name)
        .write_text_content(quick_xml::events::BytesText::new(&clean(text)))?;
    Ok(())
}

/// CAP's `dateTime`: whole seconds with an explicit offset, `2026-03-14T05:06:02+00:00`
/// (the schema's pattern allows neither `Z` nor fractions).
pub fn cap_time(t: EventTime) -> String {
    let s = t.to_rfc3339(); // 2026-03-14T05:06:02.500Z
    format!("{}+00:00", &s[..19.min(s.len())])
}

/// "45 s", "2 min 10 s", "1 h 05 min".
pub fn duration(s: f64) -> String {
    let s = s.max(0.0).round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

/// "180 m" near the shore, "1.4 km" a little further, nautical miles at sea.
pub fn distance(m: f64) -> String {
    if m < 1000.0 {
        format!("{} m", ((m / 10.0).round() * 10.0) as i64)
    } else if m < 3704.0 {
        format!("{:.1} km", m / 1000.0)
    } else {
        format!("{:.1} NM", m / 1852.0)
    }
}

/// Degrees and decimal minutes, as on a chart: `50°40.61'N 001°33.78'E`.
pub fn lat_lon_dm(lat: f64, lon: f64) -> String {
    let dm = |v: f64, width: usize| {
        let a = v.abs();
        let mut d = a.trunc();
        let mut m = ((a - d) * 60.0 * 100.0).round() / 100.0;
        if m >= 60.0 {
            d += 1.0;
            m -= 60.0;
        }
        format!("{:0width$}°{:05.2}'", d as i64, m, width = width)
    };
    format!(
        "{}{} {}{}",
        dm(lat, 2),
        if lat >= 0.0 { 'N' } else { 'S' },
        dm(lon, 3),
        if lon >= 0.0 { 'E' } else { 'W' }
    )
}

/// The boat as an officer names it: "Dark boat", "Boat SEA STAR (MMSI 227123456)".
pub fn vessel(a: &AlertEvent) -> String {
    let name = a
        .name
        .as_deref()
        .map(clean)
        .filter(|n| !n.trim().is_empty());
    match (a.dark, a.mmsi, name) {
        (true, _, _) | (false, None, _) => "Dark boat".into(),
        (false, Some(m), Some(n)) => format!("Boat {} (MMSI {m})", n.trim()),
        (false, Some(m), None) => format!("Boat with MMSI {m}"),
    }
}

/// "Dark boat" → "dark boat", for the middle of a sentence; a name stays as it is.
pub fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Where the boat is, against the beach it is off: "180 m off Équihen-Plage" (the zone's
/// name is its beach), or the coast when no zone is named, or the zone alone when the
/// coast is not known there.
pub fn off(a: &AlertEvent, shore: Option<&Shore>) -> String {
    let zone = a.zone.as_ref().map(|z| clean(&z.name).into_owned());
    match (shore, zone) {
        (Some(s), Some(z)) => format!("{} off {z}", distance(s.distance_m)),
        (Some(s), None) => format!("{} off the coast", distance(s.distance_m)),
        (None, Some(z)) => format!("in the {z} zone"),
        (None, None) => format!("at {}", lat_lon_dm(a.lat, a.lon)),
    }
}

/// Why a cleared alert ended, in words.
pub fn reason(r: Option<&str>) -> &'static str {
    match r {
        Some("left_zone") => "the boat left the zone",
        Some("under_way") => "the boat got under way",
        Some("track_lost") => "the boat's track was lost",
        Some("allow_listed") => "the boat is an allow-listed vessel",
        Some("fixed_object") => "it is a fixed object (buoy, hulk)",
        Some("identity_consistent") => "the identity has been consistent since",
        _ => "it ended",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_read_as_an_officer_says_them() {
        assert_eq!(duration(130.4), "2 min 10 s");
        assert_eq!(duration(45.0), "45 s");
        assert_eq!(duration(3_900.0), "1 h 05 min");
        assert_eq!(distance(183.0), "180 m");
        assert_eq!(distance(1_430.0), "1.4 km");
        assert_eq!(distance(9_260.0), "5.0 NM");
        assert_eq!(lat_lon_dm(50.676755, 1.563061), "50°40.61'N 001°33.78'E");
        assert_eq!(lat_lon_dm(-0.5, -0.99999999), "00°30.00'S 001°00.00'W");
        assert_eq!(
            cap_time(EventTime::parse_rfc3339("2026-03-14T05:06:02.500Z").unwrap()),
            "2026-03-14T05:06:02+00:00"
        );
        assert_eq!(clean("A\u{0}B\nC\u{FFFF}"), "A B C\u{FFFD}");
        assert_eq!(
            lower_first("Boat SEA STAR (MMSI 227000123)"),
            "boat SEA STAR (MMSI 227000123)"
        );
        assert!(matches!(clean("plain"), Cow::Borrowed(_)));
    }
}

//! AIS message encoding (6-bit armoring, NMEA AIVDM sentences with tag blocks), for the
//! simulator: scenes can feed vigie real AIVDM text, not only JSON. Field layouts are the
//! same as `decode::ais_body`; tests round-trip through vigie's decoder and through gpsd's
//! `gpsdecode`.

use crate::time::EventTime;

/// Accumulates fields MSB first.
#[derive(Default)]
pub struct BitWriter {
    bits: Vec<bool>,
}

impl BitWriter {
    pub fn new() -> Self {
        Self::default()
    }

    /// `width` low bits of `v` (two's complement for negative values).
    pub fn put(&mut self, v: i64, width: usize) -> &mut Self {
        for k in (0..width).rev() {
            self.bits.push((v >> k) & 1 == 1);
        }
        self
    }

    /// Six-bit ASCII, upper-cased, padded with `@` to `chars`.
    pub fn text(&mut self, s: &str, chars: usize) -> &mut Self {
        let mut it = s.chars().map(|c| c.to_ascii_uppercase());
        for _ in 0..chars {
            let c = it.next().filter(|c| (' '..='_').contains(c)).unwrap_or('@') as i64;
            self.put(if c >= 64 { c - 64 } else { c }, 6);
        }
        self
    }

    pub fn len(&self) -> usize {
        self.bits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bits.is_empty()
    }

    /// Armored payload and its fill bits.
    pub fn armor(&self) -> (String, u8) {
        let fill = (6 - self.bits.len() % 6) % 6;
        let mut s = String::with_capacity(self.bits.len() / 6 + 1);
        for chunk in self.bits.chunks(6) {
            let mut v = 0u8;
            for (i, &b) in chunk.iter().enumerate() {
                v |= (b as u8) << (5 - i);
            }
            s.push((if v < 40 { v + 48 } else { v + 56 }) as char);
        }
        (s, fill as u8)
    }
}

fn checksum(s: &str) -> u8 {
    s.bytes().fold(0, |a, b| a ^ b)
}

/// NMEA lines (one per fragment, at most 60 payload characters each) for an armored
/// message, each behind a tag block carrying the event time (`c:`, Unix seconds).
pub fn sentences(bits: &BitWriter, t: EventTime, seq: u8, channel: char) -> Vec<String> {
    let (payload, fill) = bits.armor();
    let chunks: Vec<&str> = payload
        .as_bytes()
        .chunks(60)
        .map(|c| std::str::from_utf8(c).expect("armored text is ASCII"))
        .collect();
    let total = chunks.len();
    let tag = format!("c:{}", t.0.div_euclid(1_000_000));
    let tag = format!("\\{tag}*{:02X}\\", checksum(&tag));
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let seq = if total > 1 {
                (seq % 10).to_string()
            } else {
                String::new()
            };
            let f = if i + 1 == total { fill } else { 0 };
            let body = format!("AIVDM,{total},{},{seq},{channel},{chunk},{f}", i + 1);
            format!("{tag}!{body}*{:02X}", checksum(&body))
        })
        .collect()
}

fn second(t: EventTime) -> i64 {
    t.0.div_euclid(1_000_000).rem_euclid(60)
}

fn sog(kn: Option<f64>) -> i64 {
    kn.map_or(1023, |s| ((s * 10.0).round() as i64).clamp(0, 1022))
}

fn cog(deg: Option<f64>) -> i64 {
    deg.map_or(3600, |c| ((c * 10.0).round() as i64).rem_euclid(3600))
}

fn pos(deg: f64) -> i64 {
    (deg * 600_000.0).round() as i64
}

/// Class A position report (type 1).
pub fn type1(
    mmsi: u32,
    t: EventTime,
    lat: f64,
    lon: f64,
    sog_kn: Option<f64>,
    cog_deg: Option<f64>,
    status: u8,
) -> BitWriter {
    let mut w = BitWriter::new();
    w.put(1, 6)
        .put(0, 2)
        .put(mmsi as i64, 30)
        .put(status as i64, 4)
        .put(-128, 8);
    w.put(sog(sog_kn), 10)
        .put(0, 1)
        .put(pos(lon), 28)
        .put(pos(lat), 27);
    w.put(cog(cog_deg), 12)
        .put(511, 9)
        .put(second(t), 6)
        .put(0, 2)
        .put(0, 3)
        .put(0, 1)
        .put(0, 19);
    w
}

/// Class B position report (type 18), from a carrier-sense unit.
pub fn type18(
    mmsi: u32,
    t: EventTime,
    lat: f64,
    lon: f64,
    sog_kn: Option<f64>,
    cog_deg: Option<f64>,
) -> BitWriter {
    let mut w = BitWriter::new();
    w.put(18, 6)
        .put(0, 2)
        .put(mmsi as i64, 30)
        .put(0, 8)
        .put(sog(sog_kn), 10)
        .put(0, 1);
    w.put(pos(lon), 28)
        .put(pos(lat), 27)
        .put(cog(cog_deg), 12)
        .put(511, 9)
        .put(second(t), 6);
    w.put(0, 2)
        .put(1, 1)
        .put(0, 1)
        .put(1, 1)
        .put(1, 1)
        .put(1, 1)
        .put(0, 1)
        .put(0, 1)
        .put(0, 20);
    w
}

/// Class A static and voyage data (type 5): 424 bits, two fragments.
pub fn type5(mmsi: u32, name: &str, callsign: &str, ship_type: u8, dims: [u16; 4]) -> BitWriter {
    let mut w = BitWriter::new();
    w.put(5, 6)
        .put(0, 2)
        .put(mmsi as i64, 30)
        .put(0, 2)
        .put(0, 30)
        .text(callsign, 7)
        .text(name, 20);
    w.put(ship_type as i64, 8)
        .put(dims[0] as i64, 9)
        .put(dims[1] as i64, 9)
        .put(dims[2] as i64, 6)
        .put(dims[3] as i64, 6);
    w.put(1, 4)
        .put(0, 4)
        .put(0, 5)
        .put(24, 5)
        .put(60, 6)
        .put(0, 8)
        .text("", 20)
        .put(0, 1)
        .put(0, 1);
    w
}

/// Class B static data report (type 24), part A (name) and part B (type, callsign, size).
pub fn type24(
    mmsi: u32,
    name: &str,
    callsign: &str,
    ship_type: u8,
    dims: [u16; 4],
) -> [BitWriter; 2] {
    let mut a = BitWriter::new();
    a.put(24, 6)
        .put(0, 2)
        .put(mmsi as i64, 30)
        .put(0, 2)
        .text(name, 20)
        .put(0, 8);
    let mut b = BitWriter::new();
    b.put(24, 6)
        .put(0, 2)
        .put(mmsi as i64, 30)
        .put(1, 2)
        .put(ship_type as i64, 8)
        .text("VGE", 3)
        .put(1, 4)
        .put(1, 20);
    b.text(callsign, 7)
        .put(dims[0] as i64, 9)
        .put(dims[1] as i64, 9)
        .put(dims[2] as i64, 6)
        .put(dims[3] as i64, 6)
        .put(0, 6);
    [a, b]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::{AisBatch, AisReport};
    use crate::decode::nmea::NmeaAssembler;

    fn decode(lines: &[String]) -> Vec<AisReport> {
        let mut a = NmeaAssembler::new();
        let mut b = AisBatch::default();
        let mut rej = vec![];
        a.feed("t", &lines.join("\n"), EventTime(0), &mut b, &mut rej);
        assert!(rej.is_empty(), "{rej:?}");
        b.reports
    }

    #[test]
    fn round_trips_through_our_decoder() {
        let t = EventTime::parse_rfc3339("2026-03-14T05:02:17Z").unwrap();
        let r = decode(&sentences(
            &type1(227006760, t, 50.9651, 1.853, Some(12.3), Some(285.1), 0),
            t,
            0,
            'A',
        ));
        let AisReport::Position(p) = &r[0] else {
            panic!("{r:?}")
        };
        assert_eq!(
            (p.mmsi, p.t, p.sog_kn, p.cog_deg),
            (227006760, t, Some(12.3), Some(285.1))
        );
        assert!((p.lat - 50.9651).abs() < 1e-6 && (p.lon - 1.853).abs() < 1e-6);
        let r = decode(&sentences(
            &type18(235000001, t, -33.5, -70.25, None, None),
            t,
            0,
            'B',
        ));
        let AisReport::Position(p) = &r[0] else {
            panic!("{r:?}")
        };
        assert_eq!((p.msg_type, p.sog_kn, p.cog_deg), (18, None, None));
        assert!((p.lat + 33.5).abs() < 1e-6 && (p.lon + 70.25).abs() < 1e-6);
        let lines = sentences(
            &type5(227006760, "PIDGEON", "FABC1", 60, [20, 5, 3, 3]),
            t,
            3,
            'A',
        );
        assert_eq!(lines.len(), 2, "type 5 needs two fragments");
        let r = decode(&lines);
        let AisReport::Static(s) = &r[0] else {
            panic!("{r:?}")
        };
        assert_eq!(
            (
                s.name.as_deref(),
                s.callsign.as_deref(),
                s.ship_type,
                s.dims
            ),
            (
                Some("PIDGEON"),
                Some("FABC1"),
                Some(60),
                Some([20, 5, 3, 3])
            )
        );
        let [a, b] = type24(235000001, "SEA BREEZE", "MXYZ9", 37, [6, 4, 1, 2]);
        let r = decode(&[sentences(&a, t, 0, 'A'), sentences(&b, t, 0, 'A')].concat());
        assert_eq!(r.len(), 2);
        let AisReport::Static(sa) = &r[0] else {
            panic!()
        };
        let AisReport::Static(sb) = &r[1] else {
            panic!()
        };
        assert_eq!(sa.name.as_deref(), Some("SEA BREEZE"));
        assert_eq!(
            (sb.ship_type, sb.callsign.as_deref(), sb.dims),
            (Some(37), Some("MXYZ9"), Some([6, 4, 1, 2]))
        );
    }
}

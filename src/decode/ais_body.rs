//! AIS message bodies (ITU-R M.1371): the bit layouts of the types vigie uses.
//!
//! We decode these ourselves rather than through the `ais` crate because that crate returns
//! latitude and longitude as `f32`, which at 50° N loses up to 1.9e-6° (its spacing there is
//! 3.8e-6°): more than the 1e-6° agreement with gpsd that we test for. Working on the armored
//! characters directly also avoids an allocation per message. Field positions follow
//! gpsd's AIVDM/AIVDO protocol decoding notes; the tests compare every position and static
//! report of the real corpora in `shared/data/ais/` with gpsd's own decodes.

use crate::contact::{AisPosition, AisReport, AisStatic};
use crate::time::EventTime;

/// Armored payload characters turned into their 6-bit values.
pub struct Bits<'a> {
    sixbit: &'a [u8],
    /// Number of valid bits (payload × 6 − fill bits).
    len: usize,
}

/// Converts one armored character to its 6-bit value.
#[inline]
pub fn unarmor(c: u8) -> Option<u8> {
    match c {
        48..=87 => Some(c - 48),
        96..=119 => Some(c - 56),
        _ => None,
    }
}

impl<'a> Bits<'a> {
    /// `sixbit` holds already-unarmored 6-bit values.
    pub fn new(sixbit: &'a [u8], fill_bits: u8) -> Self {
        let len = (sixbit.len() * 6).saturating_sub(fill_bits as usize);
        Bits { sixbit, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Unsigned field of `width` ≤ 32 bits starting at bit `start`; bits past the end read 0
    /// (gpsd does the same for short type-5 messages).
    #[inline]
    pub fn u(&self, start: usize, width: usize) -> u32 {
        let mut v: u64 = 0;
        let mut bit = start;
        let end = start + width;
        while bit < end {
            let ci = bit / 6;
            let off = bit % 6;
            let take = (6 - off).min(end - bit);
            let c = *self.sixbit.get(ci).unwrap_or(&0) as u64;
            let chunk = (c >> (6 - off - take)) & ((1 << take) - 1);
            v = (v << take) | chunk;
            bit += take;
        }
        v as u32
    }

    /// Two's-complement signed field.
    #[inline]
    pub fn i(&self, start: usize, width: usize) -> i32 {
        let v = self.u(start, width);
        let shift = 32 - width;
        ((v << shift) as i32) >> shift
    }

    /// Six-bit ASCII text, cut at the first `@` and with trailing spaces removed, as gpsd
    /// prints it.
    pub fn text(&self, start: usize, chars: usize) -> String {
        let mut s = String::with_capacity(chars);
        for k in 0..chars {
            let b = start + 6 * k;
            if b + 6 > self.len {
                break;
            }
            let v = self.u(b, 6) as u8;
            let c = if v < 32 { v + 64 } else { v };
            if c == b'@' {
                break;
            }
            s.push(c as char);
        }
        s.truncate(s.trim_end().len());
        s
    }
}

/// Decodes a body into zero or more reports (type 19 gives a position and static data).
/// Types vigie does not use give `Ok(())` with nothing pushed.
pub fn decode(bits: &Bits, t: EventTime, out: &mut Vec<AisReport>) -> Result<(), String> {
    if bits.len() < 38 {
        return Err(format!(
            "{} bits is too short for any AIS message",
            bits.len()
        ));
    }
    let msg_type = bits.u(0, 6) as u8;
    let mmsi = bits.u(8, 30);
    let need = |n: usize| {
        if bits.len() < n {
            Err(format!(
                "type {msg_type} needs {n} bits, message has {}",
                bits.len()
            ))
        } else {
            Ok(())
        }
    };
    match msg_type {
        1..=3 => {
            need(149)?;
            if let Some(p) = class_ab_position(bits, msg_type, mmsi, t, 50, 61, 89, 116, 128) {
                let status = bits.u(38, 4) as u8;
                out.push(AisReport::Position(AisPosition {
                    status: Some(status),
                    ..p
                }));
            }
        }
        18 | 19 => {
            need(if msg_type == 18 { 139 } else { 301 })?;
            if let Some(p) = class_ab_position(bits, msg_type, mmsi, t, 46, 57, 85, 112, 124) {
                out.push(AisReport::Position(p));
            }
            if msg_type == 19 {
                out.push(AisReport::Static(AisStatic {
                    msg_type,
                    mmsi,
                    name: Some(bits.text(143, 20)),
                    callsign: None,
                    ship_type: Some(bits.u(263, 8) as u8),
                    dims: Some(dims(bits, 271)),
                }));
            }
        }
        27 => {
            need(95)?;
            let lon_raw = bits.i(44, 18);
            let lat_raw = bits.i(62, 17);
            let speed = bits.u(79, 6);
            let course = bits.u(85, 9);
            if let Some((lat, lon)) = latlon(lat_raw, lon_raw, 600.0) {
                out.push(AisReport::Position(AisPosition {
                    t,
                    msg_type,
                    mmsi,
                    lat,
                    lon,
                    sog_kn: (speed != 63).then_some(speed as f64),
                    cog_deg: (course != 511).then_some(course as f64),
                    heading_deg: None,
                    status: Some(bits.u(40, 4) as u8),
                }));
            }
        }
        5 => {
            need(420)?;
            out.push(AisReport::Static(AisStatic {
                msg_type,
                mmsi,
                callsign: Some(bits.text(70, 7)),
                name: Some(bits.text(112, 20)),
                ship_type: Some(bits.u(232, 8) as u8),
                dims: Some(dims(bits, 240)),
            }));
        }
        24 => {
            need(40)?;
            match bits.u(38, 2) {
                0 => {
                    need(160)?;
                    out.push(AisReport::Static(AisStatic {
                        msg_type,
                        mmsi,
                        name: Some(bits.text(40, 20)),
                        ..Default::default()
                    }))
                }
                1 => {
                    need(162)?;
                    out.push(AisReport::Static(AisStatic {
                        msg_type,
                        mmsi,
                        ship_type: Some(bits.u(40, 8) as u8),
                        callsign: Some(bits.text(90, 7)),
                        dims: Some(dims(bits, 132)),
                        ..Default::default()
                    }))
                }
                p => return Err(format!("type 24 part number {p} is invalid")),
            }
        }
        _ => {}
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn class_ab_position(
    bits: &Bits,
    msg_type: u8,
    mmsi: u32,
    t: EventTime,
    speed_at: usize,
    lon_at: usize,
    lat_at: usize,
    course_at: usize,
    heading_at: usize,
) -> Option<AisPosition> {
    let speed = bits.u(speed_at, 10);
    let lon_raw = bits.i(lon_at, 28);
    let lat_raw = bits.i(lat_at, 27);
    let course = bits.u(course_at, 12);
    let heading = bits.u(heading_at, 9);
    // "Not available" (91°, 181°) gives no position report: nothing to track.
    let (lat, lon) = latlon(lat_raw, lon_raw, 600_000.0)?;
    Some(AisPosition {
        t,
        msg_type,
        mmsi,
        lat,
        lon,
        sog_kn: (speed != 1023).then_some(speed as f64 / 10.0),
        cog_deg: (course < 3600).then_some(course as f64 / 10.0),
        heading_deg: (heading < 360).then_some(heading as u16),
        status: None,
    })
}

/// Raw lat/lon in 1/`per_deg` degree → degrees; `None` for "not available" (91°, 181°)
/// or out of range.
pub fn latlon(lat_raw: i32, lon_raw: i32, per_deg: f64) -> Option<(f64, f64)> {
    let (lat, lon) = (lat_raw as f64 / per_deg, lon_raw as f64 / per_deg);
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some((lat, lon))
}

fn dims(bits: &Bits, at: usize) -> [u16; 4] {
    [
        bits.u(at, 9) as u16,
        bits.u(at + 9, 9) as u16,
        bits.u(at + 18, 6) as u16,
        bits.u(at + 24, 6) as u16,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn six(s: &str) -> Vec<u8> {
        s.bytes().map(|c| unarmor(c).unwrap()).collect()
    }

    #[test]
    fn gpsd_first_sample_type1() {
        // gpsd sample.aivdm first message: mmsi 371798000, lat 29028980, lon -74037230 raw.
        let v = six("15RTgt0PAso;90TKcjM8h6g208CQ");
        let mut out = vec![];
        decode(&Bits::new(&v, 0), EventTime(0), &mut out).unwrap();
        let AisReport::Position(p) = &out[0] else {
            panic!()
        };
        assert_eq!(p.mmsi, 371798000);
        assert!((p.lat - 29028980.0 / 600000.0).abs() < 1e-12);
        assert!((p.lon + 74037230.0 / 600000.0).abs() < 1e-12);
        assert_eq!(p.sog_kn, Some(12.3));
        assert_eq!(p.cog_deg, Some(224.0));
        assert_eq!(p.heading_deg, Some(215));
    }

    #[test]
    fn short_bodies_are_errors_not_panics() {
        let v = six("15RT");
        assert!(decode(&Bits::new(&v, 0), EventTime(0), &mut vec![]).is_err());
        let v = six("15RTgt0PAso;90");
        assert!(decode(&Bits::new(&v, 0), EventTime(0), &mut vec![]).is_err());
    }
}

//! NMEA 0183 AIVDM/AIVDO sentence layer: tag blocks, checksums, fragment reassembly.
//!
//! This layer is ours (see `design.md`): the `ais` crate skips tag blocks and mixes up
//! interleaved multi-fragment messages. Fragments are reassembled per (source, sequence id,
//! channel), so two multi-fragment messages interleaved on channels A and B, or a single-
//! fragment message between the two halves of another, all decode.

use super::ais_body::{self, unarmor, Bits};
use super::DecodeError;
use crate::contact::AisBatch;
use crate::time::EventTime;
use std::collections::HashMap;

/// Partial messages kept at most; the oldest is dropped (and counted) beyond this, so a
/// stream of orphan first fragments cannot grow memory.
const MAX_PENDING: usize = 1024;
/// A partial message older than this (receive time) is abandoned.
const PENDING_TTL_S: f64 = 60.0;

#[derive(Hash, PartialEq, Eq, Clone, Debug, serde::Serialize, serde::Deserialize)]
struct FragKey {
    source: Box<str>,
    seq: u8,
    channel: u8,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Pending {
    total: u8,
    next: u8,
    sixbit: Vec<u8>,
    fill: u8,
    t: Option<EventTime>,
    exercise: bool,
    t_rx: EventTime,
    serial: u64,
}

/// Reassembles AIVDM fragments across messages of one source topic.
#[derive(Default, Debug, serde::Serialize, serde::Deserialize)]
pub struct NmeaAssembler {
    pending: HashMap<FragKey, Pending>,
    serial: u64,
    sixbit: Vec<u8>,
}

/// What a tag block told us.
#[derive(Default, Clone, Copy)]
struct Tag {
    t: Option<EventTime>,
    exercise: bool,
}

fn xor(s: &[u8]) -> u8 {
    s.iter().fold(0, |a, b| a ^ b)
}

fn hex_byte(s: &str) -> Option<u8> {
    if s.len() != 2 {
        return None;
    }
    u8::from_str_radix(s, 16).ok()
}

/// Parses `\key:value,...*hh\`; checks the checksum when one is given.
fn parse_tag(tag: &str, line: usize) -> Result<Tag, DecodeError> {
    let (body, given) = match tag.rfind('*') {
        Some(i) => (&tag[..i], Some(&tag[i + 1..])),
        None => (tag, None),
    };
    if let Some(given) = given {
        let computed = xor(body.as_bytes());
        if hex_byte(given) != Some(computed) {
            return Err(DecodeError::Checksum {
                line,
                computed,
                given: given.chars().take(4).collect(),
            });
        }
    }
    let mut out = Tag::default();
    for field in body.split(',') {
        let Some((k, v)) = field.split_once(':') else {
            continue;
        };
        match k {
            // Unix time, in seconds or (13 digits) milliseconds.
            "c" => {
                let n: i64 = v.parse().map_err(|_| DecodeError::Nmea {
                    line,
                    reason: format!("tag block time `c:{v}` is not an integer"),
                })?;
                // Saturating: any i64 can arrive here (found by `cargo fuzz run ais_json`: a
                // 19-digit time overflowed the multiplication, a panic in debug builds).
                out.t = Some(if n > 100_000_000_000 {
                    EventTime(n.saturating_mul(1000))
                } else {
                    EventTime::from_secs(n)
                });
            }
            // vigie's own marker, added by `vigie replay`: this is exercise data.
            "x" => out.exercise = v == "1",
            _ => {}
        }
    }
    Ok(out)
}

impl NmeaAssembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of partial messages waiting for their other fragments.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Feeds one payload of NMEA text (one or more lines) from `source`.
    pub fn feed(
        &mut self,
        source: &str,
        text: &str,
        t_rx: EventTime,
        out: &mut AisBatch,
        rejects: &mut Vec<DecodeError>,
    ) {
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Err(e) = self.feed_line(source, line, i + 1, t_rx, out) {
                rejects.push(e);
            }
        }
    }

    fn feed_line(
        &mut self,
        source: &str,
        line: &str,
        lineno: usize,
        t_rx: EventTime,
        out: &mut AisBatch,
    ) -> Result<(), DecodeError> {
        let malformed = |reason: &str| DecodeError::Nmea {
            line: lineno,
            reason: reason.to_string(),
        };
        let (tag, sentence) = if let Some(rest) = line.strip_prefix('\\') {
            let end = rest
                .find('\\')
                .ok_or_else(|| malformed("tag block not closed by `\\`"))?;
            (parse_tag(&rest[..end], lineno)?, &rest[end + 1..])
        } else {
            (Tag::default(), line)
        };
        if sentence.starts_with('$') {
            // Other NMEA traffic (GPS fixes) on an AIS feed: not ours, not an error.
            return Ok(());
        }
        let body_start = sentence
            .strip_prefix('!')
            .ok_or_else(|| malformed("expected `!AIVDM` or `!AIVDO`"))?;
        let star = body_start
            .find('*')
            .ok_or_else(|| malformed("no `*` checksum"))?;
        let body = &body_start[..star];
        let given = body_start[star + 1..].get(..2).unwrap_or("");
        let computed = xor(body.as_bytes());
        if hex_byte(given) != Some(computed) {
            return Err(DecodeError::Checksum {
                line: lineno,
                computed,
                given: given.to_string(),
            });
        }
        let mut f = body.split(',');
        let head = f.next().unwrap_or("");
        if head.len() != 5 || !(head.ends_with("VDM") || head.ends_with("VDO")) {
            return Err(malformed("not a VDM/VDO sentence"));
        }
        let mut field = || f.next().ok_or_else(|| malformed("too few fields"));
        let total: u8 = field()?
            .parse()
            .map_err(|_| malformed("bad fragment count"))?;
        let num: u8 = field()?
            .parse()
            .map_err(|_| malformed("bad fragment number"))?;
        let seq = field()?;
        let channel = field()?.bytes().next().unwrap_or(0);
        let payload = field()?;
        let fill: u8 = field()?.parse().map_err(|_| malformed("bad fill bits"))?;
        if !(1..=9).contains(&total) || !(1..=total).contains(&num) || fill > 5 {
            return Err(malformed("fragment numbers or fill bits out of range"));
        }
        let seq: u8 = if seq.is_empty() {
            255
        } else {
            seq.parse().map_err(|_| malformed("bad sequence id"))?
        };
        if payload.is_empty() {
            return Err(malformed("empty payload"));
        }
        self.sixbit.clear();
        for c in payload.bytes() {
            self.sixbit
                .push(unarmor(c).ok_or_else(|| malformed("invalid payload character"))?);
        }

        if total == 1 {
            let t = tag.t.unwrap_or(t_rx);
            out.exercise |= tag.exercise;
            let bits = Bits::new(&self.sixbit, fill);
            return ais_body::decode(&bits, t, &mut out.reports).map_err(DecodeError::AisBody);
        }

        let key = FragKey {
            source: source.into(),
            seq,
            channel,
        };
        if num == 1 {
            self.expire(t_rx);
            self.serial += 1;
            self.pending.insert(
                key,
                Pending {
                    total,
                    next: 2,
                    sixbit: self.sixbit.clone(),
                    fill,
                    t: tag.t,
                    exercise: tag.exercise,
                    t_rx,
                    serial: self.serial,
                },
            );
            return Ok(());
        }
        let Some(p) = self.pending.get_mut(&key) else {
            return Err(DecodeError::Fragment {
                line: lineno,
                num,
                total,
            });
        };
        if p.next != num || p.total != total {
            self.pending.remove(&key);
            return Err(DecodeError::Fragment {
                line: lineno,
                num,
                total,
            });
        }
        p.sixbit.extend_from_slice(&self.sixbit);
        p.next += 1;
        p.fill = fill;
        p.t = p.t.or(tag.t);
        p.exercise |= tag.exercise;
        if num < total {
            return Ok(());
        }
        let p = self.pending.remove(&key).expect("present above");
        out.exercise |= p.exercise;
        let bits = Bits::new(&p.sixbit, p.fill);
        ais_body::decode(&bits, p.t.unwrap_or(t_rx), &mut out.reports).map_err(DecodeError::AisBody)
    }

    /// Drops partial messages that have waited too long, and the oldest beyond the cap.
    fn expire(&mut self, now: EventTime) {
        if self.pending.len() < MAX_PENDING / 2 {
            return;
        }
        self.pending
            .retain(|_, p| now.secs_since(p.t_rx) < PENDING_TTL_S);
        while self.pending.len() >= MAX_PENDING {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.serial)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    self.pending.remove(&k);
                }
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact::AisReport;

    fn feed(text: &str) -> (AisBatch, Vec<DecodeError>) {
        let mut a = NmeaAssembler::new();
        let mut out = AisBatch::default();
        let mut rej = vec![];
        a.feed("src", text, EventTime(7), &mut out, &mut rej);
        (out, rej)
    }

    #[test]
    fn single_sentence_with_receive_time() {
        let (b, r) = feed("!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A\n");
        assert!(r.is_empty(), "{r:?}");
        assert_eq!(b.reports.len(), 1);
        let AisReport::Position(p) = &b.reports[0] else {
            panic!()
        };
        assert_eq!(p.t, EventTime(7));
    }

    #[test]
    fn bad_checksum_is_rejected() {
        let (b, r) = feed("!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4B\n");
        assert!(b.reports.is_empty());
        assert_eq!(r[0].reason(), "nmea_checksum");
    }

    #[test]
    fn a_huge_tag_block_time_does_not_overflow() {
        let body = "c:8888888888888888888";
        let line = format!(
            "\\{body}*{:02X}\\!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A",
            xor(body.as_bytes())
        );
        let (b, _) = feed(&line);
        let AisReport::Position(p) = &b.reports[0] else {
            panic!("{b:?}")
        };
        assert_eq!(p.t, EventTime(i64::MAX));
    }

    #[test]
    fn tag_block_time_seconds_and_millis() {
        let body = "c:1710392537";
        let line = format!(
            "\\{body}*{:02X}\\!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A",
            xor(body.as_bytes())
        );
        let (b, r) = feed(&line);
        assert!(r.is_empty(), "{r:?}");
        let AisReport::Position(p) = &b.reports[0] else {
            panic!()
        };
        assert_eq!(p.t, EventTime::from_secs(1710392537));
        let tag = parse_tag("c:1710392537123", 1).unwrap();
        assert_eq!(tag.t, Some(EventTime(1710392537123000)));
    }

    #[test]
    fn orphan_fragment_is_rejected_not_fatal() {
        let body = "AIVDM,2,2,3,B,88888888880,2";
        let (_, r) = feed(&format!("!{body}*{:02X}\n", xor(body.as_bytes())));
        assert_eq!(r[0].reason(), "nmea_fragment");
    }

    #[test]
    fn garbage_lines_never_panic() {
        for s in [
            "!",
            "!*",
            "!AIVDM*00",
            "\\",
            "\\c:1*zz\\!AIVDM",
            "!AIVDM,9,9,9,9,9,9*00",
            "!AIVDM,1,1,,A,~~~~,0*",
            "\u{0}\u{1}",
            "!AIVDM,1,1,,A,1,0*",
        ] {
            let _ = feed(s);
        }
    }
}

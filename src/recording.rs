//! Recordings (contract §6.3): NDJSON, one MQTT message a line, in arrival order.
//!
//! `{"t_rx": "…", "topic": "vigie/contacts/…", "payload": {…}}`, where `payload` is the
//! message as a JSON value, or a JSON string for text payloads (NMEA).

use crate::time::EventTime;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::io::BufRead;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordLine {
    pub t_rx: EventTime,
    pub topic: String,
    pub payload: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("line {line}: {message}")]
    BadLine { line: usize, message: String },
    #[error("reading the recording: {0}")]
    Io(#[from] std::io::Error),
}

impl RecordLine {
    /// Wraps a received message: JSON stays JSON, anything else becomes a string.
    pub fn new(t_rx: EventTime, topic: &str, payload: &[u8]) -> Self {
        let payload = match serde_json::from_slice::<Value>(payload) {
            Ok(v) if !v.is_string() => v,
            _ => Value::String(String::from_utf8_lossy(payload).into_owned()),
        };
        RecordLine {
            t_rx,
            topic: topic.to_string(),
            payload,
        }
    }

    /// The bytes to publish or process for this line.
    pub fn payload_bytes(&self) -> Vec<u8> {
        match &self.payload {
            Value::String(s) => s.as_bytes().to_vec(),
            v => serde_json::to_vec(v).expect("a Value always serialises"),
        }
    }

    /// The payload marked as exercise data, so that the vigie receiving a replay tracks it
    /// apart and flags its alerts `exercise: true`. JSON gets `"exercise": true` (on every
    /// object of an array); NMEA lines get the tag-block parameter `x:1`, added to an
    /// existing tag block (checksum recomputed) or in a new one.
    pub fn exercise_payload(&self) -> Vec<u8> {
        match &self.payload {
            Value::String(s) => mark_nmea(s).into_bytes(),
            Value::Object(o) => {
                let mut o = o.clone();
                o.insert("exercise".into(), Value::Bool(true));
                serde_json::to_vec(&o).expect("serialises")
            }
            Value::Array(a) => {
                let a: Vec<Value> = a
                    .iter()
                    .map(|v| match v {
                        Value::Object(o) => {
                            let mut o = o.clone();
                            o.insert("exercise".into(), Value::Bool(true));
                            Value::Object(o)
                        }
                        v => v.clone(),
                    })
                    .collect();
                serde_json::to_vec(&a).expect("serialises")
            }
            v => serde_json::to_vec(v).expect("serialises"),
        }
    }
}

fn checksum(s: &str) -> u8 {
    s.bytes().fold(0, |a, b| a ^ b)
}

fn mark_nmea(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        let l = line.trim_end();
        if l.trim().is_empty() || l.starts_with('#') {
            out.push_str(l);
        } else if let Some(rest) = l.strip_prefix('\\') {
            match rest.find('\\') {
                Some(end) => {
                    let tag = &rest[..end];
                    let body = tag.rsplit_once('*').map_or(tag, |(b, _)| b);
                    let nb = format!("x:1,{body}");
                    out.push_str(&format!(
                        "\\{nb}*{:02X}\\{}",
                        checksum(&nb),
                        &rest[end + 1..]
                    ));
                }
                None => out.push_str(l),
            }
        } else {
            out.push_str(&format!("\\x:1*{:02X}\\{l}", checksum("x:1")));
        }
        out.push('\n');
    }
    out
}

/// Reads a recording line by line; a bad line is returned as an error item (with its line
/// number) and reading goes on.
pub fn read<R: BufRead>(r: R) -> impl Iterator<Item = Result<RecordLine, RecordingError>> {
    parse_lines(r, |line| serde_json::from_slice::<RecordLine>(line))
}

/// The non-blank lines of a recording with their numbers, read into one reused buffer.
/// Lines are bytes: a line that is not UTF-8 is a bad line (its parser says why), not the
/// end of the recording, and the whole file is not validated twice.
struct Lines<R> {
    r: R,
    buf: Vec<u8>,
    number: usize,
}

impl<R: BufRead> Lines<R> {
    fn new(r: R) -> Self {
        Lines {
            r,
            buf: Vec::with_capacity(1 << 12),
            number: 0,
        }
    }

    fn next_line(&mut self) -> Option<std::io::Result<(usize, &[u8])>> {
        loop {
            self.buf.clear();
            match self.r.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(_) => self.number += 1,
                Err(e) => return Some(Err(e)),
            }
            if !self.buf.trim_ascii().is_empty() {
                let line = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
                return Some(Ok((self.number, line)));
            }
        }
    }
}

fn bad_line(line: usize, e: serde_json::Error) -> RecordingError {
    RecordingError::BadLine {
        line,
        message: e.to_string(),
    }
}

/// Each non-blank line through `parse`, its errors numbered by line.
fn parse_lines<R: BufRead, T>(
    r: R,
    parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
) -> impl Iterator<Item = Result<T, RecordingError>> {
    let mut lines = Lines::new(r);
    std::iter::from_fn(move || {
        Some(match lines.next_line()? {
            Ok((number, line)) => parse(line).map_err(|e| bad_line(number, e)),
            Err(e) => Err(RecordingError::Io(e)),
        })
    })
}

/// One recording line as the bytes to process: what offline replay needs, without the JSON
/// tree of [`RecordLine`].
#[derive(Debug, Clone, PartialEq)]
pub struct RawLine {
    pub t_rx: EventTime,
    pub topic: String,
    pub payload: Vec<u8>,
}

#[derive(Deserialize)]
struct BorrowedLine<'a> {
    t_rx: EventTime,
    #[serde(borrow)]
    topic: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

/// Like [`read`], but hands over each payload's own bytes instead of a parsed tree.
///
/// Why: building the payload's `Value` and serialising it back cost more instructions than
/// tracking the whole load scene (profile in BENCHMARKS.md). JSON payloads are passed on as
/// written in the recording (the decoder parses them once, typed); string payloads (NMEA)
/// are unescaped. The bytes equal [`RecordLine::payload_bytes`] up to insignificant JSON
/// whitespace (a test checks this on every scene).
///
/// Lines as vigie writes them are split without a JSON parser (see [`split_line`]);
/// any other spelling goes through serde_json.
pub fn read_raw<R: BufRead>(r: R) -> impl Iterator<Item = Result<RawLine, RecordingError>> {
    parse_lines(r, |line| parse_raw(line).map(RawRef::into_owned))
}

/// One recording line's parts, borrowed from the line where they need no unescaping.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRef<'a> {
    pub t_rx: EventTime,
    pub topic: Cow<'a, str>,
    pub payload: Cow<'a, [u8]>,
}

impl RawRef<'_> {
    pub fn into_owned(self) -> RawLine {
        RawLine {
            t_rx: self.t_rx,
            topic: self.topic.into_owned(),
            payload: self.payload.into_owned(),
        }
    }
}

/// Like [`read_raw`], but lends each line to `f` from one reused buffer: no allocation per
/// line (three per line, with their copies, were 2 % of a replay). Stops at the first error
/// `f` returns, or after handing it a read error.
pub fn for_each_raw<R: BufRead, E>(
    r: R,
    mut f: impl FnMut(Result<RawRef<'_>, RecordingError>) -> Result<(), E>,
) -> Result<(), E> {
    let mut lines = Lines::new(r);
    while let Some(line) = lines.next_line() {
        match line {
            Ok((number, line)) => f(parse_raw(line).map_err(|e| bad_line(number, e)))?,
            Err(e) => return f(Err(RecordingError::Io(e))),
        }
    }
    Ok(())
}

/// A line's parts: by [`split_line`] when vigie wrote it, else through serde_json.
fn parse_raw(line: &[u8]) -> Result<RawRef<'_>, serde_json::Error> {
    if let Some((t_rx, topic, payload)) = split_line(line) {
        return Ok(RawRef {
            t_rx,
            topic: Cow::Borrowed(topic),
            payload: Cow::Borrowed(payload),
        });
    }
    let b: BorrowedLine = serde_json::from_slice(line)?;
    let raw = b.payload.get();
    let payload = if raw.starts_with('"') {
        Cow::Owned(serde_json::from_str::<String>(raw)?.into_bytes())
    } else {
        Cow::Borrowed(raw.as_bytes())
    };
    Ok(RawRef {
        t_rx: b.t_rx,
        topic: b.topic,
        payload,
    })
}

/// Splits a line written exactly as vigie writes it,
/// `{"t_rx":"<UTC time>","topic":"<no escapes>","payload":<object or array>}`, into its
/// three parts without parsing the payload. `None` for any other spelling (field order,
/// whitespace, escapes, a string payload), which then goes through serde_json.
///
/// Why: serde_json had to walk every payload to find where it ends, and the decoder then
/// walked it again: a tenth of the load-scene replay. Here one byte loop checks that the
/// payload is a single bracket-balanced value ending the line. What it does not check is
/// the payload's own syntax: a broken payload reaches the decoder, which rejects it (counted
/// and logged as a rejected message, as it would be live) instead of the line being
/// skipped as unreadable.
fn split_line(line: &[u8]) -> Option<(EventTime, &str, &[u8])> {
    let rest = line.strip_prefix(br#"{"t_rx":""#)?;
    let q = rest.iter().position(|&c| c == b'"')?;
    let t_rx = EventTime::parse_rfc3339_bytes(&rest[..q])?;
    let rest = rest[q + 1..].strip_prefix(br#","topic":""#)?;
    let q = rest.iter().position(|&c| c == b'"' || c == b'\\')?;
    if rest[q] != b'"' {
        return None;
    }
    let topic = std::str::from_utf8(&rest[..q]).ok()?;
    let rest = rest[q + 1..].strip_prefix(br#","payload":"#)?;
    let payload = rest.trim_ascii_end().strip_suffix(b"}")?;
    (value_len(payload)? == payload.len()).then_some((t_rx, topic, payload))
}

/// Bytes [`value_len`] must look at: quotes, backslashes and brackets.
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t
};

/// Length of the object or array that starts `b`, by bracket depth outside strings. Other
/// bytes are skipped through a table (a byte-by-byte state machine cost as much as the
/// JSON parse it replaces).
fn value_len(b: &[u8]) -> Option<usize> {
    if !matches!(b.first(), Some(b'{' | b'[')) {
        return None;
    }
    let (mut depth, mut in_str, mut i) = (0usize, false, 0);
    while i < b.len() {
        let c = b[i];
        if !SPECIAL[c as usize] {
            i += 1;
            continue;
        }
        match (in_str, c) {
            (true, b'\\') => i += 1,
            (_, b'"') => in_str = !in_str,
            (true, _) => {}
            (false, b'{' | b'[') => depth += 1,
            (false, _) => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_text_payloads_round_trip() {
        let a = RecordLine::new(
            EventTime(1),
            "vigie/contacts/radar/x",
            br#"{"range_m":1.5,"bearing_deg":2}"#,
        );
        assert!(a.payload.is_object());
        assert_eq!(a.payload_bytes(), br#"{"range_m":1.5,"bearing_deg":2}"#);
        let n = "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A\n";
        let b = RecordLine::new(EventTime(1000), "vigie/contacts/ais/x", n.as_bytes());
        assert_eq!(b.payload, Value::String(n.into()));
        let line = serde_json::to_string(&b).unwrap();
        assert!(
            line.starts_with(r#"{"t_rx":"1970-01-01T00:00:00.001Z","topic":"#),
            "{line}"
        );
        let back: RecordLine = serde_json::from_str(&line).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn exercise_marks() {
        let n = RecordLine::new(EventTime(0), "t", b"!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A\n\\c:1710392537*08\\!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A");
        let m = String::from_utf8(n.exercise_payload()).unwrap();
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(
            lines[0],
            format!(
                "\\x:1*{:02X}\\!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A",
                checksum("x:1")
            )
        );
        assert!(lines[1].starts_with("\\x:1,c:1710392537*"));
        let j = RecordLine::new(EventTime(0), "t", br#"[{"mmsi":1},{"mmsi":2}]"#);
        let v: Value = serde_json::from_slice(&j.exercise_payload()).unwrap();
        assert_eq!(v[1]["exercise"], Value::Bool(true));
    }

    #[test]
    fn bad_lines_are_numbered_and_skipped() {
        let text = "{\"t_rx\":\"2026-03-14T05:02:17.500Z\",\"topic\":\"a\",\"payload\":1}\nnot json\n\n{\"t_rx\":\"x\"}\n";
        let r: Vec<_> = read(text.as_bytes()).collect();
        assert_eq!(r.len(), 3);
        assert!(r[0].is_ok());
        assert!(matches!(r[1], Err(RecordingError::BadLine { line: 2, .. })));
        assert!(matches!(r[2], Err(RecordingError::BadLine { line: 4, .. })));
        let raw: Vec<_> = read_raw(text.as_bytes()).collect();
        assert_eq!(raw.len(), 3);
        // Not UTF-8: that line is bad, the next is still read.
        let mut bytes = b"\xff\xfe\n".to_vec();
        bytes.extend_from_slice(text.as_bytes());
        let r: Vec<_> = read_raw(&bytes[..]).collect();
        assert!(matches!(r[0], Err(RecordingError::BadLine { line: 1, .. })));
        assert!(r[1].is_ok());
        // The borrowing reader sees the same lines, errors and line numbers.
        let lent = |b: &[u8]| {
            let mut v = Vec::new();
            for_each_raw(b, |l| {
                v.push(l.map(RawRef::into_owned).map_err(|e| e.to_string()));
                Ok::<_, ()>(())
            })
            .unwrap();
            v
        };
        let owned =
            |b: &[u8]| -> Vec<_> { read_raw(b).map(|l| l.map_err(|e| e.to_string())).collect() };
        for b in [&bytes[..], text.as_bytes(), text.trim_end().as_bytes()] {
            assert_eq!(lent(b), owned(b));
        }
        assert_eq!(raw[0].as_ref().unwrap().payload, b"1");
        assert!(matches!(
            raw[1],
            Err(RecordingError::BadLine { line: 2, .. })
        ));
        assert!(matches!(
            raw[2],
            Err(RecordingError::BadLine { line: 4, .. })
        ));
    }

    #[test]
    fn lines_split_without_a_parser_only_when_written_as_vigie_writes_them() {
        let ok = br#"{"t_rx":"2026-03-14T05:02:17.500Z","topic":"a/b","payload":{"s":"}]\"{","p":[1,[2]]}}"#;
        let (t, topic, payload) = split_line(ok).unwrap();
        assert_eq!(
            t,
            EventTime::parse_rfc3339("2026-03-14T05:02:17.500Z").unwrap()
        );
        assert_eq!(topic, "a/b");
        assert_eq!(payload, br#"{"s":"}]\"{","p":[1,[2]]}"#);
        for other in [
            // Another field after the payload: the payload is not the rest of the line.
            &br#"{"t_rx":"2026-03-14T05:02:17.500Z","topic":"a","payload":{"x":1},"y":{"z":2}}"#[..],
            br#"{"t_rx":"2026-03-14T05:02:17.500Z","topic":"a","payload":{"x":1}}}"#,
            br#"{"t_rx":"2026-03-14T05:02:17.500Z","topic":"a","payload":{"x":1}"#,
            br#"{"t_rx":"2026-03-14T05:02:17.500Z","topic":"a","payload":"!AIVDM"}"#,
            br#"{"t_rx":"2026-03-14T05:02:17.500Z","topic":"a\/b","payload":{}}"#,
            br#"{"topic":"a","t_rx":"2026-03-14T05:02:17.500Z","payload":{}}"#,
            br#"{"t_rx": "2026-03-14T05:02:17.500Z","topic":"a","payload":{}}"#,
            br#"{"t_rx":"2026-03-14T06:02:17.5+01:00","topic":"a","payload":[]}"#,
        ] {
            let l = std::str::from_utf8(other).unwrap();
            let fast = split_line(other);
            assert!(
                fast.is_none() || l.contains("+01:00"),
                "{l}: split as {fast:?}"
            );
        }
        // The last one is still read (by chrono), and the others by serde_json.
        let text = "{\"t_rx\":\"2026-03-14T05:02:17.500Z\",\"topic\":\"a\",\"payload\":{\"x\":1},\"y\":{\"z\":2}}\n";
        let raw: Vec<RawLine> = read_raw(text.as_bytes()).map(Result::unwrap).collect();
        assert_eq!(raw[0].payload, br#"{"x":1}"#);
    }

    #[test]
    fn raw_lines_carry_the_same_payload_bytes() {
        let lines = [
            RecordLine::new(
                EventTime(7000),
                "a/b",
                br#"{"plots":[{"range_m":1.5}],"t":"x"}"#,
            ),
            RecordLine::new(
                EventTime(8000),
                "a/c",
                b"!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A\n\\c:1\\\"q\"\n",
            ),
            RecordLine::new(EventTime(9000), "a/d", br#"[{"mmsi":1},{"mmsi":2.5}]"#),
        ];
        let text: String = lines
            .iter()
            .map(|l| serde_json::to_string(l).unwrap() + "\n")
            .collect();
        let raw: Vec<RawLine> = read_raw(text.as_bytes()).map(Result::unwrap).collect();
        for (l, r) in lines.iter().zip(&raw) {
            assert_eq!((r.t_rx, r.topic.as_str()), (l.t_rx, l.topic.as_str()));
            assert_eq!(r.payload, l.payload_bytes());
        }
    }
}

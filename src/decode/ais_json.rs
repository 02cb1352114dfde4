//! gpsd / AIS-catcher JSON AIS reports, contract §2.2 (1).
//!
//! Feeds disagree on how to say "not available": marker values (lat 91, lon 181, speed
//! 102.3 kn or raw 1023, course 360 or raw 3600, heading 511; type 27 uses 63 kn and 511°),
//! the strings `"nan"` / `"n/a"` that gpsd prints, or leaving the field out (AIS-catcher).
//! Every spelling becomes `None` here, and nothing downstream sees a marker value.

use super::ais_body::latlon;
use super::lex::{once, Lexer, Scalar};
use super::radar::json_error;
use super::DecodeError;
use crate::contact::{AisBatch, AisPosition, AisReport, AisStatic};
use crate::time::EventTime;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The fields vigie reads; everything else a feed sends is ignored.
///
/// Parsed typed in one pass. Why not through a `serde_json::Value`: building the tree and
/// converting it cost 18 k instructions per report, a fifth of the whole load-scene replay
/// (BENCHMARKS.md).
///
/// Strings are borrowed from the payload where it has no escapes: the two every report
/// carries (`class`, `t`) were two allocations per report.
#[derive(Deserialize, Default)]
struct RawAis<'a> {
    #[serde(borrow)]
    class: Option<Cow<'a, str>>,
    #[serde(rename = "type")]
    #[serde(borrow)]
    msg_type: Option<Field<'a>>,
    #[serde(borrow)]
    mmsi: Option<Field<'a>>,
    scaled: Option<bool>,
    #[serde(borrow)]
    lat: Option<Field<'a>>,
    #[serde(borrow)]
    lon: Option<Field<'a>>,
    #[serde(borrow)]
    speed: Option<Field<'a>>,
    #[serde(borrow)]
    course: Option<Field<'a>>,
    #[serde(borrow)]
    heading: Option<Field<'a>>,
    #[serde(borrow)]
    status: Option<Field<'a>>,
    #[serde(borrow)]
    t: Option<Cow<'a, str>>,
    /// `t` already read, when the fast path found it in the contract's form (instead of
    /// `t`: a time string checked as UTF-8 and then parsed cost twice the parse alone).
    #[serde(skip)]
    t_read: Option<EventTime>,
    #[serde(borrow)]
    rxuxtime: Option<Field<'a>>,
    #[serde(borrow)]
    rxtime: Option<Field<'a>>,
    #[serde(borrow)]
    shipname: Option<Cow<'a, str>>,
    #[serde(borrow)]
    callsign: Option<Cow<'a, str>>,
    #[serde(borrow)]
    shiptype: Option<Field<'a>>,
    #[serde(borrow)]
    to_bow: Option<Field<'a>>,
    #[serde(borrow)]
    to_stern: Option<Field<'a>>,
    #[serde(borrow)]
    to_port: Option<Field<'a>>,
    #[serde(borrow)]
    to_starboard: Option<Field<'a>>,
    #[serde(default)]
    exercise: bool,
}

/// A field that should hold a number, as the feed sent it (`null` is `None` around it).
enum Field<'a> {
    Number(f64),
    /// gpsd's `"nan"` and `"n/a"`, numbers sent as strings, AIS-catcher's `rxtime`.
    Text(Cow<'a, str>),
    /// An array, an object or a boolean: a broken feed.
    Other,
}

impl<'de: 'a, 'a> Deserialize<'de> for Field<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Field<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Field<'a>, E> {
                Ok(Field::Number(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Field<'a>, E> {
                Ok(Field::Number(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Field<'a>, E> {
                Ok(Field::Number(v as f64))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Field<'a>, E> {
                Ok(Field::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Field<'a>, E> {
                Ok(Field::Text(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Field<'a>, E> {
                Ok(Field::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Field<'a>, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Field<'a>, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Field<'a>, E> {
                Err(E::invalid_type(de::Unexpected::Unit, &self))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A number, or `None` for every "not available" spelling and anything that is not one.
fn num(v: &Option<Field>) -> Option<f64> {
    match v {
        Some(Field::Number(n)) => Some(*n).filter(|x| x.is_finite()),
        Some(Field::Text(s)) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// A syntax error spoils the whole message; a well-formed report of the wrong shape is
/// rejected alone.
fn element_error(e: serde_json::Error) -> Result<String, DecodeError> {
    match e.classify() {
        serde_json::error::Category::Data => Ok(e.to_string()),
        _ => Err(json_error(e)),
    }
}

/// Decodes a payload holding one gpsd-style object or an array of them. A bad element is
/// rejected alone.
pub fn decode(
    payload: &[u8],
    t_rx: EventTime,
    out: &mut AisBatch,
    rejects: &mut Vec<DecodeError>,
) -> Result<(), DecodeError> {
    decode_with(payload, t_rx, out, rejects, true)
}

fn decode_with(
    payload: &[u8],
    t_rx: EventTime,
    out: &mut AisBatch,
    rejects: &mut Vec<DecodeError>,
    try_fast: bool,
) -> Result<(), DecodeError> {
    match payload.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_slice(payload).map_err(json_error)?;
            for (index, item) in items.into_iter().enumerate() {
                let r = serde_json::from_str::<RawAis>(item.get())
                    .map_err(|e| e.to_string())
                    .and_then(|r| one(&r, t_rx, out));
                if let Err(reason) = r {
                    rejects.push(DecodeError::BadAisJson { index, reason });
                }
            }
            Ok(())
        }
        Some(b'{') => {
            // Read in place and passed by reference: the report is some 700 bytes, and
            // moving it between functions was 2 % of a replay.
            let mut fast_read = RawAis::default();
            let r = if try_fast && fast(payload, &mut fast_read).is_some() {
                one(&fast_read, t_rx, out)
            } else {
                match serde_json::from_slice::<RawAis>(payload) {
                    Ok(r) => one(&r, t_rx, out),
                    Err(e) => Err(element_error(e)?),
                }
            };
            r.map_err(|reason| DecodeError::BadAisJson { index: 0, reason })
        }
        _ => {
            serde_json::from_slice::<IgnoredAny>(payload).map_err(json_error)?;
            Err(DecodeError::Json(
                "expected a JSON object or an array of objects".into(),
            ))
        }
    }
}

/// The common case without serde: one flat object of numbers and plain strings (see
/// [`super::lex`]). `None` for anything else, which serde_json then reads, so the answer
/// never depends on which path ran (test `fast_path_changes_nothing`).
fn fast<'a>(payload: &'a [u8], r: &mut RawAis<'a>) -> Option<()> {
    let mut seen = 0u32;
    let mut l = Lexer::new(payload);
    l.object(|l, key| {
        let text = match key {
            b"class" => Some((0, &mut r.class)),
            b"t" => Some((1, &mut r.t)),
            b"shipname" => Some((2, &mut r.shipname)),
            b"callsign" => Some((3, &mut r.callsign)),
            _ => None,
        };
        if let Some((bit, slot)) = text {
            once(&mut seen, bit)?;
            // The two strings every report carries are taken as bytes where they can be,
            // with no UTF-8 check: a time in the contract's form, and the class "AIS".
            let mut ahead = *l;
            let raw = match key {
                b"t" | b"class" => ahead.raw_string(),
                _ => None,
            };
            match (key, raw) {
                (b"t", Some(b)) => {
                    if let Some(t) = EventTime::parse_contract_utc(b) {
                        *l = ahead;
                        r.t_read = Some(t);
                        return Some(());
                    }
                }
                (b"class", Some(b"AIS")) => {
                    *l = ahead;
                    *slot = Some(Cow::Borrowed("AIS"));
                    return Some(());
                }
                _ => {}
            }
            *slot = l.scalar()?.text()?;
            return Some(());
        }
        let v = l.scalar()?;
        let (bit, slot): (u32, &mut Option<Field>) = match key {
            b"scaled" => {
                once(&mut seen, 4)?;
                r.scaled = match v {
                    Scalar::Null => None,
                    v => Some(v.flag()?),
                };
                return Some(());
            }
            b"exercise" => {
                once(&mut seen, 5)?;
                r.exercise = v.flag()?;
                return Some(());
            }
            b"type" => (6, &mut r.msg_type),
            b"mmsi" => (7, &mut r.mmsi),
            b"lat" => (8, &mut r.lat),
            b"lon" => (9, &mut r.lon),
            b"speed" => (10, &mut r.speed),
            b"course" => (11, &mut r.course),
            b"heading" => (12, &mut r.heading),
            b"status" => (13, &mut r.status),
            b"rxuxtime" => (14, &mut r.rxuxtime),
            b"rxtime" => (15, &mut r.rxtime),
            b"shiptype" => (16, &mut r.shiptype),
            b"to_bow" => (17, &mut r.to_bow),
            b"to_stern" => (18, &mut r.to_stern),
            b"to_port" => (19, &mut r.to_port),
            b"to_starboard" => (20, &mut r.to_starboard),
            // Any other member is ignored, as serde ignores it.
            _ => return Some(()),
        };
        once(&mut seen, bit)?;
        // `null` is no value; a boolean is kept as "not a number" (a broken feed).
        *slot = match v {
            Scalar::Num(n) => Some(Field::Number(n)),
            Scalar::Str(s) => Some(Field::Text(Cow::Borrowed(s))),
            Scalar::Bool(_) => Some(Field::Other),
            Scalar::Null => None,
        };
        Some(())
    })?;
    l.at_end().then_some(())
}

fn one(r: &RawAis, t_rx: EventTime, out: &mut AisBatch) -> Result<(), String> {
    if let Some(c) = &r.class {
        if c != "AIS" {
            return Err(format!("class `{c}` is not AIS"));
        }
    }
    let msg_type = num(&r.msg_type).ok_or("missing message `type`")? as u8;
    let mmsi = num(&r.mmsi)
        .filter(|m| (1.0..=999_999_999.0).contains(m) && m.fract() == 0.0)
        .ok_or("missing or invalid `mmsi`")? as u32;
    // A number field holding an array, an object or a boolean is not a "not available"
    // spelling but a broken feed: reject the report rather than guess.
    for (name, v) in [
        ("lat", &r.lat),
        ("lon", &r.lon),
        ("speed", &r.speed),
        ("course", &r.course),
        ("heading", &r.heading),
    ] {
        if matches!(v, Some(Field::Other)) {
            return Err(format!("`{name}` is not a number"));
        }
    }
    let t = event_time(r, t_rx)?;
    out.exercise |= r.exercise;
    let scaled = r.scaled.unwrap_or(false);
    match msg_type {
        1 | 2 | 3 | 18 | 19 | 27 => {
            if let Some(p) = position(r, msg_type, mmsi, t, scaled) {
                out.reports.push(AisReport::Position(p));
            }
            if msg_type == 19 {
                out.reports
                    .push(AisReport::Static(static_data(r, msg_type, mmsi)));
            }
        }
        5 | 24 => out
            .reports
            .push(AisReport::Static(static_data(r, msg_type, mmsi))),
        // Other types carry nothing vigie tracks.
        _ => {}
    }
    Ok(())
}

fn event_time(r: &RawAis, t_rx: EventTime) -> Result<EventTime, String> {
    if let Some(t) = r.t_read {
        return Ok(t);
    }
    if let Some(t) = &r.t {
        return EventTime::parse_rfc3339(t).map_err(|e| e.to_string());
    }
    if let Some(s) = num(&r.rxuxtime) {
        return EventTime::from_unix_secs_f64(s).ok_or_else(|| format!("bad rxuxtime {s}"));
    }
    if let Some(Field::Text(s)) = &r.rxtime {
        // AIS-catcher: "20240314050217" (UTC, to the second).
        return chrono::NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S")
            .map(|d| EventTime(d.and_utc().timestamp_micros()))
            .map_err(|_| format!("bad rxtime `{s}`"));
    }
    Ok(t_rx)
}

fn position(
    r: &RawAis,
    msg_type: u8,
    mmsi: u32,
    t: EventTime,
    scaled: bool,
) -> Option<AisPosition> {
    let long_range = msg_type == 27;
    let (lat, lon) = match (num(&r.lat), num(&r.lon)) {
        (Some(lat), Some(lon)) if scaled => ((-90.0..=90.0).contains(&lat)
            && (-180.0..=180.0).contains(&lon))
        .then_some((lat, lon))?,
        (Some(lat), Some(lon)) => {
            let per_deg = if long_range { 600.0 } else { 600_000.0 };
            latlon(lat as i32, lon as i32, per_deg)?
        }
        _ => return None,
    };
    let sog_kn = num(&r.speed).and_then(|s| match (long_range, scaled) {
        (true, _) => (s < 63.0).then_some(s),
        (false, true) => (s < 102.25).then_some(s),
        (false, false) => (s < 1023.0).then_some(s / 10.0),
    });
    let cog_deg = num(&r.course).and_then(|c| match (long_range, scaled) {
        (true, _) => (c < 360.0).then_some(c),
        (false, true) => (c < 360.0).then_some(c),
        (false, false) => (c < 3600.0).then_some(c / 10.0),
    });
    let heading_deg = num(&r.heading)
        .filter(|h| (0.0..360.0).contains(h))
        .map(|h| h as u16);
    let status = num(&r.status)
        .filter(|s| (0.0..16.0).contains(s))
        .map(|s| s as u8);
    Some(AisPosition {
        t,
        msg_type,
        mmsi,
        lat,
        lon,
        sog_kn,
        cog_deg,
        heading_deg,
        status,
    })
}

fn static_data(r: &RawAis, msg_type: u8, mmsi: u32) -> AisStatic {
    let text = |s: &Option<Cow<str>>| s.as_ref().map(|s| s.trim_end().to_string());
    let dim = |v: &Option<Field>| num(v).map(|x| x.clamp(0.0, 511.0) as u16);
    let dims = match (
        dim(&r.to_bow),
        dim(&r.to_stern),
        dim(&r.to_port),
        dim(&r.to_starboard),
    ) {
        (Some(a), Some(b), Some(c), Some(d)) => Some([a, b, c, d]),
        _ => None,
    };
    AisStatic {
        msg_type,
        mmsi,
        name: text(&r.shipname),
        callsign: text(&r.callsign),
        ship_type: num(&r.shiptype).map(|x| x as u8),
        dims,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_changes_nothing() {
        use rand::{Rng, SeedableRng};
        let keys = [
            "class",
            "type",
            "mmsi",
            "scaled",
            "lat",
            "lon",
            "speed",
            "course",
            "heading",
            "status",
            "t",
            "rxuxtime",
            "rxtime",
            "shipname",
            "callsign",
            "shiptype",
            "to_bow",
            "to_stern",
            "to_port",
            "to_starboard",
            "exercise",
            "device",
            "sog",
        ];
        let values = [
            "1",
            "5",
            "18",
            "27",
            "-0",
            "0",
            "227006760",
            "50.870878",
            "-1.5e2",
            "1E+2",
            "01",
            "1.",
            "1e400",
            "91",
            "181",
            "102.3",
            "1023",
            "3600",
            "511",
            "\"AIS\"",
            "\"nan\"",
            "\"n/a\"",
            "\"12.5\"",
            "\"a\\\"b\"",
            "\"2026-03-14T05:02:17.500Z\"",
            "\"20240314050217\"",
            "\"EIDSVAAG  \"",
            "true",
            "false",
            "null",
            "{\"x\":1}",
            "[1,2]",
            "1710392537.25",
            "\"é\"",
        ];
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let (mut fast_taken, n) = (0, 20_000);
        for _ in 0..n {
            let mut members = vec![];
            if rng.random_bool(0.8) {
                members.push("\"class\":\"AIS\"".to_string());
                members.push(format!(
                    "\"type\":{}",
                    ["1", "3", "18", "5", "24", "27"][rng.random_range(0..6)]
                ));
                members.push("\"mmsi\":227006760".to_string());
                members.push("\"scaled\":true".to_string());
            }
            for _ in 0..rng.random_range(0..8) {
                let k = keys[rng.random_range(0..keys.len())];
                let v = values[rng.random_range(0..values.len())];
                let sp = [" ", "", "\n"][rng.random_range(0..3)];
                members.push(format!("\"{k}\"{sp}:{sp}{v}"));
            }
            let mut text = format!("{{{}}}", members.join(","));
            match rng.random_range(0..20) {
                0 => text.push_str(" x"),
                1 => text.push_str(" \n"),
                2 => {
                    text.pop();
                }
                _ => {}
            }
            let run = |fast_ok: bool| {
                let (mut b, mut rej) = (AisBatch::default(), vec![]);
                let r = decode_with(text.as_bytes(), EventTime(5), &mut b, &mut rej, fast_ok);
                (r, b, rej)
            };
            // Debug output, not ==, so that -0.0 and 0.0 differ.
            let (with, without) = (run(true), run(false));
            assert_eq!(format!("{with:?}"), format!("{without:?}"), "{text}");
            fast_taken += fast(text.as_bytes(), &mut RawAis::default()).is_some() as usize;
        }
        // Both paths were exercised.
        assert!(
            fast_taken > n / 5 && fast_taken < n * 4 / 5,
            "{fast_taken} of {n}"
        );
    }

    fn dec(s: &str) -> (AisBatch, Vec<DecodeError>) {
        let mut b = AisBatch::default();
        let mut rej = vec![];
        decode(s.as_bytes(), EventTime(5), &mut b, &mut rej).unwrap();
        (b, rej)
    }

    fn pos(b: &AisBatch) -> AisPosition {
        match &b.reports[0] {
            AisReport::Position(p) => *p,
            r => panic!("{r:?}"),
        }
    }

    #[test]
    fn contract_example_scaled() {
        let (b, _) = dec(
            r#"{"class":"AIS","type":1,"mmsi":227006760,"scaled":true,"lat":50.9651,"lon":1.8530,
   "speed":12.3,"course":285.1,"heading":284,"status":0}"#,
        );
        let p = pos(&b);
        assert_eq!((p.mmsi, p.lat, p.lon), (227006760, 50.9651, 1.8530));
        assert_eq!(
            (p.sog_kn, p.cog_deg, p.heading_deg),
            (Some(12.3), Some(285.1), Some(284))
        );
        assert_eq!(p.t, EventTime(5));
    }

    #[test]
    fn not_available_in_every_spelling() {
        let (b, _) = dec(
            r#"[{"type":1,"mmsi":1,"scaled":true,"lat":50,"lon":1,"speed":102.3,"course":360,"heading":511},
            {"type":1,"mmsi":1,"scaled":true,"lat":50,"lon":1,"speed":"nan","course":"n/a","heading":"n/a"},
            {"type":1,"mmsi":1,"scaled":false,"lat":30000000,"lon":600000,"speed":1023,"course":3600,"heading":511},
            {"type":1,"mmsi":1,"lat":30000000,"lon":600000},
            {"type":27,"mmsi":1,"scaled":false,"lat":30000,"lon":600,"speed":63,"course":511},
            {"type":1,"mmsi":1,"scaled":true,"lat":91,"lon":181}]"#,
        );
        assert_eq!(b.reports.len(), 5, "the 91/181 report has no position");
        for r in &b.reports {
            let AisReport::Position(p) = r else { panic!() };
            assert_eq!((p.lat, p.lon), (50.0, 1.0));
            assert_eq!((p.sog_kn, p.cog_deg, p.heading_deg), (None, None, None));
        }
    }

    #[test]
    fn event_time_sources() {
        let (b, _) = dec(
            r#"{"type":1,"mmsi":1,"scaled":true,"lat":50,"lon":1,"t":"2026-03-14T05:02:17.500Z","rxuxtime":1}"#,
        );
        assert_eq!(pos(&b).t.to_rfc3339(), "2026-03-14T05:02:17.500Z");
        let (b, _) =
            dec(r#"{"type":1,"mmsi":1,"scaled":true,"lat":50,"lon":1,"rxuxtime":1710392537.25}"#);
        assert_eq!(pos(&b).t.to_rfc3339(), "2024-03-14T05:02:17.250Z");
        let (b, _) =
            dec(r#"{"type":1,"mmsi":1,"scaled":true,"lat":50,"lon":1,"rxtime":"20240314050217"}"#);
        assert_eq!(pos(&b).t.to_rfc3339(), "2024-03-14T05:02:17.000Z");
    }

    #[test]
    fn bad_elements_rejected_alone() {
        let (b, rej) = dec(
            r#"[{"type":1,"scaled":true,"lat":50,"lon":1},{"type":1,"mmsi":2,"scaled":true,"lat":50,"lon":1},
            {"class":"TPV"},{"type":1,"mmsi":3,"t":"later"},7]"#,
        );
        assert_eq!(b.reports.len(), 1);
        assert_eq!(rej.len(), 4);
    }

    #[test]
    fn static_data_type5() {
        let (b, _) = dec(
            r#"{"class":"AIS","type":5,"mmsi":351759000,"scaled":false,"callsign":"3FOF8","shipname":"EVER DIADEM","shiptype":70,"to_bow":225,"to_stern":70,"to_port":1,"to_starboard":31}"#,
        );
        let AisReport::Static(s) = &b.reports[0] else {
            panic!()
        };
        assert_eq!(s.name.as_deref(), Some("EVER DIADEM"));
        assert_eq!(s.dims, Some([225, 70, 1, 31]));
    }
}

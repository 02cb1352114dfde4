//! vigie's AIS decoding against third-party decodes of real traffic (shared/data/ais).

use crate::util::shared;
use serde_json::Value;
use vigie::contact::{AisBatch, AisPosition, AisReport, AisStatic};
use vigie::decode::nmea::NmeaAssembler;
use vigie::EventTime;

#[derive(Default, Debug)]
struct Score {
    positions: usize,
    statics: usize,
    mismatches: Vec<String>,
}

fn raw(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

/// Compares one gpsd record (unscaled) with the reports we decoded for the same message.
/// gpsd merges type-24 part A (name) and part B (type, callsign, dimensions) of one MMSI
/// into its part-B record; `merged` holds our own reports merged the same way.
fn compare(g: &Value, ours: &[AisReport], score: &mut Score, at: &str) {
    let t = raw(g, "type").unwrap_or(0.0) as u8;
    let mmsi = raw(g, "mmsi").unwrap_or(0.0) as u32;
    match t {
        1 | 2 | 3 | 18 | 19 | 27 => {
            let per_deg = if t == 27 { 600.0 } else { 600_000.0 };
            let (lat, lon) = (
                raw(g, "lat").unwrap() / per_deg,
                raw(g, "lon").unwrap() / per_deg,
            );
            let ours: Vec<&AisPosition> = ours
                .iter()
                .filter_map(|r| match r {
                    AisReport::Position(p) if p.mmsi == mmsi => Some(p),
                    _ => None,
                })
                .collect();
            score.positions += 1;
            if lat.abs() > 90.0 || lon.abs() > 180.0 {
                if !ours.is_empty() {
                    score.mismatches.push(format!(
                        "{at}: gpsd says no position, we gave {:?}",
                        ours[0]
                    ));
                }
                return;
            }
            let Some(p) = ours.first() else {
                score.mismatches.push(format!(
                    "{at}: type {t} mmsi {mmsi}: we decoded no position"
                ));
                return;
            };
            let (speed, course) = (
                raw(g, "speed").unwrap_or(f64::NAN),
                raw(g, "course").unwrap_or(f64::NAN),
            );
            let (exp_sog, exp_cog) = if t == 27 {
                (
                    (speed != 63.0).then_some(speed),
                    (course != 511.0).then_some(course),
                )
            } else {
                (
                    (speed != 1023.0).then_some(speed / 10.0),
                    (course < 3600.0).then_some(course / 10.0),
                )
            };
            let heading = raw(g, "heading").map(|h| h as u16).filter(|h| *h < 360);
            let ok = (p.lat - lat).abs() < 1e-6
                && (p.lon - lon).abs() < 1e-6
                && p.sog_kn == exp_sog
                && p.cog_deg == exp_cog
                && (t == 27 || p.heading_deg == heading);
            if !ok {
                score
                    .mismatches
                    .push(format!("{at}: gpsd {g} vs ours {p:?}"));
            }
        }
        5 | 24 => {
            let ours: Vec<&AisStatic> = ours
                .iter()
                .filter_map(|r| match r {
                    AisReport::Static(s) if s.mmsi == mmsi => Some(s),
                    _ => None,
                })
                .collect();
            score.statics += 1;
            let Some(s) = ours.first() else {
                score.mismatches.push(format!(
                    "{at}: type {t} mmsi {mmsi}: we decoded no static data"
                ));
                return;
            };
            let mut ok = true;
            if let Some(n) = g.get("shipname").and_then(Value::as_str) {
                ok &= ours.iter().any(|s| s.name.as_deref() == Some(n));
            }
            if let Some(st) = raw(g, "shiptype") {
                ok &= ours.iter().any(|s| s.ship_type == Some(st as u8));
            }
            if let Some(b) = raw(g, "to_bow") {
                ok &= ours
                    .iter()
                    .any(|s| s.dims.is_some_and(|d| d[0] == b as u16));
            }
            if !ok {
                score
                    .mismatches
                    .push(format!("{at}: gpsd {g} vs ours {s:?}"));
            }
        }
        _ => {}
    }
}

fn feed(a: &mut NmeaAssembler, line: &str) -> Vec<AisReport> {
    let mut b = AisBatch::default();
    let mut rej = vec![];
    a.feed("corpus", line, EventTime(0), &mut b, &mut rej);
    b.reports
}

/// gpsd daemon regression logs: each input sentence is followed by the JSON gpsd emitted.
fn daemon_log(name: &str) -> Score {
    let text =
        std::fs::read_to_string(shared(&format!("data/ais/gpsd/daemon/{name}.chk"))).unwrap();
    let mut a = NmeaAssembler::new();
    let mut score = Score::default();
    let mut ours: Vec<AisReport> = vec![];
    let mut merged: std::collections::HashMap<u32, AisStatic> = Default::default();
    let mut last: Option<Value> = None;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('!') || line.starts_with('\\') {
            ours = feed(&mut a, line);
            for r in ours.iter_mut() {
                if let AisReport::Static(s) = r {
                    let m = merged.entry(s.mmsi).or_insert_with(|| s.clone());
                    m.name = s.name.clone().or(m.name.take());
                    m.callsign = s.callsign.clone().or(m.callsign.take());
                    m.ship_type = s.ship_type.or(m.ship_type);
                    m.dims = s.dims.or(m.dims);
                    *s = m.clone();
                }
            }
            last = None;
        } else if line.starts_with('{') {
            let g: Value = serde_json::from_str(line).unwrap();
            if g["class"] != "AIS" || last.as_ref() == Some(&g) {
                continue;
            }
            compare(&g, &ours, &mut score, &format!("{name}.chk:{}", i + 1));
            last = Some(g);
        }
    }
    score
}

#[test]
fn gpsd_daemon_logs_match_gpsd() {
    let mut total = Score::default();
    for name in [
        "ais-raw-messages.log",
        "ais-18-27.log",
        "ais_unpack_sixbit.log",
        "ais-nmea.log",
        "ais-nmea-type6-fid55.log",
    ] {
        let s = daemon_log(name);
        eprintln!(
            "{name}: {} positions, {} static, {} mismatches",
            s.positions,
            s.statics,
            s.mismatches.len()
        );
        total.positions += s.positions;
        total.statics += s.statics;
        total.mismatches.extend(s.mismatches);
    }
    eprintln!(
        "gpsd daemon corpora: {} position and {} static reports, {} mismatches",
        total.positions,
        total.statics,
        total.mismatches.len()
    );
    assert!(total.positions > 500, "corpus read");
    assert!(
        total.mismatches.is_empty(),
        "{:#?}",
        &total.mismatches[..total.mismatches.len().min(10)]
    );
}

#[test]
fn gpsd_sample_aivdm_matches_gpsdecode() {
    // gpsdecode -u -j < sample.aivdm, in message order; our reports in the same order.
    let input = std::fs::read_to_string(shared("data/ais/gpsd/sample.aivdm")).unwrap();
    let expected = std::fs::read_to_string(shared("data/ais/gpsd/sample.aivdm.ju.chk")).unwrap();
    let mut a = NmeaAssembler::new();
    let mut ours: Vec<AisReport> = vec![];
    for line in input.lines() {
        ours.extend(feed(&mut a, line));
    }
    let mut score = Score::default();
    let mut pos = ours.iter().filter(|r| matches!(r, AisReport::Position(_)));
    for (i, line) in expected.lines().enumerate() {
        let g: Value = serde_json::from_str(line).unwrap();
        let t = raw(&g, "type").unwrap() as u8;
        let at = format!("sample.aivdm.ju.chk:{}", i + 1);
        match t {
            1 | 2 | 3 | 18 | 19 | 27 => {
                let per_deg = if t == 27 { 600.0 } else { 600_000.0 };
                let na = (raw(&g, "lat").unwrap() / per_deg).abs() > 90.0
                    || (raw(&g, "lon").unwrap() / per_deg).abs() > 180.0;
                let next: Vec<AisReport> = if na {
                    vec![]
                } else {
                    pos.next().into_iter().cloned().collect()
                };
                compare(&g, &next, &mut score, &at);
            }
            5 | 24 => compare(&g, &ours, &mut score, &at),
            _ => {}
        }
    }
    assert!(pos.next().is_none(), "we decoded positions gpsd did not");
    eprintln!(
        "sample.aivdm: {} position and {} static reports, {} mismatches",
        score.positions,
        score.statics,
        score.mismatches.len()
    );
    assert!(score.positions >= 12 && score.statics >= 5);
    assert!(score.mismatches.is_empty(), "{:#?}", score.mismatches);
}

#[test]
fn interleaved_multi_fragment_messages_both_decode() {
    // sample.aivdm's channel multiplexing test: two type-5 messages interleaved on A and B.
    let text = "!AIVDM,2,1,6,B,542M92h00001@<7;?G0PD4i@R0<tqA8tj37>220o0h:2240Ht50000000000,0*3B
!AIVDM,2,1,2,A,542M92h00001@<7;?G0PD4i@R0<tqA8tj37>220o0h:2240Ht500000000000000,0*3C
!AIVDM,2,2,2,A,0000002,2*24
!AIVDM,2,2,6,B,00000000000,2*21";
    let mut a = NmeaAssembler::new();
    let mut b = AisBatch::default();
    let mut rej = vec![];
    a.feed("x", text, EventTime(0), &mut b, &mut rej);
    assert!(rej.is_empty(), "{rej:?}");
    assert_eq!(b.reports.len(), 2, "{:?}", b.reports);
    assert_eq!(a.pending(), 0);
}

#[test]
fn libais_tag_blocks_give_event_times() {
    let text = std::fs::read_to_string(shared("data/ais/libais/tagblock.nmea")).unwrap();
    let expected: Vec<Value> = std::fs::read_to_string(shared("data/ais/libais/tagblock.json"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut a = NmeaAssembler::new();
    let mut got: Vec<(u32, EventTime)> = vec![];
    for line in text.lines() {
        let mut b = AisBatch::default();
        let mut rej = vec![];
        // Receive time far from the tag times: any use of it would show.
        a.feed("orbcomm", line, EventTime(0), &mut b, &mut rej);
        assert!(rej.is_empty(), "{line}: {rej:?}");
        for r in b.reports {
            let t = match &r {
                AisReport::Position(p) => p.t,
                // Static reports carry no time of their own; pair them by MMSI below.
                AisReport::Static(_) => continue,
            };
            got.push((r.mmsi(), t));
        }
    }
    // libais decodes in the same order; compare the position reports pairwise.
    let want: Vec<(u32, EventTime)> = expected
        .iter()
        .filter(|e| e["type"] == 1)
        .map(|e| {
            let ts = e["tagblock_timestamp"].as_str().unwrap();
            (
                e["mmsi"].as_u64().unwrap() as u32,
                EventTime::parse_rfc3339(ts).unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(a.pending(), 0, "the interleaved type 5 completed");
}

fn gpsdecode() -> Option<std::path::PathBuf> {
    let candidates = [
        std::env::var_os("VIGIE_GPSDECODE").map(std::path::PathBuf::from),
        Some("gpsdecode".into()),
        Some("/opt/gpsd/usr/bin/gpsdecode".into()),
    ];
    let found = candidates.into_iter().flatten().find(|p| {
        std::process::Command::new(p)
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("VIGIE_REQUIRE_GPSDECODE").is_none(),
            "gpsdecode is required (VIGIE_REQUIRE_GPSDECODE is set); see shared/data/ais/README.md"
        );
        eprintln!("skipped: gpsdecode not installed");
    }
    found
}

#[test]
fn simulator_nmea_encoder_agrees_with_gpsdecode() {
    use vigie::training::encode::*;
    let Some(gd) = gpsdecode() else { return };
    let t = EventTime::parse_rfc3339("2026-03-14T05:02:17Z").unwrap();
    let mut lines = vec![];
    lines.extend(sentences(
        &type1(227006760, t, 50.9651, 1.853, Some(12.3), Some(285.1), 0),
        t,
        0,
        'A',
    ));
    lines.extend(sentences(
        &type18(235000001, t, -33.5, -70.25, Some(0.4), None),
        t,
        0,
        'B',
    ));
    lines.extend(sentences(
        &type5(227006760, "PIDGEON", "FABC1", 60, [20, 5, 3, 3]),
        t,
        3,
        'A',
    ));
    let [a, b] = type24(235000001, "SEA BREEZE", "MXYZ9", 37, [6, 4, 1, 2]);
    lines.extend(sentences(&a, t, 0, 'A'));
    lines.extend(sentences(&b, t, 0, 'A'));
    let text = lines.join("\n") + "\n";
    let mut p = std::process::Command::new(gd)
        .args(["-u", "-j", "-s"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut p.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    let recs: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let by_type = |t: u64| {
        recs.iter()
            .filter(move |r| r["type"] == t)
            .collect::<Vec<_>>()
    };
    let r1 = by_type(1)[0];
    assert_eq!(
        (
            r1["mmsi"].as_u64(),
            r1["speed"].as_u64(),
            r1["course"].as_u64()
        ),
        (Some(227006760), Some(123), Some(2851))
    );
    assert_eq!(
        (r1["lat"].as_i64(), r1["lon"].as_i64()),
        (Some(30579060), Some(1111800))
    );
    let r18 = by_type(18)[0];
    assert_eq!(
        (
            r18["mmsi"].as_u64(),
            r18["speed"].as_u64(),
            r18["course"].as_u64()
        ),
        (Some(235000001), Some(4), Some(3600))
    );
    assert_eq!(
        (r18["lat"].as_i64(), r18["lon"].as_i64()),
        (Some(-20100000), Some(-42150000))
    );
    let r5 = by_type(5)[0];
    assert_eq!(
        (
            r5["shipname"].as_str(),
            r5["callsign"].as_str(),
            r5["shiptype"].as_u64()
        ),
        (Some("PIDGEON"), Some("FABC1"), Some(60))
    );
    assert_eq!(
        (
            r5["to_bow"].as_u64(),
            r5["to_stern"].as_u64(),
            r5["to_port"].as_u64(),
            r5["to_starboard"].as_u64()
        ),
        (Some(20), Some(5), Some(3), Some(3))
    );
    let r24 = by_type(24);
    assert!(r24.iter().any(|r| r["shipname"] == "SEA BREEZE"), "{r24:?}");
    assert!(
        r24.iter().any(|r| r["callsign"] == "MXYZ9"
            && r["shiptype"] == 37
            && r["to_bow"] == 6
            && r["to_starboard"] == 2),
        "{r24:?}"
    );
}

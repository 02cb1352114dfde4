//! OASIS CAP 1.2 documents for alert events and operator actions (contract §8).
//!
//! `raised` is an `Alert`; `updated` and every operator action an `Update`; `cleared` a
//! `Cancel`; an acknowledgement is also an `Ack`. Each document after the first references
//! every earlier one of its alert (`sender,identifier,sent` triples), so a receiver holding
//! any one of them can rebuild the chain. Identifiers are the alert id and a sequence
//! number (`tb-T11-20260314T051011Z.3`), and `sent` is the event time of the contact that
//! caused the event: a replay of the same input gives the same documents. Exercise data is
//! `Exercise` with a note naming the exercise, never `Actual`.
//!
//! The field-by-field mapping, and why urgency, severity and certainty are what they are,
//! is in the README ("Alerts as CAP 1.2").

use super::text::{self, cap_time, clean, el, XmlWriter};
use super::ReportContext;
use crate::behaviour::alert::{KIND_IDENTITY_CONFLICT, KIND_TAXI_BOAT};
use crate::behaviour::{Action, AlertEvent, AlertState};
use quick_xml::events::{BytesDecl, Event};
use quick_xml::Writer;
use rustc_hash::FxHashMap;
use std::sync::Arc;

pub const CAP_NAMESPACE: &str = "urn:oasis:names:tc:emergency:cap:1.2";

/// References kept in one document: the first message and the latest ones. An alert
/// updated every 30 s for an hour would otherwise carry 120 triples (10 KB).
const MAX_REFERENCES: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    Alert,
    Update,
    Cancel,
    Ack,
}

impl MsgType {
    pub fn as_str(self) -> &'static str {
        match self {
            MsgType::Alert => "Alert",
            MsgType::Update => "Update",
            MsgType::Cancel => "Cancel",
            MsgType::Ack => "Ack",
        }
    }
}

/// One CAP document.
#[derive(Debug, Clone, PartialEq)]
pub struct CapDoc {
    pub alert_id: String,
    pub identifier: String,
    pub sent: String,
    pub msg_type: MsgType,
    /// The whole document, on one line (text carries no line break).
    pub xml: String,
    /// The alert is still active after it: the document to retain (false after `Cancel`;
    /// an `Ack` is not the alert's state and is not retained either).
    pub retain: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Ref {
    sender: String,
    identifier: String,
    sent: String,
}

#[derive(Debug, Default)]
struct Chain {
    refs: Vec<Ref>,
    /// Sequence number of the next document.
    next: u32,
    latest: Option<AlertEvent>,
}

/// Builds the CAP documents of every active alert's chain.
pub struct CapWriter {
    ctx: Arc<ReportContext>,
    /// For exercise data: what the exercise is (`Exercise: …` in `note`).
    exercise_note: String,
    chains: FxHashMap<String, Chain>,
}

impl CapWriter {
    pub fn new(ctx: Arc<ReportContext>, exercise_note: impl Into<String>) -> Self {
        CapWriter {
            ctx,
            exercise_note: exercise_note.into(),
            chains: FxHashMap::default(),
        }
    }

    /// The document of one alert event.
    pub fn on_event(&mut self, a: &AlertEvent) -> CapDoc {
        let chain = self.chains.entry(a.id.clone()).or_default();
        let msg = match a.state {
            AlertState::Raised if chain.refs.is_empty() => MsgType::Alert,
            AlertState::Cleared => MsgType::Cancel,
            _ => MsgType::Update,
        };
        let doc = build(
            &self.ctx,
            &self.exercise_note,
            chain,
            a,
            msg,
            cap_time(a.t),
            None,
        );
        if a.state == AlertState::Cleared {
            self.chains.remove(&a.id);
        } else {
            chain.latest = Some(a.clone());
        }
        doc
    }

    /// The documents of an operator action: an `Update` saying what was done (and, for an
    /// acknowledgement, an `Ack` after it). None for an alert with no active chain.
    pub fn on_action(&mut self, act: &Action) -> Vec<CapDoc> {
        let Some(chain) = self.chains.get_mut(&act.alert_id) else {
            return vec![];
        };
        let Some(latest) = chain.latest.clone() else {
            return vec![];
        };
        let said = operator_note(act);
        let sent = cap_time(act.at);
        let mut docs = vec![build(
            &self.ctx,
            &self.exercise_note,
            chain,
            &latest,
            MsgType::Update,
            sent.clone(),
            Some(&said),
        )];
        if act.action == "acknowledge" {
            docs.push(build(
                &self.ctx,
                &self.exercise_note,
                chain,
                &latest,
                MsgType::Ack,
                sent,
                Some(&said),
            ));
        }
        docs
    }

    /// Takes back an alert an earlier run left active: its latest event, and the CAP
    /// document it left retained (its identifier, `sent` and references), so that the
    /// chain goes on where it stopped. Without the document the chain restarts with no
    /// references (said in the log by the caller).
    pub fn restore(&mut self, latest: &AlertEvent, retained: Option<&[u8]>) -> bool {
        let chain = self.chains.entry(latest.id.clone()).or_default();
        chain.latest = Some(latest.clone());
        let Some(parsed) = retained.and_then(parse_chain) else {
            return false;
        };
        chain.next = parsed
            .iter()
            .filter_map(|r| r.identifier.rsplit_once('.')?.1.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        chain.refs = parsed;
        true
    }

    /// Alerts with a chain (active).
    pub fn active(&self) -> usize {
        self.chains.len()
    }
}

/// What the operator did, in words.
fn operator_note(a: &Action) -> String {
    let by = clean(&a.by);
    let mut s = match a.action.as_str() {
        "acknowledge" => format!("Acknowledged by {by}"),
        "assign" => format!(
            "Unit {} assigned by {by}",
            clean(a.unit.as_deref().unwrap_or("?"))
        ),
        "resolve" => format!(
            "Resolved as {} by {by}",
            clean(a.outcome.as_deref().unwrap_or("other"))
        ),
        _ => format!("Note by {by}"),
    };
    if let Some(t) = &a.text {
        s.push_str(": ");
        s.push_str(&clean(t));
    }
    s.push('.');
    s
}

/// Writes one document and adds it to the chain.
fn build(
    ctx: &ReportContext,
    exercise_note: &str,
    chain: &mut Chain,
    a: &AlertEvent,
    msg: MsgType,
    sent: String,
    operator: Option<&str>,
) -> CapDoc {
    chain.next += 1;
    let identifier = format!("{}.{}", a.id, chain.next);
    let mut note = vec![];
    if a.exercise {
        note.push(format!("Exercise: {}", clean(exercise_note)));
    }
    if let Some(o) = operator {
        note.push(format!("Operator: {o}"));
    }
    let references = references(&chain.refs);
    let mut w = Writer::new(Vec::with_capacity(4096));
    let r: std::io::Result<()> = (|| {
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        w.create_element("alert")
            .with_attribute(("xmlns", CAP_NAMESPACE))
            .write_inner_content(|w| {
                el(w, "identifier", &identifier)?;
                el(w, "sender", &ctx.sender)?;
                el(w, "sent", &sent)?;
                el(w, "status", if a.exercise { "Exercise" } else { "Actual" })?;
                el(w, "msgType", msg.as_str())?;
                el(w, "source", "vigie")?;
                el(w, "scope", "Restricted")?;
                el(
                    w,
                    "restriction",
                    "Maritime coordination centres and their intervening units",
                )?;
                if !note.is_empty() {
                    el(w, "note", &note.join(" "))?;
                }
                if !references.is_empty() {
                    el(w, "references", &references)?;
                }
                el(w, "incidents", &a.id)?;
                if msg != MsgType::Ack {
                    info(w, ctx, a, msg)?;
                }
                Ok(())
            })?;
        Ok(())
    })();
    r.expect("writing XML to memory cannot fail");
    let xml = String::from_utf8(w.into_inner()).expect("the writer writes UTF-8");
    chain.refs.push(Ref {
        sender: ctx.sender.clone(),
        identifier: identifier.clone(),
        sent: sent.clone(),
    });
    CapDoc {
        alert_id: a.id.clone(),
        identifier,
        sent,
        msg_type: msg,
        xml,
        retain: matches!(msg, MsgType::Alert | MsgType::Update),
    }
}

/// `sender,identifier,sent` triples separated by spaces: the first and the latest ones.
fn references(refs: &[Ref]) -> String {
    let keep: Vec<&Ref> = if refs.len() > MAX_REFERENCES {
        std::iter::once(&refs[0])
            .chain(&refs[refs.len() - (MAX_REFERENCES - 1)..])
            .collect()
    } else {
        refs.iter().collect()
    };
    keep.iter()
        .map(|r| format!("{},{},{}", r.sender, r.identifier, r.sent))
        .collect::<Vec<_>>()
        .join(" ")
}

type W = XmlWriter;

fn param(w: &mut W, name: &str, value: &str) -> std::io::Result<()> {
    w.create_element("parameter").write_inner_content(|w| {
        el(w, "valueName", name)?;
        el(w, "value", value)
    })?;
    Ok(())
}

/// The `info` block: what happened, how sure, what to do, where.
fn info(w: &mut W, ctx: &ReportContext, a: &AlertEvent, msg: MsgType) -> std::io::Result<()> {
    let conflict = a.kind == KIND_IDENTITY_CONFLICT;
    let cancel = msg == MsgType::Cancel;
    let shore = ctx.shore(a);
    let off = text::off(a, shore.as_ref());
    let vessel = text::vessel(a);
    let pos = text::lat_lon_dm(a.lat, a.lon);
    let reason = text::reason(a.reason.as_deref());
    let mmsi = a.mmsi.map_or("unknown".to_string(), |m| m.to_string());
    let (event, categories, severity, certainty) = if conflict {
        (
            "AIS identity conflict",
            &["Security"][..],
            "Moderate",
            "Observed",
        )
    } else {
        // Dark and loitering in the surf at a pickup beach: likely a pickup. A boat that
        // says who it is (a fisherman, a yacht) may be one too, but less likely.
        let certainty = if a.dark { "Likely" } else { "Possible" };
        (
            "Taxi-boat pickup",
            &["Rescue", "Security"][..],
            "Severe",
            certainty,
        )
    };
    let (response, urgency) = match (cancel, a.reason.as_deref()) {
        (true, Some("allow_listed" | "fixed_object" | "identity_consistent")) => {
            ("AllClear", "Past")
        }
        (true, _) => ("Monitor", "Past"),
        (false, _) if conflict => ("Monitor", "Expected"),
        (false, _) => ("Prepare", "Immediate"),
    };
    let (headline, description, instruction) = if conflict {
        let apart = a.distance_m.map_or("far".to_string(), text::distance);
        let named = a
            .name
            .as_deref()
            .map(|n| format!(" ({})", clean(n).trim()))
            .unwrap_or_default();
        if cancel {
            (
                format!("AIS identity conflict over: MMSI {mmsi}"),
                format!("MMSI {mmsi}{named}: no longer in conflict, {reason}."),
                "None.".to_string(),
            )
        } else {
            let other = match (a.other_lat, a.other_lon) {
                (Some(la), Some(lo)) => format!(" and {}", text::lat_lon_dm(la, lo)),
                _ => String::new(),
            };
            (
                format!("AIS identity conflict: MMSI {mmsi} reported from two places"),
                format!(
                    "MMSI {mmsi}{named} reported {apart} apart, further than a vessel travels between the reports: at least one transmitter is not who it says. Reported at {pos}{other}. While in conflict the identity hides no alert and marks no track as identified."
                ),
                "Treat tracks with this MMSI as unidentified; check who uses it.".to_string(),
            )
        }
    } else if cancel {
        (
            format!("Taxi-boat pickup ended {off}: {reason}"),
            format!(
                "No longer a pickup: {reason}. It had loitered {} {off}. Last position {pos}, {:.1} kn (track {}).",
                text::duration(a.dwell_s),
                a.speed_kn,
                clean(&a.track_id)
            ),
            if response == "AllClear" {
                "None.".to_string()
            } else {
                "Keep watch: a boat that leaves a pickup beach may be heading out to sea with people on board.".to_string()
            },
        )
    } else {
        let verb = if a.state == AlertState::Raised {
            "suspected"
        } else {
            "continues"
        };
        (
            format!("Taxi-boat pickup {verb}: {} {off}", text::lower_first(&vessel)),
            format!(
                "{vessel} loitering {off} for {}, {:.1} kn. Position {pos} ({:.5}, {:.5}), track {}. Suspected taxi-boat pickup: people may be wading out to it.",
                text::duration(a.dwell_s),
                a.speed_kn,
                a.lat,
                a.lon,
                clean(&a.track_id)
            ),
            "Send the nearest land or sea unit to verify; expect people in the water.".to_string(),
        )
    };
    w.create_element("info").write_inner_content(|w| {
        el(w, "language", "en")?;
        for c in categories {
            el(w, "category", c)?;
        }
        el(w, "event", event)?;
        el(w, "responseType", response)?;
        el(w, "urgency", urgency)?;
        el(w, "severity", severity)?;
        el(w, "certainty", certainty)?;
        w.create_element("eventCode").write_inner_content(|w| {
            el(w, "valueName", "vigie")?;
            el(w, "value", &a.kind)
        })?;
        if a.dwell_s > 0.0 {
            el(w, "onset", &cap_time(a.t.plus_secs(-a.dwell_s)))?;
        }
        el(w, "senderName", &ctx.sender_name)?;
        el(w, "headline", &headline)?;
        el(w, "description", &description)?;
        el(w, "instruction", &instruction)?;
        param(w, "alert_id", &a.id)?;
        param(w, "state", a.state.as_str())?;
        param(w, "track_id", &a.track_id)?;
        param(w, "dark", if a.dark { "true" } else { "false" })?;
        if let Some(m) = a.mmsi {
            param(w, "mmsi", &m.to_string())?;
        }
        if let Some(n) = &a.name {
            param(w, "vessel_name", n)?;
        }
        param(w, "dwell_s", &format!("{:.1}", a.dwell_s))?;
        param(w, "speed_kn", &format!("{:.1}", a.speed_kn))?;
        if let Some(z) = &a.zone {
            param(w, "zone_id", &z.id)?;
        }
        if let Some(s) = &shore {
            param(w, "distance_to_shore_m", &format!("{:.0}", s.distance_m))?;
        }
        if let Some(r) = &a.reason {
            param(w, "reason", r)?;
        }
        w.create_element("area").write_inner_content(|w| {
            let what = if conflict {
                format!("Positions reported for MMSI {mmsi}")
            } else {
                format!("Boat position, track {}", a.track_id)
            };
            el(w, "areaDesc", &what)?;
            el(w, "circle", &circle(a.lat, a.lon, ctx.circle_km))?;
            if let (true, Some(la), Some(lo)) = (conflict, a.other_lat, a.other_lon) {
                el(w, "circle", &circle(la, lo, ctx.circle_km))?;
            }
            Ok(())
        })?;
        if let Some(z) = &a.zone {
            let polygons = ctx.polygons(&z.id);
            if !polygons.is_empty() {
                w.create_element("area").write_inner_content(|w| {
                    el(w, "areaDesc", &format!("Interception zone {}", z.name))?;
                    for p in polygons {
                        el(w, "polygon", p)?;
                    }
                    Ok(())
                })?;
            }
        }
        Ok(())
    })?;
    debug_assert!(a.kind == KIND_TAXI_BOAT || conflict);
    Ok(())
}

fn circle(lat: f64, lon: f64, km: f64) -> String {
    format!("{lat:.6},{lon:.6} {km}")
}

/// The chain a retained document stands for: its references and itself.
fn parse_chain(xml: &[u8]) -> Option<Vec<Ref>> {
    let mut r = quick_xml::Reader::from_reader(xml);
    let (mut identifier, mut sender, mut sent, mut references) = (None, None, None, None);
    let mut path: Vec<String> = vec![];
    let mut buf = vec![];
    loop {
        match r.read_event_into(&mut buf).ok()? {
            Event::Start(e) => path.push(e.local_name().into_inner().to_owned()),
            Event::End(_) => {
                path.pop();
            }
            Event::Text(t) if path.len() == 2 => {
                let v = t.xml10_content().trim().to_string();
                match path[1].as_str() {
                    "identifier" => identifier = Some(v),
                    "sender" => sender = Some(v),
                    "sent" => sent = Some(v),
                    "references" => references = Some(v),
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let mut refs: Vec<Ref> = references
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|t| {
            let mut p = t.splitn(3, ',');
            Some(Ref {
                sender: p.next()?.to_string(),
                identifier: p.next()?.to_string(),
                sent: p.next()?.to_string(),
            })
        })
        .collect();
    refs.push(Ref {
        sender: sender?,
        identifier: identifier?,
        sent: sent?,
    });
    Some(refs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behaviour::alert::ZoneRef;
    use crate::config::Config;
    use crate::time::EventTime;

    fn ctx() -> Arc<ReportContext> {
        let cfg = Config::default();
        let zones = crate::geo::zones::load(&cfg.zones.path).unwrap();
        Arc::new(ReportContext::new(&cfg, &zones))
    }

    fn event(state: AlertState, t: f64, exercise: bool) -> AlertEvent {
        AlertEvent {
            id: "tb-T7-20260314T051011Z".into(),
            kind: KIND_TAXI_BOAT.into(),
            state,
            track_id: "T7".into(),
            t: EventTime::parse_rfc3339("2026-03-14T05:11:41.250Z")
                .unwrap()
                .plus_secs(t),
            lat: 50.676755,
            lon: 1.563061,
            zone: Some(ZoneRef {
                id: "equihen-plage".into(),
                name: "Équihen-Plage".into(),
            }),
            dwell_s: 90.0 + t,
            speed_kn: 0.4,
            dark: true,
            mmsi: None,
            exercise,
            emitted_at: None,
            reason: (state == AlertState::Cleared).then(|| "left_zone".into()),
            distance_m: None,
            other_lat: None,
            other_lon: None,
            name: None,
            sensors: None,
            position_error_m: None,
        }
    }

    /// The text of every `<name>` element, in document order (unescaped), read back with
    /// an XML parser: a document that is not well-formed fails here.
    fn texts(xml: &str, name: &str) -> Vec<String> {
        let mut r = quick_xml::Reader::from_str(xml);
        let (mut inside, mut out) = (false, vec![]);
        loop {
            match r.read_event().expect("well-formed XML") {
                Event::Start(e) => {
                    inside = e.local_name().into_inner() == name;
                    if inside {
                        out.push(String::new());
                    }
                }
                Event::Text(t) if inside => out.last_mut().unwrap().push_str(&t.xml10_content()),
                Event::GeneralRef(g) if inside => {
                    let s = match &*g.into_inner() {
                        "lt" => "<",
                        "gt" => ">",
                        "amp" => "&",
                        "quot" => "\"",
                        "apos" => "'",
                        other => panic!("unexpected entity {other:?}"),
                    };
                    out.last_mut().unwrap().push_str(s);
                }
                Event::End(_) => inside = false,
                Event::Eof => return out,
                _ => {}
            }
        }
    }

    #[test]
    fn a_chain_goes_alert_updates_cancel_each_referencing_all_before() {
        let mut w = CapWriter::new(ctx(), "drill");
        let docs: Vec<CapDoc> = [
            event(AlertState::Raised, 0.0, true),
            event(AlertState::Updated, 30.0, true),
            event(AlertState::Updated, 60.0, true),
            event(AlertState::Cleared, 75.0, true),
        ]
        .iter()
        .map(|a| w.on_event(a))
        .collect();
        let types: Vec<_> = docs.iter().map(|d| d.msg_type).collect();
        use MsgType::*;
        assert_eq!(types, [Alert, Update, Update, Cancel]);
        for (k, d) in docs.iter().enumerate() {
            assert_eq!(d.identifier, format!("tb-T7-20260314T051011Z.{}", k + 1));
            let refs = texts(&d.xml, "references");
            let want: Vec<String> = docs[..k]
                .iter()
                .map(|e| format!("vigie@cote-dopale,{},{}", e.identifier, e.sent))
                .collect();
            assert_eq!(refs.first().cloned().unwrap_or_default(), want.join(" "));
            assert_eq!(texts(&d.xml, "msgType"), [d.msg_type.as_str()]);
            assert!(!d.xml.contains('\n'), "one document a line");
        }
        assert_eq!(docs[0].sent, "2026-03-14T05:11:41+00:00");
        assert_eq!(w.active(), 0, "a cancelled chain is forgotten");
        assert!(!docs[3].retain && docs[0].retain);
        // Same input, same documents (a replay gives the same identifiers and text).
        let mut again = CapWriter::new(ctx(), "drill");
        assert_eq!(
            again.on_event(&event(AlertState::Raised, 0.0, true)),
            docs[0]
        );
    }

    #[test]
    fn exercise_data_is_never_actual() {
        let mut w = CapWriter::new(ctx(), "night drill 14 March");
        let ex = w.on_event(&event(AlertState::Raised, 0.0, true));
        assert_eq!(texts(&ex.xml, "status"), ["Exercise"]);
        assert_eq!(texts(&ex.xml, "note"), ["Exercise: night drill 14 March"]);
        let mut w = CapWriter::new(ctx(), "night drill 14 March");
        let live = w.on_event(&event(AlertState::Raised, 0.0, false));
        assert_eq!(texts(&live.xml, "status"), ["Actual"]);
        assert!(texts(&live.xml, "note").is_empty());
    }

    #[test]
    fn operator_actions_are_updates_and_an_acknowledgement_also_an_ack() {
        let mut w = CapWriter::new(ctx(), "drill");
        let raised = w.on_event(&event(AlertState::Raised, 0.0, false));
        let act = |action: &str| Action {
            alert_id: "tb-T7-20260314T051011Z".into(),
            action: action.into(),
            by: "officer <Dupont> & co".into(),
            unit: Some("SNSM 62".into()),
            outcome: None,
            text: None,
            at: EventTime::parse_rfc3339("2026-03-14T05:12:00.900Z").unwrap(),
        };
        let ack = w.on_action(&act("acknowledge"));
        assert_eq!(
            ack.iter().map(|d| d.msg_type).collect::<Vec<_>>(),
            [MsgType::Update, MsgType::Ack]
        );
        assert_eq!(
            texts(&ack[0].xml, "note"),
            ["Operator: Acknowledged by officer <Dupont> & co."]
        );
        assert!(texts(&ack[1].xml, "references")[0].contains(&ack[0].identifier));
        assert!(texts(&ack[1].xml, "references")[0].contains(&raised.identifier));
        assert!(texts(&ack[1].xml, "info").is_empty() && !ack[1].xml.contains("<info>"));
        assert!(!ack[1].retain, "an Ack is not the alert's state");
        let assign = w.on_action(&act("assign"));
        assert_eq!(assign.len(), 1);
        assert!(texts(&assign[0].xml, "note")[0].contains("Unit SNSM 62 assigned"));
        // The next event goes on from there.
        let upd = w.on_event(&event(AlertState::Updated, 30.0, false));
        assert_eq!(upd.identifier, "tb-T7-20260314T051011Z.5");
        // No chain, no document: an action on an alert this writer never saw.
        let mut other = act("note");
        other.alert_id = "tb-T9-x".into();
        assert!(w.on_action(&other).is_empty());
    }

    #[test]
    fn a_restarted_writer_continues_the_chain_from_the_retained_document() {
        let mut w = CapWriter::new(ctx(), "drill");
        let d1 = w.on_event(&event(AlertState::Raised, 0.0, false));
        let d2 = w.on_event(&event(AlertState::Updated, 30.0, false));
        let mut after = CapWriter::new(ctx(), "drill");
        let latest = event(AlertState::Updated, 30.0, false);
        assert!(after.restore(&latest, Some(d2.xml.as_bytes())));
        let d3 = after.on_event(&event(AlertState::Cleared, 50.0, false));
        assert_eq!(d3.identifier, "tb-T7-20260314T051011Z.3");
        assert_eq!(d3.msg_type, MsgType::Cancel);
        assert_eq!(
            texts(&d3.xml, "references"),
            [format!(
                "vigie@cote-dopale,{},{} vigie@cote-dopale,{},{}",
                d1.identifier, d1.sent, d2.identifier, d2.sent
            )]
        );
        // A retained payload that is not a CAP document restarts the chain, never fails.
        let mut lost = CapWriter::new(ctx(), "drill");
        assert!(!lost.restore(&latest, Some(b"<not cap")));
        assert_eq!(
            lost.on_event(&latest).msg_type,
            MsgType::Update,
            "the alert was raised before: an Update, not a second Alert"
        );
    }

    #[test]
    fn a_hostile_vessel_name_stays_text() {
        let mut a = event(AlertState::Raised, 0.0, false);
        a.dark = false;
        a.mmsi = Some(227_000_123);
        let name = "<b>&amp;\"SEA' STAR\"</b>]]>\u{0}\u{7}\u{1b}[2J\u{FFFF}\r\nX";
        a.name = Some(name.into());
        let d = CapWriter::new(ctx(), "drill").on_event(&a);
        let values = texts(&d.xml, "value");
        assert!(
            values.contains(&"<b>&amp;\"SEA' STAR\"</b>]]>   [2J\u{FFFD}  X".to_string()),
            "{values:?}"
        );
        assert!(!d.xml.contains("<b>") && !d.xml.contains('\u{0}'));
        assert!(texts(&d.xml, "headline")[0].contains("SEA' STAR"));
    }

    #[test]
    fn a_long_chain_keeps_the_first_and_the_latest_references() {
        let mut w = CapWriter::new(ctx(), "drill");
        let mut first = None;
        let mut last = None;
        for k in 0..200 {
            let state = if k == 0 {
                AlertState::Raised
            } else {
                AlertState::Updated
            };
            last = Some(w.on_event(&event(state, k as f64 * 30.0, false)));
            first.get_or_insert(last.clone().unwrap());
        }
        let refs = texts(&last.unwrap().xml, "references")[0].clone();
        let triples: Vec<&str> = refs.split(' ').collect();
        assert_eq!(triples.len(), MAX_REFERENCES);
        assert!(triples[0].contains(&format!("{},", first.unwrap().identifier)));
        assert!(triples[MAX_REFERENCES - 1].contains("tb-T7-20260314T051011Z.199,"));
    }
}

//! The operator's console (contract §7): what the page shows, kept up to date from the same
//! outputs the MQTT sink publishes ([`Hub`]), and the HTTP server that serves the page, its
//! snapshot, its Server-Sent Events and the operators' actions ([`server`]).
//!
//! Why a hub between the engine loop and the browsers: the loop hands each output over once,
//! without waiting (a lock held for a few map updates); each page reads at its own pace
//! from the hub's bounded backlog, by event id, and a page that falls behind the backlog is
//! sent a fresh snapshot instead of the events it missed. A slow browser never slows the
//! engine.

pub mod server;

use crate::behaviour::{AlertEvent, AlertState};
use crate::engine::{Outputs, TrackState};
use crate::io::incidents::Action;
use crate::report::{sitrep, ReportContext};
use crate::time::EventTime;
use compact_str::CompactString;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

/// One Server-Sent Event: `id`, `event` name and one JSON object as `data`.
#[derive(Debug)]
pub struct SseEvent {
    pub id: u64,
    pub event: &'static str,
    pub data: String,
}

impl SseEvent {
    /// The event as it goes on the wire.
    pub fn wire(&self) -> String {
        let mut s = String::with_capacity(self.data.len() + 32);
        self.write_wire(&mut s);
        s
    }

    /// Appends the event as it goes on the wire to `out` (several events are sent as one
    /// write).
    pub fn write_wire(&self, out: &mut String) {
        // Pieces pushed, not `write!`: a page copies every track state through here.
        out.reserve(self.data.len() + 40);
        out.push_str("id: ");
        out.push_str(itoa::Buffer::new().format(self.id));
        out.push_str("\nevent: ");
        out.push_str(self.event);
        out.push_str("\ndata: ");
        out.push_str(&self.data);
        out.push_str("\n\n");
    }

    /// Whether a page must see it at once (an alert, an operator's action) rather than
    /// with the next batch of track states.
    pub fn urgent(&self) -> bool {
        self.event != "track"
    }
}

/// Tentative tracks not heard of for this long (event time) are taken off the page even if
/// their deletion was never said (a radar sector taken back can remove one silently).
const TENTATIVE_KEPT_S: f64 = 30.0;

/// An operator's action as posted (contract §7).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    pub action: String,
    #[serde(default)]
    pub by: Option<String>,
    #[serde(default)]
    pub unit: Option<String>,
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
}

/// Why an action was refused; the message is shown to the operator as it is.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ActionError {
    #[error("no alert {0}: nothing to act on (check the id; alerts are listed at /api/snapshot)")]
    Unknown(String),
    #[error("alert {0} was cleared ({1}): it takes no more actions")]
    Cleared(String, String),
    #[error("{0}")]
    Invalid(String),
}

const ACTIONS: [&str; 4] = ["acknowledge", "assign", "resolve", "note"];
const OUTCOMES: [&str; 4] = ["intercepted", "false_alarm", "lost", "other"];
/// Longest free text kept (an operator's note, a unit's name), in characters.
const MAX_TEXT: usize = 1000;
/// Trail points kept per track: one per `TRAIL_STEP_S`, for `TRAIL_POINTS` of them (three
/// minutes): enough to see where a boat came from, small enough for 2,000 tracks.
const TRAIL_POINTS: usize = 18;
const TRAIL_STEP_S: f64 = 10.0;
/// Cleared alerts remembered, to tell "cleared" from "unknown" when an action comes late.
const CLEARED_KEPT: usize = 1000;

impl ActionRequest {
    /// Checks what the action needs and stamps it.
    pub fn validate(self, alert_id: &str, user: Option<&str>) -> Result<Action, ActionError> {
        let bad = |m: String| Err(ActionError::Invalid(m));
        let is_resolve = self.action == "resolve";
        if !ACTIONS.contains(&self.action.as_str()) {
            return bad(format!(
                "action {:?} is not one of {}",
                self.action,
                ACTIONS.join(", ")
            ));
        }
        let trim = |s: Option<String>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        let (unit, outcome, text) = (trim(self.unit), trim(self.outcome), trim(self.text));
        for (name, v) in [("unit", &unit), ("text", &text)] {
            if v.as_ref().is_some_and(|v| v.chars().count() > MAX_TEXT) {
                return bad(format!("{name} is longer than {MAX_TEXT} characters"));
            }
        }
        match self.action.as_str() {
            "assign" if unit.is_none() => return bad("assign needs a \"unit\"".into()),
            "resolve" => match &outcome {
                Some(o) if OUTCOMES.contains(&o.as_str()) => {}
                _ => {
                    return bad(format!(
                        "resolve needs an \"outcome\": one of {}",
                        OUTCOMES.join(", ")
                    ))
                }
            },
            "note" if text.is_none() => return bad("note needs a \"text\"".into()),
            _ => {}
        }
        // A logged-in operator is who acts; without logins (loopback) the form says.
        let by = user
            .map(str::to_string)
            .or(trim(self.by))
            .unwrap_or_else(|| "operator".into());
        if by.chars().count() > 100 {
            return bad("by is longer than 100 characters".into());
        }
        Ok(Action {
            alert_id: alert_id.to_string(),
            action: self.action,
            by,
            unit,
            outcome: if is_resolve { outcome } else { None },
            text,
            at: EventTime::now(),
        })
    }
}

struct TrackEntry {
    /// The track's latest state event: its `data` is the state as the page gets it,
    /// serialised once for the events and every snapshot after.
    state: Arc<SseEvent>,
    t: EventTime,
    trail: VecDeque<(EventTime, [f64; 2])>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    backlog: VecDeque<Arc<SseEvent>>,
    tracks: BTreeMap<CompactString, TrackEntry>,
    /// The latest state of each tentative track (for pages that ask to see them).
    tentative: BTreeMap<CompactString, TrackState>,
    /// The latest event of each active alert, as the page gets it (with its SITREP).
    alerts: BTreeMap<String, Value>,
    actions: BTreeMap<String, Action>,
    cleared: VecDeque<(String, String)>,
    newest: Option<EventTime>,
    last_sweep: Option<EventTime>,
    exercise: bool,
    /// In a training debrief: where the player stands in the recording.
    debrief: Option<Value>,
}

/// What a trainer asks of a debrief's player ([`crate::io::debrief`], `POST /api/debrief`): any of the three, in this order.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DebriefCommand {
    /// Jump to this many seconds after the recording's first message.
    pub seek_s: Option<f64>,
    /// Recording seconds per wall second.
    pub speed: Option<f64>,
    pub play: Option<bool>,
}

impl DebriefCommand {
    /// A command the player can follow: finite, non-negative times, speeds in (0, 1000].
    pub fn check(&self) -> Result<(), String> {
        if self.seek_s.is_some_and(|t| !t.is_finite() || t < 0.0) {
            return Err("seek_s must be a number of seconds from the start, ≥ 0".into());
        }
        if self
            .speed
            .is_some_and(|v| !v.is_finite() || v <= 0.0 || v > 1000.0)
        {
            return Err("speed must be in (0, 1000]".into());
        }
        Ok(())
    }
}

/// What the page shows, and the events that change it.
pub struct Hub {
    inner: Mutex<Inner>,
    /// Bumped for each urgent event (alerts, actions): what wakes a page's task at once.
    /// Track states only enter the backlog, which the page reads on its own clock: the
    /// engine runs on a thread of its own, and waking a page's task for every track state
    /// was a wake-up across threads each (a system call), costing the page a third more
    /// than vigie's whole work at 900 states a second (BENCHMARKS.md, console_sse).
    urgent: tokio::sync::watch::Sender<u64>,
    backlog: usize,
    track_timeout_s: f64,
    /// For each alert's SITREP (the coast, the zones); none in tests that need no text.
    reports: Option<Arc<ReportContext>>,
}

impl Hub {
    pub fn new(
        backlog: usize,
        track_timeout_s: f64,
        reports: Option<Arc<ReportContext>>,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            inner: Mutex::new(Inner {
                next_id: 1,
                ..Inner::default()
            }),
            urgent: tokio::sync::watch::Sender::new(0),
            backlog,
            track_timeout_s,
            reports,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves plain data; keep serving it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, inner: &mut Inner, event: &'static str, data: String) -> Arc<SseEvent> {
        let ev = Arc::new(SseEvent {
            id: inner.next_id,
            event,
            data,
        });
        inner.next_id += 1;
        inner.backlog.push_back(ev.clone());
        while inner.backlog.len() > self.backlog {
            inner.backlog.pop_front();
        }
        // Pages read the backlog by id: no second ring of the same events (a broadcast
        // channel as large as the backlog, which every track state also went through).
        if ev.urgent() {
            self.urgent.send_modify(|n| *n += 1);
        }
        ev
    }

    /// Takes one message's outputs: its alert events, and the track states due for
    /// publication (at most one per track per `mqtt.track_interval_s`, as on MQTT).
    pub fn ingest(&self, out: &Outputs) {
        self.ingest_texts(out, &state_texts(out));
    }

    /// [`ingest`](Self::ingest) given the published states' text (contract §6.2, one per
    /// state with `publish` set, in order), as the MQTT path has already serialised them:
    /// serialising each state a second time for the page was 7 % of the engine thread's
    /// samples at 25,000 msg/s (BENCHMARKS.md).
    pub fn ingest_texts(&self, out: &Outputs, texts: &[String]) {
        if out.alerts.is_empty()
            && out.tentative.is_empty()
            && out.tentative_dropped.is_empty()
            && !out.tracks.iter().any(|t| t.publish)
        {
            return;
        }
        let mut g = self.lock();
        let inner = &mut *g;
        // Tentative tracks are not events: a page that asks gets the whole set once a
        // second ([`Hub::tentative_frame`]), so they cost nothing to pages that do not.
        for t in &out.tentative {
            inner.tentative.insert(t.track_id.clone(), t.clone());
        }
        for id in &out.tentative_dropped {
            inner.tentative.remove(id);
        }
        if !inner.tentative.is_empty() {
            for t in &out.tracks {
                inner.tentative.remove(&t.track_id);
            }
        }
        if out.accepted {
            inner.exercise = out.exercise;
        }
        for a in &out.alerts {
            if a.state == AlertState::Cleared {
                inner.alerts.remove(&a.id);
                inner.actions.remove(&a.id);
                inner.cleared.push_back((a.id.clone(), a.t.to_rfc3339()));
                if inner.cleared.len() > CLEARED_KEPT {
                    inner.cleared.pop_front();
                }
            }
            let v = self.alert_json(a);
            let data = v.to_string();
            if a.state != AlertState::Cleared {
                inner.alerts.insert(a.id.clone(), v);
            }
            self.emit(inner, "alert", data);
        }
        for (t, text) in out.tracks.iter().filter(|t| t.publish).zip(texts) {
            // Its text once: the event, and what every later snapshot splices in. (Through
            // a `Value` and again to text, as until 2026-12-05, it cost the engine's
            // thread twice as much, per state of 2,000 tracks a second.)
            let ev = self.emit(inner, "track", track_text(t, text));
            let e = inner
                .tracks
                .entry(t.track_id.clone())
                .or_insert_with(|| TrackEntry {
                    state: ev.clone(),
                    t: t.t,
                    trail: VecDeque::new(),
                });
            if e.trail
                .back()
                .is_none_or(|(pt, _)| t.t.secs_since(*pt) >= TRAIL_STEP_S)
            {
                e.trail.push_back((t.t, [t.lat, t.lon]));
                if e.trail.len() > TRAIL_POINTS {
                    e.trail.pop_front();
                }
            }
            e.state = ev;
            e.t = t.t;
            inner.newest = inner.newest.max(Some(t.t));
        }
        // Tracks the tracker has let go of say nothing: drop those not heard of for long.
        if let Some(now) = inner.newest {
            if inner.last_sweep.is_none_or(|l| now.secs_since(l) >= 10.0) {
                inner.last_sweep = Some(now);
                let timeout = self.track_timeout_s;
                inner.tracks.retain(|_, e| now.secs_since(e.t) <= timeout);
                inner
                    .tentative
                    .retain(|_, t| now.secs_since(t.t) <= TENTATIVE_KEPT_S);
            }
        }
    }

    /// Applies an operator's action to an active alert: kept as the alert's latest action
    /// and sent to every page. The caller records and publishes it.
    pub fn act(&self, a: Action) -> Result<Action, ActionError> {
        let mut g = self.lock();
        let inner = &mut *g;
        if !inner.alerts.contains_key(&a.alert_id) {
            if let Some((_, at)) = inner.cleared.iter().rev().find(|(id, _)| *id == a.alert_id) {
                return Err(ActionError::Cleared(a.alert_id.clone(), at.clone()));
            }
            return Err(ActionError::Unknown(a.alert_id.clone()));
        }
        inner.actions.insert(a.alert_id.clone(), a.clone());
        let data = serde_json::to_string(&a).expect("actions serialise");
        self.emit(inner, "action", data);
        Ok(a)
    }

    /// Contract §7's snapshot: every track on the page, the latest event of each active
    /// alert, the latest action of each; and (extensions) each track's trail, whether the
    /// data is exercise data, and the id of the last event it reflects.
    ///
    /// As text, as it is served: the tracks' states are already text (see
    /// [`Hub::ingest`]) and are spliced in, not parsed and written again.
    pub fn snapshot_text(&self, tentative: bool) -> String {
        let g = self.lock();
        let mut s = snapshot_of(&g);
        if tentative {
            // An extension: the tentative tracks' states (what a page showing them
            // starts from).
            s.pop();
            s.push_str(r#","tentative":"#);
            s.push_str(&tentative_json(&g).to_string());
            s.push('}');
        }
        s
    }

    /// [`Hub::snapshot_text`] as JSON (for tests and tools).
    pub fn snapshot(&self) -> Value {
        serde_json::from_str(&self.snapshot_text(false)).expect("the snapshot is JSON")
    }

    /// [`Hub::snapshot_text`] with `tentative`, as JSON (for tests and tools).
    pub fn snapshot_with_tentative(&self) -> Value {
        serde_json::from_str(&self.snapshot_text(true)).expect("the snapshot is JSON")
    }

    /// Every tentative track's latest state as one Server-Sent Event on the wire
    /// (`event: tentative`, `data: {"tracks": [...]}`), without an `id`: it replaces the
    /// previous set, so nothing is missed by not resuming it.
    pub fn tentative_frame(&self, out: &mut String) {
        let data = {
            let g = self.lock();
            json!({ "tracks": tentative_json(&g) }).to_string()
        };
        out.push_str("event: tentative\ndata: ");
        out.push_str(&data);
        out.push_str("\n\n");
    }

    /// The snapshot as an SSE event of its own (`event: snapshot`), with the id of the last
    /// event it includes.
    pub fn snapshot_event(&self) -> SseEvent {
        let g = self.lock();
        SseEvent {
            id: g.next_id - 1,
            event: "snapshot",
            data: snapshot_of(&g),
        }
    }

    /// The events after `last_id`, if the backlog still holds them all.
    pub fn since(&self, last_id: u64) -> Option<Vec<Arc<SseEvent>>> {
        let mut out = Vec::new();
        self.since_into(last_id, &mut out).then_some(out)
    }

    /// [`since`](Self::since) into `out` (appended; its allocation reused from call to
    /// call): false, and nothing added, if the backlog no longer holds them all. Ids are
    /// consecutive, so the first is found by subtraction; only `Arc`s are cloned under the
    /// lock, the text is written outside it.
    pub fn since_into(&self, last_id: u64, out: &mut Vec<Arc<SseEvent>>) -> bool {
        let g = self.lock();
        let first = g.backlog.front().map_or(g.next_id, |e| e.id);
        if last_id + 1 < first || last_id >= g.next_id {
            return false;
        }
        let skip = (last_id + 1 - first) as usize;
        out.extend(g.backlog.iter().skip(skip).cloned());
        true
    }

    /// Forgets every track, alert and action (a debrief jumping back in its recording) and
    /// sends every page a fresh snapshot, which replaces what it shows.
    pub fn reset(&self) {
        let mut g = self.lock();
        let inner = &mut *g;
        inner.tracks.clear();
        inner.tentative.clear();
        inner.alerts.clear();
        inner.actions.clear();
        inner.cleared.clear();
        inner.newest = None;
        inner.last_sweep = None;
        let data = snapshot_of(inner);
        self.emit(inner, "snapshot", data);
    }

    /// Where a debrief's player stands (recording times, playing or not, speed): kept for
    /// the snapshot and sent to every page, whose timeline follows it.
    pub fn set_debrief(&self, status: Value) {
        let mut g = self.lock();
        let inner = &mut *g;
        inner.debrief = Some(status.clone());
        self.emit(inner, "debrief", status.to_string());
    }

    /// Changes with every urgent event (the events themselves: [`Hub::since_into`]).
    pub fn watch_urgent(&self) -> tokio::sync::watch::Receiver<u64> {
        self.urgent.subscribe()
    }
}

impl Hub {
    /// An alert event as the page gets it: the event (contract §4) and, as an extension,
    /// its IAMSAR-style SITREP, the paragraph an officer reads over the radio.
    fn alert_json(&self, a: &AlertEvent) -> Value {
        let mut v = serde_json::to_value(a).expect("alerts serialise");
        if let Some(ctx) = &self.reports {
            v["sitrep"] = json!(sitrep::sitrep(ctx, a));
        }
        v
    }
}

fn track_json(t: &TrackState) -> Value {
    let mut v = serde_json::to_value(t).expect("tracks serialise");
    v["exercise"] = json!(t.exercise);
    v
}

/// A track state's text is about 170 bytes; with a ship's name, up to some 210.
const STATE_TEXT_BYTES: usize = 256;

/// The text of each state of `out` due for publication (contract §6.2), in order.
pub fn state_texts(out: &Outputs) -> Vec<String> {
    out.tracks
        .iter()
        .filter(|t| t.publish)
        .map(|t| {
            // Room for a whole state from the start: grown from empty, the buffer was
            // copied five or six times per state.
            let mut v = Vec::with_capacity(STATE_TEXT_BYTES);
            serde_json::to_writer(&mut v, t).expect("tracks serialise");
            String::from_utf8(v).expect("serde_json writes UTF-8")
        })
        .collect()
}

/// A track state as the page gets it, as text: the state's own text (`state`, contract
/// §6.2) and `exercise`.
fn track_text(t: &TrackState, state: &str) -> String {
    let field = if t.exercise {
        r#","exercise":true}"#
    } else {
        r#","exercise":false}"#
    };
    let mut s = String::with_capacity(state.len() + field.len());
    // An object: before its closing brace, the page's field.
    s.push_str(state.strip_suffix('}').unwrap_or(state));
    s.push_str(field);
    s
}

fn tentative_json(g: &Inner) -> Value {
    Value::Array(
        g.tentative
            .values()
            .map(|t| {
                let mut v = track_json(t);
                v["tentative"] = json!(true);
                v
            })
            .collect(),
    )
}

/// The snapshot's text: each track's state event's text with its `trail` spliced in, then
/// the rest.
fn snapshot_of(g: &Inner) -> String {
    let mut s = Vec::with_capacity(g.tracks.len() * 512 + 4096);
    s.extend_from_slice(br#"{"tracks":["#);
    for (k, e) in g.tracks.values().enumerate() {
        if k > 0 {
            s.push(b',');
        }
        let state = e.state.data.as_bytes();
        s.extend_from_slice(&state[..state.len() - 1]);
        s.extend_from_slice(br#","trail":"#);
        let trail: Vec<&[f64; 2]> = e.trail.iter().map(|(_, p)| p).collect();
        serde_json::to_writer(&mut s, &trail).expect("a trail serialises");
        s.push(b'}');
    }
    s.extend_from_slice(b"],");
    let rest = json!({
        "alerts": g.alerts.values().collect::<Vec<_>>(),
        "actions": g.actions.values().collect::<Vec<_>>(),
        // A debrief is exercise data whatever the recording says: it is not tonight.
        "exercise": g.exercise || g.debrief.is_some(),
        "last_event_id": g.next_id - 1,
        "event_time": g.newest,
        "debrief": g.debrief,
    })
    .to_string();
    // The rest's fields, after the tracks: its text without its opening brace.
    s.extend_from_slice(&rest.as_bytes()[1..]);
    String::from_utf8(s).expect("JSON text is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(action: &str) -> ActionRequest {
        ActionRequest {
            action: action.into(),
            by: Some("cdt Leroy".into()),
            unit: None,
            outcome: None,
            text: None,
        }
    }

    #[test]
    fn each_action_asks_for_what_it_needs() {
        assert!(req("acknowledge").validate("a", None).is_ok());
        assert!(matches!(
            req("assign").validate("a", None),
            Err(ActionError::Invalid(_))
        ));
        assert!(matches!(
            req("resolve").validate("a", None),
            Err(ActionError::Invalid(_))
        ));
        let mut r = req("resolve");
        r.outcome = Some("intercepted".into());
        let a = r.validate("a", Some("op1")).unwrap();
        assert_eq!(
            (a.by.as_str(), a.outcome.as_deref()),
            ("op1", Some("intercepted"))
        );
        assert!(matches!(
            req("delete").validate("a", None),
            Err(ActionError::Invalid(_))
        ));
        let mut n = req("note");
        n.text = Some("x".repeat(MAX_TEXT + 1));
        assert!(n.validate("a", None).is_err());
    }

    #[test]
    fn a_state_is_written_once_for_mqtt_and_the_page_gets_the_same_with_exercise() {
        let state = |id: &str, exercise: bool, publish: bool| TrackState {
            t: crate::time::EventTime(1_773_713_400_000_000),
            track_id: id.into(),
            lat: 50.78423,
            lon: 1.6016,
            speed_kn: 0.4,
            course_deg: 271.5,
            dark: id != "T2",
            mmsi: (id == "T2").then_some(227_006_760),
            name: (id == "T2").then(|| "NOTRE DAME DES FLOTS".into()),
            publish,
            exercise,
        };
        let out = Outputs {
            tracks: vec![
                state("T1", false, true),
                state("T9", false, false),
                state("T2", true, true),
            ],
            ..Default::default()
        };
        let texts = state_texts(&out);
        let published: Vec<_> = out.tracks.iter().filter(|t| t.publish).collect();
        assert_eq!(texts.len(), 2, "only the states due for publication");
        for (t, text) in published.iter().zip(&texts) {
            assert_eq!(*text, serde_json::to_string(t).unwrap(), "the MQTT payload");
        }
        let hub = Hub::new(16, 400.0, None);
        hub.ingest_texts(&out, &texts);
        let events = hub.since(0).unwrap();
        assert_eq!(events.len(), 2);
        for ((t, text), ev) in published.iter().zip(&texts).zip(&events) {
            let mut want: Value = serde_json::from_str(text).unwrap();
            want["exercise"] = json!(t.exercise);
            let got: Value = serde_json::from_str(&ev.data).unwrap();
            assert_eq!((ev.event, got), ("track", want));
        }
    }

    #[test]
    fn a_reconnecting_page_gets_what_it_missed_or_a_snapshot() {
        let hub = Hub::new(4, 400.0, None);
        assert!(hub.since(0).is_some_and(|v| v.is_empty()));
        let a = req("acknowledge").validate("x", None).unwrap();
        assert_eq!(hub.act(a.clone()), Err(ActionError::Unknown("x".into())));
        let mut g = hub.lock();
        for k in 0..6 {
            hub.emit(&mut g, "track", format!("{{\"k\":{k}}}"));
        }
        drop(g);
        // Backlog of 4: events 3..=6 kept.
        assert_eq!(hub.since(2).unwrap().len(), 4);
        assert_eq!(hub.since(5).unwrap()[0].id, 6);
        assert!(hub.since(1).is_none(), "too far behind: snapshot");
        assert!(hub.since(6).unwrap().is_empty());
        assert_eq!(hub.snapshot_event().id, 6);
    }

    #[test]
    fn commands_out_of_range_are_refused() {
        let ok = DebriefCommand {
            seek_s: Some(10.0),
            speed: Some(20.0),
            play: Some(true),
        };
        assert!(ok.check().is_ok());
        for bad in [
            DebriefCommand {
                seek_s: Some(-1.0),
                ..DebriefCommand::default()
            },
            DebriefCommand {
                seek_s: Some(f64::NAN),
                ..DebriefCommand::default()
            },
            DebriefCommand {
                speed: Some(0.0),
                ..DebriefCommand::default()
            },
            DebriefCommand {
                speed: Some(1e6),
                ..DebriefCommand::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }
}

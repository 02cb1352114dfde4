//! Bytes on a contact topic → [`Decoded`] contacts, with typed rejections.
//!
//! The decoder is part of the pure core: NMEA reassembly is state, but it is driven only by
//! the messages, so offline and live processing reassemble identically.

pub mod ais_body;
pub mod ais_json;
mod error;
pub mod lex;
pub mod nmea;
pub mod radar;
pub mod time_check;

pub use error::DecodeError;

use crate::contact::{AisBatch, Decoded};
use crate::time::EventTime;
use std::collections::HashMap;
use time_check::TimeWindow;

/// What a topic names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicKind<'a> {
    Radar(&'a str),
    Ais(&'a str),
}

/// Report lists [`Decoder::recycle`] keeps: the messages of a few batches in flight
/// between two threads.
const SPARE_REPORT_LISTS: usize = 4096;

/// Routes each contact message to its format's decoder.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Decoder {
    contacts_prefix: String,
    sensors: HashMap<String, usize>,
    nmea: nmea::NmeaAssembler,
    max_payload: usize,
    max_plots: usize,
    /// Emptied report lists handed back by [`recycle`](Self::recycle), reused by the next
    /// AIS messages instead of new allocations (several: a pipeline on two threads hands
    /// back a whole batch of messages at once).
    #[serde(skip)]
    spare_reports: Vec<Vec<crate::contact::AisReport>>,
    /// Contract §1's check of event time against receive time; none until
    /// [`with_time_window`](Self::with_time_window).
    window: Option<TimeWindow>,
    /// Whether exercise-marked messages are checked too (see [`with_time_window`](Self::with_time_window)).
    window_on_exercise: bool,
}

impl Decoder {
    /// `prefix` is the topic prefix (`vigie`); `sensors` the configured plot sensors in order.
    pub fn new<S: AsRef<str>>(prefix: &str, sensors: &[S], max_payload: usize) -> Self {
        Decoder {
            contacts_prefix: format!("{prefix}/contacts/"),
            sensors: sensors
                .iter()
                .enumerate()
                .map(|(i, s)| (s.as_ref().to_string(), i))
                .collect(),
            nmea: nmea::NmeaAssembler::new(),
            max_payload,
            max_plots: usize::MAX,
            spare_reports: Vec::new(),
            window: None,
            window_on_exercise: false,
        }
    }

    /// Rejects contacts stamped too far from their receive time (see [`time_check`]).
    ///
    /// `on_exercise`: whether messages marked as exercise data are checked too. Offline
    /// (every recording line has its receive time, `t_rx`) they are. Live, a replay (`vigie
    /// replay --mqtt`) publishes a recording of another day at any speed, so its contacts'
    /// times say nothing about their arrival: they are exempt, and can harm nothing but the
    /// exercise engine, which never touches a live track and whose every alert says
    /// `exercise: true`.
    pub fn with_time_window(mut self, window: TimeWindow, on_exercise: bool) -> Self {
        self.window = Some(window);
        self.window_on_exercise = on_exercise;
        self
    }

    /// The time window, if it applies to `d`.
    fn window_for(&self, d: &Decoded) -> Option<TimeWindow> {
        self.window
            .filter(|_| self.window_on_exercise || !d.exercise())
    }

    /// Rejects whole radar messages with more plots than this: a flood of plots would
    /// otherwise become a flood of tentative tracks.
    pub fn with_max_plots(mut self, max: usize) -> Self {
        self.max_plots = max;
        self
    }

    /// Takes back a decoded message's buffers once it has been processed: AIS report
    /// lists are kept for the next messages (a message is usually one report, and its
    /// allocation and growth were 2 % of replaying the strait scene), up to
    /// [`SPARE_REPORT_LISTS`]. A list grown by a large array message is let go, so that one
    /// burst does not pin its memory.
    pub fn recycle(&mut self, d: Decoded) {
        if let Decoded::Ais(mut a) = d {
            if a.reports.capacity() <= 64 && self.spare_reports.len() < SPARE_REPORT_LISTS {
                a.reports.clear();
                self.spare_reports.push(a.reports);
            }
        }
    }

    /// The configuration index of a plot sensor.
    pub fn sensor_index(&self, id: &str) -> Option<usize> {
        self.sensors.get(id).copied()
    }

    /// Splits a topic into its kind and sensor/source name.
    pub fn topic_kind<'t>(&self, topic: &'t str) -> Option<TopicKind<'t>> {
        let rest = topic.strip_prefix(self.contacts_prefix.as_str())?;
        let (kind, name) = rest.split_once('/')?;
        if name.is_empty() || name.contains('/') {
            return None;
        }
        match kind {
            "radar" => Some(TopicKind::Radar(name)),
            "ais" => Some(TopicKind::Ais(name)),
            _ => None,
        }
    }

    /// Decodes one message. A whole-message failure is the `Err`; contacts rejected one by
    /// one inside an otherwise good message are pushed to `rejects`.
    pub fn decode(
        &mut self,
        topic: &str,
        payload: &[u8],
        t_rx: EventTime,
        rejects: &mut Vec<DecodeError>,
    ) -> Result<Decoded, DecodeError> {
        let kind = self.topic_kind(topic).ok_or_else(|| unknown_topic(topic))?;
        self.decode_kind(kind, payload, t_rx, rejects)
    }

    /// [`decode`](Self::decode) for a topic the caller has already read with
    /// [`topic_kind`](Self::topic_kind) (the pipeline needs the kind for its counters, and
    /// reading the topic twice was a measurable part of a small AIS message).
    pub fn decode_kind(
        &mut self,
        kind: TopicKind,
        payload: &[u8],
        t_rx: EventTime,
        rejects: &mut Vec<DecodeError>,
    ) -> Result<Decoded, DecodeError> {
        if payload.len() > self.max_payload {
            return Err(DecodeError::TooLarge {
                size: payload.len(),
                max: self.max_payload,
            });
        }
        let first = payload.iter().find(|b| !b.is_ascii_whitespace());
        let Some(&first) = first else {
            return Err(DecodeError::Empty);
        };
        match kind {
            TopicKind::Radar(sensor) => {
                let sensors = &self.sensors;
                let scan =
                    radar::decode(payload, sensor, |s| sensors.get(s).copied(), t_rx, rejects)?;
                if scan.plots.len() > self.max_plots {
                    return Err(DecodeError::TooManyPlots {
                        n: scan.plots.len(),
                        max: self.max_plots,
                    });
                }
                let mut d = Decoded::Radar(scan);
                if let Some(w) = self.window_for(&d) {
                    w.apply(&mut d, t_rx, rejects)?;
                }
                Ok(d)
            }
            TopicKind::Ais(source) => {
                let mut batch = AisBatch {
                    reports: self.spare_reports.pop().unwrap_or_default(),
                    exercise: false,
                };
                if first == b'{' || first == b'[' {
                    ais_json::decode(payload, t_rx, &mut batch, rejects)?;
                } else {
                    let text = std::str::from_utf8(payload).map_err(|_| DecodeError::NotUtf8)?;
                    self.nmea.feed(source, text, t_rx, &mut batch, rejects);
                }
                let mut d = Decoded::Ais(batch);
                if let Some(w) = self.window_for(&d) {
                    if let Err(e) = w.apply(&mut d, t_rx, rejects) {
                        self.recycle(d);
                        return Err(e);
                    }
                }
                Ok(d)
            }
        }
    }
}

/// The rejection of a topic that is not a contact topic (quoted to 200 characters).
pub fn unknown_topic(topic: &str) -> DecodeError {
    DecodeError::UnknownTopic(topic.chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics() {
        let d = Decoder::new("vigie", &["gris-nez"], 1000);
        assert_eq!(
            d.topic_kind("vigie/contacts/radar/gris-nez"),
            Some(TopicKind::Radar("gris-nez"))
        );
        assert_eq!(
            d.topic_kind("vigie/contacts/ais/rx1"),
            Some(TopicKind::Ais("rx1"))
        );
        assert_eq!(d.topic_kind("vigie/contacts/ais/rx1/x"), None);
        assert_eq!(d.topic_kind("vigie/contacts/sonar/a"), None);
        assert_eq!(d.topic_kind("other/contacts/ais/a"), None);
    }

    #[test]
    fn size_limit_and_empty() {
        let mut d = Decoder::new("vigie", &["a"], 10);
        let mut r = vec![];
        let e = d
            .decode("vigie/contacts/ais/x", &[b'!'; 11], EventTime(0), &mut r)
            .unwrap_err();
        assert_eq!(e.reason(), "too_large");
        let e = d
            .decode("vigie/contacts/ais/x", b"  ", EventTime(0), &mut r)
            .unwrap_err();
        assert_eq!(e.reason(), "empty");
        let e = d
            .decode("vigie/contacts/ais/x", &[0xff, 0xfe], EventTime(0), &mut r)
            .unwrap_err();
        assert_eq!(e.reason(), "not_utf8");
    }
}

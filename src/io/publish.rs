//! What the live commands send to the broker for each processed message, and how they log
//! rejected input: shared by `run` (the service) and nothing else that publishes alerts.

use super::mqtt::Link;
use super::mqtt_states::StateLink;
use crate::behaviour::{AlertEvent, AlertState};
use crate::engine::Outputs;
use crate::metrics::Metrics;
use crate::time::EventTime;
use rumqttc::{AsyncClient, QoS};
use std::collections::HashMap;

/// Logs rejections without letting a flood of garbage flood the log: each reason is logged
/// at its 1st, 10th, 100th, … occurrence with the running count; the rest at debug level.
/// A contact's time rejected (contract §1) is logged once per topic and reason per minute
/// instead, with how many since: a sensor whose clock is wrong says so every minute, for as
/// long as it lasts. Every rejection is counted in metrics regardless.
#[derive(Default)]
pub struct RejectLog {
    counts: HashMap<&'static str, u64>,
    /// Per (reason, topic): when last logged, and how many since.
    times: HashMap<(&'static str, String), (Option<std::time::Instant>, u64)>,
}

/// Topics remembered for the once-a-minute time log (AIS source names are free topic
/// levels; past this many, the oldest memory is dropped and that topic logs again).
const MAX_TIME_TOPICS: usize = 1024;

impl RejectLog {
    pub fn log(&mut self, topic: &str, out: &Outputs) {
        for r in &out.rejects {
            let topic: String = topic.chars().take(120).collect();
            if r.is_per_sensor() {
                self.log_time(topic, r);
                continue;
            }
            let n = self.counts.entry(r.reason()).or_insert(0);
            *n += 1;
            if is_power_of_ten(*n) {
                tracing::warn!(
                    reason = r.reason(),
                    total = *n,
                    "rejected input on {topic}: {r}"
                );
            } else {
                tracing::debug!(reason = r.reason(), "rejected input on {topic}: {r}");
            }
        }
    }

    fn log_time(&mut self, topic: String, r: &crate::decode::DecodeError) {
        let now = std::time::Instant::now();
        if self.times.len() >= MAX_TIME_TOPICS {
            self.times.clear();
        }
        let e = self
            .times
            .entry((r.reason(), topic.clone()))
            .or_insert((None, 0));
        e.1 += 1;
        if e.0
            .is_none_or(|last| now.duration_since(last) >= TIME_LOG_EVERY)
        {
            tracing::warn!(
                reason = r.reason(),
                since_last = e.1,
                "rejected contact time on {topic}: {r} ({} such in the last minute or since the first)",
                e.1
            );
            *e = (Some(now), 0);
        } else {
            tracing::debug!(reason = r.reason(), "rejected contact time on {topic}: {r}");
        }
    }
}

/// How often a topic's rejected contact times are reported.
const TIME_LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

fn is_power_of_ten(mut n: u64) -> bool {
    while n >= 10 && n.is_multiple_of(10) {
        n /= 10;
    }
    n == 1
}

/// The serialised alert as published, stamped with `emitted_at` now.
pub fn stamp(a: &AlertEvent) -> String {
    let mut a = a.clone();
    a.emitted_at = Some(EventTime::now());
    serde_json::to_string(&a).expect("alerts serialise")
}

/// QoS 1 publications (alerts, their CAP documents, status) waiting for room in the
/// connection's queue of publications written first ([`Link::try_publish_first`]: an alert
/// never waits behind the contacts read with the scan that proved it).
///
/// Why the processing loop never waits for that room: the connection task hands each
/// received contact to the loop and waits when the loop is behind; had the loop in turn
/// waited for room in the request queue, which only the connection task drains, both would
/// have waited for ever. The latency benchmark found this flat out: vigie stopped, missed its
/// keep-alives and the broker dropped it. Order is kept: nothing is handed over while older
/// publications wait.
#[derive(Default)]
pub struct Outbox {
    queue: std::collections::VecDeque<(String, String, bool)>,
    /// Publications handed to the client, for the acknowledgement count at shutdown.
    pub requested: u64,
}

/// Alerts held while the client queue is full; beyond, the oldest are dropped and counted
/// (`vigie_publish_failures_total`). Reached only if the connection task is gone for good.
const MAX_OUTBOX: usize = 100_000;

impl Outbox {
    pub fn push(&mut self, topic: String, payload: String, retain: bool, metrics: &Metrics) {
        if self.queue.len() >= MAX_OUTBOX {
            self.queue.pop_front();
            metrics.publish_failures.inc();
        }
        self.queue.push_back((topic, payload, retain));
    }

    /// Hands over as many as the connection takes; true if some still wait.
    pub fn flush(&mut self, link: &Link) -> bool {
        while let Some((topic, payload, retain)) = self.queue.front() {
            if !link.try_publish_first(topic, payload, *retain) {
                return true;
            }
            self.requested += 1;
            self.queue.pop_front();
        }
        false
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }
}

/// Publishes one message's alerts without ever waiting: they (QoS 1) go through the
/// [`Outbox`]; its track states go by [`publish_tracks`].
pub fn publish_alerts(
    link: &Link,
    prefix: &str,
    alerts: &[AlertEvent],
    metrics: &Metrics,
    outbox: &mut Outbox,
) {
    for a in alerts {
        let json = stamp(a);
        let active = format!("{prefix}/alerts/active/{}", a.id);
        let retained = if a.state == AlertState::Cleared {
            String::new()
        } else {
            json.clone()
        };
        // The retained state first, then the event: the broker handles one connection's
        // publications in order, so a centre that has seen an event on `alerts` can rely on
        // the retained topic already saying as much, and a vigie killed between the two
        // leaves an alert it can restore (event first, a kill -9 in between left a `raised`
        // that no restarted vigie knew of and nothing would ever clear; the restart test
        // caught it under load).
        outbox.push(active, retained, true, metrics);
        outbox.push(format!("{prefix}/alerts"), json, false, metrics);
    }
    outbox.flush(link);
    // Logged once handed over: a log line is a write to stderr, not to be waited for.
    for a in alerts {
        tracing::info!(
            id = %a.id, state = a.state.as_str(), zone = %a.zone_id(), exercise = a.exercise,
            "alert {} {} in {} (dwell {:.0} s)", a.id, a.state.as_str(), a.zone.as_ref().map_or("no zone", |z| z.name.as_str()), a.dwell_s
        );
    }
}

/// One message's track states (QoS 0, droppable: dropped and counted when the client queue
/// is full): on their own connection, in one batch, when there is one ([`StateLink`]); else
/// one by one through the main client. `texts` are their payloads
/// ([`state_texts`](super::console::state_texts), shared with the console), taken from the
/// vector.
pub fn publish_tracks(
    client: &AsyncClient,
    states: Option<&mut StateLink>,
    prefix: &str,
    out: &Outputs,
    texts: &mut Vec<String>,
    metrics: &Metrics,
) {
    let topic = |t: &crate::engine::TrackState| {
        if t.exercise {
            format!("{prefix}/exercise/tracks/{}", t.track_id)
        } else {
            format!("{prefix}/tracks/{}", t.track_id)
        }
    };
    if let Some(states) = states {
        for (t, json) in out.tracks.iter().filter(|t| t.publish).zip(texts.drain(..)) {
            states.push(topic(t), json);
        }
        states.send();
        return;
    }
    for (t, json) in out.tracks.iter().filter(|t| t.publish).zip(texts.drain(..)) {
        let topic = topic(t);
        if client
            .try_publish(topic, QoS::AtMostOnce, false, json)
            .is_err()
        {
            metrics.publish_failures.inc();
        }
    }
}

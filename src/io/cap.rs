//! CAP 1.2 and CISE documents on MQTT (contract §8), beside the JSON alert topics:
//! `{prefix}/cap/alerts` (every document, QoS 1), `{prefix}/cap/active/{alert_id}` (the
//! latest `Alert`/`Update` of each active alert, retained; emptied by its `Cancel`) and
//! `{prefix}/cise/incidents` (a CISE-shaped incident per raised pickup, QoS 1).
//!
//! The documents come from the core's [`Reports`]; this only publishes them. One writer
//! serves the engine loop (alert events) and the console (operator actions), behind a lock,
//! so that every document of an alert references the ones before it whoever caused it.

use super::publish::Outbox;
use crate::behaviour::{Action, AlertEvent};
use crate::engine::Outputs;
use crate::metrics::Metrics;
use crate::report::cap::CapDoc;
use crate::report::Reports;
use rumqttc::{AsyncClient, QoS};
use std::sync::{Arc, Mutex};

pub struct CapSink {
    reports: Mutex<Reports>,
    client: AsyncClient,
    prefix: String,
    metrics: Arc<Metrics>,
}

impl CapSink {
    pub fn new(
        reports: Reports,
        client: AsyncClient,
        prefix: String,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(CapSink {
            reports: Mutex::new(reports),
            client,
            prefix,
            metrics,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reports> {
        // A panic elsewhere while holding the lock leaves whole chains; keep using them.
        self.reports.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The documents of one message's alert events, through the engine loop's outbox
    /// (QoS 1, in order, never dropped while the connection lives). Called after the JSON
    /// alerts are handed over: CAP never delays them.
    pub fn alerts(&self, out: &Outputs, outbox: &mut Outbox) {
        if out.alerts.is_empty() {
            return;
        }
        let mut r = self.lock();
        for a in &out.alerts {
            let docs = r.on_event(a);
            for (topic, payload, retain) in self.cap_publications(&docs.cap) {
                outbox.push(topic, payload, retain, &self.metrics);
            }
            if let Some(x) = docs.cise {
                outbox.push(
                    format!("{}/cise/incidents", self.prefix),
                    x,
                    false,
                    &self.metrics,
                );
            }
        }
    }

    /// The `Update` (and `Ack`) of an operator action, published at once (actions come from
    /// the console's tasks, not the engine loop); a full client queue is counted.
    pub fn action(&self, act: &Action) {
        let docs = self.lock().on_action(act);
        for d in &docs {
            for (topic, payload, retain) in self.cap_publications(d) {
                if self
                    .client
                    .try_publish(topic, QoS::AtLeastOnce, retain, payload)
                    .is_err()
                {
                    self.metrics.publish_failures.inc();
                }
            }
        }
    }

    /// Continues the chain of an alert an earlier run left active, from the CAP document it
    /// left retained (if any).
    pub fn restore(&self, latest: &AlertEvent, retained_cap: Option<&[u8]>) {
        if !self.lock().restore(latest, retained_cap) {
            tracing::warn!(
                "alert {}: no readable retained CAP document; its CAP chain restarts without references",
                latest.id
            );
        }
    }

    /// Where one document goes: the stream of every document, and the retained active
    /// topic for a document that is the alert's state (`CapDoc::retain`), emptied by a
    /// `Cancel`.
    fn cap_publications(&self, d: &CapDoc) -> Vec<(String, String, bool)> {
        let p = &self.prefix;
        let mut v = Vec::with_capacity(2);
        let active = format!("{p}/cap/active/{}", d.alert_id);
        if d.retain {
            v.push((active, d.xml.clone(), true));
        } else if d.msg_type == crate::report::cap::MsgType::Cancel {
            v.push((active, String::new(), true));
        }
        // Retained state first, then the event, as for the JSON alerts (publish.rs).
        v.push((format!("{p}/cap/alerts"), d.xml.clone(), false));
        v
    }
}

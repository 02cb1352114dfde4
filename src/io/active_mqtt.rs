//! The retained active set on the cluster's MQTT listeners (contract §9: centres keep
//! subscribing to §3's topics there, "retained active set included").
//!
//! NATS's MQTT listener keeps a retained message only when an MQTT client publishes it, so
//! the replica holding the output lease connects to one of `nats.mqtt_urls` as an MQTT
//! client and keeps `{prefix}/alerts/active/{id}` retained: the latest event of every active
//! alert, emptied when it clears (as the single process does, [`super::publish`]). On
//! taking the lease, and after every reconnection, it reads what the listener holds and
//! brings it to its own picture: its alerts published, those no longer active emptied. So
//! a holder killed between two publishes leaves nothing its successor does not mend.
//!
//! The same link carries the service's retained `{prefix}/status` (§3): `online` (with the
//! holder's name) on every connection, `offline` by its Last Will if the holder dies, and
//! explicitly when it stops. A lease that passes to another replica passes `online` with
//! it; the status says whether some replica is serving the centres.
//!
//! Every replica keeps the picture (fed by the alert-log task in event order); only the
//! holder connects.

use super::mqtt::{Link, LinkOptions};
use bytes::Bytes;
use rumqttc::QoS;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// An alert's latest event (JSON as published), or `None` when it cleared.
#[derive(Debug, Clone)]
pub struct ActiveChange {
    pub id: String,
    pub json: Option<Bytes>,
}

/// A listener that does not accept the connection within this is left for the next one.
const CONNECT_WAIT: Duration = Duration::from_secs(5);

/// Retained messages come right after the subscription's acknowledgement: this much silence
/// ends the reading.
const RETAINED_QUIET: Duration = Duration::from_millis(500);

pub struct ActiveTopics {
    pub urls: Vec<String>,
    pub prefix: String,
    pub client_id: String,
    /// This replica's name, in its `online` status.
    pub replica: String,
    /// The lease: only its holder connects.
    pub held: Arc<AtomicBool>,
}

impl ActiveTopics {
    fn topic(&self, id: &str) -> String {
        format!("{}/alerts/active/{id}", self.prefix)
    }

    /// Runs until `changes` closes (the replica stopping).
    pub async fn run(
        self,
        mut active: BTreeMap<String, Bytes>,
        mut changes: mpsc::UnboundedReceiver<ActiveChange>,
    ) {
        let mut link: Option<(Link, Instant)> = None;
        let mut synced = false;
        let mut next_url = 0;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                c = changes.recv() => {
                    let Some(c) = c else { break };
                    let payload = c.json.clone().unwrap_or_default();
                    match c.json {
                        Some(j) => { active.insert(c.id.clone(), j); }
                        None => { active.remove(&c.id); }
                    }
                    if let (Some((l, _)), true) = (&link, synced) {
                        // On failure the link is down: the next sync mends it.
                        let _ = l.client.publish(self.topic(&c.id), QoS::AtLeastOnce, true, payload).await;
                    }
                }
                _ = tick.tick() => {}
            }
            if !self.held.load(Ordering::Relaxed) {
                if let Some((l, _)) = link.take() {
                    self.sign_off(l).await;
                }
                synced = false;
                continue;
            }
            let Some((l, since)) = &mut link else {
                let url = &self.urls[next_url % self.urls.len()];
                next_url += 1;
                let mut o = LinkOptions::new(url, &self.client_id);
                o.subscribe = vec![format!("{}/alerts/active/+", self.prefix)];
                let status = format!("{}/status", self.prefix);
                o.will = Some((status.clone(), OFFLINE.into()));
                o.online = Some((
                    status,
                    serde_json::json!({
                        "state": "online",
                        "version": env!("CARGO_PKG_VERSION"),
                        "since": crate::time::EventTime::now(),
                        "replica": self.replica,
                    })
                    .to_string(),
                ));
                match Link::start(o) {
                    Ok(l) => link = Some((l, Instant::now())),
                    Err(e) => tracing::warn!("retained active set: {e}"),
                }
                continue;
            };
            if !*l.connected.borrow() {
                synced = false;
                if since.elapsed() > CONNECT_WAIT {
                    tracing::warn!(
                        "retained active set: no MQTT connection to the cluster within {CONNECT_WAIT:?}; trying the next listener"
                    );
                    if let Some((l, _)) = link.take() {
                        l.close().await;
                    }
                }
                continue;
            }
            *since = Instant::now();
            if synced {
                // Our own publishes come back through the subscription: not needed.
                while l.inbound.try_recv().is_ok() {}
                continue;
            }
            let retained = read_retained(l).await;
            let stale: Vec<&String> = retained
                .iter()
                .filter(|id| !active.contains_key(*id))
                .collect();
            let mut ok = true;
            for id in &stale {
                ok &= l
                    .client
                    .publish(self.topic(id), QoS::AtLeastOnce, true, Bytes::new())
                    .await
                    .is_ok();
            }
            for (id, json) in &active {
                ok &= l
                    .client
                    .publish(self.topic(id), QoS::AtLeastOnce, true, json.clone())
                    .await
                    .is_ok();
            }
            synced = ok;
            tracing::info!(
                "retained active set on MQTT: {} alert(s) published, {} no longer active emptied",
                active.len(),
                stale.len()
            );
        }
        if let Some((l, _)) = link {
            self.sign_off(l).await;
        }
    }

    /// The lease lost or the replica stopping: `offline` until a holder says `online` again
    /// (a successor does on connecting; with none, offline is the truth), then a clean
    /// disconnect. Waits a moment for the broker's acknowledgement (PUBACKs come in order).
    async fn sign_off(&self, l: Link) {
        let want = l.acked.load(Ordering::Relaxed) + 1;
        let _ = l
            .client
            .publish(
                format!("{}/status", self.prefix),
                QoS::AtLeastOnce,
                true,
                OFFLINE,
            )
            .await;
        l.wait_acked(want, 2.0).await;
        l.close().await;
    }
}

const OFFLINE: &str = r#"{"state":"offline"}"#;

/// The ids of the alerts the listener holds retained (non-empty) right after subscribing.
async fn read_retained(l: &mut Link) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        match tokio::time::timeout(RETAINED_QUIET, l.inbound.recv()).await {
            Ok(Some(m)) => {
                if m.retain && !m.payload.is_empty() {
                    if let Some(id) = m.topic.rsplit('/').next() {
                        ids.insert(id.to_string());
                    }
                }
            }
            _ => break,
        }
    }
    ids
}

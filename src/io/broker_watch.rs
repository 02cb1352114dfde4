//! What the broker says it dropped: Mosquitto's `$SYS/broker/publish/messages/dropped`.
//!
//! Why: when vigie falls behind a flood, the broker queues the contacts it cannot deliver
//! (QoS 1, persistent session) up to its `max_queued_messages`, then drops the rest —
//! silently, as far as vigie's own connection can tell. vigie's backlog gauge says it is
//! behind; only the broker can say what it threw away. Mosquitto counts it (for all its
//! clients together) and publishes the count on `$SYS` every `sys_interval`.
//!
//! Watched on a connection of its own: a broker without `$SYS` may refuse the subscription
//! by hanging up (rumqttd, vigie's embedded broker, does), which must not cost the contact
//! connection anything. No subscription acknowledgement within [`SUBACK_WAIT`]: the watch
//! is given up, with one line saying so.

use super::mqtt::{Link, LinkOptions};
use crate::config::broker::Security;
use crate::metrics::Metrics;
use std::sync::Arc;

/// Where Mosquitto publishes its count of dropped publications.
pub const DROPPED_TOPIC: &str = "$SYS/broker/publish/messages/dropped";

const SUBACK_WAIT: u64 = 5;

/// Watches the broker's drop count into `vigie_broker_dropped_messages`, with a warning
/// each time it grows, until `stop` fires; returns at once (after at most [`SUBACK_WAIT`]
/// s) when the broker does not offer it.
pub async fn watch(
    url: String,
    client_id: String,
    security: Security,
    metrics: Arc<Metrics>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut o = LinkOptions::new(&url, &format!("{client_id}-sys"));
    o.security = security;
    o.subscribe = vec![DROPPED_TOPIC.to_string()];
    o.stop_if_refused = true;
    let mut link = match Link::start(o) {
        Ok(l) => l,
        Err(e) => {
            tracing::info!("not watching the broker's dropped messages: {e}");
            return;
        }
    };
    if link.wait_connected(&url, SUBACK_WAIT).await.is_err() {
        tracing::info!(
            "the broker does not answer a subscription to {DROPPED_TOPIC} (not Mosquitto?): \
             messages it drops for a slow client are not counted"
        );
        link.close().await;
        return;
    }
    tracing::info!("watching the broker's count of dropped messages ({DROPPED_TOPIC})");
    let mut last: Option<u64> = None;
    loop {
        let msg = tokio::select! {
            _ = &mut stop => break,
            msg = link.inbound.recv() => match msg {
                Some(m) => m,
                None => break,
            },
        };
        let Some(n) = std::str::from_utf8(&msg.payload)
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
        else {
            continue;
        };
        metrics.broker_dropped.set(n.min(i64::MAX as u64) as i64);
        if let Some(before) = last.filter(|&b| n > b) {
            tracing::warn!(
                dropped = n - before,
                total = n,
                backlog = metrics.inbound_backlog.get(),
                "the broker dropped {} publication(s) because a client's queue was full; \
                 if vigie was behind (see vigie_inbound_backlog_messages), contacts were lost",
                n - before
            );
        }
        last = Some(n);
    }
    link.close().await;
}

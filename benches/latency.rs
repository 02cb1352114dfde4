//! End-to-end latency through a real broker, with the broker's own latency measured in the
//! same run so that vigie's share is a difference, not a guess.
//!
//!   cargo bench --bench latency                                   # embedded broker
//!   VIGIE_BENCH_MQTT_URL=mqtt://127.0.0.1:1883 cargo bench --bench latency   # Mosquitto
//!
//! 1. broker hop: publisher → broker → subscriber, 600-byte messages (a radar scan's size),
//!    at the rate of part 2;
//! 2. vigie: the Équihen scene is published at 100× real time (≈ 220 messages/s); each
//!    track state and alert vigie publishes is matched, by the event time it carries, to the
//!    contact message that caused it: latency = its arrival at a subscriber − that
//!    message's publication. That path crosses the broker twice (contact in, output out),
//!    so vigie's added latency ≈ path − 2 × hop.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use vigie::io::mqtt::{Link, LinkOptions};
use vigie::io::service;

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn row(name: &str, v: &mut [f64]) -> (f64, f64) {
    let (p50, p90, p99, max) = (pct(v, 0.5), pct(v, 0.9), pct(v, 0.99), pct(v, 1.0));
    println!(
        "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} |",
        v.len(),
        p50 * 1e3,
        p90 * 1e3,
        p99 * 1e3,
        max * 1e3
    );
    (p50, p99)
}

async fn link(url: &str, name: &str, subscribe: Vec<String>) -> Link {
    let mut o = LinkOptions::new(url, &format!("bench-{name}-{}", std::process::id()));
    o.subscribe = subscribe;
    let mut l = Link::start(o).unwrap();
    l.wait_connected(url, 10).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    l
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::var("VIGIE_BENCH_MQTT_URL").unwrap_or_else(|_| {
        let port = vigie::io::broker::free_port().unwrap();
        vigie::io::broker::start(format!("127.0.0.1:{port}").parse().unwrap(), 4 << 20).unwrap();
        format!("mqtt://127.0.0.1:{port}")
    });
    let prefix = format!("bench{}", std::process::id());
    println!("broker: {url}\n");
    println!("| path | samples | p50 ms | p90 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");

    // 1. The broker alone.
    let topic = format!("{prefix}/hop");
    let mut sub = link(&url, "hopsub", vec![topic.clone()]).await;
    let publ = link(&url, "hoppub", vec![]).await;
    let n = 2000;
    let mut sent = Vec::with_capacity(n);
    let recv = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_secs(3), sub.link_inbound()).await
        {
            let seq: usize = std::str::from_utf8(&m.0[..8]).unwrap().parse().unwrap();
            got.push((seq, m.1));
        }
        got
    });
    let start = Instant::now();
    for i in 0..n {
        let mut payload = format!("{i:08}").into_bytes();
        payload.resize(600, b' ');
        sent.push(Instant::now());
        publ.client
            .publish(topic.clone(), rumqttc::QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
        let due = start + Duration::from_micros(4500 * (i as u64 + 1));
        tokio::time::sleep_until(due.into()).await;
    }
    let got = recv.await.unwrap();
    let mut hop: Vec<f64> = got
        .iter()
        .map(|(s, t)| t.duration_since(sent[*s]).as_secs_f64())
        .collect();
    let lost = n - got.len();
    let (hop50, hop99) = row("broker hop (publisher → broker → subscriber)", &mut hop);

    // 2. Through vigie.
    let mut cfg = vigie::Config::load_with_env(None, &[]).unwrap();
    cfg.mqtt.url = Some(url.clone());
    cfg.mqtt.prefix = prefix.clone();
    cfg.mqtt.client_id = format!("{prefix}-vigie");
    cfg.metrics.listen = "127.0.0.1:0".into();
    let scene: vigie::sim::Scene = toml::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/scenarios/equihen-pickup.toml"
        ))
        .unwrap(),
    )
    .unwrap();
    let lines = vigie::sim::simulate_for(&scene, &cfg, &prefix);
    let h = service::start(cfg).await.unwrap();
    let mut out = link(
        &url,
        "outsub",
        vec![format!("{prefix}/tracks/#"), format!("{prefix}/alerts")],
    )
    .await;
    let publ = link(&url, "inpub", vec![]).await;
    let recv = tokio::spawn(async move {
        let mut got = Vec::new();
        while let Ok(Some(m)) =
            tokio::time::timeout(Duration::from_secs(3), out.link_inbound_topic()).await
        {
            got.push(m);
        }
        got
    });
    let mut sent_at: HashMap<String, Instant> = HashMap::new();
    let t0 = lines[0].t_rx;
    let start = Instant::now();
    for l in &lines {
        let due = start + Duration::from_secs_f64(l.t_rx.secs_since(t0) / 100.0);
        tokio::time::sleep_until(due.into()).await;
        if let Some(t) = l.payload.get("t").and_then(|t| t.as_str()) {
            sent_at.insert(t.to_string(), Instant::now());
        }
        publ.client
            .publish(
                l.topic.clone(),
                rumqttc::QoS::AtLeastOnce,
                false,
                l.payload_bytes(),
            )
            .await
            .unwrap();
    }
    let got = recv.await.unwrap();
    let (mut tracks, mut alerts) = (vec![], vec![]);
    for (topic, payload, at) in got {
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        let Some(sent) = v["t"].as_str().and_then(|t| sent_at.get(t)) else {
            continue;
        };
        let d = at.duration_since(*sent).as_secs_f64();
        if topic.ends_with("/alerts") {
            alerts.push(d)
        } else {
            tracks.push(d)
        }
    }
    let (p50, p99) = row(
        "contact → track state via vigie (2 broker hops)",
        &mut tracks,
    );
    if !alerts.is_empty() {
        row("contact → alert via vigie (2 broker hops)", &mut alerts);
    }
    println!(
        "\nvigie's added latency ≈ path − 2 × hop: p50 {:.3} ms, p99 {:.3} ms; {} of {n} hop messages lost; {} messages in, {} track states and {} alert events matched",
        (p50 - 2.0 * hop50) * 1e3,
        (p99 - 2.0 * hop99) * 1e3,
        lost,
        lines.len(),
        tracks.len(),
        alerts.len()
    );
    h.stop().await;
}

/// Receive helpers that stamp arrival time as early as possible.
trait Stamp {
    async fn link_inbound(&mut self) -> Option<(bytes::Bytes, Instant)>;
    async fn link_inbound_topic(&mut self) -> Option<(String, bytes::Bytes, Instant)>;
}

impl Stamp for Link {
    async fn link_inbound(&mut self) -> Option<(bytes::Bytes, Instant)> {
        self.inbound
            .recv()
            .await
            .map(|m| (m.payload, Instant::now()))
    }
    async fn link_inbound_topic(&mut self) -> Option<(String, bytes::Bytes, Instant)> {
        self.inbound
            .recv()
            .await
            .map(|m| (m.topic, m.payload, Instant::now()))
    }
}

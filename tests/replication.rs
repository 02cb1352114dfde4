//! Issue 22, contract §9: vigie replicated on a real 3-node NATS JetStream cluster on
//! loopback (each node its own Debian `nats-server` process, with JetStream and the MQTT
//! listener). Skipped without `nats-server` unless `VIGIE_REQUIRE_NATS` is set (CI).

use super::mosquitto::TempDir;
use super::util::*;
use super::{comparable, offline, recording, scene};
use async_nats::jetstream;
use futures_util::StreamExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use vigie::behaviour::{AlertEvent, AlertState};
use vigie::io::nats;
use vigie::recording::RecordLine;
use vigie::training::sim;
use vigie::Config;

fn nats_available() -> bool {
    tool_available(
        "nats-server",
        "VIGIE_REQUIRE_NATS",
        "apt-get install nats-server",
    )
}

fn free_port() -> u16 {
    vigie::io::broker::free_port().expect("a free port")
}

/// One node: its ports, configuration and process.
struct Node {
    client: u16,
    mqtt: u16,
    conf: std::path::PathBuf,
    log: std::path::PathBuf,
    child: Option<Child>,
}

impl Node {
    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client)
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        self.child = Some(
            Command::new("nats-server")
                .arg("-c")
                .arg(&self.conf)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("nats-server starts"),
        );
    }

    /// kill -9.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A 3-node cluster: JetStream on each node, routes between all, an MQTT listener on each.
pub struct NatsCluster {
    nodes: Vec<Node>,
    dir: TempDir,
}

impl NatsCluster {
    pub async fn start(name: &str) -> NatsCluster {
        let dir = TempDir::new(name);
        let routes: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let mut nodes = vec![];
        for i in 0..3 {
            let (client, mqtt) = (free_port(), free_port());
            let conf = dir.path(&format!("n{i}.conf"));
            let store = dir.path(&format!("js{i}"));
            let others: Vec<String> = routes
                .iter()
                .map(|p| format!("nats-route://127.0.0.1:{p}"))
                .collect();
            std::fs::write(
                &conf,
                format!(
                    "server_name: n{i}\nlisten: 127.0.0.1:{client}\n\
                     jetstream {{ store_dir: {store:?}, max_memory_store: 64MB, max_file_store: 1GB }}\n\
                     cluster {{ name: vigietest, listen: 127.0.0.1:{}, routes: [{}] }}\n\
                     mqtt {{ listen: 127.0.0.1:{mqtt} }}\n",
                    routes[i],
                    others.join(", ")
                ),
            )
            .unwrap();
            let mut n = Node {
                client,
                mqtt,
                conf,
                log: dir.path(&format!("n{i}.log")),
                child: None,
            };
            n.start();
            nodes.push(n);
        }
        let c = NatsCluster { nodes, dir };
        c.wait_ready().await;
        c
    }

    /// Until JetStream answers with a meta leader elected (a stream can be created).
    async fn wait_ready(&self) {
        let ok = eventually(60.0, || {
            std::net::TcpStream::connect(("127.0.0.1", self.nodes[2].client)).is_ok()
        })
        .await;
        assert!(ok, "nats-server listening: {}", self.logs());
        let mut last = String::new();
        for _ in 0..120 {
            match nats::connect(&self.urls(), "test").await {
                Ok(c) => match jetstream::new(c)
                    .get_or_create_stream(jetstream::stream::Config {
                        name: "READY".into(),
                        subjects: vec!["ready.probe".into()],
                        num_replicas: 3,
                        ..Default::default()
                    })
                    .await
                {
                    Ok(_) => return,
                    Err(e) => last = format!("{e:?}"),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("JetStream not ready within 60 s ({last}): {}", self.logs());
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    pub fn mqtt_url(&self, i: usize) -> String {
        format!("mqtt://127.0.0.1:{}", self.nodes[i].mqtt)
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(|n| std::fs::read_to_string(&n.log).unwrap_or_default())
            .map(|l| l.lines().rev().take(15).collect::<Vec<_>>().join("\n"))
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            n.kill();
        }
        let _ = &self.dir;
    }
}

/// A replica's configuration on the cluster: 3 copies of every stream.
fn replica_config(cluster: &NatsCluster, prefix: &str, name: &str) -> Config {
    let mut cfg = config("mqtt://127.0.0.1:1", prefix);
    cfg.mqtt.url = None;
    cfg.nats.urls = cluster.urls();
    cfg.nats.replica = name.into();
    cfg.nats.stream_replicas = 3;
    cfg
}

/// Publishes a recording into the contact stream as sensors on NATS would, each message
/// stored (acknowledged) before the next is sent, so the stream's order is the recording's.
async fn publish_recording(urls: &[String], lines: &[RecordLine]) {
    let c = nats::connect(urls, "test").await.unwrap();
    let js = jetstream::new(c);
    for l in lines {
        let subject = nats::topic_to_subject(&l.topic);
        let mut wait = Duration::from_millis(50);
        loop {
            let r = match js
                .publish(subject.clone(), l.exercise_payload().into())
                .await
            {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match r {
                Ok(()) => break,
                Err(e) => {
                    eprintln!("publish retried: {e}");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// Every event the alert log holds, in order.
async fn alert_log(urls: &[String]) -> Vec<AlertEvent> {
    let c = nats::connect(urls, "test").await.unwrap();
    let js = jetstream::new(c);
    let stream = js.get_stream(nats::ALERTS_STREAM).await.unwrap();
    let n = stream.get_info().await.unwrap().state.messages;
    let mut out = vec![];
    for seq in 1..=n {
        let m = stream.get_raw_message(seq).await.unwrap();
        out.push(serde_json::from_slice(&m.payload).unwrap());
    }
    out
}

/// The active set's bucket: alert id → latest event.
async fn active_set(urls: &[String]) -> std::collections::BTreeMap<String, AlertEvent> {
    let c = nats::connect(urls, "test").await.unwrap();
    let js = jetstream::new(c);
    let kv = js.get_key_value(nats::ACTIVE_BUCKET).await.unwrap();
    let mut keys: Vec<String> = kv
        .keys()
        .await
        .unwrap()
        .filter_map(|k| async move { k.ok() })
        .collect()
        .await;
    keys.sort();
    let mut out = std::collections::BTreeMap::new();
    for k in keys {
        if let Some(v) = kv.get(&k).await.unwrap() {
            out.insert(k, serde_json::from_slice(&v).unwrap());
        }
    }
    out
}

/// The alerts still active after a sequence of events: each alert's last event unless
/// cleared.
fn still_active(events: &[AlertEvent]) -> std::collections::BTreeMap<String, AlertEvent> {
    let mut m = std::collections::BTreeMap::new();
    for e in events {
        if e.state == AlertState::Cleared {
            m.remove(&nats::kv_key(&e.id));
        } else {
            m.insert(nats::kv_key(&e.id), e.clone());
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_a_3_node_cluster_alert_as_offline_replay_does_once_each() {
    if !nats_available() {
        return;
    }
    let _heavy = heavy().await;
    let cluster = NatsCluster::start("nats-two").await;
    let prefix = unique_prefix("nats");
    let cfg_a = replica_config(&cluster, &prefix, "a");
    let sc = scene("three-pickups");
    let lines = sim::simulate_for(&sc, &cfg_a, &prefix);
    let (expected, _) = offline(&cfg_a, &recording(&lines));
    assert!(
        expected.len() >= 6,
        "the scene raises and clears its pickups"
    );

    let a = vigie::io::replicated::start(cfg_a.clone()).await.unwrap();
    let b = vigie::io::replicated::start(replica_config(&cluster, &prefix, "b"))
        .await
        .unwrap();
    // A coordination centre on the cluster's MQTT listener (node 3), as in §3.
    let mut centre = Sub::new(&cluster.mqtt_url(2), &format!("{prefix}/alerts")).await;
    publish_recording(&cluster.urls(), &lines).await;

    let mut got = vec![];
    while let Some(m) = centre
        .next(if got.len() < expected.len() {
            60.0
        } else {
            3.0
        })
        .await
    {
        got.push(serde_json::from_slice::<AlertEvent>(&m.payload).unwrap());
    }
    assert_eq!(
        comparable(&got),
        comparable(&expected),
        "the centre on MQTT receives each alert event once, as offline replay computes them"
    );
    assert_eq!(
        comparable(&alert_log(&cluster.urls()).await),
        comparable(&expected),
        "the alert log holds each event once"
    );
    // Both replicas computed every event: one stored it, the other found it stored.
    for r in [&a, &b] {
        let c = |l: &str| r.replica.alert_log.with_label_values(&[l]).get();
        assert_eq!(
            c("stored") + c("duplicate") + c("skipped"),
            expected.len() as u64,
            "replica {} logged every event",
            r.name
        );
    }
    let stored = |l: &str| {
        a.replica.alert_log.with_label_values(&[l]).get()
            + b.replica.alert_log.with_label_values(&[l]).get()
    };
    assert_eq!(stored("stored"), expected.len() as u64);
    // One lease holder; the active set it keeps is the scene's.
    assert!(
        eventually(10.0, || a.replica.lease_held.get()
            + b.replica.lease_held.get()
            == 1)
        .await,
        "exactly one replica holds the lease"
    );
    let want = comparable(&still_active(&expected).into_values().collect::<Vec<_>>());
    let mut active = vec![];
    for _ in 0..20 {
        active = comparable(
            &active_set(&cluster.urls())
                .await
                .into_values()
                .collect::<Vec<_>>(),
        );
        if active == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(active, want, "the active set in JetStream");
    a.stop().await;
    b.stop().await;
}

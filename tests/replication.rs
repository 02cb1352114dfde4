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
    /// Ports are picked free and bound a moment later by `nats-server`; in a suite that
    /// opens connections in parallel one of the nine can be taken in between (a CI rehearsal
    /// saw the third node never listen while its peers dialled its route port every second).
    /// A cluster whose nodes are not all listening within 20 s is stopped and started again
    /// on fresh ports, three attempts in all, before the test fails with the nodes' logs.
    pub async fn start(name: &str) -> NatsCluster {
        let mut why = String::new();
        for attempt in 0..3 {
            let mut c = Self::spawn(name);
            match c.wait_listening(20.0).await {
                Ok(()) => {
                    c.wait_ready().await;
                    return c;
                }
                Err(e) => {
                    eprintln!("NATS cluster attempt {attempt}: {e}; again on fresh ports");
                    why = format!("{e}: {}", c.logs());
                    // Dropping it kills its nodes and removes its directory.
                }
            }
        }
        panic!("NATS cluster not listening after three attempts: {why}");
    }

    fn spawn(name: &str) -> NatsCluster {
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
        NatsCluster { nodes, dir }
    }

    /// Every node accepting clients, or why not: a node that exited (a port taken) is
    /// reported at once rather than waited for.
    async fn wait_listening(&mut self, secs: f64) -> Result<(), String> {
        let deadline = std::time::Instant::now() + Duration::from_secs_f64(secs);
        loop {
            let mut down = vec![];
            for (i, n) in self.nodes.iter_mut().enumerate() {
                if let Some(Ok(Some(status))) = n.child.as_mut().map(Child::try_wait) {
                    return Err(format!("node {i} exited ({status})"));
                }
                if std::net::TcpStream::connect(("127.0.0.1", n.client)).is_err() {
                    down.push(i);
                }
            }
            if down.is_empty() {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("nodes {down:?} not listening within {secs} s"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Until JetStream answers with a meta leader elected (a stream can be created).
    async fn wait_ready(&self) {
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

/// A coordination centre on node `i`'s MQTT listener, subscribed to `{prefix}/alerts`, once
/// a probe published on the NATS side reaches it. NATS's MQTT listener sets up a new
/// client's session in JetStream; on a cluster just started that can take seconds, and a
/// subscription made before it is ready was seen to receive nothing: a centre checks its
/// feed, and tries again.
async fn centre_on(cluster: &NatsCluster, i: usize, prefix: &str) -> Sub {
    let nc = nats::connect(&cluster.urls(), "test-probe").await.unwrap();
    let probe = nats::topic_to_subject(&format!("{prefix}/probe"));
    for _ in 0..12 {
        let url = cluster.mqtt_url(i);
        let mut o = vigie::io::mqtt::LinkOptions::new(&url, &unique_prefix("centre"));
        o.subscribe = vec![format!("{prefix}/alerts"), format!("{prefix}/probe")];
        let mut link = vigie::io::mqtt::Link::start(o).unwrap();
        if link.wait_connected(&url, 10).await.is_err() {
            continue;
        }
        for _ in 0..10 {
            nc.publish(probe.clone(), "probe".into()).await.unwrap();
            nc.flush().await.unwrap();
            if let Ok(Some(m)) =
                tokio::time::timeout(Duration::from_millis(500), link.inbound.recv()).await
            {
                assert!(m.topic.ends_with("/probe"), "nothing but the probe yet");
                // Probes still in flight go before the test begins.
                while let Ok(Some(_)) =
                    tokio::time::timeout(Duration::from_millis(300), link.inbound.recv()).await
                {
                }
                return Sub { link };
            }
        }
        link.close().await;
    }
    panic!("no MQTT subscription on node {i} received a probe within a minute");
}

/// A replica's configuration on the cluster: 3 copies of every stream.
fn replica_config(cluster: &NatsCluster, prefix: &str, name: &str) -> Config {
    let mut cfg = config("mqtt://127.0.0.1:1", prefix);
    cfg.mqtt.url = None;
    cfg.nats.urls = cluster.urls();
    cfg.nats.replica = name.into();
    cfg.nats.stream_replicas = 3;
    cfg.nats.mqtt_urls = (0..3).map(|i| cluster.mqtt_url(i)).collect();
    cfg
}

/// What a centre subscribing to `{prefix}/alerts/active/#` on node `i`'s MQTT listener
/// finds retained there, once it equals `want` (or after 30 s).
async fn retained_active_settled(
    cluster: &NatsCluster,
    i: usize,
    prefix: &str,
    want: &[AlertEvent],
) -> Vec<AlertEvent> {
    let mut got = vec![];
    for _ in 0..15 {
        let url = cluster.mqtt_url(i);
        let mut o = vigie::io::mqtt::LinkOptions::new(&url, &unique_prefix("centre-active"));
        o.subscribe = vec![format!("{prefix}/alerts/active/#")];
        let mut link = vigie::io::mqtt::Link::start(o).unwrap();
        got = vec![];
        if link.wait_connected(&url, 10).await.is_ok() {
            while let Ok(Some(m)) =
                tokio::time::timeout(Duration::from_millis(1500), link.inbound.recv()).await
            {
                if m.retain && !m.payload.is_empty() {
                    got.push(serde_json::from_slice::<AlertEvent>(&m.payload).unwrap());
                }
            }
        }
        link.close().await;
        got.sort_by_key(|a| nats::kv_key(&a.id));
        got = comparable(&got);
        if got == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    got
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

/// The active set's bucket: alert id → latest event (an error while a node that led it
/// is down and its group elects another).
async fn active_set(
    urls: &[String],
) -> Result<std::collections::BTreeMap<String, AlertEvent>, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let c = nats::connect(urls, "test").await.map_err(|x| e(&x))?;
    let js = jetstream::new(c);
    let kv = js
        .get_key_value(nats::ACTIVE_BUCKET)
        .await
        .map_err(|x| e(&x))?;
    let mut keys: Vec<String> = kv
        .keys()
        .await
        .map_err(|x| e(&x))?
        .filter_map(|k| async move { k.ok() })
        .collect()
        .await;
    keys.sort();
    let mut out = std::collections::BTreeMap::new();
    for k in keys {
        if let Some(v) = kv.get(&k).await.map_err(|x| e(&x))? {
            out.insert(k, serde_json::from_slice(&v).unwrap());
        }
    }
    Ok(out)
}

/// The active set once it equals `want` (within 20 s), else as last read.
async fn active_set_settled(urls: &[String], want: &[AlertEvent]) -> Vec<AlertEvent> {
    let mut active = vec![];
    for _ in 0..40 {
        match active_set(urls).await {
            Ok(a) => {
                active = comparable(&a.into_values().collect::<Vec<_>>());
                if active == want {
                    break;
                }
            }
            Err(e) => eprintln!("active set not read yet: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    active
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
    let mut lines = sim::simulate_for(&sc, &cfg_a, &prefix);
    // Up to shortly after the last pickup is raised: the scene ends with it active, for the
    // active set (KV and retained MQTT) to hold something.
    let last_raised = {
        let mut p = vigie::Pipeline::new(
            &cfg_a,
            vigie::geo::zones::load(&cfg_a.zones.path).unwrap(),
            true,
        );
        let mut at = 0;
        for (i, l) in lines.iter().enumerate() {
            let out = p.process(&l.topic, &l.exercise_payload(), l.t_rx);
            if out.alerts.iter().any(|a| a.state == AlertState::Raised) {
                at = i;
            }
        }
        at
    };
    lines.truncate(last_raised + 40);
    let (expected, _) = offline(&cfg_a, &recording(&lines));
    assert!(
        expected.len() >= 6,
        "the scene raises and clears its pickups"
    );

    // An alert some earlier deployment left retained and that no longer exists: the lease
    // holder must empty it (it reads the retained set back when it takes the lease).
    {
        let url = cluster.mqtt_url(1);
        let mut link = vigie::io::mqtt::Link::start(vigie::io::mqtt::LinkOptions::new(
            &url,
            &unique_prefix("stale"),
        ))
        .unwrap();
        link.wait_connected(&url, 10).await.unwrap();
        let mut stale = expected[0].clone();
        stale.id = "tb-stale-1".into();
        link.client
            .publish(
                format!("{prefix}/alerts/active/tb-stale-1"),
                rumqttc::QoS::AtLeastOnce,
                true,
                serde_json::to_vec(&stale).unwrap(),
            )
            .await
            .unwrap();
        assert!(link.wait_acked(1, 10.0).await);
        link.close().await;
    }
    let a = vigie::io::replicated::start(cfg_a.clone()).await.unwrap();
    let b = vigie::io::replicated::start(replica_config(&cluster, &prefix, "b"))
        .await
        .unwrap();
    // A coordination centre on the cluster's MQTT listener (node 3), as in §3.
    let mut centre = centre_on(&cluster, 2, &prefix).await;
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
    let active = active_set_settled(&cluster.urls(), &want).await;
    assert_eq!(active, want, "the active set in JetStream");
    assert!(!want.is_empty(), "the scene ends with an alert active");
    assert_eq!(
        retained_active_settled(&cluster, 0, &prefix, &want).await,
        want,
        "the retained active set on the cluster's MQTT listener (§3), the stale alert emptied"
    );
    replica_panels_show_data(&a, &b).await;
    let holder = if a.replica.lease_held.get() == 1 {
        &a.name
    } else {
        &b.name
    };
    let status = retained_status(&cluster, 0, &prefix).await;
    assert_eq!(
        (status["state"].as_str(), status["replica"].as_str()),
        (Some("online"), Some(holder.as_str())),
        "the service's status on MQTT names the lease holder: {status}"
    );
    a.stop().await;
    b.stop().await;
    let status = retained_status(&cluster, 0, &prefix).await;
    assert_eq!(
        status["state"], "offline",
        "both replicas stopped: {status}"
    );
}

/// The retained `{prefix}/status` on node `i`'s MQTT listener.
async fn retained_status(cluster: &NatsCluster, i: usize, prefix: &str) -> serde_json::Value {
    let url = cluster.mqtt_url(i);
    let mut o = vigie::io::mqtt::LinkOptions::new(&url, &unique_prefix("centre-status"));
    o.subscribe = vec![format!("{prefix}/status")];
    let mut link = vigie::io::mqtt::Link::start(o).unwrap();
    link.wait_connected(&url, 10).await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(5), link.inbound.recv())
        .await
        .expect("a retained status")
        .unwrap();
    link.close().await;
    serde_json::from_slice(&m.payload).unwrap()
}

/// The operations dashboard's replica panels, each query run by a real Prometheus that
/// scraped both replicas, return data; every replica series is on a panel.
async fn replica_panels_show_data(
    a: &vigie::io::replicated::ReplicaHandle,
    b: &vigie::io::replicated::ReplicaHandle,
) {
    use super::monitoring::{have, metric_names, panel_queries, replica_query, Prometheus};
    if !have("prometheus") {
        return;
    }
    let prom = Prometheus::start(
        &unique_prefix("prom-replicas"),
        &[a.metrics_addr, b.metrics_addr],
    )
    .await;
    let queries: Vec<(String, String)> = panel_queries()
        .into_iter()
        .filter(|(_, e)| replica_query(e))
        .collect();
    assert!(queries.len() >= 4, "replica panels on the dashboard");
    let failing = || -> Vec<String> {
        queries
            .iter()
            .filter_map(|(panel, e)| prom.fails(e).map(|f| format!("{panel}: {f}")))
            .collect()
    };
    // Scrapes every second; increase() over a window needs two of them.
    let ok = eventually(30.0, || failing().is_empty()).await;
    assert!(ok, "{:#?}", failing());
    let used: std::collections::BTreeSet<String> =
        queries.iter().flat_map(|(_, e)| metric_names(e)).collect();
    let exposed = metric_names(&metrics_text(a.metrics_addr.port()));
    let unpanelled: Vec<&String> = exposed
        .iter()
        .filter(|m| m.starts_with("vigie_replica_") && !used.contains(*m))
        .collect();
    assert!(
        unpanelled.is_empty(),
        "replica series on no panel: {unpanelled:?}"
    );
}

/// `vigie run --nats` as a child process (kill -9 must be a real one), logging to `log`.
fn spawn_replica(
    cluster: &NatsCluster,
    prefix: &str,
    name: &str,
    metrics_port: u16,
    log: &std::path::Path,
) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    super::vigie_bin()
        .args([
            "run",
            "--nats",
            &cluster.urls().join(","),
            "--replica",
            name,
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
        ])
        .env("VIGIE_MQTT_PREFIX", prefix)
        .env("VIGIE_NATS_STREAM_REPLICAS", "3")
        // A snapshot every second: a replica killed mid-pickup resumes from one.
        .env("VIGIE_NATS_SNAPSHOT_INTERVAL_S", "1")
        .env(
            "VIGIE_NATS_MQTT_URLS",
            (0..3)
                .map(|i| cluster.mqtt_url(i))
                .collect::<Vec<_>>()
                .join(","),
        )
        .env("RUST_LOG", "info")
        .stderr(log)
        .spawn()
        .unwrap()
}

/// A replica's `/metrics`, or "" while it is down (killed, restarting).
fn metrics_text(port: u16) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body
}

/// One Prometheus sample of a replica (`name{labels}` as written), or `None`.
fn sample(port: u16, series: &str) -> Option<f64> {
    metrics_text(port).lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// The last lines of both replicas' logs, for a failure's message.
fn tail(logs: &TempDir) -> String {
    ["a.log", "b.log"]
        .iter()
        .map(|f| {
            let t = std::fs::read_to_string(logs.path(f)).unwrap_or_default();
            let lines: Vec<&str> = t.lines().collect();
            format!(
                "--- {f}\n{}",
                lines[lines.len().saturating_sub(80)..].join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every sample line of a replica's metrics that starts with `prefix`.
fn samples(port: u16, prefix: &str) -> Vec<String> {
    metrics_text(port)
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Publishes a recording into the contact stream at `speed` times its pace, every message
/// acknowledged (retried through another node while one is down).
async fn publish_paced(urls: Vec<String>, lines: Vec<RecordLine>, speed: f64) {
    let c = nats::connect(&urls, "test-sensors").await.unwrap();
    let js = jetstream::new(c);
    let start = std::time::Instant::now();
    let t0 = lines[0].t_rx;
    for (i, l) in lines.iter().enumerate() {
        let due = Duration::from_secs_f64(l.t_rx.secs_since(t0) / speed);
        if let Some(w) = due.checked_sub(start.elapsed()) {
            tokio::time::sleep(w).await;
        }
        let subject = nats::topic_to_subject(&l.topic);
        // A message id of its own: a publish retried after its acknowledgement was lost
        // is stored once (a sensor on NATS would do the same).
        let id = format!("line-{i}");
        loop {
            let mut h = async_nats::HeaderMap::new();
            h.insert("Nats-Msg-Id", id.as_str());
            let r = match js
                .publish_with_headers(subject.clone(), h, l.exercise_payload().into())
                .await
            {
                Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match r {
                Ok(()) => break,
                Err(e) => eprintln!("contact {i} not stored yet: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The server leading `stream`, moved off node `keep` first (the centre's node stays up).
async fn leader_not_on(urls: &[String], stream: &str, keep: usize) -> usize {
    let c = nats::connect(urls, "test-admin").await.unwrap();
    let js = jetstream::new(c.clone());
    for _ in 0..30 {
        let mut s = js.get_stream(stream).await.unwrap();
        let leader = s
            .info()
            .await
            .unwrap()
            .cluster
            .clone()
            .and_then(|c| c.leader);
        let i: usize = leader.expect("a leader")[1..].parse().unwrap();
        if i != keep {
            return i;
        }
        let _ = c
            .request(
                format!("$JS.API.STREAM.LEADER.STEPDOWN.{stream}"),
                "".into(),
            )
            .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("{stream}'s leader stayed on node {keep}");
}

/// Under load: passed 3 of 3 beside the other replication test and a `cargo build` on both
/// cores (after the engine and relay replaced consumers that err, and streams were created
/// with retries).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_or_the_stream_leader_killed_mid_pickup_loses_and_duplicates_nothing() {
    if !nats_available() {
        return;
    }
    let _heavy = heavy().await;
    let cluster = NatsCluster::start("nats-kill").await;
    let prefix = unique_prefix("natskill");
    let cfg = replica_config(&cluster, &prefix, "a");
    let lines = sim::simulate_for(&scene("three-pickups"), &cfg, &prefix);
    let (expected, _) = offline(&cfg, &recording(&lines));
    let raised_expected = expected
        .iter()
        .filter(|e| e.state == AlertState::Raised)
        .count();
    assert!(raised_expected >= 3);

    let logs = TempDir::new("nats-kill-logs");
    let ports = [free_port(), free_port()];
    let mut a = KillOnDrop(spawn_replica(
        &cluster,
        &prefix,
        "a",
        ports[0],
        &logs.path("a.log"),
    ));
    let _b = KillOnDrop(spawn_replica(
        &cluster,
        &prefix,
        "b",
        ports[1],
        &logs.path("b.log"),
    ));
    let ready = |p: u16| {
        std::net::TcpStream::connect(("127.0.0.1", p)).is_ok()
            && sample(p, "vigie_replica_lease_held").is_some()
    };
    assert!(eventually(30.0, || ready(ports[0]) && ready(ports[1])).await);
    let mut centre = centre_on(&cluster, 2, &prefix).await;
    // 3,300 s of scene at 110×: half a minute, so that kills land mid-scene.
    let publishing = tokio::spawn(publish_paced(cluster.urls(), lines.clone(), 110.0));

    let mut got: Vec<AlertEvent> = vec![];
    let raised = |got: &[AlertEvent]| got.iter().filter(|e| e.state == AlertState::Raised).count();
    let mut killed_replica = false;
    let mut killed_node = None;
    let mut cluster = cluster;
    while let Some(m) = centre
        .next(if got.len() < expected.len() {
            90.0
        } else {
            5.0
        })
        .await
    {
        got.push(serde_json::from_slice(&m.payload).unwrap());
        if !killed_replica && raised(&got) == 1 {
            // Replica a, mid-pickup: kill -9, then back 2 s later.
            killed_replica = true;
            a.0.kill().unwrap();
            a.0.wait().unwrap();
            // A damaged snapshot beside the good ones: refused, never fatal.
            let js = jetstream::new(nats::connect(&cluster.urls(), "test").await.unwrap());
            let store = js.get_object_store(nats::SNAPSHOT_BUCKET).await.unwrap();
            nats::put_snapshot(&store, "damaged", b"VIGIESNP not a snapshot")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_secs(2)).await;
            a = KillOnDrop(spawn_replica(
                &cluster,
                &prefix,
                "a",
                ports[0],
                &logs.path("a.log"),
            ));
        }
        if killed_node.is_none() && raised(&got) == 2 {
            let i = leader_not_on(&cluster.urls(), nats::CONTACTS_STREAM, 2).await;
            cluster.nodes[i].kill();
            killed_node = Some(i);
        }
    }
    publishing.await.unwrap();
    assert!(
        killed_replica && killed_node.is_some(),
        "both faults happened: {} of {} events seen; replicas at {:?}, {:?}\n{}",
        got.len(),
        expected.len(),
        samples(ports[0], "vigie_replica_"),
        samples(ports[1], "vigie_replica_"),
        tail(&logs)
    );
    let ids = |v: &[AlertEvent]| {
        let mut ids: Vec<String> = v.iter().map(nats::message_id).collect();
        ids.sort();
        ids
    };
    let (g, e) = (ids(&got), ids(&expected));
    let missing: Vec<_> = e.iter().filter(|i| !g.contains(i)).collect();
    let extra: Vec<_> = g.iter().filter(|i| !e.contains(i)).collect();
    assert_eq!(
        g,
        e,
        "every alert event once, nothing more: missing {missing:?}, extra {extra:?}\n{}",
        tail(&logs)
    );
    assert_eq!(
        comparable(&got),
        comparable(&expected),
        "and in the order offline replay gives"
    );
    assert_eq!(raised(&got), raised_expected, "nothing raised twice");
    let want = comparable(&still_active(&expected).into_values().collect::<Vec<_>>());
    let active = active_set_settled(&cluster.urls(), &want).await;
    assert_eq!(active, want, "the active set at the end");
    assert_eq!(
        retained_active_settled(&cluster, 2, &prefix, &want).await,
        want,
        "the retained active set on MQTT at the end"
    );
    // The restarted replica resumed from a snapshot (the damaged one refused), replayed the
    // stream after it and caught up: the same active alerts as the other.
    let series = "vigie_replica_stream_sequence";
    assert!(
        eventually(30.0, || sample(ports[0], series)
            == sample(ports[1], series)
            && sample(ports[0], series) == Some(lines.len() as f64))
        .await,
        "the restarted replica caught up with the stream: {:?} and {:?} of {}\n{}",
        sample(ports[0], series),
        sample(ports[1], series),
        lines.len(),
        tail(&logs)
    );
    let snapshots = |result: &str| {
        sample(
            ports[0],
            &format!("vigie_replica_snapshots_total{{result=\"{result}\"}}"),
        )
        .unwrap_or(0.0)
    };
    assert_eq!(
        snapshots("restored"),
        1.0,
        "resumed from a snapshot\n{}",
        tail(&logs)
    );
    assert!(
        snapshots("refused") >= 1.0,
        "the damaged snapshot was refused"
    );
    // Active alerts per zone: refreshed on every raise and clear, so final (the track
    // gauges are refreshed at most once a second and may hold an earlier count).
    let picture = |p: u16| samples(p, "vigie_alerts_active{");
    assert!(!picture(ports[1]).is_empty());
    assert!(
        eventually(20.0, || picture(ports[0]) == picture(ports[1])).await,
        "the same picture on both replicas: {:?} and {:?}",
        picture(ports[0]),
        picture(ports[1])
    );
    let _ = killed_node.map(|i| cluster.nodes[i].start());
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

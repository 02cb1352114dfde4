//! How fast a replica of the replicated deployment (issue 22, contract §9) consumes the
//! contact stream, beside a plain JetStream consumer of the same stream in the same run.
//!
//!   cargo bench --bench replication
//!   VIGIE_BENCH_SCENE_S=600 cargo bench --bench replication   (a shorter scene)
//!
//! The scene is `fixtures/scenarios/strait-200.toml` (200 targets with clutter seen by three
//! radars, 2,000 AIS vessels) with the taxi-boats of `three-pickups.toml`, run for
//! `VIGIE_BENCH_SCENE_S` seconds (default 3,600: the hour of a busy scene the issue asks to
//! replay in under a minute). Its messages are
//! stored in `VIGIE_CONTACTS` on a `nats-server` (JetStream, file storage) this bench starts
//! on a free loopback port, then:
//! - **baseline**: an ordered consumer reads the whole stream and only counts bytes: what
//!   the server and the client library can deliver on this machine, now;
//! - **vigie**: `vigie run --nats` (its own process, as deployed) starts with the stream
//!   full and replays it; the time is from the process's start until its
//!   `vigie_replica_stream_sequence` reaches the stream's last message, start-up included.
//!   The alert log it wrote is checked against an offline run of the same messages.
//!
//! Contacts are plots and AIS position reports (a radar message carries a scan's plots).
//! Both runs read the same stored messages, one after the other, in one run of the bench,
//! because the machine is shared: the ratio is the figure to compare between runs.

mod common;
use async_nats::jetstream;
use common::cpu_s;
use futures_util::StreamExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vigie::io::nats;
use vigie::pipeline::Pipeline;

fn free_port() -> u16 {
    vigie::io::broker::free_port().expect("a free port")
}

/// A replica's `/metrics` sample `series`, or `None` (not up yet).
fn sample(port: u16, series: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

struct Server {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One `nats-server` with JetStream on file storage in a fresh directory.
fn start_server(port: u16) -> Server {
    let dir = std::env::temp_dir().join(format!("vigie-bench-nats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("n.conf");
    std::fs::write(
        &conf,
        format!(
            "listen: 127.0.0.1:{port}\njetstream {{ store_dir: {:?}, max_memory_store: 256MB, max_file_store: 8GB }}\nmax_payload: 8MB\n",
            dir.join("js")
        ),
    )
    .unwrap();
    let child = Command::new("nats-server")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server on PATH (Debian package nats-server)");
    Server { child, dir }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let scene_s: f64 = std::env::var("VIGIE_BENCH_SCENE_S")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600.0);
    let cfg = vigie::Config::load_with_env(None, &[]).unwrap();
    let load = |name: &str| -> vigie::training::sim::Scene {
        let path = format!(
            "{}/fixtures/scenarios/{name}.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let mut scene = load("strait-200");
    scene.duration_s = scene_s;
    // The three taxi-boats of three-pickups among the traffic: alerts for the log to hold.
    scene.vessels.extend(load("three-pickups").vessels);
    let lines = vigie::training::sim::simulate_for(&scene, &cfg, &cfg.mqtt.prefix);
    let msgs: Vec<(String, Vec<u8>)> = lines
        .iter()
        .map(|l| (nats::topic_to_subject(&l.topic), l.exercise_payload()))
        .collect();
    let bytes: usize = msgs.iter().map(|m| m.1.len()).sum();

    // What the replica must compute: an offline run of the same messages, which also counts
    // the contacts (and times the engine alone, in this process).
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    let mut p = Pipeline::new(&cfg, zones, true);
    let (mut contacts, mut alert_events) = (0usize, 0usize);
    let s = Instant::now();
    for l in &lines {
        let out = p.process(&l.topic, &l.exercise_payload(), l.t_rx);
        contacts += out.contacts;
        alert_events += out.alerts.len();
    }
    let engine_s = s.elapsed().as_secs_f64();
    drop(lines);
    // What a snapshot of that engine, at the end of the scene, costs the engine loop (write)
    // and a restarting replica (read).
    let fp = vigie::snapshot::fingerprint(&cfg, &vigie::geo::zones::load(&cfg.zones.path).unwrap());
    let s = Instant::now();
    let snap = vigie::snapshot::write(&p, &[], fp, 1, 0);
    let snap_write_s = s.elapsed().as_secs_f64();
    let s = Instant::now();
    let restored = vigie::snapshot::read(
        &snap,
        &cfg,
        vigie::geo::zones::load(&cfg.zones.path).unwrap(),
    )
    .expect("the snapshot reads back");
    let snap_read_s = s.elapsed().as_secs_f64();
    let tracks = restored.pipeline.counts().tracks;
    println!(
        "snapshot of the engine at the scene's end ({} tracks): {:.2} MB, written in {:.1} ms, read in {:.1} ms",
        tracks.tentative + tracks.confirmed_dark + tracks.confirmed_ais,
        snap.len() as f64 / 1e6,
        snap_write_s * 1e3,
        snap_read_s * 1e3
    );
    drop(restored);
    println!(
        "scene: strait-200 with three-pickups for {scene_s:.0} s: {} messages, {contacts} contacts, {:.0} MB, {alert_events} alert events",
        msgs.len(),
        bytes as f64 / 1e6
    );

    let port = free_port();
    let _server = start_server(port);
    let urls = vec![format!("nats://127.0.0.1:{port}")];
    let mut cluster = None;
    for _ in 0..100 {
        let o = nats::ClusterOptions {
            urls: urls.clone(),
            name: "bench".into(),
            stream_replicas: 1,
            max_age: Duration::from_secs(86_400),
            duplicate_window: Duration::from_secs(600),
            lease_ttl: Duration::from_secs(3),
        };
        match nats::Cluster::connect(&o, &nats::Subjects::new(&cfg.mqtt.prefix)).await {
            Ok(c) => {
                cluster = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let cluster = cluster.expect("nats-server up with JetStream");

    // Fill the stream, up to 1,000 publishes awaiting their acknowledgement.
    let s = Instant::now();
    let mut acks = std::collections::VecDeque::new();
    for (subject, payload) in &msgs {
        let ack = cluster
            .js
            .publish(subject.clone(), payload.clone().into())
            .await
            .expect("published");
        acks.push_back(ack);
        if acks.len() >= 1000 {
            acks.pop_front().unwrap().await.expect("stored");
        }
    }
    for a in acks {
        a.await.expect("stored");
    }
    let publish_s = s.elapsed().as_secs_f64();
    let last = cluster
        .js
        .get_stream(nats::CONTACTS_STREAM)
        .await
        .unwrap()
        .get_info()
        .await
        .unwrap()
        .state
        .last_sequence;
    assert_eq!(last as usize, msgs.len());

    // Baseline: read it all with an ordered consumer, doing nothing with it.
    let s = Instant::now();
    let consumer = cluster
        .contacts
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .unwrap();
    let mut stream = consumer.messages().await.unwrap();
    let (mut n, mut read_bytes) = (0usize, 0usize);
    while n < msgs.len() {
        let m = stream.next().await.expect("more").expect("a message");
        read_bytes += m.payload.len();
        n += 1;
    }
    let baseline_s = s.elapsed().as_secs_f64();
    drop(stream);
    assert_eq!(read_bytes, bytes);

    // vigie: a replica started with the stream full.
    let metrics_port = free_port();
    let s = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args([
            "run",
            "--nats",
            &urls[0],
            "--replica",
            "bench",
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
        ])
        .env("VIGIE_NATS_STREAM_REPLICAS", "1")
        .env("VIGIE_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("vigie starts");
    let deadline = Instant::now() + Duration::from_secs(900);
    loop {
        if sample(metrics_port, "vigie_replica_stream_sequence").unwrap_or(0.0) >= last as f64 {
            break;
        }
        assert!(Instant::now() < deadline, "the replica never caught up");
        assert!(child.try_wait().unwrap().is_none(), "the replica died");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let vigie_s = s.elapsed().as_secs_f64();
    let vigie_cpu = cpu_s(child.id());
    // Its alert log: every event of the offline run, once (the log may still be flushing).
    let alerts = cluster.js.get_stream(nats::ALERTS_STREAM).await.unwrap();
    let mut logged = 0;
    for _ in 0..100 {
        logged = alerts.get_info().await.unwrap().state.messages as usize;
        if logged >= alert_events {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        logged, alert_events,
        "the replica logged what offline replay raises"
    );

    let rate = |secs: f64| contacts as f64 / secs;
    println!(
        "publish into the stream: {:.1} s ({:.0} msg/s)\n",
        publish_s,
        msgs.len() as f64 / publish_s
    );
    println!("| reader | wall s | messages/s | contacts/s | vs baseline |");
    println!("|---|---|---|---|---|");
    println!(
        "| plain ordered consumer (baseline) | {baseline_s:.2} | {:.0} | {:.0} | 1.00 |",
        msgs.len() as f64 / baseline_s,
        rate(baseline_s)
    );
    println!(
        "| vigie run --nats (process start to caught up; {vigie_cpu:.1} CPU s) | {vigie_s:.2} | {:.0} | {:.0} | {:.2} |",
        msgs.len() as f64 / vigie_s,
        rate(vigie_s),
        baseline_s / vigie_s
    );
    println!(
        "| engine alone, in memory (this process) | {engine_s:.2} | {:.0} | {:.0} | {:.2} |",
        msgs.len() as f64 / engine_s,
        rate(engine_s),
        baseline_s / engine_s
    );
    println!(
        "\n{scene_s:.0} s of scene replayed from the stream in {vigie_s:.1} s ({:.0}x real time); {logged} alert events logged, as offline",
        scene_s / vigie_s
    );
}

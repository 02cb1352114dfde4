//! What an operator's page costs vigie (issue 20): 2,000 tracks streamed at 1 Hz on
//! `/api/events` must cost at most 5 % more CPU than no page at all.
//!
//!   cargo bench --bench console_sse                                              # embedded broker
//!   VIGIE_BENCH_MQTT_URL=mqtt://127.0.0.1:1883 cargo bench --bench console_sse   # Mosquitto
//!   VIGIE_BENCH_PHASE_S=40 VIGIE_BENCH_PHASES=6   (seconds per phase, phases after warm-up)
//!
//! One `vigie run` (its own process, as deployed, console on) is fed 2,000 vessels crossing
//! the strait (three in four with AIS, five radars with clutter, each turning once a second)
//! in real time, so about 2,000 confirmed tracks each publish a state a second. After a warm-up (tracks confirmed),
//! phases alternate without and with an SSE client reading `/api/events` as a browser does;
//! vigie's CPU time (user + system, `/proc/PID/stat`) is read at each phase boundary. Phases
//! alternate in one run because the machine is shared: a neighbour's load falls on both.
//! The broker's and the publisher's CPU are not vigie's: with the embedded broker (started
//! in this bench's process, not vigie's) neither is counted.

mod common;
use common::cpu_s;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use vigie::io::mqtt::{Link, LinkOptions};

const SCENE: &str = r#"
name = "console-load"
start = "2026-03-20T12:00:00.000Z"
duration_s = 420
seed = 2020

[traffic]
count = 2000
lat = [50.45, 51.15]
lon = [1.00, 1.50]
ais_fraction = 0.75
"#;

/// An SSE reader on its own thread, as a browser tab: reads and counts events until told
/// to stop.
struct Reader {
    stop: Arc<AtomicBool>,
    events: Arc<AtomicU64>,
    thread: std::thread::JoinHandle<()>,
}

impl Reader {
    fn start(addr: &str) -> Reader {
        let stop = Arc::new(AtomicBool::new(false));
        let events = Arc::new(AtomicU64::new(0));
        let (s, e) = (stop.clone(), events.clone());
        let mut sock = std::net::TcpStream::connect(addr).expect("console listening");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        write!(
            sock,
            "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
        )
        .unwrap();
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 16];
            while !s.load(Ordering::Relaxed) {
                match sock.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let k = buf[..n].windows(7).filter(|w| w == b"\nevent:").count();
                        e.fetch_add(k as u64, Ordering::Relaxed);
                    }
                    Err(err)
                        if matches!(
                            err.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
        });
        Reader {
            stop,
            events,
            thread,
        }
    }

    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
        self.events.load(Ordering::Relaxed)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let url = std::env::var("VIGIE_BENCH_MQTT_URL").unwrap_or_else(|_| {
        let port = vigie::io::broker::free_port().unwrap();
        vigie::io::broker::start(format!("127.0.0.1:{port}").parse().unwrap(), 4 << 20).unwrap();
        format!("mqtt://127.0.0.1:{port}")
    });
    let env = |k: &str, d: f64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let phase_s = env("VIGIE_BENCH_PHASE_S", 40.0);
    let phases = env("VIGIE_BENCH_PHASES", 6.0) as usize;
    let warm_up_s = 60.0;
    // Radars turning once a second, so that a track seen by radar is updated, and shown,
    // once a second: the page's worst case.
    let mut cfg = vigie::Config::load_with_env(None, &[]).unwrap();
    for r in &mut cfg.radar {
        r.scan_period_s = 1.0;
    }
    let cfg_path = std::env::temp_dir().join(format!("vigie-ssebench-{}.toml", std::process::id()));
    std::fs::write(&cfg_path, toml::to_string(&cfg).unwrap()).unwrap();
    let scene: vigie::training::sim::Scene = toml::from_str(SCENE).unwrap();
    let tag = format!("ssebench{}", std::process::id());
    let lines = vigie::training::sim::simulate_for(&scene, &cfg, &tag);
    let need_s = warm_up_s + phase_s * phases as f64 + 5.0;
    assert!(
        lines.last().unwrap().t_rx.secs_since(lines[0].t_rx) > need_s,
        "the scene lasts {need_s} s"
    );

    let console = format!("127.0.0.1:{}", vigie::io::broker::free_port().unwrap());
    let metrics = format!("127.0.0.1:{}", vigie::io::broker::free_port().unwrap());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args([
            "run",
            "--config",
            cfg_path.to_str().unwrap(),
            "--mqtt",
            &url,
            "--metrics-listen",
            &metrics,
            "--console-listen",
            &console,
        ])
        .env("VIGIE_MQTT_PREFIX", &tag)
        .env("VIGIE_MQTT_CLIENT_ID", format!("{tag}-vigie"))
        .env("VIGIE_ALERTS_MEMORY_FILE", "")
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("vigie binary (cargo builds it for benches)");
    let pid = child.id();
    let mut o = LinkOptions::new(&url, &format!("{tag}-pub"));
    o.inbound_capacity = 16;
    let mut publ = Link::start(o).unwrap();
    publ.wait_connected(&url, 10).await.unwrap();
    // Until the console answers.
    for _ in 0..100 {
        if std::net::TcpStream::connect(&console).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The feed, in real time, on its own task.
    let client = publ.client.clone();
    let feed = tokio::spawn(async move {
        let start = Instant::now();
        let t0 = lines[0].t_rx;
        for l in &lines {
            let due = Duration::from_secs_f64(l.t_rx.secs_since(t0));
            if let Some(w) = due.checked_sub(start.elapsed()) {
                tokio::time::sleep(w).await;
            }
            let _ = client
                .publish(
                    l.topic.clone(),
                    rumqttc::QoS::AtMostOnce,
                    false,
                    l.exercise_payload(),
                )
                .await;
        }
    });

    tokio::time::sleep(Duration::from_secs_f64(warm_up_s)).await;
    let (_, _, body) = http_get(&metrics, "/metrics");
    let confirmed: f64 = body
        .lines()
        .filter(|l| l.starts_with("vigie_tracks{") && l.contains("confirmed"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    println!("after {warm_up_s:.0} s: {confirmed} confirmed tracks");
    let mut rows = Vec::new();
    for k in 0..phases {
        let with_client = k % 2 == 1;
        let reader = with_client.then(|| Reader::start(&console));
        let (c0, w0) = (cpu_s(pid), Instant::now());
        tokio::time::sleep(Duration::from_secs_f64(phase_s)).await;
        let (c1, w1) = (cpu_s(pid), Instant::now());
        let events = reader.map(Reader::stop).unwrap_or(0);
        let wall = w1.duration_since(w0).as_secs_f64();
        let cpu = (c1 - c0) / wall;
        println!(
            "phase {k}: {:>9}  vigie CPU {:.1} % of a core, {:.0} SSE events/s",
            if with_client { "1 client" } else { "no client" },
            cpu * 100.0,
            events as f64 / wall
        );
        rows.push((with_client, cpu, events as f64 / wall));
    }
    feed.abort();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let mean = |on: bool| {
        let v: Vec<f64> = rows.iter().filter(|r| r.0 == on).map(|r| r.1).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let (off, on) = (mean(false), mean(true));
    let rate: f64 = rows.iter().filter(|r| r.0).map(|r| r.2).sum::<f64>() / (phases / 2) as f64;
    println!(
        "vigie CPU without a client {:.1} %, with one {:.1} % of a core: {:.3}x ({:+.1} %); \
         {rate:.0} SSE events/s to the client",
        off * 100.0,
        on * 100.0,
        on / off,
        (on / off - 1.0) * 100.0
    );
}

/// A plain HTTP/1.0 GET (status, headers, body).
fn http_get(addr: &str, path: &str) -> (u16, String, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

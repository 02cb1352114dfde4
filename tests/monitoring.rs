//! Monitoring: the exposition passes promtool, its counters agree with what a scene
//! contained, and every dashboard panel's query returns data from a real Prometheus that
//! scraped vigie during a replay.
//!
//! Needs `promtool` and `prometheus` (Debian package `prometheus`). Without them these tests
//! say so and pass, unless `VIGIE_REQUIRE_PROMETHEUS` is set, as `.ci/run` does.

use crate::util::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;
use vigie::io::{replay, run};
use vigie::training::sim;

pub fn have(tool: &str) -> bool {
    super::util::tool_available(
        tool,
        "VIGIE_REQUIRE_PROMETHEUS",
        "apt-get install prometheus",
    )
}

/// A plain HTTP/1.1 GET; returns (status line, headers, body).
pub fn http_get(addr: SocketAddr, path: &str) -> (String, String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let (status, headers) = head.split_once("\r\n").unwrap_or((head, ""));
    let body = if headers
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status.to_string(), headers.to_string(), body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((len, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn scene_recording(prefix: &str, cfg: &vigie::Config) -> (String, u64) {
    let sc: sim::Scene = toml::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/scenarios/equihen-pickup.toml"
        ))
        .unwrap(),
    )
    .unwrap();
    let lines = sim::simulate_for(&sc, cfg, prefix);
    let contacts: u64 = lines
        .iter()
        .map(|l| {
            l.payload
                .get("plots")
                .and_then(Value::as_array)
                .map_or(1, |p| p.len() as u64)
        })
        .sum();
    (
        lines
            .iter()
            .map(|l| serde_json::to_string(l).unwrap() + "\n")
            .collect(),
        contacts,
    )
}

/// The sum of the series of an exposition whose lines start with `series`.
pub(super) fn sample(body: &str, series: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exposition_passes_promtool_and_counts_what_the_scene_contained() {
    if !have("promtool") {
        return;
    }
    let _heavy = heavy().await;
    let url = embedded_url();
    let prefix = unique_prefix("metrics");
    let cfg = config(&url, &prefix);
    let (rec, contacts) = scene_recording(&prefix, &cfg);
    let h = run::start(cfg).await.unwrap();
    let addr = h.metrics_addr;
    assert!(
        eventually(10.0, || http_get(addr, "/readyz").0.contains("200")).await,
        "ready once connected"
    );
    replay::replay_live(&url, &Default::default(), rec.as_bytes(), Some(20.0))
        .await
        .unwrap();
    // Wait until every contact of the scene has been processed.
    eventually(15.0, || {
        let (_, _, b) = http_get(addr, "/metrics");
        sample(&b, "vigie_contacts_total") as u64 == contacts
    })
    .await;
    let (status, headers, body) = http_get(addr, "/metrics");
    assert!(status.contains("200"), "{status}");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{headers}"
    );
    assert_eq!(
        sample(&body, "vigie_contacts_total") as u64,
        contacts,
        "every contact of the scene counted"
    );
    assert_eq!(
        sample(
            &body,
            "vigie_alerts_total{kind=\"taxi_boat_pickup\",state=\"raised\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &body,
            "vigie_alerts_total{kind=\"taxi_boat_pickup\",state=\"cleared\"}"
        ),
        1.0
    );
    assert_eq!(sample(&body, "vigie_rejected_total"), 0.0);
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
    let out = p.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(http_get(addr, "/healthz").0.contains("200"));
    h.stop().await;
    clear_retained(&url, &prefix).await;
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A real Prometheus scraping `targets` every second, on a free port in its own directory.
pub struct Prometheus {
    child: std::process::Child,
    pub addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl Prometheus {
    pub async fn start(name: &str, targets: &[SocketAddr]) -> Prometheus {
        let port = vigie::io::broker::free_port().unwrap();
        let dir = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        std::fs::write(
            dir.join("prometheus.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: vigie\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .unwrap();
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        assert!(
            eventually(30.0, || TcpStream::connect(addr).is_ok()).await,
            "prometheus listens"
        );
        Prometheus { child, addr, dir }
    }

    /// `None` when `expr` ran and returned data, else what went wrong.
    pub fn fails(&self, expr: &str) -> Option<String> {
        let (_, _, body) = http_get(self.addr, &format!("/api/v1/query?query={}", encode(expr)));
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        if v["status"] != "success" {
            Some(format!("`{expr}` did not run: {body}"))
        } else if v["data"]["result"].as_array().is_none_or(|r| r.is_empty()) {
            Some(format!("`{expr}` returned no data"))
        } else {
            None
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a query is about the replicated deployment's replicas (`vigie run --nats`):
/// those panels are checked against real replicas in `tests/replication.rs`.
pub fn replica_query(expr: &str) -> bool {
    expr.contains("vigie_replica_")
}

pub fn panel_queries() -> Vec<(String, String)> {
    let mut v = vec![];
    for f in ["vigie-operations.json", "vigie-situation.json"] {
        let d: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{}/dashboards/{f}", env!("CARGO_MANIFEST_DIR")))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            d["templating"]["list"][0]["name"], "datasource",
            "{f}: ${{datasource}} templating"
        );
        for p in d["panels"].as_array().unwrap() {
            assert_eq!(
                p["datasource"]["uid"], "${datasource}",
                "{f}: {}",
                p["title"]
            );
            for t in p["targets"].as_array().unwrap() {
                v.push((
                    format!("{f}: {}", p["title"].as_str().unwrap()),
                    t["expr"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    v
}

pub fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(k) = text[i..].find("vigie_") {
        let start = i + k;
        let mut end = start;
        while end < b.len() && (b[end].is_ascii_lowercase() || b[end] == b'_') {
            end += 1;
        }
        let name = &text[start..end];
        let name = name
            .strip_suffix("_bucket")
            .or(name.strip_suffix("_sum"))
            .or(name.strip_suffix("_count"))
            .unwrap_or(name);
        out.insert(name.to_string());
        i = end;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    if !have("prometheus") {
        return;
    }
    let _heavy = heavy().await;
    let url = embedded_url();
    let prefix = unique_prefix("prom");
    let cfg = config(&url, &prefix);
    let (rec, _) = scene_recording(&prefix, &cfg);
    let h = start_ready(cfg).await;
    let prom = Prometheus::start(&prefix, &[h.metrics_addr]).await;
    // The scene at 50x real time: 22 s of scrapes during a pickup.
    replay::replay_live(&url, &Default::default(), rec.as_bytes(), Some(50.0))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;

    let exposed = metric_names(&http_get(h.metrics_addr, "/metrics").2);
    let mut used = BTreeSet::new();
    let mut failures = vec![];
    // One process on MQTT: the replica panels' series are not here.
    for (panel, expr) in panel_queries() {
        if replica_query(&expr) {
            continue;
        }
        used.extend(metric_names(&expr));
        if let Some(f) = prom.fails(&expr) {
            failures.push(format!("{panel}: {f}"));
        }
    }
    drop(prom);
    h.stop().await;
    clear_retained(&url, &prefix).await;
    assert!(failures.is_empty(), "{failures:#?}");
    let missing: Vec<_> = used.difference(&exposed).collect();
    assert!(
        missing.is_empty(),
        "panels use metrics vigie does not expose: {missing:?}"
    );
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    let unpanelled = docs
        .lines()
        .find(|l| l.starts_with("Intentionally unpanelled:"))
        .map(metric_names)
        .unwrap_or_default();
    let orphans: Vec<_> = exposed
        .iter()
        .filter(|m| !used.contains(*m) && !unpanelled.contains(*m))
        .collect();
    assert!(
        orphans.is_empty(),
        "exposed but on no panel and not listed as unpanelled in docs/metrics.md: {orphans:?}"
    );
}

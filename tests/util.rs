//! Shared test utilities: the embedded broker on a free port, the list of brokers every
//! MQTT test runs against, unique topic prefixes, and subscribers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;
use vigie::io::mqtt::{Inbound, Link, LinkOptions};
use vigie::Config;

/// A file under the shared data folder (`../shared` beside the checkout).
pub fn shared(rel: &str) -> PathBuf {
    let base = std::env::var_os("VIGIE_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    base.join(rel)
}

/// The embedded broker (rumqttd), started once per test process on a free port.
pub fn embedded_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let port = vigie::io::broker::free_port().expect("a free port");
        let addr = format!("127.0.0.1:{port}").parse().unwrap();
        vigie::io::broker::start(addr, 4 * 1024 * 1024).expect("embedded broker starts");
        format!("mqtt://127.0.0.1:{port}")
    })
    .clone()
}

/// Every broker a test must pass against: the embedded one, and the real broker named by
/// `VIGIE_TEST_MQTT_URL` (CI sets it to the machine's Mosquitto).
pub fn brokers() -> Vec<(&'static str, String)> {
    let mut v = vec![("embedded", embedded_url())];
    if let Ok(u) = std::env::var("VIGIE_TEST_MQTT_URL") {
        if !u.is_empty() {
            v.push(("external", u));
        }
    }
    v
}

/// A topic prefix no other test (or earlier run, on a shared broker) uses.
pub fn unique_prefix(name: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "vigietest-{name}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        vigie::EventTime::now().0 % 1_000_000_000
    )
}

/// The default configuration, pointed at `url` with its own prefix, client id and a free
/// metrics port.
pub fn config(url: &str, prefix: &str) -> Config {
    let mut c = Config::load_with_env(None, &[]).expect("defaults load");
    c.mqtt.url = Some(url.to_string());
    c.mqtt.prefix = prefix.to_string();
    c.mqtt.client_id = format!("{prefix}-vigie");
    c.metrics.listen = "127.0.0.1:0".into();
    // Off unless a test turns it on: tests side by side must not share port 8080.
    c.console.listen = String::new();
    c.console.incidents_file = std::env::temp_dir().join(format!("{prefix}-incidents.sqlite"));
    c.alerts.memory_file = std::env::temp_dir().join(format!("{prefix}-memory.json"));
    c
}

/// A test client subscribed to `filter`.
pub struct Sub {
    pub link: Link,
}

impl Sub {
    pub async fn new(url: &str, filter: &str) -> Sub {
        let mut o = LinkOptions::new(url, &format!("sub-{}", unique_prefix("c")));
        o.subscribe = vec![filter.to_string()];
        let mut link = Link::start(o).expect("link");
        link.wait_connected(url, 10)
            .await
            .expect("subscriber connects");
        // Let the SUBSCRIBE reach the broker before the test publishes.
        tokio::time::sleep(Duration::from_millis(200)).await;
        Sub { link }
    }

    pub async fn next(&mut self, secs: f64) -> Option<Inbound> {
        tokio::time::timeout(Duration::from_secs_f64(secs), self.link.inbound.recv())
            .await
            .ok()
            .flatten()
    }

    /// Messages until `secs` pass with nothing new.
    pub async fn drain(&mut self, secs: f64) -> Vec<Inbound> {
        let mut v = vec![];
        while let Some(m) = self.next(secs).await {
            v.push(m);
        }
        v
    }
}

/// A publishing client.
pub async fn publisher(url: &str) -> Link {
    let mut link = Link::start(LinkOptions::new(
        url,
        &format!("pub-{}", unique_prefix("p")),
    ))
    .expect("link");
    link.wait_connected(url, 10)
        .await
        .expect("publisher connects");
    link
}

/// Tests that replay whole scenes live take this lock so they do not run at the same time.
/// On 2 cores, two concurrent replays through the embedded broker (rumqttd 0.20) made it
/// drop a few QoS 1 publishes without acknowledging them (8-15 of 2,420 measured); tests
/// that assert exact equality with offline processing must not depend on that.
pub async fn heavy() -> tokio::sync::MutexGuard<'static, ()> {
    HEAVY.lock().await
}

/// The same lock for plain (non-async) tests that process whole scenes offline: their CPU
/// load alone was enough to make rumqttd drop a retained clear in a concurrent live test.
pub fn heavy_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    HEAVY.blocking_lock()
}

static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits until `f` holds, polling, for at most `secs`.
pub async fn eventually(secs: f64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs_f64(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}

/// Removes the retained messages a test left under `prefix` (status, active alerts), so a
/// shared broker such as the machine's Mosquitto does not keep them.
pub async fn clear_retained(url: &str, prefix: &str) {
    let mut sub = Sub::new(url, &format!("{prefix}/#")).await;
    let topics: std::collections::BTreeSet<String> = sub
        .drain(0.5)
        .await
        .into_iter()
        .filter(|m| !m.payload.is_empty())
        .map(|m| m.topic)
        .collect();
    let p = publisher(url).await;
    for t in topics {
        p.client
            .publish(t, rumqttc::QoS::AtLeastOnce, true, Vec::<u8>::new())
            .await
            .expect("clearing a retained message");
    }
    p.close().await;
}

/// Is `tool` installed (on the PATH)? Without it, tests that need it skip with a message,
/// unless the environment variable `require` is set (CI), which makes its absence a failure.
pub fn tool_available(tool: &str, require: &str, install: &str) -> bool {
    let found = std::process::Command::new(tool)
        .arg("--help")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !found {
        assert!(
            std::env::var_os(require).is_none(),
            "{tool} is required ({require} is set): {install}"
        );
        eprintln!("skipped: {tool} not installed ({install})");
    }
    found
}

/// Starts vigie and waits until it is subscribed (`/readyz` answers 200 once the broker
/// has acknowledged the subscription). Without the wait, a test that publishes at once can
/// beat the subscription, and the broker drops what nobody is subscribed to: under load
/// (the full suite beside other work) a test saw nothing processed at all.
pub async fn start_ready(cfg: Config) -> vigie::io::run::ServiceHandle {
    let h = vigie::io::run::start(cfg).await.expect("vigie starts");
    let addr = h.metrics_addr;
    assert!(
        eventually(20.0, || crate::monitoring::http_get(addr, "/readyz")
            .0
            .contains("200"))
        .await,
        "vigie subscribed within 20 s"
    );
    h
}

/// Now, `offset_s` from now, in the contract's time form: live contacts must carry times
/// near their arrival (contract §1), so tests that publish contacts of their own stamp them
/// so.
pub fn now_rfc(offset_s: f64) -> String {
    vigie::EventTime::now().plus_secs(offset_s).to_rfc3339()
}

//! Contract §7, the operator's console, tested as an officer uses it: in a real browser
//! (Debian's chromium, driven over the DevTools protocol), on a replayed scene through a real
//! broker; Server-Sent Events resumed with `Last-Event-ID`; logins; the incident record
//! after kill -9.

use super::monitoring::http_get;
use super::util::{self, brokers, eventually, tool_available, unique_prefix, Sub};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigie::io::replay;
use vigie::training::sim;

fn chromium_available() -> bool {
    tool_available(
        "chromium",
        "VIGIE_REQUIRE_CHROMIUM",
        "apt-get install chromium",
    )
}

/// A headless chromium and one DevTools connection per page.
struct Browser {
    child: Child,
    port: u16,
    dir: PathBuf,
}

struct Page {
    ws: tungstenite::WebSocket<TcpStream>,
    next: u64,
}

impl Browser {
    fn start() -> Browser {
        let dir = std::env::temp_dir().join(unique_prefix("chromium"));
        let child = Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
                "--window-size=1400,900",
            ])
            .arg(format!("--user-data-dir={}", dir.display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        // Chromium writes the port it chose to DevToolsActivePort in its profile.
        let file = dir.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            {
                break p;
            }
            assert!(Instant::now() < deadline, "chromium gave no DevTools port");
            std::thread::sleep(Duration::from_millis(50));
        };
        Browser { child, port, dir }
    }

    /// A new tab on `url`.
    fn open(&self, url: &str) -> Page {
        let addr: SocketAddr = format!("127.0.0.1:{}", self.port).parse().unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "PUT /json/new?{url} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        // DevTools keeps the connection open: read as far as Content-Length says.
        let mut r = BufReader::new(s);
        let mut len = 0;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let target: Value = serde_json::from_slice(&body).unwrap();
        let ws_url = target["webSocketDebuggerUrl"].as_str().unwrap();
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let (ws, _) = tungstenite::client(ws_url, stream).expect("DevTools websocket");
        Page { ws, next: 1 }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Page {
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(tungstenite::Message::text(msg)).unwrap();
        loop {
            let m = self.ws.read().expect("DevTools answers");
            let Ok(text) = m.to_text() else { continue };
            let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    /// Evaluates `js` in the page and returns its value.
    fn eval(&mut self, js: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": js, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// Polls `js` until it is true.
    fn wait(&mut self, secs: f64, js: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        while Instant::now() < deadline {
            if self.eval(js) == json!(true) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn screenshot(&mut self, path: &std::path::Path) {
        use base64::Engine as _;
        let r = self.call("Page.captureScreenshot", json!({"format": "png"}));
        let png = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

fn post(addr: SocketAddr, path: &str, body: &Value, auth: Option<&str>) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    let body = body.to_string();
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let code = raw[9..12].parse().unwrap();
    let json = raw
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (code, json)
}

/// The equihen-pickup scene as recorded lines, cut just after its pickup is raised (so the
/// alert is still active when the page looks), and the raised alert's id.
fn scene_until_raised(cfg: &vigie::Config, prefix: &str) -> (String, String) {
    let sc = super::scene("equihen-pickup");
    let lines = sim::simulate_for(&sc, cfg, prefix);
    let (alerts, _) = super::offline(cfg, &super::recording(&lines));
    let raised = alerts
        .iter()
        .find(|a| a.state == vigie::behaviour::AlertState::Raised)
        .expect("the scene raises its pickup")
        .clone();
    let upto: Vec<_> = lines
        .into_iter()
        .filter(|l| l.t_rx.secs_since(raised.t) < 20.0)
        .collect();
    (super::recording(&upto), raised.id)
}

/// Publishes `rec` through the broker at 100x and waits until the console lists `alert_id`.
async fn replay_until_listed(url: &str, web: SocketAddr, rec: &str, alert_id: &str) {
    replay::replay_live(url, &Default::default(), rec.as_bytes(), Some(100.0))
        .await
        .unwrap();
    assert!(
        eventually(20.0, || http_get(web, "/api/snapshot").2.contains(alert_id)).await,
        "the snapshot lists {alert_id}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_the_picture_and_shares_actions_in_a_real_browser() {
    if !chromium_available() {
        return;
    }
    let _heavy = util::heavy().await;
    for (broker, url) in brokers() {
        let prefix = unique_prefix("console");
        let mut cfg = util::config(&url, &prefix);
        cfg.console.listen = "127.0.0.1:0".into();
        let h = util::start_ready(cfg.clone()).await;
        let web = h.console_addr.expect("console listening");
        let (rec, alert_id) = scene_until_raised(&cfg, &prefix);
        replay_until_listed(&url, web, &rec, &alert_id).await;
        let mut actions = Sub::new(&url, &format!("{prefix}/alerts/actions/#")).await;

        let browser = Browser::start();
        let mut one = browser.open(&format!("http://{web}/"));
        let mut two = browser.open(&format!("http://{web}/"));
        let shown =
            format!("document.querySelector('#alerts li.alert[data-id=\"{alert_id}\"]') !== null");
        for p in [&mut one, &mut two] {
            assert!(p.wait(20.0, &shown), "{broker}: the page lists the alert");
            assert!(
                p.wait(10.0, "Number(document.getElementById('track-count').textContent) > 0 && document.querySelectorAll('#tracks tbody tr').length > 0"),
                "{broker}: tracks shown"
            );
            assert_eq!(
                p.eval("document.getElementById('banner').hidden"),
                json!(false),
                "{broker}: replayed data carries the exercise banner"
            );
        }
        let text = one.eval(&format!(
            "document.querySelector('#alerts li.alert[data-id=\"{alert_id}\"]').textContent"
        ));
        let text = text.as_str().unwrap();
        assert!(
            text.contains("Taxi-boat pickup") && text.contains("dark") && text.contains("kn"),
            "{text}"
        );
        // Which sensors saw the boat and how well it is placed (issue 18).
        assert!(text.contains("seen by ") && text.contains(" m"), "{text}");
        // Its SITREP (contract §8's companion), folded under the alert.
        let sitrep = one.eval(&format!(
            "(document.querySelector('#alerts li.alert[data-id=\"{alert_id}\"] details.sitrep p') || {{}}).textContent || ''"
        ));
        let sitrep = sitrep.as_str().unwrap();
        assert!(
            sitrep.starts_with(&format!("SITREP {alert_id} EXERCISE"))
                && sitrep.contains("from the beach at"),
            "{broker}: {sitrep}"
        );
        // Acknowledge clicked on the first page shows on the second and on MQTT.
        one.eval("document.getElementById('operator').value = 'cdt Leroy'");
        one.eval(&format!(
            "document.querySelector('#alerts li.alert[data-id=\"{alert_id}\"] button[data-do=acknowledge]').click()"
        ));
        let last_action = format!(
            "(document.querySelector('#alerts li.alert[data-id=\"{alert_id}\"] .last-action') || {{}}).textContent || ''"
        );
        assert!(
            two.wait(
                10.0,
                &format!("({last_action}).includes('acknowledged by cdt Leroy')")
            ),
            "{broker}: the second page shows the acknowledgement: {}",
            two.eval(&last_action)
        );
        let m = actions.next(10.0).await.expect("the action on MQTT");
        assert_eq!(m.topic, format!("{prefix}/alerts/actions/{alert_id}"));
        assert!(m.retain || !m.payload.is_empty());
        let a: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(
            (a["action"].as_str(), a["by"].as_str()),
            (Some("acknowledge"), Some("cdt Leroy"))
        );
        // Assigned over the API: on both pages.
        let (code, _) = post(
            web,
            &format!("/api/alerts/{alert_id}/actions"),
            &json!({"action": "assign", "by": "CROSS", "unit": "SNSM Boulogne"}),
            None,
        );
        assert_eq!(code, 200);
        for p in [&mut one, &mut two] {
            assert!(p.wait(
                10.0,
                &format!("({last_action}).includes('assigned to SNSM Boulogne')")
            ));
        }
        // Refused with a clear message: unknown alert, missing field.
        let (code, body) = post(
            web,
            "/api/alerts/nope/actions",
            &json!({"action": "acknowledge"}),
            None,
        );
        assert_eq!(code, 404, "{body}");
        assert!(body["error"].as_str().unwrap().contains("no alert nope"));
        let (code, body) = post(
            web,
            &format!("/api/alerts/{alert_id}/actions"),
            &json!({"action": "resolve"}),
            None,
        );
        assert_eq!(code, 422, "{body}");
        // Tentative tracks: hidden by default; the toggle shows them (listed, in grey) on
        // that page only, and the contract's snapshot never carries them.
        let (_, _, snap) = http_get(web, "/api/snapshot?tentative=1");
        let snap: Value = serde_json::from_str(&snap).unwrap();
        let tentative = snap["tentative"].as_array().unwrap().len();
        assert!(
            tentative > 0,
            "{broker}: the scene's clutter leaves tentative tracks"
        );
        let rows = "document.querySelectorAll('#tracks tr.tentative').length";
        assert_eq!(
            two.eval("document.getElementById('show-tentative').checked"),
            json!(false)
        );
        assert_eq!(two.eval(rows), json!(0), "{broker}: hidden by default");
        two.eval("document.getElementById('show-tentative').click()");
        assert!(
            two.wait(10.0, &format!("{rows} > 0 && document.getElementById('tentative-count').textContent.startsWith('(+')")),
            "{broker}: the toggle shows the {tentative} tentative track(s)"
        );
        assert!(
            two.wait(10.0, &shown),
            "{broker}: the alert still listed after the switch"
        );
        assert_eq!(
            one.eval(rows),
            json!(0),
            "{broker}: the other page unchanged"
        );
        two.eval("document.getElementById('show-tentative').click()");
        assert!(
            two.wait(10.0, &format!("{rows} === 0")),
            "{broker}: toggled off"
        );
        let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console.png");
        one.call("Page.bringToFront", json!({}));
        one.screenshot(&shot);
        if let Some(to) = std::env::var_os("VIGIE_CONSOLE_SCREENSHOT") {
            std::fs::copy(&shot, to).unwrap();
        }
        eprintln!("{broker}: screenshot {}", shot.display());
        drop(browser);
        h.stop().await;
        util::clear_retained(&url, &prefix).await;
    }
}

/// Tentative tracks for the page's toggle are extra outputs: asking for them changes no
/// alert and no confirmed track state; each is dropped when the tracker deletes it or
/// replaced when it is confirmed; the console keeps them out of the contract's snapshot and
/// events, and hands them only to a page that asks.
#[test]
fn tentative_tracks_are_shown_on_request_and_change_nothing_else() {
    let cfg = util::config("mqtt://unused:1", "vigie");
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    let lines = sim::simulate_for(&super::scene("busy-night"), &cfg, "vigie");
    let hub = vigie::io::console::Hub::new(4096, cfg.console.track_timeout_s, None);
    let run = |tentative: bool| {
        let mut p = vigie::Pipeline::new(&cfg, zones.clone(), true);
        p.set_tentative_states(tentative);
        let (mut confirmed, mut states, mut dropped) = (Vec::new(), 0usize, 0usize);
        let mut seen_tentative = std::collections::HashSet::new();
        let mut seen_confirmed = std::collections::HashSet::new();
        for l in &lines {
            let out = p.process(&l.topic, &l.payload_bytes(), l.t_rx);
            for a in &out.alerts {
                confirmed.push(serde_json::to_string(a).unwrap());
            }
            for t in &out.tracks {
                confirmed.push(format!(
                    "{} {}",
                    serde_json::to_string(t).unwrap(),
                    t.publish
                ));
                seen_confirmed.insert(t.track_id.clone());
            }
            for t in &out.tentative {
                assert!(
                    !seen_confirmed.contains(&t.track_id),
                    "{} tentative after confirmed",
                    t.track_id
                );
                seen_tentative.insert(t.track_id.clone());
            }
            for id in &out.tentative_dropped {
                assert!(seen_tentative.contains(id), "{id} dropped, never shown");
                assert!(!seen_confirmed.contains(id), "{id} dropped as tentative");
            }
            states += out.tentative.len();
            dropped += out.tentative_dropped.len();
            if tentative {
                hub.ingest(out);
            }
        }
        (confirmed, states, dropped)
    };
    let (off, off_states, off_dropped) = run(false);
    let (on, states, dropped) = run(true);
    assert_eq!((off_states, off_dropped), (0, 0), "nothing unless asked");
    assert!(
        off == on,
        "asking for tentative tracks changed an alert or a track state"
    );
    assert!(
        states > 100 && dropped > 10,
        "{states} states, {dropped} dropped"
    );

    let plain = hub.snapshot();
    assert!(
        plain.get("tentative").is_none(),
        "the contract's snapshot is as it was"
    );
    let with = hub.snapshot_with_tentative();
    let tentative = with["tentative"].as_array().unwrap();
    assert!(
        !tentative.is_empty(),
        "clutter leaves tentative tracks at the end"
    );
    let confirmed: std::collections::HashSet<&str> = with["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["track_id"].as_str().unwrap())
        .collect();
    for t in tentative {
        assert_eq!(t["tentative"], json!(true));
        assert!(!confirmed.contains(t["track_id"].as_str().unwrap()));
    }
    let mut frame = String::new();
    hub.tentative_frame(&mut frame);
    assert!(frame.starts_with("event: tentative\ndata: {\"tracks\":[") && frame.ends_with("\n\n"));
    assert!(
        !frame.contains("\nid:"),
        "a frame replaces the last: not resumed"
    );
}

/// Reads SSE events (id, event) from an open stream until `n` are in or `secs` pass.
fn read_events(r: &mut BufReader<TcpStream>, n: usize, secs: f64) -> Vec<(u64, String)> {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let (mut out, mut id, mut line) = (vec![], None, String::new());
    while out.len() < n && Instant::now() < deadline {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => continue,
        }
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("event: ") {
            out.push((id.unwrap_or(0), v.trim().to_string()));
        }
    }
    out
}

fn open_events(addr: SocketAddr, last: Option<u64>) -> BufReader<TcpStream> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let h = last
        .map(|l| format!("Last-Event-ID: {l}\r\n"))
        .unwrap_or_default();
    write!(s, "GET /api/events HTTP/1.1\r\nHost: {addr}\r\n{h}\r\n").unwrap();
    BufReader::new(s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_reconnecting_with_last_event_id_misses_nothing() {
    let _heavy = util::heavy().await;
    let url = util::embedded_url();
    let prefix = unique_prefix("sse");
    let mut cfg = util::config(&url, &prefix);
    cfg.console.listen = "127.0.0.1:0".into();
    let h = util::start_ready(cfg.clone()).await;
    let web = h.console_addr.unwrap();
    let sc = super::scene("equihen-pickup");
    let lines = sim::simulate_for(&sc, &cfg, &prefix);
    let rec = super::recording(&lines);
    let feed = tokio::spawn({
        let url = url.clone();
        async move { replay::replay_live(&url, &Default::default(), rec.as_bytes(), Some(60.0)).await }
    });
    // A page reads a while, goes away, comes back with the last id it saw.
    let first = tokio::task::spawn_blocking(move || {
        let mut r = open_events(web, None);
        let a = read_events(&mut r, 200, 30.0);
        drop(r);
        std::thread::sleep(Duration::from_secs(2));
        let last = a.last().unwrap().0;
        let mut r = open_events(web, Some(last));
        let b = read_events(&mut r, 100, 30.0);
        (a, b)
    })
    .await
    .unwrap();
    let (a, b) = first;
    assert_eq!(a[0].1, "snapshot", "a new page starts from a snapshot");
    assert!(a.len() > 50, "{}", a.len());
    // Resumed: the next ids in order, none missing, no snapshot.
    let last = a.last().unwrap().0;
    let ids: Vec<u64> = b.iter().map(|e| e.0).collect();
    assert!(!ids.is_empty());
    assert!(b.iter().all(|e| e.1 != "snapshot"), "{b:?}");
    assert_eq!(
        ids,
        (last + 1..last + 1 + ids.len() as u64).collect::<Vec<_>>()
    );
    // An id this service never gave (a page from before a restart): a snapshot. (Too far
    // behind the backlog is the hub's unit test.)
    let mut r = open_events(web, Some(u64::MAX / 2));
    let c = tokio::task::spawn_blocking(move || read_events(&mut r, 1, 10.0))
        .await
        .unwrap();
    assert_eq!(c[0].1, "snapshot");
    feed.abort();
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_required_when_a_users_file_is_set() {
    let url = util::embedded_url();
    let prefix = unique_prefix("login");
    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir).unwrap();
    let users = dir.join("users");
    std::fs::write(
        &users,
        format!(
            "leroy:{}\n",
            vigie::io::console::server::hash_password("mouette")
        ),
    )
    .unwrap();
    let mut cfg = util::config(&url, &prefix);
    cfg.console.listen = "127.0.0.1:0".into();
    cfg.console.users_file = Some(users);
    let h = util::start_ready(cfg).await;
    let web = h.console_addr.unwrap();
    let basic = |u: &str, p: &str| {
        use base64::Engine as _;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    let get = |auth: Option<String>| {
        let mut s = TcpStream::connect(web).unwrap();
        let a = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        write!(
            s,
            "GET /api/snapshot HTTP/1.1\r\nHost: x\r\n{a}Connection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        raw[9..12].to_string()
    };
    assert_eq!(get(None), "401");
    assert_eq!(get(Some(basic("leroy", "goeland"))), "401");
    assert_eq!(get(Some(basic("intrus", "mouette"))), "401");
    assert_eq!(get(Some(basic("leroy", "mouette"))), "200");
    // A refused action changes nothing.
    let (code, _) = post(
        web,
        "/api/alerts/x/actions",
        &json!({"action": "acknowledge"}),
        None,
    );
    assert_eq!(code, 401);
    assert_eq!(h.metrics.console_unauthorized.get(), 4);
    assert_eq!(h.metrics.console_actions.get(), 0);
    h.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_incident_record_survives_kill_9() {
    let _heavy = util::heavy().await;
    let url = util::embedded_url();
    let prefix = unique_prefix("incidents");
    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("record.sqlite");
    let port = vigie::io::broker::free_port().unwrap();
    let cfg = util::config(&url, &prefix);
    let (rec, alert_id) = scene_until_raised(&cfg, &prefix);
    let mut vigie = super::vigie_bin()
        .args(["run", "--mqtt", &url, "--metrics-listen", "127.0.0.1:0"])
        .env("VIGIE_CONSOLE_LISTEN", format!("127.0.0.1:{port}"))
        .env("VIGIE_INCIDENTS_FILE", &db)
        .env("VIGIE_MQTT_PREFIX", &prefix)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let web: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        eventually(20.0, || TcpStream::connect(web).is_ok()).await,
        "console up"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    replay_until_listed(&url, web, &rec, &alert_id).await;
    let (code, _) = post(
        web,
        &format!("/api/alerts/{alert_id}/actions"),
        &json!({"action": "note", "by": "cdt Leroy", "text": "SNSM en route"}),
        None,
    );
    assert_eq!(code, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = Command::new("kill")
        .args(["-9", &vigie.id().to_string()])
        .status();
    let _ = vigie.wait();
    let out = super::vigie_bin()
        .args(["incidents", "--json"])
        .env("VIGIE_INCIDENTS_FILE", &db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let incidents: Vec<Value> = super::ndjson(&out.stdout);
    let inc = incidents
        .iter()
        .find(|i| i["alert_id"] == json!(alert_id))
        .expect("the alert is in the record");
    assert_eq!(inc["events"][0]["state"], "raised");
    assert_eq!(inc["actions"][0]["text"], "SNSM en route");
    assert_eq!(inc["actions"][0]["by"], "cdt Leroy");
    // The SITREP as raised, in the JSON and in the table.
    let sitrep = inc["sitrep"].as_str().expect("a SITREP");
    assert!(
        sitrep.starts_with(&format!("SITREP {alert_id} EXERCISE")) && sitrep.contains("WHERE: "),
        "{sitrep}"
    );
    let table = super::vigie_bin()
        .args(["incidents"])
        .env("VIGIE_INCIDENTS_FILE", &db)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).contains(sitrep));
    util::clear_retained(&url, &prefix).await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_serves_https_with_its_certificate() {
    if !tool_available(
        "openssl",
        "VIGIE_REQUIRE_MOSQUITTO",
        "apt-get install openssl",
    ) || !tool_available("curl", "VIGIE_REQUIRE_CHROMIUM", "apt-get install curl")
    {
        return;
    }
    let url = util::embedded_url();
    let prefix = unique_prefix("https");
    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir).unwrap();
    let sh = |cmd: &str| {
        let out = Command::new("sh")
            .args(["-c", cmd])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    sh(&format!(
        "openssl req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=vigie-test-CA"
    ));
    sh(&format!(
        "openssl req {ec} -keyout console.key -out console.csr -subj /CN=localhost"
    ));
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    )
    .unwrap();
    sh("openssl x509 -req -in console.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out console.pem -days 2 -extfile ext.cnf");
    let mut cfg = util::config(&url, &prefix);
    cfg.console.listen = "127.0.0.1:0".into();
    cfg.console.tls_cert_file = Some(dir.join("console.pem"));
    cfg.console.tls_key_file = Some(dir.join("console.key"));
    let h = util::start_ready(cfg).await;
    let web = h.console_addr.unwrap();
    let code = sh(&format!(
        "curl -s -o /dev/null -w '%{{http_code}}' --cacert ca.pem https://{web}/api/snapshot"
    ));
    assert_eq!(code, "200");
    let page = sh(&format!("curl -s --cacert ca.pem https://{web}/"));
    assert!(page.contains("operator console"));
    // Not trusted without the CA; plain HTTP gets no page.
    let out = Command::new("curl")
        .args(["-s", &format!("https://{web}/")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = Command::new("curl")
        .args(["-s", "-m", "5", &format!("http://{web}/")])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("operator console"));
    h.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// `vigie debrief`: a recording on the console with a timeline. Jumping past the pickup
/// shows its alert; jumping back to the start empties the picture; jumping forward again
/// gives the same alert (the same engine, deterministic); playing moves the clock. In a
/// real browser when there is one: the timeline and the exercise banner are shown, and a
/// jump made on the page's timeline empties every page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debrief_plays_pauses_and_jumps_along_a_recording() {
    let _heavy = util::heavy().await;
    let mut cfg = vigie::Config::load_with_env(None, &[]).unwrap();
    cfg.console.listen = "127.0.0.1:0".into();
    let lines = sim::simulate_for(&super::scene("equihen-pickup"), &cfg, "vigie");
    let rec = super::recording(&lines);
    let (alerts, _) = super::offline(&cfg, &rec);
    let raised = alerts
        .iter()
        .find(|a| a.state == vigie::behaviour::AlertState::Raised)
        .expect("the scene raises its pickup")
        .clone();
    let first = lines.iter().map(|l| l.t_rx).min().unwrap();
    let at_raise = raised.t.secs_since(first) + 10.0;
    let d = vigie::io::debrief::start(&cfg, rec.as_bytes(), 10.0)
        .await
        .unwrap();
    let web = d.addr;
    let snapshot = || -> Value { serde_json::from_str(&http_get(web, "/api/snapshot").2).unwrap() };
    let s = snapshot();
    assert_eq!(
        s["debrief"]["t_s"],
        json!(0.0),
        "paused at the start: {}",
        s["debrief"]
    );
    assert_eq!(s["debrief"]["playing"], json!(false));
    assert_eq!(s["exercise"], json!(true), "a debrief is exercise data");
    assert!(s["alerts"].as_array().unwrap().is_empty());
    let seek = |t: f64| {
        let (code, body) = post(web, "/api/debrief", &json!({ "seek_s": t }), None);
        assert_eq!(code, 202, "{body}");
    };
    let active = |s: &Value| -> Vec<String> {
        s["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect()
    };
    seek(at_raise);
    assert!(
        eventually(20.0, || active(&snapshot()) == vec![raised.id.clone()]).await,
        "after the jump: {}",
        snapshot()["alerts"]
    );
    assert!(!snapshot()["tracks"].as_array().unwrap().is_empty());
    seek(0.0);
    assert!(
        eventually(20.0, || {
            let s = snapshot();
            s["alerts"].as_array().unwrap().is_empty() && s["tracks"].as_array().unwrap().is_empty()
        })
        .await,
        "back at the start the picture is empty: {}",
        snapshot()
    );
    seek(at_raise);
    assert!(
        eventually(20.0, || active(&snapshot()) == vec![raised.id.clone()]).await,
        "the same alert again"
    );
    // Playing moves the clock (1000 recording seconds a second), and pausing stops it.
    let (code, _) = post(
        web,
        "/api/debrief",
        &json!({"play": true, "speed": 1000.0}),
        None,
    );
    assert_eq!(code, 202);
    assert!(
        eventually(10.0, || snapshot()["debrief"]["t_s"].as_f64().unwrap()
            > at_raise + 100.0)
        .await
    );
    let (code, _) = post(web, "/api/debrief", &json!({"play": false}), None);
    assert_eq!(code, 202);
    assert!(eventually(5.0, || snapshot()["debrief"]["playing"] == json!(false)).await);
    let t = snapshot()["debrief"]["t_s"].as_f64().unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(snapshot()["debrief"]["t_s"].as_f64().unwrap(), t, "paused");
    // Refused with a clear message.
    let (code, body) = post(web, "/api/debrief", &json!({"speed": -2}), None);
    assert_eq!(code, 400, "{body}");
    assert!(body["error"].as_str().unwrap().contains("speed"), "{body}");
    let (code, _) = post(web, "/api/debrief", &json!({"rewind": true}), None);
    assert_eq!(code, 400);

    if chromium_available() {
        seek(at_raise);
        let browser = Browser::start();
        let mut one = browser.open(&format!("http://{web}/"));
        let mut two = browser.open(&format!("http://{web}/"));
        let shown = format!(
            "document.querySelector('#alerts li.alert[data-id=\"{}\"]') !== null",
            raised.id
        );
        for p in [&mut one, &mut two] {
            assert!(p.wait(20.0, &shown), "the page lists the alert");
            assert!(
                p.wait(5.0, "!document.getElementById('debrief').hidden"),
                "timeline shown"
            );
            assert_eq!(
                p.eval("document.getElementById('banner').hidden"),
                json!(false)
            );
        }
        // The trainer drags the timeline back to the start on the first page.
        one.eval(
            "(() => { const r = document.getElementById('db-seek'); r.value = 0; r.dispatchEvent(new Event('change')); })()",
        );
        for p in [&mut one, &mut two] {
            assert!(
                p.wait(20.0, "document.querySelectorAll('#alerts li.alert').length === 0 && Number(document.getElementById('track-count').textContent) === 0"),
                "every page follows the jump back"
            );
        }
        drop(browser);
    }
    for t in d.tasks {
        t.abort();
    }
}

//! vigie's integration tests: one binary, shared utilities in `util.rs`. Every MQTT test
//! runs against the embedded broker and, when `VIGIE_TEST_MQTT_URL` is set, against that
//! broker too (CI: the machine's Mosquitto).

mod accuracy;
mod cap;
mod console;
mod corpora;
mod faults;
mod identity;
mod late;
mod layout;
mod monitoring;
mod mosquitto;
mod replication;
mod restart;
mod snapshot;
mod time_checks;
mod util;

use serde_json::Value;
use std::time::Duration;
use util::*;
use vigie::behaviour::AlertEvent;
use vigie::io::{record, replay};
use vigie::recording::RecordLine;
use vigie::training::sim::{self, Scene};
use vigie::Config;

fn scene(name: &str) -> Scene {
    let p = format!(
        "{}/fixtures/scenarios/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    toml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn recording(lines: &[RecordLine]) -> String {
    lines
        .iter()
        .map(|l| serde_json::to_string(l).unwrap() + "\n")
        .collect()
}

/// Alerts as comparable values: everything but the wall-clock `emitted_at`.
fn comparable(alerts: &[AlertEvent]) -> Vec<AlertEvent> {
    alerts
        .iter()
        .cloned()
        .map(|mut a| {
            a.emitted_at = None;
            a
        })
        .collect()
}

/// The CAP and CISE documents of an offline replay (`--cap-out`, `--cise-out`).
fn offline_docs(cfg: &Config, rec: &str) -> (Vec<u8>, Vec<u8>) {
    let (mut a, mut cap, mut cise) = (Vec::new(), Vec::new(), Vec::new());
    replay::replay_offline(
        cfg,
        rec.as_bytes(),
        replay::OfflineOut {
            cap: Some(&mut cap),
            cise: Some(&mut cise),
            ..replay::OfflineOut::alerts(&mut a)
        },
        None,
    )
    .unwrap();
    (cap, cise)
}

/// Everything an offline replay on `threads` writes: its summary, alerts, tracks, CAP and
/// CISE documents.
fn offline_all(
    cfg: &Config,
    rec: &str,
    threads: replay::Threads,
) -> (replay::ReplaySummary, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>) {
    let (mut a, mut t, mut cap, mut cise) = (vec![], vec![], vec![], vec![]);
    let s = replay::replay_offline_on(
        cfg,
        rec.as_bytes(),
        replay::OfflineOut {
            tracks: Some(&mut t),
            cap: Some(&mut cap),
            cise: Some(&mut cise),
            ..replay::OfflineOut::alerts(&mut a)
        },
        None,
        threads,
    )
    .unwrap();
    (s, a, t, cap, cise)
}

/// A scene simulated, replayed offline with `cfg`, and scored with its tracks.
fn scored(sc: &Scene, cfg: &Config) -> vigie::training::score::Score {
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    let rec = recording(&sim::simulate_for(sc, cfg, "vigie"));
    let (mut a, mut t) = (Vec::new(), Vec::new());
    replay::replay_offline(
        cfg,
        rec.as_bytes(),
        replay::OfflineOut {
            tracks: Some(&mut t),
            ..replay::OfflineOut::alerts(&mut a)
        },
        None,
    )
    .unwrap();
    let tracks: Vec<vigie::TrackState> = ndjson(&t);
    let truth = vigie::training::score::truth(sc, cfg, zones);
    vigie::training::score::score(&truth, &ndjson(&a), Some(&tracks))
}

/// One JSON value per line, as `replay --offline` writes alerts and tracks.
/// A scene's score is clean: every pickup once, no false alarm, duplicate or uncleared
/// alert; (issue 18) each alert names the zone where the boat loitered and says dark/mmsi
/// as its AIS is; every copied MMSI is seen as a conflict, no honest one is.
fn assert_clean(what: &str, s: &vigie::training::score::Score) {
    assert_eq!(
        (s.detected, s.false_alarms, s.duplicates, s.uncleared),
        (s.pickups, 0, 0, 0),
        "{what}: {s:#?}"
    );
    assert!(s.wrong_fields.is_empty(), "{what}: {:#?}", s.wrong_fields);
    assert_eq!(
        (s.conflicts_detected, s.false_conflicts),
        (s.conflicts, 0),
        "{what}: {s:#?}"
    );
}

fn ndjson<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Vec<T> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn offline(cfg: &Config, rec: &str) -> (Vec<AlertEvent>, replay::ReplaySummary) {
    let mut out = Vec::new();
    let s = replay::replay_offline(
        cfg,
        rec.as_bytes(),
        replay::OfflineOut::alerts(&mut out),
        None,
    )
    .unwrap();
    (ndjson(&out), s)
}

#[test]
fn equihen_pickup_alerts_once_and_decoys_do_not() {
    let _heavy = heavy_blocking();
    let cfg = config("mqtt://unused:1", "vigie");
    let sc = scene("equihen-pickup");
    let rec = recording(&sim::simulate_for(&sc, &cfg, "vigie"));
    let (alerts, summary) = offline(&cfg, &rec);
    eprintln!("{summary}");
    for a in &alerts {
        eprintln!(
            "{} {} {} {} dwell {} dark {} mmsi {:?}",
            a.t,
            a.id,
            a.state.as_str(),
            a.zone_id(),
            a.dwell_s,
            a.dark,
            a.mmsi
        );
    }
    let raised: Vec<_> = alerts
        .iter()
        .filter(|a| a.state == vigie::behaviour::AlertState::Raised)
        .collect();
    assert_eq!(raised.len(), 1, "one pickup, one alert");
    let r = raised[0];
    assert_eq!(r.zone_id(), "equihen-plage");
    assert!(r.dark && r.mmsi.is_none() && r.exercise);
    // Delay from the moment the taxi stops: at most dwell + 10 s. It can be shorter than the
    // dwell by the time the approach spent inside the 100 m made good (≈ 32 s at 6 kn), and
    // by the filtered estimate's lag behind the boat within the margin the truth's rule
    // accepts either way (20 %: 120 m, ≈ 39 s).
    use geo::{Distance, Geodesic, Point};
    let run = Geodesic.distance(Point::new(1.5450, 50.6900), Point::new(1.5628, 50.6765));
    let stopped = sc.start.plus_secs(run / (6.0 * 1852.0 / 3600.0));
    let delay = r.t.secs_since(stopped);
    eprintln!("alert {delay:.1} s after the taxi stopped");
    assert!(
        (90.0 - 40.0..=100.0).contains(&delay),
        "event-time delay {delay:.1} s"
    );
    let cleared: Vec<_> = alerts
        .iter()
        .filter(|a| a.state == vigie::behaviour::AlertState::Cleared)
        .collect();
    assert_eq!(
        cleared.len(),
        1,
        "the alert is cleared when the boat leaves"
    );
    assert_eq!(cleared[0].id, r.id);
    assert!(
        alerts.iter().all(|a| a.id == r.id),
        "no alert for the transit, lifeboat or ferry"
    );
    // Offline replay is deterministic.
    let (again, _) = offline(&cfg, &rec);
    assert_eq!(comparable(&alerts), comparable(&again));
}

fn raised(alerts: &[AlertEvent]) -> Vec<&AlertEvent> {
    alerts
        .iter()
        .filter(|a| a.state == vigie::behaviour::AlertState::Raised)
        .collect()
}

/// Every raised alert is cleared exactly once, after it was raised, and nothing else is.
fn assert_lifecycles(alerts: &[AlertEvent]) {
    use vigie::behaviour::AlertState::*;
    let mut open = std::collections::BTreeMap::new();
    for a in alerts {
        match a.state {
            Raised => assert!(
                open.insert(a.id.clone(), a.zone_id().to_string()).is_none(),
                "raised twice: {}",
                a.id
            ),
            Updated => assert!(
                open.contains_key(&a.id),
                "update of an alert not raised: {}",
                a.id
            ),
            Cleared => assert!(
                open.remove(&a.id).is_some(),
                "clear of an alert not raised: {}",
                a.id
            ),
        }
    }
    assert!(open.is_empty(), "never cleared: {open:?}");
}

#[test]
fn three_pickups_at_three_beaches_give_three_alerts() {
    let _heavy = heavy_blocking();
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let sc = scene("three-pickups");
    let rec = recording(&sim::simulate_for(&sc, &cfg, "vigie"));
    let (alerts, s) = offline(&cfg, &rec);
    eprintln!("{s}");
    let r = raised(&alerts);
    let zones: Vec<&str> = r.iter().map(|a| a.zone_id()).collect();
    assert_eq!(
        zones,
        ["equihen-plage", "hardelot", "le-touquet"],
        "{alerts:#?}"
    );
    assert_lifecycles(&alerts);
    // Each alert within dwell + 10 s of its boat stopping (truth from the simulator).
    let holds = sim::Trajectory::new(&sc.vessels[0]).holds();
    assert_eq!(holds.len(), 3);
    for (a, (t0, ..)) in r.iter().zip(&holds) {
        let delay = a.t.secs_since(sc.start.plus_secs(*t0));
        eprintln!("{}: alert {delay:.1} s after the stop", a.zone_id());
        let max = cfg.alerts.loiter_dwell_s + 10.0;
        assert!(
            (0.0..=max).contains(&delay),
            "{}: {delay:.1} s",
            a.zone_id()
        );
    }
}

#[test]
fn decoys_raise_nothing() {
    let _heavy = heavy_blocking();
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let rec = recording(&sim::simulate_for(&scene("decoys"), &cfg, "vigie"));
    let (alerts, s) = offline(&cfg, &rec);
    eprintln!("{s}");
    assert!(
        alerts.is_empty(),
        "short stop, offshore loiter and buoy must not alert: {alerts:#?}"
    );
    // The decoys were tracked: silence is the rule's doing, not a blind tracker.
    assert!(s.tracks >= 3, "{s}");
}

#[test]
fn same_seed_gives_the_same_recording() {
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let sc = scene("equihen-pickup");
    assert_eq!(
        recording(&sim::simulate_for(&sc, &cfg, "vigie")),
        recording(&sim::simulate_for(&sc, &cfg, "vigie"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenes_live_through_each_broker_match_offline() {
    let _heavy = heavy().await;
    let scenes = ["equihen-pickup", "three-pickups", "decoys"];
    for ((which, url), name) in brokers()
        .into_iter()
        .flat_map(|b| scenes.map(|s| (b.clone(), s)))
    {
        let prefix = unique_prefix("live");
        let cfg = config(&url, &prefix);
        let sc = scene(name);
        let lines = sim::simulate_for(&sc, &cfg, &prefix);
        let rec = recording(&lines);
        let (expected, _) = offline(&cfg, &rec);
        assert_eq!(expected.is_empty(), name == "decoys");

        let h = start_ready(cfg.clone()).await;
        let mut sub = Sub::new(&url, &format!("{prefix}/alerts")).await;
        // 200× real time (5.5 s for the 18-minute Équihen scene). Unpaced (`--speed max`), a
        // burst of 2,400 QoS 1 messages overflows Mosquitto's default per-client queue
        // (max_queued_messages 1000) and the broker drops messages: see README.
        let n = replay::replay_live(&url, &Default::default(), rec.as_bytes(), Some(200.0))
            .await
            .unwrap();
        assert_eq!(n as usize, lines.len());
        // Everything that arrives (nothing more, if live equals offline).
        let mut got = vec![];
        loop {
            let wait = if got.len() < expected.len() {
                20.0
            } else {
                1.0
            };
            let Some(m) = sub.next(wait).await else { break };
            got.push(serde_json::from_slice::<AlertEvent>(&m.payload).unwrap());
        }
        assert!(got.iter().all(|a| a.emitted_at.is_some() && a.exercise));
        assert_eq!(
            comparable(&got),
            comparable(&expected),
            "{which}, {name}: live alerts differ from offline"
        );
        h.stop().await;
        clear_retained(&url, &prefix).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contacts_in_every_form_reach_the_engine() {
    for (which, url) in brokers() {
        let prefix = unique_prefix("forms");
        let h = start_ready(config(&url, &prefix)).await;
        let mut tracks = Sub::new(&url, &format!("{prefix}/tracks/#")).await;
        let p = publisher(&url).await;
        let pubq = |topic: String, payload: String| {
            let c = p.client.clone();
            async move {
                c.publish(topic, rumqttc::QoS::AtLeastOnce, false, payload)
                    .await
                    .unwrap()
            }
        };
        let radar = format!("{prefix}/contacts/radar/gris-nez");
        let (t0, t1) = (now_rfc(0.0), now_rfc(0.12));
        pubq(radar.clone(), format!(r#"{{"sensor":"gris-nez","t":"{t0}","plots":[{{"range_m":4210.5,"bearing_deg":247.3}},{{"range_m":812.0,"bearing_deg":190.2,"t":"{t1}"}},{{"lat":50.7312,"lon":1.5905,"sigma_m":25.0}}]}}"#)).await;
        pubq(
            radar.clone(),
            r#"{"range_m": 3000, "bearing_deg": 200}"#.into(),
        )
        .await;
        let ais = format!("{prefix}/contacts/ais/rx1");
        pubq(ais.clone(), format!(r#"{{"class":"AIS","type":1,"mmsi":227006760,"scaled":true,"lat":50.9651,"lon":1.8530,"speed":12.3,"course":285.1,"heading":284,"status":0,"t":"{t0}"}}"#)).await;
        let rxux = vigie::EventTime::now().0 / 1_000_000;
        pubq(ais.clone(), format!(r#"[{{"class":"AIS","type":18,"mmsi":227000002,"scaled":false,"lat":30420000,"lon":960000,"speed":1023,"course":3600,"heading":511,"rxuxtime":{rxux}}},{{"class":"AIS","type":5,"mmsi":227006760,"shipname":"PIDGEON","shiptype":60}}]"#)).await;
        pubq(
            ais.clone(),
            "\\c:1773464540*00\\!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A\n".into(),
        )
        .await;
        // The tag block above has a wrong checksum on purpose: rejected, counted. The same
        // sentence without it is accepted.
        pubq(
            ais.clone(),
            "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A\n".into(),
        )
        .await;
        let m = h.metrics.clone();
        let ok = eventually(10.0, || {
            m.contacts.with_label_values(&["radar", "gris-nez"]).get() == 4
                && m.contacts.with_label_values(&["ais", "ais"]).get() == 4
                && m.rejected.with_label_values(&["nmea_checksum"]).get() == 1
        })
        .await;
        assert!(
            ok,
            "{which}: radar {} ais {} checksum rejects {}",
            m.contacts.with_label_values(&["radar", "gris-nez"]).get(),
            m.contacts.with_label_values(&["ais", "ais"]).get(),
            m.rejected.with_label_values(&["nmea_checksum"]).get()
        );
        // AIS starts confirmed tracks at once: check the fields that came through.
        let mut by_mmsi = std::collections::HashMap::new();
        for msg in tracks.drain(1.0).await {
            let v: Value = serde_json::from_slice(&msg.payload).unwrap();
            by_mmsi.insert(v["mmsi"].as_u64().unwrap_or(0), v);
        }
        let f = &by_mmsi[&227006760];
        assert!(
            (f["lat"].as_f64().unwrap() - 50.9651).abs() < 1e-6
                && (f["lon"].as_f64().unwrap() - 1.8530).abs() < 1e-6,
            "{f}"
        );
        assert!(
            (f["speed_kn"].as_f64().unwrap() - 12.3).abs() < 0.01 && f["dark"] == false,
            "{f}"
        );
        let b = &by_mmsi[&227000002];
        assert!(
            (b["lat"].as_f64().unwrap() - 50.7).abs() < 1e-6
                && (b["lon"].as_f64().unwrap() - 1.6).abs() < 1e-6,
            "{b}"
        );
        let n = &by_mmsi[&371798000];
        assert!(
            (n["lat"].as_f64().unwrap() - 29028980.0 / 600000.0).abs() < 1e-6,
            "{n}"
        );
        h.stop().await;
        clear_retained(&url, &prefix).await;
    }
}

/// Strips what `vigie replay` adds to mark exercise data.
fn unmark(payload: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(mut o)) => {
            o.remove("exercise");
            Value::Object(o)
        }
        Ok(v) => v,
        Err(_) => {
            let text = String::from_utf8_lossy(payload);
            Value::String(
                text.lines()
                    .map(|l| match l.strip_prefix("\\x:1*") {
                        Some(rest) => rest[3..].to_string() + "\n",
                        None => l.to_string() + "\n",
                    })
                    .collect(),
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_then_replay_reproduces_the_messages() {
    for (which, url) in brokers() {
        let prefix = unique_prefix("rec");
        let msgs: Vec<(String, String)> = vec![
            (format!("{prefix}/contacts/radar/gris-nez"), r#"{"sensor":"gris-nez","t":"2026-03-14T05:02:17.500Z","plots":[{"range_m":4210.5,"bearing_deg":247.3}]}"#.into()),
            (format!("{prefix}/contacts/ais/rx1"), "!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A\n".into()),
            (format!("{prefix}/contacts/ais/rx2"), r#"{"class":"AIS","type":1,"mmsi":227006760,"scaled":true,"lat":50.9651,"lon":1.853}"#.into()),
        ];
        // Record what is published.
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (u2, p2) = (url.clone(), prefix.clone());
        let rec_task = tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::new();
            record::record(&u2, &p2, &Default::default(), &mut buf, async {
                let _ = stop_rx.await;
            })
            .await
            .unwrap();
            buf
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let p = publisher(&url).await;
        for (t, m) in &msgs {
            p.client
                .publish(t.clone(), rumqttc::QoS::AtLeastOnce, false, m.clone())
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        stop_tx.send(()).unwrap();
        let recorded = String::from_utf8(rec_task.await.unwrap()).unwrap();
        assert_eq!(recorded.lines().count(), msgs.len(), "{which}: {recorded}");
        // Replay it and capture what arrives on the same topics.
        let mut sub = Sub::new(&url, &format!("{prefix}/contacts/#")).await;
        replay::replay_live(&url, &Default::default(), recorded.as_bytes(), Some(100.0))
            .await
            .unwrap();
        let got = sub.drain(1.0).await;
        assert_eq!(got.len(), msgs.len(), "{which}");
        for ((t, m), g) in msgs.iter().zip(&got) {
            assert_eq!(&g.topic, t);
            let original = RecordLine::new(vigie::EventTime(0), t, m.as_bytes()).payload;
            assert_eq!(unmark(&g.payload), original, "{which}: {t}");
        }
    }
}

/// The vigie binary, with its console off and its incident record in a fresh temporary
/// file: tests running side by side never share port 8080 or a record (the console's own
/// tests turn it on).
fn vigie_bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"));
    c.env("VIGIE_CONSOLE_LISTEN", "")
        .env(
            "VIGIE_INCIDENTS_FILE",
            std::env::temp_dir().join(format!("{}.sqlite", util::unique_prefix("incidents"))),
        )
        .env(
            "VIGIE_ALERTS_MEMORY_FILE",
            std::env::temp_dir().join(format!("{}.json", util::unique_prefix("memory"))),
        );
    c
}

/// `vigie run` as a child process on `url` with its own prefix.
fn spawn_vigie(url: &str, prefix: &str) -> std::process::Child {
    vigie_bin()
        .args(["run", "--mqtt", url, "--metrics-listen", "127.0.0.1:0"])
        .env("VIGIE_MQTT_PREFIX", prefix)
        .env("VIGIE_MQTT_CLIENT_ID", format!("{prefix}-vigie"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// The `state` of the next status message, waiting at most `secs`.
async fn next_status(sub: &mut Sub, secs: f64) -> String {
    let m = sub.next(secs).await.expect("a status message");
    let v: Value = serde_json::from_slice(&m.payload).unwrap();
    v["state"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_is_online_and_last_will_says_offline_when_killed() {
    for (which, url) in brokers() {
        let prefix = unique_prefix("status");
        let mut child = spawn_vigie(&url, &prefix);
        let mut sub = Sub::new(&url, &format!("{prefix}/status")).await;
        assert_eq!(next_status(&mut sub, 15.0).await, "online", "{which}");
        child.kill().unwrap(); // SIGKILL: no goodbye, the broker's Last Will speaks.
        child.wait().unwrap();
        assert_eq!(next_status(&mut sub, 15.0).await, "offline", "{which}");
        // A client arriving later sees the retained offline status.
        let mut late = Sub::new(&url, &format!("{prefix}/status")).await;
        assert_eq!(next_status(&mut late, 5.0).await, "offline", "{which}");
        clear_retained(&url, &prefix).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_publishes_offline_and_exits_zero() {
    let url = brokers().pop().unwrap().1;
    let prefix = unique_prefix("term");
    let child = spawn_vigie(&url, &prefix);
    let mut sub = Sub::new(&url, &format!("{prefix}/status")).await;
    assert_eq!(next_status(&mut sub, 15.0).await, "online");
    let st = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let mut child = child;
    let code = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(code.success(), "exit status {code:?}");
    assert_eq!(next_status(&mut sub, 5.0).await, "offline");
    clear_retained(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_input_is_rejected_counted_and_harmless() {
    for (which, url) in brokers() {
        let prefix = unique_prefix("bad");
        let h = start_ready(config(&url, &prefix)).await;
        let p = publisher(&url).await;
        let radar = format!("{prefix}/contacts/radar/gris-nez");
        let ais = format!("{prefix}/contacts/ais/rx");
        let good_radar = format!(
            r#"{{"t":"{}","plots":[{{"range_m":1000,"bearing_deg":10}},{{"range_m":2000,"bearing_deg":20}}]}}"#,
            now_rfc(0.0)
        );
        let good_radar = good_radar.as_str();
        let good_ais =
            r#"{"class":"AIS","type":1,"mmsi":227006760,"scaled":true,"lat":50.9651,"lon":1.853}"#;
        let garbage: Vec<u8> = (0..1_000_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
            .collect();
        let bad: Vec<(String, Vec<u8>, &str)> = vec![
            (
                radar.clone(),
                br#"{"plots":[{"range_m":10,"bea"#.to_vec(),
                "malformed_json",
            ),
            (
                radar.clone(),
                br#"{"plots":[{"range_m":"far","bearing_deg":1}]}"#.to_vec(),
                "malformed_json",
            ),
            (
                radar.clone(),
                br#"{"plots":[{"lat":NaN,"lon":1,"sigma_m":5}]}"#.to_vec(),
                "malformed_json",
            ),
            (
                radar.clone(),
                br#"{"plots":[{"lat":95.0,"lon":1,"sigma_m":5}]}"#.to_vec(),
                "bad_plot",
            ),
            (
                radar.clone(),
                br#"{"plots":[{"range_m":-5,"bearing_deg":1}]}"#.to_vec(),
                "bad_plot",
            ),
            (
                format!("{prefix}/contacts/radar/atlantis"),
                good_radar.as_bytes().to_vec(),
                "unknown_sensor",
            ),
            (
                ais.clone(),
                b"!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4B\n".to_vec(),
                "nmea_checksum",
            ),
            (
                ais.clone(),
                br#"{"class":"AIS","type":1,"mmsi":"x","lat":50,"lon":1}"#.to_vec(),
                "bad_ais_json",
            ),
            (ais.clone(), garbage.clone(), "too_large"),
            (
                format!("{prefix}/contacts/sonar/x"),
                b"{}".to_vec(),
                "unknown_topic",
            ),
        ];
        for (topic, payload, _) in &bad {
            p.client
                .publish(radar.clone(), rumqttc::QoS::AtLeastOnce, false, good_radar)
                .await
                .unwrap();
            p.client
                .publish(
                    topic.clone(),
                    rumqttc::QoS::AtLeastOnce,
                    false,
                    payload.clone(),
                )
                .await
                .unwrap();
            p.client
                .publish(ais.clone(), rumqttc::QoS::AtLeastOnce, false, good_ais)
                .await
                .unwrap();
        }
        let m = h.metrics.clone();
        let n = bad.len() as u64;
        let ok = eventually(15.0, || {
            m.contacts.with_label_values(&["radar", "gris-nez"]).get() == 2 * n
                && m.contacts.with_label_values(&["ais", "ais"]).get() == n
        })
        .await;
        assert!(
            ok,
            "{which}: every valid contact around the bad ones is processed: radar {} ais {}",
            m.contacts.with_label_values(&["radar", "gris-nez"]).get(),
            m.contacts.with_label_values(&["ais", "ais"]).get()
        );
        let mut expected = std::collections::BTreeMap::new();
        for (_, _, reason) in &bad {
            *expected.entry(*reason).or_insert(0u64) += 1;
        }
        for (reason, count) in expected {
            assert_eq!(
                m.rejected.with_label_values(&[reason]).get(),
                count,
                "{which}: {reason}"
            );
        }
        h.stop().await;
        clear_retained(&url, &prefix).await;
    }
}

#[test]
fn embedded_broker_port_taken_fails_with_a_fix() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap().to_string();
    let out = vigie_bin()
        .args(["run", "--metrics-listen", "127.0.0.1:0"])
        .env("VIGIE_MQTT_EMBEDDED_LISTEN", &addr)
        .env_remove("VIGIE_MQTT_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&addr) && err.contains("--mqtt"), "{err}");
}

#[test]
fn offline_replay_cli_reports_bad_lines_and_summarises() {
    let _heavy = heavy_blocking();
    let dir = std::env::temp_dir().join(unique_prefix("offline"));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let mut rec = recording(&sim::simulate_for(&scene("equihen-pickup"), &cfg, "vigie"));
    let good_lines = rec.lines().count();
    rec.insert_str(0, "this is not a recording line\n");
    let input = dir.join("rec.ndjson");
    std::fs::write(&input, rec).unwrap();
    let (a, t) = (dir.join("alerts.ndjson"), dir.join("tracks.ndjson"));
    let out = vigie_bin()
        .args([
            "replay",
            input.to_str().unwrap(),
            "--offline",
            "--alerts-out",
            a.to_str().unwrap(),
            "--tracks-out",
            t.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("{good_lines} messages"))
            && stdout.contains("contacts/s")
            && stdout.contains("1 bad lines"),
        "{stdout}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line 1"),
        "bad line reported by number"
    );
    let alerts = std::fs::read_to_string(&a).unwrap();
    assert!(alerts
        .lines()
        .next()
        .unwrap()
        .contains(r#""state":"raised""#));
    let tracks = std::fs::read_to_string(&t).unwrap();
    let first: Value = serde_json::from_str(tracks.lines().next().unwrap()).unwrap();
    for k in [
        "t",
        "track_id",
        "lat",
        "lon",
        "speed_kn",
        "course_deg",
        "dark",
        "mmsi",
    ] {
        assert!(first.get(k).is_some(), "track line lacks {k}: {first}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn zone_reload_mid_alert_keeps_the_alert() {
    let _heavy = heavy_blocking();
    // Reload the zones, in reversed order, while the Équihen alert is active: the alert
    // sequence must be exactly the one without a reload.
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let lines = sim::simulate_for(&scene("equihen-pickup"), &cfg, "vigie");
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    let run = |reload_at: Option<usize>| {
        let mut p = vigie::Pipeline::new(&cfg, zones.clone(), true);
        let mut alerts = vec![];
        for (i, l) in lines.iter().enumerate() {
            if Some(i) == reload_at {
                let mut z = zones.clone();
                z.reverse();
                p.reload_zones(z);
            }
            alerts.extend(
                p.process(&l.topic, &l.payload_bytes(), l.t_rx)
                    .alerts
                    .iter()
                    .cloned(),
            );
        }
        alerts
    };
    let plain = run(None);
    let raised_at = plain
        .iter()
        .find(|a| a.state == vigie::behaviour::AlertState::Raised)
        .unwrap()
        .t;
    let idx = lines
        .iter()
        .position(|l| l.t_rx > raised_at.plus_secs(5.0))
        .unwrap();
    assert_eq!(comparable(&run(Some(idx))), comparable(&plain));
}

#[test]
fn other_zones_sensors_and_rules_work_the_same_way() {
    // Nothing is tied to the fixtures: a radar at Dover, a zone file of our own off
    // St Margaret's Bay, a 60 s / 60 m rule, another topic prefix.
    let dir = std::env::temp_dir().join(unique_prefix("elsewhere"));
    std::fs::create_dir_all(&dir).unwrap();
    let zone = r#"{"type":"FeatureCollection","features":[{"type":"Feature",
      "properties":{"id":"st-margarets","name":"St Margaret's Bay","kind":"shallow_water"},
      "geometry":{"type":"Polygon","coordinates":[[[1.380,51.146],[1.392,51.146],[1.392,51.152],[1.380,51.152],[1.380,51.146]]]}}]}"#;
    std::fs::write(dir.join("zones.geojson"), zone).unwrap();
    std::fs::write(
        dir.join("vigie.toml"),
        r#"
[mqtt]
prefix = "kent"
[zones]
path = "zones.geojson"
[[radar]]
id = "langdon"
lat = 51.1330
lon = 1.3420
range_sigma_m = 10.0
bearing_sigma_deg = 0.2
scan_period_s = 2.0
[alerts]
loiter_dwell_s = 60
loiter_radius_m = 60
allow_mmsi = []
"#,
    )
    .unwrap();
    let cfg = Config::load(Some(&dir.join("vigie.toml"))).unwrap();
    let sc: Scene = toml::from_str(
        r#"
name = "dover"
start = "2026-05-01T22:00:00.000Z"
duration_s = 800
seed = 3
[[vessels]]
name = "rib"
lat = 51.1450
lon = 1.4000
legs = [
  { do = "goto", lat = 51.1490, lon = 1.3860, speed_kn = 8.0 },
  { do = "hold", secs = 120, circle_m = 15.0, circle_kn = 1.0 },
  { do = "goto", lat = 51.1300, lon = 1.4500, speed_kn = 8.0 },
]
"#,
    )
    .unwrap();
    let rec = recording(&sim::simulate_for(&sc, &cfg, "kent"));
    assert!(rec.contains("kent/contacts/radar/langdon"));
    let (alerts, _) = offline(&cfg, &rec);
    let r = raised(&alerts);
    assert_eq!(r.len(), 1, "{alerts:#?}");
    assert_eq!(r[0].zone_id(), "st-margarets");
    assert!(
        r[0].dwell_s >= 60.0 && r[0].dwell_s < 70.0,
        "{}",
        r[0].dwell_s
    );
    assert_lifecycles(&alerts);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_centre_connecting_late_sees_active_alerts_and_not_cleared_ones() {
    use vigie::behaviour::AlertState;
    let _heavy = heavy().await;
    for (which, url) in brokers() {
        let prefix = unique_prefix("centre");
        let cfg = config(&url, &prefix);
        let rec = recording(&sim::simulate_for(&scene("equihen-pickup"), &cfg, &prefix));
        let h = start_ready(cfg).await;
        let mut alerts = Sub::new(&url, &format!("{prefix}/alerts")).await;
        let u2 = url.clone();
        let replay = tokio::spawn(async move {
            replay::replay_live(&u2, &Default::default(), rec.as_bytes(), Some(100.0)).await
        });
        let mut id = None;
        let mut checked_active = false;
        while let Some(m) = alerts.next(30.0).await {
            let a: AlertEvent = serde_json::from_slice(&m.payload).unwrap();
            match a.state {
                AlertState::Raised if !checked_active => {
                    // A centre that connects now finds the alert on the retained topics.
                    let mut late = Sub::new(&url, &format!("{prefix}/alerts/active/#")).await;
                    let r = late.next(5.0).await.expect("retained active alert");
                    let got: AlertEvent = serde_json::from_slice(&r.payload).unwrap();
                    assert_eq!(got.id, a.id, "{which}");
                    assert_eq!(r.topic, format!("{prefix}/alerts/active/{}", a.id));
                    id = Some(a.id.clone());
                    checked_active = true;
                }
                AlertState::Cleared => break,
                _ => {}
            }
        }
        assert!(
            checked_active && id.is_some(),
            "{which}: an alert was raised"
        );
        // The empty retained message follows the `cleared` event on another topic; under
        // load it can land a moment later, so look again for up to 10 s.
        let mut leftover = vec![];
        for _ in 0..10 {
            let mut later = Sub::new(&url, &format!("{prefix}/alerts/active/#")).await;
            leftover = later
                .drain(0.8)
                .await
                .into_iter()
                .filter(|m| m.retain && !m.payload.is_empty())
                .collect();
            later.link.close().await;
            if leftover.is_empty() {
                break;
            }
        }
        assert!(
            leftover.is_empty(),
            "{which}: cleared alert still retained: {:?}",
            leftover.first().map(|m| &m.topic)
        );
        replay.await.unwrap().unwrap();
        h.stop().await;
        clear_retained(&url, &prefix).await;
    }
}

/// Every scene of the library, offline: scored against its truth, and its alerts compared
/// with the expected ones checked in beside it (`NAME.expected.ndjson`, without
/// `emitted_at`). `VIGIE_BLESS=1 cargo test every_scene` rewrites the expected files.
#[test]
fn every_scene_scores_clean_and_matches_its_expected_alerts() {
    let _heavy = heavy_blocking();
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    let dir = format!("{}/fixtures/scenarios", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".toml")
                .map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 6, "{names:?}");
    let mut table = String::from("| scene | pickups | detected | false alarms | duplicates | uncleared | delays after stop (s) | mean GOSPA (m) | identity switches | track swaps |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for name in &names {
        let sc = scene(name);
        let rec = recording(&sim::simulate_for(&sc, &cfg, "vigie"));
        let (summary, a, t, cap, cise) = offline_all(&cfg, &rec, replay::Threads::available());
        // The simulator's sensors are honest: nothing refused (no time check, no rate
        // limit fires on real traffic, load scenes included).
        assert_eq!(summary.rejected, 0, "{name}: {summary}");
        // Issue 23: the two stages on two threads write what one thread writes, byte for
        // byte (alerts but their wall-clock emitted_at).
        let one = offline_all(&cfg, &rec, replay::Threads::One);
        // Without `--tracks-out` no track state is built at all (issue 23): the same
        // alerts, and the same summary, its count of confirmed tracks included.
        let mut bare = vec![];
        let bare_summary = replay::replay_offline_on(
            &cfg,
            rec.as_bytes(),
            replay::OfflineOut::alerts(&mut bare),
            None,
            replay::Threads::available(),
        )
        .unwrap();
        assert_eq!(
            vigie::io::replay::ReplaySummary {
                seconds: 0.0,
                ..bare_summary
            },
            vigie::io::replay::ReplaySummary {
                seconds: 0.0,
                ..summary.clone()
            },
            "{name}: without track states"
        );
        assert_eq!(
            comparable(&ndjson(&bare)),
            comparable(&ndjson(&a)),
            "{name}: alerts without track states"
        );
        let two_threads = replay::Threads::available() == replay::Threads::Two;
        assert!(
            two_threads || std::env::var_os("CI").is_none(),
            "CI has two cores"
        );
        assert_eq!(
            (&one.2, &one.3, &one.4),
            (&t, &cap, &cise),
            "{name}: one thread and two differ"
        );
        assert_eq!(
            vigie::io::replay::ReplaySummary {
                seconds: 0.0,
                ..one.0
            },
            vigie::io::replay::ReplaySummary {
                seconds: 0.0,
                ..summary.clone()
            },
            "{name}"
        );
        assert_eq!(
            comparable(&ndjson(&one.1)),
            comparable(&ndjson(&a)),
            "{name}: one thread and two differ"
        );
        let alerts: Vec<AlertEvent> = ndjson(&a);
        let tracks: Vec<vigie::TrackState> = ndjson(&t);
        // Issue 18 (extension): a raised pickup says which sensors saw its boat lately and
        // how well its position is known.
        for r in alerts.iter().filter(|a| {
            a.state == vigie::behaviour::AlertState::Raised && a.kind == "taxi_boat_pickup"
        }) {
            let sensors = r.sensors.as_deref().unwrap_or_default();
            assert!(!sensors.is_empty(), "{name}: {r:?}");
            assert!(
                r.dark || sensors.contains(&"ais".to_string()),
                "{name}: {r:?}"
            );
            let e = r.position_error_m.unwrap_or(f64::NAN);
            assert!(e > 0.0 && e < 100.0, "{name}: {r:?}");
        }
        // Contract §8: every alert event as a valid CAP 1.2 document, chained.
        cap::check_scene_documents(name, &alerts, &cap, &cise);
        let truth = vigie::training::score::truth(&sc, &cfg, zones.clone());
        let s = vigie::training::score::score(&truth, &alerts, Some(&tracks));
        let id = s.identity.clone().unwrap();
        let delays = s
            .delays_s
            .iter()
            .map(|d| format!("{d:.0}"))
            .collect::<Vec<_>>()
            .join(", ");
        table += &format!(
            "| {name} | {} | {} | {} | {} | {} | {delays} | {:.1} | {} | {} |\n",
            s.pickups,
            s.detected,
            s.false_alarms,
            s.duplicates,
            s.uncleared,
            s.gospa_m.unwrap_or(0.0),
            id.switches,
            id.swaps,
        );
        if !id.switched.is_empty() {
            eprintln!("{name}: {:?}", id.switched);
        }
        assert_clean(name, &s);
        // Issue 3: boats that stop and start again keep their track; two boats stopping 150 m
        // apart (side-by-side) do not swap tracks.
        assert!(
            id.switches <= sc.max_identity_switches && id.swaps <= sc.max_track_swaps,
            "{name}: {id:#?}"
        );
        let max_delay = sc.max_delay_s.unwrap_or(cfg.alerts.loiter_dwell_s + 10.0);
        assert!(s.max_delay_s.unwrap_or(0.0) <= max_delay, "{name}: {s:#?}");
        let expected_path = format!("{dir}/{name}.expected.ndjson");
        let got: String = comparable(&alerts)
            .iter()
            .map(|a| serde_json::to_string(a).unwrap() + "\n")
            .collect();
        if std::env::var_os("VIGIE_BLESS").is_some() {
            std::fs::write(&expected_path, &got).unwrap();
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|_| {
            panic!("{expected_path} missing: run VIGIE_BLESS=1 cargo test every_scene")
        });
        assert_eq!(got, expected, "{name}: alerts differ from {expected_path}");
    }
    eprintln!("{table}");
}

/// The loiter rule of contract §4 on other draws of the same scenes: slow transits, wide
/// circles, short stops, drifts, a boat on the line between two zones, a taxi passing 10 m
/// from a buoy, with other plot noise, clutter and detections (the seed), still give every
/// pickup once and no false alarm.
#[test]
fn the_loiter_rule_holds_on_other_seeds() {
    let _heavy = heavy_blocking();
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    for name in ["slow-movers", "decoys", "buoy-pass"] {
        for seed in [101, 202, 303] {
            let mut sc = scene(name);
            sc.seed = seed;
            let rec = recording(&sim::simulate_for(&sc, &cfg, "vigie"));
            let mut a = Vec::new();
            replay::replay_offline(
                &cfg,
                rec.as_bytes(),
                replay::OfflineOut::alerts(&mut a),
                None,
            )
            .unwrap();
            let alerts: Vec<AlertEvent> = ndjson(&a);
            let truth = vigie::training::score::truth(&sc, &cfg, zones.clone());
            let s = vigie::training::score::score(&truth, &alerts, None);
            eprintln!("{name} seed {seed}: delays {:?}", s.delays_s);
            assert_eq!(
                (s.detected, s.false_alarms, s.duplicates, s.uncleared),
                (s.pickups, 0, 0, 0),
                "{name} seed {seed}: {s:#?}"
            );
            assert!(
                s.max_delay_s.unwrap_or(0.0) <= cfg.alerts.loiter_dwell_s + 20.0,
                "{name} seed {seed}: {s:#?}"
            );
        }
    }
}

/// Issue 18: two dark boats crossing keep their tracks. Seeds 3, 7 and 10 are the draws of
/// crossing-pair (at right angles) on which the assignment alone (JPDA off) swapped the two
/// tracks for good (measured on seeds 1-12: those three); with the weighting inside
/// ambiguous clusters none does, and the pickup is still alerted once on its own boat.
/// Seed 3 is run again with the weighting off, so the test fails if the scene ever stops
/// telling the two apart. shallow-crossing (30°, within 50 m for a minute) seeds 6 and 7:
/// swapped by the assignment alone, and with the weighting the merger took one boat's
/// track into the other's before its twins-from-birth rule.
#[test]
fn crossing_boats_keep_their_tracks() {
    let _heavy = heavy_blocking();
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let mut gnn = cfg.clone();
    gnn.tracker.jpda_max_tracks = 0;
    let mut draws = vec![
        ("crossing-pair", 3, &cfg, false),
        ("crossing-pair", 3, &gnn, true),
        ("shallow-crossing", 6, &cfg, false),
    ];
    // The other draws that swapped without JPDA: in release builds only (each scene is
    // a minute of a debug build, and CI's suite runs in debug).
    if !cfg!(debug_assertions) {
        draws.extend([
            ("crossing-pair", 7, &cfg, false),
            ("crossing-pair", 10, &cfg, false),
            ("shallow-crossing", 7, &cfg, false),
        ]);
    }
    for (name, seed, cfg, swaps) in draws {
        let mut sc = scene(name);
        sc.seed = seed;
        let s = scored(&sc, cfg);
        let id = s.identity.clone().unwrap();
        eprintln!(
            "{name} seed {seed} jpda {}: {id:?}",
            cfg.tracker.jpda_max_tracks
        );
        if swaps {
            assert!(id.swaps >= 2, "{name} seed {seed} without JPDA: {id:?}");
            continue;
        }
        assert_eq!(
            (id.switches, id.swaps),
            (0, 0),
            "{name} seed {seed}: {id:?}"
        );
        assert_eq!(
            (s.detected, s.false_alarms, s.duplicates, s.uncleared),
            (s.pickups, 0, 0, 0),
            "{name} seed {seed}: {s:#?}"
        );
    }
}

/// The IMM (off by default, `tracker.imm`): a boat that stops and sets off three times
/// keeps one track and each pickup alerts once; two boats stopping 150 m apart keep theirs
/// (BENCHMARKS.md compares it with the default on every scene).
#[test]
fn the_imm_tracks_boats_that_stop_and_start() {
    let _heavy = heavy_blocking();
    let mut cfg = Config::load_with_env(None, &[]).unwrap();
    cfg.tracker.imm = true;
    for name in ["three-pickups", "side-by-side"] {
        let s = scored(&scene(name), &cfg);
        let id = s.identity.clone().unwrap();
        eprintln!("{name} with the IMM: delays {:?}, {id:?}", s.delays_s);
        assert_eq!((id.switches, id.swaps), (0, 0), "{name}: {id:?}");
        assert_eq!(
            (s.detected, s.false_alarms, s.duplicates, s.uncleared),
            (s.pickups, 0, 0, 0),
            "{name}: {s:#?}"
        );
    }
}

#[test]
fn simulate_and_score_cli() {
    let dir = std::env::temp_dir().join(unique_prefix("simcli"));
    let d = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let ok = |args: &[&str]| {
        let o = vigie_bin().args(args).output().unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o
    };
    ok(&[
        "simulate",
        "--scenario",
        "side-by-side",
        "--out",
        dir.to_str().unwrap(),
    ]);
    for f in [
        "rec.ndjson",
        "truth.json",
        "vigie.toml",
        "zones.geojson",
        "scene.svg",
    ] {
        assert!(dir.join(f).exists(), "{f} written");
    }
    assert!(std::fs::read_to_string(dir.join("scene.svg"))
        .unwrap()
        .contains("pickup"));
    // The configuration written beside the scene loads and runs it.
    ok(&[
        "replay",
        &d("rec.ndjson"),
        "--offline",
        "--config",
        &d("vigie.toml"),
        "--alerts-out",
        &d("a.ndjson"),
        "--tracks-out",
        &d("t.ndjson"),
    ]);
    let o = ok(&[
        "score",
        "--alerts",
        &d("a.ndjson"),
        "--truth",
        &d("truth.json"),
        "--tracks",
        &d("t.ndjson"),
        "--json",
        "--min-recall",
        "1",
        "--max-false-alarms",
        "0",
        "--max-delay-s",
        "100",
    ]);
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pickups"], 2);
    assert_eq!(v["recall"], 1.0);
    // A threshold missed is an exit code, for CI.
    let o = vigie_bin()
        .args([
            "score",
            "--alerts",
            &d("a.ndjson"),
            "--truth",
            &d("truth.json"),
            "--max-delay-s",
            "10",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("delay"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Issue 3: message batching is not an input. The busy-night scene (5 radars, AIS, 3
/// taxi-boats) re-batched: runs of consecutive AIS reports merged into one JSON array give
/// exactly the same tracks and alerts (one output line per track per message, so fewer
/// lines, and the vessel name one line earlier). Radar scans split into sector messages
/// (two: bearing < 180° and ≥ 180°, as sector radars publish them; or three) give the same
/// alerts and the same tracks: a later sector of a scan takes back what the earlier ones
/// did and the scan's plots are assigned together, as one message would have them. A track
/// an earlier sector updated may then be revised: a second state with the same `t`, which
/// replaces the first (as it does for anyone reading the stream), so a track's states are
/// compared after revisions. Every radar message delivered twice (a QoS 1 redelivery) changes
/// nothing and revises nothing. Before this, 1 of 15 tracks differed (a taxi-boat at bearing
/// 180° from Gris-Nez took the first sector's plot where the whole scan had a better one).
#[test]
fn message_batching_changes_no_track_and_no_alert() {
    let _heavy = heavy_blocking();
    let cfg = config("mqtt://unused:1", "vigie");
    let lines = sim::simulate_for(&scene("busy-night"), &cfg, "vigie");
    let run = |lines: &[RecordLine]| {
        let rec = recording(lines);
        let (mut alerts, mut tracks) = (Vec::new(), Vec::new());
        replay::replay_offline(
            &cfg,
            rec.as_bytes(),
            replay::OfflineOut {
                tracks: Some(&mut tracks),
                ..replay::OfflineOut::alerts(&mut alerts)
            },
            None,
        )
        .unwrap();
        let tracks: Vec<serde_json::Value> = ndjson(&tracks);
        let alerts: Vec<AlertEvent> = ndjson(&alerts);
        // Track labels (T7, T12, …) number tentative tracks in the order they begin, which
        // depends on message boundaries; everything else must not. So each track is named
        // by its first confirmed state, and its states are compared without the label.
        let mut by_label = std::collections::BTreeMap::<String, Vec<String>>::new();
        let mut revisions = 0;
        for mut t in tracks {
            let label = t["track_id"].as_str().unwrap().to_string();
            t["track_id"] = serde_json::Value::Null;
            // The vessel name arrives in its own static report: batched with a position, it
            // is known one line earlier. Identity is the MMSI, which stays compared.
            if let Some(o) = t.as_object_mut() {
                o.remove("name");
            }
            let states = by_label.entry(label).or_default();
            let (text, time) = (t.to_string(), &t["t"]);
            let same_time =
                |s: &String| &serde_json::from_str::<serde_json::Value>(s).unwrap()["t"] == time;
            match states.last_mut() {
                Some(last) if same_time(last) && *last != text => {
                    *last = text;
                    revisions += 1;
                }
                _ => states.push(text),
            }
        }
        let mut name = std::collections::HashMap::new();
        let mut by_track = std::collections::BTreeMap::<String, Vec<String>>::new();
        for (label, mut states) in by_label {
            states.dedup();
            name.insert(label, states[0].clone());
            by_track.insert(states[0].clone(), states);
        }
        let alerts: Vec<AlertEvent> = comparable(&alerts)
            .into_iter()
            .map(|mut a| {
                let n = name[&a.track_id].clone();
                a.id =
                    a.id.replace(&format!("-{}-", a.track_id), &format!("-{n}-"));
                a.track_id = n;
                a
            })
            .collect();
        let all: std::collections::BTreeSet<String> =
            by_track.values().flatten().cloned().collect();
        (alerts, by_track, all, revisions)
    };
    let split_sectors = |l: &RecordLine, n: usize| -> Vec<RecordLine> {
        let Some(plots) = l.payload.get("plots").and_then(|p| p.as_array()) else {
            return vec![l.clone()];
        };
        let mut sectors = vec![Vec::new(); n];
        for p in plots {
            let b = p["bearing_deg"].as_f64().unwrap_or(0.0);
            sectors[((b / 360.0 * n as f64) as usize).min(n - 1)].push(p.clone());
        }
        sectors
            .into_iter()
            .filter(|half| !half.is_empty())
            .map(|half| {
                let mut m = l.clone();
                m.payload["plots"] = serde_json::Value::Array(half);
                m
            })
            .collect()
    };
    let merge_ais = |lines: Vec<RecordLine>| -> Vec<RecordLine> {
        let mut out: Vec<RecordLine> = Vec::new();
        for l in lines {
            let is_ais = l.topic.contains("/ais/") && l.payload.is_object();
            if let Some(prev) = out.last_mut() {
                if is_ais && prev.topic == l.topic {
                    let first = std::mem::take(&mut prev.payload);
                    let mut items = match first {
                        serde_json::Value::Array(v) => v,
                        v => vec![v],
                    };
                    items.push(l.payload.clone());
                    prev.payload = serde_json::Value::Array(items);
                    continue;
                }
            }
            out.push(l);
        }
        out
    };
    let base = run(&lines);
    // The scene's eight vessels each have a confirmed track.
    assert!(!base.0.is_empty() && base.1.len() >= 8);
    let sectors: Vec<RecordLine> = lines.iter().flat_map(|l| split_sectors(l, 2)).collect();
    assert!(sectors.len() > lines.len() + 1000);
    let thirds: Vec<RecordLine> = lines.iter().flat_map(|l| split_sectors(l, 3)).collect();
    let merged = merge_ais(lines.clone());
    assert!(merged.len() < lines.len(), "some AIS reports were merged");
    let both = merge_ais(sectors.clone());
    // A broker redelivering every radar message (QoS 1): the same scan again is no news.
    let twice: Vec<RecordLine> = lines
        .iter()
        .flat_map(|l| {
            let n = if l.topic.contains("/radar/") { 2 } else { 1 };
            std::iter::repeat_n(l.clone(), n)
        })
        .collect();
    for (what, variant) in [
        ("sectors", sectors),
        ("three sectors", thirds),
        ("AIS arrays", merged),
        ("both", both),
        ("radar twice", twice),
    ] {
        let got = run(&variant);
        assert!(got.0 == base.0, "{what}: alerts differ");
        let differing: Vec<_> = base
            .1
            .iter()
            .filter(|(id, states)| got.1.get(*id) != Some(states))
            .map(|(id, _)| id.clone())
            .collect();
        eprintln!(
            "{what}: {} of {} confirmed tracks differ ({} vs {} tracks); {} states revised by a later sector",
            differing.len(),
            base.1.len(),
            got.1.len(),
            base.1.len(),
            got.3
        );
        if what == "AIS arrays" {
            // One output line per track per message: a track updated twice by one array
            // reports only its state after the second report. Every state reported must be
            // one the unbatched run reported too.
            let extra: Vec<_> = got.2.difference(&base.2).collect();
            assert!(
                extra.is_empty(),
                "{what}: states never seen unbatched: {extra:?}"
            );
        } else {
            assert!(
                what != "radar twice" || got.3 == 0,
                "a redelivered scan revised {} states",
                got.3
            );
            assert!(
                differing.is_empty() && got.1.len() == base.1.len(),
                "{what}: {} of {} tracks differ ({} vs {} tracks): {differing:?}",
                differing.len(),
                base.1.len(),
                got.1.len(),
                base.1.len()
            );
        }
    }
    assert_eq!(base.3, 0, "one message per scan revises nothing");
}

/// Issue 3: an hour of clutter alone (5 plots per scan on each of the five coastal radars,
/// 7,200 scans, ~36,000 false plots) spread over the coverage confirms no track and raises
/// nothing. With half of it packed in the surf within 500 m of the shore (the simulator's
/// default), the clutter map brings false confirmed tracks from 86 (uniform clutter assumed)
/// to 3 in the hour, each one or two states long; still no alert. The bound below is that
/// measurement, so a regression shows. (Learning plots `clutter_map_delay_s` late, so that
/// a new boat's plots do not count against it, raised this to 11 on its own; reading the
/// density over 3 × 3 cells brought it back to 3. Seeds 5 and 99: 1 and 2.)
#[test]
fn an_hour_of_clutter_confirms_no_track() {
    let _heavy = heavy_blocking();
    let cfg = config("mqtt://unused:1", "vigie");
    for (surf, max_tracks) in [(0.0, 0), (0.5, 3)] {
        let sc: Scene = toml::from_str(&format!(
            r#"
            name = "clutter-hour"
            start = "2026-03-18T00:00:00.000Z"
            duration_s = 3600
            seed = 21
            shore_clutter = {surf}
            "#
        ))
        .unwrap();
        let lines = sim::simulate_for(&sc, &cfg, "vigie");
        assert_eq!(lines.len(), 7200);
        let (alerts, s) = offline(&cfg, &recording(&lines));
        assert!(s.contacts > 30_000, "{s}");
        assert!(
            s.tracks <= max_tracks && alerts.is_empty(),
            "surf {surf}: {s}"
        );
    }
}

/// One track per boat (issue 18): a boat whose returns often split in two (10 % of its
/// detections give two plots 20-40 m apart), in heavy surf clutter, seen by a near and a far
/// radar, used to get a confirmed twin that raised a second alert and swapped plots with the
/// boat's track. With twins merged (`tracker.merge_*`): no duplicate alert on four draws, and
/// far fewer identity switches than with merging off on the same recordings. (At 15 % split
/// returns a duplicate still gets through on some draws: `fixtures/probes/split-returns.toml`,
/// README.)
#[test]
fn twin_tracks_from_split_returns_are_merged() {
    let _heavy = heavy_blocking();
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let mut off = cfg.clone();
    off.tracker.merge_distance_m = 0.0;
    let p = format!(
        "{}/fixtures/probes/split-returns.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut sc: Scene = toml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
    sc.split_probability = 0.10;
    let (mut with, mut without) = (0, 0);
    for seed in [1, 2, 3, 4] {
        sc.seed = seed;
        let s = scored(&sc, &cfg);
        let switches = s.identity.as_ref().unwrap().switches;
        eprintln!("seed {seed}: {switches} switches, GOSPA {:?} m", s.gospa_m);
        assert_clean(&format!("split returns, seed {seed}"), &s);
        with += switches;
        without += scored(&sc, &off).identity.unwrap().switches;
    }
    eprintln!("identity switches: {with} merged, {without} not");
    assert!(with * 5 <= without, "{with} vs {without}");
}

/// Issue 23's alert-first order: a large radar scan's plots near the tracks inside zones
/// are associated and judged first (`Engine::process_first`), the rest of the scan after,
/// so a pickup's alert can go out before hundreds of plots across the strait are
/// processed. By default only scans of 64 plots or more are split, which few scenes have;
/// forced here onto every scan with plots both near and elsewhere, the scenes where boats
/// meet, stop, pass buoys, cross, and where a radar is late give the same alert events
/// message by message as processing each message whole, and leave every track in the same
/// state after each message. And pickups are indeed decided in the first part.
#[test]
fn judging_the_plots_near_the_tracks_in_zones_first_changes_no_alert_and_no_track() {
    let _heavy = heavy_blocking();
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    let (mut early_pickups, mut all_splits) = (0, 0);
    for name in [
        "storm",
        "strait-200",
        "late-radar",
        "buoy-pass",
        "crossing-pair",
        "three-pickups",
        "surf-reacquire",
        "side-by-side",
    ] {
        let lines = sim::simulate_for(&scene(name), &cfg, "vigie");
        // Per message: its alert events (sorted: the two parts give them in another
        // order), and the last state it gave each track (a first part's state may be
        // revised by the rest, as a later sector of a scan revises an earlier one's).
        type PerMessage = (Vec<String>, std::collections::BTreeMap<String, String>);
        let run = |min_plots: usize| -> (Vec<PerMessage>, usize, usize) {
            let mut p = vigie::Pipeline::new(&cfg, zones.clone(), true);
            p.set_first_min_plots(min_plots);
            let (mut per_message, mut splits, mut early) = (Vec::new(), 0, 0);
            for l in &lines {
                let payload = l.payload_bytes();
                let split = p.process_first(&l.topic, &payload, l.t_rx);
                let first: Vec<AlertEvent> = p.last_outputs().alerts.clone();
                if split {
                    splits += 1;
                    early += first
                        .iter()
                        .filter(|a| {
                            a.kind == vigie::behaviour::alert::KIND_TAXI_BOAT
                                && a.state == vigie::behaviour::AlertState::Raised
                        })
                        .count();
                    p.process_rest(&l.topic);
                }
                let out = p.last_outputs();
                let mut alerts: Vec<String> = comparable(&out.alerts)
                    .iter()
                    .map(|a| serde_json::to_string(a).unwrap())
                    .collect();
                alerts.sort();
                let tracks = out
                    .tracks
                    .iter()
                    .map(|t| (t.track_id.to_string(), serde_json::to_string(t).unwrap()))
                    .collect();
                per_message.push((alerts, tracks));
            }
            (per_message, splits, early)
        };
        let (whole, never, _) = run(usize::MAX);
        let (split, splits, early) = run(2);
        assert_eq!(never, 0);
        all_splits += splits;
        for (i, (w, s)) in whole.iter().zip(&split).enumerate() {
            assert_eq!(
                w.0, s.0,
                "{name}: message {i} ({}): alerts differ",
                lines[i].topic
            );
            assert_eq!(
                w.1, s.1,
                "{name}: message {i} ({}): tracks differ",
                lines[i].topic
            );
        }
        early_pickups += early;
    }
    assert!(all_splits > 1000, "{all_splits} scans split");
    assert!(early_pickups > 0, "no pickup was decided in a first part");
}

//! Alerts as CAP 1.2 and CISE-shaped incidents (contract §8): every document of every scene
//! valid against the OASIS schema with `xmllint`, references chained raised → updated →
//! cleared, Exercise for replayed and simulated data and Actual only for live data, hostile
//! vessel names kept as text, and the CISE incident against its golden file.

use crate::util::*;
use crate::{offline_docs, recording, scene};
use std::collections::BTreeMap;
use std::path::Path;
use vigie::behaviour::{AlertEvent, AlertState};
use vigie::recording::RecordLine;
use vigie::training::sim;
use vigie::Config;

/// One CAP document's header, read back with an XML parser.
#[derive(Debug, Clone, Default)]
pub struct Header {
    pub identifier: String,
    pub sent: String,
    pub status: String,
    pub msg_type: String,
    pub references: Vec<String>,
    pub note: String,
    pub alert_id: String,
}

/// The header fields of a CAP document (children of `<alert>`, and the `alert_id`
/// parameter). Panics if the document is not well-formed.
pub fn header(xml: &str) -> Header {
    let mut r = quick_xml::Reader::from_str(xml);
    let mut path: Vec<String> = vec![];
    let mut h = Header::default();
    let mut value_name = String::new();
    loop {
        match r.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) => {
                path.push(e.local_name().into_inner().to_string())
            }
            quick_xml::events::Event::End(_) => {
                path.pop();
            }
            quick_xml::events::Event::Text(t) => {
                let v = t.xml10_content().to_string();
                let p: Vec<&str> = path.iter().map(String::as_str).collect();
                match p.as_slice() {
                    ["alert", "identifier"] => h.identifier = v,
                    ["alert", "sent"] => h.sent = v,
                    ["alert", "status"] => h.status = v,
                    ["alert", "msgType"] => h.msg_type = v,
                    ["alert", "note"] => h.note = v,
                    ["alert", "references"] => {
                        h.references = v.split_whitespace().map(str::to_string).collect()
                    }
                    ["alert", "info", "parameter", "valueName"] => value_name = v,
                    ["alert", "info", "parameter", "value"] if value_name == "alert_id" => {
                        h.alert_id = v
                    }
                    _ => {}
                }
            }
            quick_xml::events::Event::Eof => return h,
            _ => {}
        }
    }
}

/// Validates documents against the CAP 1.2 schema with xmllint, one file each; returns
/// false (and says so) when xmllint is not installed and not required.
pub fn validate(what: &str, docs: &[String], schema: Option<&Path>) -> bool {
    if docs.is_empty() {
        return true;
    }
    if !tool_available(
        "xmllint",
        "VIGIE_REQUIRE_XMLLINT",
        "apt-get install libxml2-utils",
    ) {
        return false;
    }
    let dir = std::env::temp_dir().join(unique_prefix("cap"));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<String> = docs
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let f = dir.join(format!("{i:05}.xml"));
            std::fs::write(&f, d).unwrap();
            f.to_str().unwrap().to_string()
        })
        .collect();
    let mut cmd = std::process::Command::new("xmllint");
    cmd.arg("--noout");
    if let Some(xsd) = schema {
        cmd.arg("--schema").arg(xsd);
    }
    let o = cmd.args(&files).output().expect("xmllint runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && !err.contains("fails to validate") && !err.contains("error"),
        "{what}: xmllint: {}",
        err.lines().take(20).collect::<Vec<_>>().join("\n")
    );
    if schema.is_some() {
        assert_eq!(
            err.matches(" validates").count(),
            docs.len(),
            "{what}: every document validates"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    true
}

pub fn cap_schema() -> std::path::PathBuf {
    let p = shared("data/cap/cap12.xsd");
    assert!(p.exists(), "the CAP 1.2 schema at {}", p.display());
    p
}

/// What a scene's CAP and CISE documents must be, given its alert events (offline: every
/// one exercise data): one CAP document per event, in order; per alert `Alert`, `Update`s,
/// `Cancel`, each referencing every document of its alert before it; `Exercise`, never
/// `Actual`; every document valid against the schema; one well-formed CISE incident per
/// raised pickup.
pub fn check_scene_documents(name: &str, alerts: &[AlertEvent], cap: &[u8], cise: &[u8]) {
    let docs: Vec<String> = lines(cap);
    assert_eq!(
        docs.len(),
        alerts.len(),
        "{name}: one CAP document per event"
    );
    let mut chains: BTreeMap<&str, Vec<Header>> = BTreeMap::new();
    for (a, d) in alerts.iter().zip(&docs) {
        let h = header(d);
        assert_eq!(h.alert_id, a.id, "{name}");
        assert_eq!(
            h.status, "Exercise",
            "{name}: replayed data is never Actual"
        );
        assert!(h.note.starts_with("Exercise: "), "{name}: {}", h.note);
        let chain = chains.entry(&a.id).or_default();
        let want = match a.state {
            AlertState::Raised => "Alert",
            AlertState::Updated => "Update",
            AlertState::Cleared => "Cancel",
        };
        assert_eq!(h.msg_type, want, "{name}: {}", a.id);
        assert_eq!(h.identifier, format!("{}.{}", a.id, chain.len() + 1));
        let earlier: Vec<String> = chain
            .iter()
            .map(|e| format!("vigie@cote-dopale,{},{}", e.identifier, e.sent))
            .collect();
        if earlier.len() < 64 {
            assert_eq!(h.references, earlier, "{name}: {} references", h.identifier);
        }
        chain.push(h);
    }
    validate(name, &docs, Some(&cap_schema()));
    let incidents = lines(cise);
    let raised = alerts
        .iter()
        .filter(|a| a.state == AlertState::Raised && a.kind == "taxi_boat_pickup")
        .count();
    assert_eq!(
        incidents.len(),
        raised,
        "{name}: one CISE incident per pickup"
    );
    for i in &incidents {
        assert!(i.contains("<NatureType>Simulated</NatureType>"), "{name}");
    }
    validate(&format!("{name} (CISE)"), &incidents, None);
}

fn lines(b: &[u8]) -> Vec<String> {
    std::str::from_utf8(b)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Vessel names come from AIS static reports, which anyone can transmit: markup, entities,
/// quotes, a CDATA end, control characters and non-characters must all stay text in a
/// document that still validates.
#[test]
fn a_vessel_name_full_of_markup_gives_valid_cap() {
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    let ctx = vigie::report::ReportContext::new(&cfg, &zones);
    let mut reports = vigie::report::Reports::new(ctx, "hostile <names> & \"quotes\"");
    let names = [
        "<script>alert('x')</script>",
        "A&B &amp; &#0; &lt;",
        "\"quoted\" 'single' ]]> <![CDATA[x]]>",
        "bell\u{7} nul\u{0} esc\u{1b}[2J cr\r lf\n tab\t",
        "\u{FFFE}\u{FFFF}\u{FEFF} é 漢字 🚤",
        "",
    ];
    let mut docs = vec![];
    let mut cise = vec![];
    for (i, n) in names.iter().enumerate() {
        let mut a: AlertEvent = serde_json::from_str(&format!(
            r#"{{"id":"tb-T{i}-20260314T051011Z","kind":"taxi_boat_pickup","state":"raised","track_id":"T{i}<&>","t":"2026-03-14T05:11:41.500Z","lat":50.6767,"lon":1.5630,"zone":{{"id":"equihen-plage","name":"Équihen <Plage> & \"co\""}},"dwell_s":90.0,"speed_kn":0.4,"dark":false,"mmsi":227000123,"exercise":{},"emitted_at":null}}"#,
            i % 2 == 0
        ))
        .unwrap();
        a.name = Some(n.to_string());
        let d = reports.on_event(&a);
        let h = header(&d.cap.xml);
        assert_eq!(h.alert_id, a.id);
        assert!(!d.cap.xml.contains("<script>") && !d.cap.xml.contains('\u{0}'));
        docs.push(d.cap.xml);
        cise.extend(d.cise);
        let sitrep = reports.sitrep(&a);
        assert!(
            !sitrep.contains('\n') && !sitrep.contains('\u{0}'),
            "{sitrep}"
        );
    }
    validate("hostile names", &docs, Some(&cap_schema()));
    validate("hostile names (CISE)", &cise, None);
}

/// The CISE-shaped incident of the Équihen pickup, byte for byte: the shape a national CISE
/// adaptor is written against. `VIGIE_BLESS=1` rewrites the golden file after a deliberate
/// change.
#[test]
fn the_cise_incident_matches_its_golden_file() {
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let rec = recording(&sim::simulate_for(&scene("equihen-pickup"), &cfg, "vigie"));
    let (_, cise) = offline_docs(&cfg, &rec);
    let got = String::from_utf8(cise).unwrap();
    assert_eq!(got.lines().count(), 1);
    let path = format!(
        "{}/tests/data/cise-equihen-pickup.xml",
        env!("CARGO_MANIFEST_DIR")
    );
    if std::env::var_os("VIGIE_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).expect("golden file (VIGIE_BLESS=1 writes it)");
    assert_eq!(got, want);
}

/// The documents as a centre receives them over MQTT: live data is `Actual`, a replay
/// `Exercise`; an acknowledgement from another console is an `Update` and an `Ack`
/// referencing the alert; the active set is emptied by the `Cancel`; every document
/// validates; the live chain has the identifiers and times of the offline run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cap_on_mqtt_is_actual_for_live_data_and_exercise_for_replays() {
    let _heavy = heavy().await;
    for (which, url) in brokers() {
        let prefix = unique_prefix("cap");
        let mut cfg = config(&url, &prefix);
        // Live contacts of a scene that began 20 minutes ago are within this age.
        cfg.limits.max_age_s = 3600.0;
        let mut sc = scene("equihen-pickup");
        sc.start = vigie::EventTime::now().plus_secs(-sc.duration_s - 5.0);
        let lines = sim::simulate_for(&sc, &cfg, &prefix);
        let rec = recording(&lines);
        let (expected, _) = crate::offline(&cfg, &rec);
        let raised = expected
            .iter()
            .find(|a| a.state == AlertState::Raised)
            .expect("the scene raises")
            .clone();
        let h = start_ready(cfg.clone()).await;
        let mut sub = Sub::new(&url, &format!("{prefix}/cap/alerts")).await;
        let mut cise = Sub::new(&url, &format!("{prefix}/cise/incidents")).await;
        let p = publisher(&url).await;
        // Live, as sensors publish (no exercise mark), until just after the raise.
        let split = lines
            .iter()
            .position(|l| l.t_rx.secs_since(raised.t) > 1.0)
            .unwrap();
        publish_raw(&p, &lines[..split]).await;
        let first = sub.next(30.0).await.expect("the Alert");
        let first = String::from_utf8(first.payload.to_vec()).unwrap();
        let h1 = header(&first);
        assert_eq!(
            (h1.msg_type.as_str(), h1.status.as_str()),
            ("Alert", "Actual")
        );
        assert!(
            h1.note.is_empty(),
            "{which}: live data carries no exercise note"
        );
        // Another console acknowledges over MQTT.
        p.client
            .publish(
                format!("{prefix}/alerts/actions/{}/set", raised.id),
                rumqttc::QoS::AtLeastOnce,
                false,
                r#"{"action":"acknowledge","by":"CROSS Gris-Nez"}"#,
            )
            .await
            .unwrap();
        let mut docs = vec![first];
        for _ in 0..2 {
            let m = sub.next(20.0).await.expect("Update and Ack of the action");
            docs.push(String::from_utf8(m.payload.to_vec()).unwrap());
        }
        let (upd, ack) = (header(&docs[1]), header(&docs[2]));
        assert_eq!(
            (upd.msg_type.as_str(), ack.msg_type.as_str()),
            ("Update", "Ack")
        );
        assert!(
            upd.note.contains("Acknowledged by CROSS Gris-Nez"),
            "{}",
            upd.note
        );
        assert!(ack.references.iter().any(|r| r.contains(&h1.identifier)));
        publish_raw(&p, &lines[split..]).await;
        while let Some(m) = sub
            .next(if docs.len() < expected.len() + 2 {
                20.0
            } else {
                1.5
            })
            .await
        {
            docs.push(String::from_utf8(m.payload.to_vec()).unwrap());
        }
        let heads: Vec<Header> = docs.iter().map(|d| header(d)).collect();
        assert!(heads.iter().all(|h| h.status == "Actual"), "{which}");
        assert_eq!(heads.last().unwrap().msg_type, "Cancel");
        assert_eq!(
            heads.last().unwrap().references.len(),
            docs.len() - 1,
            "{which}: the Cancel references every document before it"
        );
        // The same chain as offline, with the two operator documents in it.
        let offline: Vec<String> = expected
            .iter()
            .enumerate()
            .map(|(k, a)| format!("{}.{}", a.id, if k == 0 { 1 } else { k + 3 }))
            .collect();
        let live: Vec<String> = heads
            .iter()
            .filter(|h| h.msg_type != "Ack" && !h.note.contains("Operator"))
            .map(|h| h.identifier.clone())
            .collect();
        assert_eq!(live, offline, "{which}");
        validate(which, &docs, Some(&cap_schema()));
        let incident = cise.next(5.0).await.expect("a CISE incident");
        let incident = String::from_utf8(incident.payload.to_vec()).unwrap();
        assert!(incident.contains("<NatureType>Observed</NatureType>"));
        // Nothing left active once cleared.
        let mut active = Sub::new(&url, &format!("{prefix}/cap/active/#")).await;
        let left: Vec<_> = active
            .drain(1.0)
            .await
            .into_iter()
            .filter(|m| !m.payload.is_empty())
            .collect();
        assert!(left.is_empty(), "{which}: {} still retained", left.len());

        // The same scene replayed (`vigie replay --mqtt`) is an exercise.
        let sc = scene("equihen-pickup");
        let rec = recording(&sim::simulate_for(&sc, &cfg, &prefix));
        vigie::io::replay::replay_live(&url, &Default::default(), rec.as_bytes(), Some(200.0))
            .await
            .unwrap();
        let mut exercise = vec![];
        while let Some(m) = sub.next(if exercise.is_empty() { 20.0 } else { 2.0 }).await {
            exercise.push(String::from_utf8(m.payload.to_vec()).unwrap());
        }
        assert!(!exercise.is_empty(), "{which}: the replay raised");
        for d in &exercise {
            let h = header(d);
            assert_eq!(h.status, "Exercise", "{which}");
            assert!(h.note.starts_with("Exercise: replay"), "{}", h.note);
        }
        validate(which, &exercise, Some(&cap_schema()));
        h.stop().await;
        clear_retained(&url, &prefix).await;
    }
}

/// Publishes recording lines as live sensors do: QoS 1, unmarked, as fast as the broker
/// takes them in order (the client waits for room).
async fn publish_raw(p: &vigie::io::mqtt::Link, lines: &[RecordLine]) {
    for (i, l) in lines.iter().enumerate() {
        p.client
            .publish(
                l.topic.clone(),
                rumqttc::QoS::AtLeastOnce,
                false,
                l.payload_bytes(),
            )
            .await
            .unwrap();
        // Paced a little: an unpaced burst of QoS 1 overflows Mosquitto's per-client queue.
        if i % 100 == 99 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

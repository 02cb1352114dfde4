//! The incident record (contract §7): every alert event and every operator action, in an
//! embedded SQLite database (`rusqlite`, SQLite compiled in) that survives restarts and
//! kill -9.
//!
//! Why SQLite in WAL mode with `synchronous = NORMAL`: each event is its own committed
//! transaction, and a committed WAL transaction survives the process being killed (only a
//! power cut can lose the last ones); readers (`vigie incidents`, the console's list of
//! resolved incidents) never block the writer. Writes happen on a thread of their own, so
//! the engine loop never waits on the disk.

use crate::behaviour::AlertEvent;
use crate::time::EventTime;
use rusqlite::{params, Connection, OpenFlags};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum IncidentError {
    #[error("incident record {path}: {source}")]
    Db {
        path: PathBuf,
        source: rusqlite::Error,
    },
}

pub use crate::behaviour::Action;

/// One alert's whole history.
#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    pub alert_id: String,
    pub kind: String,
    pub events: Vec<AlertEvent>,
    pub actions: Vec<Action>,
}

impl Incident {
    /// The outcome of its last `resolve`, if resolved.
    pub fn outcome(&self) -> Option<&str> {
        self.actions
            .iter()
            .rev()
            .find(|a| a.action == "resolve")
            .and_then(|a| a.outcome.as_deref())
    }
}

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    t TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_alert ON events (alert_id);
CREATE TABLE IF NOT EXISTS actions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id TEXT NOT NULL,
    at TEXT NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS actions_alert ON actions (alert_id);
";

/// The record, open for writing.
pub struct IncidentLog {
    path: PathBuf,
    db: Connection,
}

impl IncidentLog {
    pub fn open(path: &Path) -> Result<Self, IncidentError> {
        let err = |source| IncidentError::Db {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let db = Connection::open(path).map_err(err)?;
        db.execute_batch(SCHEMA).map_err(err)?;
        Ok(IncidentLog {
            path: path.to_path_buf(),
            db,
        })
    }

    fn err(&self, source: rusqlite::Error) -> IncidentError {
        IncidentError::Db {
            path: self.path.clone(),
            source,
        }
    }

    pub fn event(&self, ev: &AlertEvent) -> Result<(), IncidentError> {
        let json = serde_json::to_string(ev).expect("alerts serialise");
        self.db
            .execute(
                "INSERT INTO events (alert_id, kind, state, t, json) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![ev.id, ev.kind, ev.state.as_str(), ev.t.to_rfc3339(), json],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }

    pub fn action(&self, a: &Action) -> Result<(), IncidentError> {
        let json = serde_json::to_string(a).expect("actions serialise");
        self.db
            .execute(
                "INSERT INTO actions (alert_id, at, json) VALUES (?1, ?2, ?3)",
                params![a.alert_id, a.at.to_rfc3339(), json],
            )
            .map(drop)
            .map_err(|e| self.err(e))
    }
}

/// Every incident with an event at or after `since` (event time), oldest first, each with
/// all its events and actions. Opens the record read-only: a running service keeps writing.
pub fn list(path: &Path, since: Option<EventTime>) -> Result<Vec<Incident>, IncidentError> {
    let err = |source| IncidentError::Db {
        path: path.to_path_buf(),
        source,
    };
    let db = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(err)?;
    let since = since.map(|t| t.to_rfc3339()).unwrap_or_default();
    let mut by_id: BTreeMap<String, (i64, Incident)> = BTreeMap::new();
    let mut q = db
        .prepare(
            "SELECT seq, alert_id, kind, json FROM events WHERE alert_id IN \
             (SELECT alert_id FROM events WHERE t >= ?1) ORDER BY seq",
        )
        .map_err(err)?;
    let rows = q
        .query_map(params![since], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        })
        .map_err(err)?;
    for row in rows {
        let (seq, id, kind, json) = row.map_err(err)?;
        let Ok(ev) = serde_json::from_str::<AlertEvent>(&json) else {
            continue;
        };
        by_id
            .entry(id.clone())
            .or_insert_with(|| {
                (
                    seq,
                    Incident {
                        alert_id: id,
                        kind,
                        events: vec![],
                        actions: vec![],
                    },
                )
            })
            .1
            .events
            .push(ev);
    }
    let mut q = db
        .prepare("SELECT alert_id, json FROM actions ORDER BY seq")
        .map_err(err)?;
    let rows = q
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(err)?;
    for row in rows {
        let (id, json) = row.map_err(err)?;
        if let (Some((_, inc)), Ok(a)) = (by_id.get_mut(&id), serde_json::from_str(&json)) {
            inc.actions.push(a);
        }
    }
    let mut out: Vec<(i64, Incident)> = by_id.into_values().collect();
    out.sort_by_key(|(seq, _)| *seq);
    Ok(out.into_iter().map(|(_, i)| i).collect())
}

/// What the writer thread is sent.
pub enum Record {
    Event(AlertEvent),
    Action(Action),
}

/// Starts the writer thread; what it is sent is written in order. A write that fails is
/// logged and counted by the caller's metric hook, and the service goes on.
pub fn writer(
    log: IncidentLog,
    on_error: impl Fn() + Send + 'static,
) -> std::sync::mpsc::Sender<Record> {
    let (tx, rx) = std::sync::mpsc::channel::<Record>();
    std::thread::Builder::new()
        .name("vigie-incidents".into())
        .spawn(move || {
            for r in rx {
                let res = match &r {
                    Record::Event(e) => log.event(e),
                    Record::Action(a) => log.action(a),
                };
                if let Err(e) = res {
                    tracing::error!("{e}");
                    on_error();
                }
            }
        })
        .expect("spawning the incident writer");
    tx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::behaviour::AlertState;

    fn event(id: &str, state: AlertState, t: i64) -> AlertEvent {
        AlertEvent {
            id: id.into(),
            kind: "taxi_boat_pickup".into(),
            state,
            track_id: "T1".into(),
            t: EventTime(t),
            lat: 50.7,
            lon: 1.56,
            zone: None,
            dwell_s: 90.0,
            speed_kn: 0.4,
            dark: true,
            mmsi: None,
            exercise: true,
            emitted_at: None,
            reason: None,
            distance_m: None,
            other_lat: None,
            other_lon: None,
            name: None,
            sensors: None,
            position_error_m: None,
        }
    }

    #[test]
    fn events_and_actions_come_back_per_alert_and_since_filters() {
        let dir = std::env::temp_dir().join(format!("vigie-inc-{}", std::process::id()));
        let path = dir.join("record.sqlite");
        let _ = std::fs::remove_file(&path);
        let log = IncidentLog::open(&path).unwrap();
        log.event(&event("a", AlertState::Raised, 1_000_000))
            .unwrap();
        log.event(&event("b", AlertState::Raised, 5_000_000_000))
            .unwrap();
        log.action(&Action {
            alert_id: "a".into(),
            action: "resolve".into(),
            by: "watch officer".into(),
            unit: None,
            outcome: Some("intercepted".into()),
            text: Some("\"quoted\" <b>".into()),
            at: EventTime(2_000_000),
        })
        .unwrap();
        log.event(&event("a", AlertState::Cleared, 3_000_000))
            .unwrap();
        drop(log);
        let all = list(&path, None).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!((all[0].alert_id.as_str(), all[0].events.len()), ("a", 2));
        assert_eq!(all[0].outcome(), Some("intercepted"));
        assert_eq!(all[0].actions[0].text.as_deref(), Some("\"quoted\" <b>"));
        let later = list(&path, Some(EventTime(4_000_000_000))).unwrap();
        assert_eq!(later.len(), 1);
        assert_eq!(later[0].alert_id, "b");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! Engine snapshots (contract §9, issue 22): the whole [`Pipeline`] — decoder's pending
//! fragments, rate limits, tracks, clutter map, loiter windows, active alerts — with the
//! position in the contact stream it reflects, so that a restarted replica continues the
//! same tracks, dwell times and alert ids after replaying only what came since.
//!
//! Why the whole pipeline and not a summary of it: the engine is a deterministic function of
//! the contacts it has taken, and a replica restored from a snapshot must compute, from
//! there on, exactly what a replica that never stopped computes (the centre sees one alert
//! stream from whichever replica holds the lease). Anything left out — a track's IMM mode
//! probabilities, a merger's evidence, a rate limit's ring — would make them drift apart.
//! Floats are stored bit for bit (postcard, a compact binary serde format).
//!
//! A snapshot names its format, the vigie version that wrote it and a fingerprint of the
//! configuration the engine depends on (radars, AIS, tracker, alerts, limits, frame, zones).
//! One that does not match is refused with a reason and the replica replays from further
//! back: never misread, never fatal. Pure: the adapter stores and fetches the bytes.

use crate::config::Config;
use crate::geo::zones::Zone;
use crate::pipeline::Pipeline;
use serde::{Deserialize, Serialize};
use std::hash::Hasher;

/// Bumped whenever the state's layout changes; a snapshot of another format is not read.
pub const SNAPSHOT_FORMAT: u32 = 3;

const MAGIC: [u8; 8] = *b"VIGIESNP";

/// What precedes the engine's state, readable on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotHeader {
    magic: [u8; 8],
    pub format: u32,
    /// The vigie version that wrote it (the state's layout may change between versions
    /// without a format bump only by mistake; this catches that mistake).
    pub version: String,
    /// [`fingerprint`] of the configuration and zones it was computed with.
    pub config: u64,
    /// The last contact-stream sequence the state reflects: replay resumes after it.
    pub stream_seq: u64,
    /// Receive time (stream timestamp, µs) of that contact, for the snapshot's age.
    pub t_rx_us: i64,
    /// Length and hash of the state that follows: a snapshot damaged in storage or cut
    /// short is refused before it is read, not restored into an engine that would panic
    /// on an index out of range later.
    pub body_len: u64,
    pub body_hash: u64,
}

fn body_hash(body: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(body);
    h.finish()
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SnapshotError {
    #[error("not a vigie snapshot ({0})")]
    Corrupt(String),
    #[error("snapshot format {found}, this vigie reads {SNAPSHOT_FORMAT}")]
    Format { found: u32 },
    #[error("snapshot written by vigie {found}, this is {}", env!("CARGO_PKG_VERSION"))]
    Version { found: String },
    #[error("snapshot computed with another configuration or zones (fingerprint {found:016x}, now {now:016x})")]
    Config { found: u64, now: u64 },
}

/// A stable hash of what the engine's behaviour depends on. Not the whole configuration:
/// replicas differ in their names, listen addresses and files, and may share snapshots.
pub fn fingerprint(cfg: &Config, zones: &[Zone]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    // Where the loiter memory is kept is a file, not behaviour.
    let mut alerts = cfg.alerts.clone();
    alerts.memory_file = Default::default();
    let parts = serde_json::json!({
        "radar": cfg.radar,
        "ais": cfg.ais,
        "tracker": cfg.tracker,
        "alerts": alerts,
        "limits": cfg.limits,
        "frame": cfg.frame_origin(),
        "prefix": cfg.mqtt.prefix,
        "track_interval_s": cfg.mqtt.track_interval_s,
    });
    h.write(parts.to_string().as_bytes());
    for z in zones {
        // Zone has no serde; its Debug form names every field and coordinate.
        h.write(format!("{z:?}").as_bytes());
    }
    h.finish()
}

/// The pipeline's state after the contact at `stream_seq` (received at `t_rx_us`), with
/// `active`: the latest event of each active alert as published (JSON), which the
/// replicated deployment's active set is rebuilt from.
pub fn write(
    p: &Pipeline,
    active: &[String],
    fingerprint: u64,
    stream_seq: u64,
    t_rx_us: i64,
) -> Vec<u8> {
    let body = postcard::to_stdvec(&(p, active)).expect("the pipeline serialises into memory");
    let header = SnapshotHeader {
        magic: MAGIC,
        format: SNAPSHOT_FORMAT,
        version: env!("CARGO_PKG_VERSION").into(),
        config: fingerprint,
        stream_seq,
        t_rx_us,
        body_len: body.len() as u64,
        body_hash: body_hash(&body),
    };
    let mut out = postcard::to_stdvec(&header).expect("a header serialises");
    out.extend_from_slice(&body);
    out
}

/// The header alone, checked: what a replica reads to choose among snapshots.
pub fn header(bytes: &[u8], fingerprint: u64) -> Result<SnapshotHeader, SnapshotError> {
    Ok(split(bytes, fingerprint)?.0)
}

fn split(bytes: &[u8], now: u64) -> Result<(SnapshotHeader, &[u8]), SnapshotError> {
    let (h, rest): (SnapshotHeader, &[u8]) =
        postcard::take_from_bytes(bytes).map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
    if h.magic != MAGIC {
        return Err(SnapshotError::Corrupt("no magic".into()));
    }
    if h.format != SNAPSHOT_FORMAT {
        return Err(SnapshotError::Format { found: h.format });
    }
    if h.version != env!("CARGO_PKG_VERSION") {
        return Err(SnapshotError::Version { found: h.version });
    }
    if h.config != now {
        return Err(SnapshotError::Config {
            found: h.config,
            now,
        });
    }
    if rest.len() as u64 != h.body_len || body_hash(rest) != h.body_hash {
        return Err(SnapshotError::Corrupt(format!(
            "state of {} bytes does not match its header ({} bytes)",
            rest.len(),
            h.body_len
        )));
    }
    Ok((h, rest))
}

/// What a snapshot holds.
pub struct Restored {
    pub header: SnapshotHeader,
    pub pipeline: Pipeline,
    /// The latest event of each active alert (JSON), as given to [`write`].
    pub active: Vec<String>,
}

/// The pipeline a snapshot holds, with its zones set from `zones` (the configured ones,
/// which the fingerprint has checked are those it was computed with).
pub fn read(bytes: &[u8], cfg: &Config, zones: Vec<Zone>) -> Result<Restored, SnapshotError> {
    let (header, body) = split(bytes, fingerprint(cfg, &zones))?;
    let ((mut p, active), rest): ((Pipeline, Vec<String>), &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| SnapshotError::Corrupt(e.to_string()))?;
    if !rest.is_empty() {
        return Err(SnapshotError::Corrupt(format!(
            "{} bytes after the state",
            rest.len()
        )));
    }
    p.set_restored_zones(zones);
    Ok(Restored {
        header,
        pipeline: p,
        active,
    })
}

//! `vigie replay`: a recording processed offline (deterministic, no broker; what tests,
//! benchmarks and debriefs use) or published live on its topics as exercise data.

use super::error::{io_err, ServiceError};
use super::mqtt::{Link, LinkOptions};
use super::publish::{stamp, RejectLog};
use crate::config::broker::Security;
use crate::config::Config;
use crate::geo::zones;
use crate::pipeline::Pipeline;
use crate::recording;
use crate::report::{ReportContext, Reports};
use crate::time::EventTime;
use rumqttc::QoS;
use std::io::{BufRead, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What an offline replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplaySummary {
    pub messages: u64,
    pub contacts: u64,
    pub rejected: u64,
    pub bad_lines: u64,
    pub tracks: u64,
    pub alerts: u64,
    pub seconds: f64,
}

impl std::fmt::Display for ReplaySummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} messages, {} contacts, {} confirmed tracks, {} alert events, {} rejected, {} bad lines; {:.0} contacts/s",
            self.messages,
            self.contacts,
            self.tracks,
            self.alerts,
            self.rejected,
            self.bad_lines,
            self.contacts as f64 / self.seconds.max(1e-9)
        )
    }
}

/// Where an offline replay writes. Each is one item a line: alert events and track states
/// as JSON, CAP and CISE documents as XML on one line each (their text carries no line
/// break).
pub struct OfflineOut<'a> {
    pub alerts: &'a mut dyn Write,
    pub tracks: Option<&'a mut dyn Write>,
    /// `--cap-out`: the CAP 1.2 document of every alert event (contract §8).
    pub cap: Option<&'a mut dyn Write>,
    /// `--cise-out`: the CISE-shaped incident of every raised pickup.
    pub cise: Option<&'a mut dyn Write>,
}

impl<'a> OfflineOut<'a> {
    /// Alert events only.
    pub fn alerts(alerts: &'a mut dyn Write) -> Self {
        OfflineOut {
            alerts,
            tracks: None,
            cap: None,
            cise: None,
        }
    }
}

/// What every offline CAP document says the exercise is.
pub const OFFLINE_EXERCISE: &str =
    "offline replay of recorded or simulated data (vigie replay --offline); not a live incident";

/// `vigie replay FILE --offline`: processes a recording as fast as it can, in file order,
/// with no broker. Alerts and (optionally) confirmed track states are written as NDJSON,
/// CAP and CISE documents one a line.
pub fn replay_offline(
    cfg: &Config,
    input: impl BufRead,
    out: OfflineOut<'_>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<ReplaySummary, ServiceError> {
    let OfflineOut {
        alerts: alerts_out,
        mut tracks,
        mut cap,
        mut cise,
    } = out;
    let zone_list = zones::load(&cfg.zones.path)?;
    let mut reports = (cap.is_some() || cise.is_some())
        .then(|| Reports::new(ReportContext::new(cfg, &zone_list), OFFLINE_EXERCISE));
    let mut pipeline = Pipeline::new(cfg, zone_list, true);
    let mut s = ReplaySummary::default();
    let mut confirmed = rustc_hash::FxHashSet::default();
    let t0 = Instant::now();
    let mut rejects = RejectLog::default();
    let mut buf = Vec::with_capacity(256);
    recording::for_each_raw(input, |item| {
        let line = match item {
            Ok(l) => l,
            Err(recording::RecordingError::BadLine { line, message }) => {
                tracing::warn!("recording line {line} skipped: {message}");
                s.bad_lines += 1;
                return Ok(());
            }
            Err(recording::RecordingError::Io(e)) => {
                return Err(io_err("reading the recording")(e))
            }
        };
        if let Some(p) = progress {
            p.inc(1);
        }
        s.messages += 1;
        let out = pipeline.process(&line.topic, &line.payload, line.t_rx);
        rejects.log(&line.topic, out);
        s.contacts += out.contacts as u64;
        s.rejected += out.rejects.len() as u64;
        for a in &out.alerts {
            s.alerts += 1;
            alerts_out
                .write_all(stamp(a).as_bytes())
                .and_then(|_| alerts_out.write_all(b"\n"))
                .map_err(io_err("writing alerts"))?;
            if let Some(r) = reports.as_mut() {
                let docs = r.on_event(a);
                if let Some(w) = cap.as_deref_mut() {
                    write_line(w, &docs.cap.xml).map_err(io_err("writing CAP documents"))?;
                }
                if let (Some(w), Some(x)) = (cise.as_deref_mut(), &docs.cise) {
                    write_line(w, x).map_err(io_err("writing CISE incidents"))?;
                }
            }
        }
        for t in &out.tracks {
            if !confirmed.contains(&t.track_id) {
                confirmed.insert(t.track_id.clone());
            }
            if let Some(w) = tracks.as_deref_mut() {
                buf.clear();
                serde_json::to_writer(&mut buf, t).expect("tracks serialise");
                buf.push(b'\n');
                w.write_all(&buf).map_err(io_err("writing tracks"))?;
            }
        }
        Ok(())
    })?;
    alerts_out.flush().map_err(io_err("writing alerts"))?;
    for w in [tracks, cap, cise].into_iter().flatten() {
        w.flush().map_err(io_err("writing outputs"))?;
    }
    s.tracks = confirmed.len() as u64;
    s.seconds = t0.elapsed().as_secs_f64();
    Ok(s)
}

fn write_line(w: &mut dyn Write, text: &str) -> std::io::Result<()> {
    w.write_all(text.as_bytes())?;
    w.write_all(b"\n")
}

/// `vigie replay FILE --mqtt URL [--speed X]`: publishes a recording's messages on their
/// topics, marked as exercise data, paced by their receive times divided by `speed`
/// (`None`: as fast as possible). Returns the number of messages published.
pub async fn replay_live(
    url: &str,
    security: &Security,
    input: impl BufRead,
    speed: Option<f64>,
) -> Result<u64, ServiceError> {
    let mut o = LinkOptions::new(url, &format!("vigie-replay-{}", std::process::id()));
    o.security = security.clone();
    let mut link = Link::start(o)?;
    link.wait_connected(url, 10).await?;
    let start = Instant::now();
    let mut base: Option<EventTime> = None;
    let mut n = 0;
    for item in recording::read(input) {
        let line = match item {
            Ok(l) => l,
            Err(recording::RecordingError::BadLine { line, message }) => {
                tracing::warn!("recording line {line} skipped: {message}");
                continue;
            }
            Err(recording::RecordingError::Io(e)) => {
                return Err(io_err("reading the recording")(e))
            }
        };
        if let Some(speed) = speed {
            let b = *base.get_or_insert(line.t_rx);
            let due = Duration::from_secs_f64((line.t_rx.secs_since(b) / speed).max(0.0));
            if let Some(wait) = due.checked_sub(start.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
        if let Err(e) = link
            .client
            .publish(
                line.topic.clone(),
                QoS::AtLeastOnce,
                false,
                line.exercise_payload(),
            )
            .await
        {
            tracing::error!("cannot publish line for {}: {e}", line.topic);
            continue;
        }
        n += 1;
    }
    // Every message acknowledged by the broker before we hang up.
    if !link.wait_acked(n, 10.0).await {
        tracing::warn!(
            "the broker acknowledged only {} of {n} messages within 10 s: some were lost",
            link.acked.load(Ordering::Relaxed)
        );
    }
    link.close().await;
    Ok(n)
}

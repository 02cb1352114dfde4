//! `vigie replay`: a recording processed offline (deterministic, no broker; what tests,
//! benchmarks and debriefs use) or published live on its topics as exercise data.

use super::error::{io_err, ServiceError};
use super::mqtt::{Link, LinkOptions};
use super::publish::{stamp, RejectLog};
use crate::config::broker::Security;
use crate::config::Config;
use crate::engine::TrackState;
use crate::geo::zones;
use crate::pipeline::{Engines, Intake, Message, Pipeline};
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
    /// Sent to a thread of its own when the replay runs on two (see [`Threads`]).
    pub tracks: Option<&'a mut (dyn Write + Send)>,
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

/// How many threads an offline replay runs the pipeline's two stages on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Reading, decoding, tracking and writing one after the other.
    One,
    /// Reading and decoding (the [`Intake`]) on a thread of their own, tracking and
    /// writing on the caller's; messages handed across in order, in batches.
    Two,
}

impl Threads {
    /// Two when the machine has a second core, else one.
    pub fn available() -> Self {
        match std::thread::available_parallelism() {
            Ok(n) if n.get() >= 2 => Threads::Two,
            _ => Threads::One,
        }
    }
}

/// `vigie replay FILE --offline`: processes a recording as fast as it can, in file order,
/// with no broker. Alerts and (optionally) confirmed track states are written as NDJSON,
/// CAP and CISE documents one a line. On two threads when the machine has two cores (see
/// [`replay_offline_on`]).
pub fn replay_offline(
    cfg: &Config,
    input: impl BufRead + Send,
    out: OfflineOut<'_>,
    progress: Option<&indicatif::ProgressBar>,
) -> Result<ReplaySummary, ServiceError> {
    replay_offline_on(cfg, input, out, progress, Threads::available())
}

/// Messages decoded by the intake thread, in recording order. Their topics are kept in
/// one string (the engines need a message's topic, and one allocation a batch is cheaper
/// than one a message). Sent back once the engines are done with it, and filled again:
/// its messages' buffers serve the next ones.
#[derive(Default)]
struct Batch {
    topics: String,
    /// The first `len` are this batch's; the rest are kept for their buffers.
    messages: Vec<(std::ops::Range<usize>, Message)>,
    len: usize,
}

impl Batch {
    fn push(&mut self, intake: &mut Intake, topic: &str, payload: &[u8], t_rx: EventTime) {
        let start = self.topics.len();
        self.topics.push_str(topic);
        let range = start..self.topics.len();
        match self.messages.get_mut(self.len) {
            Some((r, m)) => {
                intake.take_into(topic, payload, t_rx, m);
                *r = range;
            }
            None => self
                .messages
                .push((range, intake.take(topic, payload, t_rx))),
        }
        self.len += 1;
    }

    /// Emptied for reuse, its messages' buffers handed back to the intake.
    fn recycle(&mut self, intake: &mut Intake) {
        for (_, m) in &mut self.messages[..self.len] {
            intake.recycle(m);
        }
        self.topics.clear();
        self.len = 0;
    }
}

/// Messages a batch carries: enough that handing one across costs nothing per message,
/// few enough that the two threads overlap from the start.
const BATCH: usize = 512;
/// Batches in flight between the threads (the intake runs at most this far ahead).
const IN_FLIGHT: usize = 4;

/// [`replay_offline`] on `threads`. The outputs are the same byte for byte whatever the
/// threads: each stage runs its messages in recording order (a test checks every scene).
pub fn replay_offline_on(
    cfg: &Config,
    input: impl BufRead + Send,
    out: OfflineOut<'_>,
    progress: Option<&indicatif::ProgressBar>,
    threads: Threads,
) -> Result<ReplaySummary, ServiceError> {
    let zone_list = zones::load(&cfg.zones.path)?;
    let reports = (out.cap.is_some() || out.cise.is_some())
        .then(|| Reports::new(ReportContext::new(cfg, &zone_list), OFFLINE_EXERCISE));
    let (mut intake, mut engines) = Pipeline::new(cfg, zone_list, true).into_stages();
    engines.set_track_states(out.tracks.is_some());
    let mut sink = Sink {
        engines,
        out,
        reports,
        s: ReplaySummary::default(),
        rejects: RejectLog::default(),
        buf: Vec::with_capacity(256),
        tracks_to: None,
    };
    let t0 = Instant::now();
    let bad_lines = match threads {
        Threads::One => {
            let mut bad = 0;
            let mut m = Message::default();
            read_lines(input, progress, &mut bad, |topic, payload, t_rx| {
                intake.take_into(topic, payload, t_rx, &mut m);
                let r = sink.apply(topic, &mut m);
                intake.recycle(&mut m);
                r.map_err(Stop::Failed)
            })
            .map_err(Stop::into_error)?;
            bad
        }
        Threads::Two => std::thread::scope(|scope| {
            // Track states are serialised and written on a third thread: with
            // `--tracks-out` that is as much work as tracking.
            let writer = sink.out.tracks.take().map(|w| {
                let (tx, rx) = std::sync::mpsc::sync_channel(IN_FLIGHT);
                let (back_tx, back) = std::sync::mpsc::channel();
                sink.tracks_to = Some(TracksTo {
                    tx,
                    back,
                    pending: Vec::with_capacity(TRACKS_BATCH),
                });
                scope.spawn(move || write_tracks(w, rx, back_tx))
            });
            let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<Batch>(IN_FLIGHT);
            let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Batch>();
            let reader = scope.spawn(move || {
                let mut bad = 0;
                let mut batch = Batch::default();
                let r = read_lines(input, progress, &mut bad, |topic, payload, t_rx| {
                    batch.push(&mut intake, topic, payload, t_rx);
                    if batch.len >= BATCH {
                        let next = match empty_rx.try_recv() {
                            Ok(mut b) => {
                                b.recycle(&mut intake);
                                b
                            }
                            Err(_) => Batch::default(),
                        };
                        // The engines stopped (a write failed): their error is the one
                        // reported.
                        if full_tx.send(std::mem::replace(&mut batch, next)).is_err() {
                            return Err(Stop::EnginesGone);
                        }
                    }
                    Ok(())
                });
                if r.is_ok() && batch.len > 0 {
                    let _ = full_tx.send(batch);
                }
                r.map(|()| bad)
            });
            let mut failed = None;
            for mut b in full_rx {
                let Batch {
                    topics,
                    messages,
                    len,
                } = &mut b;
                for (range, m) in &mut messages[..*len] {
                    if let Err(e) = sink.apply(&topics[range.clone()], m) {
                        failed = Some(e);
                        break;
                    }
                }
                if failed.is_some() {
                    break;
                }
                // The reader may have finished; a batch it will not reuse is just dropped.
                let _ = empty_tx.send(b);
            }
            if failed.is_none() {
                failed = sink.send_tracks().err();
            }
            // Dropping the sender ends the writer.
            sink.tracks_to = None;
            let read = reader.join().expect("the intake thread does not panic");
            let written = writer.map_or(Ok(()), |w| {
                w.join().expect("the tracks' writer does not panic")
            });
            match (written, failed, read) {
                // A write that failed stopped the engines: its error is the cause.
                (Err(e), _, _) | (Ok(()), Some(e), _) => Err(e),
                (Ok(()), None, read) => read.map_err(Stop::into_error),
            }
        })?,
    };
    let Sink { out, mut s, .. } = sink;
    out.alerts.flush().map_err(io_err("writing alerts"))?;
    if let Some(w) = out.tracks {
        w.flush().map_err(io_err("writing tracks"))?;
    }
    for w in [out.cap, out.cise].into_iter().flatten() {
        w.flush().map_err(io_err("writing outputs"))?;
    }
    s.bad_lines = bad_lines;
    s.seconds = t0.elapsed().as_secs_f64();
    Ok(s)
}

/// Why the reading of a recording stopped early.
enum Stop {
    Failed(ServiceError),
    /// The engines' thread stopped, with its own error.
    EnginesGone,
}

impl Stop {
    fn into_error(self) -> ServiceError {
        match self {
            Stop::Failed(e) => e,
            // Not seen in practice: the engines' own error is reported first.
            Stop::EnginesGone => {
                io_err("replaying")(std::io::Error::other("the engines' thread stopped"))
            }
        }
    }
}

/// Each line of a recording to `f` as topic, payload and receive time; bad lines logged
/// and counted. An error from `f` stops the reading.
fn read_lines(
    input: impl BufRead,
    progress: Option<&indicatif::ProgressBar>,
    bad_lines: &mut u64,
    mut f: impl FnMut(&str, &[u8], EventTime) -> Result<(), Stop>,
) -> Result<(), Stop> {
    recording::for_each_raw(input, |item| {
        let line = match item {
            Ok(l) => l,
            Err(recording::RecordingError::BadLine { line, message }) => {
                tracing::warn!("recording line {line} skipped: {message}");
                *bad_lines += 1;
                return Ok(());
            }
            Err(recording::RecordingError::Io(e)) => {
                return Err(Stop::Failed(io_err("reading the recording")(e)))
            }
        };
        if let Some(p) = progress {
            p.inc(1);
        }
        f(&line.topic, &line.payload, line.t_rx)
    })
}

/// The engines and everything an offline replay writes: the second stage.
struct Sink<'a> {
    engines: Engines,
    out: OfflineOut<'a>,
    reports: Option<Reports>,
    s: ReplaySummary,
    rejects: RejectLog,
    buf: Vec<u8>,
    /// Track states for the writer thread, when there is one (else they are written to
    /// `out.tracks` here).
    tracks_to: Option<TracksTo>,
}

/// Track states handed to [`write_tracks`] in batches, the emptied ones sent back.
struct TracksTo {
    tx: std::sync::mpsc::SyncSender<Vec<TrackState>>,
    back: std::sync::mpsc::Receiver<Vec<TrackState>>,
    pending: Vec<TrackState>,
}

/// Track states a batch for the writer carries.
const TRACKS_BATCH: usize = 2048;

/// The writer thread: each batch of track states as NDJSON lines to `w`, in order.
fn write_tracks(
    w: &mut (dyn Write + Send),
    rx: std::sync::mpsc::Receiver<Vec<TrackState>>,
    back: std::sync::mpsc::Sender<Vec<TrackState>>,
) -> Result<(), ServiceError> {
    let mut buf = Vec::with_capacity(256 * TRACKS_BATCH);
    for mut batch in rx {
        buf.clear();
        for t in &batch {
            track_line(&mut buf, t);
        }
        w.write_all(&buf).map_err(io_err("writing tracks"))?;
        batch.clear();
        // The engines may have finished; a batch they will not reuse is just dropped.
        let _ = back.send(batch);
    }
    w.flush().map_err(io_err("writing tracks"))
}

/// A track state as one NDJSON line appended to `buf`.
fn track_line(buf: &mut Vec<u8>, t: &TrackState) {
    serde_json::to_writer(&mut *buf, t).expect("track states serialise");
    buf.push(b'\n');
}

impl Sink<'_> {
    /// One decoded message through the engines, its outputs written.
    fn apply(&mut self, topic: &str, m: &mut Message) -> Result<(), ServiceError> {
        let out = self.engines.apply(topic, m);
        let s = &mut self.s;
        self.rejects.log(topic, out);
        s.messages += 1;
        s.contacts += out.contacts as u64;
        s.rejected += out.rejects.len() as u64;
        s.tracks += u64::from(out.new_confirmed);
        for a in &out.alerts {
            s.alerts += 1;
            let w = &mut self.out.alerts;
            w.write_all(stamp(a).as_bytes())
                .and_then(|_| w.write_all(b"\n"))
                .map_err(io_err("writing alerts"))?;
            if let Some(r) = self.reports.as_mut() {
                let docs = r.on_event(a);
                if let Some(w) = self.out.cap.as_deref_mut() {
                    write_line(w, &docs.cap.xml).map_err(io_err("writing CAP documents"))?;
                }
                if let (Some(w), Some(x)) = (self.out.cise.as_deref_mut(), &docs.cise) {
                    write_line(w, x).map_err(io_err("writing CISE incidents"))?;
                }
            }
        }
        for t in &out.tracks {
            if let Some(w) = self.out.tracks.as_deref_mut() {
                self.buf.clear();
                track_line(&mut self.buf, t);
                w.write_all(&self.buf).map_err(io_err("writing tracks"))?;
            } else if let Some(to) = self.tracks_to.as_mut() {
                to.pending.push(t.clone());
            }
        }
        if self
            .tracks_to
            .as_ref()
            .is_some_and(|to| to.pending.len() >= TRACKS_BATCH)
        {
            self.send_tracks()?;
        }
        Ok(())
    }

    /// The pending track states to the writer thread.
    fn send_tracks(&mut self) -> Result<(), ServiceError> {
        let Some(to) = self.tracks_to.as_mut().filter(|to| !to.pending.is_empty()) else {
            return Ok(());
        };
        let next = to
            .back
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(TRACKS_BATCH));
        let batch = std::mem::replace(&mut to.pending, next);
        to.tx.send(batch).map_err(|_| {
            io_err("writing tracks")(std::io::Error::other("the tracks' writer stopped"))
        })
    }
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

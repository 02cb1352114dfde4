//! Training debrief: a recording played through the engine onto the operator's console,
//! with a timeline a trainer can play, pause, speed up and jump along (`vigie debrief FILE`).
//!
//! The engine is the offline replay's (same pipeline, exercise data, event time from the
//! messages), so the page shows what the watch saw that night, alert for alert. Playing
//! moves a clock over the recording's receive times and feeds the engine every message up
//! to it; jumping forward feeds the messages in between at full speed; jumping back starts
//! a fresh engine and replays from the beginning to the new time (deterministic, so the
//! picture is the one the night had at that moment), then sends every page a snapshot.
//! No broker, no MQTT output, nothing published: a debrief is a classroom, not a watch.

use crate::config::Config;
use crate::geo::zones::{self, Zone};
use crate::io::console::server::{Access, Console};
use crate::io::console::{DebriefCommand as Command, Hub};
use crate::io::error::{io_err, ServiceError};
use crate::metrics::Metrics;
use crate::pipeline::Pipeline;
use crate::recording::{self, RawLine};
use crate::time::EventTime;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A debrief being served.
pub struct Debrief {
    /// Where the console listens.
    pub addr: SocketAddr,
    /// Length of the recording, seconds.
    pub duration_s: f64,
    pub messages: usize,
    /// The player and the console server; they end when aborted.
    pub tasks: [tokio::task::JoinHandle<()>; 2],
}

/// Serves the console on `cfg.console.listen` (its logins and TLS as for `vigie run`) with
/// `input`'s recording behind it, paused at its start, `speed` recording seconds a second.
pub async fn start(
    cfg: &Config,
    input: impl std::io::BufRead,
    speed: f64,
) -> Result<Debrief, ServiceError> {
    let zone_list = zones::load(&cfg.zones.path)?;
    let report_ctx = crate::report::ReportContext::new(cfg, &zone_list);
    let hub = Hub::new(
        cfg.console.backlog,
        cfg.console.track_timeout_s,
        Some(Arc::new(report_ctx)),
    );
    let player = Player::new(cfg, zone_list, input, hub.clone(), speed)?;
    let (duration_s, messages) = (player.duration_s(), player.lines.len());
    let metrics = Arc::new(Metrics::new(player.pipeline.sensor_ids(), &[]));
    let (tx, rx) = mpsc::unbounded_channel();
    let access = Access::from_config(cfg)?;
    let console = Arc::new(Console {
        hub,
        users: access.users,
        zones_geojson: access.zones_geojson,
        // No incident record: nothing of a debrief is an incident.
        incidents_file: std::path::PathBuf::new(),
        record: None,
        mqtt: None,
        cap: None,
        metrics,
        debrief: Some(tx),
        sse_batch: std::time::Duration::from_secs_f64(cfg.console.sse_batch_s),
    });
    let tls = access.tls;
    let listener = tokio::net::TcpListener::bind(&cfg.console.listen)
        .await
        .map_err(io_err(format!("listening on {}", cfg.console.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(io_err("the console's address"))?;
    let server = tokio::spawn(async move {
        if let Err(e) = super::console::server::serve(listener, console, tls).await {
            tracing::error!("console stopped: {e}");
        }
    });
    Ok(Debrief {
        addr,
        duration_s,
        messages,
        tasks: [tokio::spawn(player.run(rx)), server],
    })
}

/// How often the player moves its clock while playing, and tells the pages where it is.
const TICK_S: f64 = 0.25;

/// The recording and where the player stands in it.
pub struct Player {
    cfg: Config,
    zones: Vec<Zone>,
    lines: Vec<RawLine>,
    /// The earliest receive time in the recording, and the span to the latest (seconds).
    t0: Option<EventTime>,
    duration_s: f64,
    hub: Arc<Hub>,
    pipeline: Pipeline,
    /// Index of the next line to play.
    next: usize,
    /// Seconds after the first line's receive time.
    clock_s: f64,
    playing: bool,
    speed: f64,
}

impl Player {
    /// A player at the start of `input`'s recording, paused. Bad lines are skipped with a
    /// log line, as offline replay skips them.
    pub fn new(
        cfg: &Config,
        zones: Vec<Zone>,
        input: impl std::io::BufRead,
        hub: Arc<Hub>,
        speed: f64,
    ) -> Result<Player, recording::RecordingError> {
        let mut lines = Vec::new();
        for l in recording::read_raw(input) {
            match l {
                Ok(l) => lines.push(l),
                Err(recording::RecordingError::BadLine { line, message }) => {
                    tracing::warn!("recording line {line} skipped: {message}");
                }
                Err(e) => return Err(e),
            }
        }
        // Played in the recording's order, as offline replay plays it (so the picture is
        // offline replay's at every moment); a line timed before the one ahead of it is
        // played right after that one.
        let t0 = lines.iter().map(|l| l.t_rx).min();
        let duration_s = match (t0, lines.iter().map(|l| l.t_rx).max()) {
            (Some(a), Some(b)) => b.secs_since(a),
            _ => 0.0,
        };
        let p = Player {
            pipeline: debrief_pipeline(cfg, zones.clone()),
            cfg: cfg.clone(),
            zones,
            lines,
            t0,
            duration_s,
            hub,
            next: 0,
            clock_s: 0.0,
            playing: false,
            speed,
        };
        p.tell();
        Ok(p)
    }

    /// Length of the recording, seconds.
    pub fn duration_s(&self) -> f64 {
        self.duration_s
    }

    pub fn clock_s(&self) -> f64 {
        self.clock_s
    }

    /// Where the player stands, as the pages get it.
    pub fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "start": self.t0,
            "duration_s": self.duration_s(),
            "t_s": self.clock_s,
            "playing": self.playing,
            "speed": self.speed,
            "messages": self.lines.len(),
            "played": self.next,
        })
    }

    fn tell(&self) {
        self.hub.set_debrief(self.status());
    }

    /// Feeds the engine every line up to the clock, and the console their outputs.
    fn play_to_clock(&mut self) {
        let Some(start) = self.t0 else { return };
        while let Some(l) = self.lines.get(self.next) {
            if l.t_rx.secs_since(start) > self.clock_s {
                break;
            }
            let out = self.pipeline.process(&l.topic, &l.payload, l.t_rx);
            self.hub.ingest(out);
            self.next += 1;
        }
    }

    /// Follows a trainer's command.
    pub fn command(&mut self, c: &Command) {
        if let Some(t) = c.seek_s {
            let t = t.min(self.duration_s());
            if t < self.clock_s {
                // Back: the night from its beginning, to the moment asked for.
                self.pipeline = debrief_pipeline(&self.cfg, self.zones.clone());
                self.next = 0;
                self.hub.reset();
            }
            self.clock_s = t;
            self.play_to_clock();
        }
        if let Some(v) = c.speed {
            self.speed = v;
        }
        if let Some(p) = c.play {
            self.playing = p;
        }
        self.tell();
    }

    /// Moves the clock `wall_s` seconds of wall time on, if playing; stops at the end.
    pub fn advance(&mut self, wall_s: f64) {
        if !self.playing {
            return;
        }
        self.clock_s = (self.clock_s + wall_s * self.speed).min(self.duration_s());
        self.play_to_clock();
        if self.next >= self.lines.len() {
            self.playing = false;
        }
        self.tell();
    }

    /// Runs the player: a tick every [`TICK_S`] while playing, and the trainer's commands
    /// as they come; ends when every command sender is gone.
    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs_f64(TICK_S));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                c = commands.recv() => match c {
                    Some(c) => self.command(&c),
                    None => return,
                },
                _ = tick.tick() => self.advance(TICK_S),
            }
        }
    }
}

/// The offline pipeline, with tentative tracks' states for the page's toggle.
fn debrief_pipeline(cfg: &Config, zones: Vec<Zone>) -> Pipeline {
    let mut p = Pipeline::new(cfg, zones, true);
    p.set_tentative_states(true);
    p
}

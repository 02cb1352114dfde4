//! The `vigie` command line. Errors become `anyhow` here and nowhere else.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use vigie::io::{record, replay, run};
use vigie::Config;

/// mimalloc, not glibc's allocator: the engine's thread frees and allocates a few small
/// buffers per contact (JSON text, labels, track states), and under 25,000 msg/s glibc's
/// `free`, `malloc` and their consolidation were a quarter of that thread's samples
/// (`perf record`, BENCHMARKS.md issue 23).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "vigie",
    version,
    about = "Real-time maritime tracking: radar + AIS in over MQTT, taxi-boat pickup alerts out"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the service (starts an embedded MQTT broker when no broker URL is given).
    Run {
        #[arg(long, env = "VIGIE_CONFIG")]
        config: Option<PathBuf>,
        /// Broker URL, e.g. mqtt://127.0.0.1:1883 (overrides mqtt.url).
        #[arg(long)]
        mqtt: Option<String>,
        /// Metrics address (overrides metrics.listen).
        #[arg(long)]
        metrics_listen: Option<String>,
        /// Operator console address (overrides console.listen; "" turns it off).
        #[arg(long, env = "VIGIE_CONSOLE_LISTEN")]
        console_listen: Option<String>,
        /// Incident record file (overrides console.incidents_file).
        #[arg(long, env = "VIGIE_INCIDENTS_FILE")]
        incidents_file: Option<PathBuf>,
        /// Run as a replica on a NATS JetStream cluster instead of one process on MQTT
        /// (contract §9): comma-separated servers, e.g. nats://n1:4222,nats://n2:4222.
        #[arg(long, env = "VIGIE_NATS")]
        nats: Option<String>,
        /// This replica's name (overrides nats.replica; default: the host name).
        #[arg(long, env = "VIGIE_REPLICA")]
        replica: Option<String>,
        /// The NATS cluster's MQTT listeners, comma-separated (overrides nats.mqtt_urls):
        /// the lease holder keeps the retained active set there.
        #[arg(long)]
        nats_mqtt: Option<String>,
    },
    /// The incident history: every alert with its events and operator actions.
    Incidents {
        #[arg(long, env = "VIGIE_CONFIG")]
        config: Option<PathBuf>,
        /// Only incidents with an event at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// One JSON object per incident and line instead of a table.
        #[arg(long)]
        json: bool,
        /// The record to read (default: console.incidents_file of the configuration).
        #[arg(long, env = "VIGIE_INCIDENTS_FILE")]
        incidents_file: Option<PathBuf>,
    },
    /// Training debrief: serve a recording on the operator's console with a timeline to
    /// play, pause and jump along (exercise data; no broker, nothing published).
    Debrief {
        file: PathBuf,
        #[arg(long, env = "VIGIE_CONFIG")]
        config: Option<PathBuf>,
        /// Console address (overrides console.listen).
        #[arg(long)]
        listen: Option<String>,
        /// Recording seconds per second when playing.
        #[arg(long, default_value = "10")]
        speed: f64,
    },
    /// Print a `user:hash` line for console.users_file (argon2id); the password is read
    /// from standard input (one line), never from the command line.
    Passwd { user: String },
    /// Run the service on the fixtures and feed it a simulated pickup off Équihen-Plage
    /// (exercise data), printing the alerts as they arrive over MQTT; keeps running after.
    Demo {
        #[arg(long, env = "VIGIE_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long)]
        mqtt: Option<String>,
        /// Scene file (TOML); default: the Équihen pickup fixture.
        #[arg(long)]
        scene: Option<PathBuf>,
        /// Replay speed: scene time divided by X.
        #[arg(long, default_value = "20")]
        speed: f64,
    },
    /// Simulate a scene through the configured radars and AIS: writes DIR/rec.ndjson (the
    /// recording), truth.json, vigie.toml and zones.geojson (what it was made for) and
    /// scene.svg (a picture).
    Simulate {
        /// A scene file, or the name of one in fixtures/scenarios/.
        #[arg(long)]
        scenario: String,
        /// Land polygons for the picture (default: the shared OSM coastline, if present).
        #[arg(long)]
        coast: Option<PathBuf>,
        /// Overrides the scene's seed.
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, env = "VIGIE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Score alerts (and tracks) against a scene's truth; exits 1 if a threshold is missed.
    Score {
        #[arg(long)]
        alerts: PathBuf,
        #[arg(long)]
        truth: PathBuf,
        #[arg(long)]
        tracks: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[arg(long)]
        min_recall: Option<f64>,
        #[arg(long)]
        max_false_alarms: Option<usize>,
        #[arg(long)]
        max_delay_s: Option<f64>,
        #[arg(long)]
        max_uncleared: Option<usize>,
        #[arg(long)]
        max_gospa_m: Option<f64>,
    },
    /// Write every message on PREFIX/contacts/# to an NDJSON recording until interrupted.
    Record {
        #[arg(long)]
        mqtt: String,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "vigie")]
        prefix: String,
        /// Stop after this many seconds (default: until SIGINT/SIGTERM).
        #[arg(long)]
        seconds: Option<f64>,
        /// Configuration whose [mqtt] TLS and login settings to use (mqtts:// brokers).
        #[arg(long, env = "VIGIE_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Replay a recording: live onto a broker (paced), or offline through the engine.
    Replay {
        file: PathBuf,
        #[arg(long, required_unless_present = "offline")]
        mqtt: Option<String>,
        /// Pace: recording time divided by X; `max` for no pacing.
        #[arg(long, default_value = "1")]
        speed: String,
        /// Process with no broker, as fast as possible, deterministically.
        #[arg(long)]
        offline: bool,
        /// Offline: the engine's configuration. Live: its [mqtt] TLS and login settings.
        #[arg(long, env = "VIGIE_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, required_if_eq("offline", "true"))]
        alerts_out: Option<PathBuf>,
        #[arg(long)]
        tracks_out: Option<PathBuf>,
        /// Offline: every alert event as a CAP 1.2 document, one a line (contract §8).
        #[arg(long, requires = "offline")]
        cap_out: Option<PathBuf>,
        /// Offline: a CISE-shaped incident for every raised pickup, one a line.
        #[arg(long, requires = "offline")]
        cise_out: Option<PathBuf>,
        /// Offline: 1 runs reading, decoding and tracking on one thread; 2 decodes on a
        /// second thread (the default when the machine has two cores). Same output.
        #[arg(long, requires = "offline", value_parser = clap::value_parser!(u8).range(1..=2))]
        threads: Option<u8>,
    },
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIE_LOG")
        .unwrap_or_else(|_| "info,rumqttd=off,rumqttc=warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Set once SIGTERM or SIGINT has come ([`listen_for_shutdown`]).
static SHUTDOWN: std::sync::OnceLock<tokio::sync::watch::Receiver<bool>> =
    std::sync::OnceLock::new();

/// Takes SIGTERM and SIGINT as soon as the command is known. Why: installed only where
/// a command waits for them, a SIGTERM that came while `vigie run` was still starting —
/// after its `online` status was out, before `run::start` returned — killed it outright
/// instead of draining and saying `offline` (seen once in CI: exit by signal 15).
fn listen_for_shutdown() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = tx.send(true);
    });
    let _ = SHUTDOWN.set(rx);
    Ok(())
}

impl Cmd {
    /// The commands that wait for SIGTERM or SIGINT to stop cleanly ([`shutdown_signal`]).
    /// Only these take the signals over: a handler installed for the others (an offline
    /// replay, a simulation, a score) would swallow Ctrl-C, which must still stop them.
    fn drains_on_signal(&self) -> bool {
        matches!(
            self,
            Cmd::Run { .. }
                | Cmd::Debrief { .. }
                | Cmd::Demo { .. }
                | Cmd::Record { seconds: None, .. }
        )
    }
}

/// Waits for SIGTERM or SIGINT, including one that came before this was called.
async fn shutdown_signal() {
    let mut rx = SHUTDOWN
        .get()
        .expect("main installs the shutdown signals first")
        .clone();
    let _ = rx.wait_for(|stop| *stop).await;
}

fn load_config(path: Option<&PathBuf>) -> Result<Config> {
    Ok(Config::load(path.map(|p| p.as_path()))?)
}

#[tokio::main]
async fn main() -> Result<()> {
    init_logging();
    let cli = Cli::parse();
    if cli.cmd.drains_on_signal() {
        listen_for_shutdown()?;
    }
    match cli.cmd {
        Cmd::Run {
            config,
            mqtt,
            metrics_listen,
            console_listen,
            incidents_file,
            nats,
            replica,
            nats_mqtt,
        } => {
            let mut cfg = load_config(config.as_ref())?;
            if let Some(n) = nats {
                cfg.nats.urls = n.split(',').map(|u| u.trim().to_string()).collect();
            }
            if let Some(r) = replica {
                cfg.nats.replica = r;
            }
            if let Some(m) = nats_mqtt {
                cfg.nats.mqtt_urls = m.split(',').map(|u| u.trim().to_string()).collect();
            }
            if let Some(u) = mqtt {
                cfg.mqtt.url = Some(u);
            }
            if let Some(m) = metrics_listen {
                cfg.metrics.listen = m;
            }
            if let Some(c) = console_listen {
                cfg.console.listen = c;
            }
            if let Some(f) = incidents_file {
                cfg.console.incidents_file = f;
            }
            cfg.validate("command line")?;
            if !cfg.nats.urls.is_empty() {
                let h = vigie::io::replicated::start(cfg).await?;
                eprintln!(
                    "vigie replica {} running on NATS, metrics http://{}/metrics",
                    h.name, h.metrics_addr
                );
                shutdown_signal().await;
                eprintln!("stopping: logging the alert events in flight, giving the lease up");
                h.stop().await;
                return Ok(());
            }
            let h = run::start(cfg).await?;
            eprintln!(
                "vigie running: broker {}, metrics http://{}/metrics. Watch alerts with:\n  mosquitto_sub -h {} -p {} -t 'vigie/alerts/#' -v",
                h.mqtt_url,
                h.metrics_addr,
                host_port(&h.mqtt_url).0,
                host_port(&h.mqtt_url).1
            );
            shutdown_signal().await;
            eprintln!("stopping: draining in-flight contacts, publishing offline status");
            h.stop().await;
        }
        Cmd::Debrief {
            file,
            config,
            listen,
            speed,
        } => {
            let mut cfg = load_config(config.as_ref())?;
            if let Some(l) = listen {
                cfg.console.listen = l;
            }
            if cfg.console.listen.is_empty() {
                bail!("a debrief needs the console: set console.listen or --listen ADDR");
            }
            if !(speed > 0.0 && speed <= 1000.0) {
                bail!("--speed must be in (0, 1000]");
            }
            let f = std::fs::File::open(&file)
                .with_context(|| format!("cannot open recording {}", file.display()))?;
            let d = vigie::io::debrief::start(&cfg, BufReader::new(f), speed).await?;
            eprintln!(
                "debrief of {} ({} messages, {:.0} s): open http://{}/ — paused at the start; play, pause and jump on the page's timeline",
                file.display(),
                d.messages,
                d.duration_s,
                d.addr
            );
            shutdown_signal().await;
            for t in d.tasks {
                t.abort();
            }
        }
        Cmd::Incidents {
            config,
            since,
            json,
            incidents_file,
        } => {
            let cfg = load_config(config.as_ref())?;
            let path = incidents_file.unwrap_or_else(|| cfg.console.incidents_file.clone());
            if !path.exists() {
                bail!(
                    "no incident record at {}: vigie run writes it (console.incidents_file)",
                    path.display()
                );
            }
            let since = since
                .map(|s| {
                    vigie::time::EventTime::parse_rfc3339(&s)
                        .map_err(|_| anyhow::anyhow!("--since {s:?}: not an RFC 3339 time"))
                })
                .transpose()?;
            let list = vigie::io::incidents::list(&path, since)?;
            // The SITREP needs the zones and the coast; a zone file gone since only loses it.
            let reports = match vigie::geo::zones::load(&cfg.zones.path) {
                Ok(z) => Some(vigie::report::ReportContext::new(&cfg, &z)),
                Err(e) => {
                    eprintln!("no SITREPs: {e}");
                    None
                }
            };
            print_incidents(&list, json, reports.as_ref())?;
        }
        Cmd::Passwd { user } => {
            if user.contains(':') || user.trim().is_empty() {
                bail!("a user name must be non-empty and have no ':'");
            }
            let mut pw = String::new();
            std::io::stdin().read_line(&mut pw)?;
            let pw = pw.trim_end_matches(['\n', '\r']);
            if pw.is_empty() {
                bail!("empty password: give it on standard input");
            }
            println!("{user}:{}", vigie::io::console::server::hash_password(pw));
        }
        Cmd::Demo {
            config,
            mqtt,
            scene,
            speed,
        } => {
            let mut cfg = load_config(config.as_ref())?;
            if let Some(u) = mqtt {
                cfg.mqtt.url = Some(u);
            }
            if cfg.mqtt.url.is_none()
                && std::net::TcpListener::bind(&cfg.mqtt.embedded_listen).is_err()
            {
                // The demo must run anywhere: on a machine whose own broker holds 1883, its
                // embedded broker takes a free port instead (`vigie run` refuses, by design).
                let port = vigie::io::broker::free_port()?;
                eprintln!(
                    "{} is taken (another MQTT broker?): the demo's embedded broker uses port {port} instead",
                    cfg.mqtt.embedded_listen
                );
                cfg.mqtt.embedded_listen = format!("127.0.0.1:{port}");
            }
            if std::net::TcpListener::bind(&cfg.metrics.listen).is_err() {
                cfg.metrics.listen = "127.0.0.1:0".into();
            }
            if !cfg.console.listen.is_empty()
                && std::net::TcpListener::bind(&cfg.console.listen).is_err()
            {
                eprintln!(
                    "{} is taken: the demo's console uses a free port instead",
                    cfg.console.listen
                );
                cfg.console.listen = "127.0.0.1:0".into();
            }
            cfg.validate("command line")?;
            demo(cfg, scene, speed).await?;
        }
        Cmd::Simulate {
            scenario,
            coast,
            seed,
            out,
            config,
        } => {
            let cfg = load_config(config.as_ref())?;
            let scenario = scene_path(&scenario);
            let text = std::fs::read_to_string(&scenario)
                .with_context(|| format!("cannot read scene {}", scenario.display()))?;
            let mut sc: vigie::training::sim::Scene =
                toml::from_str(&text).with_context(|| format!("scene {}", scenario.display()))?;
            if let Some(s) = seed {
                sc.seed = s;
            }
            for id in sc.radars.iter().flatten() {
                if !cfg.radar.iter().any(|r| &r.id == id) {
                    bail!(
                        "scene {}: radar {id:?} is not configured (configured: {}); name one of them or add a [[radar]] table",
                        scenario.display(),
                        cfg.radar.iter().map(|r| r.id.as_str()).collect::<Vec<_>>().join(", ")
                    );
                }
            }
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let lines = vigie::training::sim::simulate_for(&sc, &cfg, &cfg.mqtt.prefix);
            let path = out.join("rec.ndjson");
            let mut w = BufWriter::new(std::fs::File::create(&path)?);
            for l in &lines {
                use std::io::Write;
                serde_json::to_writer(&mut w, l)?;
                w.write_all(b"\n")?;
            }
            w.into_inner().map_err(|e| e.into_error())?;
            let zones = vigie::geo::zones::load(&cfg.zones.path)?;
            let truth = vigie::training::score::truth(&sc, &cfg, zones.clone());
            std::fs::write(
                out.join("truth.json"),
                serde_json::to_string_pretty(&truth)?,
            )?;
            let mut used = cfg.clone();
            used.zones.path = "zones.geojson".into();
            used.console.incidents_file = "vigie-incidents.sqlite".into();
            used.alerts.memory_file = "vigie-memory.json".into();
            std::fs::write(out.join("vigie.toml"), toml::to_string(&used)?)?;
            std::fs::copy(&cfg.zones.path, out.join("zones.geojson"))?;
            let coast = coast.unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../shared/data/coast/dover-strait-land.geojson")
            });
            let coast: Option<serde_json::Value> = std::fs::read_to_string(&coast)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok());
            std::fs::write(
                out.join("scene.svg"),
                vigie::training::picture::svg(&truth, &zones, coast.as_ref()),
            )?;
            let pickups = truth.episodes.iter().filter(|e| e.should_alert).count();
            eprintln!(
                "{} messages, {} vessels, {pickups} pickups that should alert, {} stops that should not: {}",
                lines.len(),
                truth.vessels.len(),
                truth.episodes.len() - pickups,
                out.display()
            );
        }
        Cmd::Score {
            alerts,
            truth,
            tracks,
            json,
            min_recall,
            max_false_alarms,
            max_delay_s,
            max_uncleared,
            max_gospa_m,
        } => {
            let read = |p: &PathBuf| {
                std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
            };
            let truth: vigie::training::score::Truth = serde_json::from_str(&read(&truth)?)?;
            let alerts: Vec<vigie::behaviour::AlertEvent> = read(&alerts)?
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(serde_json::from_str)
                .collect::<Result<_, _>>()?;
            let tracks: Option<Vec<vigie::engine::TrackState>> = match &tracks {
                Some(p) => Some(
                    read(p)?
                        .lines()
                        .filter(|l| !l.trim().is_empty())
                        .map(serde_json::from_str)
                        .collect::<Result<_, _>>()?,
                ),
                None => None,
            };
            let s = vigie::training::score::score(&truth, &alerts, tracks.as_deref());
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{s}");
            }
            let mut missed = vec![];
            if min_recall.is_some_and(|m| s.recall < m) {
                missed.push(format!(
                    "recall {:.2} < {}",
                    s.recall,
                    min_recall.unwrap_or(0.0)
                ));
            }
            if max_false_alarms.is_some_and(|m| s.false_alarms > m) {
                missed.push(format!("{} false alarms", s.false_alarms));
            }
            if let (Some(m), Some(d)) = (max_delay_s, s.max_delay_s) {
                if d > m {
                    missed.push(format!("delay {d:.0} s > {m} s"));
                }
            }
            if max_uncleared.is_some_and(|m| s.uncleared > m) {
                missed.push(format!("{} uncleared alerts", s.uncleared));
            }
            if let (Some(m), Some(g)) = (max_gospa_m, s.gospa_m) {
                if g > m {
                    missed.push(format!("GOSPA {g:.1} m > {m} m"));
                }
            }
            if !missed.is_empty() {
                eprintln!("thresholds missed: {}", missed.join("; "));
                std::process::exit(1);
            }
        }
        Cmd::Record {
            mqtt,
            out,
            prefix,
            seconds,
            config,
        } => {
            let security = load_config(config.as_ref())?.mqtt.security()?;
            let f = std::fs::File::create(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let mut w = BufWriter::new(f);
            let stop = async move {
                match seconds {
                    Some(s) => tokio::time::sleep(std::time::Duration::from_secs_f64(s)).await,
                    None => shutdown_signal().await,
                }
            };
            let n = record::record(&mqtt, &prefix, &security, &mut w, stop).await?;
            eprintln!("recorded {n} messages to {}", out.display());
        }
        Cmd::Replay {
            file,
            mqtt,
            speed,
            offline,
            config,
            alerts_out,
            tracks_out,
            cap_out,
            cise_out,
            threads,
        } => {
            let open = || -> Result<BufReader<std::fs::File>> {
                Ok(BufReader::new(std::fs::File::open(&file).with_context(
                    || format!("cannot open recording {}", file.display()),
                )?))
            };
            if offline {
                let cfg = load_config(config.as_ref())?;
                let alerts_path = alerts_out.context("--offline needs --alerts-out FILE")?;
                let mut alerts = BufWriter::new(
                    std::fs::File::create(&alerts_path)
                        .with_context(|| format!("cannot create {}", alerts_path.display()))?,
                );
                let create = |p: &Option<PathBuf>| -> Result<Option<BufWriter<std::fs::File>>> {
                    p.as_ref()
                        .map(|p| {
                            Ok(BufWriter::new(std::fs::File::create(p).with_context(
                                || format!("cannot create {}", p.display()),
                            )?))
                        })
                        .transpose()
                };
                let mut tracks = create(&tracks_out)?;
                let mut cap = create(&cap_out)?;
                let mut cise = create(&cise_out)?;
                let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                let bar = (size > 20_000_000).then(|| {
                    let lines = estimate_lines(&file, size);
                    let b = indicatif::ProgressBar::new(lines);
                    b.set_style(
                        indicatif::ProgressStyle::with_template(
                            "{bar:40} {pos}/~{len} messages {per_sec} eta {eta}",
                        )
                        .expect("valid template"),
                    );
                    b
                });
                let threads = match threads {
                    Some(1) => replay::Threads::One,
                    Some(_) => replay::Threads::Two,
                    None => replay::Threads::available(),
                };
                let s = replay::replay_offline_on(
                    &cfg,
                    open()?,
                    replay::OfflineOut {
                        alerts: &mut alerts,
                        tracks: tracks
                            .as_mut()
                            .map(|w| w as &mut (dyn std::io::Write + Send)),
                        cap: cap.as_mut().map(|w| w as &mut dyn std::io::Write),
                        cise: cise.as_mut().map(|w| w as &mut dyn std::io::Write),
                    },
                    bar.as_ref(),
                    threads,
                )?;
                if let Some(b) = bar {
                    b.finish_and_clear();
                }
                println!("{s}");
            } else {
                let url = mqtt.context("--mqtt URL is needed unless --offline")?;
                let speed = match speed.as_str() {
                    "max" => None,
                    s => match s.parse::<f64>() {
                        Ok(x) if x > 0.0 => Some(x),
                        _ => bail!("--speed must be a positive number or `max`, not `{s}`"),
                    },
                };
                let security = load_config(config.as_ref())?.mqtt.security()?;
                let n = replay::replay_live(&url, &security, open()?, speed).await?;
                eprintln!("replayed {n} messages onto {url} (marked as exercise data)");
            }
        }
    }
    Ok(())
}

async fn demo(cfg: Config, scene: Option<PathBuf>, speed: f64) -> Result<()> {
    let path = scene.unwrap_or_else(|| scene_path("equihen-pickup"));
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read scene {}", path.display()))?;
    let sc: vigie::training::sim::Scene =
        toml::from_str(&text).with_context(|| format!("scene {}", path.display()))?;
    let prefix = cfg.mqtt.prefix.clone();
    let lines = vigie::training::sim::simulate_for(&sc, &cfg, &prefix);
    let h = run::start(cfg).await?;
    let url = h.mqtt_url.clone();
    let (host, port) = host_port(&url);
    eprintln!(
        "vigie running: broker {url}, metrics http://{}/metrics\nwatch alerts yourself with:  mosquitto_sub -h {host} -p {port} -t '{prefix}/alerts/#' -v",
        h.metrics_addr
    );
    match h.console_addr {
        Some(a) => eprintln!("operator console: open http://{a}/ in a browser"),
        None => eprintln!("operator console: off (see the log above)"),
    }
    let mut o =
        vigie::io::mqtt::LinkOptions::new(&url, &format!("vigie-demo-{}", std::process::id()));
    o.subscribe = vec![format!("{prefix}/alerts")];
    let mut sub = vigie::io::mqtt::Link::start(o)?;
    sub.wait_connected(&url, 10).await?;
    eprintln!(
        "replaying scene `{}` ({} messages, {:.0} s of scene time) at {speed}x as exercise data...",
        sc.name,
        lines.len(),
        sc.duration_s
    );
    let rec: String = lines
        .iter()
        .map(|l| serde_json::to_string(l).expect("serialises") + "\n")
        .collect();
    let u2 = url.clone();
    let replay = tokio::spawn(async move {
        replay::replay_live(&u2, &Default::default(), rec.as_bytes(), Some(speed)).await
    });
    let printer = tokio::spawn(async move {
        while let Some(m) = sub.inbound.recv().await {
            println!("{}  {}", m.topic, String::from_utf8_lossy(&m.payload));
        }
    });
    let n = replay.await??;
    eprintln!("scene done ({n} messages); vigie keeps running: Ctrl-C to stop");
    shutdown_signal().await;
    printer.abort();
    h.stop().await;
    Ok(())
}

/// The incident history as a table (one block per alert) or as JSON lines.
fn print_incidents(
    list: &[vigie::io::incidents::Incident],
    json: bool,
    reports: Option<&vigie::report::ReportContext>,
) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // The SITREP of each incident as raised: what was reported to the units at the time.
    let sitrep = |i: &vigie::io::incidents::Incident| {
        let ctx = reports?;
        let first = i.events.first()?;
        Some(vigie::report::sitrep::sitrep(ctx, first))
    };
    if json {
        for i in list {
            let mut v = serde_json::to_value(i)?;
            if let Some(s) = sitrep(i) {
                v["sitrep"] = serde_json::Value::String(s);
            }
            serde_json::to_writer(&mut out, &v)?;
            writeln!(out)?;
        }
        return Ok(());
    }
    writeln!(out, "{} incident(s)", list.len())?;
    for i in list {
        let first = i.events.first();
        writeln!(
            out,
            "\n{}  {}  zone {}  track {}  {}{}",
            i.alert_id,
            i.kind,
            first.map_or("-", |e| e.zone_id()),
            first.map_or("-", |e| e.track_id.as_str()),
            if first.is_some_and(|e| e.dark) {
                "dark"
            } else {
                "AIS"
            },
            if first.is_some_and(|e| e.exercise) {
                "  EXERCISE"
            } else {
                ""
            },
        )?;
        if let Some(s) = sitrep(i) {
            writeln!(out, "  {s}")?;
        }
        for e in &i.events {
            writeln!(
                out,
                "  {}  {:<8} {:.5},{:.5}  dwell {:.0} s  {:.1} kn{}",
                e.t.to_rfc3339(),
                e.state.as_str(),
                e.lat,
                e.lon,
                e.dwell_s,
                e.speed_kn,
                e.reason
                    .as_deref()
                    .map(|r| format!("  ({r})"))
                    .unwrap_or_default()
            )?;
        }
        for a in &i.actions {
            writeln!(
                out,
                "  {}  {:<8} by {}{}{}{}",
                a.at.to_rfc3339(),
                a.action,
                a.by,
                a.unit
                    .as_deref()
                    .map(|u| format!(", unit {u}"))
                    .unwrap_or_default(),
                a.outcome
                    .as_deref()
                    .map(|o| format!(", {o}"))
                    .unwrap_or_default(),
                a.text
                    .as_deref()
                    .map(|t| format!(": {t}"))
                    .unwrap_or_default()
            )?;
        }
    }
    Ok(())
}

/// A scene given by name (fixtures/scenarios/NAME.toml) or by path.
fn scene_path(s: &str) -> PathBuf {
    let p = PathBuf::from(s);
    if p.exists() {
        return p;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("fixtures/scenarios/{s}.toml"))
}

/// Lines in a large file, estimated from its first megabyte, for the progress bar.
fn estimate_lines(path: &PathBuf, size: u64) -> u64 {
    use std::io::Read;
    let mut buf = vec![0u8; 1 << 20];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut buf))
        .unwrap_or(0);
    let lines = buf[..n].iter().filter(|&&b| b == b'\n').count().max(1);
    size * lines as u64 / n.max(1) as u64
}

fn host_port(url: &str) -> (String, u16) {
    vigie::config::broker::parse_url(url)
        .map(|a| (a.host, a.port))
        .unwrap_or(("127.0.0.1".into(), 1883))
}

//! Configuration (contract §5): TOML file → environment overrides → validated [`Config`].
//!
//! Every key has a default, and the defaults run the Côte d'Opale fixtures, so `vigie run`
//! with no file works on a fresh checkout. Unknown keys are errors (`deny_unknown_fields`):
//! a misspelt `loiter_dwel_s` silently ignored would be a rule an operator thinks is set.

pub mod broker;

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}\n  fix: check the path given to --config (or VIGIE_CONFIG)")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("configuration file {path}: {message}\n  fix: correct or remove that key; fixtures/vigie.toml lists every key with its default")]
    Parse { path: String, message: String },
    #[error("configuration {origin}: `{key}` {problem}\n  fix: {fix}")]
    Invalid {
        origin: String,
        key: String,
        problem: String,
        fix: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// Broker URL; absent: start the embedded broker on `embedded_listen` and use it.
    pub url: Option<String>,
    pub prefix: String,
    pub client_id: String,
    /// Where the embedded broker listens when `url` is absent.
    pub embedded_listen: String,
    /// Largest MQTT packet accepted or sent (rumqttc's default of 10 KiB is too small for
    /// radar scans).
    pub max_packet_bytes: usize,
    /// Seconds between two publications of one track on `{prefix}/tracks/{id}` (event time).
    pub track_interval_s: f64,
    /// Keep the broker session (subscriptions and queued QoS 1 contacts) across vigie
    /// restarts and broker outages; needs a `client_id` no other client uses.
    pub persistent_session: bool,
    /// Broker login. The password comes from `password_file` or the `VIGIE_MQTT_PASSWORD`
    /// environment variable, never from this file, and is never logged.
    pub username: Option<String>,
    pub password_file: Option<PathBuf>,
    /// PEM CA bundle that signed the broker's certificate (`mqtts://` URLs); absent: the
    /// system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for brokers that authenticate clients by certificate.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// MQTT keep-alive, seconds: the broker drops vigie after 1.5 times this without a
    /// packet from it, and vigie drops a broker that does not answer its ping within it.
    pub keep_alive_s: u16,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: None,
            prefix: "vigie".into(),
            client_id: "vigie".into(),
            embedded_listen: "127.0.0.1:1883".into(),
            max_packet_bytes: 2 * 1024 * 1024,
            track_interval_s: 1.0,
            persistent_session: true,
            username: None,
            password_file: None,
            ca_file: None,
            client_cert_file: None,
            client_key_file: None,
            keep_alive_s: 15,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ZonesConfig {
    /// GeoJSON FeatureCollection of (Multi)Polygons with properties id, name, kind.
    pub path: PathBuf,
}

impl Default for ZonesConfig {
    fn default() -> Self {
        ZonesConfig {
            path: "fixtures/zones/cote-dopale.geojson".into(),
        }
    }
}

/// One plot-producing sensor (radar, or a drone/thermal camera giving positions).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RadarConfig {
    pub id: String,
    /// Site; required for polar plots, unused for geographic ones.
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    #[serde(default = "d_range_sigma")]
    pub range_sigma_m: f64,
    #[serde(default = "d_bearing_sigma")]
    pub bearing_sigma_deg: f64,
    #[serde(default = "d_scan_period")]
    pub scan_period_s: f64,
    /// Instrumented range: sets the clutter density the track score weighs plots against.
    #[serde(default = "d_range_max")]
    pub range_max_m: f64,
    /// Probability of detecting a small boat on one scan.
    #[serde(default = "d_pd")]
    pub pd: f64,
    /// Expected false plots per scan over the whole coverage.
    #[serde(default = "d_clutter")]
    pub clutter_per_scan: f64,
}

fn d_range_sigma() -> f64 {
    15.0
}
fn d_bearing_sigma() -> f64 {
    0.3
}
fn d_scan_period() -> f64 {
    2.5
}
fn d_range_max() -> f64 {
    24_000.0
}
fn d_pd() -> f64 {
    0.8
}
fn d_clutter() -> f64 {
    5.0
}

impl RadarConfig {
    pub fn new(id: &str, lat: f64, lon: f64) -> Self {
        RadarConfig {
            id: id.into(),
            lat: Some(lat),
            lon: Some(lon),
            range_sigma_m: d_range_sigma(),
            bearing_sigma_deg: d_bearing_sigma(),
            scan_period_s: d_scan_period(),
            range_max_m: d_range_max(),
            pd: d_pd(),
            clutter_per_scan: d_clutter(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AisConfig {
    /// 1-sigma error of an AIS position (GNSS plus antenna offset on the hull).
    pub sigma_m: f64,
    /// 1-sigma error of SOG/COG turned into a velocity, m/s.
    pub velocity_sigma_mps: f64,
    /// Contract §4, identity conflicts: the fastest a vessel is believed to go (knots). Two
    /// reports of one MMSI further apart than this speed covers between them, plus
    /// `conflict_margin_m`, come from two transmitters.
    pub conflict_speed_kn: f64,
    /// Distance (m) added to what `conflict_speed_kn` covers before reports contradict each
    /// other or the radar track they are fused with: GNSS and radar errors (100 m across the
    /// beam at 20 km) and an antenna on a 300 m hull must never make an honest vessel's
    /// identity contested, because a contested police MMSI no longer spares its boat.
    pub conflict_margin_m: f64,
    /// Contract §1: AIS reaches vigie up to ~10 s after it was sent (receiver, network and
    /// aggregator delays); a report up to this much older than its vessel's track state is
    /// still filtered in, where it belongs in time. Older ones are out of sequence.
    pub max_lateness_s: f64,
}

impl Default for AisConfig {
    fn default() -> Self {
        AisConfig {
            sigma_m: 10.0,
            velocity_sigma_mps: 0.5,
            conflict_speed_kn: 60.0,
            conflict_margin_m: 500.0,
            max_lateness_s: 10.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// White-noise acceleration spectral density, m²/s³: how hard a small boat manoeuvres.
    pub process_noise: f64,
    /// Acceleration noise of the manoeuvre hypothesis, m²/s³: a confirmed track that misses
    /// its gate is re-gated as if it had stopped, started or turned hard (12 kn → 0 in a
    /// scan), so it is not broken by the manoeuvres taxi-boats make.
    pub manoeuvre_noise: f64,
    /// Chi-square gate on the squared Mahalanobis distance (2 dof; 13.8 ≈ 99.9 %).
    pub gate_chi2: f64,
    /// Track score (log-likelihood ratio) at which a tentative track is confirmed.
    pub confirm_score: f64,
    /// 1-sigma speed assumed for a track born from one plot, m/s.
    pub init_speed_sigma_mps: f64,
    /// A tentative track with no plot for this long is dropped.
    pub tentative_timeout_s: f64,
    /// A confirmed radar track with no contact for this long is lost. Twenty seconds is
    /// eight scans of each radar missed: past that, a boat is hidden (in the surf, behind a
    /// ship), and its track, its gate grown by then past a hundred metres, took the first
    /// clutter plot in it and strung the surf's clutter to a buoy (surf-reacquire seeds
    /// 101-170: six draws of seventy failed at 30 s, none at 20 s). The boat found again
    /// has a new track, which the alert rule knows for the same boat (`alerts.reacquire_*`).
    pub coast_s: f64,
    /// Same for a track with AIS identity (class B stopped reports only every 3 minutes).
    pub ais_coast_s: f64,
    /// Contract §1: a contact up to this much older than the newest event time seen is a
    /// late sensor's and still counts; an older plot starts no track (it may only be a
    /// repeat or a stale scan, and a track started in the past would be born behind every
    /// other).
    pub max_lateness_s: f64,
    /// Hard cap on live tracks; beyond it new tracks are refused and counted.
    pub max_tracks: usize,
    /// A dark track faster than this is clutter, not a boat: never confirmed.
    pub max_speed_kn: f64,
    /// Clutter map cell side, metres (0 turns the map off: clutter is then assumed uniform
    /// at each radar's `clutter_per_scan`).
    pub clutter_map_cell_m: f64,
    /// How long the clutter map remembers, seconds of event time (exponential forgetting).
    pub clutter_map_tau_s: f64,
    /// A plot outside confirmed tracks is learned as clutter only this many seconds later,
    /// and not at all if the track it started or updated has been confirmed by then: a new
    /// boat's first plots must not count as clutter against its own confirmation.
    pub clutter_map_delay_s: f64,
    /// Two confirmed tracks closer than this (metres, and within their combined position
    /// uncertainty), moving alike, are one object (a split return, a far radar's scatter):
    /// the younger is merged away. 0 turns merging off.
    pub merge_distance_m: f64,
    /// ... moving alike: speed difference at most this, knots.
    pub merge_speed_kn: f64,
    /// ... for this long (event time): evidence gained while they look alike, lost while not.
    pub merge_after_s: f64,
    /// Where two or more confirmed tracks gate a common plot, each is filtered with all its
    /// plots weighted by their probability (JPDA) instead of the assignment's one, in
    /// clusters of up to this many tracks (boats crossing or running close keep their
    /// identities). 0 or 1 turns the weighting off: the assignment everywhere.
    pub jpda_max_tracks: usize,
    /// Each track carries two motion models, steady and manoeuvring, weighed at every
    /// contact by how well each predicted it (IMM). Off: one filter, switched to the
    /// manoeuvre noise by a detector (the scheme the IMM replaced, kept to compare).
    pub imm: bool,
    /// Acceleration noise of the IMM's manoeuvring model, m²/s³ (its steady model uses
    /// `process_noise`).
    pub imm_manoeuvre_noise: f64,
    /// Mean time a boat keeps its course and speed before manoeuvring, seconds.
    pub imm_steady_sojourn_s: f64,
    /// Mean time a manoeuvre (a stop, a start, a turn) lasts, seconds.
    pub imm_manoeuvre_sojourn_s: f64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            process_noise: 0.05,
            manoeuvre_noise: 40.0,
            gate_chi2: 13.8,
            confirm_score: 13.8,
            init_speed_sigma_mps: 6.0,
            tentative_timeout_s: 8.0,
            coast_s: 20.0,
            max_lateness_s: 5.0,
            ais_coast_s: 400.0,
            max_tracks: 50_000,
            max_speed_kn: 60.0,
            clutter_map_cell_m: 250.0,
            clutter_map_tau_s: 600.0,
            clutter_map_delay_s: 10.0,
            merge_distance_m: 50.0,
            merge_speed_kn: 3.0,
            merge_after_s: 15.0,
            jpda_max_tracks: 6,
            imm: false,
            imm_manoeuvre_noise: 1.0,
            imm_steady_sojourn_s: 300.0,
            imm_manoeuvre_sojourn_s: 5.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Seconds of event time a track must stay confined in one strip of touching zones.
    pub loiter_dwell_s: f64,
    /// Radius of the circle the track must stay within over the dwell, metres, and the
    /// most it may make good over it (contract §4: a slow transit is not a loiter).
    pub loiter_radius_m: f64,
    /// Seconds the rule must have held, at every update, before it raises: a loiter seen,
    /// not glimpsed. Far from the radars a boat's estimate wanders by tens of metres over a
    /// few scans, and a 3 kn transit's made good (140 m over 90 s) dipped under the radius
    /// for one scan and raised a false alarm (slow-movers seed 169); a boat that really
    /// loiters goes on loitering. Five seconds: two scans of a 2.5 s radar.
    pub loiter_hold_s: f64,
    /// MMSIs that never alert (police, lifeboats).
    pub allow_mmsi: Vec<u32>,
    /// Above this speed, sustained for `clear_underway_s`, a boat is under way.
    pub underway_kn: f64,
    /// How long a boat under an alert must be under way, and out of its loiter circle,
    /// before the alert clears. Ten seconds, the time a displacement must last before it
    /// counts elsewhere in the rule: surf clutter taken for a drifting boat dragged its
    /// track 100 m off at 10-17 kn for 5 s and back, which cleared its alert and raised
    /// a second one for the same boat (slow-movers seed 179); a boat really leaving at
    /// 6 kn is 100 m out half a minute after it sets off.
    pub clear_underway_s: f64,
    /// Outside the zone for this long clears the alert.
    pub clear_outside_s: f64,
    /// At most one `updated` event per alert per this many seconds.
    pub update_interval_s: f64,
    /// After a restart, seconds of event time a restored active alert waits for a track to
    /// take it over before it is cleared as `track_lost`.
    pub restore_grace_s: f64,
    /// After a restart, a restored alert is continued only by a track within this many
    /// metres of where its boat last was, and only while no other track is within twice
    /// that (two boats side by side never swap alerts on a guess).
    pub restore_reach_m: f64,
    /// Known fixed objects (charted buoys, moored hulks, pier ends) as `[lat, lon]`: no
    /// loiter within `fixed_object_radius_m` of one is a pickup.
    pub fixed_objects: Vec<[f64; 2]>,
    /// How near a fixed object (m) a loiter is taken for the object itself.
    pub fixed_object_radius_m: f64,
    /// A track stationary since it began for this long (s) marks its place as a fixed
    /// object, whatever track sits there later (a boat's track that took a buoy's returns
    /// while passing it).
    pub fixed_object_learn_s: f64,
    /// A learned fixed object no track has sat on for this long (s of event time) is
    /// forgotten (a buoy taken away, a hulk towed off).
    pub fixed_object_forget_s: f64,
    /// A track that begins stopped within `reacquire_radius_m` of where a boat under way was
    /// last seen, at most `reacquire_s` earlier, is that boat re-acquired (its track lost in
    /// the surf, a radar back from an outage, vigie restarted): it may alert after the dwell,
    /// where a track stationary since it began otherwise never does (a buoy).
    pub reacquire_radius_m: f64,
    pub reacquire_s: f64,
    /// Where the learned fixed objects and the boats recently under way are kept across
    /// restarts (JSON, rewritten every few seconds); relative to the configuration file's
    /// folder; empty: not kept.
    pub memory_file: PathBuf,
    /// An `ais_identity_conflict` is cleared, and its MMSI trusted again, once the
    /// contradiction has not recurred for this long (s of event time; contract §4).
    pub identity_clear_s: f64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            loiter_dwell_s: 90.0,
            loiter_radius_m: 100.0,
            loiter_hold_s: 5.0,
            allow_mmsi: vec![227000001],
            underway_kn: 4.0,
            clear_underway_s: 10.0,
            clear_outside_s: 10.0,
            update_interval_s: 30.0,
            restore_grace_s: 60.0,
            restore_reach_m: 50.0,
            fixed_objects: Vec::new(),
            fixed_object_radius_m: 60.0,
            fixed_object_learn_s: 300.0,
            fixed_object_forget_s: 86_400.0,
            reacquire_radius_m: 300.0,
            reacquire_s: 900.0,
            memory_file: PathBuf::from("vigie-memory.json"),
            identity_clear_s: 600.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Prometheus exposition at /metrics; loopback by default.
    pub listen: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: "127.0.0.1:9464".into(),
        }
    }
}

/// Contract §7: the operator's console served by `vigie run`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Address of the page and its API; `""` turns the console off.
    pub listen: String,
    /// One `user:hash` line per operator (argon2 or bcrypt hashes, `vigie passwd` makes
    /// them). Absent: no login, and `listen` must be a loopback address.
    pub users_file: Option<PathBuf>,
    /// PEM certificate chain and key: the console is served over HTTPS (both or neither).
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// The incident record (SQLite): every alert event and operator action, kept across
    /// restarts. Relative to the configuration file's folder (the working directory
    /// without one).
    pub incidents_file: PathBuf,
    /// Events kept for a page that reconnects with `Last-Event-ID`; a page further behind
    /// gets a fresh snapshot instead.
    pub backlog: usize,
    /// A track not updated for this long (event time) leaves the page: the tracker says
    /// nothing when it deletes a track, and an AIS vessel at anchor reports every 3 minutes.
    pub track_timeout_s: f64,
    /// Longest a track state waits to share one write to a page with the others (alerts
    /// and actions never wait). Every write wakes the page's task and the connection's:
    /// on a busy night that, more than the bytes, is what a page costs vigie (2,000 tracks:
    /// +15 % of vigie's CPU at 0.2 s, +5 % at 1 s; BENCHMARKS.md, console_sse). A track
    /// state is published once a second at most, so a page a second behind misses nothing.
    pub sse_batch_s: f64,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            listen: "127.0.0.1:8080".into(),
            users_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            incidents_file: PathBuf::from("vigie-incidents.sqlite"),
            backlog: 20_000,
            track_timeout_s: 400.0,
            sse_batch_s: 1.0,
        }
    }
}

/// Contract §9: the replicated deployment on NATS JetStream (`vigie run --nats`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    /// Servers of the cluster (`nats://HOST:4222`); empty: the single-process default on
    /// MQTT. `--nats URLS` sets it.
    pub urls: Vec<String>,
    /// This replica's name (its consumer, its lease claims, its metrics); `--replica`
    /// sets it. Empty: the host name.
    pub replica: String,
    /// Copies the cluster keeps of each stream and bucket vigie creates (3 on a 3-node
    /// cluster: one node may fail). Streams that exist are used as they are.
    pub stream_replicas: usize,
    /// How long the contact and alert streams keep messages: a replica restarted from
    /// nothing replays this much.
    pub max_age_s: u64,
    /// JetStream's duplicate window on the alert stream: two replicas' copies of one
    /// event within it are stored once. A replica further behind than this does not
    /// publish (it reads the alert log's last contact sequence first).
    pub duplicate_window_s: u64,
    /// The output lease (retained MQTT topics, track states, console actions): a holder
    /// that stops renewing loses it after this long and another replica takes over.
    pub lease_ttl_s: f64,
    /// Every this many seconds (wall clock) a replica stores a snapshot of its engine in
    /// the object store `VIGIE_SNAPSHOTS`; a replica that starts resumes from the newest
    /// it can read and replays only what came after. 0: no snapshots (replay from the
    /// stream's first contact).
    pub snapshot_interval_s: f64,
    /// The cluster's MQTT listeners (`mqtt://n1:1883`, a list or a comma-separated string;
    /// `--nats-mqtt`): the lease holder keeps the retained active set
    /// `{prefix}/alerts/active/{id}` there for centres on MQTT (contract §3, §9). Empty: the
    /// active set is kept in the KV bucket `VIGIE_ACTIVE_ALERTS` only.
    #[serde(deserialize_with = "list_or_commas")]
    pub mqtt_urls: Vec<String>,
}

/// A list, or one comma-separated string (as an environment variable gives it).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        One(String),
    }
    Ok(match Either::deserialize(d)? {
        Either::List(v) => v,
        Either::One(s) => s
            .split(',')
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect(),
    })
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            urls: Vec::new(),
            replica: String::new(),
            stream_replicas: 1,
            max_age_s: 24 * 3600,
            duplicate_window_s: 600,
            lease_ttl_s: 3.0,
            snapshot_interval_s: 30.0,
            mqtt_urls: Vec::new(),
        }
    }
}

/// Contract §8: alerts as OASIS CAP 1.2 documents (and CISE-shaped incidents) beside the
/// JSON topics.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct CapConfig {
    /// Publish on `{prefix}/cap/alerts`, `{prefix}/cap/active/{id}` and
    /// `{prefix}/cise/incidents`.
    pub publish: bool,
    /// CAP `sender`: who originates the alerts, unique among the senders a centre hears.
    pub sender: String,
    /// CAP `senderName`: the name a watch officer reads.
    pub sender_name: String,
}

impl Default for CapConfig {
    fn default() -> Self {
        CapConfig {
            publish: true,
            sender: "vigie@cote-dopale".into(),
            sender_name: "vigie, Côte d'Opale coastal surveillance".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FrameConfig {
    /// Origin of the local metric frame; default: the mean of the radar sites.
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// A contact message larger than this is rejected unread.
    pub max_payload_bytes: usize,
    /// A radar message with more plots than this is rejected whole (a real scan sector
    /// holds tens to hundreds).
    pub max_plots_per_message: usize,
    /// A contact stamped more than this after it was received is rejected (`future_time`):
    /// a sensor with a wrong clock, or anyone who can publish, must not move event time
    /// ahead for everyone (contract §1).
    pub max_future_s: f64,
    /// A contact stamped more than this before it was received is rejected (`stale_time`).
    pub max_age_s: f64,
    /// A sensor (a radar, an AIS source topic) sending more than this multiple of its usual
    /// rate of contacts, counted in event time, has its further messages refused
    /// (`rate_limited`) until its rate falls back (see `admission.rs`).
    pub sensor_rate_factor: f64,
    /// ... but never below this many contacts per second: a quiet sensor's burst is no
    /// flood. A sensor's first minute is limited at `sensor_rate_factor ×` this.
    pub sensor_rate_floor_per_s: f64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_payload_bytes: 256 * 1024,
            max_plots_per_message: 4096,
            max_future_s: 5.0,
            max_age_s: 600.0,
            sensor_rate_factor: 10.0,
            sensor_rate_floor_per_s: 200.0,
        }
    }
}

/// Thread priorities of `vigie run` (Linux niceness, per thread: −20 first, 19 last; 0 is
/// the process's own). On a machine whose cores are shared with the broker and other work,
/// which thread the scheduler runs first decides how long an alert waits.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ThreadsConfig {
    /// The engine's thread: reads contacts, tracks, decides and publishes alerts. Below 0
    /// it gets a core before the machine's ordinary work when contacts arrive — but needs
    /// `CAP_SYS_NICE` or systemd's `LimitNICE=`; refused, vigie warns and the thread keeps
    /// the process's priority.
    pub engine_nice: i32,
    /// The output thread: track states to text, to the console and to MQTT. States can
    /// wait a millisecond; an alert, and the broker that carries it, cannot: at the
    /// engine's weight this thread was one more asking for a core just when an alert
    /// needed the broker, and contact → alert p99 at 25,000 msg/s came out no better than
    /// with the states on the engine's thread; at 10 it halved (BENCHMARKS.md, issue 23).
    /// Lowering needs no privilege.
    pub outputs_nice: i32,
}

impl Default for ThreadsConfig {
    fn default() -> Self {
        ThreadsConfig {
            engine_nice: 0,
            outputs_nice: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub mqtt: MqttConfig,
    pub zones: ZonesConfig,
    pub radar: Vec<RadarConfig>,
    pub ais: AisConfig,
    pub tracker: TrackerConfig,
    pub alerts: AlertsConfig,
    pub metrics: MetricsConfig,
    pub frame: Option<FrameConfig>,
    pub limits: LimitsConfig,
    pub console: ConsoleConfig,
    pub cap: CapConfig,
    pub nats: NatsConfig,
    pub threads: ThreadsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mqtt: MqttConfig::default(),
            zones: ZonesConfig::default(),
            radar: default_radars(),
            ais: AisConfig::default(),
            tracker: TrackerConfig::default(),
            alerts: AlertsConfig::default(),
            metrics: MetricsConfig::default(),
            frame: None,
            limits: LimitsConfig::default(),
            console: ConsoleConfig::default(),
            cap: CapConfig::default(),
            nats: NatsConfig::default(),
            threads: ThreadsConfig::default(),
        }
    }
}

/// The Côte d'Opale coastal radars of the fixtures, Dunkirk to the Authie.
pub fn default_radars() -> Vec<RadarConfig> {
    vec![
        RadarConfig::new("dunkerque", 51.0520, 2.3400),
        RadarConfig::new("calais", 50.9660, 1.8520),
        RadarConfig::new("gris-nez", 50.8696, 1.5836),
        RadarConfig::new("boulogne", 50.7280, 1.6030),
        RadarConfig::new("le-touquet", 50.5200, 1.6000),
        // A drone or thermal camera: reports positions, so no site.
        RadarConfig {
            id: "drone-1".into(),
            lat: None,
            lon: None,
            range_sigma_m: d_range_sigma(),
            bearing_sigma_deg: d_bearing_sigma(),
            scan_period_s: 1.0,
            range_max_m: 3000.0,
            pd: 0.9,
            clutter_per_scan: 0.1,
        },
    ]
}

/// The broker password, read by [`MqttConfig::security`] and never stored in [`Config`].
pub const PASSWORD_ENV: &str = "VIGIE_MQTT_PASSWORD";

impl MqttConfig {
    /// Reads the TLS material and credentials the configuration names. The password comes
    /// from `VIGIE_MQTT_PASSWORD`, else from `password_file` (first line, trailing newline
    /// dropped).
    pub fn security(&self) -> Result<broker::Security, ConfigError> {
        let read = |key: &str, p: &Path| {
            std::fs::read(p).map_err(|e| ConfigError::Invalid {
                origin: "mqtt".into(),
                key: format!("mqtt.{key}"),
                problem: format!("= {}: cannot read it: {e}", p.display()),
                fix: "check the path (relative paths are relative to the configuration file)"
                    .into(),
            })
        };
        let password = match std::env::var(PASSWORD_ENV) {
            Ok(p) => Some(p),
            Err(_) => match &self.password_file {
                Some(f) => {
                    let text = String::from_utf8_lossy(&read("password_file", f)?).into_owned();
                    Some(text.lines().next().unwrap_or("").to_string())
                }
                None => None,
            },
        };
        if password.is_some() && self.username.is_none() {
            return Err(ConfigError::Invalid {
                origin: "mqtt".into(),
                key: "mqtt.username".into(),
                problem: "is missing while a password is given".into(),
                fix: "set mqtt.username (or VIGIE_MQTT_USERNAME)".into(),
            });
        }
        let client_cert = match (&self.client_cert_file, &self.client_key_file) {
            (Some(c), Some(k)) => Some((read("client_cert_file", c)?, read("client_key_file", k)?)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::Invalid {
                    origin: "mqtt".into(),
                    key: "mqtt.client_cert_file".into(),
                    problem: "and mqtt.client_key_file must be given together".into(),
                    fix: "give both, or neither".into(),
                })
            }
        };
        Ok(broker::Security {
            ca_pem: match &self.ca_file {
                Some(f) => Some(read("ca_file", f)?),
                None => None,
            },
            client_cert,
            username: self.username.clone(),
            password,
        })
    }
}

/// Sections that `VIGIE_<SECTION>_<KEY>` environment variables may set.
const ENV_SECTIONS: &[&str] = &[
    "mqtt", "zones", "ais", "tracker", "alerts", "metrics", "limits", "frame", "console", "cap",
    "nats", "threads",
];

impl Config {
    /// Loads `path` (or the defaults), applies `VIGIE_*` environment overrides, resolves
    /// relative paths against the file's folder, and validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &vars)
    }

    pub fn load_with_env(
        path: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let (text, origin, base) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                let base = p.parent().map(Path::to_path_buf).unwrap_or_default();
                (text, p.display().to_string(), Some(base))
            }
            None => (String::new(), "defaults".to_string(), None),
        };
        Self::parse(&text, &origin, base.as_deref(), env)
    }

    /// Parses configuration text (`origin` names it in errors; relative paths resolve
    /// against `base`), applies `VIGIE_*` overrides from `env`, and validates.
    pub fn parse(
        text: &str,
        origin: &str,
        base: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let origin = origin.to_string();
        let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.clone(),
            message: e.to_string(),
        })?;
        let mut env_names = vec![];
        for (k, v) in env {
            let Some(rest) = k.strip_prefix("VIGIE_") else {
                continue;
            };
            let rest = rest.to_ascii_lowercase();
            let Some((section, key)) = rest.split_once('_') else {
                continue;
            };
            if !ENV_SECTIONS.contains(&section) || k == PASSWORD_ENV {
                continue;
            }
            let value = parse_env_value(v);
            let entry = table
                .entry(section.to_string())
                .or_insert_with(|| toml::Value::Table(Default::default()));
            if let toml::Value::Table(t) = entry {
                t.insert(key.to_string(), value);
                env_names.push(k.clone());
            }
        }
        let origin_desc = if env_names.is_empty() {
            origin.clone()
        } else {
            format!("{origin} (with environment {})", env_names.join(", "))
        };
        let mut cfg: Config =
            Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Parse {
                path: origin_desc.clone(),
                message: e.to_string(),
            })?;
        cfg.zones.path = resolve(base, &cfg.zones.path);
        // Files to create, not fixtures to find: never in the source tree.
        let dir = base
            .map(Path::to_path_buf)
            .or_else(|| std::env::current_dir().ok());
        for f in [&mut cfg.console.incidents_file, &mut cfg.alerts.memory_file] {
            if f.is_relative() && !f.as_os_str().is_empty() {
                if let Some(d) = &dir {
                    *f = d.join(&*f);
                }
            }
        }
        for p in [
            &mut cfg.mqtt.password_file,
            &mut cfg.mqtt.ca_file,
            &mut cfg.mqtt.client_cert_file,
            &mut cfg.mqtt.client_key_file,
            &mut cfg.console.users_file,
            &mut cfg.console.tls_cert_file,
            &mut cfg.console.tls_key_file,
        ]
        .into_iter()
        .flatten()
        {
            *p = resolve(base, p);
        }
        cfg.validate(&origin_desc)?;
        Ok(cfg)
    }

    /// Checks values that types alone cannot.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, problem: String, fix: &str| {
            Err(ConfigError::Invalid {
                origin: origin.to_string(),
                key: key.to_string(),
                problem,
                fix: fix.to_string(),
            })
        };
        for (key, nice) in [
            ("threads.engine_nice", self.threads.engine_nice),
            ("threads.outputs_nice", self.threads.outputs_nice),
        ] {
            if !(-20..=19).contains(&nice) {
                return bad(
                    key,
                    format!("= {nice} is not a niceness"),
                    "use -20 (first) to 19 (last); 0 is the process's own",
                );
            }
        }
        let p = &self.mqtt.prefix;
        if p.is_empty() || p.contains(['+', '#']) || p.ends_with('/') {
            return bad(
                "mqtt.prefix",
                format!("= {p:?} is not a usable topic prefix"),
                "use a plain topic path such as \"vigie\" (no wildcards, no trailing /)",
            );
        }
        if let Some(url) = &self.mqtt.url {
            if let Err(e) = broker::parse_url(url) {
                return bad(
                    "mqtt.url",
                    format!("= {url:?}: {e}"),
                    "use mqtt://HOST:PORT, e.g. mqtt://127.0.0.1:1883",
                );
            }
        }
        if self.mqtt.embedded_listen.parse::<SocketAddr>().is_err() {
            return bad(
                "mqtt.embedded_listen",
                format!("= {:?} is not an address", self.mqtt.embedded_listen),
                "use IP:PORT, e.g. \"127.0.0.1:1883\"",
            );
        }
        let c = &self.console;
        if !c.listen.is_empty() {
            match c.listen.parse::<SocketAddr>() {
                Err(_) => {
                    return bad(
                        "console.listen",
                        format!("= {:?} is not an address", c.listen),
                        "e.g. \"127.0.0.1:8080\", or \"\" to turn the console off",
                    )
                }
                Ok(a) if !a.ip().is_loopback() && c.users_file.is_none() => {
                    return bad(
                        "console.listen",
                        format!("= {:?} is reachable from other machines, and no console.users_file says who may log in", c.listen),
                        "set console.users_file (see the README, \"Operators' logins\"), or listen on 127.0.0.1",
                    )
                }
                Ok(_) => {}
            }
        }
        if c.tls_cert_file.is_some() != c.tls_key_file.is_some() {
            return bad(
                "console.tls_cert_file",
                "and console.tls_key_file come together".into(),
                "give both (PEM certificate chain and private key), or neither",
            );
        }
        if c.backlog == 0 {
            return bad("console.backlog", "= 0 must be > 0".into(), "e.g. 20000");
        }
        let n = &self.nats;
        if let Some(u) = n.urls.iter().find(|u| !u.starts_with("nats://")) {
            return bad(
                "nats.urls",
                format!("has {u:?}, not a NATS server"),
                "use nats://HOST:PORT, e.g. nats://127.0.0.1:4222",
            );
        }
        if !(1..=5).contains(&n.stream_replicas) {
            return bad(
                "nats.stream_replicas",
                format!("= {} is not a JetStream replica count", n.stream_replicas),
                "1 to 5; 3 on a 3-node cluster",
            );
        }
        if n.max_age_s == 0 || n.duplicate_window_s == 0 || n.duplicate_window_s > n.max_age_s {
            return bad(
                "nats.duplicate_window_s",
                format!(
                    "= {} with nats.max_age_s = {}: both must be > 0, the window within the age",
                    n.duplicate_window_s, n.max_age_s
                ),
                "e.g. max_age_s = 86400, duplicate_window_s = 600",
            );
        }
        if n.replica
            .contains(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            return bad(
                "nats.replica",
                format!("= {:?} cannot name a consumer", n.replica),
                "letters, digits, - and _ only, e.g. \"replica-a\"",
            );
        }
        // CAP forbids spaces, commas and reserved XML characters in `sender` (§3.2.1).
        if self.cap.sender.is_empty()
            || self
                .cap
                .sender
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || ",<&>\"'".contains(c))
        {
            return bad(
                "cap.sender",
                format!("= {:?} is not a CAP sender", self.cap.sender),
                "no spaces, commas or < & > quotes, e.g. \"vigie@cross-gris-nez\"",
            );
        }
        if self.metrics.listen.parse::<SocketAddr>().is_err() {
            return bad(
                "metrics.listen",
                format!("= {:?} is not an address", self.metrics.listen),
                "use IP:PORT, e.g. \"127.0.0.1:9464\"",
            );
        }
        let mut seen = std::collections::HashSet::new();
        for (i, r) in self.radar.iter().enumerate() {
            let key = |k: &str| format!("radar[{i}].{k}");
            if r.id.is_empty() || r.id.contains(['/', '+', '#']) {
                return bad(
                    &key("id"),
                    format!("= {:?} cannot be an MQTT topic level", r.id),
                    "use letters, digits and dashes, e.g. \"gris-nez\"",
                );
            }
            if !seen.insert(&r.id) {
                return bad(
                    &key("id"),
                    format!("= {:?} is used twice", r.id),
                    "give each sensor its own id",
                );
            }
            match (r.lat, r.lon) {
                (Some(lat), Some(lon)) => {
                    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                        return bad(
                            &key("lat"),
                            format!("/lon = {lat}, {lon} is off the globe"),
                            "give WGS 84 degrees",
                        );
                    }
                }
                (None, None) => {}
                _ => {
                    return bad(
                        &key("lat"),
                        "and lon must be given together".into(),
                        "give both, or neither for a sensor that reports positions",
                    )
                }
            }
            for (k, v) in [
                ("range_sigma_m", r.range_sigma_m),
                ("bearing_sigma_deg", r.bearing_sigma_deg),
                ("scan_period_s", r.scan_period_s),
                ("range_max_m", r.range_max_m),
            ] {
                if !(v.is_finite() && v > 0.0) {
                    return bad(
                        &key(k),
                        format!("= {v} must be > 0"),
                        "give a positive number",
                    );
                }
            }
            if !(r.pd > 0.0 && r.pd < 1.0) {
                return bad(
                    &key("pd"),
                    format!("= {} must be in (0, 1)", r.pd),
                    "e.g. 0.8 for small boats",
                );
            }
            if !(r.clutter_per_scan.is_finite() && r.clutter_per_scan >= 0.0) {
                return bad(
                    &key("clutter_per_scan"),
                    format!("= {} must be >= 0", r.clutter_per_scan),
                    "e.g. 5",
                );
            }
        }
        let a = &self.alerts;
        for (k, v) in [
            ("alerts.loiter_dwell_s", a.loiter_dwell_s),
            ("alerts.loiter_radius_m", a.loiter_radius_m),
            ("alerts.fixed_object_radius_m", a.fixed_object_radius_m),
            ("alerts.fixed_object_learn_s", a.fixed_object_learn_s),
            ("alerts.fixed_object_forget_s", a.fixed_object_forget_s),
            ("alerts.restore_reach_m", a.restore_reach_m),
            ("alerts.reacquire_radius_m", a.reacquire_radius_m),
            ("alerts.reacquire_s", a.reacquire_s),
            ("alerts.underway_kn", a.underway_kn),
            ("alerts.update_interval_s", a.update_interval_s),
            ("alerts.identity_clear_s", a.identity_clear_s),
            ("tracker.process_noise", self.tracker.process_noise),
            ("tracker.manoeuvre_noise", self.tracker.manoeuvre_noise),
            (
                "tracker.imm_manoeuvre_noise",
                self.tracker.imm_manoeuvre_noise,
            ),
            (
                "tracker.imm_steady_sojourn_s",
                self.tracker.imm_steady_sojourn_s,
            ),
            (
                "tracker.imm_manoeuvre_sojourn_s",
                self.tracker.imm_manoeuvre_sojourn_s,
            ),
            ("tracker.gate_chi2", self.tracker.gate_chi2),
            ("tracker.coast_s", self.tracker.coast_s),
            ("tracker.ais_coast_s", self.tracker.ais_coast_s),
            ("tracker.max_lateness_s", self.tracker.max_lateness_s),
            (
                "tracker.tentative_timeout_s",
                self.tracker.tentative_timeout_s,
            ),
            (
                "tracker.init_speed_sigma_mps",
                self.tracker.init_speed_sigma_mps,
            ),
            ("ais.sigma_m", self.ais.sigma_m),
            ("ais.velocity_sigma_mps", self.ais.velocity_sigma_mps),
            ("ais.conflict_speed_kn", self.ais.conflict_speed_kn),
            ("ais.conflict_margin_m", self.ais.conflict_margin_m),
            ("ais.max_lateness_s", self.ais.max_lateness_s),
            ("mqtt.track_interval_s", self.mqtt.track_interval_s),
            ("limits.max_future_s", self.limits.max_future_s),
            ("limits.max_age_s", self.limits.max_age_s),
            (
                "limits.sensor_rate_floor_per_s",
                self.limits.sensor_rate_floor_per_s,
            ),
            ("console.track_timeout_s", self.console.track_timeout_s),
            ("console.sse_batch_s", self.console.sse_batch_s),
            ("nats.lease_ttl_s", self.nats.lease_ttl_s),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(k, format!("= {v} must be > 0"), "give a positive number");
            }
        }
        if !(a.loiter_hold_s.is_finite() && a.loiter_hold_s >= 0.0) {
            return bad(
                "alerts.loiter_hold_s",
                format!("= {} must be >= 0", a.loiter_hold_s),
                "e.g. 5 (0: raise at the first update the rule holds)",
            );
        }
        if self.console.sse_batch_s > 10.0 {
            return bad(
                "console.sse_batch_s",
                format!("= {} is longer than 10 s", self.console.sse_batch_s),
                "a page would show tracks that long after they moved: give at most a few seconds",
            );
        }
        if !(self.limits.sensor_rate_factor.is_finite() && self.limits.sensor_rate_factor >= 2.0) {
            return bad(
                "limits.sensor_rate_factor",
                format!("= {} must be at least 2", self.limits.sensor_rate_factor),
                "give how many times its usual rate a sensor may send, e.g. 10",
            );
        }
        for (i, &[lat, lon]) in a.fixed_objects.iter().enumerate() {
            if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
                return bad(
                    "alerts.fixed_objects",
                    format!("[{i}] = [{lat}, {lon}] is not a position"),
                    "give [latitude, longitude] in degrees, e.g. [50.9493, 1.7601]",
                );
            }
        }
        for (k, v) in [
            (
                "tracker.clutter_map_cell_m",
                self.tracker.clutter_map_cell_m,
            ),
            ("tracker.clutter_map_tau_s", self.tracker.clutter_map_tau_s),
            (
                "tracker.clutter_map_delay_s",
                self.tracker.clutter_map_delay_s,
            ),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(
                    k,
                    format!("= {v} must be >= 0"),
                    "give 0 or a positive number",
                );
            }
        }
        Ok(())
    }

    /// Origin of the local frame: configured, else the mean of the radar sites, else the
    /// middle of the Côte d'Opale.
    pub fn frame_origin(&self) -> (f64, f64) {
        if let Some(f) = &self.frame {
            return (f.lat, f.lon);
        }
        let sites: Vec<(f64, f64)> = self
            .radar
            .iter()
            .filter_map(|r| Some((r.lat?, r.lon?)))
            .collect();
        if sites.is_empty() {
            return (50.75, 1.6);
        }
        let n = sites.len() as f64;
        (
            sites.iter().map(|s| s.0).sum::<f64>() / n,
            sites.iter().map(|s| s.1).sum::<f64>() / n,
        )
    }
}

fn parse_env_value(v: &str) -> toml::Value {
    // `90`, `true`, `[227000001, 2]` parse as TOML; anything else is a string.
    let doc = format!("v = {v}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(v.into())),
        Err(_) => toml::Value::String(v.into()),
    }
}

/// Relative paths in a file are relative to its folder. Without a file they are relative
/// to the working directory, falling back to this source tree so that `cargo run` from
/// anywhere in the checkout finds the fixtures.
fn resolve(base: Option<&Path>, p: &Path) -> PathBuf {
    if p.is_absolute() {
        return p.to_path_buf();
    }
    match base {
        Some(b) => b.join(p),
        None => {
            if p.exists() {
                std::env::current_dir()
                    .map(|d| d.join(p))
                    .unwrap_or_else(|_| p.to_path_buf())
            } else {
                Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = std::env::temp_dir().join(format!("vigie-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join(format!("c{}.toml", text.len()));
        std::fs::write(&f, text).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        Config::load_with_env(Some(&f), &env)
    }

    #[test]
    fn defaults_are_valid_and_match_the_fixture_file() {
        let d = Config::load_with_env(None, &[]).unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/vigie.toml");
        let mut f = Config::load_with_env(Some(&fixture), &[]).unwrap();
        // The same name; beside the file rather than in the working directory.
        assert_eq!(
            f.console.incidents_file,
            fixture.parent().unwrap().join("vigie-incidents.sqlite")
        );
        assert_eq!(
            f.alerts.memory_file,
            fixture.parent().unwrap().join("vigie-memory.json")
        );
        f.console.incidents_file = d.console.incidents_file.clone();
        f.alerts.memory_file = d.alerts.memory_file.clone();
        assert_eq!(d, f, "fixtures/vigie.toml must spell out the defaults");
    }

    #[test]
    fn contract_example_loads() {
        let c = load_str(
            r#"
[mqtt]
url = "mqtt://127.0.0.1:1883"
prefix = "vigie"
client_id = "vigie"
[zones]
path = "zones.geojson"
[[radar]]
id = "gris-nez"
lat = 50.8696
lon = 1.5836
range_sigma_m = 15.0
bearing_sigma_deg = 0.3
[alerts]
loiter_dwell_s = 90
loiter_radius_m = 100
allow_mmsi = [227000001]
[metrics]
listen = "127.0.0.1:9464"
"#,
            &[],
        )
        .unwrap();
        assert_eq!(c.radar.len(), 1);
        assert!(c.zones.path.ends_with("zones.geojson") && c.zones.path.is_absolute());
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = load_str("[alerts]\nloiter_dwel_s = 90\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("loiter_dwel_s") && e.contains(".toml") && e.contains("fix:"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_are_named() {
        let e = load_str("[[radar]]\nid = \"a\"\nlat = 50\nlon = 1\npd = 2\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("radar[0].pd"), "{e}");
        let e = load_str("[mqtt]\nprefix = \"a/#\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("mqtt.prefix"), "{e}");
        let e = load_str("[threads]\nengine_nice = -25\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("threads.engine_nice"), "{e}");
    }

    #[test]
    fn environment_overrides() {
        let c = load_str(
            "",
            &[
                ("VIGIE_ALERTS_LOITER_DWELL_S", "60"),
                ("VIGIE_MQTT_URL", "mqtt://10.0.0.1:1884"),
                ("VIGIE_TEST_MQTT_URL", "ignored"),
                ("VIGIE_THREADS_ENGINE_NICE", "-5"),
            ],
        )
        .unwrap();
        assert_eq!(c.alerts.loiter_dwell_s, 60.0);
        assert_eq!(c.threads.engine_nice, -5);
        assert_eq!(c.mqtt.url.as_deref(), Some("mqtt://10.0.0.1:1884"));
        let e = load_str("", &[("VIGIE_ALERTS_NOPE", "1")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("VIGIE_ALERTS_NOPE") && e.contains("nope"), "{e}");
    }
}

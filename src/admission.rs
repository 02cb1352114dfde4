//! Per-sensor admission: a sensor sending far more contacts than it usually does is
//! rate-limited, so one flooding radar or AIS feed cannot take the engine's time from the
//! others (issue 19, "bounded per-sensor work per second").
//!
//! Counted in **event time**, not arrival time. Why: after a broker outage or a network
//! cut, the broker delivers minutes of backlog in a few seconds; counted on arrival, that
//! backlog would look like a flood and be thrown away, which is exactly when it is needed.
//! In event time the backlog has the sensor's usual rate, since each contact keeps the time
//! it was seen; a flood, whose times the §1 check holds within `max_future_s` and
//! `max_age_s` of arrival, piles up in the few seconds it claims. Event time also makes the
//! decision the same live and in an offline replay of the same recording.
//!
//! Only contacts actually applied count: a redelivered message (recognised as a repeat,
//! however many times it comes) costs nearly nothing and must never push the sensor's real
//! scans over its limit.
//!
//! The rule, per sensor (a radar, or an AIS source topic):
//! - contacts are counted in buckets of [`BUCKET_S`] of event time (a ring covering the §1
//!   window, so a late message still counts where it belongs);
//! - the sensor's usual rate is learned from its closed buckets (an exponential average over
//!   [`LEARN_S`]), each counted at most at twice the usual rate (at most the floor while the
//!   sensor is new: its first [`WARM_UP_BUCKETS`] buckets, limited meanwhile at
//!   `factor × floor_per_s`), so that a real rise of a sensor's rate (a squall's sea
//!   clutter) is learned within minutes;
//! - a bucket in which a message was refused teaches nothing: a flood, however long, never
//!   raises its own limit. A sensor whose rate really grows tenfold at once stays limited
//!   (and says so every minute in the log and on `/metrics`) until `limits` are changed;
//! - a message is refused (`rate_limited`) when its bucket already holds `factor ×` the
//!   usual rate's worth of contacts, and never below `floor_per_s`: bursts of a quiet sensor
//!   are never limited.

use crate::time::EventTime;

/// Width of a counting bucket, seconds of event time. Longer than a radar's scan period, so
/// a sensor that stamps all a scan's plots with one time still counts as a steady rate.
pub const BUCKET_S: i64 = 10;
/// Buckets kept per sensor: 640 s, more than the §1 window (600 s late, 5 s ahead).
const RING: usize = 64;
/// Time constant of the usual rate, seconds of event time.
pub const LEARN_S: f64 = 300.0;
/// Buckets learned without a cap when a sensor is new: its first minute.
pub const WARM_UP_BUCKETS: u32 = 6;

/// The limit's settings (`limits.sensor_rate_factor`, `limits.sensor_rate_floor_per_s`).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RateLimit {
    /// A sensor is limited at this multiple of its usual rate.
    pub factor: f64,
    /// ... and never below this many contacts per second.
    pub floor_per_s: f64,
}

/// What the admission said about one message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Admit {
    Yes,
    /// Refused: its bucket already holds `limit_per_s` worth; the sensor's usual rate, and
    /// the multiple of it allowed.
    No {
        usual_per_s: f64,
        limit_per_s: f64,
        factor: f64,
    },
}

/// serde for the ring (serde's arrays stop at 32): as a sequence of [`RING`] slots.
mod ring_serde {
    use super::RING;
    use serde::{de::Error, Deserialize, Deserializer, Serialize, Serializer};

    type Slots = [(i64, u32, bool); RING];

    pub fn serialize<S: Serializer>(s: &Slots, ser: S) -> Result<S::Ok, S::Error> {
        s.as_slice().serialize(ser)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Slots, D::Error> {
        let v = Vec::<(i64, u32, bool)>::deserialize(d)?;
        let n = v.len();
        v.try_into()
            .map_err(|_| D::Error::invalid_length(n, &"the rate ring's slots"))
    }
}

/// One sensor's counts.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct SensorRate {
    /// Per ring slot: which bucket (event time ÷ `BUCKET_S`) it holds, its count, and
    /// whether a message of it was refused.
    #[serde(with = "ring_serde")]
    slots: [(i64, u32, bool); RING],
    /// The newest bucket seen; buckets before it are closed.
    newest: Option<i64>,
    /// Usual contacts per bucket.
    usual: f64,
    /// Closed buckets learned so far (saturating), for the warm-up.
    learned: u32,
}

impl SensorRate {
    fn new() -> Self {
        SensorRate {
            slots: [(i64::MIN, 0, false); RING],
            newest: None,
            usual: 0.0,
            learned: 0,
        }
    }

    fn count(&self, b: i64) -> u32 {
        let s = self.slots[b.rem_euclid(RING as i64) as usize];
        if s.0 == b {
            s.1
        } else {
            0
        }
    }

    fn refused(&self, b: i64) -> bool {
        let s = self.slots[b.rem_euclid(RING as i64) as usize];
        s.0 == b && s.2
    }

    fn slot(&mut self, b: i64) -> &mut (i64, u32, bool) {
        let slot = &mut self.slots[b.rem_euclid(RING as i64) as usize];
        if slot.0 != b {
            *slot = (b, 0, false);
        }
        slot
    }

    /// Moves the newest bucket to `b`, learning from every bucket that closes.
    fn advance(&mut self, b: i64, floor: f64) {
        let Some(newest) = self.newest else {
            self.newest = Some(b);
            return;
        };
        if b <= newest {
            return;
        }
        if b - newest >= RING as i64 {
            // Silent for longer than the ring (a radar down for maintenance, an AIS feed
            // cut for an hour): its usual rate has decayed to nothing, and judged by it the
            // sensor's first scans back would all be a flood — refused, and, refused, never
            // learned from: a busy radar back from a day's outage stayed limited to the
            // floor for good (found by the sustained latency bench, its passes a day
            // apart). What it knew is gone: it starts again as a new sensor does.
            *self = SensorRate::new();
            self.newest = Some(b);
            return;
        }
        let alpha = BUCKET_S as f64 / LEARN_S;
        // The buckets closing: the old newest and the empty ones between it and `b` (a
        // silent sensor's usual rate decays; past the ring, all further ones are empty).
        let closing = (b - newest).min(RING as i64);
        for k in 0..closing {
            if self.refused(newest + k) {
                continue;
            }
            let c = self.count(newest + k) as f64;
            let cap = if self.learned < WARM_UP_BUCKETS {
                floor
            } else {
                (2.0 * self.usual).max(floor)
            };
            let x = c.min(cap);
            if self.learned < WARM_UP_BUCKETS {
                // The mean of what has been seen, while it is all there is.
                self.usual += (x - self.usual) / (self.learned + 1) as f64;
            } else {
                self.usual += alpha * (x - self.usual);
            }
            self.learned = self.learned.saturating_add(1);
        }
        let rest = b - newest - closing;
        if rest > 0 {
            self.usual *= (1.0 - alpha).powi(rest.min(i32::MAX as i64) as i32);
        }
        self.newest = Some(b);
    }

    fn limit_per_bucket(&self, cfg: &RateLimit) -> f64 {
        let floor = cfg.floor_per_s * BUCKET_S as f64;
        if self.learned < WARM_UP_BUCKETS {
            // Nothing to compare with yet: the floor's multiple.
            return cfg.factor * floor;
        }
        (cfg.factor * self.usual).max(floor)
    }
}

/// Every sensor's counts: radars by configuration index, AIS sources by topic level.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Admission {
    cfg: RateLimit,
    radars: Vec<SensorRate>,
    ais: rustc_hash::FxHashMap<String, SensorRate>,
    /// AIS sources past [`MAX_AIS_SOURCES`] share this one (topic levels are free text:
    /// memory stays bounded whatever anyone publishes).
    ais_other: SensorRate,
}

/// AIS source topics counted apart; the rest together.
pub const MAX_AIS_SOURCES: usize = 256;

/// Which sensor a message came from.
#[derive(Clone, Copy, Debug)]
pub enum Source<'a> {
    Radar(usize),
    Ais(&'a str),
}

impl Admission {
    pub fn new(cfg: RateLimit, radars: usize) -> Self {
        Admission {
            cfg,
            radars: vec![SensorRate::new(); radars],
            ais: Default::default(),
            ais_other: SensorRate::new(),
        }
    }

    fn sensor(&mut self, s: Source) -> &mut SensorRate {
        match s {
            Source::Radar(i) => {
                if i >= self.radars.len() {
                    self.radars.resize(i + 1, SensorRate::new());
                }
                &mut self.radars[i]
            }
            Source::Ais(name) => {
                if !self.ais.contains_key(name) && self.ais.len() < MAX_AIS_SOURCES {
                    self.ais.insert(name.to_string(), SensorRate::new());
                }
                match self.ais.get_mut(name) {
                    Some(r) => r,
                    None => &mut self.ais_other,
                }
            }
        }
    }

    /// Whether a message of `source` stamped `t` may be processed. A message with no time
    /// of its own (AIS static data) passes `None` and is judged by the sensor's newest
    /// bucket.
    pub fn admit(&mut self, source: Source, t: Option<EventTime>) -> Admit {
        let cfg = self.cfg;
        let r = self.sensor(source);
        let b = match t {
            Some(t) => bucket(t),
            None => match r.newest {
                Some(b) => b,
                None => return Admit::Yes,
            },
        };
        r.advance(b, cfg.floor_per_s * BUCKET_S as f64);
        let limit = r.limit_per_bucket(&cfg);
        if (r.count(b) as f64) < limit {
            Admit::Yes
        } else {
            if b + (RING as i64) > r.newest.unwrap_or(b) {
                r.slot(b).2 = true;
            }
            Admit::No {
                usual_per_s: r.usual / BUCKET_S as f64,
                limit_per_s: limit / BUCKET_S as f64,
                factor: cfg.factor,
            }
        }
    }

    /// Counts `n` contacts of `source` applied at `t` (after an admitted message was
    /// processed: repeats left out).
    pub fn record(&mut self, source: Source, t: Option<EventTime>, n: usize) {
        if n == 0 {
            return;
        }
        let r = self.sensor(source);
        let Some(b) = t.map(bucket).or(r.newest) else {
            return;
        };
        let newest = r.newest.unwrap_or(b);
        if b + (RING as i64) <= newest {
            // Older than the ring (only without the §1 check): not counted.
            return;
        }
        let slot = r.slot(b);
        slot.1 = slot.1.saturating_add(n.min(u32::MAX as usize) as u32);
    }

    /// The usual rate (contacts/s) of each radar, for metrics.
    pub fn radar_usual_per_s(&self) -> impl Iterator<Item = f64> + '_ {
        self.radars.iter().map(|r| r.usual / BUCKET_S as f64)
    }
}

fn bucket(t: EventTime) -> i64 {
    t.0.div_euclid(BUCKET_S * 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: RateLimit = RateLimit {
        factor: 10.0,
        floor_per_s: 5.0,
    };

    fn at(s: f64) -> Option<EventTime> {
        Some(EventTime((s * 1e6) as i64))
    }

    /// Sends `per_scan` contacts every `period` s from `from` for `secs`; returns how many
    /// messages were refused.
    fn feed(
        a: &mut Admission,
        src: Source,
        from: f64,
        secs: f64,
        period: f64,
        per_scan: usize,
    ) -> usize {
        let mut refused = 0;
        let mut t = from;
        while t < from + secs {
            match a.admit(src, at(t)) {
                Admit::Yes => a.record(src, at(t), per_scan),
                Admit::No { .. } => refused += 1,
            }
            t += period;
        }
        refused
    }

    #[test]
    fn a_steady_sensor_is_never_limited_and_a_flood_is_cut_near_ten_times_its_rate() {
        let mut a = Admission::new(CFG, 2);
        // Radar 0: 60 plots a 2.5 s scan (24/s) for twenty minutes: learned from the floor
        // (5/s) up.
        assert_eq!(feed(&mut a, Source::Radar(0), 0.0, 1200.0, 2.5, 60), 0);
        let usual = a.radar_usual_per_s().next().unwrap();
        assert!((usual - 24.0).abs() < 1.0, "{usual}");
        // Then ten 60-plot messages a second (600/s, 25×) for a minute: about 240/s pass.
        let mut passed = 0;
        let mut t = 1200.0;
        while t < 1260.0 {
            if a.admit(Source::Radar(0), at(t)) == Admit::Yes {
                a.record(Source::Radar(0), at(t), 60);
                passed += 60;
            }
            t += 0.1;
        }
        let rate = passed as f64 / 60.0;
        assert!((200.0..=300.0).contains(&rate), "{rate} plots/s passed");
        // Radar 1, beside it, is not touched.
        assert_eq!(feed(&mut a, Source::Radar(1), 0.0, 1260.0, 3.0, 40), 0);
    }

    #[test]
    fn a_backlog_delivered_at_once_is_not_a_flood() {
        // Event time, not arrival: ten minutes of scans processed in one burst after an
        // outage have their usual rate per bucket.
        let mut a = Admission::new(CFG, 1);
        assert_eq!(feed(&mut a, Source::Radar(0), 0.0, 300.0, 2.5, 60), 0);
        assert_eq!(feed(&mut a, Source::Radar(0), 300.0, 600.0, 2.5, 60), 0);
    }

    #[test]
    fn a_sustained_rise_is_learned_within_minutes_and_a_flood_teaches_nothing() {
        let mut a = Admission::new(CFG, 1);
        feed(&mut a, Source::Radar(0), 0.0, 300.0, 2.5, 10); // 4/s
                                                             // Clutter rises fourfold (a squall): within the limit, learned.
        assert_eq!(feed(&mut a, Source::Radar(0), 300.0, 900.0, 2.5, 40), 0);
        let usual = a.radar_usual_per_s().next().unwrap();
        assert!(usual > 12.0, "{usual}");
        // A flood at 100× the new rate for ten minutes teaches nothing: its limit stays.
        let refused = feed(&mut a, Source::Radar(0), 900.0, 600.0, 0.1, 160);
        assert!(refused > 5000, "{refused}");
        let after = a.radar_usual_per_s().next().unwrap();
        assert!((after - usual).abs() < 0.01 * usual, "{usual} -> {after}");
    }

    #[test]
    fn a_sensor_back_from_a_long_silence_is_taken_as_new_not_as_a_flood() {
        let mut a = Admission::new(CFG, 1);
        // 40/s for twenty minutes (eight times the floor), then nothing for a day.
        assert_eq!(feed(&mut a, Source::Radar(0), 0.0, 1200.0, 2.5, 100), 0);
        // Back at the same rate: nothing refused, and its rate learned again.
        let back = 1200.0 + 86_400.0;
        assert_eq!(feed(&mut a, Source::Radar(0), back, 1200.0, 2.5, 100), 0);
        let usual = a.radar_usual_per_s().next().unwrap();
        assert!((usual - 40.0).abs() < 2.0, "{usual}");
        // A flood after a silence is limited as a new sensor's is: factor × floor.
        let mut b = Admission::new(CFG, 1);
        feed(&mut b, Source::Radar(0), 0.0, 1200.0, 2.5, 10);
        let refused = feed(&mut b, Source::Radar(0), back, 300.0, 0.01, 10);
        assert!(refused > 15_000, "{refused} of 30,000");
    }

    #[test]
    fn repeats_are_not_counted_and_a_quiet_sensor_bursts_freely() {
        let mut a = Admission::new(CFG, 1);
        feed(&mut a, Source::Radar(0), 0.0, 120.0, 3.0, 1); // 0.33/s
                                                            // One scan of 40 plots in a second: under the 5/s floor's 50 a bucket.
        assert_eq!(a.admit(Source::Radar(0), at(121.0)), Admit::Yes);
        a.record(Source::Radar(0), at(121.0), 40);
        // The same message redelivered a thousand times: admitted, applies nothing.
        for _ in 0..1000 {
            assert_eq!(a.admit(Source::Radar(0), at(121.0)), Admit::Yes);
            a.record(Source::Radar(0), at(121.0), 0);
        }
    }

    #[test]
    fn ais_sources_are_counted_apart_and_bounded() {
        let mut a = Admission::new(CFG, 0);
        feed(&mut a, Source::Ais("aiscatcher"), 0.0, 300.0, 1.0, 20);
        // A source flooding from its first message is cut at `factor × floor` (500/s),
        // and learns no more than the floor from it.
        let refused = feed(&mut a, Source::Ais("flood"), 0.0, 300.0, 0.01, 10);
        assert!(refused > 15_000, "{refused} of 30,000");
        assert_eq!(
            feed(&mut a, Source::Ais("aiscatcher"), 300.0, 60.0, 1.0, 20),
            0
        );
        for i in 0..1000 {
            a.admit(Source::Ais(&format!("s{i}")), at(0.0));
        }
        assert_eq!(a.ais.len(), MAX_AIS_SOURCES);
    }
}

//! Engine step per radar scan at 10, 200 and 2,000 targets, beside decoding the same
//! messages alone (same run), and heap bytes per track at 200, 2,000 and 20,000 tracks
//! (counted by a global allocator wrapper, not RSS).
//!
//!   cargo bench --bench engine
//!
//! Targets move at 3-8 m/s inside the Gris-Nez radar's cover; every target is detected on
//! every scan (so the per-scan cost is the cost of N plots), plus 5 clutter plots. The first
//! 10 scans (track confirmation) are not timed.

use std::hint::black_box;
use std::time::Instant;
use vigie::decode::Decoder;
use vigie::{Config, EventTime, Pipeline};

/// Counts live heap bytes exactly (RSS is too coarse: the allocator reuses freed pages).
struct Counting;

static LIVE: std::sync::atomic::AtomicIsize = std::sync::atomic::AtomicIsize::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        LIVE.fetch_sub(l.size() as isize, std::sync::atomic::Ordering::Relaxed);
        unsafe { std::alloc::System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live_bytes() -> isize {
    LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Resident set size from /proc (Linux), in bytes; 0 elsewhere.
fn rss_bytes() -> isize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<isize>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// Deterministic pseudo-random numbers in [0, 1).
fn lcg(state: &mut u64) -> f64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

fn main() {
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let zones = vigie::geo::zones::load(&cfg.zones.path).unwrap();
    let sensors: Vec<String> = cfg.radar.iter().map(|r| r.id.clone()).collect();
    println!("| targets | engine per scan p50 / p99 | engine contacts/s | decode alone, same messages | ratio |");
    println!("|---|---|---|---|---|");
    for n in [10usize, 200, 2000] {
        let mut seed = 42 + n as u64;
        // Targets in range/bearing from the site, moving in straight lines.
        let targets: Vec<(f64, f64, f64, f64)> = (0..n)
            .map(|_| {
                let r = 2000.0 + 18000.0 * lcg(&mut seed);
                let b = 180.0 + 100.0 * lcg(&mut seed); // the sea side of Gris-Nez
                let (x, y) = (r * b.to_radians().sin(), r * b.to_radians().cos());
                let h = 360.0 * lcg(&mut seed);
                let v = 3.0 + 5.0 * lcg(&mut seed);
                (x, y, v * h.to_radians().sin(), v * h.to_radians().cos())
            })
            .collect();
        let scans = 70;
        let t0 = EventTime::parse_rfc3339("2026-03-14T05:00:00Z").unwrap();
        let msgs: Vec<(String, Vec<u8>, EventTime)> = (0..scans)
            .map(|k| {
                let dt = k as f64 * 2.5;
                let mut plots: Vec<String> = targets
                    .iter()
                    .map(|(x, y, vx, vy)| {
                        let (px, py) = (x + vx * dt, y + vy * dt);
                        let r = px.hypot(py);
                        let b = px.atan2(py).to_degrees().rem_euclid(360.0);
                        format!(r#"{{"range_m":{r:.1},"bearing_deg":{b:.3}}}"#)
                    })
                    .collect();
                for _ in 0..5 {
                    let r = 24000.0 * lcg(&mut seed).sqrt();
                    plots.push(format!(
                        r#"{{"range_m":{r:.1},"bearing_deg":{:.3}}}"#,
                        359.0 * lcg(&mut seed)
                    ));
                }
                let t = t0.plus_secs(dt);
                let body = format!(r#"{{"t":"{}","plots":[{}]}}"#, t, plots.join(","));
                (
                    "vigie/contacts/radar/gris-nez".to_string(),
                    body.into_bytes(),
                    t,
                )
            })
            .collect();
        let mut p = Pipeline::new(&cfg, zones.clone(), true);
        let mut times = Vec::new();
        let mut contacts = 0usize;
        for (i, (topic, body, t)) in msgs.iter().enumerate() {
            let s = Instant::now();
            let c = p.process(topic, body, *t).contacts;
            if i >= 10 {
                times.push(s.elapsed().as_secs_f64());
                contacts += c;
            }
        }
        let total: f64 = times.iter().sum();
        let mut dec = Decoder::new("vigie", &sensors, 1 << 24);
        let s = Instant::now();
        for (topic, body, t) in &msgs[10..] {
            let mut r = Vec::new();
            black_box(dec.decode(topic, body, *t, &mut r).unwrap());
        }
        let decode = s.elapsed().as_secs_f64();
        let (p50, p99) = (pct(&mut times, 0.5), pct(&mut times, 0.99));
        println!(
            "| {n} | {:.3} / {:.3} ms | {:.2} M | {:.2} M contacts/s | {:.2}x |",
            p50 * 1e3,
            p99 * 1e3,
            contacts as f64 / total / 1e6,
            contacts as f64 / decode / 1e6,
            decode / total
        );
    }

    println!("\n| tracks | heap growth | bytes per track | RSS growth | RSS per track |");
    println!("|---|---|---|---|---|");
    for n in [200usize, 2000, 20000] {
        let mut p = Pipeline::new(&cfg, zones.clone(), true);
        let before = live_bytes();
        let rss_before = rss_bytes();
        let t = EventTime::parse_rfc3339("2026-03-14T05:00:00Z").unwrap();
        // AIS starts a confirmed track per MMSI at once.
        for i in 0..n {
            let lat = 50.5 + 0.6 * (i as f64 / n as f64);
            let lon = 1.0 + 0.4 * ((i * 7919) % n) as f64 / n as f64;
            let body = format!(
                r#"{{"class":"AIS","type":1,"mmsi":{},"scaled":true,"lat":{lat:.6},"lon":{lon:.6},"speed":5.0,"course":90.0,"t":"{t}"}}"#,
                200_000_000 + i
            );
            p.process("vigie/contacts/ais/bench", body.as_bytes(), t);
        }
        let after = live_bytes();
        let rss = rss_bytes() - rss_before;
        black_box(&p);
        println!(
            "| {n} | {:.0} KiB | {:.0} | {:.0} KiB | {:.0} |",
            (after - before) as f64 / 1024.0,
            (after - before) as f64 / n as f64,
            rss as f64 / 1024.0,
            rss as f64 / n as f64
        );
    }
    load_scenes(&cfg, &zones);
    soak(&cfg, &zones);
    println!(
        "\nsize_of::<Track>() = {} bytes (state and covariance inline; plus map and per-track loiter state)",
        std::mem::size_of::<vigie::track::Track>()
    );
}

/// The load scenes through one pipeline, beside decoding the same messages alone, best of
/// 5 passes each. Issues 3 and 7 ask ≥ 1,000,000 contacts/s. strait-200 is issue 3's
/// benchmark as worded (200 targets with clutter from three radars, 2,000 AIS vessels);
/// load-2000 is heavier on the tracker (2,000 vessels all in the cover of five radars).
fn load_scenes(cfg: &Config, zones: &[vigie::geo::zones::Zone]) {
    for name in ["strait-200", "load-2000"] {
        let path = format!(
            "{}/fixtures/scenarios/{name}.toml",
            env!("CARGO_MANIFEST_DIR")
        );
        let scene: vigie::training::sim::Scene =
            toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let msgs: Vec<(String, Vec<u8>, EventTime)> =
            vigie::training::sim::simulate_for(&scene, cfg, "vigie")
                .into_iter()
                .map(|l| (l.topic.clone(), l.payload_bytes(), l.t_rx))
                .collect();
        let sensors: Vec<String> = cfg.radar.iter().map(|r| r.id.clone()).collect();
        let (mut engine, mut decode, mut contacts) = (f64::MAX, f64::MAX, 0);
        for _ in 0..5 {
            let mut p = Pipeline::new(cfg, zones.to_vec(), false);
            let s = Instant::now();
            contacts = 0;
            for (topic, body, t) in &msgs {
                contacts += p.process(topic, body, *t).contacts;
            }
            engine = engine.min(s.elapsed().as_secs_f64());
            let mut dec = Decoder::new("vigie", &sensors, 1 << 24);
            let s = Instant::now();
            for (topic, body, t) in &msgs {
                let mut r = Vec::new();
                black_box(dec.decode(topic, body, *t, &mut r).ok());
            }
            decode = decode.min(s.elapsed().as_secs_f64());
        }
        println!(
            "\n{name} scene, {} messages, {contacts} contacts: engine end to end {:.3} M contacts/s; decode alone {:.3} M contacts/s (ratio {:.2}x)",
            msgs.len(),
            contacts as f64 / engine / 1e6,
            contacts as f64 / decode / 1e6,
            decode / engine
        );
    }
}

/// An accelerated day: `VIGIE_BENCH_HOURS` (default 24) consecutive simulated hours, each
/// with its own 200 vessels crossing (150 with AIS) seen by the five radars with clutter,
/// through one pipeline as fast as it goes. Tracks come and go every hour; live heap and
/// RSS are read after each hour. Anything kept per track, per MMSI, per zone or per clutter
/// cell that is never released shows as growth from hour to hour.
fn soak(cfg: &Config, zones: &[vigie::geo::zones::Zone]) {
    let hours: usize = std::env::var("VIGIE_BENCH_HOURS")
        .ok()
        .and_then(|h| h.parse().ok())
        .unwrap_or(24);
    let mut p = Pipeline::new(cfg, zones.to_vec(), false);
    let start = EventTime::parse_rfc3339("2026-03-20T00:00:00Z").unwrap();
    let base = live_bytes();
    println!(
        "\n| hour | contacts so far | tracks now | clutter-map cells | heap (pipeline) | RSS |"
    );
    println!("|---|---|---|---|---|---|");
    let mut contacts = 0usize;
    let wall = Instant::now();
    let mut engine_s = 0.0;
    for h in 0..hours {
        let text = format!(
            "name = \"soak\"\nstart = \"{}\"\nduration_s = 3600\nseed = {}\n[traffic]\ncount = 200\nlat = [50.45, 51.15]\nlon = [1.00, 1.50]\nais_fraction = 0.75\n",
            start.plus_secs(h as f64 * 3600.0),
            100 + h
        );
        let scene: vigie::training::sim::Scene = toml::from_str(&text).unwrap();
        let lines: Vec<(String, Vec<u8>, EventTime)> =
            vigie::training::sim::simulate_for(&scene, cfg, "vigie")
                .into_iter()
                .map(|l| (l.topic.clone(), l.payload_bytes(), l.t_rx))
                .collect();
        let s = Instant::now();
        for (topic, body, t) in &lines {
            contacts += p.process(topic, body, *t).contacts;
        }
        engine_s += s.elapsed().as_secs_f64();
        drop(lines);
        let h = h + 1;
        if h <= 2 || h % 6 == 0 || h == hours {
            println!(
                "| {h} | {:.1} M | {} | {} | {:.0} KiB | {:.1} MiB |",
                contacts as f64 / 1e6,
                {
                    let c = p.live().track_counts();
                    c.tentative + c.confirmed_dark + c.confirmed_ais
                },
                p.live().clutter_cells(),
                (live_bytes() - base) as f64 / 1024.0,
                rss_bytes() as f64 / (1 << 20) as f64
            );
        }
    }
    println!(
        "\n{hours} h of event time: {:.1} M contacts through the engine in {engine_s:.1} s ({:.2} M contacts/s; {:.0} s in all with the simulation)",
        contacts as f64 / 1e6,
        contacts as f64 / engine_s / 1e6,
        wall.elapsed().as_secs_f64()
    );
}

//! `vigie replay --offline` end to end (issue 23), beside what reading and parsing the same
//! file costs on this machine, in one run.
//!
//!   cargo bench --bench offline
//!   VIGIE_BENCH_SCENE_S=120 cargo bench --bench offline      (the fixture's own two minutes)
//!   VIGIE_BENCH_BASELINE_BIN=/tmp/base/target/release/vigie cargo bench --bench offline
//!   VIGIE_BENCH_ROUNDS=7                                      (default 5)
//!
//! The scene is `fixtures/scenarios/load-2000.toml` (2,000 vessels crossing the strait,
//! three in four with AIS, all seen by five radars with clutter), simulated for
//! `VIGIE_BENCH_SCENE_S` seconds (default 600) and written as `vigie record` writes. Then,
//! alternating, round after round (the machine is shared: compare within a round's
//! figures, not with another run's):
//! - **read lines**: the file read and split into lines, nothing else: the I/O floor;
//! - **serde_json, IgnoredAny**: every line parsed and validated by serde_json without
//!   building anything: what a core parses JSON at, the physical limit of a reader of
//!   this format on one core;
//! - **serde_json, Value**: every line parsed into a tree;
//! - **vigie, 1 thread** / **2 threads**: `vigie replay FILE --offline --alerts-out F`
//!   (its own process: start-up, configuration and zone loading included), `--threads 1`
//!   and `--threads 2`; and 2 threads with `--tracks-out` to a file;
//! - **baseline binary** (with `VIGIE_BENCH_BASELINE_BIN`): the same command run by another
//!   vigie build, e.g. the last round's, built in a worktree.
//!
//! Each is reported as its best and median wall time, MB/s of the recording, and contacts
//! per second (plots and AIS position reports). The one- and two-thread runs' outputs are
//! checked equal.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use vigie::recording::RecordLine;
use vigie::training::sim::{self, Scene};
use vigie::Config;

fn scene() -> Scene {
    let p = format!(
        "{}/fixtures/scenarios/load-2000.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut sc: Scene = toml::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    if let Some(s) = std::env::var("VIGIE_BENCH_SCENE_S")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        sc.duration_s = s;
    } else {
        sc.duration_s = 600.0;
    }
    sc
}

/// Wall seconds of `f`.
fn timed(f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    t.elapsed().as_secs_f64()
}

fn read_lines(path: &Path, mut f: impl FnMut(&[u8])) {
    let mut r = std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path).unwrap());
    let mut buf = Vec::with_capacity(1024);
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf).unwrap() == 0 {
            break;
        }
        f(&buf);
    }
}

/// `vigie replay` on `rec`: wall seconds and the contacts it reports.
fn replay(bin: &Path, rec: &Path, out: &Path, extra: &[&str]) -> (f64, u64) {
    let t = Instant::now();
    let o = Command::new(bin)
        .arg("replay")
        .arg(rec)
        .args(["--offline", "--alerts-out"])
        .arg(out.join("alerts.ndjson"))
        .args(extra)
        .env("VIGIE_LOG", "warn")
        .output()
        .unwrap();
    let wall = t.elapsed().as_secs_f64();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let contacts = text
        .split(", ")
        .find_map(|p| p.strip_suffix(" contacts")?.parse().ok())
        .unwrap_or_else(|| panic!("no contact count in {text}"));
    (wall, contacts)
}

/// Alert events without their wall-clock `emitted_at`.
fn alerts(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("alerts.ndjson"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("emitted_at");
            v
        })
        .collect()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds: usize = std::env::var("VIGIE_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let cfg = Config::load_with_env(None, &[]).unwrap();
    let sc = scene();
    let dir = std::env::temp_dir().join(format!("vigie-bench-offline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rec = dir.join("rec.ndjson");
    {
        let lines: Vec<RecordLine> = sim::simulate_for(&sc, &cfg, "vigie");
        let mut text = String::new();
        for l in &lines {
            text += &serde_json::to_string(l).unwrap();
            text.push('\n');
        }
        std::fs::write(&rec, text).unwrap();
    }
    let bytes = std::fs::metadata(&rec).unwrap().len() as f64;
    let vigie = PathBuf::from(env!("CARGO_BIN_EXE_vigie"));
    let baseline = std::env::var_os("VIGIE_BENCH_BASELINE_BIN").map(PathBuf::from);
    let outs: Vec<PathBuf> = (0..5).map(|i| dir.join(format!("out{i}"))).collect();
    for o in &outs {
        std::fs::create_dir_all(o).unwrap();
    }
    let tracks_file = outs[3].join("tracks.ndjson");
    let tracks_arg = tracks_file.to_str().unwrap().to_string();
    let names = [
        "read lines",
        "serde_json, IgnoredAny",
        "serde_json, Value",
        "vigie, 1 thread",
        "vigie, 2 threads",
        "vigie, 2 threads, --tracks-out",
        "baseline binary",
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut contacts = 0;
    for _ in 0..rounds {
        let mut n = 0u64;
        times[0].push(timed(|| read_lines(&rec, |l| n += l.len() as u64)));
        assert_eq!(n as f64, bytes);
        times[1].push(timed(|| {
            read_lines(&rec, |l| {
                let _: serde::de::IgnoredAny = serde_json::from_slice(l).unwrap();
            })
        }));
        times[2].push(timed(|| {
            read_lines(&rec, |l| {
                let _: serde_json::Value = serde_json::from_slice(l).unwrap();
            })
        }));
        let (w, c1) = replay(&vigie, &rec, &outs[0], &["--threads", "1"]);
        times[3].push(w);
        let (w, c2) = replay(&vigie, &rec, &outs[1], &["--threads", "2"]);
        times[4].push(w);
        let (w, c3) = replay(
            &vigie,
            &rec,
            &outs[2],
            &["--threads", "2", "--tracks-out", &tracks_arg],
        );
        times[5].push(w);
        assert_eq!((c1, c2), (c3, c3));
        contacts = c1;
        if let Some(b) = &baseline {
            let (w, c) = replay(b, &rec, &outs[4], &[]);
            assert_eq!(c, contacts, "the baseline binary counts the same contacts");
            times[6].push(w);
        }
    }
    assert_eq!(
        alerts(&outs[0]),
        alerts(&outs[1]),
        "one and two threads differ"
    );
    if baseline.is_some() {
        assert_eq!(
            alerts(&outs[4]),
            alerts(&outs[1]),
            "the baseline binary alerts otherwise"
        );
    }
    let mb = bytes / 1e6;
    println!(
        "\nload-2000 for {:.0} s: {:.1} MB, {contacts} contacts, {} alert events; {rounds} rounds\n",
        sc.duration_s,
        mb,
        alerts(&outs[1]).len()
    );
    println!("| run | best s | median s | MB/s (best) | contacts/s (best) | contacts/s (median) |");
    println!("|---|---|---|---|---|---|");
    for (name, t) in names.iter().zip(&mut times) {
        if t.is_empty() {
            continue;
        }
        t.sort_by(f64::total_cmp);
        let (best, median) = (t[0], t[t.len() / 2]);
        println!(
            "| {name} | {best:.3} | {median:.3} | {:.0} | {:.0} k | {:.0} k |",
            mb / best,
            contacts as f64 / best / 1e3,
            contacts as f64 / median / 1e3,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

//! What more than one bench needs. A folder without `main.rs`, so Cargo does not take it
//! for a bench of its own.

/// CPU seconds (user + system) a process has used so far.
#[allow(dead_code)]
pub fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ
}

/// Seconds a process's live threads have spent on a CPU, to the nanosecond (the sum of
/// `/proc/PID/task/*/schedstat`): for costs of a few milliseconds a second, where
/// [`cpu_s`]'s 10 ms ticks are too coarse. Threads that have exited are not counted.
#[allow(dead_code)]
pub fn on_cpu_s(pid: u32) -> f64 {
    schedstat(pid, None)[0] as f64 / 1e9
}

/// `/proc/PID/task/*/schedstat` summed over a process's live threads (those named `name`
/// only, if given): nanoseconds on a CPU, nanoseconds runnable and waiting for one, and
/// how many times a thread was put on one.
fn schedstat(pid: u32, name: Option<&str>) -> [u64; 3] {
    let mut sum = [0u64; 3];
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return sum;
    };
    for t in tasks.flatten() {
        if let Some(name) = name {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim() != name {
                continue;
            }
        }
        if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
            for (k, v) in s.split_whitespace().take(3).enumerate() {
                sum[k] += v.parse::<u64>().unwrap_or(0);
            }
        }
    }
    sum
}

/// The machine's CPU time so far, from `/proc/stat`'s first line: (stolen, total) in
/// ticks. Stolen is time the hypervisor gave this machine's CPUs to another guest; on a
/// shared machine it moves from one hour to the next (2–5 % idle, 28–45 % under a bench's
/// load on 2026-12-06), and a latency measured while half the CPU is stolen says more of
/// the host than of vigie. Benches print it beside their figures.
#[allow(dead_code)]
pub fn cpu_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    (f.get(7).copied().unwrap_or(0), f.iter().take(8).sum())
}

/// The share of the machine's CPU time stolen between two [`cpu_ticks`] readings.
#[allow(dead_code)]
pub fn stolen_since(before: (u64, u64)) -> f64 {
    let now = cpu_ticks();
    let total = now.1.saturating_sub(before.1);
    now.0.saturating_sub(before.0) as f64 / total.max(1) as f64
}

/// Seconds a process's threads named `name` have waited on a run queue so far, runnable
/// but not running (the second field of `/proc/PID/task/*/schedstat`): time a thread
/// lost to the other programs on the machine's cores, not to its own work; and how many
/// times they were put on a core (the third field), each after such a wait.
#[allow(dead_code)]
pub fn run_delay_s(pid: u32, name: &str) -> (f64, u64) {
    let [_, waited, runs] = schedstat(pid, Some(name));
    (waited as f64 / 1e9, runs)
}

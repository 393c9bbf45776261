//! Latency percentiles, and CPU time and memory of processes read from /proc.

use std::time::Duration;

/// Latencies in microseconds; sorted once when read.
#[derive(Default)]
pub struct Latencies {
    micros: Vec<u64>,
}

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.micros.push(d.as_micros() as u64);
    }

    pub fn extend(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
    }

    /// The `p`-th percentile (0..=100) in milliseconds, nearest-rank.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return f64::NAN;
        }
        self.micros.sort_unstable();
        let rank = ((p / 100.0) * self.micros.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.micros.len()) - 1;
        self.micros[index] as f64 / 1000.0
    }
}

/// User + system CPU seconds used so far by `pid` ("self" for this process).
pub fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after `state`.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks_per_sec())
}

fn clock_ticks_per_sec() -> f64 {
    // USER_HZ is 100 on every Linux architecture this runs on.
    100.0
}

/// A `kB` line of /proc/<pid>/status (e.g. `VmRSS`, `VmHWM`), in MiB.
pub fn status_mib(pid: &str, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(&format!("{field}:")))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU used by a process between two moments, as a share of one core.
pub struct CpuMeter {
    pid: String,
    start: Option<f64>,
    started: std::time::Instant,
}

impl CpuMeter {
    pub fn start(pid: &str) -> Self {
        Self {
            pid: pid.to_string(),
            start: cpu_secs(pid),
            started: std::time::Instant::now(),
        }
    }

    /// (CPU seconds used, share of one core) since `start`.
    pub fn read(&self) -> Option<(f64, f64)> {
        let used = cpu_secs(&self.pid)? - self.start?;
        let wall = self.started.elapsed().as_secs_f64();
        Some((used, used / wall))
    }
}

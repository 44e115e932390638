//! System load for load shedding: the seed's weighting of 40% memory in use, 30% CPU and 30%
//! calls in flight through this breaker against a capacity. Values are 0.0 to 1.0.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Measures the host's load for load shedding: 0.0 idle to 1.0 saturated, compared with
/// [`BreakerConfig::load_shed_threshold`](crate::BreakerConfig::load_shed_threshold). Asked
/// only for heavy operations, and only when the breaker would let them through.
pub trait LoadMonitor: Send + Sync {
    /// The host's load now, given the breaker's calls in flight and their capacity.
    fn system_load(&self, in_flight: usize, capacity: usize) -> f64;
}

/// The seed's weighting of its three inputs.
pub fn weighted_load(memory: f64, cpu: f64, in_flight: usize, capacity: usize) -> f64 {
    let requests = if capacity == 0 {
        1.0
    } else {
        (in_flight as f64 / capacity as f64).min(1.0)
    };
    0.4 * memory.clamp(0.0, 1.0) + 0.3 * cpu.clamp(0.0, 1.0) + 0.3 * requests
}

/// Always the same value; for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedLoad(pub f64);

impl LoadMonitor for FixedLoad {
    fn system_load(&self, _: usize, _: usize) -> f64 {
        self.0
    }
}

/// A value that can be changed while the breaker runs (simulations raise it mid-run).
#[derive(Debug, Default)]
pub struct SettableLoad(AtomicU64);

impl SettableLoad {
    /// Starts at `load`.
    pub fn new(load: f64) -> SettableLoad {
        SettableLoad(AtomicU64::new(load.to_bits()))
    }
    /// Changes the load that later calls see.
    pub fn set(&self, load: f64) {
        self.0.store(load.to_bits(), Ordering::Relaxed);
    }
    /// The load now.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl LoadMonitor for SettableLoad {
    fn system_load(&self, _: usize, _: usize) -> f64 {
        self.get()
    }
}

/// Reads memory and CPU from /proc (Linux), at most every `refresh`; other systems count them
/// as idle. Only heavy operations ask for the load, so light calls never pay for the read.
#[derive(Debug)]
pub struct SystemLoadMonitor {
    refresh: Duration,
    sample: Mutex<ProcSample>,
}

#[derive(Debug, Default)]
struct ProcSample {
    taken: Option<Instant>,
    memory: f64,
    cpu: f64,
    cpu_busy: u64,
    cpu_total: u64,
}

impl Default for SystemLoadMonitor {
    fn default() -> Self {
        SystemLoadMonitor::new(Duration::from_millis(250))
    }
}

impl SystemLoadMonitor {
    /// Reads /proc at most once per `refresh` (the default is 250 ms).
    pub fn new(refresh: Duration) -> SystemLoadMonitor {
        SystemLoadMonitor {
            refresh,
            sample: Mutex::new(ProcSample::default()),
        }
    }

    fn memory_and_cpu(&self) -> (f64, f64) {
        let Ok(mut s) = self.sample.lock() else {
            return (0.0, 0.0);
        };
        if s.taken.is_none_or(|t| t.elapsed() >= self.refresh) {
            s.memory = read_memory_in_use().unwrap_or(0.0);
            if let Some((busy, total)) = read_cpu_times() {
                let (db, dt) = (
                    busy.saturating_sub(s.cpu_busy),
                    total.saturating_sub(s.cpu_total),
                );
                if s.taken.is_some() && dt > 0 {
                    s.cpu = db as f64 / dt as f64;
                }
                s.cpu_busy = busy;
                s.cpu_total = total;
            }
            s.taken = Some(Instant::now());
        }
        (s.memory, s.cpu)
    }
}

impl LoadMonitor for SystemLoadMonitor {
    fn system_load(&self, in_flight: usize, capacity: usize) -> f64 {
        let (memory, cpu) = self.memory_and_cpu();
        weighted_load(memory, cpu, in_flight, capacity)
    }
}

/// Fraction of memory in use: 1 - MemAvailable / MemTotal.
fn read_memory_in_use() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let field = |name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let total = field("MemTotal:")?;
    let available = field("MemAvailable:")?;
    (total > 0.0).then(|| 1.0 - available / total)
}

/// (busy, total) jiffies of all CPUs from the first line of /proc/stat.
fn read_cpu_times() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().next()?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle and iowait are the 4th and 5th fields.
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_follow_the_seed() {
        assert!((weighted_load(1.0, 0.0, 0, 10) - 0.4).abs() < 1e-12);
        assert!((weighted_load(0.0, 1.0, 0, 10) - 0.3).abs() < 1e-12);
        assert!((weighted_load(0.0, 0.0, 20, 10) - 0.3).abs() < 1e-12);
        assert!((weighted_load(0.5, 0.5, 5, 10) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn system_monitor_reads_proc() {
        let m = SystemLoadMonitor::default();
        let load = m.system_load(0, 10);
        assert!((0.0..=0.7).contains(&load), "{load}");
        if cfg!(target_os = "linux") {
            assert!(read_memory_in_use().is_some_and(|m| m > 0.0 && m < 1.0));
        }
    }
}

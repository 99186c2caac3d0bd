//! The process's memory, two ways: the resident set the OS counts (what an
//! out-of-memory killer or a container limit sees) and the allocator's own
//! accounting (jemalloc, the daemon's allocator). Side by side they tell a
//! growing state (allocated grows) from memory the allocator keeps after a
//! burst (resident grows, allocated does not).

use super::names;

/// Resident set size of this process, bytes (Linux; `None` elsewhere).
pub fn rss_bytes() -> Option<u64> {
    status().and_then(|s| s.vmrss).map(|kb| kb * 1024)
}

/// Highest resident set since the start or the last [`reset_peak`].
pub fn peak_rss_bytes() -> Option<u64> {
    status().and_then(|s| s.vmhwm).map(|kb| kb * 1024)
}

/// Starts a new peak: [`peak_rss_bytes`] then reports the peak since.
pub fn reset_peak() {
    #[cfg(target_os = "linux")]
    if let Ok(me) = procfs::process::Process::myself() {
        // Linux 4.0 and later; an older kernel keeps the process's peak.
        let _ = me.clear_refs(procfs::process::ClearRefs::PeakRSS);
    }
}

/// jemalloc's statistics, bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    /// Held by the program (live allocations).
    pub allocated: u64,
    /// In pages that hold allocations (allocated plus their pages' slack).
    pub active: u64,
    /// The allocator's pages in RAM (active plus dirty pages not yet
    /// returned, plus its metadata).
    pub resident: u64,
    /// Returned to the OS but kept mapped for reuse (not in RAM).
    pub retained: u64,
}

/// jemalloc's current statistics (refreshed first: jemalloc caches them
/// until its epoch advances); `None` where jemalloc is not linked.
pub fn heap_stats() -> Option<HeapStats> {
    #[cfg(target_os = "linux")]
    {
        use tikv_jemalloc_ctl::{epoch, stats};
        epoch::advance().ok()?;
        let get = |v: Result<usize, tikv_jemalloc_ctl::Error>| v.ok().map(|b| b as u64);
        Some(HeapStats {
            allocated: get(stats::allocated::read())?,
            active: get(stats::active::read())?,
            resident: get(stats::resident::read())?,
            retained: get(stats::retained::read())?,
        })
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// The highest heap (jemalloc's allocated bytes) seen by a sampler thread
/// polling every `interval` until [`HeapPeak::finish`]. Beside the peak
/// resident set it tells how much the program held at its peak from how
/// much the allocator kept around (freed pages it had not yet returned),
/// which varies from run to run with when checkpoints fall.
pub struct HeapPeak {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    sampler: Option<std::thread::JoinHandle<Option<u64>>>,
}

impl HeapPeak {
    /// Starts sampling; `None` samples where jemalloc is not linked.
    pub fn start(interval: std::time::Duration) -> Self {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let sampler = std::thread::Builder::new()
            .name("heap-peak".into())
            .spawn(move || {
                let mut peak: Option<u64> = None;
                loop {
                    if let Some(h) = heap_stats() {
                        peak = Some(peak.map_or(h.allocated, |p| p.max(h.allocated)));
                    }
                    if flag.load(Ordering::Relaxed) {
                        return peak;
                    }
                    std::thread::sleep(interval);
                }
            })
            .ok();
        Self { stop, sampler }
    }

    /// Stops sampling: the highest heap seen, including one last sample.
    pub fn finish(mut self) -> Option<u64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.sampler.take().and_then(|s| s.join().ok()).flatten()
    }
}

impl Drop for HeapPeak {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Sets the memory gauges ([`names::PROCESS_RESIDENT`], [`names::HEAP_BYTES`]).
pub fn publish() {
    if let Some(rss) = rss_bytes() {
        metrics::gauge!(names::PROCESS_RESIDENT).set(rss as f64);
    }
    if let Some(h) = heap_stats() {
        for (kind, bytes) in [
            ("allocated", h.allocated),
            ("active", h.active),
            ("resident", h.resident),
            ("retained", h.retained),
        ] {
            metrics::gauge!(names::HEAP_BYTES, "kind" => kind).set(bytes as f64);
        }
    }
}

#[cfg(target_os = "linux")]
fn status() -> Option<procfs::process::Status> {
    procfs::process::Process::myself()
        .and_then(|me| me.status())
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn status() -> Option<Status> {
    None
}

#[cfg(not(target_os = "linux"))]
struct Status {
    vmrss: Option<u64>,
    vmhwm: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn resident_set_and_allocator_stats_are_read() {
        let rss = rss_bytes().expect("VmRSS on Linux");
        assert!(rss > 0);
        assert!(peak_rss_bytes().is_some_and(|peak| peak >= rss / 2));
        // The test binary allocates with the system allocator, so jemalloc
        // holds next to nothing, but its statistics are there and coherent.
        let h = heap_stats().expect("jemalloc statistics");
        assert!(h.allocated <= h.active && h.active <= h.resident, "{h:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_heap_peak_sampler_reports_what_it_saw() {
        let before = heap_stats().expect("jemalloc statistics").allocated;
        let sampler = HeapPeak::start(std::time::Duration::from_millis(1));
        std::thread::sleep(std::time::Duration::from_millis(5));
        let peak = sampler.finish().expect("a sample");
        // Nothing here frees jemalloc memory (the test binary allocates
        // with the system allocator), so the peak is at least the start.
        assert!(peak >= before, "peak {peak} below {before}");
    }
}

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
}

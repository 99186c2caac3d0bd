//! The `smokewatch` binary: everything lives in the library.

/// jemalloc instead of glibc's malloc: the daemon's heap swings from the
/// first model's training (about a gigabyte for a moment) to a steady
/// state several times smaller, and glibc's per-thread arenas kept most of
/// that peak resident for the life of the process. jemalloc's background
/// threads return freed pages to the OS within seconds.
///
/// The `system-alloc` feature leaves the system allocator in place, so that
/// heap profilers that hook `malloc` (heaptrack, valgrind's dhat) see every
/// allocation: `cargo build --release --features system-alloc`.
#[cfg(all(target_os = "linux", not(feature = "system-alloc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read before `main` runs (the `malloc_conf` symbol of
/// its API): freed pages go back to the OS 1 s after they were last used
/// instead of 10 s. The daemon frees in bursts (the copies a checkpoint
/// causes, an update trigger's results every 10 s), and with the default
/// each burst's pages were still resident at the next: 10 000 simulated
/// detectors held 300-800 MB resident for 200-550 MB allocated
/// (`smokewatch_heap_bytes`). `_RJEM_MALLOC_CONF` in the environment still
/// overrides it.
#[cfg(all(target_os = "linux", not(feature = "system-alloc")))]
#[unsafe(export_name = "_rjem_malloc_conf")]
#[allow(non_upper_case_globals)]
pub static malloc_conf: &[u8; 37] = b"dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> std::process::ExitCode {
    smokewatch::app::cli::main()
}

//! The `smokewatch` binary: everything lives in the library.

/// jemalloc instead of glibc's malloc: the daemon's heap swings from the
/// first model's training (about a gigabyte for a moment) to a steady
/// state several times smaller, and glibc's per-thread arenas kept most of
/// that peak resident for the life of the process. jemalloc's background
/// threads return freed pages to the OS within seconds.
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    smokewatch::app::cli::main()
}

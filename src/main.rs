//! The `smokewatch` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    smokewatch::app::cli::main()
}

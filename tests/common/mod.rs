//! Helpers shared by the integration tests: run the built binary, start a
//! daemon on a free port and find where it listens.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The `smokewatch` binary cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_smokewatch"))
}

/// A command for the binary with no `SMOKEWATCH__*` variables inherited.
pub fn smokewatch(dir: &Path) -> Command {
    let mut cmd = Command::new(binary());
    cmd.current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("SMOKEWATCH") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("RUST_LOG");
    cmd
}

/// A daemon process with its stderr collected line by line.
pub struct RunningDaemon {
    pub child: Child,
    pub addr: String,
    pub log: mpsc::Receiver<String>,
    pub log_lines: Vec<String>,
}

impl RunningDaemon {
    /// Starts `smokewatch run` in `dir` with `config` (YAML), web on a
    /// free port, and waits until it logs its address.
    pub fn start(dir: &Path, config: &str, extra_env: &[(&str, &str)]) -> RunningDaemon {
        let path = dir.join("config.yaml");
        std::fs::write(&path, config).expect("write config");
        let mut cmd = smokewatch(dir);
        cmd.arg("--config")
            .arg(&path)
            .arg("run")
            .env("SMOKEWATCH__WEB__PORT", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn smokewatch");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[daemon] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut daemon = RunningDaemon {
            child,
            addr: String::new(),
            log: rx,
            log_lines: Vec::new(),
        };
        let line = daemon
            .wait_for_log("/health on http://", Duration::from_secs(60))
            .expect("daemon did not log its web address");
        let addr = line
            .rsplit("http://")
            .next()
            .expect("address in log line")
            .trim()
            .to_string();
        daemon.addr = addr;
        daemon
    }

    /// Waits for a log line containing `needle`; returns it.
    pub fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        if let Some(line) = self.log_lines.iter().find(|l| l.contains(needle)) {
            return Some(line.clone());
        }
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.log.recv_timeout(left) {
                Ok(line) => {
                    self.log_lines.push(line.clone());
                    if line.contains(needle) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }

    /// Collects the remaining log lines (after the process exited).
    pub fn drain_log(&mut self) -> &[String] {
        while let Ok(line) = self.log.recv_timeout(Duration::from_millis(200)) {
            self.log_lines.push(line);
        }
        &self.log_lines
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits for exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for RunningDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tests/python/<script>` with `args` and fails the test with its
/// stderr unless it succeeds. Exit code 2 means pyarrow is missing.
pub fn python_check(script: &str, args: &[&std::ffi::OsStr]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = Command::new("python3")
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); install Python 3 and run scripts/test-deps.sh")
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(2),
        "pyarrow is missing: {stderr} (scripts/test-deps.sh installs tests/requirements.txt)"
    );
    assert!(out.status.success(), "pyarrow check failed: {stderr}");
    println!("{}", String::from_utf8_lossy(&out.stdout));
}

/// The (device, seq) of every reading in the history store at `store_dir`,
/// sorted, repeats kept (so a doubled row shows).
pub fn stored_keys(store_dir: &Path) -> Vec<(String, u64)> {
    let store = smokewatch::store::HistoryStore::new(store_dir);
    let files = store.files().expect("store listing");
    let mut out: Vec<(String, u64)> = store
        .read_all(&files)
        .expect("store readable")
        .into_iter()
        .map(|r| (r.device_id.to_string(), r.seq))
        .collect();
    out.sort();
    out
}

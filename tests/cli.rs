//! The command line: exit codes, config errors naming the key, overrides.

mod common;

use common::smokewatch;
use std::path::Path;

fn check_config(dir: &Path, yaml: &str, env: &[(&str, &str)]) -> (i32, String, String) {
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut cmd = smokewatch(dir);
    cmd.arg("--config").arg(&path).arg("check-config");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn five_broken_configs_exit_2_naming_the_key_path() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("unknown key", "web:\n  colour: red\n", "web.colour"),
        (
            "bad duration",
            "stream:\n  window:\n    size: abc\n",
            "stream.window.size: \"abc\" is not a duration",
        ),
        (
            "negative capacity",
            "daemon:\n  channel_capacity: -5\n",
            "daemon.channel_capacity: -5 is not a valid capacity",
        ),
        (
            "bad port",
            "web:\n  port: 70000\n",
            "web.port: 70000 is not a valid TCP port",
        ),
        (
            "wrong type",
            "kafka:\n  enabled: [yes]\n",
            "kafka.enabled: invalid type",
        ),
    ];
    for (what, yaml, expected) in cases {
        let (code, _, stderr) = check_config(dir.path(), yaml, &[]);
        assert_eq!(code, 2, "{what}: exit code; stderr: {stderr}");
        assert!(
            stderr.contains(expected),
            "{what}: {stderr:?} should contain {expected:?}"
        );
    }
}

#[test]
fn env_override_changes_the_effective_config() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = check_config(dir.path(), "web:\n  port: 8080\n", &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("port: 8080"), "{stdout}");
    let (code, stdout, _) = check_config(
        dir.path(),
        "web:\n  port: 8080\n",
        &[
            ("SMOKEWATCH__WEB__PORT", "9999"),
            ("SMOKEWATCH__KAFKA__ENABLED", "true"),
        ],
    );
    assert_eq!(code, 0);
    assert!(stdout.contains("port: 9999"), "{stdout}");
    assert!(stdout.contains("enabled: true"), "{stdout}");
}

#[test]
fn bad_env_override_exits_2_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = check_config(
        dir.path(),
        "",
        &[("SMOKEWATCH__STREAM__WINDOW__SIZE", "soon")],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("stream.window.size"), "{stderr}");
    assert!(
        stderr.contains("SMOKEWATCH__STREAM__WINDOW__SIZE"),
        "{stderr}"
    );
}

#[test]
fn check_config_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = check_config(dir.path(), "web:\n  admin_token: hunter2\n", &[]);
    assert_eq!(code, 0);
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(stdout.contains("admin_token: '********'"), "{stdout}");
}

#[test]
fn missing_config_file_given_explicitly_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = smokewatch(dir.path())
        .args(["--config", "nope.yaml", "check-config"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.yaml"));
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = smokewatch(dir.path()).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = smokewatch(dir.path()).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for command in ["run", "check-config"] {
        assert!(help.contains(command), "--help lists {command}: {help}");
        let out = smokewatch(dir.path())
            .args([command, "--help"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{command} --help");
    }
}

/// The binary's allocator returns freed pages after 1 s (src/main.rs's
/// `malloc_conf`), and the environment can still override it. jemalloc
/// prints its options at exit when asked to (`stats_print`).
#[cfg(target_os = "linux")]
#[test]
fn the_allocator_gives_pages_back_within_a_second() {
    let dir = tempfile::tempdir().unwrap();
    let options = |env: &str| {
        let out = smokewatch(dir.path())
            .arg("--help")
            .env("_RJEM_MALLOC_CONF", env)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let built_in = options("stats_print:true");
    assert!(
        built_in.contains("opt.dirty_decay_ms: 1000") && built_in.contains("opt.muzzy_decay_ms: 0"),
        "{built_in}"
    );
    let overridden = options("stats_print:true,dirty_decay_ms:5000");
    assert!(
        overridden.contains("opt.dirty_decay_ms: 5000"),
        "{overridden}"
    );
}

//! docker-compose.yml cannot run here (no Docker engine), so this checks
//! that its parts agree: ports, service names, the config smokewatch gets,
//! Prometheus' scrape target and Grafana's provisioning.

use serde_yaml::Value;
use smokewatch::app::config::Config;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(path)).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn env_of(service: &Value) -> Vec<(String, String)> {
    service["environment"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s.clone(),
                other => serde_yaml::to_string(other).unwrap().trim().to_string(),
            };
            (k.as_str().unwrap().to_string(), v)
        })
        .collect()
}

/// The container's effective config: the mounted config.yaml plus the
/// service's SMOKEWATCH__ variables (with `${VAR:-default}` resolved to
/// its default).
fn smokewatch_container_config(compose: &Value) -> Config {
    let service = &compose["services"]["smokewatch"];
    let vars: Vec<(String, String)> = env_of(service)
        .into_iter()
        .map(|(k, v)| {
            let v = match v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) {
                Some(inner) => inner
                    .split_once(":-")
                    .map(|(_, d)| d.to_string())
                    .unwrap_or_default(),
                None => v,
            };
            (k, v)
        })
        .collect();
    let mounted = service["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|v| v.contains("/etc/smokewatch/config.yaml"))
        .expect("config.yaml is mounted at /etc/smokewatch/config.yaml");
    let host_file = mounted.split(':').next().unwrap();
    let text = std::fs::read_to_string(repo().join(host_file)).unwrap();
    Config::from_yaml(&text, Path::new(host_file), vars).expect("container config is valid")
}

#[test]
fn smokewatch_service_talks_to_the_kafka_service_it_waits_for() {
    let compose = load("docker-compose.yml");
    let config = smokewatch_container_config(&compose);
    assert!(
        config.kafka.enabled,
        "Kafka is enabled in the compose stack"
    );
    let kafka = &compose["services"]["kafka"];
    let advertised = env_of(kafka)
        .into_iter()
        .find(|(k, _)| k == "KAFKA_ADVERTISED_LISTENERS")
        .unwrap()
        .1;
    let advertised: Vec<&str> = advertised
        .split(',')
        .map(|l| l.split("://").nth(1).unwrap())
        .collect();
    for server in &config.kafka.bootstrap_servers {
        assert!(
            advertised.contains(&server.as_str()),
            "{server} is one of Kafka's advertised listeners {advertised:?}"
        );
    }
    assert!(compose["services"]["smokewatch"]["depends_on"]["kafka"].is_mapping());
    assert_eq!(
        env_of(kafka)
            .iter()
            .find(|(k, _)| k == "KAFKA_PROCESS_ROLES")
            .unwrap()
            .1,
        "broker,controller",
        "KRaft mode"
    );
}

#[test]
fn published_port_prometheus_target_and_dockerfile_agree_with_the_web_config() {
    let compose = load("docker-compose.yml");
    let config = smokewatch_container_config(&compose);
    assert_eq!(
        config.web.host, "0.0.0.0",
        "reachable from other containers"
    );
    let port = config.web.port.0;
    let ports: Vec<&str> = compose["services"]["smokewatch"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        ports.iter().any(|p| p.ends_with(&format!(":{port}"))),
        "{ports:?} publish {port}"
    );

    let prometheus = load("monitoring/prometheus/prometheus.yml");
    let targets: Vec<String> = prometheus["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|job| job["static_configs"].as_sequence().unwrap().clone())
        .flat_map(|sc| sc["targets"].as_sequence().unwrap().clone())
        .filter_map(|t| t.as_str().map(str::to_string))
        .collect();
    assert!(
        targets.contains(&format!("smokewatch:{port}")),
        "{targets:?}"
    );

    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    assert!(dockerfile.contains(&format!("EXPOSE {port}")));
    assert!(
        dockerfile.contains(&format!("127.0.0.1:{port}/health")),
        "HEALTHCHECK probes the web port"
    );
    assert!(dockerfile.contains("USER smokewatch"), "runs as non-root");
    assert!(dockerfile.contains("SMOKEWATCH_CONFIG=/etc/smokewatch/config.yaml"));
}

#[test]
fn mounted_files_exist_and_grafana_is_provisioned() {
    let compose = load("docker-compose.yml");
    for (name, service) in compose["services"].as_mapping().unwrap() {
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            let spec = volume.as_str().unwrap();
            if spec.starts_with("./") {
                let host = spec.split(':').next().unwrap();
                assert!(
                    repo().join(host).exists(),
                    "{name:?} mounts {host}, which must exist"
                );
            }
        }
    }
    let datasource = load("monitoring/grafana/provisioning/datasources/prometheus.yml");
    let url = datasource["datasources"][0]["url"].as_str().unwrap();
    let prom_port = compose["services"]["prometheus"]["ports"][0]
        .as_str()
        .unwrap()
        .split(':')
        .next_back()
        .unwrap()
        .to_string();
    assert_eq!(url, format!("http://prometheus:{prom_port}"));
    let provider = load("monitoring/grafana/provisioning/dashboards/smokewatch.yml");
    let path = provider["providers"][0]["options"]["path"]
        .as_str()
        .unwrap();
    let grafana_mounts: Vec<&str> = compose["services"]["grafana"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        grafana_mounts
            .iter()
            .any(|m| m.ends_with(&format!("{path}:ro")) || m.ends_with(path)),
        "dashboards folder {path} is mounted: {grafana_mounts:?}"
    );
    let prom_mounts: Vec<&str> = compose["services"]["prometheus"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let prometheus = load("monitoring/prometheus/prometheus.yml");
    for rule_file in prometheus["rule_files"].as_sequence().unwrap() {
        let rule_file = rule_file.as_str().unwrap();
        assert!(
            prom_mounts
                .iter()
                .any(|m| m.contains(&format!(":{rule_file}"))),
            "rule file {rule_file} is mounted"
        );
    }
}

/// A fresh named volume copies the ownership of the image's folder at its
/// mount point; the folder must exist, owned by the non-root user, before
/// `VOLUME` declares it, or the daemon cannot write its state.
#[test]
fn dockerfile_creates_and_chowns_the_data_volume_before_declaring_it() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).unwrap();
    let data = "/var/lib/smokewatch/data";
    let lines: Vec<&str> = dockerfile.lines().map(str::trim).collect();
    let volume = lines
        .iter()
        .position(|l| l.starts_with("VOLUME") && l.contains(data))
        .expect("VOLUME declares the data folder");
    let runtime_stage = lines
        .iter()
        .rposition(|l| l.starts_with("FROM "))
        .expect("a runtime stage");
    let prepared = dockerfile
        .lines()
        .skip(runtime_stage)
        .take(volume - runtime_stage)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        prepared.contains(&format!("mkdir -p {data}")),
        "the runtime stage creates {data} before VOLUME:\n{prepared}"
    );
    assert!(
        prepared.contains(&format!("chown -R smokewatch:smokewatch {data}"))
            || prepared.contains("chown -R smokewatch:smokewatch /var/lib/smokewatch"),
        "and gives it to the smokewatch user:\n{prepared}"
    );
    let config = smokewatch_container_config(&load("docker-compose.yml"));
    assert_eq!(
        config.daemon.data_dir,
        PathBuf::from(data),
        "the container keeps its state there"
    );
}

/// Kafka's volume must be mounted where Kafka writes its logs, or its
/// data is lost with the container.
#[test]
fn kafka_volume_is_mounted_where_kafka_writes() {
    let compose = load("docker-compose.yml");
    let kafka = &compose["services"]["kafka"];
    let env = env_of(kafka);
    let log_dirs = env
        .iter()
        .find(|(k, _)| k == "KAFKA_LOG_DIRS")
        .map(|(_, v)| v.clone())
        .expect("KAFKA_LOG_DIRS is set (the image's default is under /tmp)");
    let mounts: Vec<String> = kafka["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|v| {
            v.as_str()
                .and_then(|m| m.split(':').nth(1))
                .map(str::to_string)
        })
        .collect();
    for dir in log_dirs.split(',') {
        assert!(
            mounts
                .iter()
                .any(|m| dir == m || dir.starts_with(&format!("{m}/"))),
            "{dir} is on a volume: {mounts:?}"
        );
    }
}

/// `NAME://host:port,...` as (name, host, port).
fn listeners(spec: &str) -> Vec<(String, String, u16)> {
    spec.split(',')
        .map(|l| {
            let (name, address) = l.trim().split_once("://").expect("NAME://host:port");
            let (host, port) = address.rsplit_once(':').expect("host:port");
            (
                name.to_string(),
                host.to_string(),
                port.parse().expect("a port number"),
            )
        })
        .collect()
}

/// A producer on the host (issue 16: the Smart Home producer, a Python
/// script) must reach Kafka: a listener advertised as localhost on a port
/// Kafka listens on and the service publishes, beside the in-network one.
#[test]
fn kafka_has_a_listener_a_client_on_the_host_can_reach() {
    let compose = load("docker-compose.yml");
    let kafka = &compose["services"]["kafka"];
    let env = env_of(kafka);
    let var = |name: &str| {
        env.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("{name} is set"))
    };
    let bound = listeners(&var("KAFKA_LISTENERS"));
    let advertised = listeners(&var("KAFKA_ADVERTISED_LISTENERS"));
    let protocols: Vec<String> = var("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP")
        .split(',')
        .map(|p| p.split(':').next().unwrap().to_string())
        .collect();
    for (name, _, port) in &advertised {
        assert!(
            bound.iter().any(|(n, _, p)| n == name && p == port),
            "advertised {name} on {port} is a listener Kafka binds: {bound:?}"
        );
        assert!(protocols.contains(name), "{name} has a security protocol");
    }
    let published: Vec<String> = kafka["ports"]
        .as_sequence()
        .expect("kafka publishes a port for the host")
        .iter()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    let host_listener = advertised
        .iter()
        .find(|(_, host, _)| host == "localhost" || host == "127.0.0.1")
        .expect("a listener advertised as localhost");
    assert!(
        published.contains(&format!("{0}:{0}", host_listener.2)),
        "{host_listener:?} is published on the same host port: {published:?}"
    );
    let in_network = advertised
        .iter()
        .find(|(_, host, _)| host == "kafka")
        .expect("a listener advertised as kafka (the service name)");
    assert_ne!(in_network.0, host_listener.0, "two listeners");
    assert_eq!(
        var("KAFKA_INTER_BROKER_LISTENER_NAME"),
        in_network.0,
        "brokers talk over the in-network listener"
    );
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("localhost:{}", host_listener.2)),
        "the README tells host clients to use localhost:{}",
        host_listener.2
    );
}

#[test]
fn the_container_gets_longer_to_stop_than_the_daemon_takes_to_drain() {
    // Docker sends SIGKILL `stop_grace_period` after SIGTERM (10 s unless
    // set): shorter than `daemon.shutdown_timeout`, a drain that needs its
    // time would be killed before writing the final checkpoint.
    let compose = load("docker-compose.yml");
    let config = smokewatch_container_config(&compose);
    let grace = compose["services"]["smokewatch"]["stop_grace_period"]
        .as_str()
        .expect("the smokewatch service sets stop_grace_period");
    let grace = humantime::parse_duration(grace).expect("a duration");
    assert!(
        grace > config.daemon.shutdown_timeout.get(),
        "stop_grace_period {grace:?} must exceed daemon.shutdown_timeout {:?}",
        config.daemon.shutdown_timeout.get()
    );
}

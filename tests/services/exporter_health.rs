//! The exporters' compose health checks prove that each exporter reaches
//! what it exports: the real redis_exporter and postgres_exporter (Debian's
//! packages) run against a real Redis with the generated ACL and a real
//! Postgres, and the generated health check command runs against them: it
//! passes while the exporter can log in, and fails when it cannot.
//!
//! nginx-exporter has no health check (its image has nothing to run one
//! with): the real exporter (Debian's) reads the generated nginx's
//! stub_status, then the same nginx stopped, and what it exports each time
//! goes through the generated NginxDown rule's expression with promtool.

use crate::common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::postgres::{Postgres, PG_SUPERUSER};
use common::redis_acl::LiveRedis;
use common::{free_port, init_preset, require_tool, Run, Server};

/// The CMD-SHELL health check of a compose.prod.yaml service, with compose's
/// `$$` turned back into `$` as compose does before running it.
fn health_command(run: &Run, service: &str) -> String {
    let compose: serde_norway::Value =
        serde_norway::from_str(&run.read("compose.prod.yaml")).unwrap();
    let test = &compose["services"][service]["healthcheck"]["test"];
    let test: Vec<&str> = test
        .as_sequence()
        .unwrap_or_else(|| panic!("{service} has no health check"))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(test[0], "CMD-SHELL", "{service}: {test:?}");
    test[1].replace("$$", "$")
}

/// The command of a compose service, as strings.
fn command_args(run: &Run, service: &str) -> Vec<String> {
    let compose: serde_norway::Value =
        serde_norway::from_str(&run.read("compose.prod.yaml")).unwrap();
    compose["services"][service]["command"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Run a health check command (its exporter port moved to `port`); true
/// when it passes.
fn healthy(check: &str, default_port: u16, port: u16) -> bool {
    let moved = check.replace(
        &format!("127.0.0.1:{default_port}"),
        &format!("127.0.0.1:{port}"),
    );
    assert_ne!(
        moved, check,
        "the check does not probe port {default_port}: {check}"
    );
    Command::new("sh")
        .args(["-c", &moved])
        .status()
        .expect("sh runs")
        .success()
}

/// Wait until the exporter serves /metrics.
fn wait_for_metrics(port: u16, child: &mut Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("the exporter exited with {status}");
        }
        let out = Command::new(require_tool("curl"))
            .args(["-sf", &format!("http://127.0.0.1:{port}/metrics")])
            .output()
            .unwrap();
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(Instant::now() < deadline, "no /metrics on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_redis_exporter(run: &Run, redis: &LiveRedis, password: &str, dir: &Path) -> (Server, u16) {
    let addr = format!("redis://127.0.0.1:{}", redis.port());
    let passwords = dir.join(format!("passwords-{}.json", password.len()));
    std::fs::write(&passwords, format!("{{\"{addr}\":\"{password}\"}}\n")).unwrap();
    let port = free_port();
    // The compose command's flags, with this host's addresses and files.
    let args: Vec<String> = command_args(run, "redis-exporter")
        .into_iter()
        .map(|a| {
            if a.starts_with("--redis.addr=") {
                format!("--redis.addr={addr}")
            } else if a.starts_with("--redis.password-file=") {
                format!("--redis.password-file={}", passwords.display())
            } else {
                a
            }
        })
        .collect();
    assert!(
        args.contains(&"--redis.user=exporter".to_string()),
        "{args:?}"
    );
    let child = Command::new(require_tool("prometheus-redis-exporter"))
        .args(&args)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis exporter starts");
    (Server(child), port)
}

#[test]
fn redis_exporter_health_check_needs_a_working_login() {
    let run = init_preset("twilio-voice");
    let check = health_command(&run, "redis-exporter");
    let redis = LiveRedis::start(&run);
    // Jobs waiting in the preset's queues, which the exporter's
    // --check-single-keys reads as the exporter user.
    assert_eq!(
        redis
            .cli_as("app", &["RPUSH", "bull:calls:wait", "a", "b", "c"])
            .trim(),
        "3"
    );
    let dir = tempfile::tempdir().unwrap();

    let (mut good, port) =
        start_redis_exporter(&run, &redis, &redis.password("exporter"), dir.path());
    let metrics = wait_for_metrics(port, &mut good);
    assert!(metrics.contains("\nredis_up 1\n"), "{metrics}");
    assert!(
        metrics.lines().any(|l| l.starts_with("redis_key_size{")
            && l.contains("key=\"bull:calls:wait\"")
            && l.ends_with(" 3")),
        "the exporter user cannot read the queue length:\n{}",
        metrics
            .lines()
            .filter(|l| l.contains("key"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        healthy(&check, 9121, port),
        "healthy exporter reported unhealthy: {check}"
    );

    let (mut bad, port) = start_redis_exporter(&run, &redis, "not-the-password", dir.path());
    let metrics = wait_for_metrics(port, &mut bad);
    assert!(metrics.contains("\nredis_up 0\n"), "{metrics}");
    assert!(
        !healthy(&check, 9121, port),
        "an exporter that cannot log in passed: {check}"
    );
}

fn start_postgres_exporter(pg: &Postgres, password_file: &Path) -> (Server, u16) {
    let port = free_port();
    let child = Command::new(require_tool("prometheus-postgres-exporter"))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .env_clear()
        .env(
            "DATA_SOURCE_URI",
            format!("127.0.0.1:{}/postgres?sslmode=disable", pg.port),
        )
        .env("DATA_SOURCE_USER", PG_SUPERUSER)
        .env("DATA_SOURCE_PASS_FILE", password_file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("postgres exporter starts");
    (Server(child), port)
}

#[test]
fn postgres_exporter_health_check_needs_a_working_login() {
    let run = init_preset("twilio-voice");
    let check = health_command(&run, "postgres-exporter");
    let pg = Postgres::start();
    let (mut good, port) = start_postgres_exporter(&pg, &pg.password_file);
    let metrics = wait_for_metrics(port, &mut good);
    assert!(metrics.contains("\npg_up 1\n"), "{metrics}");
    assert!(
        healthy(&check, 9187, port),
        "healthy exporter reported unhealthy: {check}"
    );

    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-password").unwrap();
    let (mut bad, port) = start_postgres_exporter(&pg, &wrong);
    let metrics = wait_for_metrics(port, &mut bad);
    assert!(metrics.contains("\npg_up 0\n"), "{metrics}");
    assert!(
        !healthy(&check, 9187, port),
        "an exporter that cannot log in passed: {check}"
    );
}

/// The exporter's `nginx_up` line, once it has scraped.
fn nginx_up(port: u16, exporter: &mut Server) -> String {
    let metrics = wait_for_metrics(port, exporter);
    metrics
        .lines()
        .find(|l| l.starts_with("nginx_up "))
        .unwrap_or_else(|| panic!("no nginx_up:\n{metrics}"))
        .to_string()
}

/// Whether the generated NginxDown rule's expression holds over `sample` (a
/// line the exporter printed, under the labels Prometheus's `nginx` job
/// gives it), as promtool evaluates it. The rule's `for` and annotations
/// are unit-tested in monitoring/prometheus/tests/app.test.yml.
fn nginx_down_holds(run: &Run, sample: &str) -> bool {
    let rules: serde_norway::Value =
        serde_norway::from_str(&run.read("monitoring/prometheus/rules/app.yml")).unwrap();
    let expr = rules["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap())
        .find(|r| r["alert"] == "NginxDown")
        .expect("an NginxDown rule")["expr"]
        .as_str()
        .unwrap()
        .trim()
        .to_string();
    let (metric, value) = sample.split_once(' ').unwrap();
    let labels = "job=\"nginx\", instance=\"nginx-exporter:9113\"";
    let dir = tempfile::tempdir().unwrap();
    let mut verdicts = Vec::new();
    for holds in [true, false] {
        let expected = if holds {
            format!("\n          - labels: '{metric}{{{labels}}}'\n            value: {value}")
        } else {
            " []".to_string()
        };
        let test = format!(
            "tests:\n  - interval: 1m\n    input_series:\n      - series: '{metric}{{{labels}}}'\n        \
             values: '{value}x10'\n    promql_expr_test:\n      - expr: '{expr}'\n        eval_time: 5m\n        \
             exp_samples:{expected}\n"
        );
        let file = dir.path().join("nginx.test.yml");
        std::fs::write(&file, test).unwrap();
        let out = Command::new(require_tool("promtool"))
            .args(["test", "rules"])
            .arg(&file)
            .output()
            .unwrap();
        verdicts.push(out.status.success());
    }
    assert!(
        verdicts[0] != verdicts[1],
        "promtool accepted both or neither verdict on {sample} for `{expr}`"
    );
    verdicts[0]
}

#[test]
fn nginx_down_holds_on_what_the_real_exporter_reports_of_a_stopped_nginx() {
    use shipready::verify::edge::{nginx_sandbox, NginxPorts};
    let run = init_preset("twilio-voice");
    let compose: serde_norway::Value =
        serde_norway::from_str(&run.read("compose.prod.yaml")).unwrap();
    let check = &compose["services"]["nginx-exporter"]["healthcheck"];
    assert!(
        check["disable"] == true && check["test"].is_null(),
        "nginx-exporter has a health check again; its image cannot run a real one: {check:?}"
    );
    let ports = NginxPorts {
        http: free_port(),
        https: free_port(),
        status: free_port(),
        upstream: free_port(),
    };
    let sandbox = nginx_sandbox(run.path(), ports).unwrap();
    let mut nginx = Server(
        Command::new(require_tool("nginx"))
            .args(sandbox.args())
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    nginx.wait_for_port(ports.status, "nginx");
    // The compose command's flags, nginx's status port moved to this host's.
    let args: Vec<String> = command_args(&run, "nginx-exporter")
        .into_iter()
        .map(|a| {
            a.replace(
                "http://nginx:8080/",
                &format!("http://127.0.0.1:{}/", ports.status),
            )
        })
        .collect();
    assert!(
        args.iter()
            .any(|a| a.starts_with("--nginx.scrape-uri=http://127.0.0.1:")),
        "{args:?}"
    );
    let port = free_port();
    let mut exporter = Server(
        Command::new(require_tool("prometheus-nginx-exporter"))
            .args(&args)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx exporter starts"),
    );

    let up = nginx_up(port, &mut exporter);
    assert_eq!(up, "nginx_up 1");
    assert!(!nginx_down_holds(&run, &up), "NginxDown holds on {up}");

    drop(nginx);
    let down = nginx_up(port, &mut exporter);
    assert_eq!(
        down, "nginx_up 0",
        "the exporter still reads a stopped nginx"
    );
    assert!(
        nginx_down_holds(&run, &down),
        "NginxDown does not hold on {down}"
    );
}

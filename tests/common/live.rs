//! The servers a reference app runs among in an end-to-end test, each on
//! loopback with the generated configuration (the nginx edge, Prometheus,
//! the app's database), and what clients check through the edge.

use super::e2e::{compose_service, curl, wait_until};
use super::{free_port, require_tool, Run, Server};
use serde_norway::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Prometheus (the real binary) on the generated prometheus.yml and rules:
/// the `app` job's target mapped to the app's loopback port, the other
/// jobs (their exporters do not run here) and Alertmanager left out, and a
/// 1 s scrape and evaluation interval so a test sees series in seconds.
pub struct LivePrometheus {
    pub port: u16,
    _dir: tempfile::TempDir,
    _server: Server,
}

impl LivePrometheus {
    pub fn start(generated: &Run, app_port: u16) -> LivePrometheus {
        let dir = tempfile::tempdir().unwrap();
        let mut config: Value =
            serde_norway::from_str(&generated.read("monitoring/prometheus/prometheus.yml"))
                .unwrap();
        let map = config.as_mapping_mut().unwrap();
        map.remove("alerting");
        let global = map.get_mut("global").unwrap().as_mapping_mut().unwrap();
        global.insert("scrape_interval".into(), "1s".into());
        global.insert("scrape_timeout".into(), "1s".into());
        global.insert("evaluation_interval".into(), "1s".into());
        let rules = generated.path().join("monitoring/prometheus/rules/*.yml");
        map.insert(
            "rule_files".into(),
            Value::Sequence(vec![rules.display().to_string().into()]),
        );
        let jobs = map
            .get_mut("scrape_configs")
            .unwrap()
            .as_sequence_mut()
            .unwrap();
        jobs.retain(|j| j["job_name"] == "app");
        assert_eq!(jobs.len(), 1, "prometheus.yml has no job `app`");
        let app = jobs[0].as_mapping_mut().unwrap();
        let targets = &app["static_configs"][0]["targets"];
        assert_eq!(targets.as_sequence().map(Vec::len), Some(1), "{targets:?}");
        app.insert(
            "static_configs".into(),
            serde_norway::from_str(&format!("[{{targets: ['127.0.0.1:{app_port}']}}]")).unwrap(),
        );
        let file = dir.path().join("prometheus.yml");
        std::fs::write(&file, serde_norway::to_string(&config).unwrap()).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let server = Server(
            Command::new(require_tool("prometheus"))
                .arg(format!("--config.file={}", file.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.path().join("data").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let live = LivePrometheus {
            port,
            _dir: dir,
            _server: server,
        };
        wait_until("Prometheus ready", Duration::from_secs(30), || {
            curl(&[], &live.url("/-/ready"), None).0 == 200
        });
        live
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The `data.result` of an instant query.
    pub fn query(&self, promql: &str) -> Vec<serde_json::Value> {
        let (status, body) = curl(
            &["-G", "--data-urlencode", &format!("query={promql}")],
            &self.url("/api/v1/query"),
            None,
        );
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{promql}: {status} {e}: {body}"));
        assert_eq!(v["status"], "success", "{promql}: {v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }

    /// Every loaded rule of the group `group`: (name, health, lastError).
    pub fn rules(&self, group: &str) -> Vec<(String, String, String)> {
        let (_, body) = curl(&[], &self.url("/api/v1/rules"), None);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["data"]["groups"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["name"] == group)
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| {
                (
                    r["name"].as_str().unwrap_or_default().to_string(),
                    r["health"].as_str().unwrap_or_default().to_string(),
                    r["lastError"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

/// Postgres with the database and owner compose's postgres service creates
/// (POSTGRES_DB, POSTGRES_USER, the password scripts/init-secrets.sh made).
pub struct AppDatabase {
    pub server: super::postgres::Postgres,
    pub name: String,
    pub owner: String,
}

impl AppDatabase {
    pub fn start(generated: &Run) -> AppDatabase {
        let server = super::postgres::Postgres::start();
        let (name, owner) = Self::create_on(&server, generated);
        AppDatabase {
            server,
            name,
            owner,
        }
    }

    /// Creates compose's database and owner on `server`: (name, owner).
    pub fn create_on(server: &super::postgres::Postgres, generated: &Run) -> (String, String) {
        let env = &compose_service(generated, "postgres")["environment"];
        let name = env["POSTGRES_DB"].as_str().unwrap().to_string();
        let owner = env["POSTGRES_USER"].as_str().unwrap().to_string();
        let password = std::fs::read_to_string(generated.path().join("secrets/postgres_password"))
            .expect("run scripts/init-secrets.sh first")
            .replace('\'', "''");
        server.psql(
            "postgres",
            &format!("CREATE ROLE \"{owner}\" LOGIN PASSWORD '{password}'"),
        );
        server.psql(
            "postgres",
            &format!("CREATE DATABASE \"{name}\" OWNER \"{owner}\""),
        );
        (name, owner)
    }

    pub fn query(&self, sql: &str) -> String {
        self.server.psql(&self.name, sql)
    }
}

/// The generated nginx, sandboxed on loopback with `app` mapped to
/// `upstream`, answering `/health` through the edge.
pub struct LiveEdge {
    pub sandbox: shipready::verify::edge::NginxSandbox,
    pub ports: shipready::verify::edge::NginxPorts,
    _server: Server,
}

impl LiveEdge {
    pub fn start(generated: &Run, upstream: u16, health_path: &str) -> LiveEdge {
        use shipready::verify::edge::{nginx_sandbox, NginxPorts};
        let ports = NginxPorts {
            http: free_port(),
            https: free_port(),
            status: free_port(),
            upstream,
        };
        let sandbox = nginx_sandbox(generated.path(), ports).unwrap();
        let server = Server(
            Command::new(require_tool("nginx"))
                .args(sandbox.args())
                .args(["-g", "daemon off;"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let edge = LiveEdge {
            sandbox,
            ports,
            _server: server,
        };
        wait_until("nginx", Duration::from_secs(10), || {
            edge.get(health_path).0 == 200
        });
        edge
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://{}:{}{path}", super::DOMAIN, self.ports.https)
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        self.request(&[], path)
    }

    /// A request through the edge with more curl flags (`-X POST`, say).
    pub fn request(&self, extra: &[&str], path: &str) -> (u16, String) {
        curl(extra, &self.url(path), Some(self.ports.https))
    }
}

/// `node e2e/client.cjs DOMAIN HTTPS_PORT ARG` in the app's build `dir`:
/// its one JSON line.
pub fn run_edge_client(dir: &Path, edge: &LiveEdge, arg: &str) -> serde_json::Value {
    super::run_json(
        Command::new(require_tool("node"))
            .arg("e2e/client.cjs")
            .arg(super::DOMAIN)
            .arg(edge.ports.https.to_string())
            .arg(arg)
            .current_dir(dir),
    )
}

/// `node e2e/browser.cjs DOMAIN HTTPS_PORT PROFILE_DIR` in `dir`: Debian's
/// `chromium` (through tests/apps/_shared/browser-launch.cjs) at the edge
/// with a fresh profile; its one JSON line.
pub fn run_browser_script(dir: &Path, edge: &LiveEdge, chromium: &Path) -> serde_json::Value {
    let profile_dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let result = super::run_json(
        Command::new(require_tool("node"))
            .arg("e2e/browser.cjs")
            .arg(super::DOMAIN)
            .arg(edge.ports.https.to_string())
            .arg(profile_dir.path())
            .env("CHROMIUM", chromium)
            .current_dir(dir),
    );
    eprintln!("browser: {:.0?}", started.elapsed());
    result
}

/// Twilio through the edge (a voice app's e2e/client.cjs on
/// tests/apps/_shared/twilio-call.cjs): the SDK-signed webhook answered,
/// a tampered and an unsigned one refused, the media stream over the
/// WebSocket the TwiML names (`stream_path`) acknowledged mark by mark.
/// Returns the client's result for the test's own checks.
pub fn assert_twilio_call_through_edge(
    dir: &Path,
    edge: &LiveEdge,
    auth_token: &str,
    stream_path: &str,
    logs: impl Fn() -> String,
) -> serde_json::Value {
    let result = run_edge_client(dir, edge, auth_token);
    assert_eq!(result["signed"], 200, "{result}\n{}", logs());
    assert_eq!(result["tampered"], 403, "{result}");
    assert_eq!(result["unsigned"], 403, "{result}");
    assert_eq!(
        result["streamUrl"],
        format!("wss://{}{stream_path}", super::DOMAIN),
        "{result}"
    );
    assert_eq!(
        result["marks"],
        serde_json::json!(["ack-1", "ack-2", "ack-3"]),
        "{result}"
    );
    result
}

/// The app's metrics never come through the edge in any of `spellings`
/// (answered `status` when given).
pub fn assert_edge_hides_metrics(edge: &LiveEdge, spellings: &[&str], status: Option<u16>) {
    for spelling in spellings {
        let (got, body) = edge.get(spelling);
        if let Some(want) = status {
            assert_eq!(got, want, "{spelling} reached the app: {body}");
        }
        assert!(
            !body.contains("http_requests_total"),
            "{spelling} reached the app's metrics: {got} {body}"
        );
    }
}

/// `/metrics` is served by the app on `app_port` (with the series of
/// `route`), never through the edge in any spelling; Prometheus, on the
/// generated config, scrapes it, sees the `refused` responses the test made
/// on `route`, and evaluates every app rule over the real series.
pub fn assert_metrics_private_and_scraped(
    generated: &Run,
    edge: &LiveEdge,
    app_port: u16,
    route: &str,
    refused: &str,
) {
    let (status, body) = curl(&[], &format!("http://127.0.0.1:{app_port}/metrics"), None);
    assert!(
        status == 200 && body.contains(&format!("route=\"{route}\"")),
        "{status} {body}"
    );
    assert_edge_hides_metrics(
        edge,
        &["/metrics", "/metrics/", "/METRICS", "//metrics"],
        Some(404),
    );
    let prom = LivePrometheus::start(generated, app_port);
    wait_until(
        "Prometheus scrapes the app",
        Duration::from_secs(30),
        || !prom.query("up{job=\"app\"} == 1").is_empty(),
    );
    let series = format!("sum by (status) (http_requests_total{{job=\"app\", route=\"{route}\"}})");
    wait_until(
        "the refused requests' series in Prometheus",
        Duration::from_secs(20),
        || {
            prom.query(&series)
                .iter()
                .any(|s| s["metric"]["status"] == refused)
        },
    );
    wait_until("the app rules evaluated", Duration::from_secs(10), || {
        let group = prom.rules("app");
        !group.is_empty() && group.iter().all(|(_, health, _)| health == "ok")
    });
}

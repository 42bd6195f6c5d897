//! Pieces of a native end-to-end run of a reference app under the generated
//! production rules, without Docker: the service's environment from
//! compose.prod.yaml with its secrets made by scripts/init-secrets.sh, the
//! generated entrypoint and command run as an unprivileged user on a tree
//! it cannot write, and Prometheus scraping it with the generated config
//! and rules. Each test maps compose's service names to loopback ports.

use super::{free_port, require_tool, Run, Server};
use serde_norway::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The unprivileged user reference apps run as (the images' own uids may
/// not exist on this machine).
pub const APP_USER: &str = "nobody";

pub fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn chmod(path: &Path, mode: &str) {
    run_ok(Command::new("chmod").args(["-R", mode]).arg(path), "chmod");
}

pub fn chown(path: &Path, user: &str) {
    run_ok(Command::new("chown").args(["-R", user]).arg(path), "chown");
}

/// Status and body of one request through curl (`extra` are curl flags);
/// `resolve` sends the generated domain to 127.0.0.1 on that port.
pub fn curl(extra: &[&str], url: &str, resolve: Option<u16>) -> (u16, String) {
    let mut cmd = Command::new(require_tool("curl"));
    cmd.args(["-sk", "--max-time", "10", "-w", "\n%{http_code}"]);
    if let Some(port) = resolve {
        cmd.arg("--resolve")
            .arg(format!("{}:{port}:127.0.0.1", super::DOMAIN));
    }
    let out = cmd.args(extra).arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

pub fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: timed out");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One compose.prod.yaml service.
pub fn compose_service(generated: &Run, name: &str) -> Value {
    let compose: Value = serde_norway::from_str(&generated.read("compose.prod.yaml")).unwrap();
    let service = compose["services"][name].clone();
    assert!(
        !service.is_null(),
        "compose.prod.yaml has no service {name}"
    );
    service
}

/// Compose names of the data stores mapped to where the test runs them.
pub struct Loopback {
    pub postgres_port: Option<u16>,
    pub redis_port: Option<u16>,
}

/// The service's environment as compose sets it, with store hosts mapped to
/// loopback and each `*_FILE` secret pointing at a readable copy (in
/// `secrets_dir`) of the file scripts/init-secrets.sh wrote.
pub fn service_env(
    generated: &Run,
    service: &Value,
    stores: &Loopback,
    secrets_dir: &Path,
) -> BTreeMap<String, String> {
    assert_eq!(service["read_only"], Value::Bool(true), "{service:?}");
    std::fs::create_dir_all(secrets_dir).unwrap();
    let mut env = BTreeMap::new();
    for (k, v) in service["environment"].as_mapping().unwrap() {
        let (k, v) = (k.as_str().unwrap(), v.as_str().unwrap_or_default());
        let value = match k {
            "PGHOST" | "REDIS_HOST" => "127.0.0.1".to_string(),
            "PGPORT" => stores.postgres_port.expect("Postgres runs").to_string(),
            "REDIS_PORT" => stores.redis_port.expect("Redis runs").to_string(),
            _ if k.ends_with("_FILE") => {
                let name = v
                    .strip_prefix("/run/secrets/")
                    .unwrap_or_else(|| panic!("{k}={v} is not a compose secret"));
                let made = generated.path().join("secrets").join(name);
                let copy = secrets_dir.join(name);
                std::fs::copy(&made, &copy).unwrap_or_else(|e| {
                    panic!(
                        "{k}: scripts/init-secrets.sh made no {}: {e}",
                        made.display()
                    )
                });
                copy.display().to_string()
            }
            _ => v.to_string(),
        };
        env.insert(k.to_string(), value);
    }
    chown(secrets_dir, APP_USER);
    env
}

/// Only the service's tmpfs directories under `app_root` (the image's
/// WORKDIR, `/app`) are writable by the app's user; everything else in
/// `root` is root-owned and read-only to it. Returns those directories.
pub fn lock_down(root: &Path, service: &Value) -> Vec<PathBuf> {
    chmod(root, "a+rX,go-w");
    let mut writable = Vec::new();
    for mount in service["tmpfs"].as_sequence().into_iter().flatten() {
        let spec = mount.as_str().unwrap();
        if let Some(rel) = spec.split(':').next().unwrap().strip_prefix("/app/") {
            let d = root.join(rel);
            std::fs::create_dir_all(&d).unwrap();
            chown(&d, APP_USER);
            writable.push(d);
        }
    }
    writable
}

/// A process run as the image runs it: `env -i` with `env`, through the
/// generated docker-entrypoint.sh, as [`APP_USER`], in `cwd`. Output goes to
/// `log`.
pub fn start_as_app_user(
    entrypoint: &Path,
    command: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    log: &Path,
) -> Server {
    let out = std::fs::File::create(log).unwrap();
    let child = as_app_user(entrypoint, command, env, cwd)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    Server(child)
}

/// The same, to completion; panics with the output when it fails.
pub fn run_as_app_user(
    entrypoint: &Path,
    command: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
    what: &str,
) -> String {
    run_ok(&mut as_app_user(entrypoint, command, env, cwd), what)
}

/// The command [`run_as_app_user`] runs, for a test that expects it to fail.
pub fn as_app_user(
    entrypoint: &Path,
    command: &[String],
    env: &BTreeMap<String, String>,
    cwd: &Path,
) -> Command {
    let mut cmd = Command::new(require_tool("setpriv"));
    cmd.args([
        &format!("--reuid={APP_USER}"),
        "--regid=nogroup",
        "--clear-groups",
        "--",
        "env",
        "-i",
    ])
    .args(env.iter().map(|(k, v)| format!("{k}={v}")))
    .arg("sh")
    .arg(entrypoint)
    .args(command)
    .current_dir(cwd)
    .stdin(Stdio::null());
    cmd
}

/// The generated docker-entrypoint.sh written to `scratch`, and each
/// service's environment as the image gives it: `image` (the Dockerfile's
/// ENV as this machine runs it), then compose's environment with its
/// secrets copied under `scratch`.
pub fn app_runtime<'a>(
    generated: &'a Run,
    stores: &'a Loopback,
    scratch: &'a Path,
    image: BTreeMap<String, String>,
) -> (
    PathBuf,
    impl Fn(&Value, &str) -> BTreeMap<String, String> + 'a,
) {
    let entrypoint = scratch.join("docker-entrypoint.sh");
    std::fs::write(&entrypoint, generated.read("docker-entrypoint.sh")).unwrap();
    let env_of = move |service: &Value, name: &str| {
        let mut env = image.clone();
        env.extend(service_env(
            generated,
            service,
            stores,
            &scratch.join(format!("secrets-{name}")),
        ));
        env
    };
    (entrypoint, env_of)
}

/// [`app_runtime`] for the Node image: the Dockerfile's ENV with a PATH
/// holding this machine's node.
pub fn node_runtime<'a>(
    generated: &'a Run,
    stores: &'a Loopback,
    scratch: &'a Path,
) -> (
    PathBuf,
    impl Fn(&Value, &str) -> BTreeMap<String, String> + 'a,
) {
    let mut image = image_env(&generated.read("Dockerfile"), Path::new("/opt/venv"));
    image.insert("PATH".into(), node_path());
    app_runtime(generated, stores, scratch, image)
}

/// The Node image's PATH on this machine: its node, then the system's.
pub fn node_path() -> String {
    let node = require_tool("node");
    format!("{}:/usr/bin:/bin", node.parent().unwrap().display())
}

/// The Dockerfile's ENV (the runtime stage inherits the base stage's),
/// `/opt/venv` being `venv` here and `$PATH` the system's.
pub fn image_env(dockerfile: &str, venv: &Path) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let mut in_env = false;
    for line in dockerfile.lines() {
        let t = line.trim();
        let body = if let Some(rest) = t.strip_prefix("ENV ") {
            rest
        } else if in_env {
            t
        } else {
            continue;
        };
        for kv in body.trim_end_matches('\\').split_whitespace() {
            if let Some((k, v)) = kv.split_once('=') {
                let v = v
                    .replace("/opt/venv", &venv.display().to_string())
                    .replace("$PATH", "/usr/bin:/bin");
                env.insert(k.to_string(), v);
            }
        }
        in_env = t.ends_with('\\');
    }
    env
}

/// Where scripts/install-test-deps.sh installs tools and fills caches.
pub fn tools_dir() -> PathBuf {
    std::env::var_os("SHIPREADY_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(&std::env::var("HOME").unwrap()).join(".cache/shipready-tools")
        })
}

/// The Python interpreter the venv is made from: the system's, which the
/// app's user can run (a per-user install under root's home is not).
pub fn python() -> String {
    let system = Path::new("/usr/bin/python3");
    let python = if system.exists() {
        system.to_path_buf()
    } else {
        require_tool("python3")
    };
    run_ok(
        Command::new(python).args(["-c", "import sys; print(sys.executable)"]),
        "python3",
    )
    .trim()
    .to_string()
}

/// A compose command list.
pub fn words(v: &Value) -> Vec<String> {
    v.as_sequence()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

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

/// Wait until `url` answers 200, or fail with `logs()`. Generous: the
/// first start imports a whole framework on a machine shared by many tests.
pub fn wait_ready(url: &str, logs: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while curl(&[], url, None).0 != 200 {
        assert!(Instant::now() < deadline, "{url} is not ready:\n{}", logs());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The Dockerfile's (last, so the runtime stage's) CMD.
pub fn image_cmd(dockerfile: &str) -> Vec<String> {
    let line = dockerfile
        .lines()
        .rfind(|l| l.starts_with("CMD ["))
        .expect("the Dockerfile has a CMD");
    serde_json::from_str(&line["CMD".len()..]).unwrap()
}

/// A Node image's command (the Dockerfile's CMD), told to listen on
/// 127.0.0.1:`port` by PORT and HOST in its `env`.
fn node_command(dockerfile: &str, port: u16, env: &mut BTreeMap<String, String>) -> Vec<String> {
    env.insert("PORT".into(), port.to_string());
    env.insert("HOST".into(), "127.0.0.1".into());
    image_cmd(dockerfile)
}

/// A Node app as its image runs it: the Dockerfile's CMD through the
/// entrypoint as [`APP_USER`] in `root`, with `env` and a free loopback port;
/// output to `log`. Returns the process and the port.
pub fn start_node_app(
    dockerfile: &str,
    entrypoint: &Path,
    mut env: BTreeMap<String, String>,
    root: &Path,
    log: &Path,
) -> (Server, u16) {
    let port = free_port();
    let command = node_command(dockerfile, port, &mut env);
    let app = start_as_app_user(entrypoint, &command, &env, root, log);
    (app, port)
}

/// A one-off compose service (`docker compose run --rm NAME`): its command
/// through the entrypoint as [`APP_USER`] on `root` locked down for it, to
/// completion. Returns what it printed.
pub fn run_service_once(
    generated: &Run,
    name: &str,
    root: &Path,
    entrypoint: &Path,
    env_of: &dyn Fn(&Value, &str) -> BTreeMap<String, String>,
) -> String {
    let service = compose_service(generated, name);
    lock_down(root, &service);
    let command = words(&service["command"]);
    run_as_app_user(
        entrypoint,
        &command,
        &env_of(&service, name),
        root,
        &format!("{name} ({})", command.join(" ")),
    )
}

/// How the runtime stage's `COPY --from=build /app /app` is laid out here.
pub enum CopyBy {
    /// Plain copies: the test may change the tree (an `npm prune`).
    Copies,
    /// `cp -al`: symlinks kept and files hard-linked, for a large build
    /// nothing below writes to (the app's user cannot).
    HardLinks,
}

/// The runtime stage's `COPY --from=build /app /app` of `built` into a
/// fresh scratch dir the app's user can enter: (scratch, scratch/app).
pub fn runtime_copy(dockerfile: &str, built: &Path, by: CopyBy) -> (tempfile::TempDir, PathBuf) {
    assert!(
        dockerfile.contains("COPY --from=build /app /app"),
        "{dockerfile}"
    );
    let scratch = tempfile::tempdir().unwrap();
    chmod(scratch.path(), "a+rX");
    let root = scratch.path().join("app");
    match by {
        CopyBy::Copies => {
            std::fs::create_dir_all(&root).unwrap();
            super::copy_dir(built, &root);
        }
        CopyBy::HardLinks => {
            run_ok(
                Command::new("cp").arg("-al").arg(built).arg(&root),
                "copy the built app",
            );
        }
    }
    (scratch, root)
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

/// A preset's app and worker, started as compose.prod.yaml runs them: each
/// with its compose environment (from `env_of`) and its own Redis ACL user,
/// through the entrypoint, as [`APP_USER`] over the locked-down `root`; the
/// app on a free loopback port.
pub struct AppServices {
    pub app_port: u16,
    /// The app's writable (tmpfs) directories under `root`.
    pub writable: Vec<PathBuf>,
    app_log: PathBuf,
    worker_log: PathBuf,
    _app: Server,
    _worker: Server,
}

impl AppServices {
    /// A Node preset's: the Dockerfile's CMD, told its port by PORT and HOST.
    pub fn start_node(
        generated: &Run,
        root: &Path,
        entrypoint: &Path,
        logs_dir: &Path,
        env_of: &dyn Fn(&Value, &str) -> BTreeMap<String, String>,
    ) -> AppServices {
        let dockerfile = generated.read("Dockerfile");
        Self::start(
            generated,
            root,
            entrypoint,
            logs_dir,
            env_of,
            |port, env| {
                assert_eq!(env["NODE_ENV"], "production");
                node_command(&dockerfile, port, env)
            },
        )
    }

    /// `app_command` gives the app's command for its port (and may set its
    /// environment).
    pub fn start(
        generated: &Run,
        root: &Path,
        entrypoint: &Path,
        logs_dir: &Path,
        env_of: &dyn Fn(&Value, &str) -> BTreeMap<String, String>,
        app_command: impl FnOnce(u16, &mut BTreeMap<String, String>) -> Vec<String>,
    ) -> AppServices {
        let app_service = compose_service(generated, "app");
        let writable = lock_down(root, &app_service);
        let app_port = free_port();
        let mut app_env = env_of(&app_service, "app");
        assert_eq!(app_env["REDIS_USERNAME"], "app");
        let command = app_command(app_port, &mut app_env);
        let app_log = logs_dir.join("app.log");
        let app = start_as_app_user(entrypoint, &command, &app_env, root, &app_log);
        let worker_service = compose_service(generated, "worker");
        let worker_env = env_of(&worker_service, "worker");
        assert_eq!(worker_env["REDIS_USERNAME"], "worker");
        let worker_log = logs_dir.join("worker.log");
        let worker = start_as_app_user(
            entrypoint,
            &words(&worker_service["command"]),
            &worker_env,
            root,
            &worker_log,
        );
        let services = AppServices {
            app_port,
            writable,
            app_log,
            worker_log,
            _app: app,
            _worker: worker,
        };
        wait_ready(&services.direct("/health/ready"), || services.logs());
        services
    }

    /// The app's own address, bypassing the edge.
    pub fn direct(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.app_port)
    }

    /// What the app and the worker printed so far.
    pub fn logs(&self) -> String {
        format!(
            "app:\n{}\nworker:\n{}",
            std::fs::read_to_string(&self.app_log).unwrap_or_default(),
            std::fs::read_to_string(&self.worker_log).unwrap_or_default()
        )
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

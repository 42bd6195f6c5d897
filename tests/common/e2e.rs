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

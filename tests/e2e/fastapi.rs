//! fastapi-three-tier end to end: the reference app in
//! tests/apps/fastapi-three-tier (FastAPI, Celery, psycopg, redis-py,
//! Alembic, a React/Vite front end), with the generated app/metrics.py wired
//! in as its docstring says, run natively under the generated production
//! rules:
//!
//! - Python dependencies installed by the generated Dockerfile's own
//!   command for a uv project (`uv sync --frozen ...`, offline from the cache
//!   scripts/install-test-deps.sh fills), the front end by its frontend
//!   stage's (`npm ci`, `npm run build`);
//! - secrets made by the generated scripts/init-secrets.sh; Redis from the
//!   generated redis.conf and ACL file; Postgres with the database and role
//!   compose's postgres service asks for;
//! - migrate, app and worker each with its compose.prod.yaml environment
//!   and command, through the generated docker-entrypoint.sh, as `nobody`
//!   on a root-owned tree it cannot write;
//! - the generated nginx in front (sandboxed on loopback), serving the
//!   React build the edge image would hold; Chromium drives the page;
//! - Prometheus with the generated config and rules scraping the app.
//!
//! Deviations forced by one machine: stores and the app listen on
//! 127.0.0.1 and free ports (compose's host names mapped there), and the
//! machine's Python (3.11) runs the app instead of the image's.

use crate::common;

use common::app_build::{
    build_when_changed, kept_dir, reference_app, shared_script, stage_node_app, stage_runs,
};
use common::e2e::{
    app_runtime, chmod, curl, image_cmd, image_env, python, run_ok, run_service_once, tools_dir,
    wait_until, AppServices, Loopback,
};
use common::live::{
    assert_edge_hides_metrics, run_browser_script, AppDatabase, LiveEdge, LivePrometheus,
};
use common::redis_acl::LiveRedis;
use common::{init_preset, require_tool, Run};
use serde_norway::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PRESET: &str = "fastapi-three-tier";

fn app_source() -> PathBuf {
    reference_app(PRESET)
}

/// Kept between runs: the venv and node_modules are rebuilt only when a
/// lock file changes.
fn work_dir() -> PathBuf {
    kept_dir("e2e-fastapi")
}

/// The words of the generated build stage's uv command (after
/// `uv`), as the image runs it for a project with uv.lock.
fn dockerfile_uv_sync(dockerfile: &str) -> Vec<String> {
    let runs = stage_runs(dockerfile, "build");
    let install = runs
        .iter()
        .find(|r| r.contains("uv.lock"))
        .unwrap_or_else(|| panic!("the build stage does not handle uv.lock: {runs:?}"));
    let words: Vec<&str> = install.split_whitespace().collect();
    let at = words
        .windows(2)
        .position(|w| w[0].ends_with("/uv") && w[1] == "sync")
        .unwrap_or_else(|| panic!("no `uv sync` in {install}"));
    words[at + 1..]
        .iter()
        .take_while(|w| !w.ends_with(';'))
        .chain(words[at + 1..].iter().find(|w| w.ends_with(';')))
        .map(|w| w.trim_end_matches(';').to_string())
        .collect()
}

/// The app's dependencies, installed with the generated Dockerfile's
/// `uv sync` into a venv (UV_PROJECT_ENVIRONMENT, as in the image).
fn install_python(generated: &Run) -> PathBuf {
    let sync = dockerfile_uv_sync(&generated.read("Dockerfile"));
    assert_eq!(
        sync,
        [
            "sync",
            "--frozen",
            "--no-dev",
            "--no-install-project",
            "--no-cache"
        ],
        "the command this test proves"
    );
    let project = work_dir().join("python");
    let venv = work_dir().join("venv");
    std::fs::create_dir_all(&project).unwrap();
    for file in ["pyproject.toml", "uv.lock"] {
        std::fs::copy(app_source().join(file), project.join(file)).unwrap();
    }
    let lock = std::fs::read(project.join("uv.lock")).unwrap();
    let stamp = venv.join(".installed-from-lock");
    if std::fs::read(&stamp).ok().as_deref() != Some(lock.as_slice()) {
        let _ = std::fs::remove_dir_all(&venv);
        let uv = tools_dir().join("uv/bin/uv");
        assert!(
            uv.exists(),
            "uv is not installed: run `bash scripts/install-test-deps.sh`"
        );
        // --no-cache would bypass the cache install-test-deps.sh filled:
        // offline, it reads the cache instead.
        let args: Vec<&str> = sync
            .iter()
            .map(String::as_str)
            .filter(|a| *a != "--no-cache")
            .collect();
        let started = Instant::now();
        run_ok(
            Command::new(&uv)
                .args(&args)
                .args(["--offline", "--python", &python()])
                .env("UV_PROJECT_ENVIRONMENT", &venv)
                .env("UV_CACHE_DIR", tools_dir().join("uv-cache"))
                .env("UV_PYTHON_DOWNLOADS", "never")
                .current_dir(&project),
            "uv sync (scripts/install-test-deps.sh fills the uv cache)",
        );
        eprintln!("uv sync: {:.0?}", started.elapsed());
        std::fs::write(&stamp, &lock).unwrap();
    }
    chmod(&venv, "a+rX");
    venv
}

/// The React build, made with the generated frontend stage's commands.
fn build_frontend(generated: &Run) -> PathBuf {
    let runs = stage_runs(&generated.read("Dockerfile"), "frontend");
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs[0].starts_with("RUN npm ci"), "{runs:?}");
    assert!(runs[1].starts_with("RUN npm run build"), "{runs:?}");
    let dir = work_dir().join("frontend");
    stage_node_app(
        &app_source().join("frontend"),
        &dir,
        &["src", "e2e"],
        &[
            "package.json",
            "package-lock.json",
            "vite.config.mjs",
            "index.html",
        ],
        &[shared_script("e2e/browser-launch.cjs")],
        |_| {},
    );
    build_when_changed(
        &dir,
        &["src", "index.html", "vite.config.mjs", "package-lock.json"],
        "dist/.built-from",
        "dist/.built-from",
        "vite build",
        Command::new(require_tool("npm")).args(["run", "build"]),
    );
    assert!(dir.join("dist/index.html").exists());
    dir
}

/// The runtime stage's CMD, listening on 127.0.0.1:`port`.
fn app_command(dockerfile: &str, port: u16) -> Vec<String> {
    let mut cmd = image_cmd(dockerfile);
    let host = cmd.iter().position(|w| w == "--host").unwrap();
    cmd[host + 1] = "127.0.0.1".into();
    let p = cmd.iter().position(|w| w == "--port").unwrap();
    cmd[p + 1] = port.to_string();
    cmd
}

/// The app tree as the image's `COPY . .` lays it out at /app (sources plus
/// the generated metrics module), owned by root.
fn app_tree(generated: &Run, root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    for sub in ["app", "migrations"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
        common::copy_dir(&app_source().join(sub), &root.join(sub));
    }
    for file in ["alembic.ini", "pyproject.toml", "uv.lock"] {
        std::fs::copy(app_source().join(file), root.join(file)).unwrap();
    }
    std::fs::write(
        root.join("app/metrics.py"),
        generated.read("app/metrics.py"),
    )
    .unwrap();
}

#[test]
fn fastapi_app_with_react_build_celery_and_postgres_runs_behind_the_generated_stack() {
    let chromium = require_tool("chromium");
    let started = Instant::now();
    let generated = init_preset(PRESET);
    let dockerfile = generated.read("Dockerfile");
    let venv = install_python(&generated);
    let frontend = build_frontend(&generated);
    eprintln!("installed and built: {:.0?}", started.elapsed());

    // Stores: init-secrets.sh, Redis with its ACL, Postgres as compose asks.
    let redis = LiveRedis::start(&generated);
    let pg = AppDatabase::start(&generated);
    let owner = pg.owner.as_str();
    let stores = Loopback {
        postgres_port: Some(pg.server.port),
        redis_port: Some(redis.port()),
    };

    let scratch = tempfile::tempdir().unwrap();
    chmod(scratch.path(), "a+rX");
    let root = scratch.path().join("app");
    app_tree(&generated, &root);
    let (entrypoint, env_of) = app_runtime(
        &generated,
        &stores,
        scratch.path(),
        image_env(&dockerfile, &venv),
    );

    // Migrations, as `docker compose run --rm migrate` runs them.
    run_service_once(&generated, "migrate", &root, &entrypoint, &env_of);
    assert_eq!(pg.query("SELECT version_num FROM alembic_version"), "0001");
    assert_eq!(
        pg.query("SELECT tableowner FROM pg_tables WHERE tablename = 'calls'"),
        owner,
        "the migration ran as the app's role"
    );

    // The app and the worker.
    let services = AppServices::start(
        &generated,
        &root,
        &entrypoint,
        scratch.path(),
        &env_of,
        |port, _| app_command(&dockerfile, port),
    );
    assert!(
        services.writable.is_empty(),
        "the app needs no writable directory under /app: {:?}",
        services.writable
    );
    let app_port = services.app_port;
    let logs = || services.logs();

    // The edge, with no front end yet: a clear 503, never a 403 or a 500
    // (an internal redirect loop), on `/` and on a client-side route.
    let edge = LiveEdge::start(&generated, app_port, "/health");
    let through_edge = |path: &str| edge.get(path);
    for path in ["/", "/calls/history"] {
        let (status, body) = through_edge(path);
        assert_eq!(status, 503, "{path} with no front end built: {body}");
        assert!(body.contains("front end is not built"), "{path}: {body}");
    }
    // The build lands (as the edge image's COPY puts it): served at once,
    // the misses above were not cached.
    common::copy_dir(&frontend.join("dist"), &edge.sandbox.html_root());
    chmod(&edge.sandbox.html_root(), "a+rX");
    let (status, body) = through_edge("/");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<div id=\"root\">"), "{body}");

    // The browser: the React build under the edge's CSP creates a call; the
    // API stores it in Postgres and queues it; the worker (through the
    // generated ACL) writes the transcript the page polls for.
    let result = run_browser_script(&frontend, &edge, &chromium);
    assert_eq!(result["status"], 200, "{result}");
    assert!(
        result["csp"]
            .as_str()
            .is_some_and(|c| c.contains("default-src 'self'")),
        "{result}"
    );
    assert_eq!(result["before"], "idle", "{result}");
    assert_eq!(
        result["after"],
        "done: hello from the browser",
        "{result}\n{}",
        logs()
    );
    assert_eq!(result["deepStatus"], 200, "{result}");
    assert_eq!(result["deepRendered"], "voice-api", "{result}");
    assert_eq!(result["violations"], serde_json::json!([]), "{result}");
    assert_eq!(result["consoleErrors"], serde_json::json!([]), "{result}");
    assert_eq!(
        pg.query("SELECT count(*) FROM calls WHERE status = 'done'"),
        "1"
    );
    // The job went through Redis as the ACL users: the API queued as `app`
    // and the worker consumed as `worker` (both logged in).
    let clients = redis.cli_as("admin", &["CLIENT", "LIST"]);
    assert!(clients.contains("user=worker"), "{clients}");

    // Metrics: the app serves them, the edge never does.
    let (status, body) = curl(&[], &services.direct("/metrics"), None);
    assert!(
        status == 200 && body.contains("http_requests_total{route=\"/api/calls\""),
        "{status} {body}"
    );
    assert_edge_hides_metrics(
        &edge,
        &[
            "/metrics",
            "/metrics/",
            "/METRICS",
            "//metrics",
            "/api/../metrics",
        ],
        None,
    );

    // Prometheus scrapes the app with the generated config; the alert
    // rules evaluate over its real series.
    let prom = LivePrometheus::start(&generated, app_port);
    wait_until(
        "Prometheus scrapes the app",
        Duration::from_secs(30),
        || !prom.query("up{job=\"app\"} == 1").is_empty(),
    );
    for _ in 0..5 {
        through_edge("/api/calls/1");
    }
    let rules: String = generated.read("monitoring/prometheus/rules/app.yml");
    let rules: Value = serde_norway::from_str(&rules).unwrap();
    let expr_of = |alert: &str| -> String {
        rules["groups"]
            .as_sequence()
            .unwrap()
            .iter()
            .flat_map(|g| g["rules"].as_sequence().unwrap().iter())
            .find(|r| r["alert"] == alert)
            .and_then(|r| r["expr"].as_str())
            .unwrap_or_else(|| panic!("no alert {alert}"))
            .to_string()
    };
    // The p95 latency the alert compares with its threshold: a real value
    // from the app's histogram once two scrapes have seen it.
    let p95 = expr_of("AppHighLatencyP95");
    let (p95_value, threshold) = p95.rsplit_once('>').unwrap();
    assert!(threshold.trim().parse::<f64>().is_ok(), "{p95}");
    wait_until(
        "the p95 over the app's histogram",
        Duration::from_secs(20),
        || {
            prom.query(p95_value).first().is_some_and(|s| {
                s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| v.is_finite() && v > 0.0)
            })
        },
    );
    let by_route = prom.query("sum by (route) (http_requests_total{job=\"app\"})");
    assert!(
        by_route
            .iter()
            .any(|s| s["metric"]["route"] == "/api/calls/{call_id}"),
        "route templates, not raw URLs: {by_route:?}"
    );
    // Instrumented and up: AppMetricsMissing and AppTargetDown are quiet.
    assert!(prom.query(&expr_of("AppMetricsMissing")).is_empty());
    assert!(prom.query(&expr_of("AppTargetDown")).is_empty());
    wait_until("the app rules evaluated", Duration::from_secs(10), || {
        let group = prom.rules("app");
        !group.is_empty() && group.iter().all(|(_, health, _)| health == "ok")
    });
    let group = prom.rules("app");
    assert!(
        group
            .iter()
            .all(|(_, health, err)| health == "ok" && err.is_empty()),
        "{group:?}"
    );
    eprintln!("total: {:.0?}", started.elapsed());
}

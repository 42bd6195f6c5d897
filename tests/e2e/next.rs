//! node-dashboard end to end: a real Next.js App Router app
//! (tests/apps/node-dashboard, with the generated middleware and metrics
//! module copied in) is built with `output: "standalone"`, laid out as the
//! generated Dockerfile's runtime stage lays it out, and run natively as
//! `nobody` with the environment, entrypoint and command of the generated
//! compose.prod.yaml and Dockerfile, on a root-owned tree where only the
//! compose tmpfs directories are writable. The generated nginx (sandboxed on
//! loopback, self-signed certificate) is in front, and Debian's Chromium
//! loads the page over TLS through it.
//!
//! Deviations from the container, all forced by running on one machine:
//! the app listens on 127.0.0.1 and a free port (HOSTNAME and PORT), and the
//! *_FILE secrets point at throwaway files in a temp dir.

use crate::common;

use common::app_build::{
    build_when_changed, generated_files, kept_dir, reference_app, shared_script, stage_node_app,
};
use common::e2e::{
    chmod, compose_service, curl, lock_down, node_path, start_as_app_user, wait_ready, wait_until,
};
use common::live::{assert_edge_hides_metrics, run_browser_script, LiveEdge};
use common::{init_preset, require_tool, Run};
use serde_norway::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PRESET: &str = "node-dashboard";

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    common::copy_dir(from, to);
}

/// The reference app's sources plus the generated files it uses, installed
/// (`npm ci` from the local cache when the lock file changed) and built, in
/// a folder kept between runs so node_modules and Next's build cache are
/// reused.
fn build_app(generated: &Run) -> PathBuf {
    let dir = kept_dir("e2e-next/app");
    let mut extra = generated_files(generated, &["src/middleware.js", "src/metrics.cjs"]);
    extra.push(shared_script("e2e/browser-launch.cjs"));
    stage_node_app(
        &reference_app(PRESET),
        &dir,
        &["src", "e2e", "public", "prisma"],
        &["package.json", "package-lock.json", "next.config.mjs"],
        &extra,
        |_| {},
    );
    build_when_changed(
        &dir,
        &[
            "src",
            "public",
            "prisma",
            "package-lock.json",
            "next.config.mjs",
        ],
        ".next/built-from",
        ".next/standalone/server.js",
        "next build",
        Command::new(require_tool("node"))
            .args(["node_modules/next/dist/bin/next", "build"])
            .env("NEXT_TELEMETRY_DISABLED", "1"),
    );
    dir
}

/// The runtime stage of the generated Dockerfile: its `COPY --from=build`
/// sources and destinations (under /app), its ENV, ENTRYPOINT and CMD.
struct RuntimeStage {
    copies: Vec<(String, String)>,
    env: BTreeMap<String, String>,
    command: Vec<String>,
}

fn runtime_stage(dockerfile: &str) -> RuntimeStage {
    let mut stage = RuntimeStage {
        copies: Vec::new(),
        env: BTreeMap::new(),
        command: Vec::new(),
    };
    let mut stage_name = String::new();
    let mut entrypoint: Vec<String> = Vec::new();
    let mut cmd = Vec::new();
    for line in dockerfile.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let in_runtime = stage_name == "runtime";
        match words.as_slice() {
            ["FROM", .., "AS", name] => stage_name = name.to_string(),
            // The runtime stage inherits the base stage's ENV.
            ["ENV", kv] if stage_name != "build" => {
                if let Some((k, v)) = kv.split_once('=') {
                    stage.env.insert(k.into(), v.into());
                }
            }
            ["COPY", "--from=build", from, to] if in_runtime => {
                stage.copies.push((
                    from.strip_prefix("/app/").unwrap_or(from).to_string(),
                    to.strip_prefix("/app").unwrap_or(to).to_string(),
                ));
            }
            ["ENTRYPOINT", ..] if in_runtime => {
                entrypoint = serde_json::from_str(line["ENTRYPOINT".len()..].trim()).unwrap();
            }
            ["CMD", ..] if in_runtime => {
                cmd = serde_json::from_str(line["CMD".len()..].trim()).unwrap();
            }
            _ => {}
        }
    }
    assert!(!stage.copies.is_empty(), "no COPY --from=build in runtime");
    assert_eq!(entrypoint, ["docker-entrypoint.sh"], "{dockerfile}");
    stage.command = cmd;
    stage
}

/// The app, running from `root` as the image runs it.
struct App {
    port: u16,
    log: PathBuf,
    _process: common::Server,
}

fn start_app(generated: &Run, built: &Path, root: &Path, scratch: &Path) -> App {
    let stage = runtime_stage(&generated.read("Dockerfile"));
    for (from, to) in &stage.copies {
        let dest = root.join(to.trim_start_matches('/'));
        copy_tree(&built.join(from), &dest);
    }
    assert!(
        root.join("server.js").exists(),
        "the runtime stage has no server.js at /app: {:?}",
        stage.copies
    );
    // Root owns the code; the app's user can read it and write nowhere but
    // in the tmpfs directories compose mounts for it.
    let app = &compose_service(generated, "app");
    assert_eq!(app["read_only"], Value::Bool(true), "{app:?}");
    let writable = lock_down(root, app);
    assert!(!writable.is_empty(), "no writable dirs in {app:?}");

    let port = common::free_port();
    let secrets = scratch.join("secrets");
    std::fs::create_dir_all(&secrets).unwrap();
    let mut env: BTreeMap<String, String> = stage.env.clone();
    for (k, v) in app["environment"].as_mapping().unwrap() {
        let (k, v) = (k.as_str().unwrap(), v.as_str().unwrap_or_default());
        if let Some(name) = k.strip_suffix("_FILE") {
            let file = secrets.join(name.to_ascii_lowercase());
            std::fs::write(&file, format!("test-{name}")).unwrap();
            env.insert(k.into(), file.display().to_string());
        } else {
            env.insert(k.into(), v.into());
        }
    }
    assert_eq!(env.get("NODE_ENV").map(String::as_str), Some("production"));
    env.insert("PORT".into(), port.to_string());
    env.insert("HOSTNAME".into(), "127.0.0.1".into());
    env.insert("NEXT_TELEMETRY_DISABLED".into(), "1".into());
    env.insert("PATH".into(), node_path());
    chmod(scratch, "a+rX");

    let entrypoint = scratch.join("docker-entrypoint.sh");
    std::fs::write(&entrypoint, generated.read("docker-entrypoint.sh")).unwrap();
    let log = scratch.join("app.log");
    let process = start_as_app_user(&entrypoint, &stage.command, &env, root, &log);
    wait_ready(&format!("http://127.0.0.1:{port}/api/health"), || {
        std::fs::read_to_string(&log).unwrap_or_default()
    });
    App {
        port,
        log,
        _process: process,
    }
}

fn generated_at(body: &str) -> String {
    body.split("id=\"generated-at\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("no generated-at in {body}"))
        .to_string()
}

fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.file_type().unwrap().is_dir() {
                        files_under(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn next_app_hydrates_behind_the_edge_with_csp_websocket_isr_and_private_metrics() {
    let chromium = require_tool("chromium");
    let started = Instant::now();
    let generated = init_preset(PRESET);
    let built = build_app(&generated);
    eprintln!("app ready to run: {:.0?}", started.elapsed());

    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("app");
    let app = start_app(&generated, &built, &root, scratch.path());

    let edge = LiveEdge::start(&generated, app.port, "/api/health");

    // The browser: hydration under the app's own CSP, and the WebSocket.
    let result = run_browser_script(&built, &edge, &chromium);
    assert_eq!(result["status"], 200, "{result}");
    let csp = result["csp"].as_str().unwrap_or_default();
    assert!(
        csp.contains("'nonce-") && csp.contains("'strict-dynamic'"),
        "the page's CSP must be the middleware's nonce policy, not the edge's: {result}"
    );
    assert_eq!(result["violations"], serde_json::json!([]), "{result}");
    assert_eq!(result["consoleErrors"], serde_json::json!([]), "{result}");
    assert_eq!(result["clicksBefore"], "clicked 0 times", "{result}");
    assert_eq!(
        result["clicksAfter"], "clicked 1 times",
        "the click must change the page (hydration): {result}"
    );
    assert_eq!(
        result["socket"], "echo: ping from the page",
        "the page's WebSocket through nginx: {result}"
    );
    // Control: the listener does see blocked scripts, on a page whose HTML
    // was prerendered without nonces.
    assert!(
        result["isrViolations"]
            .as_array()
            .is_some_and(|v| !v.is_empty()),
        "{result}"
    );

    // ISR: a request after `revalidate` (2 s) regenerates the page in the
    // background and writes it to disk; the next one serves it.
    let (status, first) = edge.get("/isr");
    assert_eq!(status, 200, "{first}");
    let first = generated_at(&first);
    let route_cache = root.join(".next/server/route-cache");
    let mut latest = first.clone();
    wait_until("an ISR revalidation", Duration::from_secs(20), || {
        std::thread::sleep(Duration::from_millis(800));
        let (status, body) = edge.get("/isr");
        assert_eq!(status, 200, "{body}");
        latest = generated_at(&body);
        latest != first && files_under(&route_cache) > 0
    });
    let log = std::fs::read_to_string(&app.log).unwrap();
    assert!(
        !log.contains("EACCES") && !log.contains("Failed to update prerender cache"),
        "revalidation could not write its page:\n{log}"
    );

    // Metrics: served by the app in any spelling (the control), never
    // through the edge.
    let (status, body) = curl(&[], &format!("http://127.0.0.1:{}/METRICS", app.port), None);
    assert!(
        status == 200 && body.contains("http_requests_total"),
        "control: the app answers /METRICS itself: {status} {body}"
    );
    assert_edge_hides_metrics(
        &edge,
        &[
            "/metrics",
            "/metrics/",
            "/METRICS",
            "/Metrics?x=1",
            "//metrics",
        ],
        Some(404),
    );

    // Auth.js polls the session: never 429 at a client's pace; sign-in
    // stays on the tight limit.
    for i in 0..30 {
        let (status, _) = edge.get("/api/auth/session");
        assert_eq!(status, 200, "session read {i}");
    }
    let signins: Vec<u16> = (0..12)
        .map(|_| edge.request(&["-X", "POST"], "/api/auth/signin").0)
        .collect();
    assert_eq!(signins[0], 200, "{signins:?}");
    assert!(signins.contains(&429), "{signins:?}");
}

#[test]
fn dev_compose_runs_the_production_image_read_only() {
    let generated = init_preset(PRESET);
    let dev: Value = serde_norway::from_str(&generated.read("compose.yaml")).unwrap();
    let prod: Value = serde_norway::from_str(&generated.read("compose.prod.yaml")).unwrap();
    let (dev_app, prod_app) = (&dev["services"]["app"], &prod["services"]["app"]);
    assert_eq!(dev_app["environment"]["NODE_ENV"], "production");
    assert_eq!(dev_app["read_only"], Value::Bool(true));
    assert_eq!(dev_app["build"]["target"], "runtime");
    let mounts = |app: &Value| -> Vec<String> {
        app["tmpfs"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|m| m.as_str())
            .filter(|m| m.starts_with("/app/"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(mounts(dev_app), mounts(prod_app));
    assert!(mounts(dev_app)
        .iter()
        .any(|m| m.starts_with("/app/.next/server/route-cache:")));
}

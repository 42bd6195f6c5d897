//! twilio-voice end to end: the reference app in tests/apps/twilio-voice
//! (Express with the `twilio` SDK, a `ws` media stream, a BullMQ worker, pg),
//! with the generated src/metrics.cjs and src/webhooks/twilio-signature.cjs
//! wired in as their usage notes say, run natively under the generated
//! production rules: built by the Dockerfile's build stage commands (npm ci,
//! npm run build, npm prune), laid out as its runtime stage, secrets from
//! scripts/init-secrets.sh (the Twilio auth token filled in as a user
//! would), Redis from the generated config and ACL, Postgres as compose asks,
//! migrate, app and worker with their compose.prod.yaml environment and
//! command through the generated entrypoint as `nobody` on a read-only tree,
//! the generated nginx in front and Prometheus with the generated config
//! and rules.
//!
//! Deviations forced by one machine: the app listens on 127.0.0.1 and a
//! free port (HOST and PORT), stores on loopback ports.

use crate::common;

use common::app_build::{assert_stage_runs, build_when_changed, stage_node_app};
use common::e2e::{
    assert_metrics_private_and_scraped, chmod, compose_service, lock_down, node_runtime,
    run_as_app_user, run_ok, wait_until, words, AppDatabase, LiveEdge, Loopback, NodeServices,
};
use common::redis_acl::{init_secrets, LiveRedis};
use common::{init_preset, require_tool, run_json, Run};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PRESET: &str = "twilio-voice";
const AUTH_TOKEN: &str = "e2e-twilio-auth-token-0123456789";

fn app_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/apps/twilio-voice")
}

/// Kept between runs: node_modules is reinstalled only when the lock file
/// changes.
fn build_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e-twilio/app")
}

/// The app built as the Dockerfile's build stage builds it.
fn build_app(generated: &Run) -> PathBuf {
    assert_stage_runs(
        &generated.read("Dockerfile"),
        "build",
        &[
            "npm ci",
            "npm run build --if-present",
            "npm prune --omit=dev",
        ],
    );
    let dir = build_dir();
    let generated_files =
        ["src/metrics.cjs", "src/webhooks/twilio-signature.cjs"].map(|f| (f, generated.read(f)));
    stage_node_app(
        &app_source(),
        &dir,
        &["src", "e2e", "scripts"],
        &["package.json", "package-lock.json"],
        &generated_files,
        |dir| {
            run_ok(
                Command::new(require_tool("npm"))
                    .args(["prune", "--omit=dev", "--no-audit", "--no-fund"])
                    .current_dir(dir),
                "npm prune",
            );
        },
    );
    build_when_changed(
        &dir,
        &["src", "scripts"],
        "dist/.built-from",
        "dist/.built-from",
        "npm run build",
        Command::new(require_tool("npm")).args(["run", "build", "--if-present"]),
    );
    dir
}

#[test]
fn express_voice_app_takes_signed_webhooks_media_stream_and_jobs_behind_the_generated_stack() {
    let started = Instant::now();
    let generated = init_preset(PRESET);
    let dockerfile = generated.read("Dockerfile");
    let built = build_app(&generated);
    eprintln!("built: {:.0?}", started.elapsed());

    // The Twilio auth token is a secret the user fills in after
    // init-secrets.sh creates it empty.
    init_secrets(&generated);
    let token_file = generated.path().join("secrets/twilio_auth_token");
    assert_eq!(std::fs::read_to_string(&token_file).unwrap(), "");
    std::fs::write(&token_file, AUTH_TOKEN).unwrap();
    let redis = LiveRedis::start(&generated);
    let pg = AppDatabase::start(&generated);
    let stores = Loopback {
        postgres_port: Some(pg.server.port),
        redis_port: Some(redis.port()),
    };

    // The runtime stage: `COPY --from=build /app /app`, run as a user who
    // owns none of it.
    assert!(
        dockerfile.contains("COPY --from=build /app /app"),
        "{dockerfile}"
    );
    let scratch = tempfile::tempdir().unwrap();
    chmod(scratch.path(), "a+rX");
    let root = scratch.path().join("app");
    std::fs::create_dir_all(&root).unwrap();
    common::copy_dir(&built, &root);
    let (entrypoint, env_of) = node_runtime(&generated, &stores, scratch.path());
    let node = require_tool("node");

    let migrate = compose_service(&generated, "migrate");
    lock_down(&root, &migrate);
    run_as_app_user(
        &entrypoint,
        &words(&migrate["command"]),
        &env_of(&migrate, "migrate"),
        &root,
        "migrate",
    );
    assert_eq!(
        pg.query("SELECT tableowner FROM pg_tables WHERE tablename = 'calls'"),
        pg.owner
    );

    let services = NodeServices::start(&generated, &root, &entrypoint, scratch.path(), &env_of);
    let app_port = services.app_port;
    let logs = || services.logs();

    // Twilio through the edge: the SDK-signed webhook, a tampered one, the
    // media stream over the WebSocket the TwiML names.
    let edge = LiveEdge::start(&generated, app_port, "/health");
    let result = run_json(
        Command::new(&node)
            .arg("e2e/client.cjs")
            .arg(common::DOMAIN)
            .arg(edge.ports.https.to_string())
            .arg(AUTH_TOKEN)
            .current_dir(&built),
    );
    assert_eq!(result["signed"], 200, "{result}\n{}", logs());
    assert_eq!(result["tampered"], 403, "{result}");
    assert_eq!(result["unsigned"], 403, "{result}");
    assert_eq!(
        result["streamUrl"],
        format!("wss://{}/twilio/media", common::DOMAIN),
        "{result}"
    );
    assert_eq!(
        result["marks"],
        serde_json::json!(["ack-1", "ack-2", "ack-3"]),
        "{result}"
    );
    // The BullMQ job (queued as `app`, run as `worker`) answered the call;
    // the media frames were counted against it.
    wait_until("the worker's job", Duration::from_secs(20), || {
        pg.query("SELECT status || ' ' || media_frames FROM calls") == "answered 3"
    });
    let clients = redis.cli_as("admin", &["CLIENT", "LIST"]);
    assert!(clients.contains("user=worker"), "{clients}");
    assert!(clients.contains("user=app"), "{clients}");

    // Metrics: served by the app, never through the edge; Prometheus
    // scrapes them and the alert rules evaluate over the app's series.
    assert_metrics_private_and_scraped(&generated, &edge, app_port, "/twilio/voice", "403");
    eprintln!("total: {:.0?}", started.elapsed());
}

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

use common::app_build::{
    assert_stage_runs, build_when_changed, generated_files, kept_dir, reference_app, shared_script,
    stage_node_app, NODE_BUILD_STEPS,
};
use common::e2e::{
    node_runtime, run_ok, run_service_once, runtime_copy, wait_until, AppServices, CopyBy, Loopback,
};
use common::live::{
    assert_metrics_private_and_scraped, assert_twilio_call_through_edge, AppDatabase, LiveEdge,
};
use common::redis_acl::{init_secrets, LiveRedis};
use common::{init_preset, require_tool, Run};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const PRESET: &str = "twilio-voice";
const AUTH_TOKEN: &str = "e2e-twilio-auth-token-0123456789";

/// The app built as the Dockerfile's build stage builds it, in a folder kept
/// between runs: node_modules is reinstalled only when the lock file
/// changes.
fn build_app(generated: &Run) -> PathBuf {
    assert_stage_runs(&generated.read("Dockerfile"), "build", &NODE_BUILD_STEPS);
    let dir = kept_dir("e2e-twilio/app");
    let mut extra = generated_files(
        generated,
        &["src/metrics.cjs", "src/webhooks/twilio-signature.cjs"],
    );
    extra.push(shared_script("e2e/twilio-call.cjs"));
    stage_node_app(
        &reference_app(PRESET),
        &dir,
        &["src", "e2e", "scripts"],
        &["package.json", "package-lock.json"],
        &extra,
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
    let (scratch, root) = runtime_copy(&dockerfile, &built, CopyBy::Copies);
    let (entrypoint, env_of) = node_runtime(&generated, &stores, scratch.path());

    run_service_once(&generated, "migrate", &root, &entrypoint, &env_of);
    assert_eq!(
        pg.query("SELECT tableowner FROM pg_tables WHERE tablename = 'calls'"),
        pg.owner
    );

    let services = AppServices::start_node(&generated, &root, &entrypoint, scratch.path(), &env_of);
    let app_port = services.app_port;

    // Twilio through the edge: the SDK-signed webhook, a tampered one, the
    // media stream over the WebSocket the TwiML names.
    let edge = LiveEdge::start(&generated, app_port, "/health");
    assert_twilio_call_through_edge(&built, &edge, AUTH_TOKEN, "/twilio/media", || {
        services.logs()
    });
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

//! ringcentral-hold-hunter end to end: the reference app in
//! tests/apps/ringcentral-hold-hunter (Express, Socket.io, Bull, Redis as
//! the only store), with the generated src/metrics.cjs and
//! src/webhooks/ringcentral-webhook.cjs wired in as their usage notes say,
//! run natively under the generated production rules: built by the
//! Dockerfile's build stage commands and laid out as its runtime stage,
//! secrets from scripts/init-secrets.sh (the RingCentral app credentials
//! filled in as a user would), Redis from the generated config and ACL, app
//! and worker with their compose.prod.yaml environment and command through
//! the generated entrypoint as `nobody` on a read-only tree, the generated
//! nginx in front and Prometheus with the generated config and rules.
//!
//! RingCentral does not sign webhooks (its SDK only creates subscriptions,
//! against its servers): the client sends what its guide documents, the
//! Validation-Token handshake and notifications carrying the subscription's
//! verification token.
//!
//! Deviations forced by one machine: the app listens on 127.0.0.1 and a
//! free port (HOST and PORT), Redis on a loopback port.

use crate::common;

use common::app_build::{
    assert_stage_runs, generated_files, kept_dir, reference_app, stage_node_app, NODE_BUILD_STEPS,
};
use common::e2e::{node_runtime, run_ok, runtime_copy, AppServices, CopyBy, Loopback};
use common::live::{assert_metrics_private_and_scraped, run_edge_client, LiveEdge};
use common::redis_acl::{init_secrets, LiveRedis};
use common::{init_preset, require_tool, Run};
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

const PRESET: &str = "ringcentral-hold-hunter";

/// The app built as the Dockerfile's build stage builds it, in a folder kept
/// between runs: node_modules is reinstalled only when the lock file
/// changes. Dev dependencies stay here (the test's Socket.io client); the
/// runtime copy is pruned as the build stage prunes it.
fn build_app(generated: &Run) -> PathBuf {
    assert_stage_runs(&generated.read("Dockerfile"), "build", &NODE_BUILD_STEPS);
    let dir = kept_dir("e2e-ringcentral/app");
    stage_node_app(
        &reference_app(PRESET),
        &dir,
        &["src", "e2e"],
        &["package.json", "package-lock.json"],
        &generated_files(
            generated,
            &["src/metrics.cjs", "src/webhooks/ringcentral-webhook.cjs"],
        ),
        |_| {},
    );
    // No build script: `npm run build --if-present` is a no-op, as in the image.
    dir
}

#[test]
fn hold_hunter_takes_ringcentral_webhooks_into_bull_and_socket_io_behind_the_generated_stack() {
    let started = Instant::now();
    let generated = init_preset(PRESET);
    let dockerfile = generated.read("Dockerfile");
    assert!(
        compose_service_missing(&generated, "postgres"),
        "Redis is this preset's only store"
    );
    let built = build_app(&generated);
    eprintln!("built: {:.0?}", started.elapsed());

    // The RingCentral app's credentials are secrets the user fills in after
    // init-secrets.sh creates them empty; it makes the verification token.
    init_secrets(&generated);
    for manual in ["ringcentral_client_secret", "ringcentral_jwt"] {
        let file = generated.path().join("secrets").join(manual);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "", "{manual}");
        std::fs::write(&file, format!("e2e-{manual}")).unwrap();
    }
    let verification_token = std::fs::read_to_string(
        generated
            .path()
            .join("secrets/ringcentral_verification_token"),
    )
    .unwrap();
    assert!(
        verification_token.trim().len() >= 16,
        "{verification_token:?}"
    );
    let redis = LiveRedis::start(&generated);
    let stores = Loopback {
        postgres_port: None,
        redis_port: Some(redis.port()),
    };

    // The runtime stage: `COPY --from=build /app /app` (dev dependencies
    // pruned), run as a user who owns none of it.
    let (scratch, root) = runtime_copy(&dockerfile, &built, CopyBy::Copies);
    run_ok(
        Command::new(require_tool("npm"))
            .args([
                "prune",
                "--omit=dev",
                "--no-audit",
                "--no-fund",
                "--offline",
            ])
            .current_dir(&root),
        "npm prune --omit=dev",
    );
    assert!(!root.join("node_modules/socket.io-client").exists());
    let (entrypoint, env_of) = node_runtime(&generated, &stores, scratch.path());

    let services = AppServices::start_node(&generated, &root, &entrypoint, scratch.path(), &env_of);
    let app_port = services.app_port;
    let logs = || services.logs();

    // RingCentral and a Socket.io client through the edge.
    let edge = LiveEdge::start(&generated, app_port, "/health");
    let result = run_edge_client(&built, &edge, verification_token.trim());
    assert_eq!(result["transport"], "websocket", "{result}");
    assert_eq!(
        result["handshake"],
        serde_json::json!({"status": 200, "echo": "rc-handshake-42"}),
        "{result}"
    );
    assert_eq!(result["notification"], 200, "{result}\n{}", logs());
    // The generated module refuses a notification without the token as
    // unauthenticated (401: there is no signature to be wrong).
    assert_eq!(result["wrongToken"], 401, "{result}");
    assert_eq!(result["noToken"], 401, "{result}");
    // The Bull job (queued as `app`, run as `worker`) recorded the hold in
    // Redis and the app pushed it to the socket.
    assert_eq!(
        result["hold"]["sessionId"],
        "s-e2e-1",
        "{result}\n{}",
        logs()
    );
    assert_eq!(
        redis
            .cli_as("app", &["HGET", "hold:s-e2e-1", "party"])
            .trim(),
        "p-1"
    );
    let clients = redis.cli_as("admin", &["CLIENT", "LIST"]);
    assert!(clients.contains("user=worker"), "{clients}");

    // Metrics: served by the app, never through the edge; Prometheus
    // scrapes them and the alert rules evaluate over the app's series.
    assert_metrics_private_and_scraped(&generated, &edge, app_port, "/webhooks/ringcentral", "401");
    eprintln!("total: {:.0?}", started.elapsed());
}

fn compose_service_missing(generated: &Run, name: &str) -> bool {
    let compose: serde_norway::Value =
        serde_norway::from_str(&generated.read("compose.prod.yaml")).unwrap();
    compose["services"][name].is_null()
}

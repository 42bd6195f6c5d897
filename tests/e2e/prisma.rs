//! prisma-voice end to end: the reference app in tests/apps/prisma-voice
//! (Express with Prisma on the pg driver adapter, the `twilio` SDK, a `ws`
//! media stream, Redis as a cache), with the generated src/metrics.cjs and
//! src/webhooks/twilio-signature.cjs wired in as their usage notes say, run
//! natively under the generated production rules: built by the Dockerfile's
//! build stage (npm ci, then its own RUN lines: `prisma generate`, the build,
//! the CLI kept as a dependency, the prune), secrets from
//! scripts/init-secrets.sh, Redis from the generated config and ACL, the
//! compose migrate command (`npx prisma migrate deploy`) and the app through
//! the generated entrypoint as `nobody` on a read-only tree, the generated
//! nginx in front and Prometheus with the generated config and rules.
//!
//! Postgres is reached as on AWS: TLS with sslmode=verify-full against a CA
//! (PGSSLMODE and PGSSLROOTCERT, as ECS sets them), and a migration given
//! another CA is refused.
//!
//! Prisma without the network: the app uses no native engine (the query
//! compiler is WebAssembly, migrations run the WebAssembly schema engine
//! through the adapter; see its prisma.config.js), so `npm ci` runs with
//! `--ignore-scripts`, which skips the install scripts that would fetch
//! native engines from Prisma's servers, and nothing here needs them.
//!
//! Deviations forced by one machine: the app listens on 127.0.0.1 and a free
//! port (HOST and PORT), stores on loopback ports.

use crate::common;

use common::app_build::{
    assert_stage_runs, generated_files, kept_dir, reference_app, shared_script,
    stage_node_app_with, stage_runs,
};
use common::e2e::{
    as_app_user, compose_service, curl, image_env, lock_down, node_path, node_runtime,
    run_as_app_user, run_ok, runtime_copy, start_node_app, wait_ready, words, CopyBy, Loopback,
};
use common::live::{
    assert_metrics_private_and_scraped, assert_twilio_call_through_edge, AppDatabase, LiveEdge,
};
use common::postgres_tls::TlsPostgres;
use common::redis_acl::{init_secrets, LiveRedis};
use common::{init_preset, Run};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const PRESET: &str = "prisma-voice";
const AUTH_TOKEN: &str = "e2e-twilio-auth-token-0123456789";

/// The app built as the Dockerfile's build stage builds it: `npm ci` (its
/// RUN, with the build-secret mount, is the one step run by hand here), then
/// every other RUN of the stage as written. In a folder kept between runs:
/// node_modules is reinstalled only when the lock file changes.
fn build_app(generated: &Run, env: &BTreeMap<String, String>) -> PathBuf {
    let runs = stage_runs(&generated.read("Dockerfile"), "build");
    let (install, rest) = runs.split_first().expect("a build stage");
    assert!(
        install.starts_with("RUN --mount=type=secret") && install.ends_with("npm ci --include=dev"),
        "the build stage starts with npm ci: {runs:?}"
    );
    assert_stage_runs(
        &generated.read("Dockerfile"),
        "build",
        &[
            "npx prisma generate",
            "npm run build --if-present",
            "npm prune --omit=dev",
        ],
    );
    let dir = kept_dir("e2e-prisma/app");
    let mut extra = generated_files(
        generated,
        &["src/metrics.cjs", "src/webhooks/twilio-signature.cjs"],
    );
    extra.push(shared_script("e2e/twilio-call.cjs"));
    stage_node_app_with(
        &reference_app(PRESET),
        &dir,
        &["src", "e2e", "scripts", "prisma", "generated"],
        &["package.json", "package-lock.json", "prisma.config.js"],
        &extra,
        // The install scripts would fetch native engines; the build's own
        // steps below (generate, build, prune) run as the stage has them.
        &["--include=dev", "--ignore-scripts"],
        |_| {},
    );
    for run in rest {
        let script = run.strip_prefix("RUN ").unwrap();
        run_ok(
            Command::new("sh")
                .args(["-ec", script])
                .env_clear()
                .envs(env)
                .current_dir(&dir),
            &format!("the build stage's {run}"),
        );
    }
    // The CLI the migrations need survived the prune as a dependency.
    assert!(dir.join("node_modules/.bin/prisma").exists());
    assert!(dir.join("generated/prisma/index.js").exists());
    // And no native engine is anywhere in the build: what runs below runs
    // on the WebAssembly ones.
    let native: Vec<String> = [
        "node_modules/@prisma/engines",
        "node_modules/prisma",
        "generated/prisma",
    ]
    .iter()
    .flat_map(|d| std::fs::read_dir(dir.join(d)).unwrap())
    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
    .filter(|n| {
        n.starts_with("schema-engine-")
            || n.starts_with("query-engine-")
            || n.starts_with("libquery_engine-")
    })
    .collect();
    assert!(native.is_empty(), "native Prisma engines: {native:?}");
    dir
}

#[test]
fn prisma_voice_app_migrates_and_serves_over_verified_tls_behind_the_generated_stack() {
    let started = Instant::now();
    let generated = init_preset(PRESET);
    let dockerfile = generated.read("Dockerfile");
    let mut base_env = image_env(&dockerfile, Path::new("/opt/venv"));
    base_env.insert("PATH".into(), node_path());
    // npm's cache for the build steps (`npx` reads it); the image has root's.
    base_env.insert(
        "HOME".into(),
        std::env::var("HOME").unwrap_or_else(|_| "/root".into()),
    );
    let built = build_app(&generated, &base_env);
    eprintln!("built: {:.0?}", started.elapsed());

    init_secrets(&generated);
    let token_file = generated.path().join("secrets/twilio_auth_token");
    std::fs::write(&token_file, AUTH_TOKEN).unwrap();
    let redis = LiveRedis::start(&generated);
    let pg = TlsPostgres::start();
    let (database, owner) = AppDatabase::create_on(&pg.pg, &generated);
    let stores = Loopback {
        postgres_port: Some(pg.pg.port),
        redis_port: Some(redis.port()),
    };

    // The runtime stage copies /app whole and runs it as a user who owns
    // none of it. Symlinks kept, as COPY keeps them: node_modules/.bin/prisma
    // is one, and the CLI finds its WebAssembly engines beside its real
    // path. Hard links, not copies, of the 200 MB build: nothing below
    // writes to the tree (the app's user cannot), so sharing the files
    // changes nothing.
    let (scratch, root) = runtime_copy(&dockerfile, &built, CopyBy::HardLinks);
    let (entrypoint, node_env_of) = node_runtime(&generated, &stores, scratch.path());
    let env_of = |service: &serde_norway::Value, name: &str, ca: &Path| {
        let mut env = node_env_of(service, name);
        // What ECS gives the task: verify the server against the CA.
        env.insert("PGSSLMODE".into(), "verify-full".into());
        env.insert("PGSSLROOTCERT".into(), ca.display().to_string());
        env
    };

    // The compose migrate service, given a CA that did not sign the server's
    // certificate: Prisma's connection refuses it and nothing is migrated.
    let migrate = compose_service(&generated, "migrate");
    let command = words(&migrate["command"]);
    assert_eq!(command, ["npx", "prisma", "migrate", "deploy"]);
    lock_down(&root, &migrate);
    let refused = as_app_user(
        &entrypoint,
        &command,
        &env_of(&migrate, "migrate-other-ca", &pg.other_ca),
        &root,
    )
    .output()
    .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        !refused.status.success() && said.to_lowercase().contains("certificate"),
        "a migration trusting another CA was not refused for its certificate:\n{said}"
    );
    let db = |sql: &str| pg.pg.psql(&database, sql);
    assert_eq!(
        db("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"),
        "0"
    );

    // With the right CA: the committed migration applied, recorded in
    // Prisma's own table, the table owned by the app's role.
    let migrated = run_as_app_user(
        &entrypoint,
        &command,
        &env_of(&migrate, "migrate", &pg.ca),
        &root,
        "npx prisma migrate deploy",
    );
    assert!(
        migrated.contains("All migrations have been successfully applied"),
        "{migrated}"
    );
    assert_eq!(
        db("SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL"),
        "20261203000000_init"
    );
    assert_eq!(
        db("SELECT tableowner FROM pg_tables WHERE tablename = 'calls'"),
        owner
    );
    eprintln!("migrated: {:.0?}", started.elapsed());

    // The app, as compose runs it, with the Dockerfile's CMD.
    let app_service = compose_service(&generated, "app");
    lock_down(&root, &app_service);
    let app_log = scratch.path().join("app.log");
    let (_app, app_port) = start_node_app(
        &dockerfile,
        &entrypoint,
        env_of(&app_service, "app", &pg.ca),
        &root,
        &app_log,
    );
    let logs = || std::fs::read_to_string(&app_log).unwrap_or_default();
    wait_ready(&format!("http://127.0.0.1:{app_port}/health/ready"), logs);
    eprintln!("app ready: {:.0?}", started.elapsed());

    // Twilio through the edge: the SDK-signed webhook, a tampered one, the
    // media stream over the WebSocket the TwiML names, then the stored call
    // read back (from Postgres, then from the Redis cache).
    let edge = LiveEdge::start(&generated, app_port, "/health");
    let result = assert_twilio_call_through_edge(&built, &edge, AUTH_TOKEN, "/voice/stream", logs);
    let call = serde_json::json!({"caller": "+14155550100", "mediaFrames": 3});
    assert_eq!(
        result["reads"],
        serde_json::json!([
            {"status": 200, "cache": "miss", "body": call},
            {"status": 200, "cache": "hit", "body": call},
        ]),
        "{result}\n{}",
        logs()
    );
    assert_eq!(
        db("SELECT caller || ' ' || media_frames FROM calls"),
        "+14155550100 3"
    );
    // Every connection the app holds is TLS (verify-full got it there):
    // asked right after a readiness check made the pool use one, which it
    // then keeps idle for seconds.
    let (status, body) = curl(
        &[],
        &format!("http://127.0.0.1:{app_port}/health/ready"),
        None,
    );
    assert_eq!(status, 200, "{body}");
    let sessions = db(&format!(
        "SELECT count(*) FILTER (WHERE s.ssl) || ' ' || count(*) FILTER (WHERE NOT s.ssl) \
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = '{owner}'"
    ));
    let (tls, plain) = sessions.split_once(' ').unwrap();
    assert!(
        tls.parse::<u32>().unwrap() > 0 && plain == "0",
        "app sessions (TLS, plain): {sessions}"
    );
    let clients = redis.cli_as("admin", &["CLIENT", "LIST"]);
    assert!(clients.contains("user=app"), "{clients}");

    // Metrics: served by the app, never through the edge; Prometheus
    // scrapes them and the alert rules evaluate over the app's series.
    assert_metrics_private_and_scraped(&generated, &edge, app_port, "/voice/incoming", "403");
    eprintln!("total: {:.0?}", started.elapsed());
}

//! Postgres over verified TLS, as the generated AWS configuration sets it
//! up: ECS gives the app PGSSLMODE and PGSSLROOTCERT (the RDS CA bundle the
//! image carries), docker-entrypoint.sh builds DATABASE_URL from them, and
//! scripts/backup-postgres.sh dumps over the same settings.
//!
//! Proved against a real Postgres serving a certificate from a private CA
//! made in the test: node-postgres and psycopg connect through the generated
//! entrypoint, and pg_dump through the generated backup script, when given
//! that CA; each refuses a server it cannot verify (another CA, or a host
//! name the certificate does not name).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::postgres::PG_SUPERUSER;
use common::postgres_tls::TlsPostgres;
use common::{hooks, init_preset, path_with, require_tool, Run};

/// Where the image puts the RDS bundle, and what ECS points PGSSLROOTCERT at.
const BUNDLE_URL: &str = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem";

/// `{ name = "NAME", value = "VALUE" }` in ecs.tf: VALUE.
fn ecs_env(ecs: &str, name: &str) -> String {
    let needle = format!("{{ name = \"{name}\", value = \"");
    let start = ecs
        .find(&needle)
        .unwrap_or_else(|| panic!("ecs.tf sets no {name}"))
        + needle.len();
    ecs[start..].split('"').next().unwrap().to_string()
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn on_aws_every_client_verifies_against_the_bundle_the_image_carries() {
    let mut checked = 0;
    for preset in [
        "node-dashboard",
        "twilio-voice",
        "prisma-voice",
        "fastapi-three-tier",
    ] {
        let run = init_preset(preset);
        let ecs = run.read("infra/terraform/ecs.tf");
        assert_eq!(ecs_env(&ecs, "PGSSLMODE"), "verify-full", "{preset}");
        let root_cert = ecs_env(&ecs, "PGSSLROOTCERT");
        let dockerfile = run.read("Dockerfile");
        let add = format!("{BUNDLE_URL} {root_cert}");
        assert!(
            dockerfile
                .lines()
                .any(|l| l.starts_with("ADD ") && l.ends_with(&add)),
            "{preset}: the Dockerfile does not put {BUNDLE_URL} at {root_cert}, which ECS names"
        );
        let backup = run.read("scripts/backup-postgres.sh");
        assert!(
            backup.contains("export PGSSLMODE=\"${PGSSLMODE:-verify-full}\""),
            "{preset}: the backup over the network must verify the server"
        );
        checked += 1;
    }
    assert_eq!(checked, 4);
}

/// The rendered entrypoint of `run`, running `cmd...` with the libpq
/// settings ECS gives the app (the CA file replaced by `ca`).
fn through_entrypoint(
    run: &Run,
    pg: &TlsPostgres,
    host: &str,
    ca: Option<&Path>,
    path: &std::ffi::OsStr,
    cmd: &[&str],
) -> Output {
    let ecs = run.read("infra/terraform/ecs.tf");
    let mut c = Command::new("sh");
    c.arg(run.path().join("docker-entrypoint.sh"))
        .args(cmd)
        .env_clear()
        .env("PATH", path)
        .env("HOME", run.path())
        .env("NODE_PATH", hooks::node_modules())
        .env("PGHOST", host)
        .env("PGPORT", pg.pg.port.to_string())
        .env("PGUSER", PG_SUPERUSER)
        .env("PGDATABASE", "postgres")
        .env("PGPASSWORD_FILE", &pg.pg.password_file)
        .env("PGSSLMODE", ecs_env(&ecs, "PGSSLMODE"));
    if let Some(ca) = ca {
        c.env("PGSSLROOTCERT", ca);
    }
    c.output().expect("entrypoint runs")
}

/// Connects with DATABASE_URL alone, then with the PG* variables alone (a
/// `new Client()`), and prints what the server says about the connection.
const NODE_CLIENT: &str = r#"
const { Client } = require("pg");
async function probe(config) {
  const c = new Client(config);
  try {
    await c.connect();
    const r = await c.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    await c.end();
    return { ok: true, ssl: r.rows[0].ssl };
  } catch (e) {
    return { ok: false, code: e.code || "", message: e.message };
  }
}
(async () => {
  const url = await probe({ connectionString: process.env.DATABASE_URL });
  const env = await probe({});
  console.log(JSON.stringify({ url, env, database_url: process.env.DATABASE_URL.replace(/:[^:@]*@/, ":***@") }));
})();
"#;

const PY_CLIENT: &str = r#"
import json, os, psycopg
try:
    with psycopg.connect(os.environ["DATABASE_URL"]) as c:
        ssl = c.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()[0]
    print(json.dumps({"ok": True, "ssl": ssl}))
except psycopg.OperationalError as e:
    print(json.dumps({"ok": False, "message": str(e)}))
"#;

fn last_json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", text(out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

fn assert_refused(v: &serde_json::Value, what: &str, expect: &[&str]) {
    assert_eq!(v["ok"], false, "{what}: connected: {v}");
    let message = format!("{} {}", v["code"], v["message"]).to_lowercase();
    assert!(
        expect.iter().any(|e| message.contains(e)),
        "{what}: refused for another reason than the certificate: {v}"
    );
}

fn node_probe(run: &Run, pg: &TlsPostgres, host: &str, ca: &Path) -> serde_json::Value {
    let path = std::env::var_os("PATH").unwrap_or_default();
    last_json(&through_entrypoint(
        run,
        pg,
        host,
        Some(ca),
        &path,
        &["node", "-e", NODE_CLIENT],
    ))
}

fn python_probe(run: &Run, pg: &TlsPostgres, host: &str, ca: Option<&Path>) -> serde_json::Value {
    let py = hooks::python();
    let path = path_with(py.parent().unwrap());
    last_json(&through_entrypoint(
        run,
        pg,
        host,
        ca,
        &path,
        &["python", "-c", PY_CLIENT],
    ))
}

fn require_pg_module() {
    let pg = hooks::node_modules().join("pg/package.json");
    assert!(
        pg.exists(),
        "npm package pg is missing ({}): run `bash scripts/install-test-deps.sh`",
        pg.display()
    );
}

/// One server for every client: starting Postgres is the slow part.
#[test]
fn generated_clients_connect_only_to_a_server_they_can_verify() {
    require_pg_module();
    let pg = TlsPostgres::start();

    // node-postgres, through the Express preset's entrypoint.
    let node = init_preset("twilio-voice");
    let v = node_probe(&node, &pg, "127.0.0.1", &pg.ca);
    assert!(
        v["database_url"]
            .as_str()
            .unwrap()
            .contains("sslmode=verify-full&sslrootcert="),
        "{v}"
    );
    for how in ["url", "env"] {
        assert_eq!(
            v[how]["ok"], true,
            "node-postgres ({how}) did not connect: {v}"
        );
        assert_eq!(
            v[how]["ssl"], true,
            "node-postgres ({how}) without TLS: {v}"
        );
    }
    let v = node_probe(&node, &pg, "127.0.0.1", &pg.other_ca);
    for how in ["url", "env"] {
        assert_refused(
            &v[how],
            &format!("node-postgres ({how}), another CA"),
            &[
                "self_signed",
                "unable_to_verify",
                "unable to get local issuer",
            ],
        );
    }
    let v = node_probe(&node, &pg, "localhost", &pg.ca);
    for how in ["url", "env"] {
        assert_refused(
            &v[how],
            &format!("node-postgres ({how}), a host name the certificate lacks"),
            &["err_tls_cert_altname_invalid"],
        );
    }

    // psycopg (libpq), through the FastAPI preset's entrypoint.
    let py = init_preset("fastapi-three-tier");
    let v = python_probe(&py, &pg, "127.0.0.1", Some(&pg.ca));
    assert_eq!(v, serde_json::json!({"ok": true, "ssl": true}));
    assert_refused(
        &python_probe(&py, &pg, "127.0.0.1", Some(&pg.other_ca)),
        "psycopg, another CA",
        &["certificate verify failed"],
    );
    assert_refused(
        &python_probe(&py, &pg, "localhost", Some(&pg.ca)),
        "psycopg, a host name the certificate lacks",
        &["does not match host name"],
    );
    // No CA file at all: verify-full has nothing to trust and says so.
    assert_refused(
        &python_probe(&py, &pg, "127.0.0.1", None),
        "psycopg, no CA",
        &["root certificate file"],
    );

    // pg_dump, through the generated backup script, PGSSLMODE left to it.
    let backup = |ca: Option<&Path>| -> (Output, PathBuf) {
        let dest = py.path().join(format!("backups-{}", ca.is_some()));
        let keys = py.path().join("age.key");
        if !keys.exists() {
            let out = Command::new(require_tool("age-keygen"))
                .arg("-o")
                .arg(&keys)
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", text(&out));
            let out = Command::new(require_tool("age-keygen"))
                .arg("-y")
                .arg(&keys)
                .output()
                .unwrap();
            std::fs::write(py.path().join("age.pub"), &out.stdout).unwrap();
        }
        let mut c = Command::new("bash");
        c.arg(py.path().join("scripts/backup-postgres.sh"))
            .arg(&dest)
            .env("HOME", py.path())
            .env("BACKUP_AGE_RECIPIENTS", py.path().join("age.pub"))
            .env("BACKUP_METRICS_DIR", py.path())
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", pg.pg.port.to_string())
            .env("PGUSER", PG_SUPERUSER)
            .env("PGDATABASE", "postgres")
            .env("PGPASSWORD_FILE", &pg.pg.password_file)
            .env_remove("PGPASSWORD")
            .env_remove("PGSSLMODE")
            .env_remove("PG_EXEC");
        match ca {
            Some(ca) => c.env("PGSSLROOTCERT", ca),
            None => c.env_remove("PGSSLROOTCERT"),
        };
        (c.output().unwrap(), dest)
    };
    let (out, dest) = backup(Some(&pg.ca));
    assert!(
        out.status.success(),
        "backup over verified TLS: {}",
        text(&out)
    );
    let written: Vec<_> = std::fs::read_dir(dest.join("postgres"))
        .unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
        .collect();
    assert_eq!(written.len(), 1, "{}", text(&out));
    let (out, _) = backup(Some(&pg.other_ca));
    assert!(
        !out.status.success() && text(&out).contains("certificate verify failed"),
        "pg_dump must refuse a server from another CA: {}",
        text(&out)
    );
    let (out, _) = backup(None);
    assert!(
        !out.status.success() && text(&out).contains("root certificate file"),
        "pg_dump with no CA must not fall back to an unverified connection: {}",
        text(&out)
    );
}

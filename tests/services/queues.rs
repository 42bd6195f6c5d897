//! Redis as the generated files run it: redis-server from deploy/redis/
//! redis.conf with the ACL file scripts/init-secrets.sh writes, one user
//! per client. Jobs go through BullMQ and Bull (npm) and Celery (PyPI)
//! logged in as the app and worker users, with REDIS_URL built by the
//! generated docker-entrypoint.sh; each user is refused what its role does
//! not need; the health checks log in for real.

use crate::common;

use common::redis_acl::LiveRedis;
use common::{init_preset, require_tool, run_json, Run, Server};
use std::path::Path;
use std::process::{Command, Stdio};

/// What each user may and may not run. `true`: allowed (no NOPERM);
/// `false`: refused with NOPERM. Commands are harmless when allowed.
const ROLES: &[(&str, &[&str], bool)] = &[
    // default: what logs in without a user name; PING and nothing else.
    ("default", &["PING"], true),
    ("default", &["INFO", "memory"], false),
    ("default", &["DBSIZE"], false),
    ("default", &["CONFIG", "GET", "maxmemory"], false),
    ("default", &["LASTSAVE"], false),
    ("default", &["BGSAVE"], false),
    ("default", &["GET", "k"], false),
    ("default", &["SET", "k", "v"], false),
    ("default", &["KEYS", "*"], false),
    ("default", &["SUBSCRIBE", "c"], false),
    ("default", &["FLUSHALL"], false),
    ("default", &["ACL", "LIST"], false),
    // exporter: server state as redis_exporter reads it; no data.
    ("exporter", &["PING"], true),
    ("exporter", &["INFO", "server"], true),
    ("exporter", &["DBSIZE"], true),
    ("exporter", &["CONFIG", "GET", "*"], true),
    ("exporter", &["SLOWLOG", "GET", "1"], true),
    ("exporter", &["SLOWLOG", "LEN"], true),
    ("exporter", &["LATENCY", "LATEST"], true),
    ("exporter", &["CLIENT", "LIST"], true),
    ("exporter", &["GET", "k"], false),
    ("exporter", &["SET", "k", "v"], false),
    ("exporter", &["KEYS", "*"], false),
    ("exporter", &["SCAN", "0"], false),
    ("exporter", &["SUBSCRIBE", "c"], false),
    ("exporter", &["BGSAVE"], false),
    ("exporter", &["CONFIG", "SET", "maxmemory", "1"], false),
    ("exporter", &["CLIENT", "KILL", "ID", "999999"], false),
    ("exporter", &["ACL", "LIST"], false),
    ("exporter", &["FLUSHALL"], false),
    // ... and the length of the queue list it watches (the preset's
    // hold-checks Bull queue), read-only, that key alone.
    ("exporter", &["LLEN", "bull:hold-checks:wait"], true),
    ("exporter", &["TYPE", "bull:hold-checks:wait"], true),
    (
        "exporter",
        &["LRANGE", "bull:hold-checks:wait", "0", "-1"],
        false,
    ),
    ("exporter", &["LPOP", "bull:hold-checks:wait"], false),
    ("exporter", &["LLEN", "bull:hold-checks:active"], false),
    // backup: a snapshot and where it is; no data.
    ("backup", &["PING"], true),
    ("backup", &["INFO", "persistence"], true),
    ("backup", &["LASTSAVE"], true),
    ("backup", &["TIME"], true),
    ("backup", &["CONFIG", "GET", "dir"], true),
    ("backup", &["BGSAVE", "SCHEDULE"], true),
    ("backup", &["GET", "k"], false),
    ("backup", &["KEYS", "*"], false),
    ("backup", &["DBSIZE"], false),
    ("backup", &["SET", "k", "v"], false),
    ("backup", &["SAVE"], false),
    ("backup", &["CONFIG", "SET", "dir", "/tmp"], false),
    ("backup", &["SHUTDOWN", "NOSAVE"], false),
    ("backup", &["FLUSHALL"], false),
    ("backup", &["ACL", "LIST"], false),
    // healthcheck: PING and nothing else.
    ("healthcheck", &["PING"], true),
    ("healthcheck", &["INFO"], false),
    ("healthcheck", &["GET", "k"], false),
    ("healthcheck", &["DBSIZE"], false),
    ("healthcheck", &["CONFIG", "GET", "maxmemory"], false),
    // app and worker: data, KEYS (Bull's Queue.empty()), INFO, scripts.
    ("app", &["SET", "k", "v"], true),
    ("app", &["GET", "k"], true),
    ("app", &["KEYS", "*"], true),
    ("app", &["INFO", "server"], true),
    ("app", &["EVAL", "return 1", "0"], true),
    ("app", &["SWAPDB", "0", "1"], false),
    ("app", &["SCRIPT", "FLUSH"], false),
    ("app", &["FUNCTION", "FLUSH"], false),
    ("app", &["CLIENT", "KILL", "ID", "999999"], false),
    ("app", &["CLIENT", "PAUSE", "1"], false),
    ("app", &["ACL", "LIST"], false),
    ("app", &["FLUSHALL"], false),
    ("app", &["FLUSHDB"], false),
    ("app", &["CONFIG", "SET", "maxmemory", "1"], false),
    ("app", &["SHUTDOWN", "NOSAVE"], false),
    ("app", &["BGSAVE"], false),
    ("app", &["MONITOR"], false),
    ("worker", &["GET", "k"], true),
    ("worker", &["KEYS", "*"], true),
    ("worker", &["SWAPDB", "0", "1"], false),
    ("worker", &["SCRIPT", "FLUSH"], false),
    ("worker", &["FUNCTION", "FLUSH"], false),
    ("worker", &["CLIENT", "PAUSE", "1"], false),
    ("worker", &["ACL", "LIST"], false),
    ("worker", &["FLUSHALL"], false),
    // admin: everything (harmless forms).
    ("admin", &["ACL", "LIST"], true),
    ("admin", &["SWAPDB", "0", "0"], true),
    ("admin", &["SCRIPT", "FLUSH"], true),
    ("admin", &["CLIENT", "PAUSE", "1"], true),
];

#[test]
fn each_redis_user_runs_only_what_its_role_needs() {
    let run = init_preset("ringcentral-hold-hunter");
    let redis = LiveRedis::start(&run);
    let mut checked = 0;
    for (user, cmd, allowed) in ROLES {
        let out = redis.cli_as(user, cmd);
        assert!(
            !out.contains("WRONGPASS") && !out.contains("NOAUTH"),
            "{user} could not log in: {out}"
        );
        assert_eq!(
            !out.contains("NOPERM"),
            *allowed,
            "{user} {cmd:?} gave {out:?} (expected {})",
            if *allowed { "allowed" } else { "NOPERM" }
        );
        checked += 1;
    }
    // Every user init-secrets.sh writes is covered, and no other exists.
    let users = redis.cli_as("admin", &["ACL", "USERS"]);
    let mut listed: Vec<&str> = users.lines().map(str::trim).collect();
    listed.sort_unstable();
    let mut expected: Vec<&str> = common::redis_acl::USERS.iter().map(|(u, _)| *u).collect();
    expected.sort_unstable();
    assert_eq!(listed, expected);
    for (user, _) in common::redis_acl::USERS {
        assert!(
            ROLES.iter().any(|(u, _, _)| u == user),
            "{user} has no role checks"
        );
        let wrong = redis.cli_with(user, "not-the-password", &["PING"]);
        assert!(
            wrong.contains("WRONGPASS"),
            "{user}: a wrong password gave {wrong:?}"
        );
    }
    let anonymous = redis.sandbox.cli_anonymous(&["PING"]).unwrap();
    assert!(
        anonymous.contains("NOAUTH"),
        "anonymous PING gave {anonymous:?}"
    );
    assert_eq!(checked, ROLES.len());
}

/// `redis-cli -u` with the URL .env.example documents (password filled in)
/// logs in as the app and can write.
#[test]
fn env_example_redis_url_logs_in_as_the_app() {
    let run = init_preset("ringcentral-hold-hunter");
    let redis = LiveRedis::start(&run);
    let env = run.read(".env.example");
    let line = env
        .lines()
        .find_map(|l| l.strip_prefix("# REDIS_URL="))
        .expect(".env.example documents REDIS_URL");
    assert!(env.contains("\nREDIS_USERNAME=app\n"), "{env}");
    let app_url = redis.url("app");
    let password = app_url
        .split_once("app:")
        .and_then(|(_, rest)| rest.split_once('@'))
        .unwrap()
        .0;
    let url = line
        .replace("<password>", password)
        .replace("127.0.0.1:6379", &format!("127.0.0.1:{}", redis.port()));
    let out = Command::new(require_tool("redis-cli"))
        .args([
            "--no-auth-warning",
            "-u",
            &url,
            "SET",
            "from-env-example",
            "1",
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(text.trim(), "OK", "redis-cli -u {line}: {text}");
}

fn compose_service(run: &Run, file: &str, service: &str) -> serde_norway::Value {
    let doc: serde_norway::Value = serde_norway::from_str(&run.read(file)).unwrap();
    doc["services"][service].clone()
}

/// The health check's command, as the container would run it (compose's
/// `$$` is one `$`).
fn healthcheck(service: &serde_norway::Value) -> Vec<String> {
    service["healthcheck"]["test"]
        .as_sequence()
        .expect("a healthcheck test list")
        .iter()
        .map(|v| v.as_str().unwrap().replace("$$", "$"))
        .collect()
}

#[test]
fn health_checks_log_in_to_redis_for_real() {
    let run = init_preset("ringcentral-hold-hunter");
    let redis = LiveRedis::start(&run);
    let secrets = run.path().join("secrets");
    // The Node worker's: AUTH with its own user, then PING.
    let worker = compose_service(&run, "compose.prod.yaml", "worker");
    let test = healthcheck(&worker);
    assert_eq!(&test[..3], ["CMD", "node", "-e"], "{test:?}");
    let env = &worker["environment"];
    assert_eq!(env["REDIS_USERNAME"].as_str(), Some("worker"));
    assert_eq!(
        env["REDIS_PASSWORD_FILE"].as_str(),
        Some("/run/secrets/redis_worker_password")
    );
    let worker_check = |user: &str, password_file: &Path, port: u16| {
        Command::new(require_tool("node"))
            .args(["-e", &test[3]])
            .env("REDIS_HOST", "127.0.0.1")
            .env("REDIS_PORT", port.to_string())
            .env("REDIS_USERNAME", user)
            .env("REDIS_PASSWORD_FILE", password_file)
            .status()
            .unwrap()
            .success()
    };
    assert!(
        worker_check(
            "worker",
            &secrets.join("redis_worker_password"),
            redis.port()
        ),
        "the worker's health check fails against a healthy Redis"
    );
    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), "not-the-password").unwrap();
    assert!(
        !worker_check("worker", wrong.path(), redis.port()),
        "passes with a wrong password"
    );
    assert!(
        !worker_check(
            "worker",
            &secrets.join("redis_worker_password"),
            common::free_port()
        ),
        "passes with no Redis listening"
    );

    // Redis's own: the ping-only user, with the password file compose mounts.
    for file in ["compose.prod.yaml", "compose.yaml"] {
        let service = compose_service(&run, file, "redis");
        let test = healthcheck(&service);
        assert_eq!(test[0], "CMD-SHELL", "{file}: {test:?}");
        let mounted: Vec<String> = service["secrets"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect();
        assert!(
            mounted.contains(&"redis_healthcheck_password".to_string()),
            "{file}: {mounted:?}"
        );
        let shell = |secrets_dir: &Path| {
            let script = test[1]
                .replace("/run/secrets/", &format!("{}/", secrets_dir.display()))
                .replace("redis-cli", &format!("redis-cli -p {}", redis.port()));
            Command::new("sh")
                .args(["-c", &script])
                .status()
                .unwrap()
                .success()
        };
        assert!(
            shell(&secrets),
            "{file}: Redis's health check fails: {}",
            test[1]
        );
        let bad = tempfile::tempdir().unwrap();
        std::fs::write(bad.path().join("redis_healthcheck_password"), "nope").unwrap();
        assert!(!shell(bad.path()), "{file}: passes with a wrong password");
    }
}

/// `sh docker-entrypoint.sh ARGS` as the container runs it, logged in as
/// `user` (REDIS_USERNAME, REDIS_PASSWORD_FILE), so REDIS_URL is the one
/// the entrypoint builds.
fn through_entrypoint(
    run: &Run,
    redis: &LiveRedis,
    user: &str,
    work: &Path,
    args: &[&str],
) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg(run.path().join("docker-entrypoint.sh"))
        .args(args)
        .current_dir(work)
        .env_remove("REDIS_URL")
        .env("REDIS_HOST", "127.0.0.1")
        .env("REDIS_PORT", redis.port().to_string())
        .env("REDIS_TLS", "false")
        .env("REDIS_USERNAME", user)
        .env(
            "REDIS_PASSWORD_FILE",
            redis.secrets.join(common::redis_acl::password_file(user)),
        );
    cmd
}

const NODE_CONSUMER: &str = r#"
const IORedis = require('ioredis');
const { Worker } = require('bullmq');
const Bull = require('bull');
const url = process.env.REDIS_URL;
if (!url.startsWith('redis://worker:')) throw new Error('REDIS_URL is not the worker user: ' + url.replace(/:[^:@]*@/, ':***@'));
const worker = new Worker('mq-calls', async (job) => ({ doubled: job.data.n * 2, by: 'bullmq' }),
  { connection: new IORedis(url, { maxRetriesPerRequest: null }) });
worker.on('error', (e) => { console.error('bullmq worker:', e); process.exit(2); });
const bull = new Bull('bull-calls', url);
bull.on('error', (e) => { console.error('bull worker:', e); process.exit(2); });
bull.process(async (job) => ({ doubled: job.data.n * 2, by: 'bull' }));
"#;

const NODE_PRODUCER: &str = r#"
const IORedis = require('ioredis');
const { Queue, QueueEvents } = require('bullmq');
const Bull = require('bull');
const url = process.env.REDIS_URL;
const conn = () => new IORedis(url, { maxRetriesPerRequest: null });
(async () => {
  if (!url.startsWith('redis://app:')) throw new Error('REDIS_URL is not the app user');
  const r = {};
  const q = new Queue('mq-calls', { connection: conn() });
  const events = new QueueEvents('mq-calls', { connection: conn() });
  await events.waitUntilReady();
  const jobs = await Promise.all([1, 2, 3].map((n) => q.add('call', { n })));
  r.bullmq = await Promise.all(jobs.map((j) => j.waitUntilFinished(events, 30000)));
  const bq = new Bull('bull-calls', url);
  const bjobs = await Promise.all([1, 2, 3].map((n) => bq.add({ n })));
  r.bull = await Promise.all(bjobs.map((j) => j.finished()));
  // Queues nobody consumes: emptied by the app.
  const idle = new Bull('bull-idle', url);
  await Promise.all([1, 2, 3].map((n) => idle.add({ n })));
  r.bull_idle_before = await idle.getWaitingCount();
  await idle.empty();
  r.bull_idle_after = await idle.getWaitingCount();
  const mqIdle = new Queue('mq-idle', { connection: conn() });
  await Promise.all([1, 2].map((n) => mqIdle.add('call', { n })));
  r.bullmq_idle_before = await mqIdle.getWaitingCount();
  await mqIdle.drain();
  r.bullmq_idle_after = await mqIdle.getWaitingCount();
  console.log(JSON.stringify(r));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
"#;

#[test]
fn bull_and_bullmq_jobs_drain_through_the_acl() {
    let run = init_preset("ringcentral-hold-hunter");
    let redis = LiveRedis::start(&run);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("consumer.cjs"), NODE_CONSUMER).unwrap();
    std::fs::write(work.path().join("producer.cjs"), NODE_PRODUCER).unwrap();
    let node_path = common::hooks::node_modules();
    let _consumer = Server(
        through_entrypoint(
            &run,
            &redis,
            "worker",
            work.path(),
            &["node", "consumer.cjs"],
        )
        .env("NODE_PATH", &node_path)
        .stdin(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let r = run_json(
        through_entrypoint(&run, &redis, "app", work.path(), &["node", "producer.cjs"])
            .env("NODE_PATH", &node_path)
            .stdin(Stdio::null()),
    );
    for (lib, results) in [("bullmq", &r["bullmq"]), ("bull", &r["bull"])] {
        let doubled: Vec<i64> = results
            .as_array()
            .unwrap_or_else(|| panic!("{lib}: {r}"))
            .iter()
            .map(|v| {
                assert_eq!(v["by"], lib, "{r}");
                v["doubled"].as_i64().unwrap()
            })
            .collect();
        assert_eq!(
            doubled,
            [2, 4, 6],
            "{lib} jobs went through the worker: {r}"
        );
    }
    assert_eq!(r["bull_idle_before"], 3, "{r}");
    assert_eq!(r["bull_idle_after"], 0, "Bull's Queue.empty(): {r}");
    assert_eq!(r["bullmq_idle_before"], 2, "{r}");
    assert_eq!(r["bullmq_idle_after"], 0, "{r}");
}

const CELERY_TASKS: &str = r#"
import os
from celery import Celery

app = Celery("tasks", broker=os.environ["REDIS_URL"], backend=os.environ["REDIS_URL"])
app.conf.broker_connection_retry_on_startup = True


@app.task
def add(a, b):
    return a + b
"#;

const CELERY_PRODUCER: &str = r#"
import json, os
assert os.environ["REDIS_URL"].startswith("redis://app:"), "REDIS_URL is not the app user"
from tasks import add
results = [add.delay(i, 10).get(timeout=60) for i in range(3)]
print(json.dumps(results))
"#;

#[test]
fn celery_tasks_drain_through_the_acl() {
    let run = init_preset("fastapi-three-tier");
    assert!(run.read("shipready.toml").contains("kind = \"celery\""));
    let redis = LiveRedis::start(&run);
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("tasks.py"), CELERY_TASKS).unwrap();
    std::fs::write(work.path().join("produce.py"), CELERY_PRODUCER).unwrap();
    // The entrypoint builds REDIS_URL with `python`: the venv's, with Celery.
    let python = common::hooks::python();
    let path = format!(
        "{}:{}",
        python.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let _worker = Server(
        through_entrypoint(
            &run,
            &redis,
            "worker",
            work.path(),
            &[
                "python",
                "-m",
                "celery",
                "-A",
                "tasks",
                "worker",
                "--pool=solo",
                "--without-heartbeat",
                "--without-mingle",
                "--without-gossip",
                "--loglevel=warning",
            ],
        )
        .env("PATH", &path)
        .env("PYTHONPATH", work.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let r = run_json(
        through_entrypoint(&run, &redis, "app", work.path(), &["python", "produce.py"])
            .env("PATH", &path)
            .env("PYTHONPATH", work.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null()),
    );
    assert_eq!(r, serde_json::json!([10, 11, 12]), "Celery results: {r}");
}

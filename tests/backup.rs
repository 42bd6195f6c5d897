//! Backups, for real: every preset's generated scripts back up a Postgres 15
//! and a redis-server started on loopback in temp dirs, with encryption to a
//! fresh age key pair and a local destination; the backups restore with the
//! same data, and verify-backup.sh passes a good backup and fails a
//! truncated, a tampered and a mismatched one.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{free_port, init_preset, presets, require_tool, Server, DOMAIN};
use shipready::preset::Preset;
use shipready::profile::{Layer, Profile};
use tempfile::TempDir;

fn profile_of(preset: &str) -> Profile {
    let set = Layer::from_assignments(&[format!("edge.domain={DOMAIN}")]).unwrap();
    Profile::from_layers(&[Preset::find(preset).unwrap().layer(), set]).unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{:?}: {e}", cmd.get_program()));
    assert!(out.status.success(), "{cmd:?} failed:\n{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A script run with a clean, explicit environment (plus PATH).
fn script(root: &Path, name: &str) -> Command {
    let mut cmd = Command::new("bash");
    cmd.arg(root.join("scripts").join(name)).env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd.env("HOME", std::env::temp_dir());
    cmd
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The timestamp a backup script wrote for `kind`, checked to be fresh.
fn assert_fresh_metric(metrics: &Path, kind: &str) {
    let file = metrics.join(format!("backup_{kind}.prom"));
    let body = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let prefix = format!("backup_last_success_timestamp_seconds{{kind=\"{kind}\"}} ");
    let ts: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no freshness metric in {body}"))
        .trim()
        .parse()
        .unwrap();
    assert!(ts.abs_diff(now()) < 600, "stale timestamp {ts}");
}

struct AgeKeys {
    _dir: TempDir,
    identity: PathBuf,
    recipients: PathBuf,
}

fn age_keys() -> AgeKeys {
    let dir = tempfile::tempdir().unwrap();
    let identity = dir.path().join("backup.key");
    let recipients = dir.path().join("recipients.txt");
    run_ok(
        Command::new(require_tool("age-keygen"))
            .arg("-o")
            .arg(&identity),
    );
    let public = run_ok(
        Command::new(require_tool("age-keygen"))
            .arg("-y")
            .arg(&identity),
    );
    assert!(public.starts_with("age1"), "{public}");
    std::fs::write(&recipients, public).unwrap();
    AgeKeys {
        _dir: dir,
        identity,
        recipients,
    }
}

/// The single file matching `suffix` in `dir`.
fn only_backup(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {suffix} in {}: {found:?}",
        dir.display()
    );
    found[0].clone()
}

fn assert_encrypted(file: &Path, plaintext_marker: &str) {
    let bytes = std::fs::read(file).unwrap();
    assert!(
        bytes.starts_with(b"age-encryption.org/v1\n"),
        "not an age file"
    );
    let hay = String::from_utf8_lossy(&bytes);
    assert!(
        !hay.contains(plaintext_marker),
        "plaintext {plaintext_marker} in the backup"
    );
}

/// A copy of `file` cut to half its length.
fn truncated(file: &Path, dir: &Path) -> PathBuf {
    let bytes = std::fs::read(file).unwrap();
    let out = dir.join("truncated.age");
    std::fs::write(&out, &bytes[..bytes.len() / 2]).unwrap();
    out
}

/// A copy of `file` with one byte of the payload changed.
fn tampered(file: &Path, dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(file).unwrap();
    let i = bytes.len() * 2 / 3;
    bytes[i] ^= 0x01;
    let out = dir.join("tampered.age");
    std::fs::write(&out, bytes).unwrap();
    out
}

/// Decrypt and unpack a backup into `dir`.
fn open_backup(file: &Path, keys: &AgeKeys, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let tar = dir.join("payload.tar");
    run_ok(
        Command::new(require_tool("age"))
            .args(["--decrypt", "--identity"])
            .arg(&keys.identity)
            .arg("--output")
            .arg(&tar)
            .arg(file),
    );
    run_ok(Command::new("tar").arg("-C").arg(dir).arg("-xf").arg(&tar));
    std::fs::remove_file(tar).unwrap();
}

fn running_as_root() -> bool {
    run_ok(Command::new("id").arg("-u")).trim() == "0"
}

// ---------------------------------------------------------------- Postgres

/// A Postgres 15 cluster in a temp dir, on 127.0.0.1, password auth.
/// initdb refuses to run as root, so when the tests are root the server runs
/// as nobody (setpriv). Stopped with `pg_ctl stop` on drop.
struct Postgres {
    dir: TempDir,
    port: u16,
    password_file: PathBuf,
}

const PG_SUPERUSER: &str = "shipready";

impl Postgres {
    fn server_cmd(tool: &str) -> Command {
        let path = require_tool(tool);
        if running_as_root() {
            let mut c = Command::new(require_tool("setpriv"));
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    fn start() -> Postgres {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let data = dir.path().join("data");
        let run = dir.path().join("run");
        for d in [&data, &run] {
            std::fs::create_dir(d).unwrap();
            if running_as_root() {
                std::os::unix::fs::chown(d, Some(65534), Some(65534)).unwrap();
            }
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        let password_file = dir.path().join("pgpass-plain");
        std::fs::write(&password_file, "correct-horse-battery").unwrap();
        std::fs::set_permissions(&password_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let version = run_ok(Self::server_cmd("initdb").arg("--version"));
        assert!(
            version.contains(" 15."),
            "the round trip uses Postgres 15, found {version}"
        );
        run_ok(
            Self::server_cmd("initdb")
                .arg("-D")
                .arg(&data)
                .args(["-U", PG_SUPERUSER, "-A", "scram-sha-256", "--no-sync"])
                .arg(format!("--pwfile={}", password_file.display())),
        );
        let port = free_port();
        run_ok(
            Self::server_cmd("pg_ctl")
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(run.join("server.log"))
                .arg("-o")
                .arg(format!(
                    "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} -c fsync=off",
                    run.display()
                ))
                .args(["-w", "-t", "60", "start"]),
        );
        Postgres {
            dir,
            port,
            password_file,
        }
    }

    /// libpq settings for a client of this server.
    fn env(&self, cmd: &mut Command) {
        cmd.env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", PG_SUPERUSER)
            .env("PGPASSWORD_FILE", &self.password_file)
            .env("PGSSLMODE", "disable")
            .env_remove("PGDATABASE")
            .env_remove("PGPASSWORD");
    }

    fn psql(&self, db: &str, sql: &str) -> String {
        let mut cmd = Command::new(require_tool("psql"));
        self.env(&mut cmd);
        let password = std::fs::read_to_string(&self.password_file).unwrap();
        cmd.env("PGPASSWORD", password).args([
            "--no-psqlrc",
            "-X",
            "-q",
            "-At",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            db,
            "-c",
            sql,
        ]);
        run_ok(&mut cmd).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Self::server_cmd("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// A fingerprint of everything in the test tables.
fn pg_fingerprint(pg: &Postgres, db: &str) -> String {
    pg.psql(
        db,
        "SELECT (SELECT count(*) || ':' || md5(string_agg(i::text, '|' ORDER BY id)) FROM items i) \
         || '/' || (SELECT count(*) || ':' || md5(string_agg(o::text, '|' ORDER BY id)) FROM \"Order\" o) \
         || '/' || (SELECT count(*) FROM empty_table)",
    )
}

#[test]
fn postgres_backup_restores_and_verify_catches_damage_for_every_preset() {
    let pg = Postgres::start();
    let keys = age_keys();
    let mut tested = 0;
    for preset in presets() {
        let profile = profile_of(&preset);
        let run = init_preset(&preset);
        let root = run.path();
        if !profile.postgres.enabled {
            assert!(
                !root.join("scripts/backup-postgres.sh").exists(),
                "{preset}"
            );
            continue;
        }
        tested += 1;
        let db = profile.postgres.database.clone();
        pg.psql("postgres", &format!("CREATE DATABASE {db}"));
        pg.psql(
            &db,
            "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, note text);
             INSERT INTO items (name, note)
               SELECT 'item-' || g, E'line one\\nline two\\ttab ' || g FROM generate_series(1, 2500) g;
             CREATE TABLE \"Order\" (id int PRIMARY KEY, item int REFERENCES items (id), placed timestamptz);
             INSERT INTO \"Order\" VALUES (1, 1, '2026-01-01T00:00:00Z'), (2, 2, NULL), (3, 2500, now());
             CREATE TABLE empty_table (x int);",
        );
        let before = pg_fingerprint(&pg, &db);
        assert!(before.starts_with("2500:"), "{before}");

        let work = tempfile::tempdir().unwrap();
        let dest = work.path().join("backups");
        let metrics = work.path().join("metrics");
        std::fs::create_dir(&metrics).unwrap();

        // Back up: the database name comes from the profile, not the environment.
        let mut backup = script(root, "backup-postgres.sh");
        pg.env(&mut backup);
        if tested == 1 {
            // The command-prefix path the systemd unit uses (docker compose
            // exec there); `env` runs the same tools and passes stdin along.
            backup.env("PG_EXEC", "env LC_ALL=C");
        }
        backup
            .arg(&dest)
            .env("BACKUP_AGE_RECIPIENTS", &keys.recipients)
            .env("BACKUP_METRICS_DIR", &metrics);
        let out = run_ok(&mut backup);
        assert!(out.contains("3 tables"), "{preset}: {out}");
        let file = only_backup(&dest.join("postgres"), ".pgdump.tar.age");
        assert!(file
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&format!("{db}-")));
        assert_encrypted(&file, "item-1");
        assert_fresh_metric(&metrics, "postgres");

        // Restore into a new database and find the same rows.
        let target = format!("{db}_restored");
        let mut restore = script(root, "restore-postgres.sh");
        pg.env(&mut restore);
        restore
            .arg(&file)
            .arg(&target)
            .env("BACKUP_AGE_IDENTITY", &keys.identity);
        run_ok(&mut restore);
        assert_eq!(
            pg_fingerprint(&pg, &target),
            before,
            "{preset}: restored data differs"
        );
        // Restores never overwrite.
        let again = restore.output().unwrap();
        assert!(
            !again.status.success(),
            "{preset}: restore overwrote {target}"
        );
        assert!(text(&again).contains("already exists"), "{}", text(&again));

        let verify = |source: &Path| {
            let mut cmd = script(root, "verify-backup.sh");
            pg.env(&mut cmd);
            cmd.arg(source)
                .env("BACKUP_AGE_IDENTITY", &keys.identity)
                .env("BACKUP_METRICS_DIR", &metrics);
            cmd.output().unwrap()
        };

        // A good backup verifies, by "latest" too.
        let good = verify(&file);
        assert!(good.status.success(), "{preset}: {}", text(&good));
        assert!(
            text(&good).contains("3 tables match the manifest"),
            "{}",
            text(&good)
        );
        let mut latest = script(root, "verify-backup.sh");
        pg.env(&mut latest);
        latest
            .env("BACKUP_AGE_IDENTITY", &keys.identity)
            .env("BACKUP_DEST", &dest);
        run_ok(&mut latest);
        assert!(metrics.join("backup_verify_postgres.prom").exists());

        // Truncated and tampered files fail age's authentication.
        for bad in [truncated(&file, work.path()), tampered(&file, work.path())] {
            let out = verify(&bad);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{preset}: {} passed:\n{}",
                bad.display(),
                text(&out)
            );
            assert!(text(&out).contains("cannot be decrypted"), "{}", text(&out));
        }

        // A well-formed backup whose rows differ from its manifest fails the count check.
        let opened = work.path().join("opened");
        open_backup(&file, &keys, &opened);
        let manifest = std::fs::read_to_string(opened.join("manifest.tsv")).unwrap();
        let edited = manifest.replace("\tpublic.items\t2500\n", "\tpublic.items\t2501\n");
        assert_ne!(
            edited, manifest,
            "manifest lacks the items count:\n{manifest}"
        );
        std::fs::write(opened.join("manifest.tsv"), edited).unwrap();
        let plain = work.path().join("mismatch.tar");
        run_ok(
            Command::new("tar")
                .arg("-C")
                .arg(&opened)
                .arg("-cf")
                .arg(&plain)
                .args(["manifest.tsv", "db.dump"]),
        );
        let mismatch = work.path().join("mismatch.age");
        run_ok(
            Command::new(require_tool("age"))
                .arg("-R")
                .arg(&keys.recipients)
                .arg("-o")
                .arg(&mismatch)
                .arg(&plain),
        );
        let out = verify(&mismatch);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{preset}: mismatch passed:\n{}",
            text(&out)
        );
        assert!(
            text(&out).contains("1 of 3 tables differ"),
            "{}",
            text(&out)
        );

        // Scratch databases are dropped, pass or fail.
        assert_eq!(
            pg.psql(
                "postgres",
                "SELECT count(*) FROM pg_database WHERE datname LIKE 'verify\\_%'"
            ),
            "0"
        );
        // Without the private key, verify is a usage error.
        let mut nokey = script(root, "verify-backup.sh");
        nokey.arg(&file);
        assert_eq!(nokey.output().unwrap().status.code(), Some(2));
    }
    assert!(tested >= 3, "only {tested} presets have Postgres");
}

// ------------------------------------------------------------------- Redis

fn redis_cli(port: u16, password: Option<&str>, args: &[&str]) -> String {
    let mut cmd = Command::new(require_tool("redis-cli"));
    cmd.args([
        "--no-auth-warning",
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ])
    .args(args)
    .env_remove("REDISCLI_AUTH");
    if let Some(pw) = password {
        cmd.env("REDISCLI_AUTH", pw);
    }
    run_ok(&mut cmd).trim().to_string()
}

/// redis-server on 127.0.0.1 with `extra` settings; killed by pid on drop.
fn start_redis(dir: &Path, extra: &[String], password: Option<&str>) -> (Server, u16) {
    let port = free_port();
    let mut cmd = Command::new(require_tool("redis-server"));
    cmd.args([
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--protected-mode",
        "yes",
    ])
    .arg("--dir")
    .arg(dir)
    .args(["--daemonize", "no", "--logfile"])
    .arg(dir.join("redis.log"))
    .args(extra);
    let server = Server(cmd.spawn().expect("redis-server starts"));
    for _ in 0..100 {
        let mut ping = Command::new(require_tool("redis-cli"));
        ping.args(["--no-auth-warning", "-p", &port.to_string(), "PING"]);
        if let Some(pw) = password {
            ping.env("REDISCLI_AUTH", pw);
        }
        if ping
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "PONG")
        {
            return (server, port);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "redis-server did not answer; log:\n{}",
        std::fs::read_to_string(dir.join("redis.log")).unwrap_or_default()
    );
}

#[test]
fn redis_backup_is_a_valid_rdb_that_restores_the_keys_for_every_preset() {
    let keys = age_keys();
    let mut tested = 0;
    for preset in presets() {
        let profile = profile_of(&preset);
        let run = init_preset(&preset);
        let root = run.path();
        if !profile.redis.enabled {
            continue;
        }
        tested += 1;
        let work = tempfile::tempdir().unwrap();
        // The secrets and ACL exactly as the generated init-secrets.sh makes them.
        let secrets = work.path().join("secrets");
        run_ok(
            Command::new("bash")
                .arg(root.join("scripts/init-secrets.sh"))
                .arg(&secrets),
        );
        let password = std::fs::read_to_string(secrets.join("redis_password")).unwrap();
        let data = work.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let (_live, port) = start_redis(
            &data,
            &[
                "--aclfile".into(),
                secrets.join("redis_users.acl").display().to_string(),
                "--appendonly".into(),
                "yes".into(),
                "--save".into(),
                "3600 1".into(),
            ],
            Some(&password),
        );
        // The ACL is in force: the default user may not wipe the store.
        let denied = redis_cli(port, Some(&password), &["FLUSHALL"]);
        assert!(
            denied.contains("NOPERM"),
            "{preset}: FLUSHALL allowed: {denied}"
        );
        assert!(redis_cli(port, None, &["GET", "x"]).contains("NOAUTH"));

        let mut load = String::new();
        for i in 0..400 {
            load.push_str(&format!("SET key:{i} value-{i}\n"));
        }
        load.push_str(
            "RPUSH bull:calls:wait job-1 job-2 job-3\nHSET call:1 from +15550100 status done\n",
        );
        let mut cli = Command::new(require_tool("redis-cli"));
        cli.args(["--no-auth-warning", "-p", &port.to_string()])
            .env("REDISCLI_AUTH", &password)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null());
        let mut child = cli.spawn().unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), load.as_bytes()).unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        assert_eq!(redis_cli(port, Some(&password), &["DBSIZE"]), "402");

        let dest = work.path().join("backups");
        let metrics = work.path().join("metrics");
        std::fs::create_dir(&metrics).unwrap();
        let mut backup = script(root, "backup-redis.sh");
        if tested == 1 {
            backup.env("REDIS_EXEC", "env LC_ALL=C");
        }
        backup
            .arg(&dest)
            .env("REDIS_PORT", port.to_string())
            .env("REDIS_PASSWORD_FILE", secrets.join("redis_password"))
            .env("BACKUP_AGE_RECIPIENTS", &keys.recipients)
            .env("BACKUP_METRICS_DIR", &metrics);
        let out = run_ok(&mut backup);
        assert!(out.contains("402 keys"), "{preset}: {out}");
        let file = only_backup(&dest.join("redis"), ".rdb.tar.age");
        assert_encrypted(&file, "value-1");
        assert_fresh_metric(&metrics, "redis");

        // The RDB inside passes redis-check-rdb ...
        let opened = work.path().join("opened");
        open_backup(&file, &keys, &opened);
        let check =
            run_ok(Command::new(require_tool("redis-check-rdb")).arg(opened.join("dump.rdb")));
        assert!(check.contains("402 keys read"), "{check}");
        // ... and a new redis-server started from it has the keys.
        let restored = work.path().join("restored");
        std::fs::create_dir(&restored).unwrap();
        std::fs::copy(opened.join("dump.rdb"), restored.join("dump.rdb")).unwrap();
        let (_restored, rport) = start_redis(
            &restored,
            &[
                "--appendonly".into(),
                "no".into(),
                "--save".into(),
                "".into(),
            ],
            None,
        );
        assert_eq!(redis_cli(rport, None, &["DBSIZE"]), "402");
        assert_eq!(redis_cli(rport, None, &["GET", "key:399"]), "value-399");
        assert_eq!(
            redis_cli(rport, None, &["LRANGE", "bull:calls:wait", "0", "-1"]),
            "job-1\njob-2\njob-3"
        );
        assert_eq!(
            redis_cli(rport, None, &["HGET", "call:1", "from"]),
            "+15550100"
        );

        // verify-backup.sh passes it and rejects damaged copies.
        let verify = |source: &Path| {
            let mut cmd = script(root, "verify-backup.sh");
            cmd.arg(source).env("BACKUP_AGE_IDENTITY", &keys.identity);
            cmd.output().unwrap()
        };
        let good = verify(&file);
        assert!(good.status.success(), "{preset}: {}", text(&good));
        assert!(text(&good).contains("402 keys"), "{}", text(&good));
        for bad in [truncated(&file, work.path()), tampered(&file, work.path())] {
            let out = verify(&bad);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{preset}: {} passed:\n{}",
                bad.display(),
                text(&out)
            );
        }
    }
    assert_eq!(tested, presets().len(), "every preset has Redis");
}

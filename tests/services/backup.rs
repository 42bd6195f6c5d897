//! Backups, for real: every preset's generated scripts back up a Postgres 15
//! and a redis-server started on loopback in temp dirs, with encryption to a
//! fresh age key pair and a local destination; the backups restore with the
//! same data, and verify-backup.sh passes a good backup and fails a
//! truncated, a tampered and a mismatched one. verify-backup.sh checks every
//! table when its PG_EXEC forwards stdin (as `docker compose exec -T` does),
//! and its "latest" mode fails when a kind the profile backs up is missing,
//! too old, or cannot be listed. The Redis RDB is checked with the server
//! image's redis-check-rdb by default (REDIS_CHECK_RDB overrides it here:
//! this host's redis-check-rdb is the version of this host's redis-server).
//! The systemd units run each kind on its own, and the runbook's Redis
//! restore procedure is run against a real redis-server.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::postgres::Postgres;
use common::{
    free_port, init_preset, path_with, presets, profile_of, require_tool, run_ok, Server,
};
use shipready::profile::{Profile, RedisRole};
use tempfile::TempDir;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
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

/// Re-encrypt an opened backup (`opened` holds manifest.tsv and `payload`)
/// to the test key, as the backup scripts would have written it.
fn repack(opened: &Path, payload: &str, keys: &AgeKeys, out: &Path) {
    let plain = out.with_extension("tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(opened)
            .arg("-cf")
            .arg(&plain)
            .args(["manifest.tsv", payload]),
    );
    run_ok(
        Command::new(require_tool("age"))
            .arg("-R")
            .arg(&keys.recipients)
            .arg("-o")
            .arg(out)
            .arg(&plain),
    );
    std::fs::remove_file(plain).unwrap();
}

/// Replace the `key` line of an opened backup's manifest.
fn set_manifest_value(opened: &Path, key: &str, value: &str) {
    let path = opened.join("manifest.tsv");
    let manifest = std::fs::read_to_string(&path).unwrap();
    let prefix = format!("{key}\t");
    assert!(
        manifest.lines().any(|l| l.starts_with(&prefix)),
        "no {key} in the manifest:\n{manifest}"
    );
    let edited: String = manifest
        .lines()
        .map(|l| {
            if l.starts_with(&prefix) {
                format!("{prefix}{value}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(path, edited).unwrap();
}

/// An executable script named `name` in `dir`.
fn write_exec(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(name);
    common::write_exec(&path, body);
    path
}

/// A PG_EXEC / REDIS_EXEC prefix that behaves like `docker compose exec -T`:
/// it copies all of its stdin to the command, whether the command reads it
/// or not. Checked here to really swallow a loop's input.
fn stdin_forwarding_exec(dir: &Path) -> PathBuf {
    let path = write_exec(
        dir,
        "forward-stdin",
        "#!/bin/sh\n# Like `docker compose exec -T`: all of stdin goes to the command.\ncat | \"$@\"\n",
    );
    let out = run_ok(Command::new("bash").arg("-c").arg(format!(
        "printf '1\\n2\\n3\\n' | while read -r n; do echo \"$n\"; '{}' true; done",
        path.display()
    )));
    assert_eq!(out, "1\n", "the wrapper must consume the rest of stdin");
    path
}

/// REDIS_CHECK_RDB for the tests: this host's redis-check-rdb (the version
/// of this host's redis-server), logging each call so the tests can see the
/// override was used.
fn logged_check_rdb(dir: &Path) -> (PathBuf, PathBuf) {
    let log = dir.join("check-rdb.log");
    let body = format!(
        "#!/bin/sh\nprintf '%s\\n' \"$*\" >>'{}'\nexec '{}' \"$@\"\n",
        log.display(),
        require_tool("redis-check-rdb").display()
    );
    (write_exec(dir, "check-rdb-logged", &body), log)
}

fn read_or_empty(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Kinds of backup the profile schedules: Postgres, and Redis unless it is a cache.
fn scheduled_kinds(profile: &Profile) -> Vec<&'static str> {
    let mut kinds = Vec::new();
    if profile.postgres.enabled {
        kinds.push("postgres");
    }
    if profile.redis.enabled && profile.redis.role != RedisRole::Cache {
        kinds.push("redis");
    }
    kinds
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
    let bin = tempfile::tempdir().unwrap();
    let forward = stdin_forwarding_exec(bin.path());
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
             CREATE TABLE empty_table (x int);
             CREATE TABLE \"call log\" (id int, note text);
             INSERT INTO \"call log\" VALUES (1, 'a'), (2, 'b');",
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
        // The plaintext dump: where it is while the script runs.
        let tmp = work.path().join("tmp");
        std::fs::create_dir(&tmp).unwrap();
        let modes = work.path().join("modes.log");
        match tested {
            // The command-prefix path the systemd unit uses (docker compose
            // exec there); `env` runs the same tools and passes stdin along.
            1 => {
                backup.env("PG_EXEC", "env LC_ALL=C");
            }
            // A prefix that forwards stdin, as `docker compose exec -T` does.
            2 => {
                backup.env("PG_EXEC", &forward);
            }
            // A prefix that records the temp directory's and the dump's
            // modes when the dump is read back, halfway through the run.
            _ => {
                let recorder = write_exec(
                    work.path(),
                    "record-modes",
                    &format!(
                        "#!/bin/sh\nif [ \"$1\" = pg_restore ]; then stat -c '%a %n' '{tmp}'/backup-postgres.* '{tmp}'/backup-postgres.*/db.dump >>'{log}'; fi\nexec \"$@\"\n",
                        tmp = tmp.display(),
                        log = modes.display()
                    ),
                );
                backup.env("PG_EXEC", recorder);
            }
        }
        backup
            .arg(&dest)
            .env("TMPDIR", &tmp)
            .env("BACKUP_AGE_RECIPIENTS", &keys.recipients)
            .env("BACKUP_METRICS_DIR", &metrics);
        let out = run_ok(&mut backup);
        assert!(out.contains("4 tables"), "{preset}: {out}");
        if tested >= 3 {
            // The header's promise: mode 700 directory, 600 dump, deleted.
            let seen = std::fs::read_to_string(&modes).unwrap();
            let got: Vec<&str> = seen.lines().map(|l| l.split(' ').next().unwrap()).collect();
            assert_eq!(got, ["700", "600"], "{preset}: {seen}");
        }
        assert_eq!(
            std::fs::read_dir(&tmp).unwrap().count(),
            0,
            "{preset}: the temp directory with the plaintext dump was left behind"
        );
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

        // Every verify runs its psql through a PG_EXEC that forwards stdin,
        // as `docker compose exec -T postgres` does.
        let verify = |source: &Path| {
            let mut cmd = script(root, "verify-backup.sh");
            pg.env(&mut cmd);
            cmd.arg(source)
                .env("PG_EXEC", &forward)
                .env("BACKUP_AGE_IDENTITY", &keys.identity)
                .env("BACKUP_METRICS_DIR", &metrics);
            cmd.output().unwrap()
        };

        // A good backup verifies, every table of it.
        let good = verify(&file);
        assert!(good.status.success(), "{preset}: {}", text(&good));
        assert!(
            text(&good).contains("4 tables match the manifest"),
            "{preset}: not every table was checked:\n{}",
            text(&good)
        );
        for table in [
            "public.items",
            "public.\"Order\"",
            "public.empty_table",
            "public.\"call log\"",
        ] {
            assert!(
                text(&good).contains(&format!("  ok    {table} ")),
                "{preset}: {table} not checked:\n{}",
                text(&good)
            );
        }
        assert!(metrics.join("backup_verify_postgres.prom").exists());
        // "latest" finds it, and fails when a kind the profile backs up has
        // no backup: here Redis, where it is a queue or the primary store.
        let mut latest = script(root, "verify-backup.sh");
        pg.env(&mut latest);
        latest
            .env("PG_EXEC", &forward)
            .env("BACKUP_AGE_IDENTITY", &keys.identity)
            .env("BACKUP_DEST", &dest);
        let out = latest.output().unwrap();
        if scheduled_kinds(&profile).contains(&"redis") {
            assert_eq!(
                out.status.code(),
                Some(1),
                "{preset}: latest passed without a Redis backup:\n{}",
                text(&out)
            );
            assert!(text(&out).contains("no redis backup"), "{}", text(&out));
        } else {
            assert!(out.status.success(), "{preset}: {}", text(&out));
            assert!(
                text(&out).contains("4 tables match the manifest"),
                "{}",
                text(&out)
            );
        }

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
        assert!(manifest.contains("\ntables\t4\n"), "{manifest}");
        let edited = manifest.replace("\tpublic.items\t2500\n", "\tpublic.items\t2501\n");
        assert_ne!(
            edited, manifest,
            "manifest lacks the items count:\n{manifest}"
        );
        std::fs::write(opened.join("manifest.tsv"), &edited).unwrap();
        let mismatch = work.path().join("mismatch.age");
        repack(&opened, "db.dump", &keys, &mismatch);
        let out = verify(&mismatch);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{preset}: mismatch passed:\n{}",
            text(&out)
        );
        assert!(
            text(&out).contains("1 of 4 tables differ"),
            "{}",
            text(&out)
        );

        // A manifest that lists no table proves nothing: it fails.
        let no_tables: String = manifest
            .lines()
            .filter(|l| !l.starts_with("table\t") && !l.starts_with("tables\t"))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(opened.join("manifest.tsv"), no_tables).unwrap();
        let empty = work.path().join("no-tables.age");
        repack(&opened, "db.dump", &keys, &empty);
        let out = verify(&empty);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{preset}: a manifest without tables passed:\n{}",
            text(&out)
        );
        assert!(text(&out).contains("lists no tables"), "{}", text(&out));

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

/// A redis-server in `work/<data>` with the secrets and ACL exactly as the
/// generated init-secrets.sh makes them (in `work/secrets`), killed by pid
/// on drop. Clients log in as the ACL user their role names.
struct GeneratedRedis {
    _server: Server,
    port: u16,
    /// The default user's password: it may only PING.
    default_password: String,
    secrets: PathBuf,
}

impl GeneratedRedis {
    fn start(root: &Path, work: &Path, data: &str, extra: &[&str]) -> GeneratedRedis {
        let secrets = work.join("secrets");
        run_ok(
            Command::new("bash")
                .arg(root.join("scripts/init-secrets.sh"))
                .arg(&secrets),
        );
        let default_password = std::fs::read_to_string(secrets.join("redis_password")).unwrap();
        let dir = work.join(data);
        std::fs::create_dir(&dir).unwrap();
        let mut args = vec![
            "--aclfile".to_string(),
            secrets.join("redis_users.acl").display().to_string(),
        ];
        args.extend(extra.iter().map(|a| a.to_string()));
        let (server, port) = start_redis(&dir, &args, Some(&default_password));
        GeneratedRedis {
            _server: server,
            port,
            default_password,
            secrets,
        }
    }

    /// `redis-cli` as `user`, with that user's generated password.
    fn cli_as(&self, user: &str, args: &[&str]) -> String {
        let file = if user == "default" {
            "redis_password".to_string()
        } else {
            format!("redis_{user}_password")
        };
        let password = std::fs::read_to_string(self.secrets.join(file)).unwrap();
        let mut full = vec!["--user", user];
        full.extend_from_slice(args);
        redis_cli(self.port, Some(&password), &full)
    }

    /// Data goes in as the app's ACL user: the others have no key access.
    fn as_app(&self, args: &[&str]) -> String {
        self.cli_as("app", args)
    }

    /// scripts/backup-redis.sh to `dest` against this server, logging in
    /// with the backup user's password file as the script does by default.
    fn backup(&self, root: &Path, dest: &Path, keys: &AgeKeys, metrics: &Path) -> Command {
        let mut cmd = script(root, "backup-redis.sh");
        cmd.arg(dest)
            .env("REDIS_PORT", self.port.to_string())
            .env(
                "REDIS_PASSWORD_FILE",
                self.secrets.join("redis_backup_password"),
            )
            .env("BACKUP_AGE_RECIPIENTS", &keys.recipients)
            .env("BACKUP_METRICS_DIR", metrics);
        cmd
    }
}

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
        let image = shipready::images::images(&profile).redis;
        assert_default_checker_is_the_image(root, &image, &preset);
        let work = tempfile::tempdir().unwrap();
        let (check_rdb, check_log) = logged_check_rdb(work.path());
        let redis = GeneratedRedis::start(
            root,
            work.path(),
            "data",
            &["--appendonly", "yes", "--save", "3600 1"],
        );
        let port = redis.port;
        // The ACL is in force: neither the default nor the backup user may
        // wipe the store or read it.
        for user in ["default", "backup"] {
            for cmd in [&["FLUSHALL"][..], &["GET", "key:1"]] {
                let denied = redis.cli_as(user, cmd);
                assert!(
                    denied.contains("NOPERM"),
                    "{preset}: {user} {cmd:?} allowed: {denied}"
                );
            }
        }
        assert!(redis_cli(port, None, &["GET", "x"]).contains("NOAUTH"));

        let mut load = String::new();
        for i in 0..400 {
            load.push_str(&format!("SET key:{i} value-{i}\n"));
        }
        load.push_str(
            "RPUSH bull:calls:wait job-1 job-2 job-3\nHSET call:1 from +15550100 status done\n",
        );
        // Data goes in as the app's ACL user: the others have no key access.
        let mut cli = Command::new(require_tool("redis-cli"));
        cli.args([
            "--no-auth-warning",
            "--user",
            "app",
            "-p",
            &port.to_string(),
        ])
        .env(
            "REDISCLI_AUTH",
            std::fs::read_to_string(redis.secrets.join("redis_app_password")).unwrap(),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null());
        let mut child = cli.spawn().unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), load.as_bytes()).unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        assert_eq!(redis.as_app(&["DBSIZE"]), "402");

        let dest = work.path().join("backups");
        let metrics = work.path().join("metrics");
        std::fs::create_dir(&metrics).unwrap();
        let backup_to = |dest: &Path| {
            let mut backup = redis.backup(root, dest, &keys, &metrics);
            match tested {
                1 => {
                    backup.env("REDIS_EXEC", "env LC_ALL=C");
                }
                // Forwarding stdin, as `docker compose exec -T redis` does.
                2 => {
                    backup.env("REDIS_EXEC", stdin_forwarding_exec(work.path()));
                }
                _ => {}
            }
            backup
        };
        if tested == 1 {
            // Without REDIS_CHECK_RDB the script runs the image's checker:
            // a stand-in `docker` checks it is asked for exactly that and
            // runs this host's checker on the same stdin.
            let bin = work.path().join("bin");
            std::fs::create_dir(&bin).unwrap();
            let docker_log = work.path().join("docker.log");
            write_exec(
                &bin,
                "docker",
                &format!(
                    "#!/bin/sh\nprintf '%s\\n' \"$@\" >'{log}'\nfor last; do :; done\nexec '{real}' \"$last\"\n",
                    log = docker_log.display(),
                    real = require_tool("redis-check-rdb").display()
                ),
            );
            let out = run_ok(
                backup_to(&work.path().join("default-checker")).env("PATH", path_with(&bin)),
            );
            assert!(out.contains("402 keys"), "{preset}: {out}");
            let args = std::fs::read_to_string(&docker_log).unwrap();
            let args: Vec<&str> = args.lines().collect();
            assert_eq!(args[0], "run", "{args:?}");
            for flag in ["--rm", "-i"] {
                assert!(args.contains(&flag), "{flag} missing: {args:?}");
            }
            assert!(
                args.windows(2).any(|w| w == ["--network", "none"]),
                "the checker must have no network: {args:?}"
            );
            assert_eq!(
                args[args.len() - 3..],
                [image.as_str(), "redis-check-rdb", "/dev/stdin"],
                "{preset}: not the image compose runs: {args:?}"
            );
            assert!(
                read_or_empty(&check_log).is_empty(),
                "the override ran without being set"
            );
        }
        let out = run_ok(backup_to(&dest).env("REDIS_CHECK_RDB", &check_rdb));
        assert!(out.contains("402 keys"), "{preset}: {out}");
        assert_eq!(
            read_or_empty(&check_log),
            "/dev/stdin\n",
            "{preset}: REDIS_CHECK_RDB was not used"
        );
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
            cmd.arg(source)
                .env("BACKUP_AGE_IDENTITY", &keys.identity)
                .env("REDIS_CHECK_RDB", &check_rdb);
            cmd.output().unwrap()
        };
        let good = verify(&file);
        assert!(good.status.success(), "{preset}: {}", text(&good));
        assert!(text(&good).contains("402 keys"), "{}", text(&good));
        assert_eq!(
            read_or_empty(&check_log),
            "/dev/stdin\n/dev/stdin\n",
            "{preset}: verify did not use REDIS_CHECK_RDB"
        );
        // "latest" verifies it, and fails when Postgres, which this
        // profile also backs up, has no backup next to it.
        let mut latest = script(root, "verify-backup.sh");
        latest
            .env("BACKUP_AGE_IDENTITY", &keys.identity)
            .env("REDIS_CHECK_RDB", &check_rdb)
            .env("BACKUP_DEST", &dest);
        let out = latest.output().unwrap();
        if profile.postgres.enabled {
            assert_eq!(
                out.status.code(),
                Some(1),
                "{preset}: latest passed without a Postgres backup:\n{}",
                text(&out)
            );
            assert!(text(&out).contains("no postgres backup"), "{}", text(&out));
        } else {
            assert!(out.status.success(), "{preset}: {}", text(&out));
            assert!(text(&out).contains("402 keys"), "{}", text(&out));
        }
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

/// The rendered scripts check the RDB with the server image's own
/// redis-check-rdb unless REDIS_CHECK_RDB says otherwise, and no longer
/// send the operator to Debian's (older) redis-tools.
fn assert_default_checker_is_the_image(root: &Path, image: &str, preset: &str) {
    for name in ["backup-redis.sh", "verify-backup.sh"] {
        let body = std::fs::read_to_string(root.join("scripts").join(name)).unwrap();
        let default = body
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("check_rdb=("))
            .unwrap_or_else(|| panic!("{preset}/{name}: no default checker"));
        assert!(
            default.starts_with("check_rdb=(docker run --rm -i --network none ")
                && default.ends_with(&format!(" {image} redis-check-rdb)")),
            "{preset}/{name}: {default}"
        );
        assert!(
            body.contains("read -r -a check_rdb <<<\"$REDIS_CHECK_RDB\""),
            "{preset}/{name}: no REDIS_CHECK_RDB override"
        );
        assert!(!body.contains("redis-tools)\""), "{preset}/{name}");
        assert!(
            !body
                .lines()
                .any(|l| !l.trim_start().starts_with('#') && l.contains("$(redis-check-rdb ")),
            "{preset}/{name} still runs the host's redis-check-rdb"
        );
    }
}

// ------------------------------------------------------- verify "latest"

/// A stand-in for the aws CLI over a bucket kept in `root`, with its exit
/// codes (checked against the real CLI): `aws s3 ls` exits 0 with a
/// listing, 1 with no output when nothing is under the prefix, 255 with a
/// message on an error; a file `FAIL-KIND` in `root` makes listing KIND fail.
/// `aws s3 cp` copies either way and logs its arguments to `root/aws.log`.
fn fake_aws(bin: &Path, root: &Path) {
    write_exec(
        bin,
        "aws",
        &format!(
            r#"#!/bin/bash
root='{root}'
[ "$1" = s3 ] || exit 252
case "$2" in
ls)
  for marker in "$root"/FAIL-*; do
    [ -e "$marker" ] || continue
    case "$3" in */"${{marker##*/FAIL-}}"/)
      echo "An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied" >&2
      exit 255 ;;
    esac
  done
  dir="$root/${{3#s3://}}"
  found=0
  for f in "$dir"*; do
    [ -f "$f" ] || continue
    printf '2026-12-01 08:00:00 %10d %s\n' "$(wc -c <"$f")" "${{f##*/}}"
    found=1
  done
  [ "$found" = 1 ] || exit 1 ;;
cp)
  echo "aws $*" >> "$root/aws.log"
  shift 2
  while [ "${{1#--}}" != "$1" ]; do
    case "$1" in --only-show-errors) shift ;; *) shift 2 ;; esac
  done
  case "$2" in
    s3://*) mkdir -p "$(dirname "$root/${{2#s3://}}")" && cp "$1" "$root/${{2#s3://}}" ;;
    *) cp "$root/${{1#s3://}}" "$2" ;;
  esac ;;
*) exit 252 ;;
esac
"#,
            root = root.display()
        ),
    );
}

#[test]
fn latest_verifies_every_kind_the_profile_backs_up_and_fails_on_any_gap() {
    let preset = "twilio-voice";
    let profile = profile_of(preset);
    assert_eq!(scheduled_kinds(&profile), ["postgres", "redis"]);
    let run = init_preset(preset);
    let root = run.path();
    let keys = age_keys();
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("backups");
    let (check_rdb, _) = logged_check_rdb(work.path());

    // One backup of each kind, into the same destination.
    let pg = Postgres::start();
    let db = profile.postgres.database.clone();
    pg.psql("postgres", &format!("CREATE DATABASE {db}"));
    pg.psql(
        &db,
        "CREATE TABLE a (x int); INSERT INTO a SELECT generate_series(1, 10);
         CREATE TABLE b (y text); INSERT INTO b VALUES ('one'), ('two');
         CREATE TABLE c (z int);",
    );
    let mut backup = script(root, "backup-postgres.sh");
    pg.env(&mut backup);
    backup
        .arg(&dest)
        .env("BACKUP_AGE_RECIPIENTS", &keys.recipients)
        .env("BACKUP_METRICS_DIR", work.path());
    run_ok(&mut backup);
    let redis = GeneratedRedis::start(root, work.path(), "redis", &[]);
    assert_eq!(redis.as_app(&["SET", "job:1", "queued"]), "OK");
    run_ok(
        redis
            .backup(root, &dest, &keys, work.path())
            .env("REDIS_CHECK_RDB", &check_rdb),
    );

    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let bucket = work.path().join("s3");
    fake_aws(&bin, &bucket);
    let latest = |dest: &std::ffi::OsStr, extra: &[(&str, &str)]| {
        let mut cmd = script(root, "verify-backup.sh");
        pg.env(&mut cmd);
        cmd.env("PATH", path_with(&bin))
            .env("BACKUP_AGE_IDENTITY", &keys.identity)
            .env("REDIS_CHECK_RDB", &check_rdb)
            .env("BACKUP_DEST", dest);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let passes = |out: &Output| {
        assert!(out.status.success(), "{}", text(out));
        assert!(
            text(out).contains("3 tables match the manifest"),
            "{}",
            text(out)
        );
        assert!(text(out).contains("with 1 keys"), "{}", text(out));
    };
    let fails = |out: &Output, why: &str| {
        assert_eq!(out.status.code(), Some(1), "passed:\n{}", text(out));
        assert!(text(out).contains(why), "not '{why}':\n{}", text(out));
    };

    // Both kinds present: both verified, locally and from S3.
    passes(&latest(dest.as_os_str(), &[]));
    let prefix = bucket.join("bk-bucket/voice");
    for kind in ["postgres", "redis"] {
        std::fs::create_dir_all(prefix.join(kind)).unwrap();
        for e in std::fs::read_dir(dest.join(kind)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), prefix.join(kind).join(e.file_name())).unwrap();
        }
    }
    let s3 = std::ffi::OsString::from("s3://bk-bucket/voice");
    passes(&latest(&s3, &[]));

    // Listing one kind fails: that is an error, not "no backup".
    std::fs::write(bucket.join("FAIL-redis"), "").unwrap();
    fails(&latest(&s3, &[]), "AccessDenied");
    std::fs::remove_file(bucket.join("FAIL-redis")).unwrap();
    std::fs::write(bucket.join("FAIL-postgres"), "").unwrap();
    fails(&latest(&s3, &[]), "AccessDenied");
    std::fs::remove_file(bucket.join("FAIL-postgres")).unwrap();

    // An empty listing is "none", which fails for either kind.
    let pg_objects = prefix.join("postgres");
    let parked = work.path().join("parked");
    std::fs::rename(&pg_objects, &parked).unwrap();
    fails(&latest(&s3, &[]), "no postgres backup");
    std::fs::rename(&parked, &pg_objects).unwrap();
    std::fs::rename(prefix.join("redis"), &parked).unwrap();
    fails(&latest(&s3, &[]), "no redis backup");
    std::fs::rename(&parked, prefix.join("redis")).unwrap();
    passes(&latest(&s3, &[]));

    // A newest backup older than the schedule allows fails; the limit is
    // backup.interval_hours + 1 (BackupTooOld's), and 0 turns it off.
    let file = only_backup(&dest.join("postgres"), ".pgdump.tar.age");
    let opened = work.path().join("opened");
    open_backup(&file, &keys, &opened);
    let three_days_ago =
        run_ok(Command::new("date").args(["-u", "-d", "3 days ago", "+%Y%m%dT%H%M%SZ"]));
    set_manifest_value(&opened, "created", three_days_ago.trim());
    repack(
        &opened,
        "db.dump",
        &keys,
        &dest.join(format!("postgres/{db}-29991231T000000Z.pgdump.tar.age")),
    );
    let out = latest(dest.as_os_str(), &[]);
    fails(
        &out,
        &format!("more than {} h", profile.backup.interval_hours + 1),
    );
    passes(&latest(dest.as_os_str(), &[("BACKUP_MAX_AGE_HOURS", "0")]));
    passes(&latest(
        dest.as_os_str(),
        &[("BACKUP_MAX_AGE_HOURS", "100")],
    ));
}

// ---------------------------------------------------------------- systemd

#[test]
fn each_kind_of_backup_runs_as_its_own_systemd_unit_and_timer() {
    use std::os::unix::fs::PermissionsExt;
    for preset in presets() {
        let profile = profile_of(&preset);
        let run = init_preset(&preset);
        let name = &profile.service.name;
        let kinds = scheduled_kinds(&profile);
        let systemd = run.path().join("deploy/systemd");
        for old in ["backup.service", "backup.timer"] {
            assert!(!systemd.join(old).exists(), "{preset}: {old} is back");
        }
        if kinds.is_empty() {
            assert!(!systemd.exists(), "{preset}");
            continue;
        }
        let unit = run.read("deploy/systemd/backup@.service");
        let lines: Vec<&str> = unit.lines().collect();
        // One script per instance, so a failing kind cannot skip another.
        let exec: Vec<&&str> = lines
            .iter()
            .filter(|l| l.starts_with("ExecStart"))
            .collect();
        assert_eq!(
            exec,
            [&format!("ExecStart=/opt/{name}/scripts/backup-%i.sh").as_str()],
            "{preset}: {unit}"
        );
        for want in ["Type=oneshot", "PrivateTmp=true"] {
            assert!(lines.contains(&want), "{preset}: no {want}");
        }
        for kind in &kinds {
            // What %i resolves to exists and can run.
            let script = run.path().join(format!("scripts/backup-{kind}.sh"));
            let mode = std::fs::metadata(&script)
                .unwrap_or_else(|e| panic!("{preset}: {}: {e}", script.display()))
                .permissions()
                .mode();
            assert_ne!(
                mode & 0o111,
                0,
                "{preset}: {} is not executable",
                script.display()
            );
        }
        let timers: Vec<String> = kinds
            .iter()
            .map(|k| format!("{name}-backup@{k}.timer"))
            .collect();
        let services: Vec<String> = kinds
            .iter()
            .map(|k| format!("{name}-backup@{k}.service"))
            .collect();
        let listed = |text: &str, cmd: &str, suffix: &str| -> Vec<String> {
            let line = text
                .lines()
                .find(|l| l.contains(cmd))
                .unwrap_or_else(|| panic!("{preset}: no `{cmd}` in\n{text}"));
            line.split(|c: char| c.is_whitespace() || c == '`')
                .filter(|w| w.ends_with(suffix))
                .map(String::from)
                .collect()
        };
        assert_eq!(
            listed(&unit, "systemctl enable --now", ".timer"),
            timers,
            "{preset}"
        );
        assert_eq!(
            listed(&unit, "Run once by hand: systemctl start", ".service"),
            services,
            "{preset}"
        );
        let timer = run.read("deploy/systemd/backup@.timer");
        assert!(
            !timer.lines().any(|l| l.starts_with("Unit=")),
            "{preset}: each timer instance must start its own service"
        );
        assert!(
            timer.contains("\n[Install]\nWantedBy=timers.target"),
            "{preset}"
        );

        // The runbook's systemctl commands name the instances.
        let runbook = run.read("docs/RUNBOOK.md");
        assert!(
            !runbook.contains(&format!("{name}-backup.service"))
                && !runbook.contains(&format!("{name}-backup.timer")),
            "{preset}: the runbook names the old unit"
        );
        assert_eq!(
            listed(&runbook, "systemctl enable --now", ".timer"),
            timers,
            "{preset}"
        );
        assert_eq!(
            listed(&runbook, "confirm a first run of each kind", ".service"),
            services,
            "{preset}"
        );
        assert!(
            runbook.contains(&format!("systemctl status {name}-backup@KIND.service")),
            "{preset}"
        );
    }
}

// ---------------------------------------------------------------- runbook

#[test]
fn the_runbook_rpo_text_follows_the_stores_of_the_profile() {
    for preset in presets() {
        let profile = profile_of(&preset);
        let runbook = init_preset(&preset).read("docs/RUNBOOK.md");
        let dr = &runbook[runbook.find("## Restore and disaster recovery").unwrap()..];
        let postgres_text = ["WAL", "RDS", "oint-in-time", "A dump every"];
        for t in postgres_text {
            assert_eq!(
                dr.contains(t),
                profile.postgres.enabled,
                "{preset}: '{t}' in the restore section: {}",
                profile.postgres.enabled
            );
        }
        let persistent = profile.redis.enabled && profile.redis.role != RedisRole::Cache;
        for t in ["appendfsync everysec", "ElastiCache", "snapshot"] {
            assert_eq!(dr.contains(t), persistent, "{preset}: '{t}'");
        }
        if persistent {
            let interval = format!("every {} h", profile.backup.interval_hours);
            assert!(dr.contains(&interval), "{preset}: {interval}");
            assert!(
                dr.contains(&format!("RPO of {} h", profile.backup.rpo_hours)),
                "{preset}"
            );
        }
    }
}

/// The commands of the runbook's Redis restore, from loading the RDB to
/// shutting the restore server down, run against a real redis-server: the
/// AOF they leave behind holds every key, so Redis with appendonly yes
/// (as deploy/redis/redis.conf runs it) starts with the data.
#[test]
fn the_runbook_redis_restore_waits_for_the_aof_rewrite_and_keeps_the_data() {
    let runbook = init_preset("ringcentral-hold-hunter").read("docs/RUNBOOK.md");
    let section = &runbook[runbook.find("### Restore Redis from an RDB").unwrap()..];
    let block = &section[section.find("```sh\n").unwrap() + 6..];
    let block = &block[..block.find("```").unwrap()];
    assert!(
        !block.contains("sleep 5"),
        "a fixed sleep does not wait for the rewrite:\n{block}"
    );
    let prefix = "docker exec redis-restore redis-cli";
    let start = block
        .find("rcli() {")
        .unwrap_or_else(|| panic!("no rcli helper:\n{block}"));
    let end = block[start..].find("rcli SHUTDOWN NOSAVE").unwrap() + start;
    let steps = &block[start..end + "rcli SHUTDOWN NOSAVE".len()];
    assert!(steps.contains(prefix), "{steps}");
    assert!(steps.contains("aof_rewrite_in_progress"), "{steps}");

    // A dataset large enough that the rewrite takes a while.
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let (mut seed, port) = start_redis(
        &data,
        &[
            "--enable-debug-command".into(),
            "yes".into(),
            "--save".into(),
            "".into(),
        ],
        None,
    );
    redis_cli(port, None, &["DEBUG", "POPULATE", "300000"]);
    redis_cli(port, None, &["SAVE"]);
    redis_cli(port, None, &["SHUTDOWN", "NOSAVE"]);
    seed.0.wait().unwrap();

    // The restore server, as the runbook starts it.
    let (mut restore, port) = start_redis(
        &data,
        &[
            "--appendonly".into(),
            "no".into(),
            "--save".into(),
            "".into(),
        ],
        None,
    );
    let cli = format!("'{}' -p {port}", require_tool("redis-cli").display());
    let out = Command::new("bash")
        .args(["-e", "-o", "pipefail", "-c"])
        .arg(steps.replace(prefix, &cli))
        .output()
        .unwrap();
    assert!(out.status.success(), "{steps}\n{}", text(&out));
    assert!(text(&out).contains("300000"), "DBSIZE: {}", text(&out));
    assert!(
        text(&out).contains("aof_last_bgrewrite_status:ok"),
        "{}",
        text(&out)
    );
    restore.0.wait().unwrap();

    // Redis as production runs it, from the AOF alone.
    std::fs::remove_file(data.join("dump.rdb")).unwrap();
    let (_prod, port) = start_redis(
        &data,
        &[
            "--appendonly".into(),
            "yes".into(),
            "--appenddirname".into(),
            "appendonlydir".into(),
        ],
        None,
    );
    assert_eq!(redis_cli(port, None, &["DBSIZE"]), "300000");
}

/// Uploads name a KMS key only when BACKUP_KMS_KEY_ID gives one: S3 takes
/// `--sse aws:kms` without a key id to mean the AWS-managed aws/s3 key, not
/// the bucket's default (the environment's key), which applies when no
/// encryption header is sent (the bucket policy allows that, IfExists).
#[test]
fn uploads_use_the_buckets_key_unless_told_another() {
    let preset = "twilio-voice";
    let profile = profile_of(preset);
    let run = init_preset(preset);
    let root = run.path();
    let keys = age_keys();
    let work = tempfile::tempdir().unwrap();
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let bucket = work.path().join("s3");
    std::fs::create_dir(&bucket).unwrap();
    fake_aws(&bin, &bucket);
    let pg = Postgres::start();
    let db = profile.postgres.database.clone();
    pg.psql("postgres", &format!("CREATE DATABASE {db}"));
    pg.psql(&db, "CREATE TABLE a (x int); INSERT INTO a VALUES (1);");
    for key in [None, Some("arn:aws:kms:us-east-1:123456789012:key/k")] {
        let _ = std::fs::remove_file(bucket.join("aws.log"));
        let mut backup = script(root, "backup-postgres.sh");
        pg.env(&mut backup);
        backup
            .arg("s3://backups/voice")
            .env("PATH", path_with(&bin))
            .env("BACKUP_AGE_RECIPIENTS", &keys.recipients)
            .env("BACKUP_METRICS_DIR", work.path());
        if let Some(k) = key {
            backup.env("BACKUP_KMS_KEY_ID", k);
        }
        run_ok(&mut backup);
        let log = std::fs::read_to_string(bucket.join("aws.log")).unwrap();
        let upload = log
            .lines()
            .find(|l| l.contains(" s3://backups/voice/postgres/"))
            .unwrap();
        match key {
            None => assert!(!upload.contains("--sse"), "{upload}"),
            Some(k) => assert!(
                upload.contains(&format!("--sse aws:kms --sse-kms-key-id {k}")),
                "{upload}"
            ),
        }
    }
}

/// A BGSAVE that fails is reported as soon as Redis says so, not after the
/// 600 s wait; a copy that fails leaves no `.partial` file, and a leftover
/// of a killed run is removed by the next run's retention.
#[test]
fn redis_backup_reports_a_failed_save_at_once_and_leaves_no_partial_file() {
    let keys = age_keys();
    let run = init_preset("ringcentral-hold-hunter");
    let root = run.path();
    let work = tempfile::tempdir().unwrap();
    let redis = GeneratedRedis::start(root, work.path(), "data", &[]);
    let backup = |dest: &Path| {
        let mut cmd = redis.backup(root, dest, &keys, work.path());
        cmd.env("REDIS_CHECK_RDB", require_tool("redis-check-rdb"))
            .env("BACKUP_REDIS_TIMEOUT", "600");
        cmd
    };
    assert_eq!(redis.as_app(&["SET", "k", "v"]), "OK");
    let dest = work.path().join("backups");

    // A leftover from a run killed mid-copy two days ago, and a copy that
    // fails half-way (a full disk): a `cp` that writes a little and fails.
    std::fs::create_dir_all(dest.join("redis")).unwrap();
    let stale = dest.join("redis/.old-redis-20260101T000000Z.rdb.tar.age.partial");
    std::fs::write(&stale, "half").unwrap();
    run_ok(Command::new("touch").args(["-d", "2 days ago"]).arg(&stale));
    let bin = work.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    write_exec(
        &bin,
        "cp",
        "#!/bin/sh\nhead -c 10 \"$1\" >\"$2\"\necho 'cp: write error: No space left on device' >&2\nexit 1\n",
    );
    let out = backup(&dest).env("PATH", path_with(&bin)).output().unwrap();
    assert!(
        !out.status.success(),
        "a failed copy passed:\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains("could not copy the backup"),
        "{}",
        text(&out)
    );
    let left: Vec<String> = std::fs::read_dir(dest.join("redis"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial") && !n.starts_with(".old-"))
        .collect();
    assert!(left.is_empty(), "the failed copy left {left:?}");

    // A good run: the stale leftover goes with retention.
    let out = run_ok(&mut backup(&dest));
    assert!(out.contains("1 keys"), "{out}");
    assert!(!stale.exists(), "retention kept {}", stale.display());
    only_backup(&dest.join("redis"), ".rdb.tar.age");

    // The data directory vanishes under Redis: every BGSAVE now fails.
    std::fs::remove_dir_all(work.path().join("data")).unwrap();
    let started = std::time::Instant::now();
    let out = backup(&work.path().join("backups2")).output().unwrap();
    let took = started.elapsed();
    assert!(
        !out.status.success(),
        "a failed BGSAVE passed:\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains("rdb_last_bgsave_status:err"),
        "{}",
        text(&out)
    );
    assert!(
        took < Duration::from_secs(30),
        "the failed BGSAVE took {took:?} to report"
    );
}

/// scripts/restore-redis.sh (the runbook's Redis restore as a script) puts
/// a backup back into a Redis data directory that runs with an AOF: the
/// Redis started afterwards, as production runs it, holds the backed-up
/// keys and not the ones written later; the old data is kept aside.
#[test]
fn restore_redis_puts_a_backup_back_under_an_aof_redis() {
    let keys = age_keys();
    let run = init_preset("ringcentral-hold-hunter");
    let root = run.path();
    let work = tempfile::tempdir().unwrap();
    let aof = ["--appendonly", "yes", "--appenddirname", "appendonlydir"];
    let live = GeneratedRedis::start(root, work.path(), "data", &aof);
    for i in 0..50 {
        let key = format!("k{i}");
        assert_eq!(live.as_app(&["SET", &key, "v"]), "OK");
    }
    let dest = work.path().join("backups");
    let out = run_ok(
        live.backup(root, &dest, &keys, work.path())
            .env("REDIS_CHECK_RDB", require_tool("redis-check-rdb")),
    );
    assert!(out.contains("50 keys"), "{out}");
    // A write after the backup, which the restore must not bring back.
    assert_eq!(live.as_app(&["SET", "written-after-the-backup", "v"]), "OK");
    let (password, secrets) = (live.default_password.clone(), live.secrets.clone());
    drop(live);

    let backup = only_backup(&dest.join("redis"), ".rdb.tar.age");
    let data = work.path().join("data");
    let out = run_ok(
        script(root, "restore-redis.sh")
            .arg(&backup)
            .env("BACKUP_AGE_IDENTITY", &keys.identity)
            .env("REDIS_CHECK_RDB", require_tool("redis-check-rdb"))
            .env("REDIS_DATA_DIR", &data)
            .env("REDIS_RESTORE_PORT", free_port().to_string())
            .env("COMPOSE", "true"),
    );
    assert!(out.contains("restored 50 keys"), "{out}");
    let aside: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("aof-before-restore-"))
        .collect();
    assert_eq!(aside.len(), 1, "the old AOF is not kept aside: {aside:?}");

    // Redis as production runs it: AOF on, the generated ACL.
    let args: Vec<String> = [
        "--aclfile".to_string(),
        work.path()
            .join("secrets/redis_users.acl")
            .display()
            .to_string(),
    ]
    .into_iter()
    .chain(aof.iter().map(|a| a.to_string()))
    .collect();
    let (prod, port) = start_redis(&data, &args, Some(&password));
    let prod = GeneratedRedis {
        _server: prod,
        port,
        default_password: password,
        secrets,
    };
    assert_eq!(prod.as_app(&["DBSIZE"]), "50");
    assert_eq!(prod.as_app(&["EXISTS", "written-after-the-backup"]), "0");

    // A damaged backup is refused before anything is stopped.
    let bad = truncated(&backup, work.path());
    let out = script(root, "restore-redis.sh")
        .arg(&bad)
        .env("BACKUP_AGE_IDENTITY", &keys.identity)
        .env("REDIS_DATA_DIR", &data)
        .env("COMPOSE", "false")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("does not decrypt"), "{}", text(&out));
}

//! redis-server started from the generated deploy/redis/redis.conf (in a
//! temp dir, on a loopback port), with the ACL file and password that the
//! generated scripts/init-secrets.sh writes.

use crate::common;

use common::redis_acl::LiveRedis;
use common::{init_preset, presets, require_tool};

/// CONFIG GET as the exporter ACL user (`default` may only PING).
fn config(r: &LiveRedis, key: &str) -> String {
    let out = r.cli_as("exporter", &["CONFIG", "GET", key]);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(key), "CONFIG GET {key}: {out}");
    lines.next().unwrap_or("").to_string()
}

#[test]
fn redis_starts_from_the_generated_config_for_every_preset() {
    require_tool("redis-server");
    require_tool("redis-cli");
    let mut policies = Vec::new();
    for preset in presets() {
        let run = init_preset(&preset);
        let conf = run.read("deploy/redis/redis.conf");
        let redis = common::redis_acl::LiveRedis::start(&run);
        assert!(run.path().join("secrets/redis_users.acl").exists());
        let lock = run.read("shipready.toml");
        let role = ["cache", "queue", "primary"]
            .into_iter()
            .find(|r| lock.contains(&format!("role = \"{r}\"")))
            .unwrap_or_else(|| panic!("{preset}: no redis role in the lock"));
        let mb: u64 = lock
            .lines()
            .find_map(|l| l.strip_prefix("maxmemory_mb = "))
            .and_then(|v| v.trim().parse().ok())
            .expect("maxmemory_mb in the lock");

        // Container paths the compose file mounts.
        assert!(
            conf.contains("\naclfile /run/secrets/redis_users.acl\n"),
            "{preset}"
        );
        assert!(conf.contains("\ndir /data\n"), "{preset}");
        assert!(conf.contains("\nprotected-mode yes\n"), "{preset}");

        let sandbox = &redis.sandbox;
        let password = run.read("secrets/redis_password");
        assert_eq!(
            sandbox.password, password,
            "{preset}: uses the project's password"
        );

        assert_eq!(config(&redis, "appendonly"), "yes", "{preset}");
        assert_eq!(config(&redis, "appendfsync"), "everysec", "{preset}");
        assert_eq!(
            config(&redis, "save"),
            "3600 1 300 100 60 10000",
            "{preset}"
        );
        assert_eq!(config(&redis, "protected-mode"), "yes", "{preset}");
        assert_eq!(
            config(&redis, "maxmemory"),
            (mb * 1024 * 1024).to_string(),
            "{preset}"
        );
        let policy = config(&redis, "maxmemory-policy");
        let expected = if role == "cache" {
            "allkeys-lru"
        } else {
            "noeviction"
        };
        assert_eq!(policy, expected, "{preset}: role {role}");
        policies.push((role.to_string(), policy));

        // The app's user reads and writes; the AOF is written. The default
        // user (what logs in without a name) may only PING.
        let app = |args: &[&str]| redis.cli_as("app", args);
        assert_eq!(app(&["SET", "shipready:k", "v"]).trim(), "OK");
        assert_eq!(app(&["GET", "shipready:k"]).trim(), "v");
        let default_get = sandbox.cli(&["GET", "shipready:k"]).unwrap();
        assert!(
            default_get.contains("NOPERM"),
            "{preset}: default GET gave {default_get:?}"
        );
        // No password, or a wrong one: refused.
        let anon = sandbox.cli_anonymous(&["GET", "shipready:k"]).unwrap();
        assert!(
            anon.contains("NOAUTH"),
            "{preset}: unauthenticated GET gave {anon:?}"
        );
        let wrong = std::process::Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &sandbox.port.to_string(), "PING"])
            .env("REDISCLI_AUTH", "not-the-password")
            .output()
            .unwrap();
        let wrong = String::from_utf8_lossy(&wrong.stdout).to_string()
            + &String::from_utf8_lossy(&wrong.stderr);
        assert!(
            !wrong.contains("PONG"),
            "{preset}: a wrong password was accepted: {wrong}"
        );
        // Dangerous commands are blocked by the ACL for the app's user.
        for cmd in [
            &["FLUSHALL"][..],
            &["CONFIG", "SET", "maxmemory-policy", "noeviction"],
            &["DEBUG", "SLEEP", "0"],
            &["SHUTDOWN", "NOSAVE"],
            &["ACL", "SETUSER", "x", "on"],
        ] {
            let out = app(cmd);
            // DEBUG is also off server-wide (enable-debug-command no), which
            // Redis checks before the ACL.
            assert!(
                out.contains("NOPERM")
                    || (cmd[0] == "DEBUG" && out.contains("DEBUG command not allowed")),
                "{preset}: {cmd:?} gave {out:?}"
            );
        }
        let aof_dir = sandbox.dir.path().join("appendonlydir");
        assert!(
            aof_dir.is_dir(),
            "{preset}: no AOF directory in the data dir"
        );
    }
    assert!(
        policies.iter().any(|(r, _)| r == "cache"),
        "a cache preset is covered"
    );
    assert!(
        policies.iter().any(|(r, _)| r != "cache"),
        "a queue/primary preset is covered"
    );
}

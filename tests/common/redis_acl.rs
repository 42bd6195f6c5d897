//! A redis-server from the project's generated redis.conf and the ACL file
//! its scripts/init-secrets.sh writes, and logins as each of its users.

use super::{free_port, require_tool, Run, Server};
use shipready::verify::edge::{redis_sandbox, RedisSandbox};
use std::process::Command;

/// Every ACL user init-secrets.sh writes, with its password file.
pub const USERS: &[(&str, &str)] = &[
    ("default", "redis_password"),
    ("app", "redis_app_password"),
    ("worker", "redis_worker_password"),
    ("healthcheck", "redis_healthcheck_password"),
    ("exporter", "redis_exporter_password"),
    ("backup", "redis_backup_password"),
    ("admin", "redis_admin_password"),
];

/// Run the project's scripts/init-secrets.sh (into its secrets/).
pub fn init_secrets(run: &Run) {
    require_tool("openssl");
    let out = Command::new(require_tool("bash"))
        .arg(run.path().join("scripts/init-secrets.sh"))
        .current_dir(run.path())
        .output()
        .expect("init-secrets.sh runs");
    assert!(
        out.status.success(),
        "init-secrets.sh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn password_file(user: &str) -> &'static str {
    USERS
        .iter()
        .find(|(u, _)| *u == user)
        .unwrap_or_else(|| panic!("no Redis user {user}"))
        .1
}

/// A running redis-server (stopped by pid on drop) with the project's ACL.
pub struct LiveRedis {
    pub sandbox: RedisSandbox,
    pub secrets: std::path::PathBuf,
    _server: Server,
}

impl LiveRedis {
    /// init-secrets.sh, then redis-server from the generated config.
    pub fn start(run: &Run) -> LiveRedis {
        require_tool("redis-server");
        require_tool("redis-cli");
        init_secrets(run);
        let sandbox = redis_sandbox(run.path(), free_port()).unwrap();
        let server = Server(sandbox.start().unwrap());
        LiveRedis {
            sandbox,
            secrets: run.path().join("secrets"),
            _server: server,
        }
    }

    pub fn port(&self) -> u16 {
        self.sandbox.port
    }

    pub fn password(&self, user: &str) -> String {
        std::fs::read_to_string(self.secrets.join(password_file(user))).unwrap()
    }

    /// `redis-cli --user USER` with that user's password; stdout and stderr.
    pub fn cli_as(&self, user: &str, args: &[&str]) -> String {
        self.cli_with(user, &self.password(user), args)
    }

    pub fn cli_with(&self, user: &str, password: &str, args: &[&str]) -> String {
        let out = Command::new(require_tool("redis-cli"))
            .args(["--no-auth-warning", "-h", "127.0.0.1", "-p"])
            .arg(self.port().to_string())
            .args(["--user", user])
            .args(args)
            .env("REDISCLI_AUTH", password)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    }

    /// A redis:// URL for `user`, the form docker-entrypoint.sh builds.
    pub fn url(&self, user: &str) -> String {
        let pw: String = self
            .password(user)
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("redis://{user}:{pw}@127.0.0.1:{}/0", self.port())
    }
}

//! The Redis sandbox: the generated redis.conf in a temp dir, on loopback
//! and a given port, with its data, ACL file and log inside the dir. verify
//! starts it once; the test suite starts it to talk to a real server.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::verify::output;

/// redis.conf adapted to a temp dir: loopback, a given port, data and ACL
/// file inside the dir.
pub struct RedisSandbox {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// The default user's password (from the project's secrets when present,
    /// else a throwaway one).
    pub password: String,
}

impl RedisSandbox {
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("redis.conf")
    }

    /// Start `redis-server` and wait until it answers an authenticated PING.
    /// Its own words on failure: Redis prints a config error on stderr
    /// before it opens its log file, so both are kept and shown.
    pub fn start(&self) -> Result<Child, String> {
        let console = std::fs::File::create(self.console_path())
            .map_err(|e| format!("{}: {e}", self.console_path().display()))?;
        let console_err = console.try_clone().map_err(|e| e.to_string())?;
        let mut child = Command::new("redis-server")
            .arg(self.conf())
            .stdin(Stdio::null())
            .stdout(console)
            .stderr(console_err)
            .spawn()
            .map_err(|e| format!("could not start redis-server: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(out) = self.cli(&["PING"]) {
                if out.trim() == "PONG" {
                    return Ok(child);
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server {} before answering PING:\n{}",
                    output::describe(status),
                    self.server_output()
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "redis-server did not answer PING within 10 s:\n{}",
                    self.server_output()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Where the server's stdout and stderr go.
    fn console_path(&self) -> PathBuf {
        self.dir.path().join("redis-console.log")
    }

    /// What the server printed and logged, cleaned for a report.
    fn server_output(&self) -> String {
        let read = |name: &str| std::fs::read(self.dir.path().join(name)).unwrap_or_default();
        let text = output::streams(&read("redis-console.log"), &read("redis.log"));
        if text.is_empty() {
            "(it printed and logged nothing)".into()
        } else {
            text
        }
    }

    /// `redis-cli` as the default user; stdout (errors too, as redis-cli
    /// prints them there).
    pub fn cli(&self, args: &[&str]) -> Result<String, String> {
        self.cli_as(Some(&self.password), args)
    }

    /// `redis-cli` with no credentials.
    pub fn cli_anonymous(&self, args: &[&str]) -> Result<String, String> {
        self.cli_as(None, args)
    }

    fn cli_as(&self, password: Option<&str>, args: &[&str]) -> Result<String, String> {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .env_remove("REDISCLI_AUTH")
            .stdin(Stdio::null());
        if let Some(pw) = password {
            cmd.env("REDISCLI_AUTH", pw);
        }
        let out = cmd
            .args(args)
            .output()
            .map_err(|e| format!("could not run redis-cli: {e}"))?;
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok(text)
    }
}

/// Copy `root/deploy/redis/redis.conf` into a temp dir with `bind`, `port`,
/// `dir`, `aclfile` and `logfile` pointing there. The ACL file is the
/// project's `secrets/redis_users.acl` (with `secrets/redis_password`) when
/// both exist, else a throwaway one in the same format as
/// scripts/init-secrets.sh writes.
pub fn redis_sandbox(root: &Path, port: u16) -> Result<RedisSandbox, String> {
    let dir = tempfile::Builder::new()
        .prefix("shipready-redis-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let d = dir.path().display().to_string();
    let text = std::fs::read_to_string(root.join("deploy/redis/redis.conf"))
        .map_err(|e| format!("deploy/redis/redis.conf: {e}"))?;
    let mut saw = (false, false, false);
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        let new = if t.starts_with("bind ") {
            "bind 127.0.0.1".to_string()
        } else if t.starts_with("port ") {
            format!("port {port}")
        } else if t.starts_with("dir ") {
            saw.0 = true;
            format!("dir {d}")
        } else if t.starts_with("aclfile ") {
            saw.1 = true;
            format!("aclfile {d}/users.acl")
        } else if t.starts_with("logfile ") {
            saw.2 = true;
            format!("logfile {d}/redis.log")
        } else {
            line.to_string()
        };
        let _ = writeln!(out, "{new}");
    }
    if !saw.0 || !saw.1 {
        return Err("redis.conf sets no `dir` or no `aclfile`".into());
    }
    if !saw.2 {
        let _ = writeln!(out, "logfile {d}/redis.log");
    }
    std::fs::write(dir.path().join("redis.conf"), out).map_err(|e| e.to_string())?;

    let (acl_src, pw_src) = (
        root.join("secrets/redis_users.acl"),
        root.join("secrets/redis_password"),
    );
    let (acl, password) = match (
        std::fs::read_to_string(&acl_src),
        std::fs::read_to_string(&pw_src),
    ) {
        (Ok(acl), Ok(pw)) if !pw.trim().is_empty() => (acl, pw.trim_end_matches('\n').to_string()),
        _ => {
            let pw = throwaway_password();
            let acl = format!(
                "user default on >{pw} ~* &* +@all -flushall -flushdb -debug -shutdown -monitor -keys -config|set -config|rewrite\n"
            );
            (acl, pw)
        }
    };
    std::fs::write(dir.path().join("users.acl"), acl).map_err(|e| e.to_string())?;
    Ok(RedisSandbox {
        dir,
        port,
        password,
    })
}

fn throwaway_password() -> String {
    use sha2::{Digest, Sha256};
    let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
    let hash = Sha256::digest(seed.as_bytes());
    hash.iter().take(16).fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

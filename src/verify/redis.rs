//! The Redis validator: a real start of `redis-server` with the generated
//! redis.conf, which must then refuse an unauthenticated client.

use std::path::Path;

use super::sandbox::redis::redis_sandbox;
use super::{files_where, Outcome, Validator};

pub const REDIS: Validator = Validator {
    name: "redis-server",
    tools: &["redis-server", "redis-cli"],
    targets: |paths| files_where(paths, |p| p == "deploy/redis/redis.conf"),
    run: |root, target| redis_check(root, target),
};

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Start redis-server with the sandboxed config, check that it answers an
/// authenticated PING and refuses an anonymous one, then stop it by pid.
fn redis_check(root: &Path, _target: &str) -> Outcome {
    let result = (|| {
        let sandbox = redis_sandbox(root, free_port()?)?;
        let mut child = sandbox.start()?;
        let anonymous = sandbox.cli_anonymous(&["PING"]);
        let _ = child.kill();
        let _ = child.wait();
        match anonymous {
            Ok(out) if out.contains("NOAUTH") => Ok(()),
            Ok(out) => Err(format!(
                "redis-server answered an unauthenticated PING with {out:?}: the ACL file does not require a password"
            )),
            Err(e) => Err(e),
        }
    })();
    match result {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

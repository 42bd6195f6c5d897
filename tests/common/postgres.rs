//! A throwaway Postgres 15 cluster for tests that run generated scripts and
//! runbook commands against a real server.

use std::path::PathBuf;
use std::process::Command;

use tempfile::TempDir;

use super::{free_port, require_tool, run_ok};

pub fn running_as_root() -> bool {
    run_ok(Command::new("id").arg("-u")).trim() == "0"
}

// ---------------------------------------------------------------- Postgres

/// A Postgres 15 cluster in a temp dir, on 127.0.0.1, password auth.
/// initdb refuses to run as root, so when the tests are root the server runs
/// as nobody (setpriv). Stopped with `pg_ctl stop` on drop.
pub struct Postgres {
    pub dir: TempDir,
    pub port: u16,
    pub password_file: PathBuf,
}

pub const PG_SUPERUSER: &str = "shipready";

impl Postgres {
    pub fn server_cmd(tool: &str) -> Command {
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

    pub fn start() -> Postgres {
        Self::start_with_settings("")
    }

    /// Same, with extra server settings (`-c name=value ...`).
    pub fn start_with_settings(settings: &str) -> Postgres {
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
                    "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} -c fsync=off {settings}",
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
    pub fn env(&self, cmd: &mut Command) {
        cmd.env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", PG_SUPERUSER)
            .env("PGPASSWORD_FILE", &self.password_file)
            .env("PGSSLMODE", "disable")
            .env_remove("PGDATABASE")
            .env_remove("PGPASSWORD");
    }

    pub fn psql(&self, db: &str, sql: &str) -> String {
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

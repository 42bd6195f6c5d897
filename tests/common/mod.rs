//! Shared test helpers: a small builder for running the real binary in a
//! temp dir, rendering a preset to disk, and finding validators.
//!
//! Validators are required, never skipped: a missing tool fails the test
//! with the command that installs it.
#![allow(dead_code)]

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

pub mod alerting;
pub mod app_build;
pub mod postgres;
pub mod postgres_tls;
pub mod profile_values;
pub mod promtool;

pub const DOMAIN: &str = "voice.example.com";

/// Every preset name, read from the binary's own list.
pub fn presets() -> Vec<String> {
    shipready::preset::Preset::all()
        .into_iter()
        .map(|p| p.name)
        .collect()
}

/// A CLI run over a temp dir: args in, exit code and files out.
pub struct Run {
    pub dir: TempDir,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn new() -> Run {
        Run {
            dir: tempfile::tempdir().expect("temp dir"),
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn in_dir(dir: TempDir) -> Run {
        Run {
            dir,
            args: Vec::new(),
            env: Vec::new(),
        }
    }

    pub fn args<I, S>(mut self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.args = args.into_iter().map(|s| s.as_ref().to_string()).collect();
        self
    }

    pub fn env(mut self, k: &str, v: &str) -> Run {
        self.env.push((k.into(), v.into()));
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Run the binary with the temp dir as working directory.
    pub fn run(&self) -> Output {
        let mut cmd = Command::cargo_bin("shipready").expect("binary built");
        cmd.current_dir(self.dir.path())
            .args(&self.args)
            .env("NO_COLOR", "1")
            .env("CI", "true");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("shipready runs");
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Run and assert the exit code; returns the output.
    pub fn expect(&self, code: i32) -> Output {
        let out = self.run();
        assert_eq!(
            out.code, code,
            "shipready {:?} exited {} (expected {code})\nstdout:\n{}\nstderr:\n{}",
            self.args, out.code, out.stdout, out.stderr
        );
        out
    }

    /// Every file under the temp dir, relative, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(self.dir.path(), self.dir.path(), &mut out);
        out.sort();
        out
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).expect("readable") {
        let e = e.expect("entry");
        let p = e.path();
        if e.file_type().expect("type").is_dir() {
            walk(root, &p, out);
        } else {
            out.push(
                p.strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
            );
        }
    }
}

/// Copy a fixture tree (directories and files) into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// `shipready init --preset NAME --set domain=...` into a fresh temp dir.
pub fn init_preset(preset: &str) -> Run {
    let run = Run::new().args(init_args(preset, &[]));
    run.expect(0);
    run
}

/// Same, with extra `--set` answers.
pub fn init_preset_with(preset: &str, sets: &[&str]) -> Run {
    let extra: Vec<String> = sets
        .iter()
        .flat_map(|s| ["--set".to_string(), s.to_string()])
        .collect();
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let run = Run::new().args(init_args(preset, &extra));
    run.expect(0);
    run
}

/// `init --preset PRESET --set domain=DOMAIN` followed by `extra`.
pub fn init_args(preset: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "init",
        "--preset",
        preset,
        "--set",
        &format!("domain={DOMAIN}"),
    ]
    .map(String::from)
    .to_vec();
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The path of a validator or server binary; panics (fails the test) when it
/// is missing, naming the command that installs it.
pub fn require_tool(name: &str) -> PathBuf {
    if let Some(p) = shipready::verify::which(name) {
        return p;
    }
    for dir in [
        "/usr/lib/postgresql/17/bin",
        "/usr/lib/postgresql/16/bin",
        "/usr/lib/postgresql/15/bin",
        "/usr/sbin",
    ] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "{name} is not installed. The test suite needs every validator and server: \
         run `bash scripts/test.sh` (it installs them with scripts/install-test-deps.sh)."
    );
}

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests
/// that start one server each).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The profile a preset gives with the test domain: what `init_preset`
/// renders.
pub fn profile_of(preset: &str) -> shipready::profile::Profile {
    profile_with(preset, &[])
}

/// The profile a preset gives with the test domain and `sets` (`key=value`,
/// as `--set` takes them): what `init_preset_with` renders.
pub fn profile_with(preset: &str, sets: &[&str]) -> shipready::profile::Profile {
    let preset = shipready::preset::Preset::find(preset).expect("a known preset");
    let mut all = vec![format!("edge.domain={DOMAIN}")];
    all.extend(sets.iter().map(|s| s.to_string()));
    let set = shipready::profile::Layer::from_assignments(&all).expect("valid --set answers");
    shipready::profile::Profile::from_layers(&[preset.layer(), set]).expect("a valid profile")
}

/// Write an executable script at `path`.
pub fn write_exec(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A PATH with `first` ahead of the test's own.
pub fn path_with(first: &Path) -> std::ffi::OsString {
    std::env::join_paths(
        std::iter::once(first.to_path_buf()).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )),
    )
    .unwrap()
}

/// Run a command that must succeed; its stdout.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{:?}: {e}", cmd.get_program()));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `tool` (required: see [`require_tool`]) run in `dir`.
pub fn tool_in(dir: &Path, tool: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(require_tool(tool));
    cmd.current_dir(dir);
    cmd
}

/// Run `cmd`: whether it exited 0, and its stdout and stderr together.
pub fn outcome(cmd: &mut std::process::Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} did not start: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Run `cmd`, which must exit 0: its stdout and stderr together (the panic
/// message shows them otherwise).
pub fn must_pass(cmd: &mut std::process::Command) -> String {
    let (ok, text) = outcome(cmd);
    assert!(ok, "{cmd:?} failed:\n{text}");
    text
}

/// A child process stopped by its own pid when dropped: TERM first (so
/// nginx's master takes its workers down, and a server flushes), KILL if it
/// is still there after five seconds.
pub struct Server(pub std::process::Child);

impl Server {
    /// Wait until something listens on 127.0.0.1:`port`; fails the test
    /// when this process exits first, or after 20 seconds.
    pub fn wait_for_port(&mut self, port: u16, what: &str) {
        use std::time::{Duration, Instant};
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = self.0.try_wait() {
                panic!("{what} exited with {status} before listening on {port}");
            }
            assert!(Instant::now() < deadline, "{what} did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        use std::time::{Duration, Instant};
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run a command that must succeed and print JSON on its last line (the
/// generated modules' test drivers do); its output is in the panic message.
pub fn run_json(cmd: &mut std::process::Command) -> serde_json::Value {
    let out = cmd.output().expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim().lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}
pub mod e2e;
pub mod hooks;
pub mod installed;
pub mod kubernetes;
pub mod kubernetes_ops;
pub mod live;
pub mod redis_acl;
pub mod terraform;

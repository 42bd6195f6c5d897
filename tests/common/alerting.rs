//! The real Alertmanager started through the generated entrypoint.sh, and a
//! local HTTP sink standing in for Slack and the heartbeat service.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{free_port, require_tool, Server};

/// What a started entrypoint.sh did: it exited (with its code and stderr),
/// or Alertmanager is up on `port`.
pub enum Started {
    Exited { code: i32, stderr: String },
    Running { server: Server, port: u16 },
}

impl Started {
    /// The running Alertmanager and its port; fails with its stderr if it
    /// exited instead.
    pub fn expect_running(self) -> (Server, u16) {
        match self {
            Started::Running { server, port } => (server, port),
            Started::Exited { code, stderr } => {
                panic!("Alertmanager did not start with every receiver filled ({code}):\n{stderr}")
            }
        }
    }
}

/// The secret files the generated scripts/init-secrets.sh makes, in a temp
/// dir; the receivers' files are left empty, as the script leaves them.
pub fn init_secrets_in_temp(root: &Path) -> tempfile::TempDir {
    let secrets = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .arg(root.join("scripts/init-secrets.sh"))
        .arg(secrets.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    secrets
}

/// Copy the generated alertmanager.yml to `work`, pointed at `secrets`
/// instead of /run/secrets, with the 30 s group wait cut to 1 s so a test
/// sees a notification at once, the 5 min group interval to 5 s (a failed
/// send is counted when its retries run out, at the next interval), and PagerDuty's API replaced by
/// `pagerduty_url` so no traffic leaves the machine; return the copy's path.
pub fn local_config(root: &Path, secrets: &Path, work: &Path, pagerduty_url: &str) -> PathBuf {
    let text = std::fs::read_to_string(root.join("monitoring/alertmanager/alertmanager.yml"))
        .expect("alertmanager.yml rendered");
    for timing in ["group_wait: 30s", "group_interval: 5m"] {
        assert!(text.contains(timing), "{timing} moved:\n{text}");
    }
    let text = text
        .replace("/run/secrets", &secrets.display().to_string())
        .replace("group_wait: 30s", "group_wait: 1s")
        .replace("group_interval: 5m", "group_interval: 5s")
        .replace(
            "      - routing_key_file:",
            &format!("      - url: {pagerduty_url}\n        routing_key_file:"),
        );
    let path = work.join("alertmanager.yml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Run `sh monitoring/alertmanager/entrypoint.sh` as compose does, with the
/// Debian alertmanager binary, on 127.0.0.1. Waits for /-/ready or the exit.
pub fn start_alertmanager(
    root: &Path,
    secrets: &Path,
    work: &Path,
    pagerduty_url: &str,
) -> Started {
    let config = local_config(root, secrets, work, pagerduty_url);
    let port = free_port();
    let storage = work.join("data");
    std::fs::create_dir_all(&storage).unwrap();
    let mut child = Command::new("sh")
        .arg(root.join("monitoring/alertmanager/entrypoint.sh"))
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", storage.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // No cluster: nothing else listens, nothing gossips.
        .arg("--cluster.listen-address=")
        .env("SECRETS_DIR", secrets)
        .env("ALERTMANAGER", require_tool("prometheus-alertmanager"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sh runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return Started::Exited {
                code: status.code().unwrap_or(-1),
                stderr,
            };
        }
        if http(port, "GET", "/-/ready", None).is_some_and(|(code, _)| code == 200) {
            // Drain stderr so Alertmanager never blocks on a full pipe.
            let mut err = child.stderr.take().unwrap();
            std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
            return Started::Running {
                server: Server(child),
                port,
            };
        }
        assert!(
            Instant::now() < deadline,
            "alertmanager neither started nor exited in 20 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A request with curl: (status, body), or None when nothing answers.
pub fn http(port: u16, method: &str, path: &str, json: Option<&str>) -> Option<(u16, String)> {
    let mut cmd = Command::new(require_tool("curl"));
    cmd.args(["-s", "-m", "5", "-X", method, "-w", "\n%{http_code}"]);
    if let Some(body) = json {
        cmd.args(["-H", "Content-Type: application/json", "--data", body]);
    }
    let out = cmd
        .arg(format!("http://127.0.0.1:{port}{path}"))
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    Some((code.trim().parse().ok()?, body.to_string()))
}

/// An HTTP server on 127.0.0.1 that answers 200 "ok" to everything and
/// keeps each request as "PATH BODY".
pub struct Sink {
    pub port: u16,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Sink {
    pub fn start() -> Sink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let keep = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    continue;
                }
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
                keep.lock()
                    .unwrap()
                    .push(format!("{path} {}", String::from_utf8_lossy(&body)));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        Sink { port, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Wait up to `secs` for a request whose path and body contain `want`.
    pub fn wait_for(&self, want: &[&str], secs: u64) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if let Some(hit) = self
                .seen
                .lock()
                .unwrap()
                .iter()
                .find(|r| want.iter().all(|w| r.contains(w)))
            {
                return Some(hit.clone());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }

    pub fn requests(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

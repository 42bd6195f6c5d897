//! Helpers for the webhook and queue proofs: where the test-only npm and
//! PyPI packages are installed, a live sandboxed nginx in front of a real
//! app, and the usage snippets the generated modules document.

use super::{free_port, require_tool, Server, DOMAIN};
use shipready::verify::edge::{nginx_sandbox, NginxPorts, NginxSandbox};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const INSTALL: &str = "run `bash scripts/install-test-deps.sh` (it installs the webhook and \
     queue test packages from tests/fixtures/queue-and-webhook-deps and PyPI)";

fn tools_dir() -> PathBuf {
    std::env::var_os("SHIPREADY_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/shipready-tools")
        })
}

/// node_modules holding twilio, express, bull and bullmq (for NODE_PATH);
/// fails the test with the install command when missing.
pub fn node_modules() -> PathBuf {
    let dir = tools_dir().join("hooks-node/node_modules");
    for pkg in ["twilio", "express", "bull", "bullmq"] {
        assert!(
            dir.join(pkg).join("package.json").exists(),
            "npm package {pkg} is not installed in {}: {INSTALL}",
            dir.display()
        );
    }
    dir
}

/// The python of the venv holding twilio, fastapi, uvicorn, celery, redis.
pub fn python() -> PathBuf {
    let py = tools_dir().join("hooks-py/bin/python");
    assert!(py.exists(), "{} is missing: {INSTALL}", py.display());
    py
}

/// `node` with the test packages on NODE_PATH.
pub fn node() -> Command {
    let mut cmd = Command::new(require_tool("node"));
    cmd.env("NODE_PATH", node_modules());
    cmd
}

/// The project's generated nginx (sandboxed on loopback ports) with a real
/// app behind it.
pub struct Edge {
    pub ports: NginxPorts,
    pub sandbox: NginxSandbox,
    _nginx: Server,
    _app: Server,
}

/// A response seen by curl: status, headers (lower-case names), body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }
}

impl Edge {
    /// Start `app` (given the upstream port to listen on) and the project's
    /// nginx in front of it.
    pub fn start(project: &Path, app: impl FnOnce(u16) -> Command) -> Edge {
        let ports = NginxPorts {
            http: free_port(),
            https: free_port(),
            status: free_port(),
            upstream: free_port(),
        };
        let sandbox = nginx_sandbox(project, ports).unwrap();
        let mut app = Server(
            app(ports.upstream)
                .stdin(Stdio::null())
                .spawn()
                .expect("app starts"),
        );
        app.wait_for_port(ports.upstream, "the app");
        let mut nginx = Server(
            Command::new(require_tool("nginx"))
                .args(sandbox.args())
                .args(["-g", "daemon off;"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        nginx.wait_for_port(ports.https, "nginx");
        Edge {
            ports,
            sandbox,
            _nginx: nginx,
            _app: app,
        }
    }

    /// A request to https://DOMAIN<path> through nginx; `path` is sent as
    /// given (curl does not re-encode it).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let dir = tempfile::tempdir().unwrap();
        let body_file = dir.path().join("body");
        std::fs::write(&body_file, body).unwrap();
        let mut cmd = Command::new(require_tool("curl"));
        cmd.args([
            "-sk",
            "-i",
            "--max-time",
            "10",
            "--path-as-is",
            "-X",
            method,
        ])
        .arg("--resolve")
        .arg(format!("{DOMAIN}:{}:127.0.0.1", self.ports.https));
        for (k, v) in headers {
            cmd.arg("-H").arg(format!("{k}: {v}"));
        }
        if !body.is_empty() {
            cmd.arg("--data-binary")
                .arg(format!("@{}", body_file.display()));
        }
        let url = format!("https://{DOMAIN}:{}{path}", self.ports.https);
        let out = cmd.arg(&url).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no answer from {url}: {text:?} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Reply {
            status,
            headers,
            body: body.to_string(),
        }
    }
}

/// The usage code a generated Node module documents: the `//   ` lines
/// after "Usage with Express", without the comment prefix.
pub fn node_usage(module_text: &str) -> String {
    let mut lines = module_text
        .lines()
        .skip_while(|l| !l.starts_with("// Usage with Express"))
        .skip_while(|l| !l.starts_with("//   "));
    let mut out = String::new();
    for line in lines.by_ref() {
        match line.strip_prefix("//   ") {
            Some(code) => {
                out.push_str(code);
                out.push('\n');
            }
            None => break,
        }
    }
    assert!(!out.is_empty(), "no usage snippet in the module");
    out
}

/// The usage code a generated Python module documents: the indented block
/// after "Usage::", dedented.
pub fn python_usage(module_text: &str) -> String {
    let mut out = String::new();
    for line in module_text
        .lines()
        .skip_while(|l| l.trim() != "Usage::")
        .skip(1)
    {
        if line.is_empty() {
            out.push('\n');
        } else if let Some(code) = line.strip_prefix("    ") {
            out.push_str(code);
            out.push('\n');
        } else {
            break;
        }
    }
    assert!(!out.trim().is_empty(), "no usage snippet in the module");
    out
}

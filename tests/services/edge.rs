//! The nginx edge: `nginx -t` on every preset's generated configuration
//! (here with no warning allowed), gixy and shellcheck on the variants
//! `verify --strict` does not see (tests/validators/validators.rs runs both over every
//! preset), and a live nginx on loopback (high ports, temp prefix,
//! self-signed certificate) in front of a small upstream that also speaks
//! WebSocket.

use crate::common;

use common::{init_preset, init_preset_with, presets, require_tool, Run, DOMAIN};
use shipready::verify::edge::{
    local_nginx_version, nginx_sandbox, NginxPorts, NginxSandbox, GIXY, HTTP2_DIRECTIVE_SINCE,
};
use shipready::verify::{check_only, Outcome};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CORS_ORIGIN: &str = "https://app.example.com";
/// The Content-Security-Policy the upstream sends under `own-csp` paths (as
/// in `UPSTREAM`), which the edge must pass through untouched.
const APP_CSP: &str =
    "default-src 'self'; script-src 'self' 'nonce-r4nd0m'; style-src 'self' 'unsafe-inline'";

/// The upstream: HTTP/1.1 keep-alive, echoes the request as JSON, 404 under
/// /missing, a large body under /big, sets headers the edge must hide or
/// replace, and answers WebSocket upgrades with an echo.
const UPSTREAM: &str = r#"
import base64, hashlib, json, socketserver, sys
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
APP_CSP = "default-src 'self'; script-src 'self' 'nonce-r4nd0m'; style-src 'self' 'unsafe-inline'"

class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            line = self.rfile.readline()
            if not line:
                return
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers = {}
            while True:
                h = self.rfile.readline().decode("latin-1")
                if h in ("\r\n", "\n", ""):
                    break
                k, v = h.split(":", 1)
                headers[k.strip().lower()] = v.strip()
            n = int(headers.get("content-length", "0") or 0)
            body = self.rfile.read(n) if n else b""
            if headers.get("upgrade", "").lower() == "websocket":
                accept = base64.b64encode(hashlib.sha1((headers["sec-websocket-key"] + GUID).encode()).digest()).decode()
                self.wfile.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept).encode())
                self.wfile.flush()
                self.echo()
                return
            status = 404 if "missing" in path else 200
            payload = {"method": method, "path": path, "headers": headers, "body_len": len(body)}
            if "big" in path:
                payload["pad"] = "x" * 8192
            data = json.dumps(payload).encode()
            csp = "Content-Security-Policy: %s\r\n" % APP_CSP if "own-csp" in path else ""
            self.wfile.write(("HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\nX-Powered-By: Express\r\nX-Frame-Options: SAMEORIGIN\r\nAccess-Control-Allow-Origin: *\r\n%s\r\n" % (status, len(data), csp)).encode() + data)
            self.wfile.flush()

    def echo(self):
        while True:
            hdr = self.rfile.read(2)
            if len(hdr) < 2:
                return
            op, ln = hdr[0] & 0x0F, hdr[1] & 0x7F
            if ln == 126:
                ln = int.from_bytes(self.rfile.read(2), "big")
            mask = self.rfile.read(4) if hdr[1] & 0x80 else b"\0\0\0\0"
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(ln)))
            if op == 8:
                return
            self.wfile.write(bytes([0x80 | op, len(data)]) + data)
            self.wfile.flush()

class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"#;

/// WebSocket client over TLS: prints the status line, whether the accept
/// key is right, and the echoed message.
const WS_CLIENT: &str = r#"
import base64, hashlib, json, os, socket, ssl, sys
port, path, host = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname=host)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: https://%s\r\n\r\n" % (path, host, key, host)).encode())
resp = b""
while b"\r\n\r\n" not in resp:
    chunk = s.recv(1)
    if not chunk:
        break
    resp += chunk
head = resp.decode("latin-1").split("\r\n")
hdrs = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in head[1:] if ":" in l}
want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
out = {"status": head[0], "accept_ok": hdrs.get("sec-websocket-accept") == want, "echo": None}
if " 101 " in head[0] + " ":
    msg = b"hello media stream"
    mask = os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | len(msg)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(msg)))
    def exact(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                break
            b += c
        return b
    h = exact(2)
    out["echo"] = exact(h[1] & 0x7F).decode()
print(json.dumps(out))
"#;

/// Holds one WebSocket open, then floods the same path with handshakes (each
/// on its own TLS connection, closed after the status line), then uses the
/// held socket again: prints the flood's status codes and the echo.
const WS_FLOOD: &str = r#"
import base64, json, os, socket, ssl, sys
port, path, host, n = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
def handshake():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5), server_hostname=host)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, key)).encode())
    resp = b""
    while b"\r\n\r\n" not in resp:
        chunk = s.recv(1)
        if not chunk:
            break
        resp += chunk
    return s, resp.split(b" ", 2)[1].decode() if b" " in resp else "none"
def exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            break
        b += c
    return b
held, first = handshake()
codes = []
for _ in range(n):
    s, code = handshake()
    codes.append(code)
    s.close()
msg = b"still open after the flood"
mask = os.urandom(4)
held.sendall(bytes([0x81, 0x80 | len(msg)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(msg)))
h = exact(held, 2)
echo = exact(held, h[1] & 0x7F).decode() if len(h) == 2 else None
print(json.dumps({"first": first, "codes": codes, "echo": echo}))
"#;

fn ports() -> NginxPorts {
    NginxPorts {
        http: common::free_port(),
        https: common::free_port(),
        status: common::free_port(),
        upstream: common::free_port(),
    }
}

fn nginx_t(sandbox: &NginxSandbox) -> (bool, String) {
    let out = Command::new(require_tool("nginx"))
        .arg("-t")
        .args(sandbox.args())
        .output()
        .expect("nginx runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every preset, plus the variants that change the edge.
fn preset_and_variant_runs() -> Vec<(String, Run)> {
    let mut runs: Vec<(String, Run)> = presets()
        .into_iter()
        .map(|p| (p.clone(), init_preset(&p)))
        .collect();
    runs.extend(variant_runs());
    runs
}

/// The variants that change the edge: bring-your-own TLS with a CORS
/// allow-list, and RingCentral on the FastAPI preset.
fn variant_runs() -> Vec<(String, Run)> {
    vec![
        (
            "twilio-voice byo + cors".into(),
            init_preset_with(
                "twilio-voice",
                &[
                    "edge.tls=\"byo\"",
                    &format!("edge.cors_origins=[\"{CORS_ORIGIN}\", \"http://localhost:5173\"]"),
                ],
            ),
        ),
        (
            "fastapi-three-tier ringcentral".into(),
            init_preset_with(
                "fastapi-three-tier",
                &[
                    "voice.provider=\"ringcentral\"",
                    "voice.websocket_path=\"/ws\"",
                ],
            ),
        ),
    ]
}

#[test]
fn nginx_t_passes_for_every_preset_and_variant() {
    require_tool("openssl");
    let runs = preset_and_variant_runs();
    for (name, run) in &runs {
        let sandbox = nginx_sandbox(run.path(), ports()).unwrap();
        let (ok, log) = nginx_t(&sandbox);
        assert!(ok, "{name}: nginx -t failed:\n{log}");
        assert!(log.contains("test is successful"), "{name}: {log}");
        assert!(!log.contains("[warn]"), "{name}: nginx -t warned:\n{log}");
    }
    // The check can fail: a broken directive is reported.
    let (_, run) = &runs[0];
    let site = run.path().join("deploy/nginx/conf.d/site.conf");
    let text = std::fs::read_to_string(&site).unwrap();
    let broken = text.replace(
        "ssl_prefer_server_ciphers off;",
        "ssl_prefer_server_ciphers maybe;",
    );
    assert_ne!(broken, text, "the directive to break is there");
    std::fs::write(&site, broken).unwrap();
    let (ok, _) = nginx_t(&nginx_sandbox(run.path(), ports()).unwrap());
    assert!(!ok, "nginx -t accepted an invalid directive");
}

/// The GIXY validator, exactly as `verify` runs it, on `root`.
fn gixy(root: &std::path::Path) -> Outcome {
    require_tool("gixy");
    (GIXY.run)(root, "deploy/nginx/nginx.conf")
}

#[test]
fn gixy_finds_nothing_in_the_variants() {
    let runs = variant_runs();
    assert_eq!(runs.len(), 2);
    for (name, run) in &runs {
        assert_eq!(gixy(run.path()), Outcome::Pass, "{name}");
    }
}

#[test]
fn gixy_fails_on_a_finding_and_on_an_include_it_cannot_see() {
    let run = init_preset("fastapi-three-tier");
    let site = run.path().join("deploy/nginx/conf.d/site.conf");
    let original = std::fs::read_to_string(&site).unwrap();
    let fails_with = |text: String, needle: &str| {
        assert_ne!(text, original, "the edit for {needle} changed nothing");
        std::fs::write(&site, text).unwrap();
        match gixy(run.path()) {
            Outcome::Fail(out) => assert!(out.contains(needle), "{needle}: {out}"),
            Outcome::Pass => panic!("gixy passed a config that should give {needle}"),
        }
        std::fs::write(&site, &original).unwrap();
    };
    // The two findings this config once had; the second is only LOW, and
    // fails all the same.
    fails_with(
        original.replace(
            "        default_type text/plain;\n",
            "        default_type text/plain;\n        try_files $uri =404;\n",
        ),
        "try_files_is_evil_too",
    );
    fails_with(
        original.replace("        return 421;\n", "        return 404;\n"),
        "http2_misdirected_request",
    );
    // The SPA fallback needs its file cache.
    fails_with(
        original.replace("        open_file_cache max=1000 inactive=60s;\n", ""),
        "try_files_is_evil_too",
    );
    // A missing include would hide what is in it, a glob that matches
    // nothing too (gixy itself says nothing about either).
    std::fs::remove_file(run.path().join("deploy/nginx/snippets/proxy.conf")).unwrap();
    match gixy(run.path()) {
        Outcome::Fail(out) => assert!(
            out.contains("include snippets/proxy.conf") && out.contains("no file"),
            "{out}"
        ),
        Outcome::Pass => panic!("gixy passed with snippets/proxy.conf missing"),
    }
    std::fs::remove_dir_all(run.path().join("deploy/nginx/conf.d")).unwrap();
    match gixy(run.path()) {
        Outcome::Fail(out) => assert!(out.contains("include conf.d/*.conf"), "{out}"),
        Outcome::Pass => panic!("gixy passed with conf.d missing"),
    }
}

/// The block that starts at the first line containing `opening` (which ends
/// in `{`), up to its matching `}`.
fn block<'a>(conf: &'a str, opening: &str) -> &'a str {
    let start = conf
        .find(opening)
        .unwrap_or_else(|| panic!("no {opening:?} in\n{conf}"));
    let mut depth = 0;
    for (i, c) in conf[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &conf[start..=start + i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced block {opening:?}");
}

#[test]
fn default_tls_server_answers_421_and_acme_needs_no_try_files() {
    for preset in presets() {
        let run = init_preset(&preset);
        let site = run.read("deploy/nginx/conf.d/site.conf");
        let default = block(
            &site,
            "server {\n    listen 443 ssl default_server;\n    http2 on;",
        );
        assert!(
            default.contains("ssl_reject_handshake on;"),
            "{preset}: {default}"
        );
        let root = block(default, "location / {");
        assert!(root.contains("return 421;"), "{preset}: {default}");
        let acme = block(&site, "location ^~ /.well-known/acme-challenge/ {");
        assert!(acme.contains("root /var/www/certbot;"), "{preset}: {acme}");
        assert!(!acme.contains("try_files"), "{preset}: {acme}");
        // Wherever try_files remains (the SPA fallback), its lookups are
        // cached.
        for (i, _) in site.match_indices("\n    location ") {
            let loc = block(&site[i..], "location ");
            if loc.contains("try_files") {
                assert!(loc.contains("open_file_cache max="), "{preset}: {loc}");
            }
        }
    }
}

#[test]
fn tls_settings_follow_mozilla_intermediate() {
    for preset in presets() {
        let run = init_preset(&preset);
        let site = run.read("deploy/nginx/conf.d/site.conf");
        let main = run.read("deploy/nginx/nginx.conf");
        for needle in [
            "ssl_protocols TLSv1.2 TLSv1.3;",
            "ssl_prefer_server_ciphers off;",
            "ssl_session_timeout 1d;",
            "ssl_session_cache shared:MozSSL:10m;",
            "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;",
            "return 308 https://",
            "ssl_reject_handshake on;",
        ] {
            assert!(site.contains(needle), "{preset}: site.conf lacks {needle}");
        }
        let ciphers = site
            .lines()
            .find(|l| l.starts_with("ssl_ciphers "))
            .unwrap();
        assert!(
            ciphers
                .split([' ', ':', ';'])
                .all(|c| !c.starts_with("DHE-")),
            "{preset}: DHE suites need a dhparam file: {ciphers}"
        );
        assert!(!site.contains("ssl_stapling on"), "{preset}");
        assert!(
            main.contains("server_tokens off;") && main.contains("limit_req_status 429;"),
            "{preset}"
        );
    }
}

/// HTTP/2 is the `http2 on;` directive of nginx 1.25.1+ (the image runs
/// 1.26), never the deprecated `listen ... http2`; the sandbox turns it back
/// into the listen parameter for this machine's older nginx, which is what
/// lets `nginx -t` and the live HTTP/2 checks run here.
#[test]
fn http2_is_the_directive_and_the_sandbox_adapts_it_to_old_nginx() {
    require_tool("openssl");
    let version = local_nginx_version();
    let old = version.is_some_and(|v| v < HTTP2_DIRECTIVE_SINCE);
    eprintln!("local nginx {version:?}: sandbox rewrites http2: {old}");
    for preset in presets() {
        let run = init_preset(&preset);
        let site = run.read("deploy/nginx/conf.d/site.conf");
        for l in site
            .lines()
            .filter(|l| l.trim_start().starts_with("listen "))
        {
            assert!(!l.contains("http2"), "{preset}: deprecated form: {l}");
        }
        let mut tls_servers = 0;
        for (i, _) in site.match_indices("\nserver {") {
            let server = block(&site[i + 1..], "server {");
            if server.contains("\n    listen 443 ") {
                tls_servers += 1;
                assert!(server.contains("\n    http2 on;\n"), "{preset}: {server}");
            }
        }
        assert_eq!(tls_servers, 2, "{preset}");
        // Left at nginx's default, as Mozilla does for nginx >= 1.23.2.
        assert!(
            !site
                .lines()
                .any(|l| l.trim_start().starts_with("ssl_session_tickets")),
            "{preset}"
        );

        let ports = ports();
        let sandbox = nginx_sandbox(run.path(), ports).unwrap();
        let copied =
            std::fs::read_to_string(sandbox.prefix().join("conf/conf.d/site.conf")).unwrap();
        let https_listens: Vec<&str> = copied
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with(&format!("listen 127.0.0.1:{} ", ports.https)))
            .collect();
        assert_eq!(https_listens.len(), 2, "{preset}: {copied}");
        let directives = copied.lines().filter(|l| l.trim() == "http2 on;").count();
        if old {
            assert_eq!(directives, 0, "{preset}: {copied}");
            assert!(
                https_listens.iter().all(|l| l.contains(" ssl http2")),
                "{preset}: {https_listens:?}"
            );
        } else {
            assert_eq!(directives, 2, "{preset}: {copied}");
            assert!(
                https_listens.iter().all(|l| !l.contains("http2")),
                "{preset}: {https_listens:?}"
            );
        }
    }
}

/// nginx closes idle upstream connections before the app would (Node's and
/// uvicorn's keep-alive timeout is 5 s): otherwise it may reuse one the app
/// is closing and answer 502.
#[test]
fn upstream_keepalive_ends_before_the_apps() {
    for preset in presets() {
        let run = init_preset(&preset);
        let site = run.read("deploy/nginx/conf.d/site.conf");
        let upstream = block(&site, "upstream app_upstream {");
        assert!(upstream.contains("keepalive 32;"), "{preset}: {upstream}");
        let timeout = value_after(upstream, "\n    keepalive_timeout ");
        assert!(timeout < 5, "{preset}: {upstream}");
        // The address of a recreated app reaches nginx by compose restarting
        // it, which the comment says (not that a reload would).
        assert!(
            upstream.contains("`restart: true`") && !upstream.contains("reload"),
            "{preset}: {upstream}"
        );
    }
}

/// The app's own Content-Security-Policy passes through; the profile's is
/// added only to responses without one (the live checks send both kinds).
#[test]
fn csp_is_the_apps_own_when_it_sends_one() {
    for preset in presets() {
        let run = init_preset(&preset);
        let lock = run.read("shipready.toml");
        let csp = lock
            .lines()
            .find_map(|l| l.strip_prefix("content_security_policy = "))
            .unwrap()
            .trim_matches('"');
        let proxy = run.read("deploy/nginx/snippets/proxy.conf");
        assert!(
            !proxy.contains("proxy_hide_header Content-Security-Policy"),
            "{preset}: the app's CSP is thrown away"
        );
        let headers = run.read("deploy/nginx/snippets/security-headers.conf");
        assert!(
            headers.contains("\nadd_header Content-Security-Policy $edge_csp always;\n"),
            "{preset}: {headers}"
        );
        let main = run.read("deploy/nginx/nginx.conf");
        let map = block(
            &main,
            "map $upstream_http_content_security_policy $edge_csp {",
        );
        assert!(
            map.contains(&format!("\n        '' \"{csp}\";\n"))
                && map.contains("\n        default '';\n"),
            "{preset}: {map}"
        );
    }
}

/// Handshake floods on the WebSocket location are rate limited (the live
/// checks show an open socket is not affected).
#[test]
fn websocket_handshakes_are_rate_limited() {
    let presets = presets();
    let with_websocket = presets
        .iter()
        .filter(|p| !common::profile_of(p).voice.websocket_path.is_empty())
        .count();
    let mut checked = 0;
    for preset in presets {
        let run = init_preset(&preset);
        let lock = run.read("shipready.toml");
        let Some(path) = lock
            .lines()
            .find_map(|l| l.strip_prefix("websocket_path = "))
            .map(|v| v.trim_matches('"').to_string())
            .filter(|v| !v.is_empty())
        else {
            continue;
        };
        let site = run.read("deploy/nginx/conf.d/site.conf");
        let location = block(&site, &format!("location ^~ {path} {{"));
        let main = run.read("deploy/nginx/nginx.conf");
        let rate = value_after(&main, "zone=websocket:10m rate=");
        assert!(rate > 0, "{preset}");
        assert!(
            location.contains(&format!(
                "limit_req zone=websocket burst={} nodelay;",
                rate * 2
            )),
            "{preset}: {location}"
        );
        checked += 1;
    }
    assert!(with_websocket > 0);
    assert_eq!(
        checked, with_websocket,
        "every preset with a WebSocket path"
    );
}

/// Services in compose.prod.yaml with a `ports:` list, and the entries.
fn published(compose: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut in_services, mut service, mut in_ports) = (false, String::new(), false);
    for line in compose.lines() {
        if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('#') {
            in_services = line == "services:";
            continue;
        }
        if !in_services {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let t = line.trim();
        if indent == 2 && t.ends_with(':') && !t.starts_with('#') {
            service = t.trim_end_matches(':').to_string();
            in_ports = false;
        } else if indent == 4 {
            in_ports = t == "ports:";
        } else if in_ports && t.starts_with("- ") {
            out.entry(service.clone())
                .or_default()
                .push(t[2..].trim_matches('"').to_string());
        }
    }
    out
}

#[test]
fn nginx_is_the_only_service_published_in_production() {
    for preset in presets() {
        let run = init_preset(&preset);
        let ports = published(&run.read("compose.prod.yaml"));
        assert_eq!(
            ports.get("nginx").cloned().unwrap_or_default(),
            vec!["80:80".to_string(), "443:443".to_string()],
            "{preset}"
        );
        for (svc, list) in &ports {
            if svc != "nginx" {
                // Anything else may only be reachable from the host itself.
                assert!(
                    list.iter().all(|p| p.starts_with("127.0.0.1:")),
                    "{preset}: {svc} publishes {list:?}"
                );
            }
        }
        assert!(
            !ports.contains_key("app"),
            "{preset}: the app must be reached through nginx only"
        );
    }
}

struct Response {
    status: u16,
    headers: BTreeMap<String, String>,
    /// The status line and header lines as received (repeated headers too).
    head: String,
    body: String,
}

impl Response {
    /// How many times the header `name` was sent.
    fn header_count(&self, name: &str) -> usize {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .count()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

struct Live {
    run: Run,
    sandbox: NginxSandbox,
    ports: NginxPorts,
    _nginx: common::Server,
    _upstream: common::Server,
}

impl Live {
    fn start(run: Run) -> Live {
        let python = require_tool("python3");
        let nginx = require_tool("nginx");
        let ports = ports();
        let sandbox = nginx_sandbox(run.path(), ports).unwrap();
        let script = sandbox.prefix().join("upstream.py");
        std::fs::write(&script, UPSTREAM).unwrap();
        let mut upstream = common::Server(
            Command::new(python)
                .arg(&script)
                .arg(ports.upstream.to_string())
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );
        upstream.wait_for_port(ports.upstream, "upstream");
        std::fs::write(
            sandbox.html_root().join("index.html"),
            "<!doctype html><title>app</title>\n",
        )
        .unwrap();
        let child = Command::new(nginx)
            .args(sandbox.args())
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut nginx = common::Server(child);
        nginx.wait_for_port(ports.https, "nginx");
        nginx.wait_for_port(ports.http, "nginx");
        Live {
            run,
            sandbox,
            ports,
            _nginx: nginx,
            _upstream: upstream,
        }
    }

    fn curl(&self, extra: &[&str], url_path: &str, https: bool) -> Response {
        let url = if https {
            format!("https://{DOMAIN}:{}{url_path}", self.ports.https)
        } else {
            format!("http://{DOMAIN}:{}{url_path}", self.ports.http)
        };
        let out = Command::new(require_tool("curl"))
            .args(["-sk", "-i", "--max-time", "10"])
            .arg("--resolve")
            .arg(format!("{DOMAIN}:{}:127.0.0.1", self.ports.https))
            .arg("--resolve")
            .arg(format!("{DOMAIN}:{}:127.0.0.1", self.ports.http))
            .args(extra)
            .arg(&url)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "no status from {url}: {text:?} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Response {
            status,
            headers,
            head: head.to_string(),
            body: body.to_string(),
        }
    }

    fn get(&self, path: &str) -> Response {
        self.curl(&[], path, true)
    }

    fn conf(&self, name: &str) -> String {
        self.run.read(name)
    }
}

fn assert_security_headers(r: &Response, what: &str) {
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=63072000; includeSubDomains"),
        "{what}: {:?}",
        r.headers
    );
    assert!(
        r.header("content-security-policy")
            .is_some_and(|v| v.contains("default-src")),
        "{what}: CSP"
    );
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        r.header("referrer-policy"),
        Some("strict-origin-when-cross-origin"),
        "{what}"
    );
    assert_eq!(
        r.header("server"),
        Some("nginx"),
        "{what}: the Server header must carry no version"
    );
    assert!(
        r.header("x-powered-by").is_none(),
        "{what}: X-Powered-By leaked"
    );
}

fn s_client(port: u16, version: &str, extra: &[&str]) -> (bool, String) {
    let out = Command::new(require_tool("openssl"))
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            DOMAIN,
            version,
        ])
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn value_after(text: &str, key: &str) -> u32 {
    let i = text.find(key).unwrap_or_else(|| panic!("{key} not found")) + key.len();
    text[i..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

fn live_checks(preset: &str) {
    let run = init_preset_with(preset, &[&format!("edge.cors_origins=[\"{CORS_ORIGIN}\"]")]);
    let lock = run.read("shipready.toml");
    let live = Live::start(run);
    let main = live.conf("deploy/nginx/nginx.conf");
    let health = lock
        .lines()
        .find_map(|l| l.strip_prefix("health_path = "))
        .unwrap()
        .trim_matches('"')
        .to_string();

    // A proxied response: forwarded headers reach the app, the edge's
    // headers replace the app's, no version, no X-Powered-By.
    let r = live.get(&health);
    assert_eq!(r.status, 200, "{preset}: {health} → {}", r.body);
    assert_security_headers(&r, &format!("{preset} proxied {health}"));
    let echoed: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let h = &echoed["headers"];
    assert_eq!(h["x-forwarded-proto"], "https", "{preset}");
    assert_eq!(h["host"], DOMAIN, "{preset}: Host is the public name");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1", "{preset}");
    assert!(
        h["x-request-id"].as_str().is_some_and(|v| v.len() >= 16),
        "{preset}: X-Request-ID"
    );
    assert_eq!(
        r.header("x-request-id"),
        h["x-request-id"].as_str(),
        "{preset}"
    );

    // Content-Security-Policy: the profile's where the app sends none, the
    // app's own (a Next.js nonce policy, say) passed through untouched and
    // once.
    let profile_csp = lock
        .lines()
        .find_map(|l| l.strip_prefix("content_security_policy = "))
        .unwrap()
        .trim_matches('"');
    assert_eq!(
        r.header("content-security-policy"),
        Some(profile_csp),
        "{preset}: the app sent no CSP"
    );
    let own = live.get("/api/own-csp");
    assert_eq!(own.status, 200, "{preset}: /api/own-csp");
    assert_eq!(
        own.header("content-security-policy"),
        Some(APP_CSP),
        "{preset}: the app's CSP was replaced:\n{}",
        own.head
    );
    assert_eq!(
        own.header_count("content-security-policy"),
        1,
        "{preset}: CSP sent twice:\n{}",
        own.head
    );

    // 404s: from the app (proxied) and from nginx itself.
    let r = live.get("/api/missing-thing");
    assert_eq!(r.status, 404, "{preset}");
    let r2 = live.get("/missing/page");
    let metrics = lock
        .lines()
        .find_map(|l| l.strip_prefix("metrics_path = "))
        .unwrap()
        .trim_matches('"');
    let nginx_404 = live.get(metrics);
    assert_eq!(nginx_404.status, 404, "{preset}: metrics are not public");
    for (what, resp) in [("app 404", &r), ("nginx 404", &nginx_404)] {
        assert_security_headers(resp, &format!("{preset} {what}"));
        assert_eq!(
            resp.header("content-security-policy"),
            Some(profile_csp),
            "{preset} {what}"
        );
    }
    assert!(r2.status == 404 || r2.status == 200, "{preset}");
    assert_security_headers(&r2, &format!("{preset} /missing/page"));

    // http → https, except the ACME challenge.
    let r = live.curl(&[], "/some/page?x=1", false);
    assert!(
        r.status == 308 || r.status == 301,
        "{preset}: http gave {}",
        r.status
    );
    assert_eq!(
        r.header("location"),
        Some(format!("https://{DOMAIN}/some/page?x=1").as_str()),
        "{preset}"
    );
    let challenge = live.sandbox.acme_root().join(".well-known/acme-challenge");
    std::fs::create_dir_all(&challenge).unwrap();
    std::fs::write(challenge.join("tok-123"), "tok-123.key-authz").unwrap();
    let r = live.curl(&[], "/.well-known/acme-challenge/tok-123", false);
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "tok-123.key-authz"),
        "{preset}: ACME challenge"
    );

    // TLS versions.
    let (ok11, out11) = s_client(
        live.ports.https,
        "-tls1_1",
        &["-cipher", "DEFAULT:@SECLEVEL=0"],
    );
    assert!(
        !ok11 && out11.contains("Cipher is (NONE)") && out11.contains("protocol version"),
        "{preset}: TLS 1.1 was not refused with a protocol_version alert:\n{out11}"
    );
    for v in ["1.2", "1.3"] {
        let (ok, out) = s_client(
            live.ports.https,
            &format!("-tls{}", v.replace('.', "_")),
            &[],
        );
        assert!(
            ok && out.contains(&format!("TLSv{v}")),
            "{preset}: TLS {v} refused:\n{out}"
        );
    }
    // An unknown name gets no certificate at all.
    let (ok, _) = s_client(
        live.ports.https,
        "-tls1_2",
        &["-servername", "other.example.org"],
    );
    assert!(!ok, "{preset}: a handshake for another name succeeded");
    // A handshake for the domain, then a request naming another host (an
    // HTTP/1.1 Host header, or an HTTP/2 :authority as on a reused
    // connection): the default server answers 421 Misdirected Request.
    for proto in ["--http1.1", "--http2"] {
        let r = live.curl(&[proto, "-H", "Host: other.example.org"], "/", true);
        assert_eq!(
            r.status, 421,
            "{preset} {proto}: Host other.example.org after the domain's handshake: {}",
            r.body
        );
        assert_security_headers(&r, &format!("{preset} {proto} 421"));
    }

    // HTTP/2 over ALPN, gzip for large JSON.
    let r = live.curl(
        &["--http2", "-H", "Accept-Encoding: gzip"],
        "/api/big",
        true,
    );
    assert_eq!(r.status, 200, "{preset}: /api/big");
    let raw = Command::new(require_tool("curl"))
        .args([
            "-sk",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version}",
            "--http2",
            "--resolve",
        ])
        .arg(format!("{DOMAIN}:{}:127.0.0.1", live.ports.https))
        .arg(format!("https://{DOMAIN}:{}{health}", live.ports.https))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&raw.stdout),
        "2",
        "{preset}: HTTP/2"
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"), "{preset}: gzip");

    // CORS on the API.
    let pre = ["-X", "OPTIONS", "-H", "Access-Control-Request-Method: POST"];
    let allowed = live.curl(
        &[&pre[..], &["-H", &format!("Origin: {CORS_ORIGIN}")]].concat(),
        "/api/items",
        true,
    );
    assert_eq!(allowed.status, 204, "{preset}: preflight");
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some(CORS_ORIGIN),
        "{preset}"
    );
    assert!(
        allowed
            .header("access-control-allow-methods")
            .is_some_and(|m| m.contains("POST")),
        "{preset}"
    );
    assert_security_headers(&allowed, &format!("{preset} preflight"));
    let other = live.curl(
        &[&pre[..], &["-H", "Origin: https://evil.example.net"]].concat(),
        "/api/items",
        true,
    );
    assert!(
        other.header("access-control-allow-origin").is_none(),
        "{preset}: {:?}",
        other.headers
    );
    let get = live.curl(
        &["-H", "Origin: https://evil.example.net"],
        "/api/items",
        true,
    );
    assert!(
        get.header("access-control-allow-origin").is_none(),
        "{preset}: the app's * must be hidden"
    );

    // WebSocket upgrade and echo.
    let ws_path = lock
        .lines()
        .find_map(|l| l.strip_prefix("websocket_path = "))
        .map(|v| v.trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "/api/ws".into());
    let out = Command::new(require_tool("python3"))
        .arg("-c")
        .arg(WS_CLIENT)
        .args([&live.ports.https.to_string(), &ws_path, DOMAIN])
        .output()
        .unwrap();
    let ws: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{preset}: ws client: {e}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        ws["status"].as_str().unwrap().contains(" 101 "),
        "{preset}: {ws}"
    );
    assert_eq!(ws["accept_ok"], true, "{preset}");
    assert_eq!(ws["echo"], "hello media stream", "{preset}");

    // A flood of handshakes on the WebSocket location gets 429s, while a
    // socket opened before it keeps working (limit_req sees requests, not
    // the frames of an open socket).
    if lock.contains(&format!("websocket_path = \"{ws_path}\"")) {
        let rate = value_after(&main, "zone=websocket:10m rate=");
        let n = (rate * 2 + 20) * 2;
        let started = Instant::now();
        let out = Command::new(require_tool("python3"))
            .arg("-c")
            .arg(WS_FLOOD)
            .args([
                &live.ports.https.to_string(),
                &ws_path,
                DOMAIN,
                &n.to_string(),
            ])
            .output()
            .unwrap();
        let flood: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{preset}: ws flood: {e}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let codes: Vec<&str> = flood["codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let upgraded = codes.iter().filter(|c| **c == "101").count();
        let limited = codes.iter().filter(|c| **c == "429").count();
        assert_eq!(flood["first"], "101", "{preset}: {flood}");
        assert!(
            upgraded > 0 && limited > 0 && upgraded + limited == codes.len(),
            "{preset}: {n} handshakes on {ws_path}: {upgraded}×101, {limited}×429: {codes:?}"
        );
        assert_eq!(
            flood["echo"], "still open after the flood",
            "{preset}: the socket opened before the flood stopped working"
        );
        eprintln!(
            "{preset}: {n} WebSocket handshakes on {ws_path} (rate {rate}/s) in {:?}: {upgraded}×101, {limited}×429, held socket still echoes",
            started.elapsed()
        );
    }

    // A burst over the webhook limit (the API limit without webhooks) gets 429.
    let voice = !lock.contains("provider = \"none\"");
    let (path, zone) = if voice {
        let p = lock
            .lines()
            .find_map(|l| l.strip_prefix("webhook_path = "))
            .unwrap()
            .trim_matches('"')
            .to_string();
        (p, "zone=webhooks:10m rate=")
    } else {
        ("/api/burst".to_string(), "zone=api:10m rate=")
    };
    let rate = value_after(&main, zone);
    let n = (rate * 2 + 20) * 2;
    let url = format!("https://{DOMAIN}:{}{path}", live.ports.https);
    let mut cmd = Command::new(require_tool("curl"));
    cmd.args([
        "-sk",
        "--http1.1",
        "-w",
        "%{http_code}\\n",
        "-d",
        "CallSid=CA1",
        "--resolve",
    ])
    .arg(format!("{DOMAIN}:{}:127.0.0.1", live.ports.https));
    for _ in 0..n {
        // -o applies to one URL each.
        cmd.args(["-o", "/dev/null"]).arg(&url);
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let elapsed = started.elapsed();
    let codes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    let ok = codes.iter().filter(|c| *c == "200").count();
    let limited = codes.iter().filter(|c| *c == "429").count();
    assert_eq!(codes.len() as u32, n, "{preset}");
    assert!(
        ok > 0 && limited > 0,
        "{preset}: {n} requests to {path}: {ok}×200, {limited}×429"
    );
    eprintln!(
        "{preset}: burst of {n} POSTs to {path} (rate {rate}/s, burst {}) in {:?}: {ok}×200, {limited}×429",
        rate * 2,
        elapsed
    );
    if voice {
        // Webhook bodies are capped at 1 MB.
        let big = live.sandbox.prefix().join("big.txt");
        std::fs::write(&big, vec![b'a'; 2 * 1024 * 1024]).unwrap();
        // Let the limiter refill (one slot takes 1/rate s), then send 2 MB.
        std::thread::sleep(Duration::from_secs(1));
        let r = live.curl(
            &["--http1.1", "--data-binary", &format!("@{}", big.display())],
            &path,
            true,
        );
        assert_eq!(r.status, 413, "{preset}: 2 MB webhook body");
        assert_security_headers(&r, &format!("{preset} 413"));
    }

    // JSON access log lines a pipeline can parse.
    let log = std::fs::read_to_string(live.sandbox.access_log()).unwrap();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{preset}: access log line is not JSON ({e}): {l}"))
        })
        .collect();
    assert!(lines.iter().any(|l| l["status"] == 429), "{preset}");
    assert!(
        lines
            .iter()
            .all(|l| l["request_id"].as_str().is_some_and(|s| !s.is_empty())),
        "{preset}"
    );
}

#[test]
fn live_nginx_twilio_voice() {
    live_checks("twilio-voice");
}

#[test]
fn live_nginx_ringcentral_hold_hunter() {
    live_checks("ringcentral-hold-hunter");
}

#[test]
fn live_nginx_node_dashboard() {
    live_checks("node-dashboard");
}

#[test]
fn live_nginx_prisma_voice() {
    live_checks("prisma-voice");
}

#[test]
fn live_nginx_fastapi_three_tier() {
    live_checks("fastapi-three-tier");
}

/// The TLS 1.1 refusal above means something only if this client can speak
/// TLS 1.1: the same config with TLS 1.1 allowed accepts the same command.
#[test]
fn tls11_client_control() {
    let run = init_preset("twilio-voice");
    let site = run.path().join("deploy/nginx/conf.d/site.conf");
    let text = std::fs::read_to_string(&site).unwrap();
    let text = text
        .replace(
            "ssl_protocols TLSv1.2 TLSv1.3;",
            "ssl_protocols TLSv1.1 TLSv1.2 TLSv1.3;",
        )
        .replace(
            "ECDHE-RSA-CHACHA20-POLY1305;",
            "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0;",
        );
    std::fs::write(&site, text).unwrap();
    let live = Live::start(run);
    let (ok, out) = s_client(
        live.ports.https,
        "-tls1_1",
        &["-cipher", "DEFAULT:@SECLEVEL=0"],
    );
    assert!(
        ok && out.contains("TLSv1.1"),
        "the control server refused TLS 1.1, so the client cannot test it:\n{out}"
    );
}

/// The edge's scripts with bring-your-own TLS (the presets' own are
/// checked by `verify --strict`), through verify's own shellcheck check.
#[test]
fn the_byo_tls_scripts_pass_shellcheck() {
    require_tool("shellcheck");
    let run = init_preset_with("node-dashboard", &["edge.tls=\"byo\""]);
    let files = run.files();
    let scripts: Vec<&str> = files
        .iter()
        .map(String::as_str)
        .filter(|f| f.starts_with("deploy/nginx/") && f.ends_with(".sh"))
        .collect();
    assert!(
        !scripts.is_empty(),
        "no scripts under deploy/nginx: {files:?}"
    );
    let findings = check_only(run.path(), &scripts, &["shellcheck"]);
    assert_eq!(findings.len(), scripts.len(), "{findings:?}");
    for f in &findings {
        assert_eq!(f.result, Ok(Outcome::Pass), "{}", f.target);
    }
}

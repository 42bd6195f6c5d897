//! Validators for the edge and cache: `nginx -t` and gixy (nginx's security
//! analyzer) on the generated nginx configuration, and a real start of
//! `redis-server` with the generated redis.conf.
//!
//! Both files are written for their containers (paths like
//! `/etc/nginx/tls/`, `/data`, `/run/secrets/...`, the host name `app`), so
//! each check runs on a copy in a temp dir where only those container paths
//! are rewritten to point into it. The nginx configuration is written for
//! the image's nginx (1.26); when the local nginx is older than 1.25.1, the
//! copy also spells HTTP/2 the old way (see [`http2_as_listen_parameter`]).
//! The sandboxes are public so that the test suite starts live servers from
//! exactly what `verify` checks.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{files_where, run_command, Outcome, Validator};

pub const NGINX: Validator = Validator {
    name: "nginx -t",
    tools: &["nginx", "openssl"],
    targets: |paths| files_where(paths, |p| p == "deploy/nginx/nginx.conf"),
    run: |root, target| nginx_test(root, target),
};

/// gixy over the configuration exactly as it ships (no sandbox rewrites),
/// with includes resolved the way nginx resolves them.
pub const GIXY: Validator = Validator {
    name: "gixy",
    tools: &["gixy"],
    targets: |paths| files_where(paths, |p| p == "deploy/nginx/nginx.conf"),
    run: |root, target| gixy_check(root, target),
};

pub const REDIS: Validator = Validator {
    name: "redis-server",
    tools: &["redis-server", "redis-cli"],
    targets: |paths| files_where(paths, |p| p == "deploy/redis/redis.conf"),
    run: |root, target| redis_check(root, target),
};

/// Loopback ports a sandboxed nginx listens on instead of 80, 443 and 8080,
/// and where the upstream `app` is.
#[derive(Debug, Clone, Copy)]
pub struct NginxPorts {
    pub http: u16,
    pub https: u16,
    pub status: u16,
    pub upstream: u16,
}

/// A copy of `deploy/nginx` under a temp prefix, ready for
/// `nginx -p <prefix>/ -c conf/nginx.conf`.
pub struct NginxSandbox {
    pub dir: tempfile::TempDir,
}

impl NginxSandbox {
    pub fn prefix(&self) -> &Path {
        self.dir.path()
    }
    /// Arguments selecting this prefix, config and startup error log.
    pub fn args(&self) -> Vec<String> {
        let p = self.prefix().display().to_string();
        vec![
            "-p".into(),
            format!("{p}/"),
            "-c".into(),
            "conf/nginx.conf".into(),
            "-e".into(),
            format!("{p}/error.log"),
        ]
    }
    /// Where the JSON access log goes in the sandbox.
    pub fn access_log(&self) -> PathBuf {
        self.prefix().join("access.log")
    }
    /// The ACME webroot (`/var/www/certbot` in the container).
    pub fn acme_root(&self) -> PathBuf {
        self.prefix().join("acme")
    }
    /// The static root (`/usr/share/nginx/html` in the container).
    pub fn html_root(&self) -> PathBuf {
        self.prefix().join("html")
    }
}

/// Build the sandbox: copy `root/deploy/nginx`, rewrite container paths,
/// ports and the upstream host into it, and make a throwaway self-signed
/// certificate for `domain` (the real one lives in a volume, not the repo).
pub fn nginx_sandbox(root: &Path, ports: NginxPorts) -> Result<NginxSandbox, String> {
    let dir = tempfile::Builder::new()
        .prefix("shipready-nginx-")
        .tempdir()
        .map_err(|e| format!("temp dir: {e}"))?;
    let prefix = dir.path().to_path_buf();
    // Workers run as an unprivileged user when the master is root: they must
    // be able to reach the temp dirs, webroot and static files.
    set_mode(&prefix, 0o755)?;
    let conf = prefix.join("conf");
    copy_tree(&root.join("deploy/nginx"), &conf)?;
    for sub in ["tmp", "tls", "acme", "html"] {
        std::fs::create_dir_all(prefix.join(sub)).map_err(|e| e.to_string())?;
        set_mode(&prefix.join(sub), 0o755)?;
    }
    write_mime_types(&conf)?;

    let p = prefix.display().to_string();
    let mut domain = String::from("localhost");
    let old_http2 = local_nginx_version().is_some_and(|v| v < HTTP2_DIRECTIVE_SINCE);
    for file in conf_files(&conf)? {
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        let text = if old_http2 {
            http2_as_listen_parameter(&text)
        } else {
            text
        };
        if let Some(name) = text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("server_name ")
                .map(|n| n.trim_end_matches(';').trim().to_string())
                .filter(|n| n != "_")
        }) {
            domain = name;
        }
        let mut out = String::with_capacity(text.len());
        for line in text.lines() {
            let t = line.trim_start();
            let indent = &line[..line.len() - t.len()];
            let new = if t == "user nginx;" {
                format!("{indent}# {t} (sandbox: not root-only)")
            } else if t.starts_with("server app:") {
                format!("{indent}server 127.0.0.1:{};", ports.upstream)
            } else if let Some(rest) = t.strip_prefix("listen 80 ") {
                format!("{indent}listen 127.0.0.1:{} {rest}", ports.http)
            } else if let Some(rest) = t.strip_prefix("listen 443 ") {
                format!("{indent}listen 127.0.0.1:{} {rest}", ports.https)
            } else if t == "listen 8080;" {
                format!("{indent}listen 127.0.0.1:{};", ports.status)
            } else {
                line.replace("pid /tmp/nginx.pid;", &format!("pid {p}/nginx.pid;"))
                    .replace("/tmp/nginx-", &format!("{p}/tmp/nginx-"))
                    .replace("/etc/nginx/tls/", &format!("{p}/tls/"))
                    .replace("/var/www/certbot", &format!("{p}/acme"))
                    .replace("/usr/share/nginx/html", &format!("{p}/html"))
                    .replace(
                        "access_log /dev/stdout",
                        &format!("access_log {p}/access.log"),
                    )
                    .replace("error_log stderr", &format!("error_log {p}/error.log"))
            };
            out.push_str(&new);
            out.push('\n');
        }
        std::fs::write(&file, out).map_err(|e| e.to_string())?;
    }
    self_signed(&prefix.join("tls"), &domain)?;
    Ok(NginxSandbox { dir })
}

/// The first nginx version with the `http2` directive; older ones enable
/// HTTP/2 with the `http2` parameter of `listen` (deprecated since).
pub const HTTP2_DIRECTIVE_SINCE: (u32, u32, u32) = (1, 25, 1);

/// The version of the `nginx` on PATH, from `nginx -v`; `None` when it does
/// not run or says something else. Asked once per process.
pub fn local_nginx_version() -> Option<(u32, u32, u32)> {
    static VERSION: std::sync::OnceLock<Option<(u32, u32, u32)>> = std::sync::OnceLock::new();
    *VERSION.get_or_init(|| {
        let out = Command::new("nginx")
            .arg("-v")
            .stdin(Stdio::null())
            .output()
            .ok()?;
        // nginx prints its version on stderr.
        let text = String::from_utf8_lossy(&out.stderr).into_owned()
            + &String::from_utf8_lossy(&out.stdout);
        parse_nginx_version(&text)
    })
}

/// `(1, 22, 1)` from `nginx version: nginx/1.22.1` (any suffix ignored).
fn parse_nginx_version(text: &str) -> Option<(u32, u32, u32)> {
    let rest = &text[text.find("nginx/")? + "nginx/".len()..];
    let version: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let mut parts = version.split('.').map(|n| n.parse::<u32>().ok());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Some(a)), Some(Some(b)), Some(Some(c))) => Some((a, b, c)),
        _ => None,
    }
}

/// The configuration for an nginx older than 1.25.1, which has no `http2`
/// directive: in each `server` block that says `http2 on;`, that line is
/// commented out and every `listen` of the block gets the `http2` parameter
/// instead (after `ssl`), which is what the generated form means there.
/// Everything else is left as it is.
pub fn http2_as_listen_parameter(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() != "server {" {
            i += 1;
            continue;
        }
        // The block's lines, up to its closing brace.
        let (start, mut depth, mut end) = (i, 0i32, lines.len() - 1);
        for (j, line) in lines.iter().enumerate().skip(i) {
            depth += brace_balance(line);
            if depth <= 0 {
                end = j;
                break;
            }
        }
        let body = start + 1..end;
        let is_http2_on = |l: &str| l.trim() == "http2 on;";
        if lines[body.clone()].iter().any(|l| is_http2_on(l)) {
            for j in body {
                let t = lines[j].trim_start();
                let indent = &lines[j][..lines[j].len() - t.len()];
                if is_http2_on(t) {
                    out[j] = format!(
                        "{indent}# http2 on; (sandbox: nginx before 1.25.1 takes `listen ... http2`)"
                    );
                } else if let Some(args) = t.strip_prefix("listen ") {
                    let (args, comment) = args.split_once('#').unwrap_or((args, ""));
                    let comment = if comment.is_empty() {
                        String::new()
                    } else {
                        format!(" #{comment}")
                    };
                    let args = args.trim_end().trim_end_matches(';');
                    let mut words: Vec<&str> = args.split_whitespace().collect();
                    if !words.contains(&"http2") {
                        let at = words
                            .iter()
                            .position(|w| *w == "ssl")
                            .map_or(words.len(), |k| k + 1);
                        words.insert(at, "http2");
                    }
                    out[j] = format!("{indent}listen {};{comment}", words.join(" "));
                }
            }
        }
        i = end + 1;
    }
    let mut joined = out.join("\n");
    if text.ends_with('\n') {
        joined.push('\n');
    }
    joined
}

/// `{` minus `}` on a line, outside comments and quoted strings.
fn brace_balance(line: &str) -> i32 {
    let (mut n, mut quote) = (0, None);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => break,
            (None, '{') => n += 1,
            (None, '}') => n -= 1,
            _ => {}
        }
    }
    n
}

fn nginx_test(root: &Path, _target: &str) -> Outcome {
    let ports = NginxPorts {
        http: 18080,
        https: 18443,
        status: 18081,
        upstream: 18000,
    };
    let sandbox = match nginx_sandbox(root, ports) {
        Ok(s) => s,
        Err(e) => return Outcome::Fail(format!("could not prepare the nginx sandbox: {e}")),
    };
    // `nginx -t` parses, loads certificates and resolves upstreams; it binds
    // no port, so the fixed ports above cannot collide.
    run_command(Command::new("nginx").arg("-t").args(sandbox.args()))
}

/// `mime.types` beside the copied nginx.conf: the image ships it in
/// /etc/nginx, the generated tree does not (nginx.conf includes it by a path
/// relative to its own directory).
fn write_mime_types(conf: &Path) -> Result<(), String> {
    let mime = std::fs::read_to_string("/etc/nginx/mime.types").unwrap_or_else(|_| {
        "types {\n    text/html html;\n    text/plain txt;\n    application/json json;\n    application/javascript js;\n    text/css css;\n}\n".into()
    });
    std::fs::write(conf.join("mime.types"), mime).map_err(|e| e.to_string())
}

/// gixy on a copy of `deploy/nginx` laid out as the image's /etc/nginx
/// (the generated files plus `mime.types`), unmodified otherwise, so gixy
/// judges what production runs. gixy resolves includes relative to the main
/// file's directory, as nginx does with this layout. A missing include would
/// hide everything in it (gixy only warns about a plain path and says
/// nothing about a glob that matches no file, such as `conf.d/*.conf`), so
/// both are failures here, before and after gixy runs. Any finding, of any
/// severity, fails: gixy exits non-zero.
fn gixy_check(root: &Path, _target: &str) -> Outcome {
    let result = (|| {
        let dir = tempfile::Builder::new()
            .prefix("shipready-gixy-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let conf = dir.path().join("nginx");
        copy_tree(&root.join("deploy/nginx"), &conf)?;
        write_mime_types(&conf)?;
        let missing = unresolved_includes(&conf)?;
        if !missing.is_empty() {
            return Err(format!(
                "includes that resolve to no file, which gixy would not check:\n{}",
                missing.join("\n")
            ));
        }
        let mut cmd = Command::new("gixy");
        cmd.current_dir(dir.path())
            // Only this run's arguments: no GIXY_* variables or personal
            // ~/.config/gixy file turning checks off.
            .env("HOME", dir.path())
            .args(["--format", "text", "--checks=", "--skips="])
            .arg(conf.join("nginx.conf"))
            .stdin(Stdio::null());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GIXY_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .output()
            .map_err(|e| format!("could not run gixy: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Paths in the report are the temp copy's; show them as the tree's.
        let shown =
            format!("{stdout}{stderr}").replace(&format!("{}/", conf.display()), "deploy/nginx/");
        if !out.status.success() {
            return Err(if shown.trim().is_empty() {
                format!("gixy exited with {}", out.status)
            } else {
                shown
            });
        }
        if stderr.contains("File not found") || stderr.contains("circular include") {
            return Err(format!("gixy could not read every included file:\n{shown}"));
        }
        Ok(())
    })();
    match result {
        Ok(()) => Outcome::Pass,
        Err(e) => Outcome::Fail(e),
    }
}

/// `include` directives under `conf` that match no file, resolved relative
/// to `conf` (nginx's conf prefix); a glob (`*`, `?`) must match at least
/// one file. Each pattern is named once per file, at its first line.
fn unresolved_includes(conf: &Path) -> Result<Vec<String>, String> {
    let mut missing = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for file in conf_files(conf)? {
        let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
        let shown = file
            .strip_prefix(conf)
            .unwrap_or(&file)
            .display()
            .to_string();
        for (n, line) in text.lines().enumerate() {
            let code = line.split('#').next().unwrap_or_default().trim();
            let Some(arg) = code.strip_prefix("include") else {
                continue;
            };
            if !arg.starts_with([' ', '\t']) {
                continue;
            }
            let pattern = arg
                .trim()
                .trim_end_matches(';')
                .trim()
                .trim_matches(['"', '\'']);
            let full = if Path::new(pattern).is_absolute() {
                PathBuf::from(pattern)
            } else {
                conf.join(pattern)
            };
            let matches_a_file = glob::glob(&full.to_string_lossy())
                .map_err(|e| format!("deploy/nginx/{shown}:{}: {e}", n + 1))?
                .flatten()
                .any(|p| p.is_file());
            if !matches_a_file && seen.insert((shown.clone(), pattern.to_string())) {
                missing.push(format!("deploy/nginx/{shown}:{}: include {pattern}", n + 1));
            }
        }
    }
    Ok(missing)
}

fn self_signed(dir: &Path, domain: &str) -> Result<(), String> {
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj"])
        .arg(format!("/CN={domain}"))
        .arg("-addext")
        .arg(format!(
            "subjectAltName=DNS:{domain},DNS:localhost,IP:127.0.0.1"
        ))
        .arg("-keyout")
        .arg(dir.join("privkey.pem"))
        .arg("-out")
        .arg(dir.join("fullchain.pem"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run openssl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl req failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn conf_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
            let p = e.map_err(|e| e.to_string())?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "conf") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::create_dir_all(to).map_err(|e| e.to_string())?;
    set_mode(to, 0o755)?;
    for e in std::fs::read_dir(from).map_err(|e| format!("{}: {e}", from.display()))? {
        let e = e.map_err(|e| e.to_string())?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().map_err(|e| e.to_string())?.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(|e| format!("{}: {e}", src.display()))?;
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(p: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", p.display()))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<(), String> {
    Ok(())
}

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
    pub fn start(&self) -> Result<Child, String> {
        let mut child = Command::new("redis-server")
            .arg(self.conf())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
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
                    "redis-server exited with {status} before answering; its log: {}",
                    std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default()
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("redis-server did not answer PING within 10 s".into());
            }
            std::thread::sleep(Duration::from_millis(50));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_versions_are_read_from_nginx_v() {
        assert_eq!(
            parse_nginx_version("nginx version: nginx/1.22.1\n"),
            Some((1, 22, 1))
        );
        assert_eq!(
            parse_nginx_version("nginx version: nginx/1.26.2 (Debian)"),
            Some((1, 26, 2))
        );
        assert_eq!(parse_nginx_version("nginx version: openresty/1.25"), None);
        assert_eq!(parse_nginx_version(""), None);
        assert!((1, 22, 1) < HTTP2_DIRECTIVE_SINCE && (1, 25, 1) >= HTTP2_DIRECTIVE_SINCE);
        assert!((1, 26, 0) > HTTP2_DIRECTIVE_SINCE && (1, 9, 5) < HTTP2_DIRECTIVE_SINCE);
    }

    #[test]
    fn http2_on_becomes_a_listen_parameter_for_old_nginx() {
        let conf = "\
server {
    listen 80 default_server;
    return 308 https://example.com$request_uri;
}

server {
    listen 443 ssl default_server;
    http2 on;
    server_name _;

    location / {
        return 421;
    }
}

server {
    listen 443 ssl;
    listen [::]:443 ssl; # IPv6
    http2 on;
    server_name example.com;
    location = /x { return 200 \"{ not a block\"; } # }
}

server {
    listen 8443 ssl http2;
}
";
        let old = http2_as_listen_parameter(conf);
        assert_eq!(
            old,
            "\
server {
    listen 80 default_server;
    return 308 https://example.com$request_uri;
}

server {
    listen 443 ssl http2 default_server;
    # http2 on; (sandbox: nginx before 1.25.1 takes `listen ... http2`)
    server_name _;

    location / {
        return 421;
    }
}

server {
    listen 443 ssl http2;
    listen [::]:443 ssl http2; # IPv6
    # http2 on; (sandbox: nginx before 1.25.1 takes `listen ... http2`)
    server_name example.com;
    location = /x { return 200 \"{ not a block\"; } # }
}

server {
    listen 8443 ssl http2;
}
"
        );
        // Nothing to do: the text is returned as it was.
        let plain = "server {\n    listen 8080;\n}\nhttp2_max_concurrent_streams 64;";
        assert_eq!(http2_as_listen_parameter(plain), plain);
        assert_eq!(http2_as_listen_parameter(&old), old);
    }

    #[test]
    fn includes_that_match_nothing_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path();
        std::fs::create_dir_all(conf.join("snippets")).unwrap();
        std::fs::write(conf.join("snippets/a.conf"), "add_header X y;\n").unwrap();
        std::fs::write(
            conf.join("nginx.conf"),
            "# include commented.conf;\ninclude snippets/a.conf;\ninclude snippets/*.conf;\n\
             include conf.d/*.conf;\ninclude mime.types;\ninclude mime.types;\n",
        )
        .unwrap();
        assert_eq!(
            unresolved_includes(conf).unwrap(),
            vec![
                "deploy/nginx/nginx.conf:4: include conf.d/*.conf".to_string(),
                "deploy/nginx/nginx.conf:5: include mime.types".to_string(),
            ]
        );
        write_mime_types(conf).unwrap();
        std::fs::create_dir(conf.join("conf.d")).unwrap();
        std::fs::write(conf.join("conf.d/site.conf"), "").unwrap();
        assert!(unresolved_includes(conf).unwrap().is_empty());
    }
}

//! The nginx sandbox: the generated `deploy/nginx` copied under a temp
//! prefix, with only the container's paths, ports and upstream host
//! rewritten to point into it, and a throwaway certificate. `nginx -t` runs
//! on it, and the test suite starts live servers from exactly this copy.
//!
//! The configuration is written for the image's nginx (1.26); when the local
//! nginx is older than 1.25.1, the copy also spells HTTP/2 the old way (see
//! [`http2_as_listen_parameter`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{conf_files, copy_tree, set_mode};

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

/// `mime.types` beside the copied nginx.conf: the image ships it in
/// /etc/nginx, the generated tree does not (nginx.conf includes it by a path
/// relative to its own directory).
pub(crate) fn write_mime_types(conf: &Path) -> Result<(), String> {
    let mime = std::fs::read_to_string("/etc/nginx/mime.types").unwrap_or_else(|_| {
        "types {\n    text/html html;\n    text/plain txt;\n    application/json json;\n    application/javascript js;\n    text/css css;\n}\n".into()
    });
    std::fs::write(conf.join("mime.types"), mime).map_err(|e| e.to_string())
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
}

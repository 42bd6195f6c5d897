//! Stack detection: read a repository's manifests and guess the answers a
//! profile needs, each with the evidence it came from.
//!
//! Detection is a default the user sees and can override, never a silent
//! guess (DESIGN.md, "fly launch"): every value carries a sentence such as
//! "node 20 — engines.node in package.json". Nothing here touches the
//! network or runs code from the repository; files that do not parse are
//! skipped.

use std::path::Path;

use serde_json::Value as Json;

use crate::profile::{RedisRole, Runtime, VoiceProvider, WorkerKind};

/// A detected value and why it was chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct Detected<T> {
    pub value: T,
    /// e.g. "node 20 — engines.node in package.json"
    pub evidence: String,
}

fn found<T>(value: T, evidence: impl Into<String>) -> Option<Detected<T>> {
    Some(Detected {
        value,
        evidence: evidence.into(),
    })
}

/// Everything detection found. `None` means "no evidence", not "no".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detection {
    pub name: Option<Detected<String>>,
    pub runtime: Option<Detected<Runtime>>,
    pub runtime_version: Option<Detected<String>>,
    /// express, next, fastify, fastapi, …: shown, not a profile key.
    pub framework: Option<Detected<String>>,
    pub postgres: Option<Detected<bool>>,
    pub redis: Option<Detected<RedisRole>>,
    pub worker: Option<Detected<WorkerKind>>,
    pub worker_command: Option<Detected<Vec<String>>>,
    pub voice: Option<Detected<VoiceProvider>>,
    /// The WebSocket path the library serves by default.
    pub websocket_path: Option<Detected<String>>,
    pub port: Option<Detected<u16>>,
    pub start_command: Option<Detected<Vec<String>>>,
    pub migrate_command: Option<Detected<Vec<String>>>,
}

/// The manifests of one repository, read once.
#[derive(Default)]
struct Manifests {
    package_json: Option<Json>,
    pyproject: Option<toml::Table>,
    /// (file name, lower-cased package names)
    requirements: Vec<(String, Vec<String>)>,
    nvmrc: Option<(String, String)>,
    python_version: Option<(String, String)>,
    procfile: Vec<(String, String)>,
    prisma_schema: Option<String>,
    dockerfile: Option<String>,
}

fn read(dir: &Path, name: &str) -> Option<String> {
    let path = dir.join(name);
    let meta = std::fs::symlink_metadata(&path).ok()?;
    // Only plain files of a sane size: a repository can hold anything.
    if !meta.is_file() || meta.len() > 2 * 1024 * 1024 {
        return None;
    }
    std::fs::read_to_string(path).ok()
}

impl Manifests {
    fn load(dir: &Path) -> Manifests {
        let mut m = Manifests {
            package_json: read(dir, "package.json").and_then(|t| serde_json::from_str(&t).ok()),
            pyproject: read(dir, "pyproject.toml").and_then(|t| t.parse().ok()),
            ..Manifests::default()
        };
        let mut req_files: Vec<String> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("requirements") && n.ends_with(".txt"))
            .collect();
        req_files.sort();
        for f in req_files {
            if let Some(text) = read(dir, &f) {
                m.requirements.push((f, requirement_names(&text)));
            }
        }
        for f in [".nvmrc", ".node-version"] {
            if let Some(t) = read(dir, f) {
                m.nvmrc = Some((f.to_string(), t.trim().to_string()));
                break;
            }
        }
        if let Some(t) = read(dir, ".python-version") {
            m.python_version = Some((".python-version".into(), t.trim().to_string()));
        } else if let Some(t) = read(dir, "runtime.txt") {
            m.python_version = Some(("runtime.txt".into(), t.trim().to_string()));
        }
        if let Some(t) = read(dir, "Procfile") {
            for line in t.lines() {
                if let Some((kind, cmd)) = line.split_once(':') {
                    let kind = kind.trim();
                    if !kind.is_empty() && !kind.starts_with('#') {
                        m.procfile.push((kind.to_string(), cmd.trim().to_string()));
                    }
                }
            }
        }
        m.prisma_schema = read(dir, "prisma/schema.prisma");
        m.dockerfile = read(dir, "Dockerfile");
        m
    }

    /// Node dependencies (runtime and dev), by name.
    fn node_dep(&self, name: &str) -> Option<&'static str> {
        let pj = self.package_json.as_ref()?;
        for section in ["dependencies", "devDependencies", "optionalDependencies"] {
            if pj.get(section).and_then(|d| d.get(name)).is_some() {
                return Some(match section {
                    "dependencies" => "dependencies",
                    "devDependencies" => "devDependencies",
                    _ => "optionalDependencies",
                });
            }
        }
        None
    }

    /// Python dependencies, by normalised name; the file that lists it.
    fn py_dep(&self, name: &str) -> Option<String> {
        let want = normalise_py(name);
        if let Some(py) = &self.pyproject {
            let listed = py
                .get("project")
                .and_then(|p| p.get("dependencies"))
                .and_then(|d| d.as_array())
                .is_some_and(|deps| {
                    deps.iter()
                        .filter_map(|d| d.as_str())
                        .any(|d| requirement_name(d).as_deref() == Some(want.as_str()))
                });
            if listed {
                return Some("pyproject.toml".into());
            }
            let poetry = py
                .get("tool")
                .and_then(|t| t.get("poetry"))
                .and_then(|p| p.get("dependencies"))
                .and_then(|d| d.as_table())
                .is_some_and(|t| t.keys().any(|k| normalise_py(k) == want));
            if poetry {
                return Some("pyproject.toml".into());
            }
        }
        self.requirements
            .iter()
            .find(|(_, names)| names.contains(&want))
            .map(|(f, _)| f.clone())
    }

    /// The raw requirement string for `name` (to see extras like celery[redis]).
    fn py_requirement(&self, name: &str) -> Option<String> {
        let want = normalise_py(name);
        let mut all: Vec<String> = Vec::new();
        if let Some(deps) = self
            .pyproject
            .as_ref()
            .and_then(|p| p.get("project"))
            .and_then(|p| p.get("dependencies"))
            .and_then(|d| d.as_array())
        {
            all.extend(deps.iter().filter_map(|d| d.as_str()).map(str::to_string));
        }
        all.into_iter()
            .find(|d| requirement_name(d).as_deref() == Some(want.as_str()))
    }

    fn has_python(&self) -> bool {
        self.pyproject.is_some() || !self.requirements.is_empty()
    }
}

fn normalise_py(name: &str) -> String {
    name.trim().to_ascii_lowercase().replace('_', "-")
}

/// The package name of a PEP 508 requirement line, if it is one.
fn requirement_name(line: &str) -> Option<String> {
    let line = line.split('#').next()?.trim();
    if line.is_empty() || line.starts_with('-') {
        return None;
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .unwrap_or(line.len());
    let name = &line[..end];
    (!name.is_empty()).then(|| normalise_py(name))
}

fn requirement_names(text: &str) -> Vec<String> {
    text.lines().filter_map(requirement_name).collect()
}

/// The major version in a Node version spec: ">=20", "20.x", "^22.1", "v20.11.0".
fn node_major(spec: &str) -> Option<String> {
    let digits: String = spec
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    (!digits.is_empty()).then_some(digits)
}

/// "3.12" from ">=3.12", "^3.11", "3.12.1", "python-3.11.4".
fn python_minor(spec: &str) -> Option<String> {
    let rest = spec.trim_start_matches(|c: char| !c.is_ascii_digit());
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?;
    let minor = parts.next()?;
    (major == "3" && !minor.is_empty()).then(|| format!("3.{minor}"))
}

/// Split a shell-like command line into words; None when it needs a shell
/// (pipes, variables, `&&`) and so cannot be an exec-form command.
fn words(cmd: &str) -> Option<Vec<String>> {
    if cmd.contains(['|', '&', ';', '$', '`', '>', '<', '"', '\'']) {
        return None;
    }
    let w: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
    (!w.is_empty()).then_some(w)
}

/// `--port 8000`, `--port=8000`, `-p 8000` or `PORT=8000` in a command.
fn port_in(words: &[String]) -> Option<u16> {
    for (i, w) in words.iter().enumerate() {
        if let Some(p) = w.strip_prefix("--port=") {
            return p.parse().ok();
        }
        if (w == "--port" || w == "-p") && i + 1 < words.len() {
            return words[i + 1].parse().ok();
        }
        if let Some(p) = w.strip_prefix("PORT=") {
            return p.parse().ok();
        }
    }
    None
}

/// Read `dir` and detect what it can.
pub fn detect(dir: &Path) -> Detection {
    let m = Manifests::load(dir);
    let mut d = Detection::default();
    let pj = m.package_json.as_ref();

    // Runtime: package.json means Node unless the Python side names a web framework.
    let py_web = ["fastapi", "starlette", "uvicorn"]
        .iter()
        .find_map(|n| m.py_dep(n).map(|f| (*n, f)));
    if let Some((fw, file)) = &py_web {
        d.runtime = found(Runtime::Fastapi, format!("fastapi — {fw} in {file}"));
    } else if pj.is_some() {
        d.runtime = found(Runtime::Node, "node — package.json");
    } else if m.has_python() {
        let file = if m.pyproject.is_some() {
            "pyproject.toml"
        } else {
            m.requirements[0].0.as_str()
        };
        d.runtime = found(
            Runtime::Fastapi,
            format!(
                "fastapi — a Python project ({file}); the only Python runtime shipready renders"
            ),
        );
    }
    let node = d.runtime.as_ref().is_some_and(|r| r.value == Runtime::Node);
    let python = d
        .runtime
        .as_ref()
        .is_some_and(|r| r.value == Runtime::Fastapi);

    // Name.
    if let Some(name) = pj.and_then(|p| p.get("name")).and_then(|n| n.as_str()) {
        d.name = found(slug(name), format!("{} — name in package.json", slug(name)));
    } else if let Some(name) = m
        .pyproject
        .as_ref()
        .and_then(|p| {
            p.get("project")
                .or_else(|| p.get("tool").and_then(|t| t.get("poetry")))
        })
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
    {
        d.name = found(
            slug(name),
            format!("{} — name in pyproject.toml", slug(name)),
        );
    } else if let Some(base) = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    {
        let s = slug(&base);
        if s.len() >= 2 {
            d.name = found(s.clone(), format!("{s} — the directory's name"));
        }
    }

    // Runtime version.
    if node {
        if let Some(spec) = pj
            .and_then(|p| p.get("engines"))
            .and_then(|e| e.get("node"))
            .and_then(|n| n.as_str())
        {
            if let Some(v) = node_major(spec) {
                d.runtime_version = found(
                    v.clone(),
                    format!("node {v} — engines.node in package.json"),
                );
            }
        }
        if d.runtime_version.is_none() {
            if let Some((file, text)) = &m.nvmrc {
                if let Some(v) = node_major(text) {
                    d.runtime_version = found(v.clone(), format!("node {v} — {file}"));
                }
            }
        }
    } else if python {
        let requires = m
            .pyproject
            .as_ref()
            .and_then(|p| p.get("project"))
            .and_then(|p| p.get("requires-python"))
            .and_then(|v| v.as_str())
            .map(|s| {
                (
                    s.to_string(),
                    "requires-python in pyproject.toml".to_string(),
                )
            })
            .or_else(|| {
                m.pyproject
                    .as_ref()
                    .and_then(|p| p.get("tool"))
                    .and_then(|t| t.get("poetry"))
                    .and_then(|p| p.get("dependencies"))
                    .and_then(|d| d.get("python"))
                    .and_then(|v| v.as_str())
                    .map(|s| {
                        (
                            s.to_string(),
                            "tool.poetry.dependencies.python in pyproject.toml".to_string(),
                        )
                    })
            });
        let from_file = m
            .python_version
            .as_ref()
            .map(|(f, t)| (t.clone(), f.clone()));
        for (spec, origin) in from_file.into_iter().chain(requires) {
            if let Some(v) = python_minor(&spec) {
                d.runtime_version = found(v.clone(), format!("python {v} — {origin}"));
                break;
            }
        }
    }

    // Framework (shown only).
    if node {
        for fw in [
            "next",
            "@nestjs/core",
            "express",
            "fastify",
            "koa",
            "@hapi/hapi",
        ] {
            if let Some(section) = m.node_dep(fw) {
                d.framework = found(fw.to_string(), format!("{fw} — {section} in package.json"));
                break;
            }
        }
    } else if let Some((fw, file)) = py_web {
        d.framework = found(fw.to_string(), format!("{fw} — {file}"));
    }

    // Postgres.
    if node {
        for lib in [
            "pg",
            "postgres",
            "@prisma/client",
            "prisma",
            "sequelize",
            "typeorm",
            "knex",
            "drizzle-orm",
        ] {
            if let Some(section) = m.node_dep(lib) {
                let detail = match lib {
                    "@prisma/client" | "prisma" => prisma_provider(&m)
                        .map(|p| format!(" (provider \"{p}\" in prisma/schema.prisma)"))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                let postgres = match lib {
                    "@prisma/client" | "prisma" => match prisma_provider(&m) {
                        None => true,
                        Some(p) => p == "postgresql" || p == "postgres",
                    },
                    _ => true,
                };
                if postgres {
                    d.postgres = found(
                        true,
                        format!("postgres — {lib} in {section} of package.json{detail}"),
                    );
                    break;
                }
            }
        }
    } else if python {
        for lib in [
            "asyncpg",
            "psycopg",
            "psycopg2",
            "psycopg2-binary",
            "sqlalchemy",
            "sqlmodel",
        ] {
            if let Some(file) = m.py_dep(lib) {
                d.postgres = found(true, format!("postgres — {lib} in {file}"));
                break;
            }
        }
    }

    // Workers and Redis.
    let mut queue_lib: Option<String> = None;
    if node {
        for (lib, kind) in [("bullmq", WorkerKind::Bullmq), ("bull", WorkerKind::Bull)] {
            if let Some(section) = m.node_dep(lib) {
                d.worker = found(
                    kind,
                    format!("{lib} worker — {lib} in {section} of package.json"),
                );
                queue_lib = Some(format!("{lib} in package.json"));
                break;
            }
        }
    } else if python {
        if let Some(file) = m.py_dep("celery") {
            d.worker = found(
                WorkerKind::Celery,
                format!("celery worker — celery in {file}"),
            );
            let extras = m
                .py_requirement("celery")
                .filter(|r| r.contains("[redis"))
                .map(|_| "celery[redis]")
                .unwrap_or("celery");
            queue_lib = Some(format!("{extras} in {file}"));
        }
    }
    if let Some((kind, cmd)) = m
        .procfile
        .iter()
        .find(|(k, _)| k == "worker" || k.starts_with("worker"))
    {
        if let Some(w) = words(cmd) {
            d.worker_command = found(w.clone(), format!("{} — {kind} in Procfile", w.join(" ")));
        }
    } else if let Some(cmd) = pj
        .and_then(|p| p.get("scripts"))
        .and_then(|s| s.get("worker").or_else(|| s.get("start:worker")))
        .and_then(|c| c.as_str())
    {
        if let Some(w) = words(cmd).filter(|w| w[0] == "node") {
            d.worker_command = found(
                w.clone(),
                format!("{} — scripts.worker in package.json", w.join(" ")),
            );
        }
    }
    let redis_lib = if node {
        ["ioredis", "redis"]
            .iter()
            .find_map(|l| m.node_dep(l).map(|_| format!("{l} in package.json")))
    } else if python {
        m.py_dep("redis").map(|f| format!("redis in {f}"))
    } else {
        None
    };
    if let Some(q) = &queue_lib {
        if d.postgres.is_none() {
            d.redis = found(
                RedisRole::Primary,
                format!("redis as the only store (persistent, never evicts) — {q}, and no SQL database found"),
            );
        } else {
            d.redis = found(
                RedisRole::Queue,
                format!("redis as a job queue (persistent, never evicts) — {q}"),
            );
        }
    } else if let Some(l) = redis_lib {
        d.redis = found(RedisRole::Cache, format!("redis as a cache — {l}"));
    }

    // Voice and WebSocket.
    if node {
        if let Some(s) = m.node_dep("twilio") {
            d.voice = found(
                VoiceProvider::Twilio,
                format!("twilio — twilio in {s} of package.json"),
            );
        } else if let Some(s) = m
            .node_dep("@ringcentral/sdk")
            .or_else(|| m.node_dep("ringcentral"))
        {
            d.voice = found(
                VoiceProvider::Ringcentral,
                format!("ringcentral — @ringcentral/sdk in {s} of package.json"),
            );
        }
        if let Some(s) = m.node_dep("socket.io") {
            d.websocket_path = found(
                "/socket.io/".to_string(),
                format!("/socket.io/ — socket.io in {s} of package.json"),
            );
        } else if let Some(s) = m.node_dep("ws").or_else(|| m.node_dep("express-ws")) {
            let path = if d
                .voice
                .as_ref()
                .is_some_and(|v| v.value == VoiceProvider::Twilio)
            {
                "/media"
            } else {
                "/ws"
            };
            d.websocket_path = found(
                path.to_string(),
                format!("{path} — ws in {s} of package.json (the path is a guess: check it)"),
            );
        }
    } else if python {
        if let Some(f) = m.py_dep("twilio") {
            d.voice = found(VoiceProvider::Twilio, format!("twilio — twilio in {f}"));
        } else if let Some(f) = m
            .py_dep("ringcentral")
            .or_else(|| m.py_dep("ringcentral-client"))
        {
            d.voice = found(
                VoiceProvider::Ringcentral,
                format!("ringcentral — ringcentral in {f}"),
            );
        }
        if let Some(f) = m.py_dep("python-socketio") {
            d.websocket_path = found(
                "/socket.io/".to_string(),
                format!("/socket.io/ — python-socketio in {f}"),
            );
        } else if let Some(f) = m.py_dep("websockets") {
            d.websocket_path = found(
                "/ws".to_string(),
                format!("/ws — websockets in {f} (the path is a guess: check it)"),
            );
        }
    }

    // Start command and port.
    if let Some((_, cmd)) = m.procfile.iter().find(|(k, _)| k == "web") {
        if let Some(w) = words(cmd) {
            if let Some(p) = port_in(&w) {
                d.port = found(p, format!("{p} — the web command in Procfile"));
            }
            d.start_command = found(w.clone(), format!("{} — web in Procfile", w.join(" ")));
        }
    }
    if node && d.start_command.is_none() {
        let start = pj
            .and_then(|p| p.get("scripts"))
            .and_then(|s| s.get("start"))
            .and_then(|c| c.as_str())
            .and_then(words)
            .filter(|w| w[0] == "node");
        if let Some(w) = start {
            d.start_command = found(
                w.clone(),
                format!("{} — scripts.start in package.json", w.join(" ")),
            );
        } else if let Some(main) = pj.and_then(|p| p.get("main")).and_then(|c| c.as_str()) {
            let w = vec![
                "node".to_string(),
                main.trim_start_matches("./").to_string(),
            ];
            d.start_command = found(w.clone(), format!("{} — main in package.json", w.join(" ")));
        }
    }
    if d.port.is_none() {
        if let Some(text) = &m.dockerfile {
            for (i, line) in text.lines().enumerate() {
                let mut it = line.split_whitespace();
                if it.next().is_some_and(|k| k.eq_ignore_ascii_case("EXPOSE")) {
                    if let Some(p) = it
                        .next()
                        .and_then(|p| p.split('/').next())
                        .and_then(|p| p.parse::<u16>().ok())
                    {
                        d.port = found(p, format!("{p} — EXPOSE in Dockerfile:{}", i + 1));
                        break;
                    }
                }
            }
        }
    }
    if d.port.is_none() {
        for f in [".env.example", ".env.sample"] {
            if let Some(text) = read(dir, f) {
                if let Some((i, p)) = text.lines().enumerate().find_map(|(i, l)| {
                    l.trim()
                        .strip_prefix("PORT=")
                        .and_then(|p| p.trim().parse::<u16>().ok())
                        .map(|p| (i, p))
                }) {
                    d.port = found(p, format!("{p} — PORT in {f}:{}", i + 1));
                    break;
                }
            }
        }
    }

    // Migrations.
    if node {
        if m.node_dep("prisma").is_some() || m.prisma_schema.is_some() {
            let w: Vec<String> = ["npx", "prisma", "migrate", "deploy"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            d.migrate_command = found(w, "npx prisma migrate deploy — prisma in package.json");
        }
    } else if python {
        if let Some(f) = m.py_dep("alembic") {
            let w: Vec<String> = ["alembic", "upgrade", "head"]
                .iter()
                .map(|s| s.to_string())
                .collect();
            d.migrate_command = found(w, format!("alembic upgrade head — alembic in {f}"));
        }
    }
    d
}

fn prisma_provider(m: &Manifests) -> Option<String> {
    let schema = m.prisma_schema.as_ref()?;
    // The datasource block's provider.
    let ds = schema.find("datasource")?;
    let block = &schema[ds..];
    let end = block.find('}').unwrap_or(block.len());
    block[..end].lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix("provider")?.trim_start().strip_prefix('=')?;
        Some(rest.trim().trim_matches('"').to_string())
    })
}

/// A service-name slug from a package name: "@acme/Voice_Agent" → "voice-agent".
pub fn slug(name: &str) -> String {
    let base = name.rsplit('/').next().unwrap_or(name);
    let mut out = String::new();
    for c in base.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let mut out: String = out
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '-')
        .to_string();
    out.truncate(32);
    out.trim_end_matches('-').to_string()
}

/// A TOML literal for a `--set` value: strings quoted, lists as arrays.
pub fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

pub fn toml_words(words: &[String]) -> String {
    toml::Value::Array(
        words
            .iter()
            .map(|w| toml::Value::String(w.clone()))
            .collect(),
    )
    .to_string()
}

impl Detection {
    /// Detected answers as `--set` assignments (profile keys, TOML values).
    pub fn assignments(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(n) = &self.name {
            out.push(format!("service.name={}", toml_string(&n.value)));
        }
        if let Some(r) = &self.runtime {
            out.push(format!(
                "service.runtime={}",
                toml_string(&r.value.to_string())
            ));
        }
        if let Some(v) = &self.runtime_version {
            out.push(format!("service.runtime_version={}", toml_string(&v.value)));
        }
        if let Some(p) = &self.port {
            out.push(format!("service.port={}", p.value));
        }
        if let Some(c) = &self.start_command {
            out.push(format!("service.start_command={}", toml_words(&c.value)));
        }
        if let Some(p) = &self.postgres {
            out.push(format!("postgres.enabled={}", p.value));
            if let Some(m) = &self.migrate_command {
                out.push(format!("postgres.migrate_command={}", toml_words(&m.value)));
            }
        }
        if let Some(r) = &self.redis {
            out.push("redis.enabled=true".into());
            out.push(format!("redis.role={}", toml_string(redis_role(r.value))));
        }
        if let Some(w) = &self.worker {
            out.push("worker.enabled=true".into());
            out.push(format!("worker.kind={}", toml_string(worker_kind(w.value))));
            if let Some(c) = &self.worker_command {
                out.push(format!("worker.command={}", toml_words(&c.value)));
            }
        }
        if let Some(v) = &self.voice {
            out.push(format!(
                "voice.provider={}",
                toml_string(voice_provider(v.value))
            ));
        }
        if let Some(w) = &self.websocket_path {
            out.push(format!("voice.websocket_path={}", toml_string(&w.value)));
        }
        out
    }

    /// Every piece of evidence, in question order, for display.
    pub fn evidence(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        macro_rules! push {
            ($($f:ident),*) => { $( if let Some(x) = &self.$f { out.push(&x.evidence); } )* };
        }
        push!(
            name,
            runtime,
            runtime_version,
            framework,
            port,
            start_command,
            postgres,
            migrate_command,
            redis,
            worker,
            worker_command,
            voice,
            websocket_path
        );
        out
    }

    /// The preset closest to what was found, with the reason.
    pub fn suggested_preset(&self) -> Option<(&'static str, String)> {
        let runtime = self.runtime.as_ref()?.value;
        let voice = self.voice.as_ref().map(|v| v.value);
        let worker = self.worker.is_some();
        let postgres = self.postgres.is_some();
        Some(match (runtime, voice) {
            (Runtime::Fastapi, _) => ("fastapi-three-tier", "a FastAPI service".to_string()),
            (Runtime::Node, Some(VoiceProvider::Ringcentral)) => (
                "ringcentral-hold-hunter",
                "a Node service taking RingCentral webhooks".to_string(),
            ),
            (Runtime::Node, Some(VoiceProvider::Twilio)) if worker => (
                "twilio-voice",
                "a Node service taking Twilio webhooks, with queue workers".to_string(),
            ),
            (Runtime::Node, Some(VoiceProvider::Twilio)) => (
                "prisma-voice",
                "a Node service taking Twilio webhooks, without workers".to_string(),
            ),
            (Runtime::Node, _) if postgres => (
                "node-dashboard",
                "a Node service with Postgres and no voice provider".to_string(),
            ),
            (Runtime::Node, _) => ("node-dashboard", "a Node service".to_string()),
        })
    }
}

pub fn redis_role(r: RedisRole) -> &'static str {
    match r {
        RedisRole::Cache => "cache",
        RedisRole::Queue => "queue",
        RedisRole::Primary => "primary",
    }
}

pub fn worker_kind(k: WorkerKind) -> &'static str {
    match k {
        WorkerKind::Bullmq => "bullmq",
        WorkerKind::Bull => "bull",
        WorkerKind::Celery => "celery",
    }
}

pub fn voice_provider(v: VoiceProvider) -> &'static str {
    match v {
        VoiceProvider::Twilio => "twilio",
        VoiceProvider::Ringcentral => "ringcentral",
        VoiceProvider::None => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(node_major(">=20.0.0").as_deref(), Some("20"));
        assert_eq!(node_major("v22.11.0").as_deref(), Some("22"));
        assert_eq!(node_major("20.x").as_deref(), Some("20"));
        assert_eq!(node_major("lts/iron"), None);
        assert_eq!(python_minor(">=3.12").as_deref(), Some("3.12"));
        assert_eq!(python_minor("^3.11").as_deref(), Some("3.11"));
        assert_eq!(python_minor("python-3.11.4").as_deref(), Some("3.11"));
        assert_eq!(python_minor("3").as_deref(), None);
    }

    #[test]
    fn requirement_lines() {
        assert_eq!(
            requirement_name("celery[redis]>=5.3").as_deref(),
            Some("celery")
        );
        assert_eq!(
            requirement_name("psycopg2_binary==2.9 # db").as_deref(),
            Some("psycopg2-binary")
        );
        assert_eq!(requirement_name("-r base.txt"), None);
        assert_eq!(requirement_name("# comment"), None);
    }

    #[test]
    fn slugs_and_words() {
        assert_eq!(slug("@acme/Voice_Agent"), "voice-agent");
        assert_eq!(slug("1st--app"), "st-app");
        assert_eq!(
            words("node dist/server.js").unwrap(),
            ["node", "dist/server.js"]
        );
        assert_eq!(words("npm run build && node x"), None);
        assert_eq!(
            port_in(&words("uvicorn app:app --port 8080").unwrap()),
            Some(8080)
        );
    }
}

//! `detect()`: choose the service among the repository's packages, then
//! read each answer from the service first and the rest of the repository
//! (workspace libraries, compose, Terraform, source) after.

use std::path::Path;

use super::compose::Service as ComposeService;
use super::evidence::{found, guessed, Confidence, Detected};
use super::layout::Layout;
use super::node::{node_major, NodePackage, FRAMEWORKS};
use super::python::PyProject;
use super::{signals, slug, Absent, Detection};
use crate::profile::{RedisRole, Runtime, VoiceProvider, WorkerKind};

/// Libraries meaning a browser bundle, when no server library is present.
const FRONTEND_LIBS: &[&str] = &["react", "vue", "svelte", "@angular/core", "vite"];
const NODE_POSTGRES: &[&str] = &[
    "pg",
    "postgres",
    "@prisma/client",
    "prisma",
    "sequelize",
    "typeorm",
    "knex",
    "drizzle-orm",
    "@vercel/postgres",
];
const PY_POSTGRES: &[&str] = &[
    "asyncpg",
    "psycopg",
    "psycopg2",
    "psycopg2-binary",
    "sqlalchemy",
    "sqlmodel",
];
/// Redis used to fan messages out between processes: nothing to persist.
const NODE_PUBSUB: &[&str] = &["@socket.io/redis-adapter", "socket.io-redis"];
/// Compose images that are Postgres.
const POSTGRES_IMAGES: &[&str] = &["postgres", "postgis/postgis", "bitnami/postgresql"];

enum Chosen<'a> {
    Node(&'a NodePackage),
    Python(&'a PyProject),
}

fn frontend_only(p: &NodePackage) -> bool {
    !p.is_server() && FRONTEND_LIBS.iter().any(|l| p.has(l))
}

/// The service's Node package: a server, with a voice SDK, a backend-ish
/// folder, then the root, winning ties.
fn node_service(l: &Layout) -> Option<&NodePackage> {
    let score = |p: &NodePackage| -> i32 {
        let mut s = 0;
        if p.is_server() {
            s += 10;
        }
        if ["twilio", "@ringcentral/sdk", "ringcentral"]
            .iter()
            .any(|n| p.has(n))
        {
            s += 5;
        }
        let last = p.dir.rsplit('/').next().unwrap_or("");
        if ["backend", "server", "api"].contains(&last) {
            s += 3;
        }
        if frontend_only(p) {
            s -= 10;
        }
        // A workspace root with no dependencies of its own is not a service.
        if p.dir.is_empty() && p.json.get("dependencies").is_none() && p.has_workspaces() {
            s -= 20;
        }
        s
    };
    l.node
        .iter()
        .filter(|p| score(p) > -10)
        .max_by_key(|p| (score(p), std::cmp::Reverse(p.dir.matches('/').count())))
}

fn first<T>(items: impl IntoIterator<Item = Option<T>>) -> Option<T> {
    items.into_iter().flatten().next()
}

/// Split a shell-like command line into words; None when it needs a shell
/// (pipes, variables, `&&`) and so cannot be an exec-form command.
pub(crate) fn words(cmd: &str) -> Option<Vec<String>> {
    if cmd.contains(['|', '&', ';', '$', '`', '>', '<', '"', '\'']) {
        return None;
    }
    let w: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
    (!w.is_empty()).then_some(w)
}

/// `--port 8000`, `--port=8000`, `-p 8000` or `PORT=8000` in a command.
pub(crate) fn port_in(words: &[String]) -> Option<u16> {
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

fn image_is(s: &ComposeService, names: &[&str]) -> bool {
    s.image().is_some_and(|i| {
        let repo = i.split('@').next().unwrap_or(i);
        let repo = repo.rsplit_once(':').map_or(repo, |(r, _)| r);
        let repo = repo
            .trim_start_matches("docker.io/")
            .trim_start_matches("library/");
        names.contains(&repo)
    })
}

fn at(s: &ComposeService) -> String {
    format!("{}:{}", s.file, s.line)
}

/// Read `dir` and detect what it can.
pub fn detect(dir: &Path) -> Detection {
    let l = Layout::load(dir);
    let mut d = Detection::default();

    let chosen = match l.python.iter().find(|p| p.is_web()) {
        Some(p) => Some(Chosen::Python(p)),
        None => node_service(&l)
            .map(Chosen::Node)
            .or_else(|| l.python.first().map(Chosen::Python)),
    };
    // Packages searched for dependencies: the service first, then the rest
    // of its ecosystem (workspace libraries), never a browser bundle.
    let (nodes, pys): (Vec<&NodePackage>, Vec<&PyProject>) = match &chosen {
        Some(Chosen::Node(s)) => {
            let mut v = vec![*s];
            v.extend(
                l.node
                    .iter()
                    .filter(|p| p.dir != s.dir && !frontend_only(p)),
            );
            (v, Vec::new())
        }
        Some(Chosen::Python(s)) => {
            let mut v = vec![*s];
            v.extend(l.python.iter().filter(|p| p.dir != s.dir));
            (Vec::new(), v)
        }
        None => (Vec::new(), Vec::new()),
    };
    let node_dep = |name: &str| nodes.iter().find_map(|p| p.dep(name));
    let py_dep = |name: &str| pys.iter().find_map(|p| p.dep(name));
    let service_dir = match &chosen {
        Some(Chosen::Node(p)) => p.dir.clone(),
        Some(Chosen::Python(p)) => p.dir.clone(),
        None => String::new(),
    };

    // Runtime and where the service lives.
    match &chosen {
        Some(Chosen::Python(p)) => {
            let web = super::python::WEB_LIBS.iter().find_map(|n| p.dep(n));
            d.runtime = match web {
                Some(w) => found(Runtime::Fastapi, format!("fastapi — {w}")),
                None => found(
                    Runtime::Fastapi,
                    format!(
                        "fastapi — a Python project ({}); the only Python runtime shipready renders",
                        p.manifest_rel()
                    ),
                ),
            };
        }
        Some(Chosen::Node(p)) => {
            d.runtime = found(Runtime::Node, format!("node — {}", p.manifest.rel));
        }
        None => {}
    }
    if chosen.is_some() && !service_dir.is_empty() {
        d.service_dir = found(
            service_dir.clone(),
            format!("{service_dir} — the service's manifest is in {service_dir}/"),
        );
    }
    let node = matches!(chosen, Some(Chosen::Node(_)));
    let python = matches!(chosen, Some(Chosen::Python(_)));

    // Name: the root manifest's, else the service's, else the directory's.
    let root_node = l.node.iter().find(|p| p.dir.is_empty());
    let root_py = l.python.iter().find(|p| p.dir.is_empty());
    let named = first([
        root_node.and_then(|p| p.name().map(|n| (n.to_string(), p.manifest.at("\"name\"")))),
        root_py.and_then(|p| p.name().map(|n| (n.to_string(), p.manifest_rel()))),
        nodes
            .first()
            .and_then(|p| p.name().map(|n| (n.to_string(), p.manifest.at("\"name\"")))),
        pys.first()
            .and_then(|p| p.name().map(|n| (n.to_string(), p.manifest_rel()))),
    ]);
    if let Some((name, file)) = named.filter(|(n, _)| slug(n).len() >= 2) {
        let s = slug(&name);
        d.name = found(s.clone(), format!("{s} — name in {file}"));
    } else if let Some(base) = std::fs::canonicalize(dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
    {
        let s = slug(&base);
        if s.len() >= 2 {
            d.name = Some(Detected {
                value: s.clone(),
                evidence: format!("{s} — the directory's name"),
                confidence: Confidence::Low,
            });
        }
    }

    // Runtime version.
    if let Some(Chosen::Node(p)) = &chosen {
        let engines = [Some(*p), root_node].into_iter().flatten().find_map(|p| {
            let spec = p.str_at(&["engines", "node"])?;
            node_major(spec).map(|v| (v, p.manifest.at("\"node\"")))
        });
        if let Some((v, file)) = engines {
            d.runtime_version = found(v.clone(), format!("node {v} — engines.node in {file}"));
        } else {
            for dirn in [p.dir.as_str(), ""] {
                let hit = [".nvmrc", ".node-version"].iter().find_map(|f| {
                    super::evidence::read(dir, &super::evidence::join(dirn, f))
                        .and_then(|s| node_major(s.text.trim()).map(|v| (v, s.rel)))
                });
                if let Some((v, rel)) = hit {
                    d.runtime_version = found(v.clone(), format!("node {v} — {rel}"));
                    break;
                }
            }
        }
    } else if python {
        if let Some((v, origin)) = pys
            .iter()
            .find_map(|p| p.version())
            .or_else(|| super::python::PyProject::load(dir, "").and_then(|p| p.version()))
        {
            d.runtime_version = found(v.clone(), format!("python {v} — {origin}"));
        }
    }

    // Framework (shown only).
    if node {
        if let Some((fw, e)) = FRAMEWORKS
            .iter()
            .find_map(|fw| node_dep(fw).map(|e| (*fw, e)))
        {
            d.framework = found(fw.to_string(), format!("{fw} — {e}"));
        }
    } else if python {
        if let Some((fw, e)) = super::python::WEB_LIBS
            .iter()
            .find_map(|fw| py_dep(fw).map(|e| (*fw, e)))
        {
            d.framework = found(fw.to_string(), format!("{fw} — {e}"));
        }
    }

    // Postgres: a client library, a compose image, or RDS in Terraform.
    let prisma_provider = nodes.iter().find_map(|p| prisma_provider(dir, &p.dir));
    if node {
        for lib in NODE_POSTGRES {
            let Some(e) = node_dep(lib) else { continue };
            let prisma = lib.contains("prisma");
            if prisma {
                match &prisma_provider {
                    Some((prov, _)) if prov != "postgresql" && prov != "postgres" => continue,
                    _ => {}
                }
            }
            let detail = match (&prisma_provider, prisma) {
                (Some((prov, file)), true) => format!(" (provider \"{prov}\" in {file})"),
                _ => String::new(),
            };
            d.postgres = found(true, format!("postgres — {e}{detail}"));
            break;
        }
    } else if python {
        if let Some(e) = PY_POSTGRES.iter().find_map(|l| py_dep(l)) {
            d.postgres = found(true, format!("postgres — {e}"));
        }
    }
    if d.postgres.is_none() && chosen.is_some() {
        if let Some(s) = l.services().find(|s| image_is(s, POSTGRES_IMAGES)) {
            d.postgres = found(
                true,
                format!("postgres — image {} in {}", s.image().unwrap_or(""), at(s)),
            );
        } else if let Some((t, line)) = l.terraform.iter().find_map(|t| {
            t.text
                .lines()
                .position(|x| x.contains("engine") && x.contains("postgres"))
                .map(|i| (t, i + 1))
        }) {
            d.postgres = found(true, format!("postgres — RDS engine in {}:{line}", t.rel));
        }
    }

    // Workers.
    let mut queue: Option<String> = None;
    if node {
        for (lib, kind) in [("bullmq", WorkerKind::Bullmq), ("bull", WorkerKind::Bull)] {
            if let Some(e) = node_dep(lib) {
                d.worker = found(kind, format!("{lib} worker — {e}"));
                queue = Some(e);
                break;
            }
        }
    } else if python {
        if let Some(e) = py_dep("celery") {
            d.worker = found(WorkerKind::Celery, format!("celery worker — {e}"));
            let extras = pys
                .iter()
                .find_map(|p| p.requirement("celery"))
                .filter(|r| r.contains("[redis"))
                .map(|_| e.replacen("celery", "celery[redis]", 1));
            queue = Some(extras.unwrap_or(e));
        }
    }
    let procfile_worker = l.procfiles.iter().find_map(|f| {
        f.text.lines().enumerate().find_map(|(i, line)| {
            let (kind, cmd) = line.split_once(':')?;
            let kind = kind.trim();
            (kind.starts_with("worker"))
                .then(|| words(cmd.trim()))
                .flatten()
                .map(|w| (w, format!("{kind} in {}:{}", f.rel, i + 1)))
        })
    });
    let script_worker = nodes.first().and_then(|p| {
        let cmd = p
            .str_at(&["scripts", "worker"])
            .or_else(|| p.str_at(&["scripts", "start:worker"]))?;
        words(cmd).filter(|w| w[0] == "node").map(|w| {
            (
                w,
                format!("scripts.worker in {}", p.manifest.at("\"worker")),
            )
        })
    });
    let compose_worker = l.services().find_map(|s| {
        let cmd = s.command();
        (d.worker.is_some() && s.builds() && cmd.contains("worker"))
            .then(|| words(&cmd))
            .flatten()
            .map(|w| (w, format!("command of service {} in {}", s.name, at(s))))
    });
    if let Some((w, origin)) = first([procfile_worker, script_worker, compose_worker]) {
        if d.worker.is_some() {
            d.worker_command = found(w.clone(), format!("{} — {origin}", w.join(" ")));
        }
    }

    // Redis and its role.
    let pubsub = if node {
        NODE_PUBSUB.iter().find_map(|l| node_dep(l))
    } else {
        None
    };
    let redis_lib = if node {
        ["ioredis", "redis"].iter().find_map(|l| node_dep(l))
    } else if python {
        py_dep("redis")
    } else {
        None
    };
    let redis_image = l
        .services()
        .find(|s| image_is(s, &["redis", "bitnami/redis", "valkey/valkey"]));
    if let Some(q) = &queue {
        d.redis = if d.postgres.is_none() {
            found(
                RedisRole::Primary,
                format!("redis as the only store (persistent, never evicts) — {q}, and no SQL database found"),
            )
        } else {
            found(
                RedisRole::Queue,
                format!("redis as a job queue (persistent, never evicts) — {q}"),
            )
        };
    } else if let Some(e) = pubsub {
        d.redis = found(
            RedisRole::Cache,
            format!("redis as a pub/sub adapter (nothing to persist) — {e}"),
        );
    } else if let Some(e) = redis_lib {
        d.redis = found(RedisRole::Cache, format!("redis as a cache — {e}"));
    } else if let Some(s) = redis_image.filter(|_| chosen.is_some()) {
        d.redis = guessed(
            RedisRole::Cache,
            format!(
                "redis as a cache — image {} in {} (no queue library found)",
                s.image().unwrap_or(""),
                at(s)
            ),
        );
    }

    // Voice: an SDK, else TwiML or platform URLs in the source.
    if node {
        if let Some(e) = node_dep("twilio") {
            d.voice = found(VoiceProvider::Twilio, format!("twilio — {e}"));
        } else if let Some(e) = node_dep("@ringcentral/sdk").or_else(|| node_dep("ringcentral")) {
            d.voice = found(VoiceProvider::Ringcentral, format!("ringcentral — {e}"));
        }
    } else if python {
        if let Some(e) = py_dep("twilio") {
            d.voice = found(VoiceProvider::Twilio, format!("twilio — {e}"));
        } else if let Some(e) = py_dep("ringcentral").or_else(|| py_dep("ringcentral-client")) {
            d.voice = found(VoiceProvider::Ringcentral, format!("ringcentral — {e}"));
        }
    }
    if d.voice.is_none() && chosen.is_some() {
        let prefix = if service_dir.is_empty() {
            String::new()
        } else {
            format!("{service_dir}/")
        };
        let mut ordered: Vec<String> = l
            .sources
            .iter()
            .filter(|s| s.starts_with(&prefix))
            .cloned()
            .collect();
        ordered.sort();
        if let Some((p, e)) = signals::voice(dir, &ordered) {
            d.voice = guessed(p, format!("{} — {e}", p.as_str()));
        }
    }

    // WebSocket path.
    if node {
        if let Some(e) = node_dep("socket.io") {
            d.websocket_path = found("/socket.io/".to_string(), format!("/socket.io/ — {e}"));
        } else if let Some(e) = node_dep("ws").or_else(|| node_dep("express-ws")) {
            let path = if d
                .voice
                .as_ref()
                .is_some_and(|v| v.value == VoiceProvider::Twilio)
            {
                "/media"
            } else {
                "/ws"
            };
            d.websocket_path = guessed(
                path.to_string(),
                format!("{path} — {e} (the path is a guess: check it)"),
            );
        }
    } else if python {
        if let Some(e) = py_dep("python-socketio") {
            d.websocket_path = found("/socket.io/".to_string(), format!("/socket.io/ — {e}"));
        } else if let Some(e) = py_dep("websockets") {
            d.websocket_path = guessed(
                "/ws".to_string(),
                format!("/ws — {e} (the path is a guess: check it)"),
            );
        }
    }

    start_and_port(&l, &mut d, &nodes, &service_dir);

    // Migrations.
    if node {
        let schema = prisma_provider.as_ref().map(|(_, f)| f.clone());
        if let Some(origin) = node_dep("prisma").or(schema) {
            let w = ["npx", "prisma", "migrate", "deploy"]
                .map(String::from)
                .to_vec();
            d.migrate_command = found(w, format!("npx prisma migrate deploy — {origin}"));
        }
    } else if python {
        if let Some(e) = py_dep("alembic") {
            let w = ["alembic", "upgrade", "head"].map(String::from).to_vec();
            d.migrate_command = found(w, format!("alembic upgrade head — {e}"));
        }
    }

    // What a service was searched for and lacks defaults to "no".
    if chosen.is_some() {
        let searched = match &chosen {
            Some(Chosen::Node(p)) => p.manifest.rel.clone(),
            Some(Chosen::Python(p)) => p.manifest_rel(),
            None => unreachable!(),
        };
        let more = if l.compose.is_empty() {
            ""
        } else {
            ", compose"
        };
        let absent = |what: &str| format!("no — no {what} in {searched}{more} or the workspace");
        if d.postgres.is_none() {
            d.absent
                .push(Absent::new("postgres.enabled", absent("Postgres client")));
        }
        if d.redis.is_none() {
            d.absent
                .push(Absent::new("redis.enabled", absent("Redis client")));
        }
        if d.worker.is_none() {
            d.absent
                .push(Absent::new("worker.enabled", absent("queue library")));
        }
        if d.voice.is_none() {
            d.absent.push(Absent::new(
                "voice.provider",
                format!(
                    "none — no Twilio or RingCentral SDK in {searched}, nor TwiML in its source"
                ),
            ));
        }
    }
    d
}

/// Start command and port: Procfile, package scripts, Dockerfile, compose,
/// .env.example, in that order.
fn start_and_port(l: &Layout, d: &mut Detection, nodes: &[&NodePackage], service_dir: &str) {
    let in_service = |rel: &str| {
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        parent == service_dir || parent.is_empty()
    };
    for f in l.procfiles.iter().filter(|f| in_service(&f.rel)) {
        for (i, line) in f.text.lines().enumerate() {
            let Some(cmd) = line.strip_prefix("web:") else {
                continue;
            };
            if let Some(w) = words(cmd.trim()) {
                if let Some(p) = port_in(&w) {
                    d.port = found(p, format!("{p} — the web command in {}:{}", f.rel, i + 1));
                }
                d.start_command = found(
                    w.clone(),
                    format!("{} — web in {}:{}", w.join(" "), f.rel, i + 1),
                );
            }
        }
        if d.start_command.is_some() {
            break;
        }
    }
    if let (Some(p), None) = (nodes.first(), &d.start_command) {
        let start = p
            .str_at(&["scripts", "start"])
            .and_then(words)
            .filter(|w| w[0] == "node");
        if let Some(w) = start {
            d.start_command = found(
                w.clone(),
                format!(
                    "{} — scripts.start in {}",
                    w.join(" "),
                    p.manifest.at("\"start\"")
                ),
            );
        } else if let Some(main) = p.str_at(&["main"]) {
            let w = vec![
                "node".to_string(),
                main.trim_start_matches("./").to_string(),
            ];
            d.start_command = found(
                w.clone(),
                format!("{} — main in {}", w.join(" "), p.manifest.at("\"main\"")),
            );
        }
    }
    if d.port.is_some() {
        return;
    }
    for f in l.dockerfiles.iter().filter(|f| in_service(&f.rel)) {
        for (i, line) in f.text.lines().enumerate() {
            let mut it = line.split_whitespace();
            if it.next().is_some_and(|k| k.eq_ignore_ascii_case("EXPOSE")) {
                if let Some(p) = it
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse::<u16>().ok())
                {
                    d.port = found(p, format!("{p} — EXPOSE in {}:{}", f.rel, i + 1));
                    return;
                }
            }
        }
    }
    let envs = l.env_examples.iter().filter(|f| in_service(&f.rel));
    for f in envs {
        if let Some((i, p)) = f.text.lines().enumerate().find_map(|(i, line)| {
            line.trim()
                .strip_prefix("PORT=")
                .and_then(|p| p.trim().parse::<u16>().ok())
                .map(|p| (i, p))
        }) {
            d.port = found(p, format!("{p} — PORT in {}:{}", f.rel, i + 1));
            return;
        }
    }
}

/// The Prisma datasource provider of the package in `pkg_dir`, and the
/// schema file it is declared in.
fn prisma_provider(root: &Path, pkg_dir: &str) -> Option<(String, String)> {
    let schema = super::evidence::read(
        root,
        &super::evidence::join(pkg_dir, "prisma/schema.prisma"),
    )?;
    let ds = schema.text.find("datasource")?;
    let block = &schema.text[ds..];
    let end = block.find('}').unwrap_or(block.len());
    block[..end].lines().find_map(|l| {
        let l = l.trim();
        let rest = l.strip_prefix("provider")?.trim_start().strip_prefix('=')?;
        Some((
            rest.trim().trim_matches('"').to_string(),
            schema.rel.clone(),
        ))
    })
}

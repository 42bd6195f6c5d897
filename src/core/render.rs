//! Rendering: profile + templates → the full tree of output files, in memory.
//!
//! This is the one function that decides what shipready writes. `init`,
//! `diff`, `update`, `verify` and the snapshot tests all call it, so a check
//! can never disagree with what `init` writes.

use serde::Serialize;

use crate::core::catalog::{self, Each, Entry, CATALOG};
use crate::core::templates::{Engine, Templates, Vars};
use crate::error::Error;
use crate::profile::{Profile, RedisRole, Runtime, VoiceProvider};

/// One output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Relative path with `/` separators.
    pub path: String,
    pub contents: String,
    /// Unix permission bits.
    pub mode: u32,
    /// The template it came from, for error messages.
    pub template: String,
}

/// Every file a profile produces, in catalog order.
#[derive(Debug, Clone, Default)]
pub struct RenderedTree {
    pub files: Vec<RenderedFile>,
    pub template_version: String,
}

impl RenderedTree {
    pub fn get(&self, path: &str) -> Option<&RenderedFile> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Values computed from the profile once, so templates do not repeat logic.
#[derive(Debug, Serialize)]
struct Derived {
    node: bool,
    /// A Next.js app: the catalog's own `nextjs` condition, so a template
    /// and the catalog cannot disagree about it.
    nextjs: bool,
    fastapi: bool,
    voice: bool,
    twilio: bool,
    ringcentral: bool,
    websocket: bool,
    /// `allkeys-lru` for a cache, `noeviction` for queues and primary stores.
    redis_policy: &'static str,
    /// Redis holds data that must survive a restart.
    redis_persistent: bool,
    /// Environments with `production` marking the last one.
    environments: Vec<EnvInfo>,
    /// Image name for the service.
    image: String,
    /// The Python minor version without dot ("312"), for tags that need it.
    python_tag: String,
    shipready_version: &'static str,
    /// The Celery application (`-A`/`--app` of the worker command).
    celery_app: String,
    /// Container memory limit for Redis: maxmemory plus room for fork
    /// copy-on-write during BGSAVE/AOF rewrite and client buffers.
    redis_container_memory_mb: u32,
    /// Seconds a stopping app instance keeps serving the connections it has
    /// (ECS stopTimeout and deregistration delay, Kubernetes preStop): two
    /// minutes when calls or media streams may be open, the most Fargate
    /// allows.
    drain_seconds: u32,
}

#[derive(Debug, Serialize, Clone)]
struct EnvInfo {
    name: String,
    production: bool,
}

fn derive(p: &Profile) -> Derived {
    let n = p.aws.environments.len();
    Derived {
        node: p.service.runtime == Runtime::Node,
        nextjs: catalog::nextjs(p),
        fastapi: p.service.runtime == Runtime::Fastapi,
        voice: p.voice.provider != VoiceProvider::None,
        twilio: p.voice.provider == VoiceProvider::Twilio,
        ringcentral: p.voice.provider == VoiceProvider::Ringcentral,
        websocket: !p.voice.websocket_path.is_empty(),
        redis_policy: match p.redis.role {
            RedisRole::Cache => "allkeys-lru",
            RedisRole::Queue | RedisRole::Primary => "noeviction",
        },
        redis_persistent: p.redis.role != RedisRole::Cache,
        environments: p
            .aws
            .environments
            .iter()
            .enumerate()
            .map(|(i, e)| EnvInfo {
                name: e.clone(),
                production: i + 1 == n,
            })
            .collect(),
        image: p.service.name.clone(),
        python_tag: p.service.runtime_version.replace('.', ""),
        shipready_version: env!("CARGO_PKG_VERSION"),
        celery_app: celery_app(&p.worker.command),
        redis_container_memory_mb: p.redis.maxmemory_mb + p.redis.maxmemory_mb / 2 + 64,
        drain_seconds: if p.voice.provider != VoiceProvider::None
            || !p.voice.websocket_path.is_empty()
        {
            120
        } else {
            30
        },
    }
}

fn celery_app(command: &[String]) -> String {
    command
        .iter()
        .enumerate()
        .find_map(|(i, w)| match w.as_str() {
            "-A" | "--app" => command.get(i + 1).cloned(),
            _ => w.strip_prefix("--app=").map(str::to_string),
        })
        .unwrap_or_else(|| "app.worker".to_string())
}

/// Render every catalog entry that applies to `profile`.
pub fn render(profile: &Profile, templates: &Templates) -> Result<RenderedTree, Error> {
    let roots: Vec<&str> = CATALOG
        .iter()
        .filter(|e| (e.when)(profile))
        .map(|e| e.template)
        .collect();
    render_with(profile, templates, &Engine::for_roots(templates, &roots)?)
}

pub fn render_with(
    profile: &Profile,
    templates: &Templates,
    engine: &Engine,
) -> Result<RenderedTree, Error> {
    let mut ctx = Vars::from_serialize(profile)?;
    let derived = derive(profile);
    ctx.insert("derived", &derived);
    ctx.insert("images", &crate::images::images(profile));
    ctx.insert("template_version", &templates.version());

    // One job per output file: its entry, its environment (for per-env
    // entries) and its path; rendered over the cores, in catalog order.
    let mut jobs = Vec::new();
    for entry in CATALOG.iter().filter(|e| (e.when)(profile)) {
        match entry.each {
            Each::Once => jobs.push((entry, None, entry.dest.to_string())),
            Each::Environment => {
                for env in &derived.environments {
                    jobs.push((entry, Some(env), entry.dest.replace("{env}", &env.name)));
                }
            }
        }
    }
    let files = crate::core::parallel::try_map(&jobs, |(entry, env, path)| match env {
        None => render_one(engine, entry, &ctx, path.clone()),
        Some(env) => {
            let mut c = ctx.clone();
            c.insert("env", env);
            render_one(engine, entry, &c, path.clone())
        }
    })?;
    Ok(RenderedTree {
        files,
        template_version: templates.version().to_string(),
    })
}

fn render_one(
    engine: &Engine,
    entry: &Entry,
    ctx: &Vars,
    path: String,
) -> Result<RenderedFile, Error> {
    let mut contents = engine.render(entry.template, ctx)?;
    // PEP 8 wants two blank lines between top-level Python definitions.
    tidy(&mut contents, if path.ends_with(".py") { 2 } else { 1 });
    Ok(RenderedFile {
        path,
        contents,
        mode: entry.mode.bits(),
        template: entry.template.to_string(),
    })
}

/// Template conditionals leave runs of blank lines and trailing spaces;
/// validators (yamllint, terraform fmt) and reviewers dislike both.
fn tidy(s: &mut String, max_blank: usize) {
    let mut out = String::with_capacity(s.len());
    let mut blank_run = 0;
    for line in s.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > max_blank || out.is_empty() {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    *s = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_collapses_blank_runs_and_trailing_space() {
        let mut s = "\n\na  \n\n\n\nb\n\n".to_string();
        tidy(&mut s, 1);
        assert_eq!(s, "a\n\nb\n");
        let mut py = "a\n\n\n\nb\n".to_string();
        tidy(&mut py, 2);
        assert_eq!(py, "a\n\n\nb\n");
    }
}

//! Rendering: profile + templates → the full tree of output files, in memory.
//!
//! This is the one function that decides what shipready writes. `init`,
//! `diff`, `update`, `verify` and the snapshot tests all call it, so a check
//! can never disagree with what `init` writes.

use serde::Serialize;
use tera::ast::Node;
use tera::{Context, Tera};

use crate::catalog::{Each, Entry, CATALOG};
use crate::error::Error;
use crate::profile::{Profile, RedisRole, Runtime, VoiceProvider};
use crate::templates::Templates;

/// One output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Relative path with `/` separators.
    pub path: String,
    pub contents: String,
    /// Unix permission bits.
    pub mode: u32,
    /// The template it came from, for error messages and `--explain`.
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

/// Build the tera instance with every template of the set (tests and
/// tools that render many profiles with one engine use this).
pub fn engine(templates: &Templates) -> Result<Tera, Error> {
    let names: Vec<&str> = templates.names().map(String::as_str).collect();
    engine_for(templates, &names)
}

/// Build a tera instance holding `roots` and every template they import,
/// include or extend, and nothing else. Embedded templates arrive parsed at
/// build time (`ast_codec`); only overlaid ones are parsed here.
pub fn engine_for(templates: &Templates, roots: &[&str]) -> Result<Tera, Error> {
    let mut tera = Tera::default();
    // Nothing here is HTML; escaping would corrupt configs.
    tera.autoescape_on(vec![]);
    // Level by level (the roots, then what they pull in, ...), each level
    // decoded, or parsed when overlaid, over the cores.
    let mut level: Vec<String> = roots.iter().map(|r| r.to_string()).collect();
    level.sort_unstable();
    level.dedup();
    while !level.is_empty() {
        let parsed = crate::parallel::try_map(&level, |name| match templates.parse(name) {
            Some(parsed) => parsed.map(Some).map_err(|e| template_error(name, &e)),
            None if roots.contains(&name.as_str()) => Err(Error::Template {
                template: name.clone(),
                message: "no such template".into(),
            }),
            // tera names a missing import, parent or include itself, below
            // or when rendering (an `ignore missing` include is no error).
            None => Ok(None),
        })?;
        let mut next = Vec::new();
        for (name, template) in level.into_iter().zip(parsed) {
            if let Some(template) = template {
                next.extend(dependencies(&template));
                tera.templates.insert(name, template);
            }
        }
        next.sort_unstable();
        next.dedup();
        next.retain(|n| !tera.templates.contains_key(n));
        level = next;
    }
    tera.build_inheritance_chains()
        .map_err(|e| template_error("templates", &e))?;
    tera.check_macro_files()
        .map_err(|e| template_error("templates", &e))?;
    Ok(tera)
}

/// Names a parsed template pulls in: its parent, its macro imports and every
/// `{% include %}` at any depth.
fn dependencies(template: &tera::Template) -> Vec<String> {
    fn includes(nodes: &[Node], out: &mut Vec<String>) {
        for node in nodes {
            match node {
                Node::Include(_, names, _) => out.extend(names.iter().cloned()),
                Node::Block(_, b, _) => includes(&b.body, out),
                Node::MacroDefinition(_, m, _) => includes(&m.body, out),
                Node::FilterSection(_, f, _) => includes(&f.body, out),
                Node::Forloop(_, f, _) => {
                    includes(&f.body, out);
                    includes(f.empty_body.as_deref().unwrap_or_default(), out);
                }
                Node::If(i, _) => {
                    for (_, _, body) in &i.conditions {
                        includes(body, out);
                    }
                    if let Some((_, body)) = &i.otherwise {
                        includes(body, out);
                    }
                }
                _ => {}
            }
        }
    }
    let mut out: Vec<String> = template.parent.iter().cloned().collect();
    out.extend(
        template
            .imported_macro_files
            .iter()
            .map(|(file, _)| file.clone()),
    );
    includes(&template.ast, &mut out);
    out
}

/// Render every catalog entry that applies to `profile`.
pub fn render(profile: &Profile, templates: &Templates) -> Result<RenderedTree, Error> {
    let roots: Vec<&str> = CATALOG
        .iter()
        .filter(|e| (e.when)(profile))
        .map(|e| e.template)
        .collect();
    render_with(profile, templates, &engine_for(templates, &roots)?)
}

pub fn render_with(
    profile: &Profile,
    templates: &Templates,
    tera: &Tera,
) -> Result<RenderedTree, Error> {
    let mut ctx = Context::from_serialize(profile).map_err(|e| template_error("context", &e))?;
    let derived = derive(profile);
    ctx.insert("derived", &derived);
    ctx.insert("images", &crate::images::images(profile));
    ctx.insert("template_version", templates.version());

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
    let files = crate::parallel::try_map(&jobs, |(entry, env, path)| match env {
        None => render_one(tera, entry, &ctx, path.clone()),
        Some(env) => {
            let mut c = ctx.clone();
            c.insert("env", env);
            render_one(tera, entry, &c, path.clone())
        }
    })?;
    Ok(RenderedTree {
        files,
        template_version: templates.version().to_string(),
    })
}

fn render_one(
    tera: &Tera,
    entry: &Entry,
    ctx: &Context,
    path: String,
) -> Result<RenderedFile, Error> {
    let mut contents = tera
        .render(entry.template, ctx)
        .map_err(|e| template_error(entry.template, &e))?;
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

fn template_error(template: &str, e: &dyn std::error::Error) -> Error {
    // tera nests the useful part (line, undefined variable) in sources.
    let mut message = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        message.push_str(": ");
        message.push_str(&s.to_string());
        src = s.source();
    }
    Error::Template {
        template: template.to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_for_parses_a_template_and_what_it_imports_only() {
        let t = Templates::embedded();
        let tera = engine_for(&t, &["compose.prod.yaml.tera"]).unwrap();
        let names: Vec<&str> = tera.get_template_names().collect();
        assert!(names.contains(&"compose.prod.yaml.tera"));
        assert!(names.contains(&"_partials/compose/macros.tera"));
        assert!(!names.contains(&"Dockerfile.node.tera"), "{names:?}");
        let t = tera::Template::new(
            "t",
            None,
            r#"{% extends "p.tera" %}{% import "a.tera" as m %}
{% block x %}{% for i in l %}{% if i %}{% include "b.tera" %}{% endif %}{% endfor %}{% endblock %}"#,
        )
        .unwrap();
        assert_eq!(dependencies(&t), ["p.tera", "a.tera", "b.tera"]);
    }

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

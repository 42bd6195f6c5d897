//! Stack detection: read a repository the way its ecosystems define it
//! (workspaces, conventional subfolders, compose, Dockerfiles, Procfiles,
//! Terraform) and propose every answer a profile needs, each with the
//! evidence (file:line) it came from and how sure detection is.
//!
//! Detection is a default the user sees and can override, never a silent
//! guess. Nothing here touches the network or runs code from the
//! repository; files that do not parse are skipped.

pub mod command;
pub mod compose;
mod evidence;
mod layout;
mod node;
mod preset;
mod python;
mod scan;
mod signals;

use serde::Serialize;

pub use evidence::{Confidence, Detected};
pub use scan::detect;

use crate::profile::{Layer, RedisRole, Runtime, VoiceProvider, WorkerKind};

/// An answer detection looked for and did not find: it defaults to "no"
/// rather than to whatever a preset says.
#[derive(Debug, Clone, PartialEq)]
pub struct Absent {
    /// The profile key, e.g. "postgres.enabled".
    pub key: &'static str,
    pub evidence: String,
}

impl Absent {
    fn new(key: &'static str, evidence: String) -> Absent {
        Absent { key, evidence }
    }
}

/// Everything detection found. `None` means "no evidence"; what was looked
/// for in a detected service and not found is listed in `absent`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Detection {
    pub name: Option<Detected<String>>,
    /// The service's folder when it is not the root (backend/, apps/api).
    pub service_dir: Option<Detected<String>>,
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
    pub absent: Vec<Absent>,
}

/// One proposed answer: a profile key, its typed value, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub key: &'static str,
    pub value: toml::Value,
    pub evidence: String,
    pub confidence: Confidence,
}

fn string(s: &str) -> toml::Value {
    toml::Value::String(s.to_string())
}

fn list(words: &[String]) -> toml::Value {
    toml::Value::Array(words.iter().map(|w| string(w)).collect())
}

impl Detection {
    /// Every detected answer in question order, as typed TOML values.
    pub fn answers(&self) -> Vec<Answer> {
        let mut out = Vec::new();
        let mut push = |key: &'static str, value: toml::Value, e: &str, c: Confidence| {
            out.push(Answer {
                key,
                value,
                evidence: e.to_string(),
                confidence: c,
            })
        };
        macro_rules! answer {
            ($key:expr, $field:expr, $conv:expr) => {
                if let Some(x) = &$field {
                    push($key, $conv(&x.value), &x.evidence, x.confidence);
                }
            };
        }
        answer!("service.name", self.name, |v: &String| string(v));
        answer!("service.runtime", self.runtime, |v: &Runtime| string(
            &v.to_string()
        ));
        answer!(
            "service.runtime_version",
            self.runtime_version,
            |v: &String| { string(v) }
        );
        answer!("service.port", self.port, |v: &u16| toml::Value::Integer(
            i64::from(*v)
        ));
        answer!("service.start_command", self.start_command, |v: &Vec<
            String,
        >| list(
            v
        ));
        answer!("postgres.enabled", self.postgres, |v: &bool| {
            toml::Value::Boolean(*v)
        });
        if self.postgres.as_ref().is_some_and(|p| p.value) {
            answer!(
                "postgres.migrate_command",
                self.migrate_command,
                |v: &Vec<String>| list(v)
            );
        }
        if let Some(r) = &self.redis {
            push(
                "redis.enabled",
                toml::Value::Boolean(true),
                &r.evidence,
                r.confidence,
            );
            push(
                "redis.role",
                string(r.value.as_str()),
                &r.evidence,
                r.confidence,
            );
        }
        if let Some(w) = &self.worker {
            push(
                "worker.enabled",
                toml::Value::Boolean(true),
                &w.evidence,
                w.confidence,
            );
            push(
                "worker.kind",
                string(w.value.as_str()),
                &w.evidence,
                w.confidence,
            );
            answer!("worker.command", self.worker_command, |v: &Vec<String>| {
                list(v)
            });
        }
        answer!("voice.provider", self.voice, |v: &VoiceProvider| string(
            v.as_str()
        ));
        answer!("voice.websocket_path", self.websocket_path, |v: &String| {
            string(v)
        });
        for a in &self.absent {
            let value = match a.key {
                "voice.provider" => string("none"),
                _ => toml::Value::Boolean(false),
            };
            push(a.key, value, &a.evidence, Confidence::High);
        }
        out
    }

    /// The answers as a profile layer (dotted keys nested into tables).
    pub fn layer(&self) -> Layer {
        layer_of(&self.answers())
    }

    /// Every piece of evidence, in question order, for display.
    pub fn evidence(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        macro_rules! push {
            ($($f:ident),*) => { $( if let Some(x) = &self.$f { out.push(&x.evidence); } )* };
        }
        push!(
            name,
            service_dir,
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
        out.extend(self.absent.iter().map(|a| a.evidence.as_str()));
        out
    }
}

/// The answers as one typed layer (dotted keys nested into tables).
pub fn layer_of(answers: &[Answer]) -> Layer {
    answers.iter().fold(Layer::default(), |layer, a| {
        layer.with(a.key, a.value.clone())
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

#[cfg(test)]
mod tests {
    use super::python::{python_minor, requirement_name};
    use super::scan::{port_in, words};
    use super::*;

    #[test]
    fn versions() {
        use super::node::node_major;
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

    #[test]
    fn layer_nests_typed_values() {
        let d = Detection {
            port: evidence::found(8000, "8000 — Procfile"),
            absent: vec![Absent::new("postgres.enabled", "no — x".into())],
            ..Detection::default()
        };
        let l = d.layer();
        assert_eq!(l.table["service"]["port"], toml::Value::Integer(8000));
        assert_eq!(l.table["postgres"]["enabled"], toml::Value::Boolean(false));
    }
}

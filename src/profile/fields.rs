//! Every field of a profile with what it accepts: one row per key, the
//! patterns as plain functions. Templates interpolate these values into
//! shell scripts, nginx directives, HCL and YAML without quoting, so each
//! pattern admits only characters that mean nothing special in any of them
//! (ASCII only, so no look-alike letters either), and each rule also says
//! what a value must *mean* (a static directory inside the app, a branch
//! git accepts) where the characters alone would let a wrong meaning in.

use toml::Value;

use super::schema::{DeployTarget, RedisRole, Runtime, TlsMode, VoiceProvider, WorkerKind};
use crate::error::FieldError;
use crate::images;

use super::patterns::*;

/// What a field holds; decides the TOML type and how a value is checked.
#[derive(Clone, Copy)]
pub enum Kind {
    Bool,
    /// A whole number in `lo..=hi`.
    Int {
        lo: i64,
        hi: i64,
    },
    /// 0 (meaning none) or a whole number in `lo..=hi`.
    IntOrZero {
        lo: i64,
        hi: i64,
    },
    /// One of a few whole numbers.
    IntChoice(&'static [i64]),
    /// A float strictly between 0 and 1.
    Fraction,
    /// A string matching `ok`; `empty_ok`: "" means none / the default.
    Text {
        ok: fn(&str) -> bool,
        empty_ok: bool,
    },
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A version listed in one of the image tables in `images`.
    Version(&'static [(&'static str, &'static str)]),
    /// A Node.js or Python version from the tables in `images` (which one
    /// the runtime decides; empty: the runtime's default).
    RuntimeVersion,
    /// A list of strings, each matching `ok`.
    List(fn(&str) -> bool),
    /// An exec-form command: a list of words (empty: none / the default).
    Command,
}

pub struct Field {
    pub key: &'static str,
    pub kind: Kind,
    /// What is accepted, for messages and `presets show`; derived from the
    /// kind when empty.
    pub accepts: &'static str,
}

const fn f(key: &'static str, kind: Kind, accepts: &'static str) -> Field {
    Field { key, kind, accepts }
}
const fn int(key: &'static str, lo: i64, hi: i64) -> Field {
    f(key, Kind::Int { lo, hi }, "")
}
const fn text(key: &'static str, ok: fn(&str) -> bool, accepts: &'static str) -> Field {
    f(
        key,
        Kind::Text {
            ok,
            empty_ok: false,
        },
        accepts,
    )
}
const fn optional(key: &'static str, ok: fn(&str) -> bool, accepts: &'static str) -> Field {
    f(key, Kind::Text { ok, empty_ok: true }, accepts)
}
const fn path(key: &'static str) -> Field {
    text(key, is_url_path, PATH_RULE)
}
const PORT: Kind = Kind::Int {
    lo: 1024,
    hi: 65535,
};
const PORT_RULE: &str = "a port from 1024 to 65535, as a whole number (containers run as non-root)";

pub const SLUG_RULE: &str =
    "2 to 32 lowercase letters, digits and '-', starting with a letter and not ending with '-'";
const QUEUE_RULE: &str = "1 to 64 letters, digits, '-', '_', '.' or ':'";
const IDENT_RULE: &str =
    "a lowercase SQL identifier: letters, digits and '_', starting with a letter, at most 63";
const HOST_RULE: &str = "a DNS name such as voice.example.com: dot-separated labels of letters, \
     digits and '-' (each at most 63), at least two labels, at most 46 characters in all \
     (nginx's default server_names_hash)";
const ORIGIN_RULE: &str =
    "an origin such as https://app.example.com (https, a host name, optional port; never '*')";
const PATH_RULE: &str = "a URL path starting with '/', made of letters, digits and - . _ ~ / \
     (no spaces, quotes, ';', '$', '//' or '..')";
const DIR_RULE: &str = "a directory inside the app, relative to it (e.g. dist or .next/cache): \
     letters, digits, '.', '_', '-' and '/'; never '.', '..', '.git', 'secrets', an absolute path \
     or a parent";
const COMMAND_RULE: &str = "a command as a list of words, e.g. [\"node\", \"dist/server.js\"]: \
     each word letters, digits and - . _ / : = @ + , * (no spaces, quotes, ';', '$', '&', '|' or \
     '`'), the first word not starting with '-', no '..' path parts";
const IMAGE_RULE: &str =
    "an image reference pinned to a tag or digest, e.g. ghcr.io/acme/inference:1.4.2 (not :latest)";
const BRANCH_RULE: &str = "a branch name git accepts: letters, digits, '.', '_', '-' and '/'; \
     no part starting with '.' or ending with '.lock', no '..' or '//', not starting with '-' \
     or '/', not ending with '/' or '.'";
const REPO_RULE: &str = "owner/name of a GitHub repository, e.g. acme/voice-agent: the owner \
     letters, digits and '-' (at most 39), the name letters, digits, '.', '_' and '-' (at most \
     100, not '.' or '..')";
const CSP_RULE: &str = "CSP directives made of letters, digits, spaces and - : ; / . * ' + = _ \
     (no double quotes, '$', '\\' or newlines)";

/// Every key a profile has, in the order `presets show` lists them. A unit
/// test holds this list and the schema's keys together.
pub const FIELDS: &[Field] = &[
    text("service.name", is_slug, SLUG_RULE),
    f("service.runtime", Kind::Choice(Runtime::WORDS), ""),
    f("service.runtime_version", Kind::RuntimeVersion, ""),
    f("service.port", PORT, PORT_RULE),
    f("service.start_command", Kind::Command, COMMAND_RULE),
    path("service.health_path"),
    path("service.ready_path"),
    path("service.api_prefix"),
    path("service.auth_path"),
    path("service.metrics_path"),
    optional("service.static_dir", is_app_dir, DIR_RULE),
    f("service.writable_dirs", Kind::List(is_app_dir), DIR_RULE),
    f("worker.enabled", Kind::Bool, ""),
    f("worker.kind", Kind::Choice(WorkerKind::WORDS), ""),
    f("worker.command", Kind::Command, COMMAND_RULE),
    f("worker.queues", Kind::List(is_queue_name), QUEUE_RULE),
    f(
        "worker.metrics_port",
        Kind::IntOrZero {
            lo: 1024,
            hi: 65535,
        },
        "",
    ),
    text("sidecars[].name", is_slug, SLUG_RULE),
    text("sidecars[].image", is_pinned_image, IMAGE_RULE),
    f("sidecars[].port", PORT, PORT_RULE),
    path("sidecars[].health_path"),
    int("sidecars[].memory_mb", 64, 65536),
    f("postgres.enabled", Kind::Bool, ""),
    f("postgres.version", Kind::Version(images::POSTGRES), ""),
    text("postgres.database", is_identifier, IDENT_RULE),
    text("postgres.user", is_identifier, IDENT_RULE),
    f("postgres.migrate_command", Kind::Command, COMMAND_RULE),
    f("redis.enabled", Kind::Bool, ""),
    f("redis.version", Kind::Version(images::REDIS), ""),
    f("redis.role", Kind::Choice(RedisRole::WORDS), ""),
    int("redis.maxmemory_mb", 16, 1_048_576),
    f("voice.provider", Kind::Choice(VoiceProvider::WORDS), ""),
    path("voice.webhook_path"),
    optional("voice.websocket_path", is_url_path, PATH_RULE),
    text("edge.domain", is_domain, HOST_RULE),
    optional(
        "edge.acme_email",
        is_email,
        "an e-mail address such as ops@example.com (letters, digits, '.', '_', '+', '-')",
    ),
    f("edge.tls", Kind::Choice(TlsMode::WORDS), ""),
    f("edge.cors_origins", Kind::List(is_origin), ORIGIN_RULE),
    int("edge.api_rate_per_second", 1, 100_000),
    int("edge.auth_rate_per_minute", 1, 100_000),
    int("edge.webhook_rate_per_second", 1, 100_000),
    int("edge.max_body_mb", 1, 1024),
    text("edge.content_security_policy", is_csp, CSP_RULE),
    text(
        "aws.region",
        is_region,
        "an AWS region such as us-east-1 or eu-west-2",
    ),
    f("aws.environments", Kind::List(is_slug), SLUG_RULE),
    f("aws.staging.app_cpu", Kind::IntChoice(FARGATE_CPU), ""),
    int("aws.staging.app_memory_mb", 512, 30720),
    int("aws.staging.app_min_tasks", 1, 100),
    int("aws.staging.app_max_tasks", 1, 100),
    text("aws.staging.db_instance_class", is_db_class, DB_CLASS_RULE),
    int("aws.staging.db_allocated_storage_gb", 20, 65536),
    text(
        "aws.staging.cache_node_type",
        is_cache_type,
        CACHE_TYPE_RULE,
    ),
    f("aws.production.app_cpu", Kind::IntChoice(FARGATE_CPU), ""),
    int("aws.production.app_memory_mb", 512, 30720),
    int("aws.production.app_min_tasks", 1, 100),
    int("aws.production.app_max_tasks", 1, 100),
    text(
        "aws.production.db_instance_class",
        is_db_class,
        DB_CLASS_RULE,
    ),
    int("aws.production.db_allocated_storage_gb", 20, 65536),
    text(
        "aws.production.cache_node_type",
        is_cache_type,
        CACHE_TYPE_RULE,
    ),
    text(
        "aws.vpc_cidr",
        is_cidr16,
        "an IPv4 /16 network such as 10.40.0.0/16",
    ),
    f("deploy.target", Kind::Choice(DeployTarget::WORDS), ""),
    optional("ci.github_repository", is_github_repo, REPO_RULE),
    text("ci.main_branch", is_branch, BRANCH_RULE),
    text("ci.shipready_version", is_semver, "a version such as 0.1.0"),
    int("backup.interval_hours", 1, 168),
    int("backup.retention_days", 1, 3650),
    int("backup.rto_hours", 1, 720),
    int("backup.rpo_hours", 1, 720),
    f("alerts.error_ratio", Kind::Fraction, ""),
    int("alerts.latency_p95_ms", 1, 600_000),
    int("alerts.latency_p99_ms", 1, 600_000),
    f("alerts.cpu_ratio", Kind::Fraction, ""),
    f("alerts.memory_ratio", Kind::Fraction, ""),
    f("alerts.db_connections_ratio", Kind::Fraction, ""),
    f("alerts.redis_memory_ratio", Kind::Fraction, ""),
    int("alerts.cert_expiry_days", 1, 60),
    int("alerts.queue_backlog", 1, 10_000_000),
    f("monitoring.enabled", Kind::Bool, ""),
    optional(
        "monitoring.runbook_base_url",
        is_https_url,
        "an https:// URL of letters, digits and - . _ ~ / # (empty: the runbook in the repository)",
    ),
    int("loadtest.users", 1, 100_000),
    int("loadtest.spawn_rate", 1, 10_000),
    int("loadtest.soak_minutes", 1, 1440),
];

const FARGATE_CPU: &[i64] = &[256, 512, 1024, 2048, 4096];
const DB_CLASS_RULE: &str = "an RDS instance class such as db.t4g.medium";
const CACHE_TYPE_RULE: &str = "an ElastiCache node type such as cache.t4g.small";

/// The row for `key`; sidecar keys match with or without their index
/// (`sidecars[2].port` is `sidecars[].port`).
pub fn field(key: &str) -> Option<&'static Field> {
    let generic = generic_key(key);
    FIELDS.iter().find(|f| f.key == generic)
}

fn generic_key(key: &str) -> String {
    match key.strip_prefix("sidecars[") {
        Some(rest) => match rest.split_once(']') {
            Some((_, tail)) => format!("sidecars[]{tail}"),
            None => key.to_string(),
        },
        None => key.to_string(),
    }
}

impl Field {
    pub fn is_list(&self) -> bool {
        matches!(self.kind, Kind::List(_) | Kind::Command)
    }
    pub fn wants_string(&self) -> bool {
        matches!(
            self.kind,
            Kind::Text { .. } | Kind::Choice(_) | Kind::Version(_) | Kind::RuntimeVersion
        )
    }

    /// What the field accepts, in words.
    pub fn accepts(&self) -> String {
        if !self.accepts.is_empty() {
            return self.accepts.to_string();
        }
        match self.kind {
            Kind::Bool => "true or false".into(),
            Kind::Int { lo, hi } => format!("a whole number from {lo} to {hi}"),
            Kind::IntOrZero { lo, hi } => {
                format!("0 (none) or a whole number from {lo} to {hi}")
            }
            Kind::IntChoice(xs) => one_of(xs.iter().map(i64::to_string)),
            Kind::Fraction => "a fraction between 0 and 1, e.g. 0.8".into(),
            Kind::Choice(words) => one_of(words.iter().map(|w| quoted(w))),
            Kind::Version(table) => one_of(table.iter().map(|(v, _)| quoted(v))),
            Kind::RuntimeVersion => format!(
                "a supported version: Node.js {}; Python {}",
                join_or(images::NODE.iter().map(|(v, _)| v.to_string())),
                join_or(images::PYTHON.iter().map(|(v, _)| v.to_string())),
            ),
            Kind::Text { .. } | Kind::List(_) | Kind::Command => String::new(),
        }
    }

    /// Every problem with `value` for this field, `key` naming it (with the
    /// sidecar's index where there is one).
    pub fn check(&self, key: &str, value: &Value, out: &mut Vec<FieldError>) {
        let accepts = self.accepts();
        let bad = |out: &mut Vec<FieldError>, what: &str| {
            out.push(FieldError::invalid(key, &shown(value), what));
        };
        match (self.kind, value) {
            (Kind::Bool, Value::Boolean(_)) => {}
            (Kind::Int { lo, hi }, Value::Integer(n)) => {
                if !(lo..=hi).contains(n) {
                    bad(out, &accepts);
                }
            }
            (Kind::IntOrZero { lo, hi }, Value::Integer(n)) => {
                if *n != 0 && !(lo..=hi).contains(n) {
                    bad(out, &accepts);
                }
            }
            (Kind::IntChoice(xs), Value::Integer(n)) => {
                if !xs.contains(n) {
                    bad(out, &accepts);
                }
            }
            (Kind::Fraction, Value::Float(x)) => {
                if !(*x > 0.0 && *x < 1.0) {
                    bad(out, &accepts);
                }
            }
            (Kind::Fraction, Value::Integer(_)) => bad(out, &accepts),
            (Kind::Text { ok, empty_ok }, Value::String(s)) => {
                if !((empty_ok && s.is_empty()) || ok(s)) {
                    bad(out, &accepts);
                }
            }
            (Kind::Choice(words), Value::String(s)) => {
                if !words.contains(&s.as_str()) {
                    let hint = super::suggest::closest(s, words.iter().copied())
                        .map(|w| format!(" (did you mean \"{w}\"?)"))
                        .unwrap_or_default();
                    bad(out, &format!("{accepts}{hint}"));
                }
            }
            (Kind::RuntimeVersion, Value::String(s)) => {
                let known = images::NODE
                    .iter()
                    .chain(images::PYTHON)
                    .any(|(v, _)| v == s);
                if !(s.is_empty() || known) {
                    bad(out, &accepts);
                }
            }
            (Kind::Version(table), Value::String(s)) => {
                if !table.iter().any(|(v, _)| v == s) {
                    bad(out, &accepts);
                }
            }
            (Kind::List(ok), Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) if ok(s) => {}
                        _ => out.push(FieldError::invalid(
                            &format!("{key}[{i}]"),
                            &shown(item),
                            &accepts,
                        )),
                    }
                }
            }
            (Kind::Command, Value::Array(words)) => {
                for (i, word) in words.iter().enumerate() {
                    let ok = match word {
                        Value::String(s) => is_command_word(s) && !(i == 0 && s.starts_with('-')),
                        _ => false,
                    };
                    if !ok {
                        out.push(FieldError::invalid(
                            &format!("{key}[{i}]"),
                            &shown(word),
                            &accepts,
                        ));
                    }
                }
            }
            // The right meaning in the wrong TOML type.
            (Kind::List(_) | Kind::Command, Value::String(_)) => bad(
                out,
                &format!(
                    "a list, not a string: write {} = {} ({accepts}; with --set, a \
                     comma-separated value also works)",
                    short(key),
                    list_of(value)
                ),
            ),
            (_, Value::String(_)) => bad(out, &format!("{accepts}, written without quotes")),
            (kind, _) => {
                let form = match kind {
                    Kind::Text { .. }
                    | Kind::Choice(_)
                    | Kind::Version(_)
                    | Kind::RuntimeVersion => {
                        format!("{accepts}, written as a quoted string")
                    }
                    Kind::List(_) | Kind::Command => {
                        format!("a list such as {}: {accepts}", list_example(self))
                    }
                    _ => accepts,
                };
                bad(out, &form);
            }
        }
    }
}

fn short(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// The string the person wrote, as the list they meant.
fn list_of(value: &Value) -> String {
    let items: Vec<Value> = match value {
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(Value::from)
            .collect(),
        _ => Vec::new(),
    };
    Value::Array(items).to_string()
}

fn list_example(field: &Field) -> &'static str {
    match field.key {
        "edge.cors_origins" => "[\"https://app.example.com\"]",
        "aws.environments" => "[\"staging\", \"production\"]",
        "worker.queues" => "[\"calls\", \"transcripts\"]",
        "service.writable_dirs" => "[\".next/cache\"]",
        _ => "[\"node\", \"dist/server.js\"]",
    }
}

/// A value as a person would type it: strings bare (the message quotes
/// them), anything else as TOML.
pub fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn quoted(w: &str) -> String {
    format!("\"{w}\"")
}

/// "one of a, b or c"; just "a or b" for two.
fn one_of(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    let n = items.len();
    let list = join_or(items.into_iter());
    if n > 2 {
        format!("one of {list}")
    } else {
        list
    }
}

fn join_or(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_row_is_unique() {
        let mut keys: Vec<&str> = FIELDS.iter().map(|f| f.key).collect();
        keys.sort_unstable();
        let n = keys.len();
        keys.dedup();
        assert_eq!(keys.len(), n);
        for f in FIELDS {
            assert!(!f.accepts().is_empty(), "{} says what it accepts", f.key);
        }
    }
}

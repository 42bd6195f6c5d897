//! The profile: everything a template may read, validated once.
//!
//! A profile is assembled from layers (defaults < preset < `--values` file <
//! `--set`), each a TOML table, merged key by key and only then deserialised.
//! Deserialising rejects unknown keys; [`Profile::validate`] then checks every
//! value against a strict pattern. Templates interpolate these values into
//! shell scripts, nginx directives, HCL and YAML without quoting, so the
//! patterns are what keeps a domain like `a.com;rm -rf /` out of them: every
//! accepted value is made only of characters that mean nothing special in
//! any of those languages.

use serde::{Deserialize, Serialize};
use std::fmt;
use toml::Value;

use crate::error::{Error, FieldError};

/// Short keys accepted by `--set` for the answers people give most often.
pub const KEY_ALIASES: &[(&str, &str)] = &[
    ("name", "service.name"),
    ("domain", "edge.domain"),
    ("runtime", "service.runtime"),
    ("region", "aws.region"),
    ("repository", "ci.github_repository"),
];

/// Keys that have no default: init cannot run until each has a value.
pub const REQUIRED_KEYS: &[&str] = &["service.name", "edge.domain"];

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    #[serde(default)]
    pub service: Service,
    #[serde(default)]
    pub worker: Worker,
    #[serde(default)]
    pub sidecars: Vec<Sidecar>,
    #[serde(default)]
    pub postgres: Postgres,
    #[serde(default)]
    pub redis: Redis,
    #[serde(default)]
    pub voice: Voice,
    #[serde(default)]
    pub edge: Edge,
    #[serde(default)]
    pub aws: Aws,
    #[serde(default)]
    pub ci: Ci,
    #[serde(default)]
    pub backup: Backup,
    #[serde(default)]
    pub alerts: Alerts,
    #[serde(default)]
    pub monitoring: Monitoring,
    #[serde(default)]
    pub loadtest: LoadTest,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    Node,
    Fastapi,
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Node => "node",
            Runtime::Fastapi => "fastapi",
        })
    }
}

/// The web process: the one container every profile has.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Service {
    /// Slug used for image, container, database and AWS resource names.
    pub name: String,
    pub runtime: Runtime,
    /// Node major version ("22") or Python minor version ("3.12").
    pub runtime_version: String,
    pub port: u16,
    /// Exec-form start command; empty means the runtime's default.
    pub start_command: Vec<String>,
    /// Liveness endpoint.
    pub health_path: String,
    /// Readiness endpoint (dependencies reachable); may equal `health_path`.
    pub ready_path: String,
    /// Prefix of the JSON API, rate-limited as "api".
    pub api_prefix: String,
    /// Login / token endpoints, rate-limited hardest.
    pub auth_path: String,
    /// Where Prometheus scrapes the app.
    pub metrics_path: String,
    /// Directory of a built front end served as static files by nginx
    /// (relative to the repository), or empty.
    pub static_dir: String,
    /// Directories under the app's root that it writes at run time (e.g.
    /// Next.js's `.next/cache`): the root file system is read-only in
    /// production, so each becomes a tmpfs owned by the app's user.
    pub writable_dirs: Vec<String>,
}

impl Default for Service {
    fn default() -> Self {
        Service {
            name: String::new(),
            runtime: Runtime::Node,
            runtime_version: String::new(),
            port: 0,
            start_command: Vec::new(),
            health_path: "/health".into(),
            ready_path: "/health/ready".into(),
            api_prefix: "/api".into(),
            auth_path: "/api/auth".into(),
            metrics_path: "/metrics".into(),
            static_dir: String::new(),
            writable_dirs: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum WorkerKind {
    Bullmq,
    Bull,
    Celery,
}

/// A background worker running from the same image with its own command.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Worker {
    pub enabled: bool,
    pub kind: WorkerKind,
    pub command: Vec<String>,
    /// Queue names, for backlog alerts and the dashboard.
    pub queues: Vec<String>,
    /// Port of the worker's own metrics/health endpoint (0: none).
    pub metrics_port: u16,
}

impl Default for Worker {
    fn default() -> Self {
        Worker {
            enabled: false,
            kind: WorkerKind::Bullmq,
            command: Vec::new(),
            queues: vec!["default".into()],
            metrics_port: 0,
        }
    }
}

/// An extra internal container (e.g. model inference), never published.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub name: String,
    /// Image reference pinned to a tag or digest.
    pub image: String,
    pub port: u16,
    #[serde(default = "default_health")]
    pub health_path: String,
    #[serde(default = "default_sidecar_memory")]
    pub memory_mb: u32,
}

fn default_health() -> String {
    "/health".into()
}
fn default_sidecar_memory() -> u32 {
    2048
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Postgres {
    pub enabled: bool,
    /// Major version: the image tag and the RDS engine version.
    pub version: String,
    pub database: String,
    pub user: String,
    /// Exec-form migration command run before a deploy (empty: none).
    pub migrate_command: Vec<String>,
}

impl Default for Postgres {
    fn default() -> Self {
        Postgres {
            enabled: false,
            version: "16".into(),
            database: "app".into(),
            user: "app".into(),
            migrate_command: Vec::new(),
        }
    }
}

/// What Redis is to the service decides eviction and persistence.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RedisRole {
    /// Data can be recomputed: evict least recently used keys.
    Cache,
    /// Job queues (Bull, BullMQ, Celery): never evict, persist.
    Queue,
    /// The service's only store: never evict, persist.
    Primary,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Redis {
    pub enabled: bool,
    pub version: String,
    pub role: RedisRole,
    pub maxmemory_mb: u32,
}

impl Default for Redis {
    fn default() -> Self {
        Redis {
            enabled: false,
            version: "7.2".into(),
            role: RedisRole::Cache,
            maxmemory_mb: 256,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VoiceProvider {
    Twilio,
    Ringcentral,
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Voice {
    pub provider: VoiceProvider,
    /// Where the provider POSTs its webhooks.
    pub webhook_path: String,
    /// Live audio / UI WebSocket path (empty: none).
    pub websocket_path: String,
}

impl Default for Voice {
    fn default() -> Self {
        Voice {
            provider: VoiceProvider::None,
            webhook_path: "/webhooks/voice".into(),
            websocket_path: String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Certificates from Let's Encrypt via certbot on a shared webroot.
    Letsencrypt,
    /// Bring your own certificate files.
    Byo,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Edge {
    pub domain: String,
    /// Contact for Let's Encrypt expiry notices (empty: none).
    pub acme_email: String,
    pub tls: TlsMode,
    /// Exact origins allowed by CORS; `*` is never accepted.
    pub cors_origins: Vec<String>,
    /// Sustained requests per second per client IP on the API.
    pub api_rate_per_second: u32,
    /// Requests per minute per client IP on the auth/login path.
    pub auth_rate_per_minute: u32,
    /// Requests per second per client IP on the voice webhook path.
    pub webhook_rate_per_second: u32,
    pub max_body_mb: u32,
    /// Content-Security-Policy sent on every response.
    pub content_security_policy: String,
}

impl Default for Edge {
    fn default() -> Self {
        Edge {
            domain: String::new(),
            acme_email: String::new(),
            tls: TlsMode::Letsencrypt,
            cors_origins: Vec::new(),
            api_rate_per_second: 20,
            auth_rate_per_minute: 10,
            webhook_rate_per_second: 50,
            max_body_mb: 10,
            content_security_policy:
                "default-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
                    .into(),
        }
    }
}

/// Compute sizes of one environment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Sizes {
    pub app_cpu: u32,
    pub app_memory_mb: u32,
    pub app_min_tasks: u32,
    pub app_max_tasks: u32,
    pub db_instance_class: String,
    pub db_allocated_storage_gb: u32,
    pub cache_node_type: String,
}

impl Sizes {
    fn staging() -> Self {
        Sizes {
            app_cpu: 256,
            app_memory_mb: 512,
            app_min_tasks: 1,
            app_max_tasks: 2,
            db_instance_class: "db.t4g.micro".into(),
            db_allocated_storage_gb: 20,
            cache_node_type: "cache.t4g.micro".into(),
        }
    }
    fn production() -> Self {
        Sizes {
            app_cpu: 512,
            app_memory_mb: 1024,
            app_min_tasks: 2,
            app_max_tasks: 6,
            db_instance_class: "db.t4g.medium".into(),
            db_allocated_storage_gb: 50,
            cache_node_type: "cache.t4g.small".into(),
        }
    }
}

impl Default for Sizes {
    fn default() -> Self {
        Sizes::production()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Aws {
    pub region: String,
    /// Deployment environments in promotion order; the last is production.
    pub environments: Vec<String>,
    pub staging: Sizes,
    pub production: Sizes,
    pub vpc_cidr: String,
}

impl Default for Aws {
    fn default() -> Self {
        Aws {
            region: "us-east-1".into(),
            environments: vec!["staging".into(), "production".into()],
            staging: Sizes::staging(),
            production: Sizes::production(),
            vpc_cidr: "10.40.0.0/16".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Ci {
    /// `owner/name` of the GitHub repository, for OIDC trust (empty: set at apply).
    pub github_repository: String,
    /// The branch that deploys.
    pub main_branch: String,
    /// The shipready version CI installs for the drift check.
    pub shipready_version: String,
}

impl Default for Ci {
    fn default() -> Self {
        Ci {
            github_repository: String::new(),
            main_branch: "main".into(),
            shipready_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Backup {
    /// Hours between database dumps.
    pub interval_hours: u32,
    pub retention_days: u32,
    /// Recovery time objective, hours.
    pub rto_hours: u32,
    /// Recovery point objective, hours.
    pub rpo_hours: u32,
}

impl Default for Backup {
    fn default() -> Self {
        Backup {
            interval_hours: 24,
            retention_days: 30,
            rto_hours: 4,
            rpo_hours: 24,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Alerts {
    /// 5xx responses over all responses, 0–1.
    pub error_ratio: f64,
    pub latency_p95_ms: u32,
    pub latency_p99_ms: u32,
    /// Fractions, 0–1.
    pub cpu_ratio: f64,
    pub memory_ratio: f64,
    pub db_connections_ratio: f64,
    pub redis_memory_ratio: f64,
    pub cert_expiry_days: u32,
    /// Jobs waiting before a queue counts as backed up.
    pub queue_backlog: u32,
}

impl Default for Alerts {
    fn default() -> Self {
        Alerts {
            error_ratio: 0.05,
            latency_p95_ms: 500,
            latency_p99_ms: 1500,
            cpu_ratio: 0.8,
            memory_ratio: 0.85,
            db_connections_ratio: 0.8,
            redis_memory_ratio: 0.9,
            cert_expiry_days: 14,
            queue_backlog: 1000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    /// Prometheus, Alertmanager, Grafana and exporters in compose.prod.yaml.
    pub enabled: bool,
    pub runbook_base_url: String,
}

impl Default for Monitoring {
    fn default() -> Self {
        Monitoring {
            enabled: true,
            runbook_base_url: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LoadTest {
    /// Concurrent users (or calls) at the top of the ramp.
    pub users: u32,
    pub spawn_rate: u32,
    pub soak_minutes: u32,
}

impl Default for LoadTest {
    fn default() -> Self {
        LoadTest {
            users: 100,
            spawn_rate: 10,
            soak_minutes: 30,
        }
    }
}

impl Profile {
    /// Merge the layers (lowest precedence first), deserialise, fill the
    /// runtime-dependent defaults and validate. Every problem is reported at
    /// once: missing keys, unknown keys, bad values.
    pub fn from_layers(layers: &[Layer]) -> Result<Profile, Error> {
        let mut merged = toml::Table::new();
        for layer in layers {
            merge(&mut merged, &layer.table);
        }
        let missing: Vec<String> = REQUIRED_KEYS
            .iter()
            .filter(|k| lookup(&merged, k).is_none_or(is_blank))
            .map(|k| k.to_string())
            .collect();
        let merged_copy = merged.clone();
        let mut profile: Profile =
            serde_path_to_error::deserialize(Value::Table(merged)).map_err(|e| {
                let key = e.path().to_string();
                // The first line; toml repeats the path on a second one.
                let message = e
                    .into_inner()
                    .to_string()
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                Error::Profile(vec![FieldError::parse(&key, &message)])
            })?;
        let port_given = lookup(&merged_copy, "service.port").is_some();
        profile.fill_defaults(port_given);
        // A missing value would also fail its pattern: report it once, as missing.
        let problems: Vec<FieldError> = profile
            .problems()
            .into_iter()
            .filter(|p| !(missing.contains(&p.key) && p.value.is_empty()))
            .collect();
        let mut errors: Vec<FieldError> = missing.into_iter().map(FieldError::missing).collect();
        errors.extend(problems);
        if errors.is_empty() {
            Ok(profile)
        } else {
            Err(Error::Profile(errors))
        }
    }

    /// Defaults that depend on other answers (the runtime decides the port).
    fn fill_defaults(&mut self, port_given: bool) {
        let node = self.service.runtime == Runtime::Node;
        if self.service.runtime_version.is_empty() {
            self.service.runtime_version = if node { "22" } else { "3.12" }.into();
        }
        if !port_given {
            self.service.port = if node { 3000 } else { 8000 };
        }
        if self.worker.enabled && self.worker.command.is_empty() {
            self.worker.command = if node {
                vec!["node".into(), "dist/worker.js".into()]
            } else {
                vec![
                    "celery".into(),
                    "-A".into(),
                    "app.worker".into(),
                    "worker".into(),
                    "--loglevel=INFO".into(),
                ]
            };
        }
        if self.service.start_command.is_empty() {
            self.service.start_command = if node {
                vec!["node".into(), "dist/server.js".into()]
            } else {
                vec![
                    "uvicorn".into(),
                    "app.main:app".into(),
                    "--host".into(),
                    "0.0.0.0".into(),
                    "--port".into(),
                    self.service.port.to_string(),
                    "--proxy-headers".into(),
                    "--forwarded-allow-ips=*".into(),
                ]
            };
        }
    }

    /// Every rule broken by this profile, each naming field, value and rule.
    pub fn problems(&self) -> Vec<FieldError> {
        let mut v = Checker::default();
        let s = &self.service;
        v.check("service.name", &s.name, is_slug, SLUG_RULE);
        v.check(
            "service.runtime_version",
            &s.runtime_version,
            |x| match s.runtime {
                Runtime::Node => crate::images::NODE.iter().any(|(v, _)| *v == x),
                Runtime::Fastapi => crate::images::PYTHON.iter().any(|(v, _)| *v == x),
            },
            match s.runtime {
                Runtime::Node => "a supported Node.js major version: 20, 22 or 24",
                Runtime::Fastapi => "a supported Python version: 3.11, 3.12 or 3.13",
            },
        );
        v.port("service.port", s.port);
        v.command("service.start_command", &s.start_command, false);
        v.url_path("service.health_path", &s.health_path, false);
        v.url_path("service.ready_path", &s.ready_path, false);
        v.url_path("service.api_prefix", &s.api_prefix, false);
        v.url_path("service.auth_path", &s.auth_path, false);
        v.url_path("service.metrics_path", &s.metrics_path, false);
        v.check(
            "service.static_dir",
            &s.static_dir,
            |x| x.is_empty() || is_rel_path(x),
            "a relative directory of letters, digits, '.', '_', '-' and '/', without '..'",
        );
        for (i, d) in s.writable_dirs.iter().enumerate() {
            v.check(
                &format!("service.writable_dirs[{i}]"),
                d,
                is_rel_path,
                "a directory under the app's root: letters, digits, '.', '_', '-' and '/', without '..'",
            );
        }

        if self.worker.enabled {
            v.command("worker.command", &self.worker.command, false);
            for (i, q) in self.worker.queues.iter().enumerate() {
                v.check(
                    &format!("worker.queues[{i}]"),
                    q,
                    is_slug_loose,
                    SLUG_LOOSE_RULE,
                );
            }
            if self.worker.metrics_port != 0 {
                v.port("worker.metrics_port", self.worker.metrics_port);
            }
        }
        let mut names = vec![s.name.as_str()];
        for (i, sc) in self.sidecars.iter().enumerate() {
            let key = |f: &str| format!("sidecars[{i}].{f}");
            v.check(&key("name"), &sc.name, is_slug, SLUG_RULE);
            v.check(
                &key("name"),
                &sc.name,
                |x| !names.contains(&x) && !RESERVED_SERVICE_NAMES.contains(&x),
                "a name not used by another service (app, worker, postgres, redis, nginx, ... are taken)",
            );
            names.push(&sc.name);
            v.check(&key("image"), &sc.image, is_pinned_image, IMAGE_RULE);
            v.port(&key("port"), sc.port);
            v.url_path(&key("health_path"), &sc.health_path, false);
            v.range(&key("memory_mb"), sc.memory_mb, 64, 65536);
        }

        let pg = &self.postgres;
        if pg.enabled {
            v.check(
                "postgres.version",
                &pg.version,
                |x| matches!(x, "14" | "15" | "16" | "17"),
                "a PostgreSQL major version: 14, 15, 16 or 17",
            );
            v.check("postgres.database", &pg.database, is_identifier, IDENT_RULE);
            v.check("postgres.user", &pg.user, is_identifier, IDENT_RULE);
            v.command("postgres.migrate_command", &pg.migrate_command, true);
        }
        let rd = &self.redis;
        if rd.enabled {
            v.check(
                "redis.version",
                &rd.version,
                |x| matches!(x, "6.2" | "7.0" | "7.2" | "7.4"),
                "a Redis version: 6.2, 7.0, 7.2 or 7.4",
            );
            v.range("redis.maxmemory_mb", rd.maxmemory_mb, 16, 1_048_576);
        }
        if self.worker.enabled && !rd.enabled {
            v.fail(
                "worker.enabled",
                "true",
                "a worker needs a queue: set redis.enabled = true",
            );
        }
        if self.worker.enabled && rd.enabled && rd.role == RedisRole::Cache {
            v.fail(
                "redis.role",
                "cache",
                "\"queue\" or \"primary\" when a worker uses Redis: a cache evicts keys and would lose jobs",
            );
        }

        let vc = &self.voice;
        if vc.provider != VoiceProvider::None {
            v.url_path("voice.webhook_path", &vc.webhook_path, false);
        }
        v.url_path("voice.websocket_path", &vc.websocket_path, true);

        let e = &self.edge;
        v.check("edge.domain", &e.domain, is_hostname, HOST_RULE);
        v.check(
            "edge.acme_email",
            &e.acme_email,
            |x| x.is_empty() || is_email(x),
            "an e-mail address such as ops@example.com (letters, digits, '.', '_', '+', '-')",
        );
        for (i, o) in e.cors_origins.iter().enumerate() {
            v.check(
                &format!("edge.cors_origins[{i}]"),
                o,
                is_origin,
                ORIGIN_RULE,
            );
        }
        v.range(
            "edge.api_rate_per_second",
            e.api_rate_per_second,
            1,
            100_000,
        );
        v.range(
            "edge.auth_rate_per_minute",
            e.auth_rate_per_minute,
            1,
            100_000,
        );
        v.range(
            "edge.webhook_rate_per_second",
            e.webhook_rate_per_second,
            1,
            100_000,
        );
        v.range("edge.max_body_mb", e.max_body_mb, 1, 1024);
        v.check(
            "edge.content_security_policy",
            &e.content_security_policy,
            is_csp,
            "CSP directives made of letters, digits, spaces and - : ; / . * ' + = _ (no quotes other than ', no $, \\ or newlines)",
        );

        let a = &self.aws;
        v.check(
            "aws.region",
            &a.region,
            is_region,
            "an AWS region such as us-east-1 or eu-west-2",
        );
        if a.environments.is_empty() {
            v.fail(
                "aws.environments",
                "[]",
                "at least one environment, e.g. [\"staging\", \"production\"]",
            );
        }
        for (i, env) in a.environments.iter().enumerate() {
            v.check(&format!("aws.environments[{i}]"), env, is_slug, SLUG_RULE);
        }
        let mut seen = a.environments.clone();
        seen.sort();
        seen.dedup();
        if seen.len() != a.environments.len() {
            v.fail(
                "aws.environments",
                &a.environments.join(","),
                "each environment named once",
            );
        }
        for (env, sz) in [
            ("aws.staging", &a.staging),
            ("aws.production", &a.production),
        ] {
            v.check(
                &format!("{env}.app_cpu"),
                &sz.app_cpu.to_string(),
                |x| matches!(x, "256" | "512" | "1024" | "2048" | "4096"),
                "a Fargate CPU size: 256, 512, 1024, 2048 or 4096",
            );
            v.range(
                &format!("{env}.app_memory_mb"),
                sz.app_memory_mb,
                512,
                30720,
            );
            v.range(&format!("{env}.app_min_tasks"), sz.app_min_tasks, 1, 100);
            v.range(
                &format!("{env}.app_max_tasks"),
                sz.app_max_tasks,
                sz.app_min_tasks.max(1),
                100,
            );
            v.range(
                &format!("{env}.db_allocated_storage_gb"),
                sz.db_allocated_storage_gb,
                20,
                65536,
            );
            v.check(
                &format!("{env}.db_instance_class"),
                &sz.db_instance_class,
                |x| is_instance_class(x, "db."),
                "an RDS instance class such as db.t4g.medium",
            );
            v.check(
                &format!("{env}.cache_node_type"),
                &sz.cache_node_type,
                |x| is_instance_class(x, "cache."),
                "an ElastiCache node type such as cache.t4g.small",
            );
        }
        v.check(
            "aws.vpc_cidr",
            &a.vpc_cidr,
            is_cidr16,
            "an IPv4 /16 network such as 10.40.0.0/16",
        );

        let c = &self.ci;
        v.check(
            "ci.github_repository",
            &c.github_repository,
            |x| x.is_empty() || is_github_repo(x),
            "owner/name of a GitHub repository (letters, digits, '.', '_', '-')",
        );
        v.check(
            "ci.main_branch",
            &c.main_branch,
            is_branch,
            "a branch name of letters, digits, '.', '_', '-' and '/'",
        );
        v.check(
            "ci.shipready_version",
            &c.shipready_version,
            is_semver,
            "a version such as 0.1.0",
        );

        let b = &self.backup;
        v.range("backup.interval_hours", b.interval_hours, 1, 168);
        v.range("backup.retention_days", b.retention_days, 1, 3650);
        v.range("backup.rto_hours", b.rto_hours, 1, 720);
        v.range("backup.rpo_hours", b.rpo_hours, 1, 720);

        let al = &self.alerts;
        for (k, x) in [
            ("alerts.error_ratio", al.error_ratio),
            ("alerts.cpu_ratio", al.cpu_ratio),
            ("alerts.memory_ratio", al.memory_ratio),
            ("alerts.db_connections_ratio", al.db_connections_ratio),
            ("alerts.redis_memory_ratio", al.redis_memory_ratio),
        ] {
            if !(x > 0.0 && x < 1.0) {
                v.fail(k, &x.to_string(), "a fraction between 0 and 1, e.g. 0.8");
            }
        }
        v.range("alerts.latency_p95_ms", al.latency_p95_ms, 1, 600_000);
        v.range(
            "alerts.latency_p99_ms",
            al.latency_p99_ms,
            al.latency_p95_ms.max(1),
            600_000,
        );
        v.range("alerts.cert_expiry_days", al.cert_expiry_days, 1, 60);
        v.range("alerts.queue_backlog", al.queue_backlog, 1, 10_000_000);

        v.check(
            "monitoring.runbook_base_url",
            &self.monitoring.runbook_base_url,
            |x| x.is_empty() || is_https_url(x),
            "an https:// URL of letters, digits and - . _ ~ / # (empty: the runbook in the repository)",
        );
        v.range("loadtest.users", self.loadtest.users, 1, 100_000);
        v.range("loadtest.spawn_rate", self.loadtest.spawn_rate, 1, 10_000);
        v.range("loadtest.soak_minutes", self.loadtest.soak_minutes, 1, 1440);
        v.errors
    }
}

/// Service names the generated compose files use themselves.
pub const RESERVED_SERVICE_NAMES: &[&str] = &[
    "app",
    "worker",
    "postgres",
    "redis",
    "nginx",
    "certbot",
    "prometheus",
    "alertmanager",
    "grafana",
    "node-exporter",
    "postgres-exporter",
    "redis-exporter",
    "nginx-exporter",
    "blackbox-exporter",
    "cadvisor",
    "backup",
    "migrate",
];

/// One source of answers: defaults, a preset, a values file or `--set`.
#[derive(Debug, Clone, Default)]
pub struct Layer {
    pub table: toml::Table,
}

impl Layer {
    /// Parse a TOML document (a preset or a `--values` file).
    pub fn from_toml(text: &str, origin: &str) -> Result<Layer, Error> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| Error::Input {
            what: origin.to_string(),
            message: e.message().to_string(),
        })?;
        Ok(Layer { table })
    }

    /// Build a layer from `key=value` pairs. Keys are dotted (aliases
    /// allowed); values are TOML literals when they parse as one
    /// (`3000`, `true`, `["a","b"]`) and strings otherwise.
    pub fn from_assignments(pairs: &[String]) -> Result<Layer, Error> {
        let mut table = toml::Table::new();
        for pair in pairs {
            let (key, raw) = pair.split_once('=').ok_or_else(|| {
                Error::Usage(format!(
                "--set takes key=value, got '{pair}'. Example: --set edge.domain=voice.example.com"
            ))
            })?;
            let key = canonical_key(key.trim());
            if !known_key(&key) {
                return Err(Error::Usage(format!(
                    "--set: unknown key '{key}'. Run `shipready presets show NAME` to see the keys a profile has."
                )));
            }
            let value = parse_value(raw);
            insert(&mut table, &key, value);
        }
        Ok(Layer { table })
    }
}

fn parse_value(raw: &str) -> Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_string())),
        Err(_) => Value::String(raw.to_string()),
    }
}

pub fn canonical_key(key: &str) -> String {
    KEY_ALIASES
        .iter()
        .find(|(alias, _)| *alias == key)
        .map(|(_, full)| full.to_string())
        .unwrap_or_else(|| key.to_string())
}

/// Whether `key` names a field of the profile (checked against the
/// serialised default profile, so the list can never go stale).
pub fn known_key(key: &str) -> bool {
    let default = Value::try_from(Profile::skeleton()).expect("default profile serialises");
    let Value::Table(t) = default else {
        return false;
    };
    // Array-of-table sections (sidecars) accept any sub-key: serde checks them.
    if key.starts_with("sidecars") {
        return true;
    }
    lookup(&t, key).is_some()
}

impl Profile {
    /// A profile with every section at its default, used to list keys.
    pub fn skeleton() -> Profile {
        Profile {
            service: Service::default(),
            worker: Worker::default(),
            sidecars: Vec::new(),
            postgres: Postgres::default(),
            redis: Redis::default(),
            voice: Voice::default(),
            edge: Edge::default(),
            aws: Aws::default(),
            ci: Ci::default(),
            backup: Backup::default(),
            alerts: Alerts::default(),
            monitoring: Monitoring::default(),
            loadtest: LoadTest::default(),
        }
    }
}

fn lookup<'a>(t: &'a toml::Table, key: &str) -> Option<&'a Value> {
    let mut parts = key.split('.');
    let mut cur = t.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_table()?.get(p)?;
    }
    Some(cur)
}

fn is_blank(v: &Value) -> bool {
    matches!(v, Value::String(s) if s.trim().is_empty())
}

fn insert(t: &mut toml::Table, key: &str, value: Value) {
    match key.split_once('.') {
        None => {
            t.insert(key.to_string(), value);
        }
        Some((head, rest)) => {
            let entry = t
                .entry(head.to_string())
                .or_insert_with(|| Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(toml::Table::new());
            }
            insert(
                entry.as_table_mut().expect("just made a table"),
                rest,
                value,
            );
        }
    }
}

/// Deep merge: tables merge key by key, anything else is replaced.
fn merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

#[derive(Default)]
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn check(&mut self, key: &str, value: &str, ok: impl Fn(&str) -> bool, rule: &str) {
        if !ok(value) {
            self.fail(key, value, rule);
        }
    }
    fn fail(&mut self, key: &str, value: &str, rule: &str) {
        self.errors.push(FieldError::invalid(key, value, rule));
    }
    fn range(&mut self, key: &str, value: u32, lo: u32, hi: u32) {
        if !(lo..=hi).contains(&value) {
            self.fail(
                key,
                &value.to_string(),
                &format!("a whole number from {lo} to {hi}"),
            );
        }
    }
    fn port(&mut self, key: &str, port: u16) {
        if port < 1024 {
            self.fail(
                key,
                &port.to_string(),
                "a port from 1024 to 65535 (containers run as non-root)",
            );
        }
    }
    fn url_path(&mut self, key: &str, value: &str, optional: bool) {
        if optional && value.is_empty() {
            return;
        }
        self.check(key, value, is_url_path, PATH_RULE);
    }
    fn command(&mut self, key: &str, argv: &[String], optional: bool) {
        if argv.is_empty() {
            if !optional {
                self.fail(
                    key,
                    "[]",
                    "a command as a list of words, e.g. [\"node\", \"dist/server.js\"]",
                );
            }
            return;
        }
        for (i, word) in argv.iter().enumerate() {
            self.check(&format!("{key}[{i}]"), word, is_command_word, COMMAND_RULE);
        }
    }
}

pub const SLUG_RULE: &str =
    "2 to 32 lowercase letters, digits and '-', starting with a letter and not ending with '-'";
const SLUG_LOOSE_RULE: &str = "1 to 64 letters, digits, '-', '_', '.' or ':'";
const IDENT_RULE: &str =
    "a lowercase SQL identifier: letters, digits and '_', starting with a letter, at most 63";
const HOST_RULE: &str =
    "a DNS name such as voice.example.com: dot-separated labels of letters, digits and '-', at least two labels";
const ORIGIN_RULE: &str =
    "an origin such as https://app.example.com (https, a host name, optional port; never '*')";
const PATH_RULE: &str =
    "a URL path starting with '/', made of letters, digits and - . _ ~ / (no spaces, quotes, ';', '$' or '..')";
const COMMAND_RULE: &str =
    "a word of letters, digits and - . _ / : = @ + , (one list item per word; no spaces, quotes, ';', '$', '&', '|' or '`')";
const IMAGE_RULE: &str =
    "an image reference pinned to a tag or digest, e.g. ghcr.io/acme/inference:1.4.2 (not :latest)";

fn is_slug(x: &str) -> bool {
    let b = x.as_bytes();
    (2..=32).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !x.contains("--")
}

fn is_slug_loose(x: &str) -> bool {
    (1..=64).contains(&x.len())
        && x.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.:".contains(&c))
}

fn is_identifier(x: &str) -> bool {
    let b = x.as_bytes();
    (1..=63).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

fn is_digits(x: &str) -> bool {
    !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit())
}

pub fn is_hostname(x: &str) -> bool {
    if x.len() > 253 || !x.contains('.') {
        return false;
    }
    x.split('.').all(|label| {
        let b = label.as_bytes();
        (1..=63).contains(&b.len())
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
    }) && x
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().any(|c| c.is_ascii_alphabetic()))
}

fn is_email(x: &str) -> bool {
    let Some((local, host)) = x.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && local
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._+-".contains(&c))
        && is_hostname(host)
}

fn is_origin(x: &str) -> bool {
    let Some(rest) = x
        .strip_prefix("https://")
        .or_else(|| x.strip_prefix("http://localhost"))
    else {
        return false;
    };
    if x.starts_with("http://localhost") {
        return rest.is_empty()
            || (rest.starts_with(':') && is_digits(&rest[1..]) && rest.len() <= 6);
    }
    match rest.split_once(':') {
        Some((host, port)) => is_hostname(host) && is_digits(port) && port.len() <= 5,
        None => is_hostname(rest),
    }
}

fn is_url_path(x: &str) -> bool {
    x.starts_with('/')
        && x.len() <= 200
        && !x.contains("..")
        && !x.contains("//")
        && x.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._~/".contains(&c))
}

fn is_rel_path(x: &str) -> bool {
    !x.starts_with('/')
        && !x.split('/').any(|p| p == ".." || p.is_empty())
        && x.len() <= 200
        && x.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._/".contains(&c))
}

fn is_command_word(x: &str) -> bool {
    !x.is_empty()
        && x.len() <= 200
        && x.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._/:=@+,*".contains(&c))
}

fn is_pinned_image(x: &str) -> bool {
    let (name, pin) = if let Some((n, d)) = x.split_once('@') {
        (
            n,
            d.strip_prefix("sha256:")
                .is_some_and(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit())),
        )
    } else if let Some((n, tag)) = x.rsplit_once(':') {
        (
            n,
            tag != "latest"
                && !tag.contains('/')
                && tag
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
                && !tag.is_empty(),
        )
    } else {
        (x, false)
    };
    pin && !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"./-_:".contains(&c))
}

fn is_region(x: &str) -> bool {
    let parts: Vec<&str> = x.split('-').collect();
    (3..=4).contains(&parts.len())
        && parts[0].len() == 2
        && parts
            .iter()
            .take(parts.len() - 1)
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_lowercase()))
        && is_digits(parts[parts.len() - 1])
        && parts[parts.len() - 1].len() <= 2
}

fn is_instance_class(x: &str, prefix: &str) -> bool {
    x.strip_prefix(prefix).is_some_and(|rest| {
        let parts: Vec<&str> = rest.split('.').collect();
        parts.len() == 2
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
    })
}

fn is_cidr16(x: &str) -> bool {
    let Some(net) = x.strip_suffix("/16") else {
        return false;
    };
    let octets: Vec<&str> = net.split('.').collect();
    octets.len() == 4
        && octets
            .iter()
            .all(|o| is_digits(o) && o.len() <= 3 && o.parse::<u16>().is_ok_and(|n| n <= 255))
        && octets[2] == "0"
        && octets[3] == "0"
}

fn is_github_repo(x: &str) -> bool {
    let Some((owner, name)) = x.split_once('/') else {
        return false;
    };
    let ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 100
            && p.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
    };
    ok(owner) && ok(name) && !name.contains('/')
}

fn is_branch(x: &str) -> bool {
    !x.is_empty()
        && x.len() <= 100
        && !x.contains("..")
        && !x.starts_with('/')
        && x.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"._-/".contains(&c))
}

fn is_semver(x: &str) -> bool {
    let parts: Vec<&str> = x.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| is_digits(p))
}

fn is_csp(x: &str) -> bool {
    !x.trim().is_empty()
        && x.len() <= 1000
        && x.bytes()
            .all(|c| c.is_ascii_alphanumeric() || b" -:;/.*'+=_".contains(&c))
}

fn is_https_url(x: &str) -> bool {
    x.strip_prefix("https://").is_some_and(|rest| {
        let host = rest.split('/').next().unwrap_or("");
        is_hostname(host)
            && rest
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"-._~/#".contains(&c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Layer {
        Layer::from_toml(
            "[service]\nname = \"voice-agent\"\n[edge]\ndomain = \"voice.example.com\"\n",
            "test",
        )
        .unwrap()
    }

    fn with(pairs: &[&str]) -> Result<Profile, Error> {
        let set =
            Layer::from_assignments(&pairs.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        Profile::from_layers(&[base(), set])
    }

    fn rejected_keys(pairs: &[&str]) -> Vec<String> {
        match with(pairs) {
            Err(Error::Profile(errs)) => errs.into_iter().map(|e| e.key).collect(),
            other => panic!("expected a profile error for {pairs:?}, got {other:?}"),
        }
    }

    #[test]
    fn defaults_depend_on_runtime() {
        let p = with(&["runtime=fastapi"]).unwrap();
        assert_eq!(p.service.port, 8000);
        assert_eq!(p.service.runtime_version, "3.12");
        assert!(p
            .service
            .start_command
            .contains(&"--proxy-headers".to_string()));
        let p = with(&[]).unwrap();
        assert_eq!(p.service.port, 3000);
    }

    #[test]
    fn injection_attempts_are_rejected() {
        assert_eq!(rejected_keys(&["domain=a.com;rm -rf /"]), ["edge.domain"]);
        assert_eq!(rejected_keys(&["name=../x"]), ["service.name"]);
        assert_eq!(
            rejected_keys(&["service.health_path=/h;return 200"]),
            ["service.health_path"]
        );
        assert_eq!(
            rejected_keys(&["edge.cors_origins=[\"*\"]"]),
            ["edge.cors_origins[0]"]
        );
        assert_eq!(
            rejected_keys(&["service.start_command=[\"node\",\"$(id)\"]"]),
            ["service.start_command[1]"]
        );
        assert_eq!(rejected_keys(&["domain=a.com\nb: c"]), ["edge.domain"]);
        assert_eq!(
            rejected_keys(&["edge.content_security_policy=default-src \"x\""]),
            ["edge.content_security_policy"]
        );
    }

    #[test]
    fn values_are_range_checked() {
        assert_eq!(rejected_keys(&["service.port=0"]), ["service.port"]);
        assert_eq!(
            rejected_keys(&["alerts.error_ratio=5"]),
            ["alerts.error_ratio"]
        );
        assert_eq!(rejected_keys(&["region=mars-1"]), ["aws.region"]);
    }

    #[test]
    fn a_worker_needs_a_persistent_queue() {
        let keys = rejected_keys(&[
            "worker.enabled=true",
            "redis.enabled=true",
            "redis.role=cache",
        ]);
        assert_eq!(keys, ["redis.role"]);
        assert!(with(&[
            "worker.enabled=true",
            "redis.enabled=true",
            "redis.role=queue"
        ])
        .is_ok());
    }

    #[test]
    fn unknown_set_key_is_a_usage_error() {
        let err = Layer::from_assignments(&["edge.domian=x.com".to_string()]).unwrap_err();
        assert!(matches!(err, Error::Usage(m) if m.contains("edge.domian")));
    }

    #[test]
    fn missing_required_keys_are_listed_together() {
        match Profile::from_layers(&[Layer::default()]) {
            Err(Error::Profile(errs)) => {
                let keys: Vec<_> = errs.iter().map(|e| e.key.as_str()).collect();
                assert_eq!(keys, ["service.name", "edge.domain"]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn type_errors_name_their_key() {
        let bad = Layer::from_toml("[edge]\ndomian = \"x.com\"\n", "values").unwrap();
        match Profile::from_layers(&[base(), bad]) {
            Err(Error::Profile(errs)) => assert_eq!(errs[0].key, "edge.domian"),
            other => panic!("{other:?}"),
        }
        assert_eq!(rejected_keys(&["service.port=abc"]), ["service.port"]);
    }

    #[test]
    fn patterns() {
        assert!(is_hostname("voice.example.com"));
        assert!(!is_hostname("localhost"));
        assert!(!is_hostname("-a.com"));
        assert!(is_pinned_image("ghcr.io/acme/inference:1.4.2"));
        assert!(!is_pinned_image("ghcr.io/acme/inference:latest"));
        assert!(!is_pinned_image("ghcr.io/acme/inference"));
        assert!(is_region("eu-west-2") && is_region("us-gov-west-1"));
        assert!(is_origin("https://app.example.com") && is_origin("http://localhost:5173"));
        assert!(!is_origin("http://app.example.com"));
        assert!(is_cidr16("10.40.0.0/16") && !is_cidr16("10.40.1.0/24"));
    }
}

//! The profile's shape: every section a template may read, with its
//! defaults. Validation lives in `fields` (per-field rules, a data table)
//! and `rules` (rules that relate fields); assembling from layers in `layer`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// `as_str`, `ALL` and `Display` for a profile enum, spelled as in TOML
/// (serde's `rename_all = "lowercase"`; a unit test holds the two together).
macro_rules! words {
    ($ty:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order the docs list them.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            /// The spellings a profile accepts.
            pub const WORDS: &'static [&'static str] = &[$($word),+];
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $word),+
                }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

words!(Runtime { Node => "node", Fastapi => "fastapi" });
words!(WorkerKind { Bullmq => "bullmq", Bull => "bull", Celery => "celery" });
words!(RedisRole { Cache => "cache", Queue => "queue", Primary => "primary" });
words!(VoiceProvider { Twilio => "twilio", Ringcentral => "ringcentral", None => "none" });
words!(TlsMode { Letsencrypt => "letsencrypt", Byo => "byo" });
words!(DeployTarget { Ecs => "ecs", Kubernetes => "kubernetes" });

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
    pub deploy: Deploy,
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
    pub fn staging() -> Self {
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
    pub fn production() -> Self {
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

/// Where the service runs in the cloud. The compose stack (local and
/// single-host) is rendered for every target.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeployTarget {
    /// ECS on Fargate behind an ALB.
    Ecs,
    /// Any Kubernetes cluster through Kustomize; EKS in the Terraform.
    Kubernetes,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Deploy {
    pub target: DeployTarget,
}

impl Default for Deploy {
    fn default() -> Self {
        Deploy {
            target: DeployTarget::Ecs,
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
            deploy: Deploy::default(),
            ci: Ci::default(),
            backup: Backup::default(),
            alerts: Alerts::default(),
            monitoring: Monitoring::default(),
            loadtest: LoadTest::default(),
        }
    }
}

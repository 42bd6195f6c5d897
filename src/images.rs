//! Container images the templates use, pinned to exact tags in one place so
//! they are bumped together and reviewed as one diff. Exact tags, never
//! `latest`, so a rebuild pulls what was reviewed (a digest may be added by
//! the team). The version tables are also what the profile accepts for
//! `service.runtime_version`, `postgres.version` and `redis.version`.
//!
//! Every tag below was last checked on 2026-11-22 against public Dockerfiles,
//! compose files and mirrors that pull it (no registry is reachable from the
//! build machines); bump them here, together, after checking the registry.
//! The runtime, Postgres and Redis patch releases were raised on 2026-12-03
//! to the newest each line's published release notes and release tags show
//! (Redis's 00-RELEASENOTES, the Node.js release tags, python.org's security
//! releases, the PostgreSQL minor releases); a newer patch may exist.

use serde::Serialize;

/// The base image a service's runtime is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeBase {
    Node,
    Python,
}

/// The versions the image list is chosen by. A profile provides them
/// (`profile` implements this), so the tables here are the only list of
/// supported versions and this module needs nothing from the profile's.
pub trait ImageVersions {
    /// The runtime's base image and its version ("22", "3.12").
    fn runtime(&self) -> (RuntimeBase, &str);
    fn postgres_version(&self) -> &str;
    fn redis_version(&self) -> &str;
}

#[derive(Debug, Serialize)]
pub struct Images {
    /// The runtime base image for the service's Dockerfile.
    pub runtime: String,
    /// Node.js for building a JavaScript front end (`service.static_dir`).
    pub frontend_build: String,
    pub postgres: String,
    pub redis: String,
    pub nginx: &'static str,
    pub certbot: &'static str,
    pub prometheus: &'static str,
    pub alertmanager: &'static str,
    pub grafana: &'static str,
    pub node_exporter: &'static str,
    pub postgres_exporter: &'static str,
    pub redis_exporter: &'static str,
    pub nginx_exporter: &'static str,
    pub blackbox_exporter: &'static str,
    pub cadvisor: &'static str,
}

/// Exact Node.js release per supported major version.
pub const NODE: &[(&str, &str)] = &[("20", "20.20.2"), ("22", "22.23.0"), ("24", "24.17.0")];
/// Exact Python release per supported minor version.
pub const PYTHON: &[(&str, &str)] = &[
    ("3.11", "3.11.14"),
    ("3.12", "3.12.12"),
    ("3.13", "3.13.13"),
];
/// Exact PostgreSQL release per supported major version.
pub const POSTGRES: &[(&str, &str)] = &[
    ("14", "14.23"),
    ("15", "15.18"),
    ("16", "16.14"),
    ("17", "17.10"),
];
/// Exact Redis release per supported minor version.
pub const REDIS: &[(&str, &str)] = &[
    ("6.2", "6.2.20"),
    // 7.0.15 is the 7.0 line's last release.
    ("7.0", "7.0.15"),
    ("7.2", "7.2.12"),
    ("7.4", "7.4.7"),
];

fn exact(table: &[(&str, &str)], version: &str) -> String {
    table
        .iter()
        .find(|(v, _)| *v == version)
        .map(|(_, exact)| exact.to_string())
        // Validation restricts versions to the table; keep a sane fallback.
        .unwrap_or_else(|| version.to_string())
}

pub fn images(p: &impl ImageVersions) -> Images {
    let (base, version) = p.runtime();
    Images {
        runtime: match base {
            RuntimeBase::Node => format!("node:{}-bookworm-slim", exact(NODE, version)),
            RuntimeBase::Python => format!("python:{}-slim-bookworm", exact(PYTHON, version)),
        },
        frontend_build: format!("node:{}-bookworm-slim", exact(NODE, "22")),
        postgres: format!(
            "postgres:{}-bookworm",
            exact(POSTGRES, p.postgres_version())
        ),
        redis: format!("redis:{}-bookworm", exact(REDIS, p.redis_version())),
        // 1.26 is the stable line (`http2 on;`); `shipready verify` turns
        // that into the `listen ... http2` form for an older local nginx.
        nginx: "nginx:1.26.2-bookworm",
        certbot: "certbot/certbot:v3.0.1",
        prometheus: "prom/prometheus:v2.55.1",
        alertmanager: "prom/alertmanager:v0.27.0",
        grafana: "grafana/grafana:11.3.1",
        node_exporter: "prom/node-exporter:v1.8.2",
        postgres_exporter: "quay.io/prometheuscommunity/postgres-exporter:v0.16.0",
        // The alpine variant: its busybox wget and sh run the health check
        // that reads redis_up from the exporter's own /metrics.
        redis_exporter: "oliver006/redis_exporter:v1.66.0-alpine",
        nginx_exporter: "nginx/nginx-prometheus-exporter:1.3.0",
        blackbox_exporter: "prom/blackbox-exporter:v0.25.0",
        cadvisor: "gcr.io/cadvisor/cadvisor:v0.49.1",
    }
}

//! The catalog: which template renders to which path, when, with which mode.
//!
//! One table, data not code. A template's path under `templates/` is the
//! output path plus `.tera` (with a `.node`/`.fastapi`-style variant before
//! it where the runtime picks one), so a newcomer finds where a generated
//! file comes from by its path alone. Conditions are named predicates over
//! the profile, so the table reads as a sentence: "deploy/redis/redis.conf,
//! when the profile has Redis".

use crate::profile::{DeployTarget, Profile, RedisRole, Runtime, TlsMode, VoiceProvider};

/// Unix permission bits of a generated file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    File,
    Executable,
}

impl Mode {
    pub fn bits(self) -> u32 {
        match self {
            Mode::File => 0o644,
            Mode::Executable => 0o755,
        }
    }
}

/// Files rendered once per deployment environment get `{env}` in their path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Each {
    Once,
    Environment,
}

#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Path under `templates/`.
    pub template: &'static str,
    /// Output path relative to the target directory (`{env}` expands).
    pub dest: &'static str,
    pub when: fn(&Profile) -> bool,
    pub mode: Mode,
    pub each: Each,
}

const fn file(template: &'static str, dest: &'static str, when: fn(&Profile) -> bool) -> Entry {
    Entry {
        template,
        dest,
        when,
        mode: Mode::File,
        each: Each::Once,
    }
}

const fn script(template: &'static str, dest: &'static str, when: fn(&Profile) -> bool) -> Entry {
    Entry {
        template,
        dest,
        when,
        mode: Mode::Executable,
        each: Each::Once,
    }
}

const fn per_env(template: &'static str, dest: &'static str, when: fn(&Profile) -> bool) -> Entry {
    Entry {
        template,
        dest,
        when,
        mode: Mode::File,
        each: Each::Environment,
    }
}

// Conditions. Keep them one line each: the table is the documentation.
pub fn always(_: &Profile) -> bool {
    true
}
pub fn node(p: &Profile) -> bool {
    p.service.runtime == Runtime::Node
}
/// A Next.js app: its profile keeps Next's build output (`.next/...`) writable.
pub fn nextjs(p: &Profile) -> bool {
    node(p)
        && p.service
            .writable_dirs
            .iter()
            .any(|d| d.starts_with(".next/"))
}
pub fn fastapi(p: &Profile) -> bool {
    p.service.runtime == Runtime::Fastapi
}
pub fn postgres(p: &Profile) -> bool {
    p.postgres.enabled
}
pub fn redis(p: &Profile) -> bool {
    p.redis.enabled
}
pub fn worker(p: &Profile) -> bool {
    p.worker.enabled
}
pub fn voice(p: &Profile) -> bool {
    p.voice.provider != VoiceProvider::None
}
pub fn twilio_node(p: &Profile) -> bool {
    p.voice.provider == VoiceProvider::Twilio && node(p)
}
pub fn twilio_fastapi(p: &Profile) -> bool {
    p.voice.provider == VoiceProvider::Twilio && fastapi(p)
}
pub fn ringcentral_node(p: &Profile) -> bool {
    p.voice.provider == VoiceProvider::Ringcentral && node(p)
}
pub fn ringcentral_fastapi(p: &Profile) -> bool {
    p.voice.provider == VoiceProvider::Ringcentral && fastapi(p)
}
pub fn sidecars(p: &Profile) -> bool {
    !p.sidecars.is_empty()
}
/// The cloud target is ECS on Fargate (the default).
pub fn ecs(p: &Profile) -> bool {
    p.deploy.target == DeployTarget::Ecs
}
/// The cloud target is Kubernetes (Kustomize manifests, EKS in Terraform).
pub fn kubernetes(p: &Profile) -> bool {
    p.deploy.target == DeployTarget::Kubernetes
}
/// Sidecars as ECS services (the Kubernetes manifests run them as Deployments).
pub fn ecs_sidecars(p: &Profile) -> bool {
    ecs(p) && sidecars(p)
}
pub fn kubernetes_worker(p: &Profile) -> bool {
    kubernetes(p) && worker(p)
}
pub fn kubernetes_sidecars(p: &Profile) -> bool {
    kubernetes(p) && sidecars(p)
}
/// A migration Job the deploy runs before the rollout.
pub fn kubernetes_migrate(p: &Profile) -> bool {
    kubernetes(p) && p.postgres.enabled && !p.postgres.migrate_command.is_empty()
}
pub fn kubernetes_letsencrypt(p: &Profile) -> bool {
    kubernetes(p) && letsencrypt(p)
}
pub fn letsencrypt(p: &Profile) -> bool {
    p.edge.tls == TlsMode::Letsencrypt
}
pub fn cors(p: &Profile) -> bool {
    !p.edge.cors_origins.is_empty()
}
pub fn monitoring(p: &Profile) -> bool {
    p.monitoring.enabled
}
pub fn monitoring_postgres(p: &Profile) -> bool {
    p.monitoring.enabled && p.postgres.enabled
}
pub fn monitoring_redis(p: &Profile) -> bool {
    p.monitoring.enabled && p.redis.enabled
}
pub fn backups(p: &Profile) -> bool {
    p.postgres.enabled || p.redis.enabled
}
/// Stores whose loss loses data: Postgres, and Redis unless it is a cache.
pub fn scheduled_backups(p: &Profile) -> bool {
    p.postgres.enabled || (p.redis.enabled && p.redis.role != RedisRole::Cache)
}
pub fn monitoring_backups(p: &Profile) -> bool {
    p.monitoring.enabled && scheduled_backups(p)
}

pub fn kubernetes_monitoring(p: &Profile) -> bool {
    kubernetes(p) && monitoring(p)
}
pub fn kubernetes_monitoring_worker(p: &Profile) -> bool {
    kubernetes_monitoring(p) && worker(p) && p.worker.metrics_port != 0
}
pub fn kubernetes_monitoring_postgres(p: &Profile) -> bool {
    kubernetes(p) && monitoring_postgres(p)
}
pub fn kubernetes_monitoring_redis(p: &Profile) -> bool {
    kubernetes(p) && monitoring_redis(p)
}
/// Alerts on the backup CronJobs, which only Postgres has.
pub fn kubernetes_monitoring_backups(p: &Profile) -> bool {
    kubernetes(p) && monitoring_postgres(p)
}
/// The folder exists whenever compose schedules backups, so the base can list it.
pub fn kubernetes_backups(p: &Profile) -> bool {
    kubernetes(p) && scheduled_backups(p)
}
/// Only Postgres gets CronJobs: Redis on AWS is ElastiCache, backed up by its snapshots.
pub fn kubernetes_backup_postgres(p: &Profile) -> bool {
    kubernetes(p) && postgres(p)
}
/// The built front end gets its own nginx Deployment (compose's edge serves it).
pub fn kubernetes_static(p: &Profile) -> bool {
    kubernetes(p) && !p.service.static_dir.is_empty()
}

/// Every file shipready can write, grouped by area. Order is output order.
#[rustfmt::skip]
pub const CATALOG: &[Entry] = &[
    // Container and compose
    file("Dockerfile.node.tera", "Dockerfile", node),
    file("Dockerfile.fastapi.tera", "Dockerfile", fastapi),
    script("docker-entrypoint.sh.tera", "docker-entrypoint.sh", always),
    file(".dockerignore.tera", ".dockerignore", always),
    file(".env.example.tera", ".env.example", always),
    file(".hadolint.yaml.tera", ".hadolint.yaml", always),
    file(".yamllint.yaml.tera", ".yamllint.yaml", always),
    file("compose.yaml.tera", "compose.yaml", always),
    file("compose.prod.yaml.tera", "compose.prod.yaml", always),
    file("secrets/.gitignore.tera", "secrets/.gitignore", always),
    script("scripts/init-secrets.sh.tera", "scripts/init-secrets.sh", always),
    // Edge and cache
    file("deploy/nginx/nginx.conf.tera", "deploy/nginx/nginx.conf", always),
    file("deploy/nginx/conf.d/site.conf.tera", "deploy/nginx/conf.d/site.conf", always),
    file("deploy/nginx/snippets/security-headers.conf.tera", "deploy/nginx/snippets/security-headers.conf", always),
    file("deploy/nginx/snippets/proxy.conf.tera", "deploy/nginx/snippets/proxy.conf", always),
    file("deploy/nginx/snippets/cors.conf.tera", "deploy/nginx/snippets/cors.conf", cors),
    script("deploy/nginx/start.sh.tera", "deploy/nginx/start.sh", always),
    script("deploy/nginx/certbot.sh.tera", "deploy/nginx/certbot.sh", letsencrypt),
    script("deploy/nginx/certbot-deploy-hook.sh.tera", "deploy/nginx/certbot-deploy-hook.sh", letsencrypt),
    file("deploy/nginx/README.md.tera", "deploy/nginx/README.md", always),
    file("deploy/redis/redis.conf.tera", "deploy/redis/redis.conf", redis),
    file("src/webhooks/twilio-signature.cjs.tera", "src/webhooks/twilio-signature.cjs", twilio_node),
    file("app/webhooks/twilio_signature.py.tera", "app/webhooks/twilio_signature.py", twilio_fastapi),
    file("src/webhooks/ringcentral-webhook.cjs.tera", "src/webhooks/ringcentral-webhook.cjs", ringcentral_node),
    file("app/webhooks/ringcentral_webhook.py.tera", "app/webhooks/ringcentral_webhook.py", ringcentral_fastapi),
    file("src/metrics.cjs.tera", "src/metrics.cjs", node),
    file("src/middleware.js.tera", "src/middleware.js", nextjs),
    file("app/metrics.py.tera", "app/metrics.py", fastapi),
    // AWS
    file("infra/terraform/README.md.tera", "infra/terraform/README.md", always),
    file("infra/terraform/versions.tf.tera", "infra/terraform/versions.tf", always),
    file("infra/terraform/providers.tf.tera", "infra/terraform/providers.tf", always),
    file("infra/terraform/variables.tf.tera", "infra/terraform/variables.tf", always),
    file("infra/terraform/kms.tf.tera", "infra/terraform/kms.tf", always),
    file("infra/terraform/network.tf.tera", "infra/terraform/network.tf", always),
    file("infra/terraform/security_groups.tf.tera", "infra/terraform/security_groups.tf", always),
    file("infra/terraform/rds.tf.tera", "infra/terraform/rds.tf", postgres),
    file("infra/terraform/elasticache.tf.tera", "infra/terraform/elasticache.tf", redis),
    file("infra/terraform/ecr.tf.tera", "infra/terraform/ecr.tf", always),
    file("infra/terraform/ecs.tf.tera", "infra/terraform/ecs.tf", ecs),
    file("infra/terraform/sidecars.tf.tera", "infra/terraform/sidecars.tf", ecs_sidecars),
    file("infra/terraform/alb.tf.tera", "infra/terraform/alb.tf", always),
    file("infra/terraform/alarms.tf.tera", "infra/terraform/alarms.tf", always),
    file("infra/terraform/backups.tf.tera", "infra/terraform/backups.tf", always),
    file("infra/terraform/github_oidc.tf.tera", "infra/terraform/github_oidc.tf", always),
    // Cloud edge, audit trail, backup copies
    file("infra/terraform/cdn.tf.tera", "infra/terraform/cdn.tf", ecs),
    file("infra/terraform/cloudtrail.tf.tera", "infra/terraform/cloudtrail.tf", always),
    file("infra/terraform/backup_copies.tf.tera", "infra/terraform/backup_copies.tf", always),
    file("infra/terraform/outputs.tf.tera", "infra/terraform/outputs.tf", always),
    file("infra/terraform/tests/plan.tftest.hcl.tera", "infra/terraform/tests/plan.tftest.hcl", always),
    per_env("infra/terraform/environments/{env}.tfvars.tera", "infra/terraform/environments/{env}.tfvars", always),
    per_env("infra/terraform/environments/{env}.s3.tfbackend.tera", "infra/terraform/environments/{env}.s3.tfbackend", always),
    // AWS, Kubernetes target
    file("infra/terraform/eks.tf.tera", "infra/terraform/eks.tf", kubernetes),
    file("infra/terraform/eks_identity.tf.tera", "infra/terraform/eks_identity.tf", kubernetes),
    file(".github/workflows/deploy.kubernetes.yml.tera", ".github/workflows/deploy.yml", kubernetes),
    // CI/CD
    file(
        ".github/workflows/ci.yml.tera",
        ".github/workflows/ci.yml",
        always,
    ),
    file(
        ".github/workflows/deploy.yml.tera",
        ".github/workflows/deploy.yml",
        ecs,
    ),
    file(
        ".github/workflows/terraform.yml.tera",
        ".github/workflows/terraform.yml",
        always,
    ),
    // Kubernetes
    file("deploy/k8s/README.md.tera", "deploy/k8s/README.md", kubernetes),
    file("deploy/k8s/.checkov.yaml.tera", "deploy/k8s/.checkov.yaml", kubernetes),
    file("deploy/k8s/base/kustomization.yaml.tera", "deploy/k8s/base/kustomization.yaml", kubernetes),
    file("deploy/k8s/base/namespace.yaml.tera", "deploy/k8s/base/namespace.yaml", kubernetes),
    file("deploy/k8s/base/serviceaccounts.yaml.tera", "deploy/k8s/base/serviceaccounts.yaml", kubernetes),
    file("deploy/k8s/base/app.yaml.tera", "deploy/k8s/base/app.yaml", kubernetes),
    file("deploy/k8s/base/worker.yaml.tera", "deploy/k8s/base/worker.yaml", kubernetes_worker),
    file("deploy/k8s/base/sidecars.yaml.tera", "deploy/k8s/base/sidecars.yaml", kubernetes_sidecars),
    file("deploy/k8s/base/migrate.yaml.tera", "deploy/k8s/base/migrate.yaml", kubernetes_migrate),
    file("deploy/k8s/base/network-policies.yaml.tera", "deploy/k8s/base/network-policies.yaml", kubernetes),
    file("deploy/k8s/base/edge.yaml.tera", "deploy/k8s/base/edge.yaml", kubernetes),
    file("deploy/k8s/base/issuer.yaml.tera", "deploy/k8s/base/issuer.yaml", kubernetes_letsencrypt),
    file("deploy/k8s/base/secret-store.yaml.tera", "deploy/k8s/base/secret-store.yaml", kubernetes),
    per_env("deploy/k8s/overlays/{env}/kustomization.yaml.tera", "deploy/k8s/overlays/{env}/kustomization.yaml", kubernetes),
    per_env("deploy/k8s/overlays/{env}/ingress.yaml.tera", "deploy/k8s/overlays/{env}/ingress.yaml", kubernetes),
    per_env("deploy/k8s/overlays/{env}/external-secrets.yaml.tera", "deploy/k8s/overlays/{env}/external-secrets.yaml", kubernetes),
    // Observability and backups
    file("monitoring/cadvisor.overlay.yaml.tera", "monitoring/cadvisor.overlay.yaml", monitoring),
    file(
        "monitoring/prometheus/prometheus.yml.tera",
        "monitoring/prometheus/prometheus.yml",
        monitoring,
    ),
    file(
        "monitoring/prometheus/rules/app.yml.tera",
        "monitoring/prometheus/rules/app.yml",
        monitoring,
    ),
    file(
        "monitoring/prometheus/rules/alerting.yml.tera",
        "monitoring/prometheus/rules/alerting.yml",
        monitoring,
    ),
    file(
        "monitoring/prometheus/rules/host.yml.tera",
        "monitoring/prometheus/rules/host.yml",
        monitoring,
    ),
    file(
        "monitoring/prometheus/rules/postgres.yml.tera",
        "monitoring/prometheus/rules/postgres.yml",
        monitoring_postgres,
    ),
    file(
        "monitoring/prometheus/rules/redis.yml.tera",
        "monitoring/prometheus/rules/redis.yml",
        monitoring_redis,
    ),
    file(
        "monitoring/prometheus/rules/backup.yml.tera",
        "monitoring/prometheus/rules/backup.yml",
        monitoring_backups,
    ),
    file(
        "monitoring/prometheus/tests/app.test.yml.tera",
        "monitoring/prometheus/tests/app.test.yml",
        monitoring,
    ),
    file(
        "monitoring/prometheus/tests/alerting.test.yml.tera",
        "monitoring/prometheus/tests/alerting.test.yml",
        monitoring,
    ),
    file(
        "monitoring/prometheus/tests/host.test.yml.tera",
        "monitoring/prometheus/tests/host.test.yml",
        monitoring,
    ),
    file(
        "monitoring/prometheus/tests/postgres.test.yml.tera",
        "monitoring/prometheus/tests/postgres.test.yml",
        monitoring_postgres,
    ),
    file(
        "monitoring/prometheus/tests/redis.test.yml.tera",
        "monitoring/prometheus/tests/redis.test.yml",
        monitoring_redis,
    ),
    file(
        "monitoring/prometheus/tests/backup.test.yml.tera",
        "monitoring/prometheus/tests/backup.test.yml",
        monitoring_backups,
    ),
    file(
        "monitoring/alertmanager/alertmanager.yml.tera",
        "monitoring/alertmanager/alertmanager.yml",
        monitoring,
    ),
    file(
        "monitoring/alertmanager/entrypoint.sh.tera",
        "monitoring/alertmanager/entrypoint.sh",
        monitoring,
    ),
    file(
        "monitoring/blackbox/blackbox.yml.tera",
        "monitoring/blackbox/blackbox.yml",
        monitoring,
    ),
    file(
        "monitoring/grafana/provisioning/datasources/prometheus.yml.tera",
        "monitoring/grafana/provisioning/datasources/prometheus.yml",
        monitoring,
    ),
    file(
        "monitoring/grafana/provisioning/dashboards/dashboards.yml.tera",
        "monitoring/grafana/provisioning/dashboards/dashboards.yml",
        monitoring,
    ),
    file(
        "monitoring/grafana/provisioning/dashboards/service.json.tera",
        "monitoring/grafana/provisioning/dashboards/service.json",
        monitoring,
    ),
    script(
        "scripts/backup-postgres.sh.tera",
        "scripts/backup-postgres.sh",
        postgres,
    ),
    script(
        "scripts/restore-postgres.sh.tera",
        "scripts/restore-postgres.sh",
        postgres,
    ),
    script(
        "scripts/backup-redis.sh.tera",
        "scripts/backup-redis.sh",
        redis,
    ),
    script(
        "scripts/restore-redis.sh.tera",
        "scripts/restore-redis.sh",
        redis,
    ),
    script(
        "scripts/verify-backup.sh.tera",
        "scripts/verify-backup.sh",
        backups,
    ),
    // Template units: one instance per kind of backup (postgres, redis),
    // so one kind failing never skips another.
    file(
        "deploy/systemd/backup@.service.tera",
        "deploy/systemd/backup@.service",
        scheduled_backups,
    ),
    file(
        "deploy/systemd/backup@.timer.tera",
        "deploy/systemd/backup@.timer",
        scheduled_backups,
    ),
    file("docs/RUNBOOK.md.tera", "docs/RUNBOOK.md", always),
    file("docs/ARCHITECTURE.md.tera", "docs/ARCHITECTURE.md", always),
    // Load testing
    file(
        "loadtest/locustfile.py.tera",
        "loadtest/locustfile.py",
        always,
    ),
    file("loadtest/shapes.py.tera", "loadtest/shapes.py", always),
    file(
        "loadtest/requirements.txt.tera",
        "loadtest/requirements.txt",
        always,
    ),
    file("loadtest/README.md.tera", "loadtest/README.md", always),
    file(
        ".github/workflows/loadtest.yml.tera",
        ".github/workflows/loadtest.yml",
        always,
    ),
    // Kubernetes monitoring and backups
    file("deploy/k8s/base/monitoring/kustomization.yaml.tera", "deploy/k8s/base/monitoring/kustomization.yaml", kubernetes_monitoring),
    file("deploy/k8s/base/monitoring/servicemonitor.yaml.tera", "deploy/k8s/base/monitoring/servicemonitor.yaml", kubernetes_monitoring),
    file("deploy/k8s/base/monitoring/podmonitor.yaml.tera", "deploy/k8s/base/monitoring/podmonitor.yaml", kubernetes_monitoring_worker),
    file("deploy/k8s/base/monitoring/prometheusrule-app.yaml.tera", "deploy/k8s/base/monitoring/prometheusrule-app.yaml", kubernetes_monitoring),
    file("deploy/k8s/base/monitoring/prometheusrule-postgres.yaml.tera", "deploy/k8s/base/monitoring/prometheusrule-postgres.yaml", kubernetes_monitoring_postgres),
    file("deploy/k8s/base/monitoring/prometheusrule-redis.yaml.tera", "deploy/k8s/base/monitoring/prometheusrule-redis.yaml", kubernetes_monitoring_redis),
    file("deploy/k8s/base/monitoring/prometheusrule-cluster.yaml.tera", "deploy/k8s/base/monitoring/prometheusrule-cluster.yaml", kubernetes_monitoring),
    file("deploy/k8s/base/monitoring/tests/cluster.test.yml.tera", "deploy/k8s/base/monitoring/tests/cluster.test.yml", kubernetes_monitoring),
    file("deploy/k8s/base/monitoring/tests/backup-jobs.test.yml.tera", "deploy/k8s/base/monitoring/tests/backup-jobs.test.yml", kubernetes_monitoring_backups),
    file("deploy/k8s/base/backup/kustomization.yaml.tera", "deploy/k8s/base/backup/kustomization.yaml", kubernetes_backups),
    file("deploy/k8s/base/backup/Dockerfile.tera", "deploy/k8s/base/backup/Dockerfile", kubernetes_backup_postgres),
    file("deploy/k8s/base/backup/cronjob-backup-postgres.yaml.tera", "deploy/k8s/base/backup/cronjob-backup-postgres.yaml", kubernetes_backup_postgres),
    file("deploy/k8s/base/backup/cronjob-verify-backup.yaml.tera", "deploy/k8s/base/backup/cronjob-verify-backup.yaml", kubernetes_backup_postgres),
    script("deploy/k8s/base/backup/backup-postgres.sh.tera", "deploy/k8s/base/backup/backup-postgres.sh", kubernetes_backup_postgres),
    script("deploy/k8s/base/backup/verify-backup.sh.tera", "deploy/k8s/base/backup/verify-backup.sh", kubernetes_backup_postgres),
    // Kubernetes front end and exporters
    file("deploy/k8s/base/web.yaml.tera", "deploy/k8s/base/web.yaml", kubernetes_static),
    file("deploy/k8s/base/web-nginx.conf.tera", "deploy/k8s/base/web-nginx.conf", kubernetes_static),
    file("deploy/k8s/base/monitoring/postgres-exporter.yaml.tera", "deploy/k8s/base/monitoring/postgres-exporter.yaml", kubernetes_monitoring_postgres),
    file("deploy/k8s/base/monitoring/redis-exporter.yaml.tera", "deploy/k8s/base/monitoring/redis-exporter.yaml", kubernetes_monitoring_redis),
    // Cloud front end: the FastAPI front end's build from S3 through CloudFront
    file("infra/terraform/frontend.tf.tera", "infra/terraform/frontend.tf", ecs_frontend),
    file("infra/terraform/functions/spa_routes.js.tera", "infra/terraform/functions/spa_routes.js", ecs_frontend),
];

/// The ECS target with a front end build the Dockerfile's `frontend` stage makes.
pub fn ecs_frontend(p: &Profile) -> bool {
    ecs(p) && fastapi(p) && !p.service.static_dir.is_empty()
}

/// Directory under `templates/` holding files that are included by other
/// templates and never rendered on their own.
pub const PARTIALS_DIR: &str = "_partials/";

/// The template set version file.
pub const VERSION_FILE: &str = "VERSION";

/// Whether some profile could render a file at `path`: a path in the table,
/// with any environment name where the table has `{env}`. A lock naming any
/// other path is not trusted to manage it.
pub fn can_produce(path: &str) -> bool {
    CATALOG.iter().any(|e| match e.dest.split_once("{env}") {
        None => e.dest == path,
        Some((head, tail)) => path
            .strip_prefix(head)
            .and_then(|rest| rest.strip_suffix(tail))
            .is_some_and(|env| {
                !env.is_empty()
                    && env
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::templates::Templates;
    use std::collections::BTreeSet;

    #[test]
    fn every_catalog_template_resolves() {
        let t = Templates::embedded();
        for e in CATALOG {
            assert!(
                t.contains(e.template),
                "catalog names {} but templates/ has no such file",
                e.template
            );
        }
    }

    #[test]
    fn every_template_is_in_the_catalog_or_a_partial() {
        let named: BTreeSet<&str> = CATALOG.iter().map(|e| e.template).collect();
        for name in Templates::embedded().names() {
            assert!(
                named.contains(name.as_str()) || name.starts_with(PARTIALS_DIR),
                "templates/{name} is neither in the catalog nor under {PARTIALS_DIR}"
            );
        }
    }

    #[test]
    fn only_catalog_paths_can_be_produced() {
        assert!(can_produce("compose.prod.yaml"));
        assert!(can_produce("infra/terraform/environments/staging.tfvars"));
        assert!(!can_produce("package.json"));
        assert!(!can_produce(".git/config"));
        assert!(!can_produce("infra/terraform/environments/../x.tfvars"));
        assert!(!can_produce("infra/terraform/environments/.tfvars"));
    }

    #[test]
    fn template_paths_mirror_output_paths() {
        for e in CATALOG {
            let stem = e.template.trim_end_matches(".tera");
            let dest = e.dest.replace("{env}", "env");
            let stem = stem.replace("{env}", "env");
            // Either the exact output path, or the output path with one
            // variant segment (Dockerfile.node for Dockerfile).
            let ok =
                stem == dest || stem.rsplit_once('.').is_some_and(|(head, _)| head == dest) || {
                    let (dir, name) = stem.rsplit_once('/').unwrap_or(("", &stem));
                    let (ddir, dname) = dest.rsplit_once('/').unwrap_or(("", &dest));
                    dir == ddir && dname.split('.').next() == name.split('.').next()
                };
            assert!(ok, "{} does not mirror {}", e.template, e.dest);
        }
    }
}

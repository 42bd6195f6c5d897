//! The checklist as data. A check either passes on the first of its probes
//! that matches (a pattern in files of a kind: the property itself, such
//! as `ssl_protocols TLSv1.2 TLSv1.3`, not shipready's file names), or runs
//! a function where the verdict needs logic (every compose service, weak
//! protocols, floating tags). This file is long because it is the whole
//! checklist in one table.

use super::facts::Ctx;
use super::probe::{first_probe, Outcome, Probe};
use super::walk::*;
use super::{containers, data, edge, ops, secrets};

const fn probe(kind: fn(&str) -> bool, pattern: &'static str, detail: &'static str) -> Probe {
    Probe {
        kind,
        pattern,
        unless: None,
        detail,
    }
}

/// Hiding or passing an upstream's header is not sending one.
const NOT_PROXIED: Option<&str> = Some(r"proxy_(hide|pass|ignore)_header");

const fn header(pattern: &'static str, detail: &'static str) -> Probe {
    Probe {
        kind: is_code_or_conf,
        pattern,
        unless: NOT_PROXIED,
        detail,
    }
}

pub enum Rule {
    /// Passes with the first probe that matches; otherwise a gap saying `missing`.
    Any {
        probes: &'static [Probe],
        missing: &'static str,
    },
    Logic(fn(&Ctx) -> Outcome),
}

/// When a check applies at all.
#[derive(Clone, Copy)]
pub enum Applies {
    Always,
    /// The repository runs Redis.
    Redis,
    /// The service takes Twilio or RingCentral webhooks.
    Voice,
}

pub struct Check {
    pub id: &'static str,
    pub title: &'static str,
    pub applies: Applies,
    pub rule: Rule,
    /// Output-path prefixes of the files that close the gap.
    pub fixed_by: &'static [&'static str],
}

pub struct Category {
    pub id: &'static str,
    pub title: &'static str,
    pub checks: &'static [Check],
}

pub fn run(check: &Check, ctx: &Ctx) -> Outcome {
    match check.applies {
        Applies::Always => {}
        Applies::Redis if ctx.redis.is_none() => return Outcome::Na("no Redis found".into()),
        Applies::Voice if ctx.voice.is_none() => {
            return Outcome::Na("no Twilio or RingCentral webhooks found".into())
        }
        _ => {}
    }
    match &check.rule {
        Rule::Any { probes, missing } => first_probe(ctx, probes)
            .unwrap_or_else(|| Outcome::Gap(Vec::new(), missing.to_string())),
        Rule::Logic(f) => f(ctx),
    }
}

// The nginx files that carry each property (the site includes the snippets).
const NGINX_TLS: &[&str] = &["deploy/nginx/conf.d/site.conf"];
const NGINX_HEADERS: &[&str] = &[
    "deploy/nginx/snippets/security-headers.conf",
    "deploy/nginx/conf.d/site.conf",
];
const NGINX_MAIN: &[&str] = &["deploy/nginx/nginx.conf", "deploy/nginx/conf.d/site.conf"];
const HELMET: &str = r#""helmet"\s*:"#;

const fn check(
    id: &'static str,
    title: &'static str,
    rule: Rule,
    fixed_by: &'static [&'static str],
) -> Check {
    Check {
        id,
        title,
        applies: Applies::Always,
        rule,
        fixed_by,
    }
}

pub const CATEGORIES: &[Category] = &[
    Category {
        id: "tls",
        title: "TLS and HSTS",
        checks: &[
            check(
                "tls.protocols",
                "TLS 1.2 and 1.3 only",
                Rule::Logic(edge::tls_protocols),
                NGINX_TLS,
            ),
            check(
                "tls.hsts",
                "HSTS for at least 180 days",
                Rule::Logic(edge::tls_hsts),
                NGINX_HEADERS,
            ),
            check(
                "tls.redirect",
                "HTTP redirects to HTTPS",
                Rule::Any {
                    probes: &[
                        probe(
                            is_conf,
                            r"^\s*return\s+30[1278]\s+https://",
                            "plain HTTP is redirected to HTTPS",
                        ),
                        probe(
                            is_edge,
                            r"(?i)redirections\.entry_?points?\.to|redirectscheme\.scheme=https|^\s*redirectScheme:|^\s*redirections:",
                            "Traefik redirects HTTP to HTTPS",
                        ),
                        probe(
                            is_caddy,
                            edge::CADDY_SITE,
                            "Caddy redirects HTTP to HTTPS for its site addresses",
                        ),
                        probe(
                            is_tf,
                            r#"status_code\s*=\s*"HTTP_30[12]""#,
                            "the load balancer redirects HTTP to HTTPS",
                        ),
                    ],
                    missing: "no redirect from HTTP to HTTPS",
                },
                NGINX_TLS,
            ),
        ],
    },
    Category {
        id: "headers",
        title: "Security headers",
        checks: &[
            check(
                "headers.nosniff",
                "X-Content-Type-Options nosniff",
                Rule::Any {
                    probes: &[
                        header(
                            r"(?i)X-Content-Type-Options.*nosniff",
                            "X-Content-Type-Options is set",
                        ),
                        probe(
                            is_edge,
                            r"(?i)contentTypeNosniff\s*[:=]\s*true",
                            "Traefik sets X-Content-Type-Options",
                        ),
                        probe(
                            is_package_json,
                            HELMET,
                            "helmet sets X-Content-Type-Options by default",
                        ),
                    ],
                    missing: "X-Content-Type-Options is never set",
                },
                NGINX_HEADERS,
            ),
            check(
                "headers.frame",
                "Framing denied",
                Rule::Any {
                    probes: &[
                        header(
                            r"(?i)(X-Frame-Options.*(DENY|SAMEORIGIN)|frame-ancestors)",
                            "X-Frame-Options or frame-ancestors is set",
                        ),
                        probe(
                            is_edge,
                            r"(?i)(frameDeny\s*[:=]\s*true|customFrameOptionsValue)",
                            "Traefik denies framing",
                        ),
                        probe(
                            is_package_json,
                            HELMET,
                            "helmet sets X-Frame-Options by default",
                        ),
                    ],
                    missing: "X-Frame-Options or frame-ancestors is never set",
                },
                NGINX_HEADERS,
            ),
            check(
                "headers.csp",
                "Content-Security-Policy",
                Rule::Any {
                    probes: &[
                        header(
                            r"(?i)Content-Security-Policy",
                            "Content-Security-Policy is set",
                        ),
                        probe(
                            is_edge,
                            r"(?i)contentSecurityPolicy\s*[:=]",
                            "Traefik sets a Content-Security-Policy",
                        ),
                        probe(
                            is_package_json,
                            HELMET,
                            "helmet sets a Content-Security-Policy by default",
                        ),
                    ],
                    missing: "Content-Security-Policy is never set",
                },
                NGINX_HEADERS,
            ),
            check(
                "headers.referrer",
                "Referrer-Policy",
                Rule::Any {
                    probes: &[
                        header(r"(?i)Referrer-Policy", "Referrer-Policy is set"),
                        probe(
                            is_edge,
                            r"(?i)referrerPolicy\s*[:=]",
                            "Traefik sets a Referrer-Policy",
                        ),
                        probe(
                            is_package_json,
                            HELMET,
                            "helmet sets Referrer-Policy by default",
                        ),
                    ],
                    missing: "Referrer-Policy is never set",
                },
                NGINX_HEADERS,
            ),
            check(
                "headers.server_tokens",
                "Server version hidden",
                Rule::Any {
                    probes: &[
                        probe(
                            is_conf,
                            r"^\s*server_tokens\s+off\s*;",
                            "nginx does not announce its version",
                        ),
                        probe(
                            is_code_or_conf,
                            r#"(disable\(\s*['"]x-powered-by|hidePoweredBy|server_header\s*=\s*False|poweredByHeader:\s*false)"#,
                            "the app hides its server header",
                        ),
                        probe(
                            is_caddy,
                            r"^\s*(header\s+)?-Server\b",
                            "Caddy drops the Server header",
                        ),
                        probe(
                            is_package_json,
                            HELMET,
                            "helmet removes X-Powered-By by default",
                        ),
                    ],
                    missing: "server_tokens off is not set",
                },
                NGINX_MAIN,
            ),
        ],
    },
    Category {
        id: "ratelimit",
        title: "Rate limiting",
        checks: &[
            check(
                "ratelimit.requests",
                "Request rate limits applied",
                Rule::Logic(edge::rl_requests),
                NGINX_MAIN,
            ),
            check(
                "ratelimit.body",
                "Request body size limited",
                Rule::Any {
                    probes: &[
                        probe(
                            is_conf,
                            r"^\s*client_max_body_size\s+\d+[kKmM]?\s*;",
                            "request bodies are capped",
                        ),
                        probe(
                            is_edge,
                            r"(?i)maxRequestBodyBytes",
                            "Traefik caps request bodies",
                        ),
                        probe(is_caddy, r"^\s*max_size\s+\d", "Caddy caps request bodies"),
                        probe(
                            is_code,
                            r"(express|bodyParser)\.(json|urlencoded)\(\s*\{[^}]*limit",
                            "the app caps request bodies",
                        ),
                    ],
                    missing: "no client_max_body_size",
                },
                NGINX_MAIN,
            ),
        ],
    },
    Category {
        id: "cors",
        title: "CORS",
        checks: &[check(
            "cors.allowlist",
            "Explicit origin allow-list",
            Rule::Logic(edge::cors_allowlist),
            &["deploy/nginx/snippets/cors.conf", ".env.example"],
        )],
    },
    Category {
        id: "webhooks",
        title: "Webhooks",
        checks: &[Check {
            id: "webhooks.signature",
            title: "Webhook requests verified",
            applies: Applies::Voice,
            rule: Rule::Any {
                probes: &[
                    probe(
                        is_code,
                        r"(?i)x-twilio-signature",
                        "Twilio's signature header is checked",
                    ),
                    probe(
                        is_code,
                        r"\b(validateRequest|validateExpressRequest|twilio\.webhook\(|RequestValidator)",
                        "the Twilio SDK validates each request",
                    ),
                    probe(
                        is_code,
                        r"(?i)verification-token",
                        "RingCentral's Verification-Token is checked",
                    ),
                ],
                missing: "webhooks are accepted without checking the provider's signature or token",
            },
            fixed_by: &["src/webhooks/", "app/webhooks/"],
        }],
    },
    Category {
        id: "secrets",
        title: "Secrets out of the repository",
        checks: &[
            check(
                "secrets.store",
                "Secrets from files or a manager",
                Rule::Logic(secrets::store),
                &[
                    "compose.prod.yaml",
                    "scripts/init-secrets.sh",
                    "secrets/",
                    "docker-entrypoint.sh",
                ],
            ),
            check(
                "secrets.example",
                "Variables documented, no values",
                Rule::Logic(secrets::example),
                &[".env.example"],
            ),
            check(
                "secrets.literals",
                "No literal secrets in configs",
                Rule::Logic(secrets::literals),
                &["compose.prod.yaml", "Dockerfile"],
            ),
        ],
    },
    Category {
        id: "containers",
        title: "Containers",
        checks: &[
            check(
                "containers.non_root",
                "Final image runs as non-root",
                Rule::Logic(containers::non_root),
                &["Dockerfile"],
            ),
            check(
                "containers.healthcheck",
                "Image has a health check",
                Rule::Logic(containers::healthcheck),
                &["Dockerfile", "compose.prod.yaml"],
            ),
            check(
                "containers.pinned",
                "Base and service images pinned",
                Rule::Logic(containers::pinned),
                &["Dockerfile", "compose.prod.yaml"],
            ),
            check(
                "containers.dockerignore",
                ".dockerignore keeps .env and .git out",
                Rule::Logic(containers::dockerignore),
                &[".dockerignore"],
            ),
        ],
    },
    Category {
        id: "compose",
        title: "Hardened compose",
        checks: &[
            check(
                "compose.cap_drop",
                "cap_drop: [ALL] on every service",
                Rule::Logic(containers::cap_drop),
                &["compose.prod.yaml"],
            ),
            check(
                "compose.no_new_privileges",
                "no-new-privileges on every service",
                Rule::Logic(containers::no_new_privileges),
                &["compose.prod.yaml"],
            ),
            check(
                "compose.read_only",
                "Read-only root filesystems",
                Rule::Logic(containers::read_only),
                &["compose.prod.yaml"],
            ),
            check(
                "compose.limits",
                "Memory limits on every service",
                Rule::Logic(containers::limits),
                &["compose.prod.yaml"],
            ),
            check(
                "compose.healthchecks",
                "Health checks on every service",
                Rule::Logic(containers::health),
                &["compose.prod.yaml"],
            ),
            check(
                "compose.no_privileged",
                "No privileged, host network or docker.sock",
                Rule::Logic(containers::privileged),
                &["compose.prod.yaml"],
            ),
            check(
                "compose.stores_private",
                "Data stores not published on all interfaces",
                Rule::Logic(containers::stores_private),
                &["compose.yaml", "compose.prod.yaml"],
            ),
        ],
    },
    Category {
        id: "encryption",
        title: "Encrypted data stores",
        checks: &[
            check(
                "encryption.postgres",
                "Database storage encrypted",
                Rule::Logic(data::enc_database),
                &["infra/terraform/"],
            ),
            check(
                "encryption.redis",
                "Redis encrypted at rest and in transit",
                Rule::Logic(data::enc_redis),
                &["infra/terraform/"],
            ),
            check(
                "encryption.buckets",
                "Buckets encrypted server-side",
                Rule::Logic(data::enc_buckets),
                &["infra/terraform/"],
            ),
        ],
    },
    Category {
        id: "redis",
        title: "Redis persistence and access",
        checks: &[
            check(
                "redis.aof",
                "AOF persistence (appendonly yes)",
                Rule::Logic(data::redis_aof),
                &["deploy/redis/"],
            ),
            check(
                "redis.rdb",
                "RDB snapshots (save points)",
                Rule::Logic(data::redis_rdb),
                &["deploy/redis/"],
            ),
            check(
                "redis.policy",
                "maxmemory and an eviction policy",
                Rule::Logic(data::redis_policy),
                &["deploy/redis/"],
            ),
            Check {
                id: "redis.auth",
                title: "Clients authenticate to Redis",
                applies: Applies::Redis,
                rule: Rule::Any {
                    probes: &[
                        probe(
                            is_redis_conf,
                            r"^\s*(requirepass|aclfile)\s+\S|^\s*user\s+\S+\s+on\b",
                            "Redis requires a password or ACL user",
                        ),
                        probe(
                            is_compose,
                            r"--(requirepass|aclfile)\b|REDIS_PASSWORD(_FILE)?\s*[:=]",
                            "Redis is started with a password",
                        ),
                        probe(
                            is_tf,
                            r"^\s*(auth_token|user_group_ids)\s*=",
                            "ElastiCache requires authentication",
                        ),
                    ],
                    missing: "Redis accepts any client without a password or ACL",
                },
                fixed_by: &["deploy/redis/"],
            },
        ],
    },
    Category {
        id: "backups",
        title: "Backups and restore tests",
        checks: &[
            check(
                "backups.postgres",
                "Database dumps",
                Rule::Logic(data::bk_database),
                &["scripts/backup"],
            ),
            check(
                "backups.restore_test",
                "Restore tested into a scratch database",
                Rule::Logic(data::bk_restore_test),
                &["scripts/restore", "scripts/verify-backup"],
            ),
            check(
                "backups.redis",
                "Redis snapshots backed up",
                Rule::Logic(data::bk_redis),
                &["scripts/backup-redis"],
            ),
            check(
                "backups.encrypted",
                "Backups encrypted to a key",
                Rule::Logic(data::bk_encrypted),
                &["scripts/backup"],
            ),
        ],
    },
    Category {
        id: "alerts",
        title: "Alerts and their tests",
        checks: &[
            check(
                "alerts.rules",
                "Alerting rules",
                Rule::Logic(ops::al_rules),
                &["monitoring/prometheus/rules/"],
            ),
            check(
                "alerts.tests",
                "Rule unit tests (promtool)",
                Rule::Logic(ops::al_tests),
                &["monitoring/prometheus/tests/"],
            ),
            check(
                "alerts.runbooks",
                "Every alert links a runbook",
                Rule::Logic(ops::al_runbooks),
                &["monitoring/prometheus/rules/"],
            ),
        ],
    },
    Category {
        id: "ci",
        title: "CI with scans",
        checks: &[
            check(
                "ci.workflow",
                "CI runs on pushes and pull requests",
                Rule::Any {
                    probes: &[
                        probe(
                            is_workflow,
                            r"^\s*(-\s*)?pull_request\b|^on:.*pull_request",
                            "changes are checked before they merge",
                        ),
                        probe(
                            |p| p == ".gitlab-ci.yml",
                            r"\S",
                            "GitLab CI runs on changes",
                        ),
                    ],
                    missing: "no CI workflow on pull requests",
                },
                &[".github/workflows/ci.yml"],
            ),
            check(
                "ci.scans",
                "Security scans (image, IaC, code)",
                Rule::Logic(ops::ci_scans),
                &[".github/workflows/ci.yml"],
            ),
            check(
                "ci.permissions",
                "Least-privilege token permissions",
                Rule::Logic(ops::ci_permissions),
                &[".github/workflows/"],
            ),
            check(
                "ci.pinned",
                "Actions pinned to commit SHAs",
                Rule::Logic(ops::ci_pinned),
                &[".github/workflows/"],
            ),
        ],
    },
    Category {
        id: "deploy",
        title: "Deploy with rollback",
        checks: &[
            check(
                "deploy.workflow",
                "Automated deploy",
                Rule::Logic(ops::dp_workflow),
                &[".github/workflows/deploy.yml"],
            ),
            check(
                "deploy.rollback",
                "Rollback on failure",
                Rule::Logic(ops::dp_rollback),
                &[".github/workflows/deploy.yml", "infra/terraform/"],
            ),
            check(
                "deploy.smoke",
                "Smoke test after deploy",
                Rule::Logic(ops::dp_smoke),
                &[".github/workflows/deploy.yml"],
            ),
            check(
                "deploy.oidc",
                "Cloud access through OIDC, no keys",
                Rule::Logic(ops::dp_oidc),
                &[".github/workflows/"],
            ),
        ],
    },
    Category {
        id: "iac",
        title: "Infrastructure as code",
        checks: &[
            check(
                "iac.terraform",
                "Infrastructure declared in code",
                Rule::Logic(ops::iac_present),
                &["infra/terraform/"],
            ),
            check(
                "iac.pinned",
                "Terraform and providers pinned",
                Rule::Logic(ops::iac_pinned),
                &["infra/terraform/"],
            ),
            check(
                "iac.state",
                "Remote state",
                Rule::Logic(ops::iac_state),
                &["infra/terraform/"],
            ),
        ],
    },
    Category {
        id: "environments",
        title: "Separate environments",
        checks: &[
            check(
                "environments.config",
                "Config per environment",
                Rule::Logic(ops::env_config),
                &["infra/terraform/environments/"],
            ),
            check(
                "environments.deploy",
                "Deploys staged through environments",
                Rule::Logic(ops::env_deploy),
                &[".github/workflows/deploy.yml"],
            ),
        ],
    },
    Category {
        id: "runbook",
        title: "Runbook",
        checks: &[
            check(
                "runbook.doc",
                "Runbook in the repository",
                Rule::Any {
                    probes: &[probe(is_runbook, r"\S", "on-call steps are written down")],
                    missing: "no runbook (docs/RUNBOOK.md)",
                },
                &["docs/RUNBOOK.md"],
            ),
            check(
                "runbook.restore",
                "Runbook covers restore",
                Rule::Any {
                    probes: &[probe(
                        is_runbook,
                        r"(?i)\brestor(e|ing)\b",
                        "the runbook says how to restore",
                    )],
                    missing: "no runbook that says how to restore from a backup",
                },
                &["docs/RUNBOOK.md"],
            ),
        ],
    },
];
